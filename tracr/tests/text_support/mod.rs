//! Helpers shared by the `.rasp` text tests: graph signatures, random inputs, case counts.
#![allow(dead_code)]

use proptest::prelude::*;
use std::path::PathBuf;
use tracr::graph::extract;
use tracr::rasp::{evaluate, Expr, MapFn, Predicate, SOp, SOpKind, SelectorKind};
use tracr::value::Value;

/// The proptest configuration: `PROPTEST_CASES` cases, `default` unless set.
pub fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

/// The folder of the library's `.rasp` files.
pub fn lib_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lib")
}

/// The text of `tracr/lib/{name}.rasp`.
pub fn lib_source(name: &str) -> String {
    let path = lib_dir().join(format!("{name}.rasp"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn map_fn_signature(f: &MapFn, with_text: bool) -> String {
    match (f.composed_of(), &f.text) {
        (Some((outer, inner)), _) => format!(
            "compose({}, {})",
            map_fn_signature(outer, with_text),
            map_fn_signature(inner, with_text)
        ),
        (None, Some(text)) if with_text => text.clone(),
        _ => "fn".to_string(),
    }
}

fn predicate_signature(p: &Predicate, with_text: bool) -> String {
    match p {
        Predicate::Comparison(c) => c.to_string(),
        Predicate::Custom(f) => match (&f.text, with_text) {
            (Some(text), true) => text.clone(),
            _ => "custom".to_string(),
        },
        Predicate::Not(p) => format!("not({})", predicate_signature(p, with_text)),
        Predicate::And(p, q) => format!(
            "and({}, {})",
            predicate_signature(p, with_text),
            predicate_signature(q, with_text)
        ),
        Predicate::Or(p, q) => format!(
            "or({}, {})",
            predicate_signature(p, with_text),
            predicate_signature(q, with_text)
        ),
        Predicate::FixedKey(p, v) => {
            format!(
                "fixed_key({}, {})",
                predicate_signature(p, with_text),
                v.py_repr()
            )
        }
        Predicate::FixedQuery(p, v) => {
            format!(
                "fixed_query({}, {})",
                predicate_signature(p, with_text),
                v.py_repr()
            )
        }
    }
}

fn values_repr(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(Value::py_repr).collect();
    format!("[{}]", items.join(", "))
}

/// One line per graph node: label, kind, name, encoding, children, and what the node computes
/// (function texts only when `with_text`, since builder closures have none).
pub fn graph_signature(output: &SOp, with_text: bool) -> Vec<String> {
    let graph = extract(output).expect("graph extraction succeeds");
    graph
        .nodes
        .iter()
        .map(|node| {
            let detail = match &node.expr {
                Expr::SOp(s) => {
                    let what = match s.kind() {
                        SOpKind::Map { f, .. } => map_fn_signature(f, with_text),
                        SOpKind::SequenceMap { f, .. } => match (&f.text, with_text) {
                            (Some(t), true) => t.clone(),
                            _ => "fn".into(),
                        },
                        SOpKind::LinearSequenceMap {
                            fst_fac, snd_fac, ..
                        } => format!("{fst_fac:?} {snd_fac:?}"),
                        SOpKind::Full { fill } => fill.py_repr(),
                        SOpKind::ConstantSOp { values } => values_repr(values),
                        SOpKind::Aggregate { default, .. } => {
                            format!("default={}", default.py_repr())
                        }
                        _ => String::new(),
                    };
                    format!("{} {what}", s.encoding())
                }
                Expr::Selector(s) => match s.kind() {
                    SelectorKind::Select { predicate, .. } => {
                        predicate_signature(predicate, with_text)
                    }
                    SelectorKind::ConstantSelector { matrix } => format!("{matrix:?}"),
                    _ => String::new(),
                },
            };
            format!(
                "{} {} name={} children={:?} {}",
                node.label,
                node.expr.type_name(),
                node.expr.name(),
                node.children,
                detail
            )
        })
        .collect()
}

/// Python's repr of an evaluation result (exact: `True` and `1` differ), or the error text.
pub fn evaluation_repr(output: &SOp, xs: &[Value], causal: bool) -> String {
    match evaluate(output, xs, causal) {
        Ok(values) => values_repr(&values),
        Err(e) => format!("error: {e}"),
    }
}

/// A random input over `vocab` with length in `1..=max_seq_len`.
pub fn input_strategy(vocab: Vec<Value>, max_seq_len: usize) -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(proptest::sample::select(vocab), 1..=max_seq_len)
}

//! The parsed `tracr/lib/*.rasp` programs against the real Tracr's fixtures: graph labels and
//! children, every Map/SequenceMap `fn_table` and Select `predicate_table` (so the lambda
//! language computes what Python's lambdas computed), and the output on every fixture input.

mod rasp_support;
mod text_support;

use rasp_support::fixtures::{fixture_names, load, to_strings, to_value, to_values};
use text_support::lib_source;
use tracr::graph::extract;
use tracr::library::by_name;
use tracr::rasp::text::parse;
use tracr::rasp::{evaluate, PyError, SOpKind, SelectorKind};
use tracr::value::Value;

/// Floats within 1e-9: the lambdas compute in Python's operation order, so they should agree
/// bit for bit; the tolerance only absorbs the fixture's JSON float printing.
const FLOAT_TOLERANCE: f64 = 1e-9;

fn same_value(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Float(a), Value::Float(b)) => (a - b).abs() <= FLOAT_TOLERANCE,
        (Value::Tuple(a), Value::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b) && a == b,
    }
}

/// A table cell: `None` where Tracr swallowed an ArithmeticError while tabulating.
fn swallow_arithmetic(result: Result<Value, PyError>) -> Value {
    match result {
        Ok(v) => v,
        Err(e) if e.is_arithmetic() => Value::None,
        Err(e) => panic!("a fixture table cell raised {e}"),
    }
}

#[test]
fn parsed_lib_programs_have_tracrs_labels_and_children() {
    for name in fixture_names() {
        let parsed = parse(&lib_source(&name)).unwrap_or_else(|e| panic!("lib/{name}.rasp: {e}"));
        let graph = extract(&parsed).unwrap();
        let fixture = load(&name);
        let want: Vec<(String, Vec<String>)> = fixture["program"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["label"].as_str().unwrap().to_string(),
                    to_strings(&n["children"]),
                )
            })
            .collect();
        let got: Vec<(String, Vec<String>)> = graph
            .nodes
            .iter()
            .map(|n| (n.label.clone(), n.children.clone()))
            .collect();
        assert_eq!(
            got, want,
            "lib/{name}.rasp: (label, children) per node, got vs Tracr"
        );
    }
}

#[test]
fn parsed_lambdas_reproduce_tracrs_function_and_predicate_tables() {
    let mut cells = 0usize;
    for name in fixture_names() {
        let parsed = parse(&lib_source(&name)).unwrap();
        let graph = extract(&parsed).unwrap();
        let fixture = load(&name);
        for (node, json) in graph
            .nodes
            .iter()
            .zip(fixture["program"]["nodes"].as_array().unwrap())
        {
            let rows = |key: &str| -> Vec<Vec<Value>> {
                json[key]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: {} has no {key}", node.label))
                    .iter()
                    .map(to_values)
                    .collect()
            };
            let what = format!("lib/{name}.rasp: {}", node.label);
            match (
                node.expr.as_sop().map(|s| s.kind()),
                node.expr.as_selector().map(|s| s.kind()),
            ) {
                (Some(SOpKind::Map { f, .. }), _) => {
                    for row in rows("fn_table") {
                        let got = swallow_arithmetic(f.call(&row[0]));
                        assert!(
                            same_value(&got, &row[1]),
                            "{what}: f({:?}) = {got:?}, Tracr {:?}",
                            row[0],
                            row[1]
                        );
                        cells += 1;
                    }
                }
                (Some(SOpKind::SequenceMap { f, .. }), _) => {
                    for row in rows("fn_table") {
                        let got = swallow_arithmetic(f.call(&row[0], &row[1]));
                        assert!(
                            same_value(&got, &row[2]),
                            "{what}: f({:?}, {:?}) = {got:?}, Tracr {:?}",
                            row[0],
                            row[1],
                            row[2]
                        );
                        cells += 1;
                    }
                }
                (Some(SOpKind::Aggregate { default, .. }), _) => {
                    let want = to_value(&json["default"]);
                    assert!(
                        same_value(default, &want),
                        "{what}: default {default:?}, Tracr {want:?}"
                    );
                }
                (_, Some(SelectorKind::Select { predicate, .. })) => {
                    for row in rows("predicate_table") {
                        let got = predicate.apply(&row[0], &row[1]).unwrap();
                        assert_eq!(
                            Value::Bool(got),
                            row[2],
                            "{what}: predicate({:?}, {:?})",
                            row[0],
                            row[1]
                        );
                        cells += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(cells > 500, "only {cells} table cells checked");
}

#[test]
fn parsed_lib_programs_give_tracrs_output_on_every_fixture_input() {
    for name in fixture_names() {
        let parsed = parse(&lib_source(&name)).unwrap();
        let causal = by_name(&name).unwrap().causal;
        let fixture = load(&name);
        for input in fixture["inputs"].as_array().unwrap() {
            let xs = to_values(&input["input"]);
            let got = evaluate(&parsed, &xs, causal)
                .unwrap_or_else(|e| panic!("lib/{name}.rasp on {xs:?}: {e}"));
            let want = to_values(&input["rasp_output"]);
            assert!(
                got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| same_value(g, w)),
                "lib/{name}.rasp on {xs:?}\n got    {got:?}\n Tracr  {want:?}"
            );
        }
    }
}

//! Tracr's `validating`: which programs its compiler cannot compile, and why, in Tracr's words
//! (except the Aggregate encoding mismatch, which Tracr reports swapped and in Python reprs).

use super::eval::{Evaluator, NodeValue};
use super::expr::{Expr, SOpKind, SelectorKind};
use crate::error::{Error, Result};
use crate::graph::RaspGraph;
use crate::value::Value;
use std::collections::HashSet;

/// One expression Tracr cannot compile (Tracr's `TracrUnsupportedExpr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The node's label.
    pub label: String,
    /// Tracr's reason.
    pub reason: String,
}

impl From<Unsupported> for Error {
    fn from(u: Unsupported) -> Self {
        Error::Unsupported {
            label: u.label,
            reason: u.reason,
        }
    }
}

/// Tracr's `static_validate`, plus the rejections its compiler makes later (composite selectors,
/// primitives without a model component), for every node of the graph in BFS order.
///
/// Tracr's own walk skips any node whose *name* it has already seen, so it can miss a second
/// `map`; this port checks every node, which only ever reports more.
pub fn static_validate(graph: &RaspGraph) -> Vec<Unsupported> {
    graph
        .nodes
        .iter()
        .filter_map(|node| {
            // An Aggregate's children are [selector, sop]: name the input by its graph label.
            let input_label = node.children.get(1).map_or("", String::as_str);
            let reason = tracr_static_reason(&node.expr, input_label)
                .or_else(|| compiler_reason(&node.expr))?;
            Some(Unsupported {
                label: node.label.clone(),
                reason,
            })
        })
        .collect()
}

/// The reason Tracr's `_static_validate_expr` gives, if any; `input_label` is an Aggregate's input.
fn tracr_static_reason(expr: &Expr, input_label: &str) -> Option<String> {
    let sop = match expr {
        Expr::Selector(sel) => {
            if let SelectorKind::Select { keys, queries, .. } = sel.kind() {
                if !keys.is_categorical() {
                    return Some("Select keys must be categorical.".into());
                }
                if !queries.is_categorical() {
                    return Some("Select queries must be categorical.".into());
                }
            }
            return None;
        }
        Expr::SOp(sop) => sop,
    };
    match sop.kind() {
        // Tracr says "tokens" for indices too.
        SOpKind::Tokens | SOpKind::Indices if sop.is_numerical() => {
            Some("tokens should always be categorical.".into())
        }
        SOpKind::Aggregate {
            sop: input,
            default,
            ..
        } => {
            if sop.encoding() != input.encoding() {
                // Tracr swaps the two here and prints Python reprs; say it the right way round.
                return Some(format!(
                    "an Aggregate's encoding must match the encoding of the SOp it aggregates: \
                     the input `{}` is {} but the Aggregate is {}; make both categorical or both \
                     numerical",
                    input_label,
                    input.encoding(),
                    sop.encoding()
                ));
            }
            if sop.is_categorical() && *default != Value::None {
                return Some("Categorical aggregate only supports None as default value.".into());
            }
            if sop.is_numerical() && *default != Value::Int(0) {
                return Some("Numerical aggregate only supports 0 as default value.".into());
            }
            None
        }
        SOpKind::SequenceMap { fst, snd, .. } => {
            let all_categorical = [fst, snd, sop].iter().all(|s| s.is_categorical());
            (!all_categorical).then(|| {
                "(Non-linear) SequenceMap only supports categorical inputs/outputs.".into()
            })
        }
        SOpKind::LinearSequenceMap { fst, snd, .. } => {
            let all_numerical = [fst, snd, sop].iter().all(|s| s.is_numerical());
            (!all_numerical)
                .then(|| "LinearSequenceMap only supports numerical inputs/outputs.".into())
        }
        _ => None,
    }
}

/// What Tracr's compiler rejects after `static_validate` has passed.
fn compiler_reason(expr: &Expr) -> Option<String> {
    match expr {
        Expr::SOp(sop) => match sop.kind() {
            SOpKind::Aggregate { selector, .. } | SOpKind::SelectorWidth { selector } => {
                match selector.kind() {
                    SelectorKind::Select { .. } => None,
                    _ => Some(format!(
                        "Compiling composite Selectors is not supported. Got a {}.",
                        selector.type_name()
                    )),
                }
            }
            SOpKind::Length | SOpKind::Full { .. } | SOpKind::ConstantSOp { .. } => Some(format!(
                "Expression {} cannot be translated to a model component.",
                sop.type_name()
            )),
            _ => None,
        },
        Expr::Selector(sel) => match sel.kind() {
            SelectorKind::Select { .. } => None,
            _ => Some(format!(
                "Compiling composite Selectors is not supported. Got a {}.",
                sel.type_name()
            )),
        },
    }
}

/// Tracr's `dynamic_validate` on input `xs` (always evaluated non-causally, as Tracr does):
/// categorical Aggregates that average, numerical Aggregates over values outside {0, 1}.
///
/// Tracr reports an Aggregate once per evaluation path to it; this port reports it once.
pub fn dynamic_validate(graph: &RaspGraph, xs: &[Value]) -> Result<Vec<Unsupported>> {
    let values = Evaluator::new(false).evaluate_all(graph, xs)?;
    let sequence = |label: &str| -> Result<&[Value]> {
        values
            .get(label)
            .and_then(NodeValue::as_sequence)
            .ok_or_else(|| Error::UnknownNode {
                label: label.to_string(),
            })
    };
    let mut issues = Vec::new();
    // Tracr's evaluator finishes children before parents, so report in reverse BFS order.
    for node in graph.nodes.iter().rev() {
        let Some(sop) = node.expr.as_sop() else {
            continue;
        };
        let SOpKind::Aggregate { sop: input, .. } = sop.kind() else {
            continue;
        };
        let input_label =
            graph
                .label_of(&Expr::SOp(input.clone()))
                .ok_or_else(|| Error::UnknownNode {
                    label: format!("input of {}", node.label),
                })?;
        let agg_in: HashSet<&Value> = sequence(input_label)?.iter().collect();
        let out = sequence(&node.label)?;
        if sop.is_categorical() && !out.iter().all(|v| *v == Value::None || agg_in.contains(v)) {
            issues.push(Unsupported {
                label: node.label.clone(),
                reason: "Categorical aggregate does not support Selectors with width > 1 that \
                         require aggregation (eg. averaging)."
                    .into(),
            });
        }
        let binary = [Value::Int(0), Value::Int(1)];
        if sop.is_numerical() && !agg_in.iter().all(|v| binary.contains(v)) {
            issues.push(Unsupported {
                label: node.label.clone(),
                reason: format!(
                    "Numerical aggregate only supports binary inputs 0, 1. But got {}.",
                    python_set_repr(&agg_in)
                ),
            });
        }
    }
    Ok(issues)
}

/// Tracr's `validate`: static checks, plus dynamic ones when an input is given.
pub fn validate(graph: &RaspGraph, xs: Option<&[Value]>) -> Result<Vec<Unsupported>> {
    let mut issues = static_validate(graph);
    if let Some(xs) = xs {
        issues.extend(dynamic_validate(graph, xs)?);
    }
    Ok(issues)
}

/// The compiler's check that BOS and PAD are not vocabulary items.
pub fn check_vocab(vocab: &[Value], compiler_bos: &str, compiler_pad: &str) -> Result<()> {
    for (role, token) in [("BOS", compiler_bos), ("PAD", compiler_pad)] {
        if vocab.contains(&Value::Str(token.to_string())) {
            return Err(Error::ReservedToken {
                role,
                token: token.to_string(),
            });
        }
    }
    Ok(())
}

/// Fails with the first static issue, as Tracr's compiler does before compiling.
pub fn ensure_compilable(graph: &RaspGraph) -> Result<()> {
    match static_validate(graph).into_iter().next() {
        Some(issue) => Err(issue.into()),
        None => Ok(()),
    }
}

/// A set's repr with a deterministic order (Python's order depends on hashes).
fn python_set_repr(values: &HashSet<&Value>) -> String {
    let mut items: Vec<&Value> = values.iter().copied().collect();
    items.sort_by(|a, b| {
        a.py_cmp(b)
            .unwrap_or_else(|| a.py_type_name().cmp(b.py_type_name()))
    });
    let parts: Vec<String> = items.iter().map(|v| v.py_repr()).collect();
    format!("{{{}}}", parts.join(", "))
}

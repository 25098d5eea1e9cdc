//! Tracr's `basis_inference`: the values each SOp can take and the residual directions it gets.

use std::collections::{HashMap, HashSet};

use crate::craft::bases::{BasisDirection, VectorSpace};
use crate::error::{Error, Result};
use crate::graph::RaspGraph;
use crate::rasp::{Expr, PyError, PyResult, SOp, SOpKind};
use crate::value::{PySet, Value};

/// An SOp's possible values and its output space.
#[derive(Debug, Clone)]
pub struct NodeBasis {
    /// Possible values, each once under Python equality, in the order Python's set iterates them.
    pub value_set: Vec<Value>,
    /// `label:v` for each value (categorical) or the single direction `label` (numerical), sorted.
    pub output_space: VectorSpace,
}

/// Value sets and output spaces of every SOp in the graph, keyed by label.
pub type Bases = HashMap<String, NodeBasis>;

/// Values in first-produced order, each once under Python equality (so `True == 1`); the hash set
/// makes a SequenceMap over large inputs (a million pairs at max_seq_len 1000) linear, not quadratic.
#[derive(Default)]
struct ValueSet {
    order: Vec<Value>,
    seen: HashSet<Value>,
}

/// Adds `value` unless an equal one is there; a set's first-in wins.
fn insert(set: &mut ValueSet, value: Value) {
    if set.seen.insert(value.clone()) {
        set.order.push(value);
    }
}

/// Keeps a function's result, drops it on ArithmeticError or None (as Tracr does), fails otherwise.
fn keep(set: &mut ValueSet, label: &str, result: PyResult<Value>) -> Result<()> {
    match result {
        Ok(Value::None) | Err(PyError::Arithmetic(_)) => Ok(()),
        Ok(v) => {
            insert(set, v);
            Ok(())
        }
        Err(e) => Err(Error::Eval {
            label: label.to_string(),
            reason: format!("{e} (while computing its value set)"),
        }),
    }
}

/// A LinearSequenceMap factor as Tracr's lambda sees it: an int when integral (`1`, `-1`).
fn factor_value(fac: f64) -> Value {
    if fac.fract() == 0.0 && fac.abs() < 9.0e15 {
        Value::Int(fac as i64)
    } else {
        Value::Float(fac)
    }
}

/// Infers value sets children-first, as Tracr's post-order walk from the sink does.
pub fn infer_bases(graph: &RaspGraph, vocab: &[Value], max_seq_len: usize) -> Result<Bases> {
    let mut bases = Bases::new();
    let sink = graph.sink.clone();
    visit(graph, &sink, vocab, max_seq_len, &mut bases)?;
    Ok(bases)
}

fn visit(
    graph: &RaspGraph,
    label: &str,
    vocab: &[Value],
    max_seq_len: usize,
    bases: &mut Bases,
) -> Result<()> {
    if bases.contains_key(label) {
        return Ok(());
    }
    let node = graph.require(label)?;
    for child in &node.children {
        visit(graph, child, vocab, max_seq_len, bases)?;
    }
    let Expr::SOp(sop) = &node.expr else {
        return Ok(());
    };
    let value_set = value_set(sop, label, &node.children, vocab, max_seq_len, bases)?;
    ensure_encodable(sop, label, &value_set)?;
    let output_space = if sop.is_categorical() {
        VectorSpace::from_values(label, &value_set)
    } else {
        VectorSpace::new(vec![BasisDirection::named(label)])
    };
    bases.insert(
        label.to_string(),
        NodeBasis {
            value_set,
            output_space,
        },
    );
    Ok(())
}

/// Refuses value sets that no weights can encode: an empty one (the output space would have no
/// dimension, and a model written anyway is one `tracr run` rejects) and, for a numerical SOp, a
/// NaN or infinite value (its weights would be written as JSON `null`).
fn ensure_encodable(sop: &SOp, label: &str, value_set: &[Value]) -> Result<()> {
    if value_set.is_empty() && !matches!(sop.kind(), SOpKind::Tokens) {
        return Err(Error::Unsupported {
            label: label.to_string(),
            reason: format!(
                "this {} has no possible value (its function gives None or an arithmetic error \
                 for every input), so it has nothing to encode; make it return a value",
                sop.type_name()
            ),
        });
    }
    if sop.is_numerical() {
        if let Some(bad) = value_set
            .iter()
            .find(|v| v.as_f64().is_some_and(|x| !x.is_finite()))
        {
            return Err(Error::Unsupported {
                label: label.to_string(),
                reason: format!(
                    "this numerical {} can produce {}, which no weight can encode; \
                     make it return finite numbers",
                    sop.type_name(),
                    bad.py_repr()
                ),
            });
        }
    }
    Ok(())
}

/// The value set of `sop`, whose children (in Tracr's `children` order) are labelled `children`.
fn value_set(
    sop: &SOp,
    label: &str,
    children: &[String],
    vocab: &[Value],
    max_seq_len: usize,
    bases: &Bases,
) -> Result<Vec<Value>> {
    // Map: [inner]; SequenceMap: [fst, snd]; Aggregate: [selector, sop].
    let child_values = |position: usize| -> Result<&Vec<Value>> {
        children
            .get(position)
            .and_then(|c| bases.get(c))
            .map(|b| &b.value_set)
            .ok_or_else(|| Error::Message(format!("`{label}` lacks child {position} in the graph")))
    };
    let mut out = ValueSet::default();
    match sop.kind() {
        SOpKind::Tokens => {
            for v in vocab {
                insert(&mut out, v.clone());
            }
        }
        SOpKind::Indices => {
            for i in 0..max_seq_len as i64 {
                insert(&mut out, Value::Int(i));
            }
        }
        SOpKind::SelectorWidth { .. } => {
            for i in 0..=max_seq_len as i64 {
                insert(&mut out, Value::Int(i));
            }
        }
        SOpKind::Full { fill } => insert(&mut out, fill.clone()),
        SOpKind::Map { f, .. } => {
            for x in child_values(0)? {
                keep(&mut out, label, f.call(x))?;
            }
        }
        SOpKind::SequenceMap { f, .. } => {
            for x in child_values(0)? {
                for y in child_values(1)? {
                    keep(&mut out, label, f.call(x, y))?;
                }
            }
        }
        SOpKind::LinearSequenceMap {
            fst_fac, snd_fac, ..
        } => {
            let (a, b) = (factor_value(*fst_fac), factor_value(*snd_fac));
            for x in child_values(0)? {
                for y in child_values(1)? {
                    let result = a
                        .py_mul(x)
                        .and_then(|ax| b.py_mul(y).and_then(|by| ax.py_add(&by)));
                    keep(&mut out, label, result)?;
                }
            }
        }
        SOpKind::Aggregate { .. } => {
            let inputs = child_values(1)?;
            if sop.is_categorical() {
                for v in inputs {
                    insert(&mut out, v.clone());
                }
            } else {
                let binary = inputs.iter().all(|v| {
                    v.as_f64()
                        .is_some_and(|x| x.trunc() == 0.0 || x.trunc() == 1.0)
                });
                if !binary {
                    let shown: Vec<String> = inputs.iter().map(Value::py_repr).collect();
                    return Err(Error::Unsupported {
                        label: label.to_string(),
                        reason: format!(
                            "Attention patterns can currently only average binary variables. Not: {{{}}}",
                            shown.join(", ")
                        ),
                    });
                }
                // Tracr's set {v/len}: it misses means like 2/3 (a known limit, kept).
                for v in inputs {
                    for length in 1..=max_seq_len as i64 {
                        keep(&mut out, label, v.py_truediv(&Value::Int(length)))?;
                    }
                }
            }
        }
        SOpKind::Length | SOpKind::ConstantSOp { .. } => {
            return Err(Error::Unsupported {
                label: label.to_string(),
                reason: format!("Unsupported S-Op: {}", sop.type_name()),
            })
        }
    }
    if matches!(sop.kind(), SOpKind::Aggregate { .. }) && sop.is_categorical() {
        // Tracr passes the input's set object on, in its order.
        return Ok(out.order);
    }
    // Tracr builds every other value set with `set.add` in the order produced here; the set's
    // iteration order (not the production order) is what the next SOp's values come in. `out` already
    // dropped repeats, keeping the first of equal values as `set.add` does, so the order is the same.
    Ok(out.order.into_iter().collect::<PySet>().into_vec())
}

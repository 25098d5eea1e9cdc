//! Tracr's RASP evaluators: the default one and the causal one (`tril` on every selector).

use super::expr::{Expr, SOp, SOpKind, Selector, SelectorKind};
use super::py_ops::PyError;
use crate::error::{Error, Result};
use crate::graph::{extract, RaspGraph};
use crate::value::Value;
use std::collections::HashMap;

/// The value of one graph node on one input: a sequence for an SOp, a matrix for a selector.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// One value per position.
    Sequence(Vec<Value>),
    /// `matrix[query][key]`: whether query position `query` attends to key position `key`.
    Matrix(Vec<Vec<bool>>),
}

impl NodeValue {
    /// The sequence, if this is an SOp's value.
    pub fn as_sequence(&self) -> Option<&[Value]> {
        match self {
            NodeValue::Sequence(v) => Some(v),
            NodeValue::Matrix(_) => None,
        }
    }

    /// The matrix, if this is a selector's value.
    pub fn as_matrix(&self) -> Option<&[Vec<bool>]> {
        match self {
            NodeValue::Matrix(m) => Some(m),
            NodeValue::Sequence(_) => None,
        }
    }
}

/// An evaluator with Tracr's semantics; each expression object is evaluated once per input.
#[derive(Debug, Clone, Default)]
pub struct Evaluator {
    /// Apply a causal mask (`tril`) to every selector, as Tracr's `causal_eval` does.
    pub causal: bool,
    /// Turn an `ArithmeticError` in a Map/SequenceMap into `None` instead of failing.
    /// Tracr's evaluators fail (only its basis inference and MLPs ignore such errors), so this is off by default.
    pub arithmetic_errors_as_none: bool,
}

/// Per-input state: the memo by object and the labels for error messages.
struct Run<'a> {
    evaluator: &'a Evaluator,
    xs: &'a [Value],
    graph: &'a RaspGraph,
    sops: HashMap<usize, Vec<Value>>,
    selectors: HashMap<usize, Vec<Vec<bool>>>,
}

impl Evaluator {
    /// A default (`causal = false`) or causal evaluator.
    pub fn new(causal: bool) -> Self {
        Evaluator {
            causal,
            arithmetic_errors_as_none: false,
        }
    }

    /// Evaluates every node of `graph` on `xs`, keyed by label.
    pub fn evaluate_all(
        &self,
        graph: &RaspGraph,
        xs: &[Value],
    ) -> Result<HashMap<String, NodeValue>> {
        let mut run = Run {
            evaluator: self,
            xs,
            graph,
            sops: HashMap::new(),
            selectors: HashMap::new(),
        };
        let mut out = HashMap::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let value = match &node.expr {
                Expr::SOp(sop) => NodeValue::Sequence(run.sop(sop)?),
                Expr::Selector(sel) => NodeValue::Matrix(run.selector(sel)?),
            };
            out.insert(node.label.clone(), value);
        }
        Ok(out)
    }

    /// Evaluates the program `output` on `xs`.
    pub fn evaluate(&self, output: &SOp, xs: &[Value]) -> Result<Vec<Value>> {
        let graph = extract(output)?;
        self.evaluate_in(&graph, output, xs)
    }

    /// Evaluates one SOp of an already extracted graph (labels in errors come from `graph`).
    pub fn evaluate_in(&self, graph: &RaspGraph, sop: &SOp, xs: &[Value]) -> Result<Vec<Value>> {
        let mut run = Run {
            evaluator: self,
            xs,
            graph,
            sops: HashMap::new(),
            selectors: HashMap::new(),
        };
        run.sop(sop)
    }

    /// Evaluates a selector on `xs`.
    pub fn evaluate_selector(&self, selector: &Selector, xs: &[Value]) -> Result<Vec<Vec<bool>>> {
        // A selector is not a program output, so wrap it in a SelectorWidth to label its graph.
        let graph = extract(&super::expr::selector_width(selector))?;
        let mut run = Run {
            evaluator: self,
            xs,
            graph: &graph,
            sops: HashMap::new(),
            selectors: HashMap::new(),
        };
        run.selector(selector)
    }
}

/// Tracr's `rasp.evaluate` (or `causal_eval.evaluate` when `causal`).
pub fn evaluate(output: &SOp, xs: &[Value], causal: bool) -> Result<Vec<Value>> {
    Evaluator::new(causal).evaluate(output, xs)
}

/// Every node's value on `xs`, keyed by label (SOps: sequences; selectors: matrices).
pub fn evaluate_all(
    graph: &RaspGraph,
    xs: &[Value],
    causal: bool,
) -> Result<HashMap<String, NodeValue>> {
    Evaluator::new(causal).evaluate_all(graph, xs)
}

/// A selector's matrix on `xs`.
pub fn evaluate_selector(
    selector: &Selector,
    xs: &[Value],
    causal: bool,
) -> Result<Vec<Vec<bool>>> {
    Evaluator::new(causal).evaluate_selector(selector, xs)
}

impl Run<'_> {
    fn label(&self, expr: Expr) -> String {
        self.graph
            .label_of(&expr)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} (unlabelled)", expr.name()))
    }

    fn fail(&self, expr: Expr, reason: impl Into<String>) -> Error {
        Error::Eval {
            label: self.label(expr),
            reason: reason.into(),
        }
    }

    /// Applies a Python function result: ArithmeticError may become None, anything else fails.
    fn py_result(&self, sop: &SOp, result: std::result::Result<Value, PyError>) -> Result<Value> {
        match result {
            Ok(v) => Ok(v),
            Err(e) if e.is_arithmetic() && self.evaluator.arithmetic_errors_as_none => {
                Ok(Value::None)
            }
            Err(e) => Err(self.fail(Expr::SOp(sop.clone()), e.to_string())),
        }
    }

    fn sop(&mut self, sop: &SOp) -> Result<Vec<Value>> {
        if let Some(v) = self.sops.get(&sop.object_id()) {
            return Ok(v.clone());
        }
        let n = self.xs.len();
        let value = match sop.kind() {
            SOpKind::Tokens => self.xs.to_vec(),
            SOpKind::Indices => (0..n as i64).map(Value::Int).collect(),
            SOpKind::Length => vec![Value::Int(n as i64); n],
            SOpKind::Map { f, inner } => {
                let inner_values = self.sop(inner)?;
                let mut out = Vec::with_capacity(n);
                for x in &inner_values {
                    out.push(match x {
                        Value::None => Value::None,
                        x => self.py_result(sop, f.call(x))?,
                    });
                }
                out
            }
            SOpKind::SequenceMap { f, fst, snd } => {
                let (xs, ys) = (self.sop(fst)?, self.sop(snd)?);
                let mut out = Vec::with_capacity(n);
                for (x, y) in xs.iter().zip(&ys) {
                    out.push(match (x, y) {
                        (Value::None, _) | (_, Value::None) => Value::None,
                        (x, y) => self.py_result(sop, f.call(x, y))?,
                    });
                }
                out
            }
            SOpKind::LinearSequenceMap {
                fst,
                snd,
                fst_fac,
                snd_fac,
            } => {
                let (xs, ys) = (self.sop(fst)?, self.sop(snd)?);
                let (a, b) = (factor_value(*fst_fac), factor_value(*snd_fac));
                let mut out = Vec::with_capacity(n);
                for (x, y) in xs.iter().zip(&ys) {
                    out.push(match (x, y) {
                        (Value::None, _) | (_, Value::None) => Value::None,
                        (x, y) => {
                            let linear = a
                                .py_mul(x)
                                .and_then(|ax| b.py_mul(y).and_then(|by| ax.py_add(&by)));
                            self.py_result(sop, linear)?
                        }
                    });
                }
                out
            }
            SOpKind::Full { fill } => vec![fill.clone(); n],
            SOpKind::ConstantSOp { values } => {
                if values.len() != n {
                    return Err(self.fail(
                        Expr::SOp(sop.clone()),
                        format!("Constant len {} doesn't match input len {n}.", values.len()),
                    ));
                }
                values.clone()
            }
            SOpKind::Aggregate {
                selector,
                sop: inner,
                default,
            } => {
                let matrix = self.selector(selector)?;
                let values = self.sop(inner)?;
                let mut out = Vec::with_capacity(matrix.len());
                for row in &matrix {
                    let selected: Vec<&Value> = row
                        .iter()
                        .zip(&values)
                        .filter(|(s, _)| **s)
                        .map(|(_, v)| v)
                        .collect();
                    out.push(self.mean(sop, &selected, default)?);
                }
                out
            }
            SOpKind::SelectorWidth { selector } => self
                .selector(selector)?
                .iter()
                .map(|row| Value::Int(row.iter().filter(|s| **s).count() as i64))
                .collect(),
        };
        self.sops.insert(sop.object_id(), value.clone());
        Ok(value)
    }

    /// Tracr's `_mean`: the default for nothing, the value itself for one, `sum / len` for several numbers.
    fn mean(&self, sop: &SOp, selected: &[&Value], default: &Value) -> Result<Value> {
        match selected {
            [] => Ok(default.clone()),
            [one] => Ok((*one).clone()),
            many => {
                if !many.iter().all(|v| v.is_number()) {
                    let listed: Vec<String> = many.iter().map(|v| v.py_repr()).collect();
                    return Err(self.fail(
                        Expr::SOp(sop.clone()),
                        format!(
                            "Only types int, bool, and float are supported for aggregation. \
                             Received sequence: [{}]",
                            listed.join(", ")
                        ),
                    ));
                }
                // Python's `sum` adds left to right from the int 0.
                let mut total = Value::Int(0);
                for v in many {
                    total = self.py_result(sop, total.py_add(v))?;
                }
                self.py_result(sop, total.py_truediv(&Value::Int(many.len() as i64)))
            }
        }
    }

    fn selector(&mut self, sel: &Selector) -> Result<Vec<Vec<bool>>> {
        if let Some(m) = self.selectors.get(&sel.object_id()) {
            return Ok(m.clone());
        }
        let mut matrix = match sel.kind() {
            SelectorKind::Select {
                keys,
                queries,
                predicate,
            } => {
                let keys = self.sop(keys)?;
                let queries = self.sop(queries)?;
                let mut m = vec![vec![false; keys.len()]; queries.len()];
                for (q, query) in queries.iter().enumerate() {
                    for (k, key) in keys.iter().enumerate() {
                        m[q][k] = predicate
                            .apply(key, query)
                            .map_err(|e| self.fail(Expr::Selector(sel.clone()), e.to_string()))?;
                    }
                }
                m
            }
            SelectorKind::SelectorAnd { fst, snd } => {
                let (a, b) = (self.selector(fst)?, self.selector(snd)?);
                self.combine(sel, &a, &b, |x, y| x && y)?
            }
            SelectorKind::SelectorOr { fst, snd } => {
                let (a, b) = (self.selector(fst)?, self.selector(snd)?);
                self.combine(sel, &a, &b, |x, y| x || y)?
            }
            SelectorKind::SelectorNot { inner } => self
                .selector(inner)?
                .into_iter()
                .map(|row| row.into_iter().map(|x| !x).collect())
                .collect(),
            SelectorKind::ConstantSelector { matrix } => {
                if matrix.len() != self.xs.len() {
                    return Err(self.fail(
                        Expr::Selector(sel.clone()),
                        format!(
                            "Constant len {} doesn't match input len {}.",
                            self.xs.len(),
                            matrix.len()
                        ),
                    ));
                }
                matrix.clone()
            }
        };
        if self.evaluator.causal {
            for (q, row) in matrix.iter_mut().enumerate() {
                for (k, cell) in row.iter_mut().enumerate() {
                    *cell &= k <= q;
                }
            }
        }
        self.selectors.insert(sel.object_id(), matrix.clone());
        Ok(matrix)
    }

    fn combine(
        &self,
        sel: &Selector,
        a: &[Vec<bool>],
        b: &[Vec<bool>],
        op: impl Fn(bool, bool) -> bool,
    ) -> Result<Vec<Vec<bool>>> {
        let shape = |m: &[Vec<bool>]| (m.len(), m.first().map_or(0, Vec::len));
        if shape(a) != shape(b) {
            return Err(self.fail(
                Expr::Selector(sel.clone()),
                format!(
                    "operands could not be broadcast together with shapes {:?} {:?}",
                    shape(a),
                    shape(b)
                ),
            ));
        }
        Ok(a.iter()
            .zip(b)
            .map(|(ra, rb)| ra.iter().zip(rb).map(|(x, y)| op(*x, *y)).collect())
            .collect())
    }
}

/// A LinearSequenceMap factor as the Python value Tracr's lambda multiplies by: an int when integral
/// (Tracr's library passes `1` and `-1`), so that `1 * True + -1 * False` stays the int `1`.
fn factor_value(fac: f64) -> Value {
    if fac.fract() == 0.0 && fac.abs() < 9.0e15 {
        Value::Int(fac as i64)
    } else {
        Value::Float(fac)
    }
}

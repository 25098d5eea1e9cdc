//! Tracr's `expr_to_craft_graph`: each RASP SOp becomes the craft block that computes it.

use std::collections::HashMap;

use crate::basis::Bases;
use crate::craft::bases::{sort_values, BasisDirection, VectorSpace};
use crate::craft::blocks::Block;
use crate::craft::chamber::categorical_attn::{categorical_attn, CategoricalAttn};
use crate::craft::chamber::categorical_mlp::{
    categorical_to_numerical_has_negative, map_categorical_mlp, map_categorical_to_numerical_mlp,
    map_categorical_to_numerical_signed_mlp, sequence_map_categorical_mlp,
};
use crate::craft::chamber::numerical_mlp::{
    linear_sequence_map_numerical_mlp, map_numerical_mlp, map_numerical_to_categorical_mlp,
    DiscretisingMlp,
};
use crate::craft::chamber::selector_width::{selector_width, SelectorWidth};
use crate::error::{Error, Result};
use crate::fixes::{selector_width_slope, TracrFix};
use crate::graph::RaspGraph;
use crate::rasp::{Expr, PyError, PyResult, SOp, SOpKind, Selector, SelectorKind};
use crate::value::Value;

/// Tracr's softmax inverse temperature for every compiled attention head.
pub const SOFTMAX_COLDNESS: f64 = 100.0;

/// The constants lowering needs from the compile options.
#[derive(Debug, Clone)]
pub struct LoweringOptions {
    /// The BOS token (its direction `tokens:BOS` anchors every attention head).
    pub bos: String,
    /// The discretising MLPs' slope (Tracr's `mlp_exactness`).
    pub mlp_exactness: f64,
    /// Build the blocks with Tracr's known bugs fixed (see [`crate::fixes`]); false builds Tracr's.
    pub fix_tracr_bugs: bool,
}

/// Which SOps an attention head reads, for the model's provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectorRoles {
    /// The Select's label.
    pub selector: String,
    /// Its queries' label.
    pub query_sop: String,
    /// Its keys' label.
    pub key_sop: String,
    /// The aggregated SOp's label (None for SelectorWidth).
    pub value_sop: Option<String>,
}

/// One SOp's block with what it computes.
#[derive(Debug, Clone)]
pub struct Component {
    /// The SOp's label.
    pub label: String,
    /// Tracr's expression type name (`Map`, `Aggregate`, ...).
    pub expr_type: &'static str,
    /// The selector an attention block reads; None for MLPs.
    pub roles: Option<SelectorRoles>,
    /// The craft block.
    pub block: Block,
    /// The Tracr bugs fixed in this block (empty unless compiled with `fix_tracr_bugs` and the
    /// block differs from Tracr's).
    pub fixes: Vec<TracrFix>,
}

/// Lowers every SOp (tokens and indices have no block) in graph order.
pub fn lower_graph(
    graph: &RaspGraph,
    bases: &Bases,
    options: &LoweringOptions,
) -> Result<Vec<Component>> {
    let mut components = Vec::new();
    for node in &graph.nodes {
        let Expr::SOp(sop) = &node.expr else {
            continue;
        };
        let lowering = Lowering {
            graph,
            bases,
            options,
            label: &node.label,
            children: &node.children,
        };
        if let Some(component) = lowering.lower(sop)? {
            components.push(component);
        }
    }
    Ok(components)
}

struct Lowering<'a> {
    graph: &'a RaspGraph,
    bases: &'a Bases,
    options: &'a LoweringOptions,
    label: &'a str,
    /// The node's children in Tracr's order: Map [inner], SequenceMap [fst, snd],
    /// Aggregate [selector, sop], SelectorWidth [selector]; a Select's are [keys, queries].
    children: &'a [String],
}

/// How a table treats a function that raises an ArithmeticError on one of its inputs.
#[derive(Clone, Copy, PartialEq)]
enum OnArithmeticError {
    /// Tracr's discretising (numerical-input) MLPs wrap `f` in `ignoring_arithmetic_errors`.
    Skip,
    /// Tracr's categorical MLPs and attention call `f` bare: the exception stops the compile.
    Fail,
}

/// `f(x)` for each `x` in the order Tracr calls it (its sorted input basis), so that the input
/// named in an error is the one Tracr's exception comes from; a skipped ArithmeticError is None.
fn table<K: Clone + Eq + std::hash::Hash, V>(
    label: &str,
    keys: impl IntoIterator<Item = K>,
    show: impl Fn(&K) -> String,
    on_arithmetic: OnArithmeticError,
    f: impl Fn(&K) -> PyResult<V>,
) -> Result<HashMap<K, Option<V>>> {
    let mut out = HashMap::new();
    for k in keys {
        let v = match f(&k) {
            Ok(v) => Some(v),
            Err(PyError::Arithmetic(_)) if on_arithmetic == OnArithmeticError::Skip => None,
            Err(e) => {
                return Err(Error::FunctionFailed {
                    label: label.to_string(),
                    input: show(&k),
                    reason: e.to_string(),
                })
            }
        };
        out.insert(k, v);
    }
    Ok(out)
}

/// The MLP with every weight from `one` also taken, negated, from `bos` ([`TracrFix::BosSilentMaps`]):
/// at the BOS position (`one` = `bos` = 1) a discretising MLP's neurons then see no bias, so its start
/// neuron is 0 and each step's two neurons get the same input `L·x` and cancel: it writes nothing
/// there, whatever `x` is. Elsewhere (`bos` = 0) it is unchanged.
fn silent_at_bos(
    mlp: crate::craft::blocks::Mlp,
    one: &BasisDirection,
    bos: &BasisDirection,
) -> Result<crate::craft::blocks::Mlp> {
    let fst = &mlp.fst;
    let one_row = fst
        .input_space
        .index_of(one)
        .map(|i| fst.matrix.row(i).to_owned())
        .ok_or_else(|| Error::Message("a discretising MLP reads `one`".into()))?;
    let input = crate::craft::bases::join_vector_spaces(&[
        &fst.input_space,
        &VectorSpace::new(vec![bos.clone()]),
    ]);
    let silent = crate::craft::linear::Linear::from_action(input, fst.output_space.clone(), |d| {
        let own = fst
            .input_space
            .index_of(d)
            .map(|i| fst.matrix.row(i).to_owned())
            .unwrap_or_else(|| ndarray::Array1::zeros(fst.output_space.num_dims()));
        Ok(if d == bos { own - &one_row } else { own })
    })?;
    crate::craft::blocks::Mlp::new(silent, mlp.snd)
}

/// Python's repr of a function's two arguments, as the tuple `(x, y)`.
fn show_pair((x, y): &(Value, Value)) -> String {
    format!("({}, {})", x.py_repr(), y.py_repr())
}

/// Every `(x, y)` with x from `fst` and y from `snd`, each sorted as Tracr sorts its basis.
fn sorted_pairs(fst: &[Value], snd: &[Value]) -> Vec<(Value, Value)> {
    let snd = sort_values(snd);
    sort_values(fst)
        .into_iter()
        .flat_map(|x| snd.iter().map(move |y| (x.clone(), y.clone())))
        .collect()
}

impl Lowering<'_> {
    /// The label of child `position` of `of` (a label), or an error naming both.
    fn child_of(&self, of: &str, position: usize) -> Result<String> {
        let children = if of == self.label {
            self.children
        } else {
            &self.graph.require(of)?.children
        };
        children
            .get(position)
            .cloned()
            .ok_or_else(|| Error::Message(format!("`{of}` lacks child {position} in the graph")))
    }

    fn child(&self, position: usize) -> Result<String> {
        self.child_of(self.label, position)
    }

    fn basis(&self, label: &str) -> Result<&crate::basis::NodeBasis> {
        self.bases
            .get(label)
            .ok_or_else(|| Error::Message(format!("no value set inferred for `{label}`")))
    }

    fn space(&self, label: &str) -> Result<VectorSpace> {
        Ok(self.basis(label)?.output_space.clone())
    }

    fn values(&self, label: &str) -> Result<Vec<Value>> {
        Ok(self.basis(label)?.value_set.clone())
    }

    fn unsupported(&self, reason: impl Into<String>) -> Error {
        Error::Unsupported {
            label: self.label.to_string(),
            reason: reason.into(),
        }
    }

    fn lower(&self, sop: &SOp) -> Result<Option<Component>> {
        let label = self.label;
        let out = self.bases[label].output_space.clone();
        let one = VectorSpace::new(vec![BasisDirection::named("one")]);
        let hidden_name = format!("_hidden_{label}_");
        let mut roles = None;
        let mut fixes = Vec::new();
        let block = match sop.kind() {
            SOpKind::Tokens | SOpKind::Indices => return Ok(None),
            SOpKind::Map { f, inner } => {
                let inner_label = self.child(0)?;
                let input = self.space(&inner_label)?;
                let values = self.values(&inner_label)?;
                // Categorical inputs go through a bare call per basis direction; numerical ones
                // through the discretising layer, which skips ArithmeticErrors.
                let on_arithmetic = if inner.is_categorical() {
                    OnArithmeticError::Fail
                } else {
                    OnArithmeticError::Skip
                };
                let t = table(
                    label,
                    sort_values(&values),
                    Value::py_repr,
                    on_arithmetic,
                    |x| f.call(x),
                )?;
                let f = |x: &Value| t.get(x).cloned().flatten();
                let spec = DiscretisingMlp {
                    input_space: &input,
                    output_space: &out,
                    input_value_set: &values,
                    one_space: &one,
                    hidden_name: &hidden_name,
                    large_number: self.options.mlp_exactness,
                };
                let discretising = !inner.is_categorical();
                let mlp = match (inner.is_categorical(), sop.is_categorical()) {
                    (true, true) => map_categorical_mlp(&input, &out, label, &f)?,
                    (true, false)
                        if self.options.fix_tracr_bugs
                            && categorical_to_numerical_has_negative(&input, &f)? =>
                    {
                        fixes.push(TracrFix::CatToNumNegative);
                        map_categorical_to_numerical_signed_mlp(&input, &out, &hidden_name, &f)?
                    }
                    (true, false) => map_categorical_to_numerical_mlp(&input, &out, &f)?,
                    (false, true) => map_numerical_to_categorical_mlp(spec, &f)?,
                    (false, false) => map_numerical_mlp(spec, &f)?,
                };
                if discretising && self.options.fix_tracr_bugs {
                    fixes.push(TracrFix::BosSilentMaps);
                    Block::Mlp(silent_at_bos(
                        mlp,
                        &one.basis()[0],
                        &self.bos_space().basis()[0],
                    )?)
                } else {
                    Block::Mlp(mlp)
                }
            }
            SOpKind::SequenceMap { f, fst, snd } => {
                if ![fst, snd, sop].iter().all(|s| s.is_categorical()) {
                    return Err(self.unsupported(
                        "(Non-linear) SequenceMap only supports categorical inputs/outputs.",
                    ));
                }
                let (fst_label, snd_label) = (self.child(0)?, self.child(1)?);
                let (fst_space, snd_space) = (self.space(&fst_label)?, self.space(&snd_label)?);
                if fst_space == snd_space {
                    let values = self.values(&fst_label)?;
                    let t = table(
                        label,
                        sort_values(&values),
                        |x| show_pair(&(x.clone(), x.clone())),
                        OnArithmeticError::Fail,
                        |x| f.call(x, x),
                    )?;
                    let f = |x: &Value| t.get(x).cloned().flatten();
                    Block::Mlp(map_categorical_mlp(&fst_space, &out, label, &f)?)
                } else {
                    let pairs = sorted_pairs(&self.values(&fst_label)?, &self.values(&snd_label)?);
                    let t = table(
                        label,
                        pairs,
                        show_pair,
                        OnArithmeticError::Fail,
                        |(x, y)| f.call(x, y),
                    )?;
                    let op = |x: &BasisDirection, y: &BasisDirection| {
                        let key = (
                            x.value.clone().unwrap_or(Value::None),
                            y.value.clone().unwrap_or(Value::None),
                        );
                        t.get(&key)
                            .cloned()
                            .flatten()
                            .map(|v| BasisDirection::new(label, v))
                    };
                    Block::Mlp(sequence_map_categorical_mlp(
                        &fst_space,
                        &snd_space,
                        &out,
                        &one,
                        &hidden_name,
                        &op,
                    )?)
                }
            }
            SOpKind::LinearSequenceMap {
                fst,
                snd,
                fst_fac,
                snd_fac,
            } => {
                if ![fst, snd, sop].iter().all(|s| s.is_numerical()) {
                    return Err(self.unsupported(
                        "Linear SequenceMap only supports numerical inputs/outputs.",
                    ));
                }
                let (fst_space, snd_space) =
                    (self.space(&self.child(0)?)?, self.space(&self.child(1)?)?);
                Block::Mlp(linear_sequence_map_numerical_mlp(
                    &fst_space.basis()[0],
                    &snd_space.basis()[0],
                    &out.basis()[0],
                    *fst_fac,
                    *snd_fac,
                    &hidden_name,
                )?)
            }
            SOpKind::Aggregate {
                selector,
                sop: input,
                default,
            } => {
                let (roles_base, attn_fn) = self.selector_parts(selector)?;
                if input.encoding() != sop.encoding() {
                    return Err(self.unsupported(format!(
                        "An Aggregate's output encoding must match the input encoding. Input: {}, Output: {}",
                        input.encoding(),
                        sop.encoding()
                    )));
                }
                if sop.is_categorical() && *default != Value::None {
                    return Err(self.unsupported(format!(
                        "Default for a categorical aggregate must be None. Got {}",
                        default.py_repr()
                    )));
                }
                if sop.is_numerical() && *default != Value::Int(0) {
                    return Err(self.unsupported(format!(
                        "Default for a numerical aggregate must be 0. Got {}",
                        default.py_repr()
                    )));
                }
                let value_label = self.child(1)?;
                let head = categorical_attn(
                    CategoricalAttn {
                        query_space: &self.space(&roles_base.query_sop)?,
                        key_space: &self.space(&roles_base.key_sop)?,
                        value_space: &self.space(&value_label)?,
                        output_space: &out,
                        bos_space: &self.bos_space(),
                        one_space: &one,
                        default_output: None,
                        causal: false,
                        always_attend_to_bos: false,
                        use_bos_for_default_output: true,
                        softmax_coldness: SOFTMAX_COLDNESS,
                    },
                    &attn_fn,
                )?;
                roles = Some(SelectorRoles {
                    value_sop: Some(value_label),
                    ..roles_base
                });
                Block::Attention(head)
            }
            SOpKind::SelectorWidth { selector } => {
                let (roles_base, attn_fn) = self.selector_parts(selector)?;
                let values = self.values(label)?;
                let mut slope = self.options.mlp_exactness;
                if self.options.fix_tracr_bugs {
                    let max_width = values
                        .iter()
                        .filter_map(Value::as_f64)
                        .fold(0.0f64, f64::max) as usize;
                    slope = selector_width_slope(slope, max_width);
                    if slope > self.options.mlp_exactness {
                        fixes.push(TracrFix::SelectorWidthSlope);
                    }
                }
                let (head, mlp) = selector_width(
                    SelectorWidth {
                        query_space: &self.space(&roles_base.query_sop)?,
                        key_space: &self.space(&roles_base.key_sop)?,
                        output_space: &out,
                        bos_space: &self.bos_space(),
                        one_space: &one,
                        out_value_set: &values,
                        categorical_output: sop.is_categorical(),
                        causal: false,
                        softmax_coldness: SOFTMAX_COLDNESS,
                        mlp_large_number: slope,
                        label,
                    },
                    &attn_fn,
                )?;
                roles = Some(roles_base);
                Block::AttentionThenMlp(head, mlp)
            }
            SOpKind::Length | SOpKind::Full { .. } | SOpKind::ConstantSOp { .. } => {
                return Err(self.unsupported(format!(
                    "Expression {} cannot be translated to a model component.",
                    sop.type_name()
                )))
            }
        };
        Ok(Some(Component {
            label: label.to_string(),
            expr_type: sop.type_name(),
            roles,
            block,
            fixes,
        }))
    }

    fn bos_space(&self) -> VectorSpace {
        VectorSpace::new(vec![BasisDirection::new(
            "tokens",
            Value::Str(self.options.bos.clone()),
        )])
    }

    /// The Select's labels (selector, queries, keys) and `attn_fn(query, key) = predicate(key, query)`.
    fn selector_parts(
        &self,
        selector: &Selector,
    ) -> Result<(
        SelectorRoles,
        impl Fn(&BasisDirection, &BasisDirection) -> bool,
    )> {
        let SelectorKind::Select {
            keys,
            queries,
            predicate,
        } = selector.kind()
        else {
            return Err(self.unsupported(format!(
                "Compiling composite Selectors is not supported. Got a {}.",
                selector.type_name()
            )));
        };
        if !keys.is_categorical() || !queries.is_categorical() {
            return Err(self.unsupported("Selector keys and queries must be categorical."));
        }
        let selector_label = self.child(0)?;
        let key_label = self.child_of(&selector_label, 0)?;
        let query_label = self.child_of(&selector_label, 1)?;
        // Tracr's W_qk is built query by query, key by key, each in sorted order; the table is
        // keyed (key, query) as the predicate takes them.
        let pairs: Vec<(Value, Value)> =
            sorted_pairs(&self.values(&query_label)?, &self.values(&key_label)?)
                .into_iter()
                .map(|(q, k)| (k, q))
                .collect();
        let t = table(
            &selector_label,
            pairs,
            |(k, q)| format!("(key {}, query {})", k.py_repr(), q.py_repr()),
            OnArithmeticError::Fail,
            |(k, q)| predicate.apply(k, q),
        )?;
        let attn_fn = move |q: &BasisDirection, k: &BasisDirection| {
            let key = (
                k.value.clone().unwrap_or(Value::None),
                q.value.clone().unwrap_or(Value::None),
            );
            t.get(&key).cloned().flatten().unwrap_or(false)
        };
        let roles = SelectorRoles {
            selector: selector_label,
            query_sop: query_label,
            key_sop: key_label,
            value_sop: None,
        };
        Ok((roles, attn_fn))
    }
}

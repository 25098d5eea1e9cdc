//! The attention head that compiles a categorical Aggregate (and SelectorWidth's attention).

use ndarray::Array1;

use crate::craft::bases::{join_vector_spaces, BasisDirection, VectorSpace};
use crate::craft::blocks::AttentionHead;
use crate::craft::linear::{one_hot, Linear, ScalarBilinear};
use crate::error::{Error, Result};

/// The spaces and switches of a categorical attention head.
pub struct CategoricalAttn<'a> {
    /// The query SOp's space.
    pub query_space: &'a VectorSpace,
    /// The key SOp's space.
    pub key_space: &'a VectorSpace,
    /// The value SOp's space.
    pub value_space: &'a VectorSpace,
    /// Where the head writes; zipped positionally with the value basis (minus BOS unless `always_attend_to_bos`).
    pub output_space: &'a VectorSpace,
    /// The 1-d BOS space (`tokens:BOS`).
    pub bos_space: &'a VectorSpace,
    /// The 1-d space that is 1 everywhere (`one`).
    pub one_space: &'a VectorSpace,
    /// What the head writes when it attends only to BOS; zero when `None`.
    pub default_output: Option<Array1<f64>>,
    /// Whether the craft head masks the future.
    pub causal: bool,
    /// Attend to BOS with full strength (SelectorWidth) rather than half (Aggregate).
    pub always_attend_to_bos: bool,
    /// BOS's value row writes `default_output` instead of a value.
    pub use_bos_for_default_output: bool,
    /// The inverse temperature folded into `W_qk`.
    pub softmax_coldness: f64,
}

/// Builds the head; `attn_fn(query, key)` says whether a query direction attends to a key direction.
pub fn categorical_attn(
    spec: CategoricalAttn<'_>,
    attn_fn: &dyn Fn(&BasisDirection, &BasisDirection) -> bool,
) -> Result<AttentionHead> {
    spec.bos_space.ensure_dims(1, "bos_space")?;
    spec.one_space.ensure_dims(1, "one_space")?;
    let bos = spec.bos_space.basis()[0].clone();
    let one = spec.one_space.basis()[0].clone();

    let query_space = join_vector_spaces(&[spec.query_space, spec.bos_space, spec.one_space]);
    let key_space = join_vector_spaces(&[spec.key_space, spec.bos_space]);
    let value_space = join_vector_spaces(&[spec.value_space, spec.bos_space]);

    let value_basis: Vec<BasisDirection> = value_space
        .basis()
        .iter()
        .filter(|d| spec.always_attend_to_bos || **d != bos)
        .cloned()
        .collect();
    if value_basis.len() != spec.output_space.num_dims() {
        return Err(Error::Craft(format!(
            "attention value space has {} directions but output space has {}: [{}]",
            value_basis.len(),
            spec.output_space.num_dims(),
            spec.output_space.labels().join(", ")
        )));
    }
    let default_output = spec
        .default_output
        .clone()
        .unwrap_or_else(|| Array1::zeros(spec.output_space.num_dims()));

    let coldness = spec.softmax_coldness;
    let w_qk = ScalarBilinear::from_action(query_space, key_space, |q, k| {
        Ok(if *k == bos && *q == one {
            let c = if spec.always_attend_to_bos { 1.0 } else { 0.5 };
            c * coldness
        } else if *k == bos || *k == one || *q == bos || *q == one {
            0.0
        } else if attn_fn(q, k) {
            coldness
        } else {
            0.0
        })
    })?;

    let output_space = spec.output_space.clone();
    let w_ov = Linear::from_action(value_space, output_space.clone(), |d| {
        if spec.use_bos_for_default_output && *d == bos {
            return Ok(default_output.clone());
        }
        let position = value_basis
            .iter()
            .position(|v| v == d)
            .expect("every value direction but BOS is zipped with an output");
        one_hot(&output_space, &output_space.basis()[position])
    })?;

    Ok(AttentionHead::new(w_qk, w_ov, spec.causal))
}

//! SelectorWidth: an attention head measuring 1/(width+1) through BOS, then an MLP decoding the width.

use ndarray::Array1;

use super::categorical_attn::{categorical_attn, CategoricalAttn};
use super::numerical_mlp::{map_numerical_mlp, map_numerical_to_categorical_mlp, DiscretisingMlp};
use crate::craft::bases::{join_vector_spaces, BasisDirection, VectorSpace};
use crate::craft::blocks::{AttentionHead, Mlp};
use crate::craft::linear::{one_hot, Linear};
use crate::error::{Error, Result};
use crate::value::Value;

/// The spaces and constants of a SelectorWidth block.
pub struct SelectorWidth<'a> {
    /// The selector's query space.
    pub query_space: &'a VectorSpace,
    /// The selector's key space.
    pub key_space: &'a VectorSpace,
    /// Where the width is written (1-d numerical, or one direction per width).
    pub output_space: &'a VectorSpace,
    /// The 1-d BOS space.
    pub bos_space: &'a VectorSpace,
    /// The 1-d space that is 1 everywhere.
    pub one_space: &'a VectorSpace,
    /// The widths the output can take (`0..=max_seq_len`).
    pub out_value_set: &'a [Value],
    /// Whether the output is categorical.
    pub categorical_output: bool,
    /// Whether the craft head masks the future.
    pub causal: bool,
    /// The attention's inverse temperature.
    pub softmax_coldness: f64,
    /// The decoding MLP's step slope.
    pub mlp_large_number: f64,
    /// The SOp's label, which names the auxiliary directions.
    pub label: &'a str,
}

/// Builds the attention head and the MLP (decoder plus BOS clean-up neuron, combined in parallel).
pub fn selector_width(
    spec: SelectorWidth<'_>,
    attn_fn: &dyn Fn(&BasisDirection, &BasisDirection) -> bool,
) -> Result<(AttentionHead, Mlp)> {
    if !spec.categorical_output && spec.output_space.num_dims() != 1 {
        return Err(Error::Craft(format!(
            "a numerical SelectorWidth needs a 1-d output space, got [{}]",
            spec.output_space.labels().join(", ")
        )));
    }
    let attn_out_dir = BasisDirection::named(format!("{}_selector_width_attn_output", spec.label));
    let attn_out_space = VectorSpace::new(vec![attn_out_dir.clone()]);
    let attn = categorical_attn(
        CategoricalAttn {
            query_space: spec.query_space,
            key_space: spec.key_space,
            value_space: spec.bos_space,
            output_space: &attn_out_space,
            bos_space: spec.bos_space,
            one_space: spec.one_space,
            default_output: None,
            causal: spec.causal,
            always_attend_to_bos: true,
            use_bos_for_default_output: false,
            softmax_coldness: spec.softmax_coldness,
        },
        attn_fn,
    )?;

    // Python's round() rounds half to even.
    let decode = |x: &Value| {
        x.as_f64()
            .map(|x| Value::Int((1.0 / x - 1.0).round_ties_even() as i64))
    };
    let in_value_set: Vec<Value> = spec
        .out_value_set
        .iter()
        .filter_map(|v| v.as_f64().map(|w| Value::Float(1.0 / (w + 1.0))))
        .collect();
    let hidden_name = format!("_hidden_{}_", spec.label);
    let decoder_spec = DiscretisingMlp {
        input_space: &attn_out_space,
        output_space: spec.output_space,
        input_value_set: &in_value_set,
        one_space: spec.one_space,
        hidden_name: &hidden_name,
        large_number: spec.mlp_large_number,
    };
    let decoder = if spec.categorical_output {
        map_numerical_to_categorical_mlp(decoder_spec, &decode)?
    } else {
        map_numerical_mlp(decoder_spec, &decode)?
    };

    // At BOS the head wrote 1 (and the decoder the width 0): the clean-up neuron removes both.
    let clean_space = join_vector_spaces(&[&attn_out_space, spec.output_space]);
    let mut to_subtract = one_hot(&clean_space, &attn_out_dir)?;
    if spec.categorical_output {
        let zero = Value::Int(0);
        let zero_dir = spec
            .output_space
            .basis()
            .iter()
            .find(|d| d.value.as_ref() == Some(&zero))
            .ok_or_else(|| {
                Error::Craft(format!(
                    "a categorical SelectorWidth needs the value 0 among [{}]",
                    spec.output_space.labels().join(", ")
                ))
            })?;
        to_subtract += &one_hot(&clean_space, zero_dir)?;
    }
    let hidden_space = VectorSpace::new(vec![BasisDirection::named("_hidden_clean_bos_")]);
    let fst = Linear::from_action(spec.bos_space.clone(), hidden_space.clone(), |_| {
        Ok(Array1::ones(1))
    })?;
    let snd = Linear::from_action(hidden_space, clean_space, |_| Ok(-&to_subtract))?;
    let clean_bos = Mlp::new(fst, snd)?;
    Ok((attn, Mlp::combine_in_parallel(&[&decoder, &clean_bos])))
}

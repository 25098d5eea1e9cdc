//! Tracr's `assemble` (with `craft_model_to_transformer`): craft half-layers become haiku-layout
//! weight matrices over the named residual stream, plus embeddings and provenance.

use ndarray::{s, Array1, Array2, ArrayViewMut2};

use crate::allocate::{CraftModel, HalfLayer, Owner};
use crate::craft::bases::{join_vector_spaces, BasisDirection, VectorSpace};
use crate::craft::linear::{project, Linear};
use crate::error::{Error, Result};
use crate::fixes::TracrFix;
use crate::model::{
    AttentionWeights, CompiledModel, HeadInfo, InputEncoding, LayerWeights, MlpInfo, MlpWeights,
    ModelConfig, ModuleContents, ModuleInfo, OutputEncoding,
};
use crate::value::Value;

/// What the model reads and writes, besides the craft blocks.
#[derive(Debug, Clone)]
pub struct Interface {
    /// `tokens:v` for the vocabulary plus BOS and PAD.
    pub tokens_space: VectorSpace,
    /// `indices:0..max_seq_len`.
    pub indices_space: VectorSpace,
    /// The output SOp's space.
    pub output_space: VectorSpace,
    /// Whether the output is decoded by argmax.
    pub categorical_output: bool,
    /// Whether attention is causally masked.
    pub causal: bool,
    /// The BOS token.
    pub bos: String,
    /// The PAD token.
    pub pad: String,
    /// The longest input without BOS.
    pub max_seq_len: usize,
    /// Size `key_size` to fit every head's W_ov too ([`TracrFix::KeySizeFitsOv`]); false is Tracr's.
    pub fix_key_size: bool,
}

impl Interface {
    /// The spaces Tracr's `craft_model_to_transformer` builds for this vocabulary and length.
    pub fn new(
        vocab: &[Value],
        max_seq_len: usize,
        output_space: VectorSpace,
        categorical_output: bool,
        causal: bool,
        bos: &str,
        pad: &str,
    ) -> Self {
        let mut tokens: Vec<Value> = Vec::new();
        for v in vocab
            .iter()
            .cloned()
            .chain([Value::from(bos), Value::from(pad)])
        {
            if !tokens.contains(&v) {
                tokens.push(v);
            }
        }
        let indices: Vec<Value> = (0..max_seq_len as i64).map(Value::Int).collect();
        Interface {
            tokens_space: VectorSpace::from_values("tokens", &tokens),
            indices_space: VectorSpace::from_values("indices", &indices),
            output_space,
            categorical_output,
            causal,
            bos: bos.to_string(),
            pad: pad.to_string(),
            max_seq_len,
            fix_key_size: false,
        }
    }
}

/// `project(residual, space).matrix`: `[D, dims(space)]`.
fn from_residual(residual: &VectorSpace, space: &VectorSpace) -> Array2<f64> {
    project(residual, space).matrix
}

/// The nonzeros of [`from_residual`], each a 1: `(residual row, position in space)`.
fn residual_positions(residual: &VectorSpace, space: &VectorSpace) -> Vec<(usize, usize)> {
    residual
        .basis()
        .iter()
        .enumerate()
        .filter_map(|(r, d)| space.index_of(d).map(|k| (r, k)))
        .collect()
}

/// Writes `from_residual(residual, space) · matrix` (`[D, cols]`) into `target`, which holds zeros.
///
/// Each row of that product is one row of `matrix` (or zero), so it is copied rather than
/// multiplied. The bits are the product's: its sums start at +0.0 and add a single `1 · x` to
/// products `0 · y` = ±0.0, which gives `x`, except that -0.0 becomes +0.0, which `x + 0.0` also
/// does. With an infinity or NaN in `matrix` the product would spread NaN (`0 · inf`), so such a
/// matrix is multiplied.
fn assign_from_residual(
    mut target: ArrayViewMut2<'_, f64>,
    residual: &VectorSpace,
    space: &VectorSpace,
    matrix: &Array2<f64>,
) {
    if matrix.iter().any(|x| !x.is_finite()) {
        target.assign(&from_residual(residual, space).dot(matrix));
        return;
    }
    for (r, k) in residual_positions(residual, space) {
        target
            .row_mut(r)
            .zip_mut_with(&matrix.row(k), |t, &x| *t = x + 0.0);
    }
}

/// Writes `matrix · from_residual(residual, space)ᵀ` (`[rows, D]`) into `target`, which holds
/// zeros: one column of `matrix` per residual column, as [`assign_from_residual`] copies rows.
fn assign_to_residual(
    mut target: ArrayViewMut2<'_, f64>,
    residual: &VectorSpace,
    space: &VectorSpace,
    matrix: &Array2<f64>,
) {
    if matrix.iter().any(|x| !x.is_finite()) {
        target.assign(&matrix.dot(&from_residual(residual, space).t()));
        return;
    }
    for (r, k) in residual_positions(residual, space) {
        target
            .column_mut(r)
            .zip_mut_with(&matrix.column(k), |t, &x| *t = x + 0.0);
    }
}

/// Writes `from_residual(residual, space)` into `target` (zeros, `[D, dims(space)]`), transposed
/// when `transposed`: the 0/1 reading (key) and writing (output) maps of a head.
fn assign_projection(
    mut target: ArrayViewMut2<'_, f64>,
    residual: &VectorSpace,
    space: &VectorSpace,
    transposed: bool,
) {
    for (r, k) in residual_positions(residual, space) {
        let at = if transposed { [k, r] } else { [r, k] };
        target[at] = 1.0;
    }
}

fn value_of(d: &BasisDirection) -> Value {
    d.value.clone().unwrap_or(Value::None)
}

/// Assembles the weights: each half-layer takes the next free `layer_i/attn` or `layer_i/mlp` slot.
pub fn assemble(craft: &CraftModel, io: &Interface) -> Result<CompiledModel> {
    // Module slots: the k-th block takes the first unused slot of its kind, skipping the other kind.
    let mut slots = Vec::new();
    let mut next_slot = 0usize; // counts half-layer slots: 2i = layer_i/attn, 2i+1 = layer_i/mlp
    for (_, half) in &craft.half_layers {
        let want_mlp = matches!(half, HalfLayer::Mlp { .. });
        while (next_slot % 2 == 1) != want_mlp {
            next_slot += 1;
        }
        slots.push(next_slot);
        next_slot += 1;
    }
    let num_layers = slots.last().map_or(0, |s| s / 2 + 1);

    let all_heads: Vec<&(Owner, crate::craft::blocks::AttentionHead)> = craft
        .half_layers
        .iter()
        .filter_map(|(_, h)| match h {
            HalfLayer::Attention(heads) => Some(heads),
            _ => None,
        })
        .flatten()
        .collect();
    let mut tracr_fixes = Vec::new();
    let (num_heads, key_size) = if all_heads.is_empty() {
        (1, 1)
    } else {
        let num_heads = craft
            .half_layers
            .iter()
            .filter_map(|(_, h)| match h {
                HalfLayer::Attention(heads) => Some(heads.len()),
                _ => None,
            })
            .max()
            .unwrap_or(1);
        // Tracr's quirk: the widest W_qk side only; a wider W_ov does not fit (see below).
        let key_size = all_heads
            .iter()
            .map(|(_, h)| h.w_qk.matrix.nrows().max(h.w_qk.matrix.ncols()))
            .max()
            .unwrap_or(1);
        let ov_width = all_heads
            .iter()
            .map(|(_, h)| h.w_ov.matrix.ncols())
            .max()
            .unwrap_or(1);
        if io.fix_key_size && ov_width > key_size {
            tracr_fixes.push(TracrFix::KeySizeFitsOv);
            (num_heads, ov_width)
        } else {
            (num_heads, key_size)
        }
    };
    let mlp_hidden_size = craft
        .half_layers
        .iter()
        .filter_map(|(_, h)| match h {
            HalfLayer::Mlp { combined, .. } => Some(combined.hidden_size()),
            _ => None,
        })
        .max()
        .unwrap_or(1);

    let residual = join_vector_spaces(&[
        &craft.residual_space,
        &io.tokens_space,
        &io.indices_space,
        &io.output_space,
    ]);
    let d = residual.num_dims();
    let hk = num_heads * key_size;

    let mut weights: Vec<LayerWeights> = (0..num_layers)
        .map(|_| LayerWeights {
            attn: AttentionWeights {
                query: Array2::zeros((d, hk)),
                query_bias: Array1::zeros(hk),
                key: Array2::zeros((d, hk)),
                key_bias: Array1::zeros(hk),
                value: Array2::zeros((d, hk)),
                value_bias: Array1::zeros(hk),
                output: Array2::zeros((hk, d)),
                output_bias: Array1::zeros(d),
            },
            mlp: MlpWeights {
                hidden: Array2::zeros((d, mlp_hidden_size)),
                hidden_bias: Array1::zeros(mlp_hidden_size),
                output: Array2::zeros((mlp_hidden_size, d)),
                output_bias: Array1::zeros(d),
            },
        })
        .collect();
    let mut layers: Vec<ModuleInfo> = (0..num_layers * 2).map(empty_module).collect();

    for ((allocation, half), &slot) in craft.half_layers.iter().zip(&slots) {
        let layer = &mut weights[slot / 2];
        let info = &mut layers[slot];
        info.allocation_layer = Some(*allocation);
        info.empty = false;
        match half {
            HalfLayer::Mlp { combined, parts } => {
                let h = combined.hidden_size();
                assign_from_residual(
                    layer.mlp.hidden.slice_mut(s![.., ..h]),
                    &residual,
                    &combined.fst.input_space,
                    &combined.fst.matrix,
                );
                assign_to_residual(
                    layer.mlp.output.slice_mut(s![..h, ..]),
                    &residual,
                    &combined.snd.output_space,
                    &combined.snd.matrix,
                );
                info.contents = mlp_contents(combined, parts);
            }
            HalfLayer::Attention(heads) => {
                let a = &mut layer.attn;
                let mut infos = Vec::new();
                for (i, (owner, head)) in heads.iter().enumerate() {
                    let cols = i * key_size;
                    let qk_width = head.w_qk.matrix.ncols();
                    assign_from_residual(
                        a.query.slice_mut(s![.., cols..cols + qk_width]),
                        &residual,
                        &head.w_qk.left_space,
                        &head.w_qk.matrix,
                    );
                    assign_projection(
                        a.key.slice_mut(s![.., cols..cols + qk_width]),
                        &residual,
                        &head.w_qk.right_space,
                        false,
                    );
                    let value_width = head.w_ov.matrix.ncols();
                    if value_width > key_size {
                        return Err(Error::KeySizeTooSmall {
                            label: owner.label.clone(),
                            value_width,
                            key_size,
                        });
                    }
                    assign_from_residual(
                        a.value.slice_mut(s![.., cols..cols + value_width]),
                        &residual,
                        &head.w_ov.input_space,
                        &head.w_ov.matrix,
                    );
                    assign_projection(
                        a.output.slice_mut(s![cols..cols + value_width, ..]),
                        &residual,
                        &head.w_ov.output_space,
                        true,
                    );
                    infos.push(head_info(i, owner, head));
                }
                info.contents = ModuleContents::Attention {
                    num_heads_used: infos.len(),
                    heads: infos,
                };
            }
        }
    }

    let config = ModelConfig {
        num_layers,
        num_heads,
        key_size,
        mlp_hidden_size,
        d_model: d,
        layer_norm: false,
        activation: "relu".into(),
        causal: io.causal,
        dropout_rate: 0.0,
        attn_logit_scale: 1.0 / (key_size as f64).sqrt(),
        heads_per_layer: layers
            .iter()
            .filter_map(|m| match &m.contents {
                ModuleContents::Attention { num_heads_used, .. } => Some(*num_heads_used),
                _ => None,
            })
            .collect(),
        mlp_hidden_per_layer: layers
            .iter()
            .filter_map(|m| match &m.contents {
                ModuleContents::Mlp {
                    hidden_size_used, ..
                } => Some(*hidden_size_used),
                _ => None,
            })
            .collect(),
    };

    let (token_embed, pos_embed) = embeddings(&residual, io);
    let residual_labels = residual.labels();
    let output_residual_indices = io
        .output_space
        .basis()
        .iter()
        .map(|dir| {
            residual
                .index_of(dir)
                .expect("the residual contains the output")
        })
        .collect();
    let output_encoding = if io.categorical_output {
        OutputEncoding::Categorical(
            io.output_space
                .basis()
                .iter()
                .enumerate()
                .map(|(i, dir)| (value_of(dir), i))
                .collect(),
        )
    } else {
        OutputEncoding::Numerical
    };
    Ok(CompiledModel {
        config,
        residual_labels,
        tokens_labels: io.tokens_space.labels(),
        indices_labels: io.indices_space.labels(),
        output_labels: io.output_space.labels(),
        output_residual_indices,
        categorical_output: io.categorical_output,
        input_encoding: InputEncoding {
            map: io
                .tokens_space
                .basis()
                .iter()
                .enumerate()
                .map(|(i, dir)| (value_of(dir), i))
                .collect(),
            bos_token: io.bos.clone(),
            pad_token: io.pad.clone(),
            max_seq_len_with_bos: io.max_seq_len + 1,
        },
        output_encoding,
        layers,
        token_embed,
        pos_embed,
        weights,
        residual_map: None,
        perturbation: None,
        tracr_fixes,
    })
}

/// Token embedding (one-hot plus `one` for every token) and position embedding (row 0 zero).
fn embeddings(residual: &VectorSpace, io: &Interface) -> (Array2<f64>, Array2<f64>) {
    let tokens_to_res = project(&io.tokens_space, residual);
    let one = BasisDirection::named("one");
    let token_embed = match residual.index_of(&one) {
        Some(one_index) => {
            let mut one_matrix = Array2::zeros((io.tokens_space.num_dims(), residual.num_dims()));
            one_matrix.column_mut(one_index).fill(1.0);
            let one_to_res = Linear {
                input_space: io.tokens_space.clone(),
                output_space: residual.clone(),
                matrix: one_matrix,
            };
            Linear::combine_in_parallel(&[&tokens_to_res, &one_to_res]).matrix
        }
        None => tokens_to_res.matrix,
    };
    let index_to_res = project(&io.indices_space, residual).matrix;
    let mut pos_embed = Array2::zeros((io.indices_space.num_dims() + 1, residual.num_dims()));
    pos_embed.slice_mut(s![1.., ..]).assign(&index_to_res);
    (token_embed, pos_embed)
}

fn empty_module(slot: usize) -> ModuleInfo {
    let kind = if slot % 2 == 0 { "attn" } else { "mlp" };
    let module = format!("layer_{}/{kind}", slot / 2);
    ModuleInfo {
        param_prefix: format!("transformer/{module}"),
        module,
        allocation_layer: None,
        empty: true,
        contents: if slot % 2 == 0 {
            ModuleContents::Attention {
                heads: Vec::new(),
                num_heads_used: 0,
            }
        } else {
            ModuleContents::Mlp {
                mlps: Vec::new(),
                hidden_labels: Vec::new(),
                hidden_owners: Vec::new(),
                hidden_size_used: 0,
            }
        },
    }
}

fn head_info(index: usize, owner: &Owner, head: &crate::craft::blocks::AttentionHead) -> HeadInfo {
    let roles = owner
        .roles
        .clone()
        .unwrap_or_else(|| crate::lower::SelectorRoles {
            selector: String::new(),
            query_sop: String::new(),
            key_sop: String::new(),
            value_sop: None,
        });
    HeadInfo {
        head: index,
        label: owner.label.clone(),
        expr_type: owner.expr_type.to_string(),
        selector: roles.selector,
        query_sop: roles.query_sop,
        key_sop: roles.key_sop,
        value_sop: roles.value_sop,
        reads_query: head.w_qk.left_space.labels(),
        reads_key: head.w_qk.right_space.labels(),
        reads_value: head.w_ov.input_space.labels(),
        writes: head.w_ov.output_space.labels(),
        qk_dims: head.w_qk.matrix.shape().to_vec(),
        ov_dims: head.w_ov.matrix.shape().to_vec(),
    }
}

fn mlp_contents(
    combined: &crate::craft::blocks::Mlp,
    parts: &[(Owner, crate::craft::blocks::Mlp)],
) -> ModuleContents {
    let hidden = combined.fst.output_space.basis();
    ModuleContents::Mlp {
        mlps: parts
            .iter()
            .map(|(owner, mlp)| MlpInfo {
                label: owner.label.clone(),
                expr_type: owner.expr_type.to_string(),
                reads: mlp.fst.input_space.labels(),
                writes: mlp.snd.output_space.labels(),
                hidden_size: mlp.hidden_size(),
            })
            .collect(),
        hidden_labels: combined.fst.output_space.labels(),
        hidden_owners: hidden
            .iter()
            .map(|dir| {
                parts
                    .iter()
                    .filter(|(_, mlp)| mlp.fst.output_space.contains(dir))
                    .map(|(owner, _)| owner.label.clone())
                    .collect()
            })
            .collect(),
        hidden_size_used: hidden.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn bits(m: &Array2<f64>) -> Vec<u64> {
        m.iter().map(|x| x.to_bits()).collect()
    }

    /// A residual of five directions and a space holding two of them and one it lacks.
    fn spaces() -> (VectorSpace, VectorSpace) {
        (
            VectorSpace::from_names(&["a", "b", "c", "d", "e"]),
            VectorSpace::from_names(&["b", "d", "z"]),
        )
    }

    #[test]
    fn copied_weights_have_the_bits_of_the_projection_products() {
        let (residual, space) = spaces();
        let finite = array![[-0.0, 1.5], [2.0, -0.0], [3.0, 4.0]];
        // With an infinity or NaN the product spreads NaN to rows that copying would leave zero.
        let non_finite = array![[f64::INFINITY, 1.0], [2.0, f64::NAN], [3.0, 4.0]];
        for matrix in [finite, non_finite] {
            let mut got = Array2::zeros((5, 2));
            assign_from_residual(got.view_mut(), &residual, &space, &matrix);
            let expected = from_residual(&residual, &space).dot(&matrix);
            assert_eq!(bits(&got), bits(&expected), "{got} against {expected}");

            let transposed = matrix.t().to_owned();
            let mut got = Array2::zeros((2, 5));
            assign_to_residual(got.view_mut(), &residual, &space, &transposed);
            let expected = transposed.dot(&from_residual(&residual, &space).t());
            assert_eq!(bits(&got), bits(&expected), "{got} against {expected}");
        }
    }

    #[test]
    fn written_projections_equal_the_dense_ones() {
        let (residual, space) = spaces();
        let expected = from_residual(&residual, &space);
        let mut got = Array2::zeros((5, 3));
        assign_projection(got.view_mut(), &residual, &space, false);
        assert_eq!(got, expected);
        let mut got = Array2::zeros((3, 5));
        assign_projection(got.view_mut(), &residual, &space, true);
        assert_eq!(got, expected.t());
    }
}

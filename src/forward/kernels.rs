//! Forward and backward kernels on dimension-major states `[dims, B·S]` (column = one token).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2};

use crate::model::LayerNorm;

/// `out = a · b`, also when the shared dimension is empty.
pub(crate) fn matmul_into(a: ArrayView2<f64>, b: ArrayView2<f64>, out: &mut Array2<f64>) {
    if a.ncols() == 0 {
        out.fill(0.0);
    } else {
        general_mat_mul(1.0, &a, &b, 0.0, out);
    }
}

/// Adds `bias[row]` to every entry of that row.
pub(crate) fn add_row_bias(out: &mut Array2<f64>, bias: &Array1<f64>) {
    for (mut row, &b) in out.rows_mut().into_iter().zip(bias.iter()) {
        if b != 0.0 {
            row.mapv_inplace(|v| v + b);
        }
    }
}

/// What a column-wise LayerNorm keeps for its backward.
#[derive(Debug, Clone)]
pub(crate) struct NormCache {
    /// `(x − mean) / sqrt(var + ε)`, `[d_model, columns]`.
    pub normalized: Array2<f64>,
    /// `1 / sqrt(var + ε)` per column.
    pub inv_std: Vec<f64>,
}

impl NormCache {
    /// Buffers for `d_model` rows and `columns` tokens.
    pub fn new(d_model: usize, columns: usize) -> NormCache {
        NormCache {
            normalized: Array2::zeros((d_model, columns)),
            inv_std: vec![0.0; columns],
        }
    }
}

/// LayerNorm of every column of `input` into `output`, keeping what the backward needs in `cache`.
pub(crate) fn layer_norm_columns(
    norm: &LayerNorm,
    input: &Array2<f64>,
    cache: &mut NormCache,
    output: &mut Array2<f64>,
) {
    let (dims, columns) = input.dim();
    let n = dims as f64;
    for c in 0..columns {
        let column = input.column(c);
        let mean = column.iter().sum::<f64>() / n;
        let variance = column.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv_std = 1.0 / (variance + norm.epsilon).sqrt();
        cache.inv_std[c] = inv_std;
        for d in 0..dims {
            let x_hat = (input[(d, c)] - mean) * inv_std;
            cache.normalized[(d, c)] = x_hat;
            output[(d, c)] = x_hat * norm.scale[d] + norm.shift[d];
        }
    }
}

/// Backward of `layer_norm_columns`: turns `grad` (d loss / d output) into d loss / d input, in place.
pub(crate) fn layer_norm_columns_backward(
    norm: &LayerNorm,
    cache: &NormCache,
    grad: &mut Array2<f64>,
) {
    let (dims, columns) = grad.dim();
    let n = dims as f64;
    for c in 0..columns {
        let mut mean_grad = 0.0;
        let mut mean_grad_x = 0.0;
        for d in 0..dims {
            let g = grad[(d, c)] * norm.scale[d];
            mean_grad += g;
            mean_grad_x += g * cache.normalized[(d, c)];
        }
        mean_grad /= n;
        mean_grad_x /= n;
        let inv_std = cache.inv_std[c];
        for d in 0..dims {
            let g = grad[(d, c)] * norm.scale[d];
            grad[(d, c)] = inv_std * (g - mean_grad - cache.normalized[(d, c)] * mean_grad_x);
        }
    }
}

/// Sizes of one attention computation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq_len: usize,
    /// Multiplier of `q·k`.
    pub scale: f64,
    /// Mask keys after the query.
    pub causal: bool,
}

/// `probs[b,i,j] = softmax_j(scale q_i·k_j)`, `mixed[:, b,i] = Σ_j probs[b,i,j] v[:, b,j]`.
pub(crate) fn attention_forward(
    shape: AttentionShape,
    query: &Array2<f64>,
    key: &Array2<f64>,
    value: &Array2<f64>,
    probs: &mut [f64],
    mixed: &mut Array2<f64>,
) {
    let AttentionShape {
        batch,
        seq_len: s,
        scale,
        causal,
    } = shape;
    probs.fill(0.0);
    for (q_row, k_row) in query.rows().into_iter().zip(key.rows()) {
        let (q_row, k_row) = (as_slice(q_row), as_slice(k_row));
        for b in 0..batch {
            for i in 0..s {
                let q = q_row[b * s + i];
                let row = &mut probs[(b * s + i) * s..(b * s + i + 1) * s];
                for (p, &k) in row.iter_mut().zip(&k_row[b * s..(b + 1) * s]) {
                    *p += q * k;
                }
            }
        }
    }
    for (index, row) in probs.chunks_mut(s).enumerate() {
        let i = index % s;
        let visible = if causal { i + 1 } else { s };
        let mut max = f64::NEG_INFINITY;
        for p in row[..visible].iter_mut() {
            *p *= scale;
            max = max.max(*p);
        }
        let mut total = 0.0;
        for p in row[..visible].iter_mut() {
            *p = (*p - max).exp();
            total += *p;
        }
        for p in row[..visible].iter_mut() {
            *p /= total;
        }
        row[visible..].fill(0.0);
    }
    for (mut m_row, v_row) in mixed.rows_mut().into_iter().zip(value.rows()) {
        let m_row = m_row.as_slice_mut().expect("standard layout");
        let v_row = as_slice(v_row);
        for b in 0..batch {
            for i in 0..s {
                let p_row = &probs[(b * s + i) * s..(b * s + i + 1) * s];
                m_row[b * s + i] = p_row
                    .iter()
                    .zip(&v_row[b * s..(b + 1) * s])
                    .map(|(p, v)| p * v)
                    .sum();
            }
        }
    }
}

/// Gradients of one attention computation with respect to its query, key and value.
pub(crate) struct AttentionGrads<'a> {
    /// d loss / d query, written.
    pub query: &'a mut Array2<f64>,
    /// d loss / d key, written.
    pub key: &'a mut Array2<f64>,
    /// d loss / d value, written.
    pub value: &'a mut Array2<f64>,
}

/// Backward of `attention_forward` given d loss / d mixed; `scratch` holds `B·S·S` numbers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_backward(
    shape: AttentionShape,
    query: &Array2<f64>,
    key: &Array2<f64>,
    value: &Array2<f64>,
    probs: &[f64],
    grad_mixed: &Array2<f64>,
    scratch: &mut [f64],
    grads: AttentionGrads<'_>,
) {
    let AttentionShape {
        batch,
        seq_len: s,
        scale,
        ..
    } = shape;
    // d probs and d value.
    scratch.fill(0.0);
    grads.value.fill(0.0);
    for ((g_row, v_row), mut dv_row) in grad_mixed
        .rows()
        .into_iter()
        .zip(value.rows())
        .zip(grads.value.rows_mut())
    {
        let (g_row, v_row) = (as_slice(g_row), as_slice(v_row));
        let dv_row = dv_row.as_slice_mut().expect("standard layout");
        for b in 0..batch {
            for i in 0..s {
                let g = g_row[b * s + i];
                let offset = (b * s + i) * s;
                for j in 0..s {
                    scratch[offset + j] += g * v_row[b * s + j];
                    dv_row[b * s + j] += probs[offset + j] * g;
                }
            }
        }
    }
    // Softmax backward, folded with the logit scale: d logits = p (dp − Σ p dp) · scale.
    for (p_row, d_row) in probs.chunks(s).zip(scratch.chunks_mut(s)) {
        let dot: f64 = p_row.iter().zip(d_row.iter()).map(|(p, d)| p * d).sum();
        for (d, p) in d_row.iter_mut().zip(p_row) {
            *d = p * (*d - dot) * scale;
        }
    }
    grads.query.fill(0.0);
    grads.key.fill(0.0);
    for (((q_row, k_row), mut dq_row), mut dk_row) in query
        .rows()
        .into_iter()
        .zip(key.rows())
        .zip(grads.query.rows_mut())
        .zip(grads.key.rows_mut())
    {
        let (q_row, k_row) = (as_slice(q_row), as_slice(k_row));
        let dq_row = dq_row.as_slice_mut().expect("standard layout");
        let dk_row = dk_row.as_slice_mut().expect("standard layout");
        for b in 0..batch {
            for i in 0..s {
                let offset = (b * s + i) * s;
                let mut dq = 0.0;
                for j in 0..s {
                    let d_logit = scratch[offset + j];
                    dq += d_logit * k_row[b * s + j];
                    dk_row[b * s + j] += d_logit * q_row[b * s + i];
                }
                dq_row[b * s + i] = dq;
            }
        }
    }
}

fn as_slice(row: ndarray::ArrayView1<'_, f64>) -> &[f64] {
    row.to_slice()
        .expect("rows of standard-layout arrays are contiguous")
}

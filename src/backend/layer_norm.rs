//! A reader's LayerNorm and the frozen projection it feeds, `n(x)·W` with `n(x) = (x − mean) / sqrt(var + ε)`
//! per row, as one candle op with a hand-written backward on the CPU.
//!
//! Composed from candle's ops, the same function keeps the centred input and its square per reader and its
//! backward allocates about ten `[readers, B·S, D]` temporaries (gradients of the centring, the square, two
//! means, and the zero-filled sums candle's gradient store starts from): at GPT-2-small size most of a
//! step's fresh memory and page faults. The fused op keeps nothing but its input and, backward, makes two
//! tensors: `ĝ = g·Wᵀ` and `∂/∂x = (ĝ − mean(ĝ) − n̂·mean(ĝ·n̂)) / σ`, row statistics accumulated in f64.
//! Other devices (CUDA) take the composed path, which the tests compare this op against.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, WithDType, D};

use crate::backend::cpu_op::{contiguous, pair_op, product_dims, PairKernel};
use crate::backend::frozen::frozen_matmul;

/// `n(x)·W` for `x [.., rows, D]` and a frozen `W [.., D, width]`: the fused op on the CPU when `x` is
/// contiguous, else the same function composed from candle's ops.
pub fn normalized_product(x: &Tensor, weight: &Tensor, epsilon: f64) -> Result<Tensor> {
    let fused = x.device().is_cpu() && x.is_contiguous() && !weight.track_op();
    if fused {
        x.apply_op2(weight, NormalizedProduct { epsilon })
    } else {
        composed(x, weight, epsilon)
    }
}

/// The composed form: `((x − mean)·W) / σ` (the row scaling commutes with the product, so it is applied to
/// the narrow result).
pub fn composed(x: &Tensor, weight: &Tensor, epsilon: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let inv_std = centred
        .sqr()?
        .mean_keepdim(D::Minus1)?
        .affine(1.0, epsilon)?
        .sqrt()?
        .recip()?;
    frozen_matmul(&centred, weight)?.broadcast_mul(&inv_std)
}

/// Per row of `d` values: its mean and `1 / sqrt(var + ε)`, accumulated in f64.
fn row_statistics<T: WithDType>(row: &[T], epsilon: f64) -> (f64, f64) {
    let d = row.len() as f64;
    let mean = row.iter().map(|v| v.to_f64()).sum::<f64>() / d;
    let variance = row.iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>() / d;
    (mean, 1.0 / (variance + epsilon).sqrt())
}

fn normalize<T: WithDType>(x: &[T], d: usize, epsilon: f64) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(d) {
        let (mean, inv_std) = row_statistics(row, epsilon);
        out.extend(
            row.iter()
                .map(|v| T::from_f64((v.to_f64() - mean) * inv_std)),
        );
    }
    out
}

/// `∂/∂x` of `n(x)` given `ĝ = ∂/∂n(x)`, for rows of `d` values.
struct RowBackward {
    d: usize,
    epsilon: f64,
}

impl PairKernel for RowBackward {
    fn apply<T: WithDType>(&self, x: &[T], g: &[T]) -> Vec<T> {
        normalize_backward(x, g, self.d, self.epsilon)
    }
}

/// `∂/∂x` of `n(x)` given `ĝ = ∂/∂n(x)`, row by row.
fn normalize_backward<T: WithDType>(x: &[T], g: &[T], d: usize, epsilon: f64) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for (row, grad) in x.chunks_exact(d).zip(g.chunks_exact(d)) {
        let (mean, inv_std) = row_statistics(row, epsilon);
        let (mut grad_mean, mut grad_dot) = (0.0, 0.0);
        for (v, g) in row.iter().zip(grad) {
            let (n, g) = ((v.to_f64() - mean) * inv_std, g.to_f64());
            grad_mean += g;
            grad_dot += g * n;
        }
        grad_mean /= d as f64;
        grad_dot /= d as f64;
        out.extend(row.iter().zip(grad).map(|(v, g)| {
            let n = (v.to_f64() - mean) * inv_std;
            T::from_f64(inv_std * (g.to_f64() - grad_mean - n * grad_dot))
        }));
    }
    out
}

struct NormalizedProduct {
    epsilon: f64,
}

impl CustomOp2 for NormalizedProduct {
    fn name(&self) -> &'static str {
        "normalized-product"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let ((batch, m, n, d), shape) = product_dims(x_layout, w_layout, self.name())?;
        let normalized = match x {
            CpuStorage::F32(v) => CpuStorage::F32(normalize(
                contiguous(v, x_layout, self.name())?,
                d,
                self.epsilon,
            )),
            CpuStorage::F64(v) => CpuStorage::F64(normalize(
                contiguous(v, x_layout, self.name())?,
                d,
                self.epsilon,
            )),
            other => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    other.dtype(),
                    self.name(),
                ))
            }
        };
        let normalized_layout = Layout::contiguous(x_layout.shape());
        let product = normalized.matmul(w, (batch, m, n, d), &normalized_layout, w_layout)?;
        Ok((product, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _result: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_normalized = grad.contiguous()?.matmul(&w.t()?)?;
        let grad_x = x.apply_op2_no_bwd(
            &grad_normalized,
            &NormalizeBackward {
                epsilon: self.epsilon,
            },
        )?;
        Ok((Some(grad_x), None))
    }
}

/// `∂/∂x` of `n(x)` from `x` and `ĝ` (no backward of its own: no second derivatives are taken).
struct NormalizeBackward {
    epsilon: f64,
}

impl CustomOp2 for NormalizeBackward {
    fn name(&self) -> &'static str {
        "normalize-backward"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        g: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        // The rows are the last dimension: the kernel needs their width.
        let d = x_layout.dims()[x_layout.dims().len() - 1];
        let kernel = RowBackward {
            d,
            epsilon: self.epsilon,
        };
        pair_op(self.name(), (x, x_layout), (g, g_layout), &kernel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    use crate::backend::test_values as values;

    /// Value and input gradient of the fused op against the composed one, batched and not, f64 and f32,
    /// on rows with a large common offset (where a one-pass variance would lose digits).
    #[test]
    fn fused_layer_norm_product_matches_the_composed_ops() {
        let device = Device::Cpu;
        for dtype in [DType::F64, DType::F32] {
            // f64: both sides round differently (f64 row sums vs candle's), 1e-12 relative is
            // ~1e4 ulps of slack for sums over 8 values; f32: candle's composed path rounds every
            // intermediate to f32 (~6e-8 each), so 1e-5 relative leaves ~100 roundings of slack.
            let tolerance = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
            for (x_shape, w_shape) in [(vec![5, 8], vec![8, 3]), (vec![3, 4, 8], vec![3, 8, 2])] {
                let count: usize = x_shape.iter().product();
                let x_data: Vec<f64> = (0..count)
                    .map(|i| 3.0 + (i as f64 * 0.37).sin() * (1.0 + (i % 3) as f64))
                    .collect();
                let w_count: usize = w_shape.iter().product();
                let w_data: Vec<f64> = (0..w_count).map(|i| (i as f64 * 0.91).cos()).collect();
                let x = Var::from_tensor(
                    &Tensor::from_vec(x_data, x_shape.as_slice(), &device)
                        .and_then(|t| t.to_dtype(dtype))
                        .unwrap(),
                )
                .unwrap();
                let w = Tensor::from_vec(w_data, w_shape.as_slice(), &device)
                    .and_then(|t| t.to_dtype(dtype))
                    .unwrap();
                let epsilon = 1e-5;
                let ours = normalized_product(x.as_tensor(), &w, epsilon).unwrap();
                let theirs = composed(x.as_tensor(), &w, epsilon).unwrap();
                let weights = Tensor::arange(0.0, ours.elem_count() as f64, &device)
                    .and_then(|t| t.to_dtype(dtype))
                    .and_then(|t| t.reshape(ours.shape()))
                    .unwrap();
                let gradient = |y: &Tensor| {
                    let grads = (y * &weights)
                        .and_then(|y| y.sum_all())
                        .and_then(|s| s.backward())
                        .unwrap();
                    values(grads.get(x.as_tensor()).expect("input gradient"))
                };
                for (what, a, b) in [
                    ("value", values(&ours), values(&theirs)),
                    ("input gradient", gradient(&ours), gradient(&theirs)),
                ] {
                    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                        assert!(
                            (a - b).abs() <= tolerance * scale,
                            "{what} {i} for {dtype:?} {x_shape:?} x {w_shape:?}: fused {a} vs composed {b}"
                        );
                    }
                }
            }
        }
    }
}

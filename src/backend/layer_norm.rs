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
use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Device, Layout, Result, Shape, Tensor, D};

use crate::backend::cpu_op::{
    contiguous, pair_op, par_rows, product_dims, vectorized, PairKernel, Real,
};
use crate::backend::frozen::frozen_matmul;
use crate::backend::product::{cpu_product, mix, untracked_product, DepthSplitProduct};

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

/// `n(z · o)·W` for mask rows `z [r, n]`, writer differences `o [n, m·d]` and a frozen `W [r, d, width]`:
/// the readers' mixing, their LayerNorm and the projection they feed as one op on the CPU, so the
/// `[r, m, d]` reader inputs are not a tensor of the autograd graph (whose gradient candle's store would
/// zero-fill and add once more: 14 MB per GPT-2-small layer); elsewhere [`mix`] then
/// [`normalized_product`].
pub fn normalized_mix(
    z: &Tensor,
    o: &Tensor,
    weight: &Tensor,
    (m, d): (usize, usize),
    epsilon: f64,
) -> Result<Tensor> {
    let r = z.dim(0)?;
    if z.device().is_cpu() && z.rank() == 2 && o.rank() == 2 && !weight.track_op() {
        z.apply_op3(
            o,
            weight,
            NormalizedMix {
                rows: (r, m, d),
                epsilon,
                inputs: Mutex::new(None),
            },
        )
    } else {
        normalized_product(&mix(z, o, &[r, m, d])?, weight, epsilon)
    }
}

/// See [`normalized_mix`]; keeps the mixed inputs `[r, m, d]` from its forward for its backward (the
/// graph kept them as a tensor before, so no more memory is held).
struct NormalizedMix {
    rows: (usize, usize, usize),
    epsilon: f64,
    inputs: Mutex<Option<Tensor>>,
}

impl CustomOp3 for NormalizedMix {
    fn name(&self) -> &'static str {
        "normalized-mix"
    }

    fn cpu_fwd(
        &self,
        z: &CpuStorage,
        z_layout: &Layout,
        o: &CpuStorage,
        o_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (r, m, d) = self.rows;
        let x_layout = Layout::contiguous((r, m, d));
        // Checks the weight against the inputs' shape before any work.
        product_dims(&x_layout, w_layout, self.name())?;
        let (mixed, _) = cpu_product(self.name(), (z, z_layout), (o, o_layout))?;
        if mixed_len(&mixed) != r * m * d {
            return Err(candle_core::Error::ShapeMismatchBinaryOp {
                lhs: z_layout.shape().clone(),
                rhs: o_layout.shape().clone(),
                op: self.name(),
            });
        }
        let (normalized, inputs) = match mixed {
            CpuStorage::F32(v) => (
                CpuStorage::F32(normalize(&v, d, self.epsilon)),
                Tensor::from_vec(v, (r, m, d), &Device::Cpu)?,
            ),
            CpuStorage::F64(v) => (
                CpuStorage::F64(normalize(&v, d, self.epsilon)),
                Tensor::from_vec(v, (r, m, d), &Device::Cpu)?,
            ),
            other => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    other.dtype(),
                    self.name(),
                ))
            }
        };
        *self.inputs.lock().unwrap_or_else(|e| e.into_inner()) = Some(inputs);
        cpu_product(self.name(), (&normalized, &x_layout), (w, w_layout))
    }

    fn bwd(
        &self,
        z: &Tensor,
        o: &Tensor,
        w: &Tensor,
        _result: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (r, m, d) = self.rows;
        let x = self
            .inputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                candle_core::Error::Msg("normalized-mix: backward before forward".into())
            })?;
        let grad_normalized = untracked_product(grad, &w.t()?)?;
        let grad_x = x
            .apply_op2_no_bwd(
                &grad_normalized,
                &NormalizeBackward {
                    epsilon: self.epsilon,
                },
            )?
            .reshape((r, m * d))?;
        let grad_z = grad_x.apply_op2_no_bwd(&o.contiguous()?, &DepthSplitProduct)?;
        let grad_o = untracked_product(&z.t()?, &grad_x)?;
        Ok((Some(grad_z), Some(grad_o), None))
    }
}

/// Values in an f32 or f64 storage (0 for other types, which the caller rejects).
fn mixed_len(storage: &CpuStorage) -> usize {
    match storage {
        CpuStorage::F32(v) => v.len(),
        CpuStorage::F64(v) => v.len(),
        _ => 0,
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

/// `Σ f(v)` over a row, in f64 with eight interleaved partial sums, so the loop vectorises (one running
/// sum is a serial dependency the compiler may not reorder).
#[inline(always)]
fn row_sum<T: Real>(row: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut partial = [0.0f64; 8];
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (p, v) in partial.iter_mut().zip(chunk) {
            *p += f(v.wide());
        }
    }
    let mut total = partial.iter().sum::<f64>();
    for v in rest {
        total += f(v.wide());
    }
    total
}

/// Per row of `d` values: its mean and `1 / sqrt(var + ε)`, accumulated in f64 (two passes, so a large
/// common offset costs no digits).
#[inline(always)]
fn row_statistics<T: Real>(row: &[T], epsilon: f64) -> (f64, f64) {
    let d = row.len() as f64;
    let mean = row_sum(row, |v| v) / d;
    let variance = row_sum(row, |v| (v - mean) * (v - mean)) / d;
    (mean, 1.0 / (variance + epsilon).sqrt())
}

/// `n(x)` of the rows of `d` values in `x`, into `out`.
#[inline(always)]
fn normalize_rows<T: Real>(x: &[T], out: &mut [T], d: usize, epsilon: f64) {
    for (row, out) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let (mean, inv_std) = row_statistics(row, epsilon);
        for (o, v) in out.iter_mut().zip(row) {
            *o = T::narrow((v.wide() - mean) * inv_std);
        }
    }
}

/// `n(x)` row by row, rows spread over the thread pool.
fn normalize<T: Real + Default>(x: &[T], d: usize, epsilon: f64) -> Vec<T> {
    let mut out = vec![T::default(); x.len()];
    par_rows(&mut out, d, |first, out| {
        let x = &x[first * d..first * d + out.len()];
        vectorized(|| normalize_rows(x, out, d, epsilon))
    });
    out
}

/// `∂/∂x` of `n(x)` given `ĝ = ∂/∂n(x)`, for rows of `d` values.
struct RowBackward {
    d: usize,
    epsilon: f64,
}

impl PairKernel for RowBackward {
    fn row_width(&self) -> usize {
        self.d
    }
    #[inline(always)]
    fn apply_f32(&self, x: &[f32], g: &[f32], out: &mut [f32]) {
        normalize_backward(x, g, out, self.d, self.epsilon)
    }
    #[inline(always)]
    fn apply_f64(&self, x: &[f64], g: &[f64], out: &mut [f64]) {
        normalize_backward(x, g, out, self.d, self.epsilon)
    }
}

/// `∂/∂x` of `n(x)` given `ĝ = ∂/∂n(x)`, row by row, into `out`:
/// `(ĝ − mean(ĝ) − n·mean(ĝ·n)) / σ`.
#[inline(always)]
fn normalize_backward<T: Real>(x: &[T], g: &[T], out: &mut [T], d: usize, epsilon: f64) {
    for ((row, grad), out) in x
        .chunks_exact(d)
        .zip(g.chunks_exact(d))
        .zip(out.chunks_exact_mut(d))
    {
        let (mean, inv_std) = row_statistics(row, epsilon);
        let grad_mean = row_sum(grad, |g| g) / d as f64;
        // Σ ĝ·n in eight partial sums, as in `row_sum`.
        let mut partial = [0.0f64; 8];
        let (row_chunks, grad_chunks) = (row.chunks_exact(8), grad.chunks_exact(8));
        let (row_rest, grad_rest) = (row_chunks.remainder(), grad_chunks.remainder());
        for (r, q) in row_chunks.zip(grad_chunks) {
            for ((p, v), g) in partial.iter_mut().zip(r).zip(q) {
                *p += g.wide() * ((v.wide() - mean) * inv_std);
            }
        }
        let mut grad_dot = partial.iter().sum::<f64>();
        for (v, g) in row_rest.iter().zip(grad_rest) {
            grad_dot += g.wide() * ((v.wide() - mean) * inv_std);
        }
        let grad_dot = grad_dot / d as f64;
        for ((o, v), g) in out.iter_mut().zip(row).zip(grad) {
            let n = (v.wide() - mean) * inv_std;
            *o = T::narrow(inv_std * (g.wide() - grad_mean - n * grad_dot));
        }
    }
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
        // Checks the shapes before normalising; the product checks them again.
        let ((_, _, _, d), _) = product_dims(x_layout, w_layout, self.name())?;
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
        cpu_product(
            self.name(),
            (&normalized, &normalized_layout),
            (w, w_layout),
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _result: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_normalized = untracked_product(grad, &w.t()?)?;
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

    /// The fused mixing + LayerNorm + projection against its parts (candle's product, the composed
    /// LayerNorm): value and the gradients of both mixing factors, f64 and f32.
    #[test]
    fn normalized_mix_matches_its_composed_parts() {
        let device = Device::Cpu;
        for dtype in [DType::F64, DType::F32] {
            // As in the test below: different rounding of the same sums, 1e-12 relative in f64 and
            // 1e-4 in f32, where the mixing sums 6 products before a LayerNorm over 8 values and its
            // gradient goes back through both (a wrong gradient is off by O(1) of the largest entry).
            let tolerance = if dtype == DType::F64 { 1e-12 } else { 1e-4 };
            let (r, n, m, d, width) = (3, 6, 5, 8, 2);
            let data = |count: usize, seed: f64| -> Tensor {
                let values: Vec<f64> = (0..count)
                    .map(|i| 1.0 + ((i as f64 + seed) * 0.613).sin() * (1.0 + (i % 4) as f64))
                    .collect();
                Tensor::from_vec(values, count, &device)
                    .and_then(|t| t.to_dtype(dtype))
                    .unwrap()
            };
            let z = Var::from_tensor(&data(r * n, 0.0).reshape((r, n)).unwrap()).unwrap();
            let o = Var::from_tensor(&data(n * m * d, 1.0).reshape((n, m * d)).unwrap()).unwrap();
            let w = data(r * d * width, 2.0).reshape((r, d, width)).unwrap();
            let epsilon = 1e-5;
            let ours = normalized_mix(z.as_tensor(), o.as_tensor(), &w, (m, d), epsilon).unwrap();
            let mixed = z
                .as_tensor()
                .matmul(o.as_tensor())
                .and_then(|x| x.reshape((r, m, d)))
                .unwrap();
            let theirs = composed(&mixed, &w, epsilon).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            let weights = Tensor::arange(0.0, ours.elem_count() as f64, &device)
                .and_then(|t| t.to_dtype(dtype))
                .and_then(|t| t.reshape(ours.shape()))
                .unwrap();
            let gradients = |y: &Tensor| {
                let grads = (y * &weights)
                    .and_then(|y| y.sum_all())
                    .and_then(|s| s.backward())
                    .unwrap();
                (
                    values(grads.get(z.as_tensor()).expect("z gradient")),
                    values(grads.get(o.as_tensor()).expect("o gradient")),
                )
            };
            let ((ours_z, ours_o), (theirs_z, theirs_o)) = (gradients(&ours), gradients(&theirs));
            for (what, a, b) in [
                ("value", values(&ours), values(&theirs)),
                ("z gradient", ours_z, theirs_z),
                ("o gradient", ours_o, theirs_o),
            ] {
                let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        (a - b).abs() <= tolerance * scale,
                        "{what} {i} for {dtype:?}: fused {a} vs composed {b}"
                    );
                }
            }
        }
    }

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
            // The last shape has enough rows for the thread pool to split them (see `par_rows`).
            for (x_shape, w_shape) in [
                (vec![5, 8], vec![8, 3]),
                (vec![3, 4, 8], vec![3, 8, 2]),
                (vec![2, 40, 768], vec![2, 768, 3]),
            ] {
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

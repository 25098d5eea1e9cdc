//! GPT-2's GELU (tanh form) as one candle op with a hand-written backward on the CPU.
//!
//! Composed from exact candle ops (candle's own fused GELU backward uses 6-digit constants), the function
//! is seven element-wise passes forward and about fifteen backward over the `[B·S, hidden]` MLP activations
//! of every layer, each a fresh tensor; the fused op is one pass each way, spread over the thread pool:
//! f64 values are evaluated with libm in f64, f32 values in f32 with a branch-free exponential whose
//! loops vectorise (libm's f64 `tanh` was a tenth of a GPT-2 step). Other devices (CUDA) take the
//! composed path, which the tests compare this op against.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use crate::backend::cpu_op::{contiguous, pair_op, par_rows, vectorized, PairKernel};

/// `sqrt(2/π)`, GPT-2's `gelu_new` constant, in full precision.
fn sqrt_two_over_pi() -> f64 {
    (2.0 / std::f64::consts::PI).sqrt()
}

/// GPT-2's `gelu_new`: `0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)))`, fused on the CPU for contiguous
/// input, composed from candle's ops elsewhere.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.is_contiguous() {
        x.apply_op1(Gelu)
    } else {
        composed(x)
    }
}

/// The composed form, from exact ops.
pub fn composed(x: &Tensor) -> Result<Tensor> {
    let inner = (x + x.powf(3.0)?.affine(0.044715, 0.0)?)?
        .affine(sqrt_two_over_pi(), 0.0)?
        .tanh()?
        .affine(0.5, 0.5)?;
    x * inner
}

fn gelu_value(x: f64) -> f64 {
    0.5 * x * (1.0 + (sqrt_two_over_pi() * (x + 0.044715 * x * x * x)).tanh())
}

fn gelu_derivative(x: f64) -> f64 {
    let c = sqrt_two_over_pi();
    let t = (c * (x + 0.044715 * x * x * x)).tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x)
}

/// `e^x` in f32 for `x` in [-87, 88] (clamped there), within ~2 ulp: `2^k · e^r` with `|r| ≤ ln2 / 2` and
/// the degree-7 Taylor polynomial of `e^r` (truncation error 5e-9 relative, under a tenth of an f32 ulp).
/// Branch-free, so the loops that call it vectorise (libm's `tanh` in f64 was 11 % of a GPT-2 step).
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 split so that k · LN2_HIGH is exact for |k| < 2^8.
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * LN2_HIGH - k * LN2_LOW;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    let k = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    p * f32::from_bits(((k + 127) << 23) as u32)
}

/// `(s, e)` with `s = σ(2y) = 1 / (1 + e)` and `e = exp(−2y)`, `y = sqrt(2/π)·(x + 0.044715·x³)`: GELU in
/// tanh form is `x·(1 + tanh y)/2 = x·s`, and `1 − s = e·s` without cancellation.
#[inline(always)]
fn gelu_sigmoid_f32(x: f32) -> (f32, f32) {
    let y = sqrt_two_over_pi() as f32 * (x + 0.044715 * x * x * x);
    let e = exp_f32(-2.0 * y);
    (1.0 / (1.0 + e), e)
}

/// The kernels, value by value: f64 evaluates the formula with libm (the reference precision), f32 with
/// [`gelu_sigmoid_f32`] (a few f32 ulps, what rounding an f64 result to f32 would leave within 2 ulps).
trait GeluReal: Copy {
    fn gelu(x: &[Self], out: &mut [Self]);
    fn gelu_backward(x: &[Self], g: &[Self], out: &mut [Self]);
}

impl GeluReal for f64 {
    #[inline(always)]
    fn gelu(x: &[f64], out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = gelu_value(v);
        }
    }
    #[inline(always)]
    fn gelu_backward(x: &[f64], g: &[f64], out: &mut [f64]) {
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(g) {
            *o = g * gelu_derivative(v);
        }
    }
}

impl GeluReal for f32 {
    #[inline(always)]
    fn gelu(x: &[f32], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v * gelu_sigmoid_f32(v).0;
        }
    }
    #[inline(always)]
    fn gelu_backward(x: &[f32], g: &[f32], out: &mut [f32]) {
        let c = sqrt_two_over_pi() as f32;
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(g) {
            let (s, e) = gelu_sigmoid_f32(v);
            // d/dx x·σ(2y) = s + x · 2·s·(1 − s) · dy/dx.
            let dy = c * (1.0 + 3.0 * 0.044715 * v * v);
            *o = g * (s + 2.0 * v * s * (e * s) * dy);
        }
    }
}

/// GELU of every value, spread over the thread pool.
fn map<T: GeluReal + Send + Sync + Default + Clone>(x: &[T]) -> Vec<T> {
    let mut out = vec![T::default(); x.len()];
    par_rows(&mut out, 1, |first, out| {
        vectorized(|| T::gelu(&x[first..first + out.len()], out))
    });
    out
}

/// `g · gelu'(x)`, value by value.
struct GeluDerivative;

impl PairKernel for GeluDerivative {
    fn row_width(&self) -> usize {
        1
    }
    #[inline(always)]
    fn apply_f32(&self, x: &[f32], g: &[f32], out: &mut [f32]) {
        f32::gelu_backward(x, g, out)
    }
    #[inline(always)]
    fn apply_f64(&self, x: &[f64], g: &[f64], out: &mut [f64]) {
        f64::gelu_backward(x, g, out)
    }
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-tanh"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match x {
            CpuStorage::F32(v) => CpuStorage::F32(map(contiguous(v, layout, self.name())?)),
            CpuStorage::F64(v) => CpuStorage::F64(map(contiguous(v, layout, self.name())?)),
            other => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    other.dtype(),
                    self.name(),
                ))
            }
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _result: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            x.apply_op2_no_bwd(&grad.contiguous()?, &GeluBackward)?,
        ))
    }
}

/// `g · gelu'(x)` (no backward of its own: no second derivatives are taken).
struct GeluBackward;

impl CustomOp2 for GeluBackward {
    fn name(&self) -> &'static str {
        "gelu-tanh-backward"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        g: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        pair_op(self.name(), (x, x_layout), (g, g_layout), &GeluDerivative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    use crate::backend::test_values as to_f64;

    /// The f32 exponential against f64's over its whole clamped range, and the f32 GELU and its
    /// derivative against the f64 formulas on more values than one thread handles (so the pieces the
    /// thread pool computes are checked to land in their places).
    #[test]
    fn f32_kernels_match_the_f64_formulas() {
        // exp: 2^k·p(r) rounds p and the product once each, the reduction r once: 3 ulps (2^-23 each)
        // bound the relative error with room; a wrong coefficient is off by 1e-6 or more.
        for i in 0..=20_000 {
            let x = -87.0 + 175.0 * i as f64 / 20_000.0;
            let (ours, exact) = (exp_f32(x as f32) as f64, (x as f32 as f64).exp());
            assert!(
                ((ours - exact) / exact).abs() <= 3.0 * f32::EPSILON as f64,
                "exp({x}): {ours} vs {exact}"
            );
        }
        let n = 1 << 16;
        let inputs: Vec<f32> = (0..n).map(|i| -8.0 + 16.0 * i as f32 / n as f32).collect();
        let grads: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32).collect();
        let values = map(&inputs);
        let mut derivatives = vec![0f32; n];
        par_rows(&mut derivatives, 1, |first, out| {
            let range = first..first + out.len();
            GeluDerivative.apply_f32(&inputs[range.clone()], &grads[range], out)
        });
        for i in 0..n {
            let x = inputs[i] as f64;
            // f32 evaluation of a formula of ~10 operations, each rounded: 1e-6 of max(|value|, 1)
            // is ~8 ulps of slack at 1; a wrong formula (tanh's constant, the x³ term) is off by >1e-4.
            let close =
                |ours: f32, exact: f64| (ours as f64 - exact).abs() <= 1e-6 * exact.abs().max(1.0);
            assert!(close(values[i], gelu_value(x)), "gelu({x}): {}", values[i]);
            let exact = grads[i] as f64 * gelu_derivative(x);
            assert!(
                close(derivatives[i], exact),
                "gelu'({x}): {} vs {exact}",
                derivatives[i]
            );
        }
    }

    /// Value and gradient of the fused GELU against the composed one, f64 and f32, over negative,
    /// small and large inputs.
    #[test]
    fn fused_gelu_matches_the_composed_ops() {
        let device = Device::Cpu;
        let inputs: Vec<f64> = (0..41).map(|i| -6.0 + 0.3 * i as f64).collect();
        for dtype in [DType::F64, DType::F32] {
            // Same formula, rounded differently: f64 ~1e-16 per op over ~10 ops; f32: the composed
            // gradient rounds ~10 intermediates to f32 (6e-8 each, in absolute terms near 1) and is then
            // scaled by weights up to 41, so ~2.5e-6 absolute; 2e-5 of max(|value|, 1) leaves 8x slack
            // while a wrong derivative is off by more than 1e-2.
            let tolerance = if dtype == DType::F64 { 1e-14 } else { 2e-5 };
            let x = Var::from_tensor(
                &Tensor::new(inputs.as_slice(), &device)
                    .and_then(|t| t.to_dtype(dtype))
                    .unwrap(),
            )
            .unwrap();
            let weights = Tensor::arange(1.0, 1.0 + inputs.len() as f64, &device)
                .and_then(|t| t.to_dtype(dtype))
                .unwrap();
            let run = |y: Tensor| {
                let grads = (&y * &weights)
                    .and_then(|s| s.sum_all())
                    .and_then(|s| s.backward())
                    .unwrap();
                let grad = to_f64(grads.get(x.as_tensor()).expect("input gradient"));
                (to_f64(&y), grad)
            };
            let (ours, ours_grad) = run(gelu(x.as_tensor()).unwrap());
            let (theirs, theirs_grad) = run(composed(x.as_tensor()).unwrap());
            for (what, a, b) in [
                ("value", &ours, &theirs),
                ("gradient", &ours_grad, &theirs_grad),
            ] {
                for (i, (a, b)) in a.iter().zip(b.iter()).enumerate() {
                    assert!(
                        (a - b).abs() <= tolerance * b.abs().max(1.0),
                        "{what} at x = {} ({dtype:?}): fused {a} vs composed {b}",
                        inputs[i]
                    );
                }
            }
        }
    }
}

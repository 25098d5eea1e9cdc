//! GPT-2's GELU (tanh form) as one candle op with a hand-written backward on the CPU.
//!
//! Composed from exact candle ops (candle's own fused GELU backward uses 6-digit constants), the function
//! is seven element-wise passes forward and about fifteen backward over the `[B·S, hidden]` MLP activations
//! of every layer, each a fresh tensor; the fused op is one pass each way, evaluated in f64. Other devices
//! (CUDA) take the composed path, which the tests compare this op against.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, WithDType};

use crate::backend::cpu_op::{contiguous, pair_op, PairKernel};

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

fn map<T: WithDType>(x: &[T]) -> Vec<T> {
    x.iter()
        .map(|v| T::from_f64(gelu_value(v.to_f64())))
        .collect()
}

/// `g · gelu'(x)`, value by value.
struct GeluDerivative;

impl PairKernel for GeluDerivative {
    fn apply<T: WithDType>(&self, x: &[T], g: &[T]) -> Vec<T> {
        x.iter()
            .zip(g)
            .map(|(v, g)| T::from_f64(g.to_f64() * gelu_derivative(v.to_f64())))
            .collect()
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

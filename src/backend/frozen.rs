//! `x · W` for a frozen weight `W` under candle's autograd: the backward returns the input's gradient
//! `g · Wᵀ` only. candle's own matmul backward also computes `xᵀ · g` for the weight (and keeps it in the
//! gradient store until the step ends) even when `W` is a constant, which is a third of a model product's
//! backward work that Edge Pruning, whose only parameters are the masks, throws away.

#[cfg(feature = "cuda")]
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

#[cfg(feature = "cuda")]
use crate::backend::cpu_op::product_dims;
use crate::backend::product::{cpu_product, untracked_product};

/// `x · W` whose backward skips the gradient of `W` (see the module doc).
struct FrozenProduct;

impl CustomOp2 for FrozenProduct {
    fn name(&self) -> &'static str {
        "frozen-product"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_product(self.name(), (x, x_layout), (w, w_layout))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        x_layout: &Layout,
        w: &candle_core::CudaStorage,
        w_layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (dims, shape) = product_dims(x_layout, w_layout, self.name())?;
        Ok((x.matmul(w, dims, x_layout, w_layout)?, shape))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _result: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(untracked_product(grad, &w.t()?)?), None))
    }
}

/// `x · weight` (batched over leading dimensions, as [`Tensor::matmul`]) where `weight` is a constant: the
/// backward computes the gradient of `x` only. A `weight` that autograd tracks (a `Var` or a result of
/// one) takes candle's ordinary product, so no gradient is ever dropped.
pub fn frozen_matmul(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    if weight.track_op() || !x.track_op() {
        return x.matmul(weight);
    }
    x.apply_op2(weight, FrozenProduct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    use crate::backend::test_values as values;

    /// Same value and same input gradient as candle's matmul, batched and not, on a strided input.
    #[test]
    fn frozen_product_matches_matmul_in_value_and_input_gradient() {
        let device = Device::Cpu;
        for (x_shape, w_shape) in [(vec![5, 3], vec![3, 4]), (vec![2, 5, 3], vec![2, 3, 4])] {
            let count: usize = x_shape.iter().product();
            let x_data: Vec<f64> = (0..count).map(|i| (i as f64 * 0.37).sin()).collect();
            let w_count: usize = w_shape.iter().product();
            let w_data: Vec<f64> = (0..w_count).map(|i| (i as f64 * 0.91).cos()).collect();
            let x = Var::from_vec(x_data, x_shape.as_slice(), &device).unwrap();
            let w = Tensor::from_vec(w_data, w_shape.as_slice(), &device).unwrap();
            // A strided weight too: the transpose of a transpose, made contiguous by neither.
            let w_strided = w.t().unwrap().contiguous().unwrap().t().unwrap();
            for weight in [&w, &w_strided] {
                let ours = frozen_matmul(x.as_tensor(), weight).unwrap();
                let theirs = x.as_tensor().matmul(weight).unwrap();
                assert_eq!(
                    ours.dims(),
                    theirs.dims(),
                    "shapes for {x_shape:?} x {w_shape:?}"
                );
                // Same gemm call on the same data: bit-identical.
                assert_eq!(values(&ours), values(&theirs), "values for {x_shape:?}");
                // A weighted sum so every output entry's gradient differs.
                let weights = Tensor::arange(0.0, ours.elem_count() as f64, &device)
                    .and_then(|t| t.reshape(ours.shape()))
                    .unwrap();
                let ours_grad = (ours * &weights)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let theirs_grad = (theirs * &weights)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let (a, b) = (
                    values(ours_grad.get(x.as_tensor()).unwrap()),
                    values(theirs_grad.get(x.as_tensor()).unwrap()),
                );
                assert_eq!(a, b, "input gradients for {x_shape:?} x {w_shape:?}");
            }
        }
    }

    /// A tracked weight keeps its gradient (the fallback to candle's product).
    #[test]
    fn tracked_weight_keeps_its_gradient() {
        let device = Device::Cpu;
        let x = Var::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], (2, 2), &device).unwrap();
        let w = Var::from_vec(vec![0.5f64, -1.0, 2.0, 0.25], (2, 2), &device).unwrap();
        let grads = frozen_matmul(x.as_tensor(), w.as_tensor())
            .and_then(|y| y.sum_all())
            .and_then(|s| s.backward())
            .unwrap();
        // d/dW Σ (xW) = xᵀ·1: column sums of x per row of W.
        let expected = vec![4.0, 4.0, 6.0, 6.0];
        let got = values(grads.get(w.as_tensor()).expect("weight gradient kept"));
        assert_eq!(got, expected, "weight gradient of a tracked weight");
    }
}

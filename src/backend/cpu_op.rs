//! What the backend's fused CPU ops (frozen product, LayerNorm product, GELU) share: reading a
//! contiguous storage, a batched product's dimensions, and dispatching f32/f64 storages to one kernel.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result, Shape, WithDType};

/// The values of a contiguous CPU storage under `layout`, or candle's error naming `op`.
pub(crate) fn contiguous<'a, T: WithDType>(
    values: &'a [T],
    layout: &Layout,
    op: &'static str,
) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => Err(candle_core::Error::RequiresContiguous { op }),
    }
}

/// `(batch, m, n, k)` and the result shape of `x [.., m, k] · w [.., k, n]`, with candle's matmul checks
/// (equal ranks of at least 2, matching inner and batch sizes, nothing empty); errors name `op`.
pub(crate) fn product_dims(
    x: &Layout,
    w: &Layout,
    op: &'static str,
) -> Result<((usize, usize, usize, usize), Shape)> {
    let (x_dims, w_dims) = (x.dims(), w.dims());
    let rank = x_dims.len();
    let mismatch = || candle_core::Error::ShapeMismatchBinaryOp {
        lhs: x.shape().clone(),
        rhs: w.shape().clone(),
        op,
    };
    if rank < 2 || w_dims.len() != rank {
        return Err(mismatch());
    }
    let (m, k, k2, n) = (
        x_dims[rank - 2],
        x_dims[rank - 1],
        w_dims[rank - 2],
        w_dims[rank - 1],
    );
    let batch: usize = x_dims[..rank - 2].iter().product();
    let w_batch: usize = w_dims[..rank - 2].iter().product();
    if k != k2 || batch != w_batch || m * n * batch == 0 || k == 0 {
        return Err(mismatch());
    }
    Ok((
        (batch, m, n, k),
        Shape::from(&x_dims[..rank - 2]).extend(&[m, n]),
    ))
}

/// A kernel over the values of two same-shaped tensors (an input and the gradient at the output), for
/// any float type.
pub(crate) trait PairKernel {
    /// The result, one value per input value.
    fn apply<T: WithDType>(&self, x: &[T], g: &[T]) -> Vec<T>;
}

/// Runs `kernel` on two contiguous, same-shaped f32 or f64 CPU storages (a fused op's backward, whose
/// result has the input's shape); errors name `op`.
pub(crate) fn pair_op(
    op: &'static str,
    (x, x_layout): (&CpuStorage, &Layout),
    (g, g_layout): (&CpuStorage, &Layout),
    kernel: &impl PairKernel,
) -> Result<(CpuStorage, Shape)> {
    if x_layout.shape() != g_layout.shape() {
        return Err(candle_core::Error::ShapeMismatchBinaryOp {
            lhs: x_layout.shape().clone(),
            rhs: g_layout.shape().clone(),
            op,
        });
    }
    let out = match (x, g) {
        (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(
            kernel.apply(contiguous(x, x_layout, op)?, contiguous(g, g_layout, op)?),
        ),
        (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(
            kernel.apply(contiguous(x, x_layout, op)?, contiguous(g, g_layout, op)?),
        ),
        (other, _) => return Err(candle_core::Error::UnsupportedDTypeForOp(other.dtype(), op)),
    };
    Ok((out, x_layout.shape().clone()))
}

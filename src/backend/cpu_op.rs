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

/// f32 or f64, as the fused kernels read and write them (conversions inlined, so loops vectorise).
pub(crate) trait Real: WithDType + Send + Sync {
    /// The value as f64 (exact).
    fn wide(self) -> f64;
    /// `v` rounded to this type.
    fn narrow(v: f64) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn narrow(v: f64) -> Self {
        v as f32
    }
}

impl Real for f64 {
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
    #[inline(always)]
    fn narrow(v: f64) -> Self {
        v
    }
}

/// Runs `f` compiled for AVX2 and FMA when the CPU has them (checked at run time), else as compiled: the
/// crate is built for baseline x86-64, where the kernels' loops vectorise 4 f32 wide instead of 8.
/// Results do not depend on the choice (no fused multiply-adds are formed: Rust does not contract).
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features `avx2` is compiled with (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Fills `out`, rows of `width` values, by `fill(first_row, rows)` on pieces of whole rows spread over
/// rayon's pool (the threads candle's matrix products run on), or on this thread when `out` is small: the
/// fused ops' element-wise work would otherwise leave all but one core idle between products.
pub(crate) fn par_rows<T: Send>(
    out: &mut [T],
    width: usize,
    fill: impl Fn(usize, &mut [T]) + Sync,
) {
    // Below ~32k values a piece costs about as much as handing it to another thread.
    const MIN_VALUES: usize = 1 << 15;
    let rows = out.len() / width.max(1);
    let threads = rayon::current_num_threads();
    if threads < 2 || out.len() < MIN_VALUES || rows < 2 {
        fill(0, out);
        return;
    }
    // A few pieces per thread, so one slow thread (another process on its core) does not hold the rest.
    let per_piece = rows.div_ceil((4 * threads).min(rows));
    use rayon::prelude::*;
    out.par_chunks_mut(per_piece * width)
        .enumerate()
        .for_each(|(i, piece)| fill(i * per_piece, piece));
}

/// A kernel over the values of two same-shaped tensors (an input and the gradient at the output), for
/// f32 and f64: it writes one value per input value into `out` (as long as the inputs).
pub(crate) trait PairKernel: Sync {
    /// Values per independent row (the kernel sees whole rows only; 1 for a value-by-value kernel).
    fn row_width(&self) -> usize;
    /// The f32 result.
    fn apply_f32(&self, x: &[f32], g: &[f32], out: &mut [f32]);
    /// The f64 result.
    fn apply_f64(&self, x: &[f64], g: &[f64], out: &mut [f64]);
}

/// Runs `kernel` on two contiguous, same-shaped f32 or f64 CPU storages (a fused op's backward, whose
/// result has the input's shape), rows spread over the thread pool ([`par_rows`]); errors name `op`.
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
    let width = kernel.row_width();
    let out = match (x, g) {
        (CpuStorage::F32(x), CpuStorage::F32(g)) => {
            let (x, g) = (contiguous(x, x_layout, op)?, contiguous(g, g_layout, op)?);
            let mut out = vec![0f32; x.len()];
            par_rows(&mut out, width, |first, out| {
                let range = first * width..first * width + out.len();
                vectorized(|| kernel.apply_f32(&x[range.clone()], &g[range], out))
            });
            CpuStorage::F32(out)
        }
        (CpuStorage::F64(x), CpuStorage::F64(g)) => {
            let (x, g) = (contiguous(x, x_layout, op)?, contiguous(g, g_layout, op)?);
            let mut out = vec![0f64; x.len()];
            par_rows(&mut out, width, |first, out| {
                let range = first * width..first * width + out.len();
                vectorized(|| kernel.apply_f64(&x[range.clone()], &g[range], out))
            });
            CpuStorage::F64(out)
        }
        (other, _) => return Err(candle_core::Error::UnsupportedDTypeForOp(other.dtype(), op)),
    };
    Ok((out, x_layout.shape().clone()))
}

//! Matrix products for the fused CPU ops, split over the thread pool into independent pieces.
//!
//! candle's CPU product zero-fills its output before the gemm overwrites it, and hands each product (each
//! batch entry, in a batched one) to gemm's own threading, which for the backend's shapes often runs on
//! one thread: the mask gradient of a reader block (`[R, B·S·D] · [B·S·D, n]`, a long depth and a tiny
//! output) and the readers' single-row products were a fifth of the main thread's time in a GPT-2 step.
//! Here every product is cut into pieces that each run one single-threaded gemm call: by batch entry and
//! by output columns (each piece writes its own columns of an output nothing fills first), or, for a long
//! depth with a small output, by depth (each piece a partial product, summed at the end).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::backend::cpu_op::{contiguous, product_dims};

/// Columns below which a column piece is not worth its own gemm call (packing and dispatch overhead).
const MIN_PIECE_COLUMNS: usize = 512;
/// Depth below which a depth piece is not worth its own gemm call and partial output.
const MIN_PIECE_DEPTH: usize = 4096;

/// A pointer that pieces running on other threads may use: each piece touches only its own part.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: the pieces that share a `Shared` write disjoint parts of its buffer (and read only inputs).
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The pointer (a method, so closures capture the whole `Shared`, which is Send, not its field).
    fn get(self) -> *mut T {
        self.0
    }
}

/// One operand of a product: its values from the layout's start offset, its row and column strides,
/// and the stride between batch entries (0 for a single matrix).
#[derive(Clone, Copy)]
struct Operand<T> {
    values: *const T,
    row_stride: isize,
    column_stride: isize,
    batch_stride: usize,
}

// SAFETY: an operand is only read, by pieces that all run while the storage it points into is borrowed.
unsafe impl<T> Send for Operand<T> {}
unsafe impl<T> Sync for Operand<T> {}

impl<T> Operand<T> {
    /// The operand of `values` under `layout` (rank 2, or rank 3 with a batch stride); `None` for other
    /// ranks (callers fall back to candle's product).
    fn of(values: &[T], layout: &Layout) -> Option<Self> {
        let (dims, stride) = (layout.dims(), layout.stride());
        let rank = dims.len();
        let batch_stride = match rank {
            2 => 0,
            3 => stride[0],
            _ => return None,
        };
        Some(Operand {
            values: values[layout.start_offset()..].as_ptr(),
            row_stride: stride[rank - 2] as isize,
            column_stride: stride[rank - 1] as isize,
            batch_stride,
        })
    }
}

/// Runs one single-threaded gemm: `dst [m, n]` (row stride `dst_row`, column stride 1) `= a · b`,
/// overwriting `dst` without reading it.
///
/// # Safety
/// `a` and `b` must address `m x k` and `k x n` readable values under their strides, `dst` `m x n`
/// writable ones that no other thread touches during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_piece<T: WithDType>(
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    dst_row: isize,
    a: *const T,
    (a_row, a_column): (isize, isize),
    b: *const T,
    (b_row, b_column): (isize, isize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_row,
        false,
        a,
        a_column,
        a_row,
        b,
        b_column,
        b_row,
        T::from_f64(0.0),
        T::from_f64(1.0),
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// `x · w` for `x [b, m, k]` (or `[m, k]`) and `w [b, k, n]` (or `[k, n]`) under any strides, as
/// `batch x m x n` row-major values; `None` when a layout is not of rank 2 or 3 (the caller then uses
/// candle's product). `dims` is `(batch, m, n, k)`, as `cpu_op::product_dims` returns it.
pub(crate) fn product<T: WithDType>(
    x: &[T],
    x_layout: &Layout,
    w: &[T],
    w_layout: &Layout,
    (batch, m, n, k): (usize, usize, usize, usize),
) -> Option<Vec<T>> {
    let (a, b) = (Operand::of(x, x_layout)?, Operand::of(w, w_layout)?);
    let len = batch * m * n;
    if k == 0 {
        return Some(vec![T::from_f64(0.0); len]);
    }
    let mut out: Vec<T> = Vec::with_capacity(len);
    let dst = Shared(out.as_mut_ptr());
    // Enough pieces for every thread (a few each, so one thread slowed by another process does not
    // hold the rest), each at least MIN_PIECE_COLUMNS wide unless the product is narrower.
    let threads = rayon::current_num_threads();
    let wanted = (4 * threads).div_ceil(batch);
    let column_pieces = wanted.min(n.div_ceil(MIN_PIECE_COLUMNS)).max(1);
    let width = n.div_ceil(column_pieces);
    let column_pieces = n.div_ceil(width);
    let run = |piece: usize| {
        let (entry, first) = (piece / column_pieces, (piece % column_pieces) * width);
        let columns = width.min(n - first);
        // Whole values, not their pointer fields, are captured (so the closure is Send).
        let (a, b) = (a, b);
        // SAFETY: piece (entry, first) writes only rows of entry `entry`, columns first..first + columns,
        // of the `batch x m x n` output; the operands are read within their layouts' extents.
        unsafe {
            gemm_piece(
                (m, columns, k),
                dst.get().add(entry * m * n + first),
                n as isize,
                a.values.add(entry * a.batch_stride),
                (a.row_stride, a.column_stride),
                b.values
                    .add(entry * b.batch_stride)
                    .offset(first as isize * b.column_stride),
                (b.row_stride, b.column_stride),
            )
        }
    };
    let pieces = batch * column_pieces;
    if threads < 2 || pieces < 2 {
        (0..pieces).for_each(run);
    } else {
        (0..pieces).into_par_iter().for_each(run);
    }
    // SAFETY: the pieces together wrote every one of the `len` values (gemm with `read_dst` false
    // overwrites its whole destination; k > 0 was checked).
    unsafe { out.set_len(len) };
    Some(out)
}

/// `g · oᵀ` for `g [r, d]` and `o [n, d]`, both contiguous, as `r x n` row-major values: the gradient of
/// the left factor of `z · o`, whose depth `d` (a reader block's `B·S·D`) is long and output small, so
/// the depth is split: each piece a partial product over a stretch of `d`, summed in piece order.
pub(crate) fn product_transposed<T: WithDType>(
    g: &[T],
    g_layout: &Layout,
    o: &[T],
    o_layout: &Layout,
    op: &'static str,
) -> Result<Vec<T>> {
    let (g, o) = (contiguous(g, g_layout, op)?, contiguous(o, o_layout, op)?);
    let ((r, d), (n, d2)) = (g_layout.shape().dims2()?, o_layout.shape().dims2()?);
    if d != d2 {
        return Err(candle_core::Error::ShapeMismatchBinaryOp {
            lhs: g_layout.shape().clone(),
            rhs: o_layout.shape().clone(),
            op,
        });
    }
    if d == 0 {
        return Ok(vec![T::from_f64(0.0); r * n]);
    }
    let threads = rayon::current_num_threads();
    let pieces = (4 * threads).min(d / MIN_PIECE_DEPTH).max(1);
    let depth = d.div_ceil(pieces);
    let pieces = d.div_ceil(depth);
    let mut partials: Vec<T> = vec![T::from_f64(0.0); pieces * r * n];
    let dst = Shared(partials.as_mut_ptr());
    let run = |piece: usize| {
        let first = piece * depth;
        let stretch = depth.min(d - first);
        // SAFETY: piece p writes only partial p (r x n values); g and o are read within their
        // contiguous extents (rows of d values, columns first..first + stretch).
        unsafe {
            gemm_piece(
                (r, n, stretch),
                dst.get().add(piece * r * n),
                n as isize,
                g.as_ptr().add(first),
                (d as isize, 1),
                o.as_ptr().add(first),
                (1, d as isize),
            )
        }
    };
    if threads < 2 || pieces < 2 {
        (0..pieces).for_each(run);
    } else {
        (0..pieces).into_par_iter().for_each(run);
    }
    let mut sum = partials[..r * n].to_vec();
    for partial in partials.chunks_exact(r * n).skip(1) {
        for (s, p) in sum.iter_mut().zip(partial) {
            *s += *p;
        }
    }
    Ok(sum)
}

/// A kernel over two storages of one float type.
trait Kernel2 {
    fn run<T: WithDType>(&self, a: (&[T], &Layout), b: (&[T], &Layout)) -> Result<Vec<T>>;
}

/// Runs `kernel` on two f32 or two f64 CPU storages; errors name `op`.
fn dispatch(
    op: &'static str,
    (a, a_layout): (&CpuStorage, &Layout),
    (b, b_layout): (&CpuStorage, &Layout),
    kernel: &impl Kernel2,
) -> Result<CpuStorage> {
    Ok(match (a, b) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => {
            CpuStorage::F32(kernel.run((a, a_layout), (b, b_layout))?)
        }
        (CpuStorage::F64(a), CpuStorage::F64(b)) => {
            CpuStorage::F64(kernel.run((a, a_layout), (b, b_layout))?)
        }
        (other, _) => return Err(candle_core::Error::UnsupportedDTypeForOp(other.dtype(), op)),
    })
}

/// `a · b` of two CPU storages with [`product`]'s pieces, or candle's product for layouts it does not
/// take; errors name `op`.
pub(crate) fn cpu_product(
    op: &'static str,
    (a, a_layout): (&CpuStorage, &Layout),
    (b, b_layout): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let (dims, shape) = product_dims(a_layout, b_layout, op)?;
    struct Pieces((usize, usize, usize, usize));
    impl Kernel2 for Pieces {
        fn run<T: WithDType>(&self, a: (&[T], &Layout), b: (&[T], &Layout)) -> Result<Vec<T>> {
            product(a.0, a.1, b.0, b.1, self.0).ok_or(candle_core::Error::RequiresContiguous {
                op: "product pieces",
            })
        }
    }
    let takes = |l: &Layout| matches!(l.dims().len(), 2 | 3);
    let storage = if takes(a_layout) && takes(b_layout) {
        dispatch(op, (a, a_layout), (b, b_layout), &Pieces(dims))?
    } else {
        a.matmul(b, dims, a_layout, b_layout)?
    };
    Ok((storage, shape))
}

/// `a · b` without a backward (the products inside other ops' backward passes).
struct Product;

impl CustomOp2 for Product {
    fn name(&self) -> &'static str {
        "product"
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        a_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_product(self.name(), (a, a_layout), (b, b_layout))
    }
}

/// `a · b` (batched as [`Tensor::matmul`]) for use inside a backward pass: on the CPU in pieces over the
/// thread pool ([`product`]), elsewhere candle's product.
pub(crate) fn untracked_product(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() {
        a.apply_op2_no_bwd(b, &Product)
    } else {
        a.matmul(b)
    }
}

/// `g · oᵀ` for contiguous `g [r, d]` and `o [n, d]` ([`product_transposed`]), no backward.
pub(crate) struct DepthSplitProduct;

impl CustomOp2 for DepthSplitProduct {
    fn name(&self) -> &'static str {
        "depth-split-product"
    }

    fn cpu_fwd(
        &self,
        g: &CpuStorage,
        g_layout: &Layout,
        o: &CpuStorage,
        o_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        struct Depth;
        impl Kernel2 for Depth {
            fn run<T: WithDType>(&self, g: (&[T], &Layout), o: (&[T], &Layout)) -> Result<Vec<T>> {
                product_transposed(g.0, g.1, o.0, o.1, "depth-split-product")
            }
        }
        let shape = Shape::from((g_layout.dims()[0], o_layout.dims()[0]));
        Ok((
            dispatch(self.name(), (g, g_layout), (o, o_layout), &Depth)?,
            shape,
        ))
    }
}

/// The readers' mixing `z · o` of mask rows `z [r, n]` and writer differences `o [n, d]`, shaped `shape`
/// (`r·d` values), with both gradients: `∂/∂z = g · oᵀ` split by depth (`d` is `B·S·D`, the output
/// `r x n` is small) and `∂/∂o = zᵀ · g` split by columns.
struct Mix {
    shape: Shape,
}

impl CustomOp2 for Mix {
    fn name(&self) -> &'static str {
        "mix"
    }

    fn cpu_fwd(
        &self,
        z: &CpuStorage,
        z_layout: &Layout,
        o: &CpuStorage,
        o_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (storage, _) = cpu_product(self.name(), (z, z_layout), (o, o_layout))?;
        Ok((storage, self.shape.clone()))
    }

    fn bwd(
        &self,
        z: &Tensor,
        o: &Tensor,
        _result: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?.reshape((z.dim(0)?, o.dim(1)?))?;
        let grad_z = grad.apply_op2_no_bwd(&o.contiguous()?, &DepthSplitProduct)?;
        let grad_o = untracked_product(&z.t()?, &grad)?;
        Ok((Some(grad_z), Some(grad_o)))
    }
}

/// `z · o` for mask rows `z [r, n]` and writer differences `o [n, d]` (2-D), shaped `shape` (`r·d`
/// values): on the CPU one op whose product and gradients run in pieces over the thread pool (see the
/// module doc), elsewhere candle's product and reshape.
pub fn mix(z: &Tensor, o: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let (r, d) = (z.dim(0)?, o.dim(1)?);
    if shape.iter().product::<usize>() != r * d {
        return Err(candle_core::Error::ShapeMismatchBinaryOp {
            lhs: z.shape().clone(),
            rhs: o.shape().clone(),
            op: "mix",
        });
    }
    if z.device().is_cpu() && z.rank() == 2 && o.rank() == 2 {
        z.apply_op2(
            o,
            Mix {
                shape: Shape::from(shape),
            },
        )
    } else {
        z.matmul(o)?.reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    use crate::backend::test_values as values;

    fn filled(shape: &[usize], seed: f64, dtype: DType) -> Tensor {
        let count: usize = shape.iter().product();
        let data: Vec<f64> = (0..count)
            .map(|i| ((i as f64 + seed) * 0.7311).sin())
            .collect();
        Tensor::from_vec(data, shape, &Device::Cpu)
            .and_then(|t| t.to_dtype(dtype))
            .unwrap()
    }

    /// `|a − b| ≤ tolerance · max|b|` entry by entry.
    fn assert_close(what: &str, a: &[f64], b: &[f64], tolerance: f64) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tolerance * scale,
                "{what} [{i}]: pieces {x} vs candle {y}"
            );
        }
    }

    /// Products in pieces against candle's own: batched and not, strided operands (transposed
    /// views), several column pieces (`n` above `MIN_PIECE_COLUMNS`), f64 and f32.
    #[test]
    fn pieces_match_candle_products() {
        for dtype in [DType::F64, DType::F32] {
            // The same products summed in other orders (gemm's blocking depends on the piece):
            // f64 rounding ~1e-16 per term over at most 40 terms; f32 ~6e-8 per term, so 1e-5 of the
            // largest entry is ~100 roundings of slack, while a misplaced piece is off by O(1).
            let tolerance = if dtype == DType::F64 { 1e-13 } else { 1e-5 };
            let a = filled(&[3, 7, 40], 0.0, dtype);
            let b = filled(&[3, 40, 1100], 1.0, dtype);
            let b_t = filled(&[3, 1100, 40], 2.0, dtype).transpose(1, 2).unwrap();
            let single = filled(&[7, 40], 3.0, dtype);
            let wide = filled(&[40, 1300], 4.0, dtype);
            for (x, w) in [(&a, &b), (&a, &b_t), (&single, &wide)] {
                let ours = untracked_product(x, w).unwrap();
                let theirs = x.matmul(w).unwrap();
                assert_eq!(ours.dims(), theirs.dims());
                assert_close("product", &values(&ours), &values(&theirs), tolerance);
            }
        }
    }

    /// The mixing op's value and both gradients against candle's product and autograd, with a depth
    /// long enough to be split into pieces (`MIN_PIECE_DEPTH`).
    #[test]
    fn mix_matches_candle_product_and_gradients() {
        for dtype in [DType::F64, DType::F32] {
            // Gradients of z sum 3 · 8192 products: f64 rounding ~1e-16 each; f32 pieces and candle sum
            // in different orders, ~sqrt(d)·6e-8 relative each, so 1e-4 of the largest entry; a lost
            // piece or a wrong offset is off by a whole piece's share (~1/8 of it).
            let tolerance = if dtype == DType::F64 { 1e-12 } else { 1e-4 };
            let (r, n, m, d) = (5, 6, 4, 3 * 8192 / 4);
            let z = Var::from_tensor(&filled(&[r, n], 0.5, dtype)).unwrap();
            let o = Var::from_tensor(&filled(&[n, m * d], 1.5, dtype)).unwrap();
            let weights = filled(&[r, m, d], 2.5, dtype);
            let ours = mix(z.as_tensor(), o.as_tensor(), &[r, m, d]).unwrap();
            let theirs = z
                .as_tensor()
                .matmul(o.as_tensor())
                .and_then(|p| p.reshape((r, m, d)))
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert_close("value", &values(&ours), &values(&theirs), tolerance);
            let gradients = |y: &Tensor| {
                let grads = (y * &weights)
                    .and_then(|p| p.sum_all())
                    .and_then(|s| s.backward())
                    .unwrap();
                (
                    values(grads.get(z.as_tensor()).unwrap()),
                    values(grads.get(o.as_tensor()).unwrap()),
                )
            };
            let ((ours_z, ours_o), (theirs_z, theirs_o)) = (gradients(&ours), gradients(&theirs));
            assert_close("gradient of z", &ours_z, &theirs_z, tolerance);
            assert_close("gradient of o", &ours_o, &theirs_o, tolerance);
        }
    }
}

//! Rotating the residual stream by a seeded random orthogonal matrix: every output is unchanged, but no
//! residual dimension has one meaning any more.

use ndarray::{Array1, Array2};

use super::map_residual;
use crate::error::{Error, Result};
use crate::model::{CompiledModel, ResidualMapKind};
use crate::rng::Rng;

/// A `d × d` orthogonal matrix drawn from `seed`: the Q factor of a standard Gaussian matrix whose R
/// has a positive diagonal, which makes it Haar-distributed (Mezzadri 2007).
///
/// Q comes from Gram–Schmidt with one re-orthogonalisation pass per column ("twice is enough",
/// Giraud et al. 2005: orthogonal to working precision), which yields exactly that positive-diagonal
/// QR. It is not LAPACK's QR so that the `tracr` binary links no BLAS: loading OpenBLAS cost every
/// `tracr` process about 5 ms; `tests/rotation_matches_lapack_qr.rs` checks it against LAPACK.
pub fn random_rotation(d: usize, seed: u64) -> Result<Array2<f64>> {
    let mut rng = Rng::new(seed);
    let gaussian = Array2::from_shape_simple_fn((d, d), || rng.normal());
    let mut q = Array2::<f64>::zeros((d, d));
    for j in 0..d {
        let mut v: Array1<f64> = gaussian.column(j).to_owned();
        for _pass in 0..2 {
            let done = q.slice(ndarray::s![.., ..j]);
            let coefficients = done.t().dot(&v);
            v -= &done.dot(&coefficients);
        }
        let norm = v.dot(&v).sqrt();
        // A Gaussian matrix is singular with probability 0; this guards against a broken draw.
        if norm.is_nan() || norm <= 1e-8 {
            return Err(Error::Message(format!(
                "rotation seed {seed}: column {j} of the {d}x{d} Gaussian matrix is dependent on                  the earlier ones; try another seed"
            )));
        }
        q.column_mut(j).assign(&(v / norm));
    }
    Ok(q)
}

/// The model with its residual stream rotated by [`random_rotation`]`(d_model, seed)`; residual labels
/// become `rotated:i`, and the compiled labels and the rotation are kept in `residual_map`.
pub fn rotate(model: &CompiledModel, seed: u64) -> Result<CompiledModel> {
    let q = random_rotation(model.config.d_model, seed)?;
    Ok(map_residual(
        model,
        &q,
        ResidualMapKind::Rotation { seed },
        "rotated",
    ))
}

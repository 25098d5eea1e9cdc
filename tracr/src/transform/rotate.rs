//! Rotating the residual stream by a seeded random orthogonal matrix: every output is unchanged, but no
//! residual dimension has one meaning any more.

use ndarray::Array2;
use ndarray_linalg::QR;

use super::map_residual;
use crate::error::{Error, Result};
use crate::model::{CompiledModel, ResidualMapKind};
use crate::rng::Rng;

/// A `d × d` orthogonal matrix drawn from `seed`: the Q factor of a standard Gaussian matrix, with the
/// signs of its columns fixed by R's diagonal so that it is Haar-distributed (Mezzadri 2007).
pub fn random_rotation(d: usize, seed: u64) -> Result<Array2<f64>> {
    let mut rng = Rng::new(seed);
    let gaussian = Array2::from_shape_simple_fn((d, d), || rng.normal());
    let (mut q, r) = gaussian
        .qr()
        .map_err(|e| Error::Message(format!("QR of the {d}x{d} rotation seed matrix: {e}")))?;
    for j in 0..d {
        if r[[j, j]] < 0.0 {
            q.column_mut(j).mapv_inplace(|x| -x);
        }
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

//! Changes to a compiled model after compiling, each recorded in the model so it can be explained:
//! a rotation of the residual stream (exact), a general change of residual basis (what compression
//! trains), and Gaussian noise on the weights.

mod perturb;
mod rotate;

pub use perturb::perturb;
pub use rotate::{random_rotation, rotate};

use ndarray::{Array2, Axis};

use crate::model::{CompiledModel, ResidualMap, ResidualMapKind};

/// Maps the residual stream through `matrix` (`[d_model, d_new]`): the residual `r` becomes `r · matrix`.
///
/// Every writer (embeddings, attention output, MLP output, and their biases) is multiplied by `matrix`
/// on the right and every reader (query, key, value, MLP input) by `matrixᵀ` on the left, so each
/// reader sees `r · matrix · matrixᵀ`; the output is read through `matrixᵀ` too. Residual labels become
/// `{label_prefix}:i`; the compiled labels and the accumulated matrix are kept in
/// [`CompiledModel::residual_map`] (a second map composes with the first).
pub fn map_residual(
    model: &CompiledModel,
    matrix: &Array2<f64>,
    kind: ResidualMapKind,
    label_prefix: &str,
) -> CompiledModel {
    let d_new = matrix.ncols();
    let write = |w: &Array2<f64>| written(w, matrix);
    let read = |w: &Array2<f64>| read_through(matrix, w);
    let mut out = model.clone();
    out.token_embed = write(&model.token_embed);
    out.pos_embed = write(&model.pos_embed);
    for layer in &mut out.weights {
        let a = &mut layer.attn;
        a.query = read(&a.query);
        a.key = read(&a.key);
        a.value = read(&a.value);
        a.output = write(&a.output);
        a.output_bias = a.output_bias.dot(matrix);
        let m = &mut layer.mlp;
        m.hidden = read(&m.hidden);
        m.output = write(&m.output);
        m.output_bias = m.output_bias.dot(matrix);
    }
    out.config.d_model = d_new;
    out.residual_labels = (0..d_new).map(|i| format!("{label_prefix}:{i}")).collect();
    out.residual_map = Some(match &model.residual_map {
        Some(previous) => ResidualMap {
            // Two maps in a row: r → r·M1 → r·M1·M2. A compression after a rotation stays a compression.
            kind: match (&previous.kind, &kind) {
                (ResidualMapKind::Rotation { .. }, ResidualMapKind::Rotation { .. }) => kind,
                _ => ResidualMapKind::Compression,
            },
            matrix: previous.matrix.dot(matrix),
            compiled_labels: previous.compiled_labels.clone(),
        },
        None => ResidualMap {
            kind,
            matrix: matrix.clone(),
            compiled_labels: model.residual_labels.clone(),
        },
    });
    out
}

/// `w · matrix` for a writer `w` (`[rows, d]`), multiplying only through the dimensions `w` writes:
/// compiled writers touch a few dimensions, and the MLPs have thousands of rows (shuffle_dyck2), so
/// this keeps `--rotate` within a millisecond. Skipped terms are exact zeros: the result is the same.
fn written(w: &Array2<f64>, matrix: &Array2<f64>) -> Array2<f64> {
    let used: Vec<usize> = (0..w.ncols())
        .filter(|&j| w.column(j).iter().any(|&x| x != 0.0))
        .collect();
    w.select(Axis(1), &used).dot(&matrix.select(Axis(0), &used))
}

/// `matrixᵀ · w` for a reader `w` (`[d, cols]`), through the dimensions `w` reads only (as [`written`]).
fn read_through(matrix: &Array2<f64>, w: &Array2<f64>) -> Array2<f64> {
    let used: Vec<usize> = (0..w.nrows())
        .filter(|&i| w.row(i).iter().any(|&x| x != 0.0))
        .collect();
    matrix
        .select(Axis(0), &used)
        .t()
        .dot(&w.select(Axis(0), &used))
}

/// The post-compile transforms `tracr compile` offers, applied in a fixed order: noise, then rotation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransformOptions {
    /// Rotate the residual stream with this seed.
    pub rotate: Option<u64>,
    /// Add noise of this relative size, with the seed.
    pub perturb: Option<(f64, u64)>,
}

/// Applies `options` to a compiled model: noise first (relative to the compiled weights), then the
/// rotation (so a rotated noisy model computes exactly what the unrotated noisy one does).
pub fn apply(
    model: CompiledModel,
    options: &TransformOptions,
) -> crate::error::Result<CompiledModel> {
    let mut model = model;
    if let Some((epsilon, seed)) = options.perturb {
        model = perturb(&model, epsilon, seed)?;
    }
    if let Some(seed) = options.rotate {
        model = rotate(&model, seed)?;
    }
    Ok(model)
}

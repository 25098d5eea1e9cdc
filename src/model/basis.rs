//! Undoing a rotation of the residual stream, so that the structural truth (which reads the weights'
//! non-zero pattern) is computed where dimensions have one meaning.

use std::borrow::Cow;

use ndarray::{Array, Array2, Dimension};

use super::{Readout, ResidualBasis, Transformer};

/// Entries at most this fraction of their tensor's largest magnitude are round-off of the rotation
/// and its undoing (both orthogonal, so about 1e-15 relative), not weights: they are set to zero.
/// Compiled Tracr weights span a few orders of magnitude (1/mlp_exactness slopes), far above it.
pub const UNROTATE_ROUNDOFF: f64 = 1e-9;

impl Transformer {
    /// The model in its compiled basis: a rotated model with the rotation undone (residual labels the
    /// compiled ones, round-off below [`UNROTATE_ROUNDOFF`] zeroed); any other model as it is.
    pub fn in_compiled_basis(&self) -> Cow<'_, Transformer> {
        let ResidualBasis::Rotated {
            rotation,
            compiled_labels,
        } = &self.residual_basis
        else {
            return Cow::Borrowed(self);
        };
        // r' = r · Q, so r = r' · Qᵀ: writers × Qᵀ, readers Q × (reading r' · Qᵀ · Q · W = r' · W).
        let undo = rotation.t();
        let write = |w: &Array2<f64>| snap(w.dot(&undo));
        let read = |w: &Array2<f64>| snap(rotation.dot(w));
        let mut out = self.clone();
        out.token_embedding = write(&self.token_embedding);
        out.position_embedding = write(&self.position_embedding);
        for layer in &mut out.layers {
            for head in &mut layer.heads {
                head.w_query = read(&head.w_query);
                head.w_key = read(&head.w_key);
                head.w_value = read(&head.w_value);
                head.w_output = write(&head.w_output);
                head.b_output = snap(head.b_output.dot(&undo));
            }
            layer.mlp.w_in = read(&layer.mlp.w_in);
            layer.mlp.w_out = write(&layer.mlp.w_out);
            layer.mlp.b_out = snap(layer.mlp.b_out.dot(&undo));
        }
        out.readout = match &self.readout {
            Readout::Categorical { unembedding } => Readout::Categorical {
                unembedding: read(unembedding),
            },
            Readout::NumericalDirection { direction } => {
                let compiled = snap(rotation.dot(direction));
                // A compiled numerical output is one dimension; keep the general form otherwise.
                let ones: Vec<usize> = (0..compiled.len())
                    .filter(|&i| compiled[i] != 0.0)
                    .collect();
                match ones.as_slice() {
                    [dimension] if (compiled[*dimension] - 1.0).abs() <= UNROTATE_ROUNDOFF => {
                        Readout::Numerical {
                            dimension: *dimension,
                        }
                    }
                    _ => Readout::NumericalDirection {
                        direction: compiled,
                    },
                }
            }
            Readout::Numerical { dimension } => Readout::NumericalDirection {
                direction: rotation.column(*dimension).to_owned(),
            },
        };
        if let Some(labels) = compiled_labels {
            out.residual_labels = Some(labels.clone());
        }
        out.residual_basis = ResidualBasis::Native;
        Cow::Owned(out)
    }
}

/// Zeroes the entries of `tensor` that are round-off (see [`UNROTATE_ROUNDOFF`]).
fn snap<D: Dimension>(mut tensor: Array<f64, D>) -> Array<f64, D> {
    let largest = tensor.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let floor = UNROTATE_ROUNDOFF * largest;
    tensor.mapv_inplace(|x| if x.abs() <= floor { 0.0 } else { x });
    tensor
}

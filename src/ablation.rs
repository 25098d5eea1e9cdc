//! What a pruned edge or node carries instead of the writer's output: the ablated writer states X̃.

use ndarray::{Array2, Array4, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::model::Transformer;

/// How X̃ (the state substituted for a pruned edge's or node's writer) is made.
#[derive(Debug, Clone, PartialEq)]
pub enum Ablation {
    /// X̃ = 0 (the Tracr runs of the paper).
    Zero,
    /// X̃ = the full model's writer states on a corrupted input, one corrupted `[S]` row per clean example.
    Interchange {
        /// `[N, S]` corrupted token ids, row n pairs with clean example n.
        corrupted_ids: Array2<usize>,
    },
    /// X̃ = the full model's writer states averaged over a dataset, per position, for every example.
    Mean {
        /// `[M, S]` token ids the mean is taken over.
        ids: Array2<usize>,
    },
}

impl Ablation {
    /// Short name for logs: `zero`, `interchange` or `mean`.
    pub fn name(&self) -> &'static str {
        match self {
            Ablation::Zero => "zero",
            Ablation::Interchange { .. } => "interchange",
            Ablation::Mean { .. } => "mean",
        }
    }

    /// X̃ for each of `num_examples` examples of length `seq_len`: `None` for zero ablation,
    /// else `[writers, N, S, d_model]` in writer order.
    pub fn writer_states(
        &self,
        model: &Transformer,
        num_examples: usize,
        seq_len: usize,
    ) -> Result<Option<Array4<f64>>> {
        match self {
            Ablation::Zero => Ok(None),
            Ablation::Interchange { corrupted_ids } => {
                check_ids_shape(
                    "interchange corrupted_ids",
                    corrupted_ids.view(),
                    Some(num_examples),
                    seq_len,
                )?;
                model.writer_states(corrupted_ids.view()).map(Some)
            }
            Ablation::Mean { ids } => {
                check_ids_shape("mean-ablation ids", ids.view(), None, seq_len)?;
                if ids.nrows() == 0 {
                    return Err(Error::Shape {
                        what: "mean-ablation ids".into(),
                        expected: "at least one sequence".into(),
                        got: "0 sequences".into(),
                    });
                }
                let states = model.writer_states(ids.view())?;
                let mean = states.mean_axis(Axis(1)).expect("at least one sequence");
                let shape = (mean.dim().0, num_examples, seq_len, mean.dim().2);
                let broadcast = mean
                    .insert_axis(Axis(1))
                    .broadcast(shape)
                    .expect("[W,1,S,D] broadcasts to [W,N,S,D]")
                    .to_owned();
                Ok(Some(broadcast))
            }
        }
    }
}

fn check_ids_shape(
    what: &str,
    ids: ArrayView2<usize>,
    rows: Option<usize>,
    seq_len: usize,
) -> Result<()> {
    let rows_ok = rows.is_none_or(|n| n == ids.nrows());
    if rows_ok && ids.ncols() == seq_len {
        return Ok(());
    }
    Err(Error::Shape {
        what: what.to_string(),
        expected: format!(
            "[{}, {seq_len}] (one row per clean example, same sequence length)",
            rows.map_or("any".to_string(), |n| n.to_string())
        ),
        got: format!("{:?}", ids.shape()),
    })
}

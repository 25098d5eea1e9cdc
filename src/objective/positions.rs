//! The KL of Edge Pruning's GPT-2 scripts: only each example's target positions count.
//!
//! `fpt2_ioi.py` takes, for example i, the positions `[start_i, end_i)`, computes
//! `kl_div(log q, log p, log_target=True, reduction="batchmean")` over them (the mean over those
//! positions of KL(p_full ‖ q_masked), softmax over the whole vocabulary), sums over examples and
//! divides by the batch size. That is a weighted sum of per-position KLs with weight
//! `1 / (end_i − start_i)` on the target positions and 0 elsewhere, which [`TargetPositions`] holds.

use ndarray::{s, Array2, ArrayView2, ArrayView3, ArrayViewMut3};

use crate::error::{Error, Result};

/// Per-example weights `[N, S]` of the positions whose KL counts (rows sum to 1 over the targets).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPositions {
    weights: Array2<f64>,
}

impl TargetPositions {
    /// Example n counts the positions `[start_n, end_n)`, each with weight `1 / (end_n − start_n)`, as
    /// the official IOI script does; `ranges` has one `(start, end)` per example.
    pub fn ranges(ranges: &[(usize, usize)], seq_len: usize) -> Result<TargetPositions> {
        let mut weights = Array2::zeros((ranges.len(), seq_len));
        for (n, &(start, end)) in ranges.iter().enumerate() {
            if start >= end || end > seq_len {
                return Err(Error::InvalidOption {
                    option: format!("target positions of example {n}"),
                    message: format!(
                        "[{start}, {end}) is not a non-empty range inside the sequence (length {seq_len})"
                    ),
                });
            }
            let weight = 1.0 / (end - start) as f64;
            weights.slice_mut(s![n, start..end]).fill(weight);
        }
        Ok(TargetPositions { weights })
    }

    /// Every position of every example counts equally (the mean over positions).
    pub fn all(num_examples: usize, seq_len: usize) -> TargetPositions {
        let ranges = vec![(0, seq_len); num_examples];
        Self::ranges(&ranges, seq_len).expect("0..seq_len is a valid range when seq_len > 0")
    }

    /// Number of examples N.
    pub fn num_examples(&self) -> usize {
        self.weights.nrows()
    }

    /// Sequence length S.
    pub fn seq_len(&self) -> usize {
        self.weights.ncols()
    }

    /// The weights `[N, S]`.
    pub fn weights(&self) -> ArrayView2<'_, f64> {
        self.weights.view()
    }

    /// The weight rows of `batch`, `[B, S]` (indices checked by the caller).
    pub fn rows(&self, batch: &[usize]) -> Array2<f64> {
        self.weights.select(ndarray::Axis(0), batch)
    }

    /// Checks that these weights cover a dataset of `num_examples` sequences of length `seq_len`.
    pub fn check_covers(&self, num_examples: usize, seq_len: usize) -> Result<()> {
        if self.weights.dim() == (num_examples, seq_len) {
            return Ok(());
        }
        Err(Error::Shape {
            what: "target positions".into(),
            expected: format!("[{num_examples}, {seq_len}] (the dataset's examples and length)"),
            got: format!("{:?}", self.weights.shape()),
        })
    }
}

/// `(1/B) Σ_b Σ_s w[b,s] KL(p_full[b,s] ‖ q[b,s])` with softmax over the last axis, and its gradient with
/// respect to `output` (`w[b,s] (q − p) / B`) written into `grad` when given. All arrays are `[B, S, V]`,
/// `weights` `[B, S]`.
pub fn weighted_kl(
    output: ArrayView3<f64>,
    reference: ArrayView3<f64>,
    weights: ArrayView2<f64>,
    mut grad: Option<ArrayViewMut3<f64>>,
) -> Result<f64> {
    let (batch, seq_len, _) = output.dim();
    if reference.shape() != output.shape() || weights.dim() != (batch, seq_len) {
        return Err(Error::Shape {
            what: "weighted KL inputs (reference, weights)".into(),
            expected: format!("{:?} and [{batch}, {seq_len}]", output.shape()),
            got: format!("{:?} and {:?}", reference.shape(), weights.shape()),
        });
    }
    if let Some(g) = grad.as_mut() {
        if g.shape() != output.shape() {
            return Err(Error::Shape {
                what: "weighted KL gradient buffer".into(),
                expected: format!("{:?}", output.shape()),
                got: format!("{:?}", g.shape()),
            });
        }
        g.fill(0.0);
    }
    if output.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "KL input (masked output)".into(),
        });
    }
    let mut total = 0.0;
    for b in 0..batch {
        for s in 0..seq_len {
            let w = weights[(b, s)];
            if w == 0.0 {
                continue;
            }
            let log_q = log_softmax(output.slice(s![b, s, ..]).iter().copied());
            let log_p = log_softmax(reference.slice(s![b, s, ..]).iter().copied());
            let mut kl = 0.0;
            for (lp, lq) in log_p.iter().zip(&log_q) {
                kl += lp.exp() * (lp - lq);
            }
            total += w * kl / batch as f64;
            if let Some(g) = grad.as_mut() {
                for ((g, lp), lq) in g.slice_mut(s![b, s, ..]).iter_mut().zip(&log_p).zip(&log_q) {
                    *g = w * (lq.exp() - lp.exp()) / batch as f64;
                }
            }
        }
    }
    Ok(total)
}

fn log_softmax(x: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let max = x.clone().fold(f64::NEG_INFINITY, f64::max);
    let log_total = x.clone().map(|v| (v - max).exp()).sum::<f64>().ln();
    x.map(|v| v - max - log_total).collect()
}

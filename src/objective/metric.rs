//! Output metrics between the pruned model's output and the full model's, with their gradients.
//!
//! KL is torch's `kl_div(log q, log p, log_target=True, reduction="batchmean")`, i.e.
//! `(1/B) Σ p (log p − log q)` = KL(p_full ‖ q_pruned), over:
//! - categorical outputs: the classes at every position except BOS (positions 1..S);
//! - numerical outputs: the positions 0..S (BOS included) of the single output channel.
//!
//! MSE is the mean of `(out − ref)²` over the same entries (positions 1.. and all classes, or all positions).
//!
//! [`LinearMetric`] is the metric of the gradient-attribution methods (EAP, EAP-IG): KL and MSE against the
//! full model have zero gradient at the full model, so those methods differentiate a task metric linear
//! in the output instead (see its documentation for the choice per output kind).

use ndarray::{s, Array3, ArrayView1, ArrayView3, ArrayViewMut1, ArrayViewMut3, Axis};

use crate::error::{Error, Result};
use crate::model::OutputKind;

/// Which distance between pruned and full outputs is minimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// KL(p_full ‖ q_pruned), batch-mean, as in Edge Pruning.
    Kl,
    /// Mean squared error over the entries the KL would use.
    Mse,
}

impl Metric {
    /// `kl` or `mse`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Kl => "kl",
            Metric::Mse => "mse",
        }
    }

    /// The metric of `output` against `reference`, both `[B, S, outputs]`.
    pub fn value(
        self,
        kind: OutputKind,
        output: ArrayView3<f64>,
        reference: ArrayView3<f64>,
    ) -> Result<f64> {
        self.evaluate(kind, output, reference, None)
    }

    /// The metric and its gradient with respect to `output`, written into `grad_output` (same shape).
    pub fn value_and_gradient(
        self,
        kind: OutputKind,
        output: ArrayView3<f64>,
        reference: ArrayView3<f64>,
        grad_output: ArrayViewMut3<f64>,
    ) -> Result<f64> {
        self.evaluate(kind, output, reference, Some(grad_output))
    }

    fn evaluate(
        self,
        kind: OutputKind,
        output: ArrayView3<f64>,
        reference: ArrayView3<f64>,
        mut grad: Option<ArrayViewMut3<f64>>,
    ) -> Result<f64> {
        check_shapes(kind, &output, &reference, grad.as_ref())?;
        let (batch, seq_len, _) = output.dim();
        if let Some(g) = grad.as_mut() {
            g.fill(0.0);
        }
        // The groups the softmax (or the MSE mean) runs over: one per (example, position) for
        // categorical outputs, one per example (across positions) for numerical ones.
        let first_position = match kind {
            OutputKind::Categorical => 1,
            OutputKind::Numerical => 0,
        };
        let entries = match kind {
            OutputKind::Categorical => batch * seq_len.saturating_sub(1) * output.dim().2,
            OutputKind::Numerical => batch * seq_len,
        };
        let mut total = 0.0;
        for b in 0..batch {
            let groups: Vec<(ArrayView1<f64>, ArrayView1<f64>)> = match kind {
                OutputKind::Categorical => (first_position..seq_len)
                    .map(|s| (output.slice(s![b, s, ..]), reference.slice(s![b, s, ..])))
                    .collect(),
                OutputKind::Numerical => {
                    vec![(output.slice(s![b, .., 0]), reference.slice(s![b, .., 0]))]
                }
            };
            for (index, (out, reference)) in groups.into_iter().enumerate() {
                let grad_group = grad.as_mut().map(|g| match kind {
                    OutputKind::Categorical => g.slice_mut(s![b, first_position + index, ..]),
                    OutputKind::Numerical => g.slice_mut(s![b, .., 0]),
                });
                total += match self {
                    Metric::Kl => kl_group(out, reference, grad_group, batch as f64),
                    Metric::Mse => mse_group(out, reference, grad_group, entries.max(1) as f64),
                };
            }
        }
        Ok(total)
    }
}

/// `(1/B) Σ p (log p − log q)` over one softmax group; gradient `(q Σp − p) / B` (log-softmax backward).
fn kl_group(
    output: ArrayView1<f64>,
    reference: ArrayView1<f64>,
    grad: Option<ArrayViewMut1<f64>>,
    batch: f64,
) -> f64 {
    let log_q = log_softmax(output);
    let log_p = log_softmax(reference);
    let mut kl = 0.0;
    let mut p_total = 0.0;
    for (lp, lq) in log_p.iter().zip(&log_q) {
        let p = lp.exp();
        kl += p * (lp - lq);
        p_total += p;
    }
    if let Some(mut grad) = grad {
        for ((g, lp), lq) in grad.iter_mut().zip(&log_p).zip(&log_q) {
            *g = (lq.exp() * p_total - lp.exp()) / batch;
        }
    }
    kl / batch
}

/// `Σ (out − ref)² / n` over one group; gradient `2 (out − ref) / n`.
fn mse_group(
    output: ArrayView1<f64>,
    reference: ArrayView1<f64>,
    grad: Option<ArrayViewMut1<f64>>,
    n: f64,
) -> f64 {
    let mut sum = 0.0;
    for (o, r) in output.iter().zip(reference.iter()) {
        sum += (o - r) * (o - r);
    }
    if let Some(mut grad) = grad {
        for ((g, o), r) in grad.iter_mut().zip(output.iter()).zip(reference.iter()) {
            *g = 2.0 * (o - r) / n;
        }
    }
    sum / n
}

/// A task metric linear in the model output, `m(y) = (1/B) Σ_{b,s,o} W[n_b,s,o] y[b,s,o]`, with
/// per-example weights `W` fixed from the full model (and, for numbers, the all-ablated model). Its gradient
/// at the full model is `W / B`, never zero, which is what EAP and EAP-IG need. Only positions after BOS
/// count (they are the decoded outputs the ground truth certifies); each example's positions are averaged.
///
/// - **Categorical** (MIB's logit difference, for tasks without a designated wrong answer): at every
///   position, the logit of the full model's argmax class (ties to the first index, as Tracr's argmax)
///   minus the mean logit of the other classes. With a single class, that class's logit.
/// - **Numerical**: the output projected on the clean-minus-ablated direction,
///   `Σ_s (y_full[s] − y_∅[s]) · y[s]`, where `y_∅` is the output with every edge ablated (MIB's `m(∅)`
///   circuit). It grows as the output moves from the ablated output toward the full model's, and
///   `m(full) − m(∅) = mean Σ_s (y_full − y_∅)² ≥ 0`.
///
/// Attribution methods minimise the loss `L = −m` (MIB's `loss=True`): a positive score means that
/// ablating the edge lowers `m`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearMetric {
    kind: OutputKind,
    /// `[N, S, outputs]`; position 0 (BOS) is zero.
    weights: Array3<f64>,
}

impl LinearMetric {
    /// The metric for `kind` from the full model's outputs `reference` and the all-ablated model's outputs
    /// `ablated` (both `[N, S, outputs]`; `ablated` is only read for numerical outputs).
    pub fn new(
        kind: OutputKind,
        reference: ArrayView3<f64>,
        ablated: ArrayView3<f64>,
    ) -> Result<Self> {
        check_shapes(kind, &reference, &ablated, None)?;
        let (examples, seq_len, outputs) = reference.dim();
        let mut weights = Array3::zeros((examples, seq_len, outputs));
        if seq_len < 2 || outputs == 0 {
            // Only BOS: no decoded output, the metric is identically 0.
            return Ok(Self { kind, weights });
        }
        let per_position = 1.0 / (seq_len - 1) as f64;
        for n in 0..examples {
            for p in 1..seq_len {
                match kind {
                    OutputKind::Categorical => {
                        let row = reference.slice(s![n, p, ..]);
                        let best = row
                            .iter()
                            .enumerate()
                            .fold(0, |b, (i, &z)| if z > row[b] { i } else { b });
                        let mut target = weights.slice_mut(s![n, p, ..]);
                        if outputs > 1 {
                            target.fill(-per_position / (outputs - 1) as f64);
                        }
                        target[best] = per_position;
                    }
                    OutputKind::Numerical => {
                        weights[(n, p, 0)] =
                            per_position * (reference[(n, p, 0)] - ablated[(n, p, 0)]);
                    }
                }
            }
        }
        Ok(Self { kind, weights })
    }

    /// Short description for reports.
    pub fn name(&self) -> &'static str {
        match self.kind {
            OutputKind::Categorical => "logit-difference (argmax vs mean of the others)",
            OutputKind::Numerical => "output projected on full-minus-ablated",
        }
    }

    /// Number of examples the weights cover.
    pub fn num_examples(&self) -> usize {
        self.weights.dim().0
    }

    /// The weights `W` `[N, S, outputs]`; `m(y) = (1/B) Σ W·y` over a batch.
    pub fn weights(&self) -> ArrayView3<'_, f64> {
        self.weights.view()
    }

    /// The weight rows of `batch` divided by the batch size: `∂m/∂y` of a `[B, S, outputs]` output.
    pub fn gradient(&self, batch: &[usize]) -> Result<Array3<f64>> {
        self.check_batch(batch)?;
        let mut rows = self.weights.select(Axis(0), batch);
        rows /= batch.len().max(1) as f64;
        Ok(rows)
    }

    /// `m(output)` for the examples `batch` (`output` is `[B, S, outputs]`, row b is example `batch[b]`).
    pub fn value(&self, output: ArrayView3<f64>, batch: &[usize]) -> Result<f64> {
        let gradient = self.gradient(batch)?;
        if output.shape() != gradient.shape() {
            return Err(Error::Shape {
                what: "linear metric output".into(),
                expected: format!("{:?}", gradient.shape()),
                got: format!("{:?}", output.shape()),
            });
        }
        if output.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "linear metric input (masked output)".into(),
            });
        }
        Ok((&gradient * &output).sum())
    }

    fn check_batch(&self, batch: &[usize]) -> Result<()> {
        let examples = self.num_examples();
        if batch.is_empty() {
            return Err(Error::Shape {
                what: "linear metric batch".into(),
                expected: "at least one example index".into(),
                got: "an empty batch".into(),
            });
        }
        match batch.iter().find(|&&n| n >= examples) {
            Some(bad) => Err(Error::Shape {
                what: "linear metric batch example index".into(),
                expected: format!("< {examples} (examples the metric was built on)"),
                got: bad.to_string(),
            }),
            None => Ok(()),
        }
    }
}

fn log_softmax(x: ArrayView1<f64>) -> Vec<f64> {
    let max = x.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let log_total = x.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    x.iter().map(|v| v - max - log_total).collect()
}

fn check_shapes(
    kind: OutputKind,
    output: &ArrayView3<f64>,
    reference: &ArrayView3<f64>,
    grad: Option<&ArrayViewMut3<f64>>,
) -> Result<()> {
    let mismatch = |what: &str, got: &[usize]| Error::Shape {
        what: what.to_string(),
        expected: format!("{:?} (the output's shape)", output.shape()),
        got: format!("{got:?}"),
    };
    if reference.shape() != output.shape() {
        return Err(mismatch("metric reference", reference.shape()));
    }
    if let Some(g) = grad {
        if g.shape() != output.shape() {
            return Err(mismatch("metric gradient buffer", g.shape()));
        }
    }
    if kind == OutputKind::Numerical && output.dim().2 != 1 {
        return Err(Error::Shape {
            what: "numerical output channels".into(),
            expected: "1".into(),
            got: output.dim().2.to_string(),
        });
    }
    if output
        .iter()
        .chain(reference.iter())
        .any(|v| !v.is_finite())
    {
        return Err(Error::NonFinite {
            what: "metric input (pruned or reference output)".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    #[test]
    fn categorical_kl_skips_bos_and_divides_by_batch() {
        // One example, two positions, two classes; position 0 (BOS) differs but must not count.
        let output = array![[[5.0, -5.0], [0.0, 0.0]]];
        let reference = array![[[-5.0, 5.0], [0.0, 2.0f64.ln()]]];
        let kl = Metric::Kl
            .value(OutputKind::Categorical, output.view(), reference.view())
            .unwrap();
        // p = (1/3, 2/3), q = (1/2, 1/2): KL = 1/3 ln(2/3) + 2/3 ln(4/3).
        let want = (1.0f64 / 3.0) * (2.0f64 / 3.0).ln() + (2.0f64 / 3.0) * (4.0f64 / 3.0).ln();
        assert!((kl - want).abs() < 1e-15, "kl {kl}, hand value {want}");
    }

    #[test]
    fn numerical_kl_runs_over_positions_including_bos() {
        let output = Array3::from_shape_vec((1, 2, 1), vec![0.0, 0.0]).unwrap();
        let reference = Array3::from_shape_vec((1, 2, 1), vec![0.0, 2.0f64.ln()]).unwrap();
        let kl = Metric::Kl
            .value(OutputKind::Numerical, output.view(), reference.view())
            .unwrap();
        let want = (1.0f64 / 3.0) * (2.0f64 / 3.0).ln() + (2.0f64 / 3.0) * (4.0f64 / 3.0).ln();
        assert!((kl - want).abs() < 1e-15, "kl {kl}, hand value {want}");
    }

    #[test]
    fn mse_is_the_mean_over_non_bos_entries() {
        let output = array![[[9.0, 9.0], [1.0, 3.0]], [[9.0, 9.0], [0.0, 0.0]]];
        let reference = Array3::zeros((2, 2, 2));
        let mut grad = Array3::zeros((2, 2, 2));
        let mse = Metric::Mse
            .value_and_gradient(
                OutputKind::Categorical,
                output.view(),
                reference.view(),
                grad.view_mut(),
            )
            .unwrap();
        assert_eq!(mse, (1.0 + 9.0) / 4.0, "mean of 1², 3², 0², 0²");
        assert_eq!(grad[(0, 1, 1)], 2.0 * 3.0 / 4.0);
        assert_eq!(grad[(0, 0, 0)], 0.0, "BOS gets no gradient");
    }

    #[test]
    fn logit_difference_weights_the_argmax_against_the_mean_of_the_others() {
        // One example, BOS + two positions, three classes.
        let reference = array![[[9.0, 0.0, 0.0], [0.0, 2.0, 1.0], [3.0, 3.0, 0.0]]];
        let metric = LinearMetric::new(
            OutputKind::Categorical,
            reference.view(),
            Array3::zeros((1, 3, 3)).view(),
        )
        .unwrap();
        let output = array![[[5.0, 5.0, 5.0], [1.0, 4.0, 2.0], [6.0, 0.0, 2.0]]];
        let value = metric.value(output.view(), &[0]).unwrap();
        // Position 1: argmax 1, 4 − (1 + 2)/2 = 2.5; position 2: tie → class 0, 6 − (0 + 2)/2 = 5.
        let want = (2.5 + 5.0) / 2.0;
        assert!(
            (value - want).abs() < 1e-15,
            "value {value}, hand value {want}"
        );
    }

    #[test]
    fn numerical_projection_uses_the_full_minus_ablated_direction_after_bos() {
        let reference = Array3::from_shape_vec((2, 2, 1), vec![7.0, 1.0, 7.0, 3.0]).unwrap();
        let ablated = Array3::from_shape_vec((2, 2, 1), vec![0.0, 0.5, 0.0, 1.0]).unwrap();
        let metric =
            LinearMetric::new(OutputKind::Numerical, reference.view(), ablated.view()).unwrap();
        let output = Array3::from_shape_vec((1, 2, 1), vec![100.0, 2.0]).unwrap();
        let value = metric.value(output.view(), &[1]).unwrap();
        // Example 1: direction 3 − 1 = 2 at position 1; BOS (100) does not count.
        assert_eq!(value, 4.0, "2 · 2");
    }

    #[test]
    fn linear_metric_rejects_an_example_outside_its_data() {
        let metric = LinearMetric::new(
            OutputKind::Categorical,
            Array3::zeros((2, 2, 2)).view(),
            Array3::zeros((2, 2, 2)).view(),
        )
        .unwrap();
        let err = metric.gradient(&[2]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
    }

    #[test]
    fn mismatched_reference_is_a_shape_error() {
        let output = Array3::zeros((1, 2, 2));
        let reference = Array3::zeros((1, 3, 2));
        let err = Metric::Kl
            .value(OutputKind::Categorical, output.view(), reference.view())
            .unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
    }
}

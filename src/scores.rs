//! Scores of circuits against a ground truth, knowing nothing of the method that produced them.
//!
//! - precision, recall and F1 of one circuit against one truth circuit;
//! - ROC points from per-edge scores (every top-k; edges tied with the k-th are kept too, as
//!   auto-circuit's thresholding does) or from a list of circuits (ACDC's: one point per circuit plus
//!   (0,0) and (1,1), dominated points dropped);
//! - the area under a ROC curve by trapezoid (auto-circuit) and ACDC's pessimistic step area;
//! - MIB's faithfulness `f(C) = (m(C) − m(∅)) / (m(N) − m(∅))` of the top-scored edges at fixed
//!   fractions of the graph, with CPR (area under f) and CMD (area under |1 − f|) by trapezoid on a
//!   linear fraction axis. See `../shared/docs/methods.md` §5 for the sources.
//!
//! Degenerate truths (no edge, or every edge) make TPR or FPR 0/0. Here a rate with a zero denominator
//! is defined as the value no ranking can miss: TPR = 1 when the truth is empty (all of nothing has been
//! found), FPR = 0 when the truth holds every edge (no false positive exists). Every scorer then gets
//! AUC 1 on such a truth, which is the honest statement that the truth cannot tell scorers apart.

use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;

/// Counts of one circuit's edges against a truth's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confusion {
    /// Kept and in the truth.
    pub true_positives: usize,
    /// Kept but not in the truth.
    pub false_positives: usize,
    /// In the truth but not kept.
    pub false_negatives: usize,
    /// Neither kept nor in the truth.
    pub true_negatives: usize,
}

impl Confusion {
    /// Counts `found` against `truth` (two edge masks of the same length).
    pub fn of(found: &[bool], truth: &[bool]) -> Result<Confusion> {
        check_lengths("found circuit", found.len(), truth.len())?;
        let mut counts = Confusion {
            true_positives: 0,
            false_positives: 0,
            false_negatives: 0,
            true_negatives: 0,
        };
        for (&f, &t) in found.iter().zip(truth) {
            match (f, t) {
                (true, true) => counts.true_positives += 1,
                (true, false) => counts.false_positives += 1,
                (false, true) => counts.false_negatives += 1,
                (false, false) => counts.true_negatives += 1,
            }
        }
        Ok(counts)
    }

    /// TP / (TP + FP); 1 when nothing is kept (ACDC's `edge_precision` convention: no claim, no error).
    pub fn precision(&self) -> f64 {
        ratio_or(self.true_positives, self.false_positives, 1.0)
    }

    /// TP / (TP + FN) = TPR; 1 when the truth is empty (nothing to find).
    pub fn recall(&self) -> f64 {
        ratio_or(self.true_positives, self.false_negatives, 1.0)
    }

    /// FP / (FP + TN); 0 when the truth holds every edge (no false positive is possible).
    pub fn false_positive_rate(&self) -> f64 {
        ratio_or(self.false_positives, self.true_negatives, 0.0)
    }

    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Edges in exactly one of the two circuits.
    pub fn symmetric_difference(&self) -> usize {
        self.false_positives + self.false_negatives
    }
}

/// `a / (a + b)`, or `empty` when both are 0.
fn ratio_or(a: usize, b: usize, empty: f64) -> f64 {
    if a + b == 0 {
        empty
    } else {
        a as f64 / (a + b) as f64
    }
}

fn check_lengths(what: &str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(Error::Shape {
            what: format!("{what} against the truth (edges)"),
            expected: expected.to_string(),
            got: got.to_string(),
        });
    }
    Ok(())
}

/// Precision, recall and F1 of a circuit against a truth circuit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionRecall {
    /// TP / kept (1 when nothing is kept).
    pub precision: f64,
    /// TP / truth (1 when the truth is empty).
    pub recall: f64,
    /// Harmonic mean (0 when both are 0).
    pub f1: f64,
}

/// Precision, recall and F1 of `found`'s edges against `truth`'s (node masks are ignored).
pub fn precision_recall(found: &Circuit, truth: &Circuit) -> Result<PrecisionRecall> {
    let counts = Confusion::of(&found.edges, &truth.edges)?;
    Ok(PrecisionRecall {
        precision: counts.precision(),
        recall: counts.recall(),
        f1: counts.f1(),
    })
}

/// One point of a ROC curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    /// False positive rate (x).
    pub fpr: f64,
    /// True positive rate (y).
    pub tpr: f64,
}

impl RocPoint {
    fn of(kept: &[bool], truth: &[bool]) -> Result<RocPoint> {
        let counts = Confusion::of(kept, truth)?;
        Ok(RocPoint {
            fpr: counts.false_positive_rate(),
            tpr: counts.recall(),
        })
    }
}

fn check_scores(scores: &[f64], edges: usize) -> Result<()> {
    check_lengths("edge scores", scores.len(), edges)?;
    if let Some(edge) = scores.iter().position(|s| !s.is_finite()) {
        return Err(Error::NonFinite {
            what: format!("score of edge {edge} ({})", scores[edge]),
        });
    }
    Ok(())
}

/// The edges kept at top-k: every edge whose score is at least the k-th largest (ties all kept, as
/// auto-circuit's threshold does); none for k = 0.
pub fn top_k_with_ties(scores: &[f64], k: usize) -> Vec<bool> {
    if k == 0 {
        return vec![false; scores.len()];
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let threshold = sorted[k.min(sorted.len()) - 1];
    scores.iter().map(|&s| s >= threshold).collect()
}

/// Exactly the `n` highest-scored edges (ties broken by graph order, earlier first), as MIB's
/// `apply_topn` keeps a count, not a threshold.
pub fn top_n_exact(scores: &[f64], n: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // A stable sort keeps graph order among equal scores.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut kept = vec![false; scores.len()];
    for &edge in order.iter().take(n) {
        kept[edge] = true;
    }
    kept
}

/// ROC points of per-edge `scores` (higher = more likely in the circuit; pass |score| for
/// auto-circuit's absolute ranking) against `truth`: (0,0), then one point per top-k for every k
/// from 0 to n with ties kept, then (1,1). Consecutive repeats are dropped.
pub fn roc_from_scores(scores: &[f64], truth: &[bool]) -> Result<Vec<RocPoint>> {
    check_scores(scores, truth.len())?;
    let mut points = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
    // The origin is the empty circuit's point only when the truth is not empty; with the degenerate
    // rates above the empty circuit sits at (0,1), which the k = 0 point below records.
    let empty = RocPoint::of(&vec![false; truth.len()], truth)?;
    if empty != points[0] {
        points.push(empty);
    }
    for k in 1..=scores.len() {
        let point = RocPoint::of(&top_k_with_ties(scores, k), truth)?;
        if points.last() != Some(&point) {
            points.push(point);
        }
    }
    // Top-n reaches (1,1) unless a rate is degenerate; auto-circuit adds the corner either way.
    let corner = RocPoint { fpr: 1.0, tpr: 1.0 };
    if points.last() != Some(&corner) {
        points.push(corner);
    }
    Ok(points)
}

/// ROC points of a list of circuits (ACDC: one per tau; SP, EP: one per lambda or target) against
/// `truth`: one point per circuit, plus (0,0) and (1,1), then the points dominated by another (one
/// with no larger FPR and no smaller TPR, and different) dropped, sorted by FPR then TPR.
pub fn roc_from_circuits(circuits: &[Circuit], truth: &[bool]) -> Result<Vec<RocPoint>> {
    let mut points = vec![
        RocPoint { fpr: 0.0, tpr: 0.0 },
        RocPoint { fpr: 1.0, tpr: 1.0 },
    ];
    for circuit in circuits {
        points.push(RocPoint::of(&circuit.edges, truth)?);
    }
    Ok(pareto_front(&points))
}

/// The points no other point dominates (no larger FPR and no smaller TPR, and not equal), without
/// repeats, sorted by FPR then TPR.
pub fn pareto_front(points: &[RocPoint]) -> Vec<RocPoint> {
    let mut front: Vec<RocPoint> = points
        .iter()
        .filter(|p| {
            !points
                .iter()
                .any(|q| q != *p && q.fpr <= p.fpr && q.tpr >= p.tpr)
        })
        .copied()
        .collect();
    sort_points(&mut front);
    front.dedup();
    front
}

fn sort_points(points: &mut [RocPoint]) {
    points.sort_by(|a, b| a.fpr.total_cmp(&b.fpr).then(a.tpr.total_cmp(&b.tpr)));
}

/// Area under the curve through `points` (sorted by FPR then TPR first) by trapezoids:
/// `Σ (x_{i+1} − x_i)(y_i + y_{i+1}) / 2` (auto-circuit's `measurements_auc`). 0 for fewer than two points.
pub fn auc_trapezoid(points: &[RocPoint]) -> f64 {
    let mut sorted = points.to_vec();
    sort_points(&mut sorted);
    sorted
        .windows(2)
        .map(|w| (w[1].fpr - w[0].fpr) * (w[0].tpr + w[1].tpr) / 2.0)
        .sum()
}

/// ACDC's pessimistic step area: with the points sorted by FPR then TPR and (0,0) put first,
/// `Σ_i (1 − x_i)(y_i − y_{i−1})`: each rise in TPR counts only from its own FPR on (ACDC
/// `acdc_graphics.py:pessimistic_auc`, which expects the Pareto front, where TPR never falls).
pub fn pessimistic_auc(points: &[RocPoint]) -> f64 {
    let mut sorted = points.to_vec();
    sort_points(&mut sorted);
    let mut previous = 0.0;
    let mut area = 0.0;
    for point in sorted {
        area += (1.0 - point.fpr) * (point.tpr - previous);
        previous = point.tpr;
    }
    area
}

/// MIB's grid of edge fractions for the faithfulness curve (`n_k = int(pct · n)`).
pub const FAITHFULNESS_FRACTIONS: [f64; 10] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

/// A gap `|m(N) − m(∅)|` at or below this (relative to the larger of the two, and at least absolute)
/// is round-off, not signal: the metrics are f64 means over at most ~10^4 examples, whose summation
/// error is ~10^-12 relative at worst, so normalising by such a gap would only amplify noise.
pub const DEGENERATE_GAP: f64 = 1e-12;

/// One point of the faithfulness curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaithfulnessPoint {
    /// The requested fraction of edges (the x value, as MIB plots it).
    pub fraction: f64,
    /// Edges kept: `int(fraction · n)`.
    pub edges: usize,
    /// The metric of that circuit.
    pub metric: f64,
    /// Normalised faithfulness; `None` when the curve is degenerate (m(N) = m(∅)).
    pub faithfulness: Option<f64>,
}

/// MIB's faithfulness curve with its two areas.
#[derive(Debug, Clone, PartialEq)]
pub struct Faithfulness {
    /// The metric of the full model, m(N).
    pub full: f64,
    /// The metric with every edge ablated, m(∅).
    pub empty: f64,
    /// One point per fraction of [`FAITHFULNESS_FRACTIONS`].
    pub points: Vec<FaithfulnessPoint>,
    /// Area under f (higher is better); `None` when degenerate.
    pub cpr: Option<f64>,
    /// Area under |1 − f| (lower is better); `None` when degenerate.
    pub cmd: Option<f64>,
}

impl Faithfulness {
    /// Whether m(N) and m(∅) agree (within [`DEGENERATE_GAP`]): then every circuit's f is 0/0, the
    /// metric cannot tell the model from nothing, and f, CPR and CMD are reported as undefined (`None`)
    /// rather than as a number that would rank methods on round-off.
    pub fn is_degenerate(&self) -> bool {
        self.cpr.is_none()
    }
}

/// MIB's faithfulness of the top-scored edges: for each fraction of [`FAITHFULNESS_FRACTIONS`] the
/// circuit of the `int(fraction · n)` highest-scored edges (exactly that many, ties by graph order;
/// node masks on), `f = (m(C) − m(∅)) / (m(N) − m(∅))`, then CPR = `Σ (x_{i+1} − x_i)(f_i + f_{i+1})/2`
/// and CMD = `Σ (x_{i+1} − x_i)(|1 − f_i| + |1 − f_{i+1}|)/2` over the fractions as given (linear
/// axis, from 0.001, not normalised by the width). `metric` evaluates a circuit (e.g. the mean logit
/// difference, or KL to the full model: any metric works because f is normalised).
///
/// MIB prunes dangling edges after `apply_topn`; that is not done here because in the masked forward an
/// edge into a component with no kept outgoing edge cannot change the output, so m(C) is the same.
pub fn faithfulness<F>(graph: &EdgeGraph, scores: &[f64], mut metric: F) -> Result<Faithfulness>
where
    F: FnMut(&Circuit) -> Result<f64>,
{
    let n = graph.num_edges();
    check_scores(scores, n)?;
    let full = metric(&Circuit::full(graph))?;
    let empty = metric(&Circuit::from_edges(graph, vec![false; n]))?;
    for (what, value) in [("m(N), the full model's metric", full), ("m(∅)", empty)] {
        if !value.is_finite() {
            return Err(Error::NonFinite {
                what: format!("{what} ({value})"),
            });
        }
    }
    let gap = full - empty;
    let degenerate = gap.abs() <= DEGENERATE_GAP * full.abs().max(empty.abs()).max(1.0);
    let mut points = Vec::with_capacity(FAITHFULNESS_FRACTIONS.len());
    for &fraction in &FAITHFULNESS_FRACTIONS {
        // Python's int(pct * n): the f64 product truncated, as MIB computes it.
        let edges = (fraction * n as f64) as usize;
        let value = metric(&Circuit::from_edges(graph, top_n_exact(scores, edges)))?;
        points.push(FaithfulnessPoint {
            fraction,
            edges,
            metric: value,
            faithfulness: (!degenerate).then(|| (value - empty) / gap),
        });
    }
    let (cpr, cmd) = if degenerate {
        (None, None)
    } else {
        let curve: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.fraction, p.faithfulness.unwrap_or(f64::NAN)))
            .collect();
        (
            Some(trapezoid(&curve, |f| f)),
            Some(trapezoid(&curve, |f| (1.0 - f).abs())),
        )
    };
    Ok(Faithfulness {
        full,
        empty,
        points,
        cpr,
        cmd,
    })
}

/// `Σ (x_{i+1} − x_i)(g(y_i) + g(y_{i+1}))/2` over consecutive points.
fn trapezoid(curve: &[(f64, f64)], g: impl Fn(f64) -> f64) -> f64 {
    curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (g(w[0].1) + g(w[1].1)) / 2.0)
        .sum()
}

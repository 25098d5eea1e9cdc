//! ROC points and areas against a truth: a perfect ranking scores 1, a reversed one 0, hand-computed
//! ACDC-style curves match, and degenerate truths give the documented values instead of panicking.

use edgeprune::circuit::Circuit;
use edgeprune::error::Error;
use edgeprune::graph::EdgeGraph;
use edgeprune::scores::{
    auc_trapezoid, pessimistic_auc, precision_recall, roc_from_circuits, roc_from_scores,
    top_k_with_ties, RocPoint,
};
use proptest::prelude::*;

/// Round-off of a sum of at most a few hundred products of numbers in [0, 1].
const AREA_TOLERANCE: f64 = 1e-12;

/// A truth with at least one edge in and one edge out, and scores in [0, 1).
fn truth_and_scores() -> impl Strategy<Value = (Vec<bool>, Vec<f64>)> {
    (2usize..60)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(0.0f64..1.0, n),
                0..n,
                0..n,
            )
        })
        .prop_map(|(mut truth, scores, a, b)| {
            // Force both classes to be present (a == b is fixed by the next index).
            let b = if a == b { (b + 1) % truth.len() } else { b };
            truth[a] = true;
            truth[b] = false;
            (truth, scores)
        })
}

proptest! {
    #[test]
    fn a_perfect_ranking_has_auc_one((truth, raw) in truth_and_scores()) {
        // Every truth edge scores above every other edge (ties among each group allowed).
        let scores: Vec<f64> = truth.iter().zip(&raw).map(|(&t, &s)| if t { 1.0 + s } else { s }).collect();
        let points = roc_from_scores(&scores, &truth).unwrap();
        let trapezoid = auc_trapezoid(&points);
        let pessimistic = pessimistic_auc(&points);
        prop_assert!((trapezoid - 1.0).abs() < AREA_TOLERANCE, "trapezoid AUC {trapezoid} != 1 for truth {truth:?} scores {scores:?}");
        prop_assert!((pessimistic - 1.0).abs() < AREA_TOLERANCE, "pessimistic AUC {pessimistic} != 1 for truth {truth:?} scores {scores:?}");
    }

    #[test]
    fn a_reversed_ranking_has_auc_zero((truth, raw) in truth_and_scores()) {
        let scores: Vec<f64> = truth.iter().zip(&raw).map(|(&t, &s)| if t { s } else { 1.0 + s }).collect();
        let points = roc_from_scores(&scores, &truth).unwrap();
        let trapezoid = auc_trapezoid(&points);
        let pessimistic = pessimistic_auc(&points);
        prop_assert!(trapezoid.abs() < AREA_TOLERANCE, "trapezoid AUC {trapezoid} != 0 for truth {truth:?} scores {scores:?}");
        prop_assert!(pessimistic.abs() < AREA_TOLERANCE, "pessimistic AUC {pessimistic} != 0 for truth {truth:?} scores {scores:?}");
    }

    #[test]
    fn auc_is_between_zero_and_one((truth, scores) in truth_and_scores()) {
        let points = roc_from_scores(&scores, &truth).unwrap();
        let auc = auc_trapezoid(&points);
        prop_assert!((-AREA_TOLERANCE..=1.0 + AREA_TOLERANCE).contains(&auc), "AUC {auc} for truth {truth:?} scores {scores:?}");
        prop_assert_eq!(points.first(), Some(&RocPoint { fpr: 0.0, tpr: 0.0 }));
        prop_assert_eq!(points.last(), Some(&RocPoint { fpr: 1.0, tpr: 1.0 }));
    }
}

#[test]
fn top_k_keeps_every_edge_tied_with_the_kth() {
    let kept = top_k_with_ties(&[3.0, 1.0, 3.0, 2.0], 1);
    assert_eq!(kept, vec![true, false, true, false]);
    assert_eq!(
        top_k_with_ties(&[3.0, 1.0, 3.0, 2.0], 3),
        vec![true, false, true, true]
    );
    assert_eq!(top_k_with_ties(&[3.0, 1.0], 0), vec![false, false]);
}

#[test]
fn ties_make_one_point_per_distinct_threshold() {
    // Truth {0, 1}; edges 1 and 2 tie, so top-2 and top-3 are the same circuit {0, 1, 2}.
    let truth = [true, true, false, false];
    let points = roc_from_scores(&[4.0, 2.0, 2.0, 1.0], &truth).unwrap();
    let expected = [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)];
    let got: Vec<(f64, f64)> = points.iter().map(|p| (p.fpr, p.tpr)).collect();
    assert_eq!(
        got, expected,
        "ROC points of scores [4,2,2,1] against truth {truth:?}"
    );
}

/// Truth = edges 0..4 of 8; circuits at (FPR, TPR) = (0.25, 0.5), (0.5, 0.75) and the dominated
/// (0.5, 0.25).
fn acdc_example() -> (Vec<bool>, Vec<Circuit>) {
    let graph = EdgeGraph::new(1, 1);
    let n = graph.num_edges();
    let truth: Vec<bool> = (0..n).map(|e| e < 4).collect();
    let circuit = |kept: &[usize]| {
        let mut edges = vec![false; n];
        for &e in kept {
            edges[e] = true;
        }
        Circuit::from_edges(&graph, edges)
    };
    // 13 edges: 4 positives and 9 negatives, so one false positive is FPR 1/9.
    (
        truth,
        vec![
            circuit(&[0, 1, 4]),
            circuit(&[0, 1, 2, 4, 5]),
            circuit(&[0, 4, 5]),
        ],
    )
}

#[test]
fn circuit_roc_is_the_pareto_front_with_the_corners() {
    let (truth, circuits) = acdc_example();
    let points = roc_from_circuits(&circuits, &truth).unwrap();
    let got: Vec<(f64, f64)> = points.iter().map(|p| (p.fpr, p.tpr)).collect();
    let expected = vec![(0.0, 0.0), (1.0 / 9.0, 0.5), (2.0 / 9.0, 0.75), (1.0, 1.0)];
    assert_eq!(got, expected, "ACDC-style ROC points");
}

#[test]
fn pessimistic_and_trapezoid_auc_match_hand_computation() {
    let (truth, circuits) = acdc_example();
    let points = roc_from_circuits(&circuits, &truth).unwrap();
    // Σ (1 − x_i)(y_i − y_{i−1}) = (1 − 1/9)·0.5 + (1 − 2/9)·0.25 + (1 − 1)·0.25.
    let pessimistic = (8.0 / 9.0) * 0.5 + (7.0 / 9.0) * 0.25;
    // Σ (x_{i+1} − x_i)(y_i + y_{i+1})/2 over (0,0), (1/9,.5), (2/9,.75), (1,1).
    let trapezoid =
        (1.0 / 9.0) * 0.25 + (1.0 / 9.0) * (0.5 + 0.75) / 2.0 + (7.0 / 9.0) * (0.75 + 1.0) / 2.0;
    let got_pessimistic = pessimistic_auc(&points);
    let got_trapezoid = auc_trapezoid(&points);
    assert!(
        (got_pessimistic - pessimistic).abs() < AREA_TOLERANCE,
        "pessimistic AUC {got_pessimistic} != {pessimistic} for {points:?}"
    );
    assert!(
        (got_trapezoid - trapezoid).abs() < AREA_TOLERANCE,
        "trapezoid AUC {got_trapezoid} != {trapezoid} for {points:?}"
    );
}

#[test]
fn degenerate_truths_give_auc_one_for_every_ranking() {
    let scores = [0.3, 0.1, 0.7, 0.2];
    for truth in [[false; 4], [true; 4]] {
        let points = roc_from_scores(&scores, &truth).unwrap();
        let auc = auc_trapezoid(&points);
        assert!(
            (auc - 1.0).abs() < AREA_TOLERANCE,
            "AUC {auc} for truth {truth:?}: {points:?}"
        );
        let circuits = roc_from_circuits(&[], &truth).unwrap();
        assert_eq!(
            circuits.len(),
            2,
            "corners only for truth {truth:?}: {circuits:?}"
        );
    }
    // No edge at all: no panic, the corners only.
    let points = roc_from_scores(&[], &[]).unwrap();
    assert_eq!(points.last(), Some(&RocPoint { fpr: 1.0, tpr: 1.0 }));
}

#[test]
fn precision_recall_conventions_on_degenerate_circuits() {
    let graph = EdgeGraph::new(1, 1);
    let n = graph.num_edges();
    let empty = Circuit::from_edges(&graph, vec![false; n]);
    let full = Circuit::full(&graph);
    // Nothing kept against a non-empty truth: precision 1 (no claim), recall 0, F1 0.
    let pr = precision_recall(&empty, &full).unwrap();
    assert_eq!((pr.precision, pr.recall, pr.f1), (1.0, 0.0, 0.0));
    // Empty against empty: nothing to find, nothing claimed.
    let pr = precision_recall(&empty, &empty).unwrap();
    assert_eq!((pr.precision, pr.recall, pr.f1), (1.0, 1.0, 1.0));
    // Everything against an empty truth: precision 0, recall 1 (vacuous), F1 0.
    let pr = precision_recall(&full, &empty).unwrap();
    assert_eq!((pr.precision, pr.recall, pr.f1), (0.0, 1.0, 0.0));
    // Half right: truth {0, 1}, found {1, 2} → P = R = F1 = 1/2.
    let mut truth = vec![false; n];
    truth[0] = true;
    truth[1] = true;
    let mut found = vec![false; n];
    found[1] = true;
    found[2] = true;
    let pr = precision_recall(
        &Circuit::from_edges(&graph, found),
        &Circuit::from_edges(&graph, truth),
    )
    .unwrap();
    assert_eq!((pr.precision, pr.recall, pr.f1), (0.5, 0.5, 0.5));
}

#[test]
fn mismatched_lengths_and_non_finite_scores_are_errors() {
    match roc_from_scores(&[1.0, 2.0], &[true]) {
        Err(Error::Shape { expected, got, .. }) => {
            assert_eq!((expected, got), ("1".into(), "2".into()))
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    match roc_from_scores(&[1.0, f64::NAN], &[true, false]) {
        Err(Error::NonFinite { what }) => assert!(what.contains("edge 1"), "{what}"),
        other => panic!("expected a non-finite error, got {other:?}"),
    }
}

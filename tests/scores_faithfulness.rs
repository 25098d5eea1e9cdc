//! MIB faithfulness, CPR and CMD equal hand-computed trapezoids, on a metric that adds up per-edge
//! weights; a metric that cannot tell the full model from the empty circuit is reported as degenerate.

use std::cell::RefCell;

use edgeprune::circuit::Circuit;
use edgeprune::error::Error;
use edgeprune::graph::EdgeGraph;
use edgeprune::scores::{faithfulness, FAITHFULNESS_FRACTIONS};

/// Round-off of ten-term sums of products of numbers below 1.
const TOLERANCE: f64 = 1e-12;

/// Per-edge weights of the 13-edge graph (one layer, one head): the metric of a circuit is the sum of
/// its edges' weights, so m(∅) = 0 and m(N) = 10.
const WEIGHTS: [f64; 13] = [
    4.0, 2.0, -1.0, 1.0, 1.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];

#[test]
fn cpr_and_cmd_are_the_hand_computed_trapezoids() {
    let graph = EdgeGraph::new(1, 1);
    assert_eq!(graph.num_edges(), 13);
    // Edge 0 scores highest, then 1, 2, ...
    let scores: Vec<f64> = (0..13).map(|e| 13.0 - e as f64).collect();
    let seen = RefCell::new(Vec::new());
    let result = faithfulness(&graph, &scores, |c: &Circuit| {
        seen.borrow_mut().push(c.num_edges());
        Ok(c.edges
            .iter()
            .zip(WEIGHTS)
            .filter(|(&k, _)| k)
            .map(|(_, w)| w)
            .sum())
    })
    .unwrap();
    assert_eq!((result.full, result.empty), (10.0, 0.0));
    // n_k = int(pct · 13): 0 six times, then 1, 2, 6, 13; f = (4, 6, 10, 10)/10 at those.
    let edges: Vec<usize> = result.points.iter().map(|p| p.edges).collect();
    assert_eq!(edges, vec![0, 0, 0, 0, 0, 0, 1, 2, 6, 13]);
    assert_eq!(
        *seen.borrow(),
        vec![13, 0, 0, 0, 0, 0, 0, 0, 1, 2, 6, 13],
        "circuit sizes evaluated (N, ∅, then the grid)"
    );
    let f: Vec<f64> = result
        .points
        .iter()
        .map(|p| p.faithfulness.unwrap())
        .collect();
    let expected_f = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.6, 1.0, 1.0];
    for (got, want) in f.iter().zip(expected_f) {
        assert!((got - want).abs() < TOLERANCE, "f {f:?} != {expected_f:?}");
    }
    // CPR: only the last four segments have f > 0.
    let cpr: f64 = 0.05 * (0.0 + 0.4) / 2.0
        + 0.1 * (0.4 + 0.6) / 2.0
        + 0.3 * (0.6 + 1.0) / 2.0
        + 0.5 * (1.0 + 1.0) / 2.0;
    // CMD: |1 − f| is 1 up to x = 0.05, then 0.6, 0.4, 0, 0.
    let cmd: f64 = 0.001
        + 0.003
        + 0.005
        + 0.01
        + 0.03
        + 0.05 * (1.0 + 0.6) / 2.0
        + 0.1 * (0.6 + 0.4) / 2.0
        + 0.3 * (0.4 + 0.0) / 2.0;
    assert!(
        (cpr - 0.8).abs() < TOLERANCE && (cmd - 0.199).abs() < TOLERANCE,
        "hand sums {cpr} {cmd}"
    );
    let (got_cpr, got_cmd) = (result.cpr.unwrap(), result.cmd.unwrap());
    assert!((got_cpr - cpr).abs() < TOLERANCE, "CPR {got_cpr} != {cpr}");
    assert!((got_cmd - cmd).abs() < TOLERANCE, "CMD {got_cmd} != {cmd}");
    assert_eq!(
        result.points.iter().map(|p| p.fraction).collect::<Vec<_>>(),
        FAITHFULNESS_FRACTIONS.to_vec()
    );
}

#[test]
fn top_n_keeps_exactly_n_edges_ties_in_graph_order() {
    let graph = EdgeGraph::new(1, 1);
    // All scores tie: the 6 edges at 50 % are edges 0..6.
    let scores = vec![1.0; 13];
    let kept_at_half = RefCell::new(None);
    faithfulness(&graph, &scores, |c: &Circuit| {
        if c.num_edges() == 6 {
            *kept_at_half.borrow_mut() = Some(c.edges.clone());
        }
        Ok(c.num_edges() as f64)
    })
    .unwrap();
    let expected: Vec<bool> = (0..13).map(|e| e < 6).collect();
    assert_eq!(kept_at_half.into_inner(), Some(expected));
}

#[test]
fn a_metric_that_cannot_tell_full_from_empty_is_degenerate() {
    let graph = EdgeGraph::new(1, 1);
    let scores: Vec<f64> = (0..13).map(|e| e as f64).collect();
    let result = faithfulness(&graph, &scores, |c: &Circuit| {
        Ok(if c.num_edges() == 1 { 5.0 } else { 2.0 })
    })
    .unwrap();
    assert!(result.is_degenerate());
    assert_eq!((result.cpr, result.cmd), (None, None));
    assert!(
        result.points.iter().all(|p| p.faithfulness.is_none()),
        "{:?}",
        result.points
    );
    // The raw metric values are still reported.
    assert_eq!(result.points[6].metric, 5.0);
}

#[test]
fn metric_errors_and_bad_scores_propagate() {
    let graph = EdgeGraph::new(1, 1);
    let failing = faithfulness(&graph, &[0.0; 13], |_: &Circuit| {
        Err(Error::Unsupported {
            message: "test metric".into(),
        })
    });
    assert!(
        matches!(failing, Err(Error::Unsupported { .. })),
        "{failing:?}"
    );
    let short = faithfulness(&graph, &[0.0; 3], |_: &Circuit| Ok(0.0));
    assert!(matches!(short, Err(Error::Shape { .. })), "{short:?}");
    let nan = faithfulness(&graph, &[0.0; 13], |c: &Circuit| {
        Ok(if c.num_edges() == 0 { f64::NAN } else { 1.0 })
    });
    assert!(matches!(nan, Err(Error::NonFinite { .. })), "{nan:?}");
}

//! Comparing a found circuit with the set of known minimal circuits: nearest (highest F1, then smallest
//! symmetric difference, then first), exact match, and whether a smaller one is known.

use edgeprune::circuit::Circuit;
use edgeprune::graph::EdgeGraph;
use edgeprune::truth::{equals_any, nearest, smaller_known};

fn circuit(graph: &EdgeGraph, kept: &[usize]) -> Circuit {
    let mut edges = vec![false; graph.num_edges()];
    for &e in kept {
        edges[e] = true;
    }
    Circuit::from_edges(graph, edges)
}

#[test]
fn nearest_is_highest_f1_then_smallest_difference_then_first() {
    let graph = EdgeGraph::new(1, 1);
    let set = vec![
        circuit(&graph, &[0, 1, 2, 3]),
        circuit(&graph, &[0, 1, 5]),
        circuit(&graph, &[7, 8]),
    ];
    // Found {0, 1, 5, 6}: F1 against #0 = 2·(2/4·2/4)/(1) = 0.5, #1 = 2·(3/4·1)/(7/4) = 6/7, #2 = 0.
    let found = circuit(&graph, &[0, 1, 5, 6]);
    assert_eq!(nearest(&found, &set), Some(1));
    // Found {} has F1 0 against all: ties by symmetric difference, #2 (2 edges) wins.
    assert_eq!(nearest(&circuit(&graph, &[]), &set), Some(2));
    // Equal F1 and difference: the first.
    let twins = vec![circuit(&graph, &[0, 1]), circuit(&graph, &[0, 2])];
    assert_eq!(nearest(&circuit(&graph, &[0]), &twins), Some(0));
    assert_eq!(nearest(&found, &[]), None);
}

#[test]
fn equals_any_compares_edges_only() {
    let graph = EdgeGraph::new(1, 1);
    let set = vec![circuit(&graph, &[0, 1]), circuit(&graph, &[2])];
    let mut found = circuit(&graph, &[2]);
    found.nodes[0] = false;
    assert_eq!(
        equals_any(&found, &set),
        Some(1),
        "node masks must not matter"
    );
    assert_eq!(equals_any(&circuit(&graph, &[0]), &set), None);
}

#[test]
fn smaller_known_counts_edges() {
    let graph = EdgeGraph::new(1, 1);
    let set = vec![circuit(&graph, &[0, 1, 2]), circuit(&graph, &[3, 4])];
    assert!(smaller_known(&circuit(&graph, &[5, 6, 7]), &set));
    assert!(!smaller_known(&circuit(&graph, &[5, 6]), &set));
    assert!(!smaller_known(&circuit(&graph, &[5]), &[]));
}

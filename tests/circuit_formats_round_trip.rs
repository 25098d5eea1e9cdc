//! Writing a circuit in any format and reading it back gives the circuit again, on the edge graph of
//! every library program: exactly for the formats that keep `tok` and `pos` apart (ours, Edge Pruning's
//! pairs, TransformerLens hooks), and up to the stated embedding merge for MIB, auto-circuit and Edge
//! Pruning's ACDC wrapper; there, dropping the merged partners outside the structural circuit gives the
//! circuit back whenever its embedding edges are not split between `tok` and `pos` at a reader that
//! both reach. MIB also carries every edge's score (a merged edge keeps the larger in magnitude).

use edgeprune::circuit::Circuit;
use edgeprune::cli::program::ModelArgs;
use edgeprune::formats::{merge_embeddings, read_circuit, write_circuit, CircuitFormat};
use edgeprune::graph::EdgeGraph;
use edgeprune::model::Transformer;
use edgeprune::rng::Rng;
use edgeprune::truth::structural;

/// The structural circuit, every other edge of it, a seeded random half of the graph, none and all.
fn circuits(graph: &EdgeGraph, structural: &Circuit, seed: u64) -> Vec<(String, Circuit)> {
    let mut rng = Rng::new(seed);
    let mut alternate = structural.clone();
    for (count, kept) in alternate.edges.iter_mut().filter(|k| **k).enumerate() {
        *kept = count % 2 == 0;
    }
    let random = (0..graph.num_edges()).map(|_| rng.below(2) == 1).collect();
    vec![
        ("structural".into(), structural.clone()),
        ("every other structural edge".into(), alternate),
        ("random half".into(), Circuit::from_edges(graph, random)),
        (
            "empty".into(),
            Circuit::from_edges(graph, vec![false; graph.num_edges()]),
        ),
        ("full".into(), Circuit::full(graph)),
    ]
}

#[test]
fn every_format_round_trips_every_library_program() {
    for (index, name) in tracr::library::names().into_iter().enumerate() {
        let compiled = ModelArgs::library(name).compile().unwrap();
        let model = Transformer::from_compiled(&compiled.model).unwrap();
        let graph = EdgeGraph::for_model(&model);
        let structural = structural(&model);
        let mut rng = Rng::new(1000 + index as u64);
        let scores: Vec<f64> = (0..graph.num_edges())
            .map(|_| rng.below(2001) as f64 / 1000.0 - 1.0)
            .collect();
        for (label, circuit) in circuits(&graph, &structural, index as u64) {
            for format in CircuitFormat::ALL {
                let written =
                    write_circuit(&graph, &circuit, Some(&scores), format, model.d_model());
                let read = read_circuit(&graph, &written, None)
                    .unwrap_or_else(|e| panic!("{name}, {label}, {format:?}: {e}\n{written}"));
                // An empty list is every list format's empty circuit; any other file names its format.
                if written != serde_json::json!([]) {
                    assert_eq!(read.format, format, "{name}, {label}: detected format");
                }
                let expected = if format.merges_embeddings() {
                    merge_embeddings(&graph, &circuit)
                } else {
                    circuit.clone()
                };
                assert_eq!(
                    read.circuit.kept_edge_names(&graph),
                    expected.kept_edge_names(&graph),
                    "{name}, {label}, {format:?}: read back (left) vs written (right)"
                );
                // Writing what was read gives the same file.
                let again = write_circuit(
                    &graph,
                    &read.circuit,
                    Some(&scores),
                    format,
                    model.d_model(),
                );
                assert_eq!(again, written, "{name}, {label}, {format:?}: second write");
                if format == CircuitFormat::Mib {
                    let got = read.scores.expect("MIB files score every edge");
                    for reader in 0..graph.num_readers() {
                        let pair = (graph.edge_index(0, reader), graph.edge_index(1, reader));
                        for (edge, &score) in scores.iter().enumerate() {
                            let want = match pair {
                                (Some(tok), Some(pos)) if edge == tok || edge == pos => {
                                    if scores[tok].abs() >= scores[pos].abs() {
                                        scores[tok]
                                    } else {
                                        scores[pos]
                                    }
                                }
                                _ => score,
                            };
                            if graph.edges()[edge].reader == reader {
                                assert_eq!(
                                    got[edge],
                                    want,
                                    "{name}, {label}: MIB score of {}",
                                    graph.edge_names()[edge]
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether `circuit` keeps `tok->r` without `pos->r` (or the reverse) at a reader both reach structurally.
fn split_at_shared_reader(graph: &EdgeGraph, structural: &Circuit, circuit: &Circuit) -> bool {
    (0..graph.num_readers()).any(|reader| {
        match (graph.edge_index(0, reader), graph.edge_index(1, reader)) {
            (Some(tok), Some(pos)) => {
                structural.edges[tok]
                    && structural.edges[pos]
                    && circuit.edges[tok] != circuit.edges[pos]
            }
            _ => false,
        }
    })
}

#[test]
fn merged_formats_give_structural_subsets_back_after_dropping_silent_partners() {
    let (mut identical, mut split) = (0, 0);
    for (index, name) in tracr::library::names().into_iter().enumerate() {
        let compiled = ModelArgs::library(name).compile().unwrap();
        let model = Transformer::from_compiled(&compiled.model).unwrap();
        let graph = EdgeGraph::for_model(&model);
        let structural = structural(&model);
        let subsets: Vec<(String, Circuit)> = circuits(&graph, &structural, index as u64)
            .into_iter()
            .map(|(label, c)| {
                let edges = c
                    .edges
                    .iter()
                    .zip(&structural.edges)
                    .map(|(&a, &b)| a && b)
                    .collect();
                (label, Circuit::from_edges(&graph, edges))
            })
            .collect();
        for (label, circuit) in subsets {
            // What the merge rule promises: the circuit plus the merged partners that reach the output.
            let merged = merge_embeddings(&graph, &circuit);
            let promised: Vec<bool> = merged
                .edges
                .iter()
                .zip(&structural.edges)
                .map(|(&a, &b)| a && b)
                .collect();
            for format in CircuitFormat::ALL
                .into_iter()
                .filter(|f| f.merges_embeddings())
            {
                let written = write_circuit(&graph, &circuit, None, format, model.d_model());
                let mut read = read_circuit(&graph, &written, Some(format)).unwrap();
                read.drop_structurally_silent(&structural);
                assert_eq!(
                    read.circuit.edges,
                    promised,
                    "{name}, {label}, {format:?}: read back {:?}",
                    read.circuit.kept_edge_names(&graph)
                );
                if split_at_shared_reader(&graph, &structural, &circuit) {
                    split += 1;
                } else {
                    assert_eq!(
                        read.circuit, circuit,
                        "{name}, {label}, {format:?}: not split, so identical"
                    );
                    identical += 1;
                }
            }
        }
    }
    // Both cases occur, so both branches above were exercised.
    assert!(
        identical > 0 && split > 0,
        "identical {identical}, split {split}"
    );
}

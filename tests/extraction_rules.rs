//! Edge Pruning's extraction rule and ours on hand-built log-alphas with known answers.

use edgeprune::backend::Lambdas;
use edgeprune::extract::{extract, prune_dangling, Circuit, ExtractionRule};
use edgeprune::masks::layout::{ParameterLayout, Slot};
use edgeprune::masks::parameters::MaskParameters;

fn reverse_layout() -> ParameterLayout {
    ParameterLayout::new(4, 1).expect("layout")
}

fn edge(layout: &ParameterLayout, name: &str) -> usize {
    (0..layout.num_edges())
        .find(|&e| layout.edge_name(e) == name)
        .unwrap_or_else(|| panic!("no edge {name}"))
}

/// Every log-alpha at `value`.
fn uniform_parameters(layout: &ParameterLayout, value: f64) -> MaskParameters {
    MaskParameters {
        edge_log_alpha: vec![value; layout.num_edges()],
        node_log_alpha: vec![value; layout.num_writers()],
        padding_log_alpha: vec![value; layout.num_padding],
        edge_lambdas: Lambdas::default(),
        node_lambdas: Lambdas::default(),
    }
}

#[test]
fn edge_pruning_rule_keeps_a_negative_edge_when_the_tensor_count_rounds_down() {
    // Layer 3's q tensor has 8 real entries and 2 padded ones (writers a3.h0, m3). With one real entry at
    // −2.07, six at −5 and one plus the padding at 10, Σ P(z=0) ≈ 6.42 rounds to 6 zeros: the −2.07 entry
    // survives with soft mask 0.077 > 0.005 (the fixture's tensor [−2.07, −5×6, 10×3]).
    let layout = reverse_layout();
    let mut parameters = uniform_parameters(&layout, 10.0);
    let q3 = layout
        .tensors
        .iter()
        .find(|t| t.name == "blocks.3.attn.q_read_log_alphas")
        .expect("q tensor");
    let real: Vec<usize> = q3
        .slots
        .iter()
        .filter_map(|s| match s {
            Slot::Edge(e) => Some(*e),
            _ => None,
        })
        .collect();
    assert_eq!(real.len(), 8);
    parameters.edge_log_alpha[real[0]] = -2.07;
    for &e in &real[1..7] {
        parameters.edge_log_alpha[e] = -5.0;
    }
    let spurious = layout.edge_name(real[0]);
    let theirs = extract(&layout, &parameters, ExtractionRule::edge_pruning());
    assert!(theirs.edges[real[0]], "EP rule should keep {spurious}");
    assert!(
        real[1..7].iter().all(|&e| !theirs.edges[e]),
        "EP rule drops the −5 edges"
    );
    let ours = extract(&layout, &parameters, ExtractionRule::PositiveLogAlpha);
    assert!(
        !ours.edges[real[0]],
        "log_alpha > 0 rule should drop {spurious}"
    );
}

#[test]
fn edge_pruning_rule_drops_edges_of_removed_writers() {
    let layout = reverse_layout();
    let mut parameters = uniform_parameters(&layout, 10.0);
    let m0 = layout.writers.iter().position(|w| w == "m0").expect("m0");
    parameters.node_log_alpha[m0] = -10.0;
    let circuit = extract(&layout, &parameters, ExtractionRule::edge_pruning());
    assert!(!circuit.nodes[m0]);
    assert!(!circuit.edges[edge(&layout, "m0->resid_post")]);
    assert!(
        circuit.edges[edge(&layout, "tok->m0")],
        "edges into a removed node are still reported"
    );
}

fn circuit_with(layout: &ParameterLayout, names: &[&str]) -> Circuit {
    let mut edges = vec![false; layout.num_edges()];
    for name in names {
        edges[edge(layout, name)] = true;
    }
    Circuit {
        edges,
        nodes: vec![true; layout.num_writers()],
    }
}

#[test]
fn dangling_edges_are_removed_and_connected_ones_stay() {
    let layout = reverse_layout();
    let connected = [
        "tok->a0.h0.v",
        "pos->a0.h0.q",
        "a0.h0->m0",
        "m0->resid_post",
    ];
    let dangling = [
        "tok->a1.h0.q", // a1.h0 has no value input, so its output does not depend on the input
        "a1.h0->resid_post", // ... and neither does this edge
        "tok->m1",      // m1 feeds nothing
        "a2.h0->resid_post", // a2.h0 has no input at all
    ];
    let all: Vec<&str> = connected.iter().chain(&dangling).copied().collect();
    let mut circuit = circuit_with(&layout, &all);
    prune_dangling(&layout, &mut circuit);
    let mut found = circuit.edge_names(&layout);
    found.sort();
    let mut want: Vec<String> = connected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "from {all:?}");
    let a1 = layout
        .writers
        .iter()
        .position(|w| w == "a1.h0")
        .expect("a1");
    assert!(
        !circuit.nodes[a1],
        "a1.h0 left without edges is switched off"
    );
}

#[test]
fn positive_rule_applies_the_writer_node_mask_before_pruning() {
    // The whole model kept except node a0.h0: every edge out of it goes, and nothing else dangles.
    let layout = reverse_layout();
    let mut parameters = uniform_parameters(&layout, 3.0);
    let a0 = layout
        .writers
        .iter()
        .position(|w| w == "a0.h0")
        .expect("a0");
    parameters.node_log_alpha[a0] = -1.0;
    let circuit = extract(&layout, &parameters, ExtractionRule::PositiveLogAlpha);
    for e in 0..layout.num_edges() {
        let from_a0 = layout.edge_writer[e] == a0;
        let into_a0 = layout.reader_node(layout.edge_reader[e]) == Some(a0);
        assert_eq!(
            circuit.edges[e],
            !from_a0 && !into_a0,
            "edge {}",
            layout.edge_name(e)
        );
    }
}

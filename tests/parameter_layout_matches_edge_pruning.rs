//! Our Edge Pruning tensor layout gives the fixture's canonical edge order and counts for both Tracr models.

use edgeprune::masks::layout::{ParameterLayout, Slot};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/fixtures/edge-pruning/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).expect("parse fixture")
}

fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

fn check(file: &str) {
    let fx = fixture(file);
    let dims = &fx["dims"];
    let layers = dims["num_layers"].as_u64().expect("num_layers") as usize;
    let heads = dims["num_heads"].as_u64().expect("num_heads") as usize;
    let layout = ParameterLayout::new(layers, heads).expect("layout");
    assert_eq!(layout.writers, names(&fx["writers"]), "{file} writers");
    assert_eq!(layout.readers, names(&fx["readers"]), "{file} readers");
    let edges: Vec<String> = (0..layout.num_edges())
        .map(|e| layout.edge_name(e))
        .collect();
    assert_eq!(edges, names(&fx["edges"]), "{file} edge order");
    // Every edge and every node appears in exactly one tensor slot.
    let mut edge_seen = vec![0; layout.num_edges()];
    let mut node_seen = vec![0; layout.num_writers()];
    let mut padding = 0;
    for tensor in &layout.tensors {
        for slot in &tensor.slots {
            match *slot {
                Slot::Edge(i) => edge_seen[i] += 1,
                Slot::Node(i) => node_seen[i] += 1,
                Slot::Padding(_) => padding += 1,
            }
        }
    }
    assert!(
        edge_seen.iter().all(|&c| c == 1),
        "{file} edges per slot {edge_seen:?}"
    );
    assert!(
        node_seen.iter().all(|&c| c == 1),
        "{file} nodes per slot {node_seen:?}"
    );
    assert_eq!(padding, layout.num_padding, "{file} padding count");
}

#[test]
fn reverse_layout_matches_fixture_order() {
    check("ep_masked_forward_reverse.json");
}

#[test]
fn xproportion_layout_matches_fixture_order() {
    check("ep_masked_forward_xproportion.json");
}

#[test]
fn reverse_tensors_have_edge_prunings_shapes_and_padding() {
    // L=4, H=1, W=10: layer l's q/k/v tensors are [10,1] with 2+2l valid rows; the MLP reader
    // [10] has 3+2l valid rows. Padding = Σ_l 3(8−2l) + (7−2l) = 3·20 + 16 = 76.
    let layout = ParameterLayout::new(4, 1).expect("layout");
    assert_eq!(layout.num_edges(), 94);
    assert_eq!(layout.num_padding, 76);
    let q2 = layout
        .tensors
        .iter()
        .find(|t| t.name == "blocks.2.attn.q_read_log_alphas")
        .expect("q tensor of layer 2");
    assert_eq!(q2.slots.len(), 10);
    let valid = q2
        .slots
        .iter()
        .filter(|s| matches!(s, Slot::Edge(_)))
        .count();
    assert_eq!(
        valid, 6,
        "writers tok, pos, a0.h0, m0, a1.h0, m1 feed a2.h0.q"
    );
}

#[test]
fn multi_head_edge_count_matches_edge_prunings_formula() {
    // n_total_edges for L=2, H=2 (E=2): Σ_l [3H(2+3l) + 2+3l+H] + 2 + L(H+1)
    // = [6·2 + 4] + [6·5 + 7] + 2 + 6 = 16 + 37 + 8 = 61.
    let layout = ParameterLayout::new(2, 2).expect("layout");
    assert_eq!(layout.num_edges(), 61);
    assert_eq!(layout.reader_node(0), Some(2), "a0.h0.q feeds a0.h0");
    assert_eq!(
        layout.reader_node(5),
        Some(3),
        "a0.h1.v (q0 q1 k0 k1 v0 v1) feeds a0.h1"
    );
    assert_eq!(layout.reader_node(6), Some(4), "m0");
    assert_eq!(layout.reader_node(14), None, "resid_post");
}

#[test]
fn zero_layers_is_an_error() {
    assert!(ParameterLayout::new(0, 1).is_err());
}

#[test]
fn layout_edge_order_equals_the_edge_graphs() {
    // The trainer indexes log-alphas by the backend's graph order; both must agree for every shape.
    for (layers, heads) in [(1, 1), (2, 1), (4, 1), (2, 3), (3, 2)] {
        let layout = ParameterLayout::new(layers, heads).expect("layout");
        let graph = edgeprune::graph::EdgeGraph::new(layers, heads);
        let ours: Vec<String> = (0..layout.num_edges())
            .map(|e| layout.edge_name(e))
            .collect();
        assert_eq!(
            ours,
            graph.edge_names(),
            "edges, {layers} layers x {heads} heads"
        );
        assert_eq!(
            layout.writers,
            graph.writer_names(),
            "writers, {layers}x{heads}"
        );
        assert_eq!(
            layout.readers,
            graph.reader_names(),
            "readers, {layers}x{heads}"
        );
    }
}

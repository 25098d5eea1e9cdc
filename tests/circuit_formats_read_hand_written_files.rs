//! Every circuit format's reader on small hand-written files: the expected edges (in our names) and
//! scores are written here by hand from the peers' naming rules (docs/interop.md), not produced by the
//! code under test; and every bad input is a typed error naming what is wrong.

use edgeprune::circuit::Circuit;
use edgeprune::formats::{read_circuit, CircuitFormat};
use edgeprune::graph::EdgeGraph;
use serde_json::{json, Value as Json};

/// Two layers of two heads: small enough to write every file by hand.
fn graph() -> EdgeGraph {
    EdgeGraph::new(2, 2)
}

fn expect_circuit(document: &Json, format: CircuitFormat, expected: &[&str]) {
    let graph = graph();
    for given in [None, Some(format)] {
        let imported = read_circuit(&graph, document, given)
            .unwrap_or_else(|e| panic!("{format:?} (given {given:?}): {e}\nfile: {document}"));
        assert_eq!(imported.format, format, "detected format of {document}");
        let mut got = imported.circuit.kept_edge_names(&graph);
        got.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{format:?} file {document}");
    }
}

#[test]
fn ours_reads_writer_reader_names() {
    expect_circuit(
        &json!({"edges": ["tok->a0.h1.q", "a0.h0->m0", "m1->resid_post"]}),
        CircuitFormat::Edgeprune,
        &["tok->a0.h1.q", "a0.h0->m0", "m1->resid_post"],
    );
}

#[test]
fn edge_pruning_pairs_map_token_and_position_embeddings() {
    expect_circuit(
        &json!([
            ["token_embeds", "a0.h1.v"],
            ["tok_embeds", "m0"],
            ["pos_embeds", "a1.h0.k"],
            ["a1.h1", "resid_post"]
        ]),
        CircuitFormat::EdgePruning,
        &[
            "tok->a0.h1.v",
            "tok->m0",
            "pos->a1.h0.k",
            "a1.h1->resid_post",
        ],
    );
}

#[test]
fn edge_pruning_acdc_reads_original_and_embedding_extras_and_skips_internal_edges() {
    let document = json!({
        "original": [
            {"from": "head.0.1", "to": "head.1.0.q"},
            {"from": "mlp.0", "to": "mlp.1"},
            {"from": "head.1.1", "to": "resid_post"}
        ],
        "extra": [
            {"from": "blocks.0.hook_resid_pre", "to": "head.1.1.v"},
            {"from": "blocks.1.hook_q_input", "to": "blocks.1.attn.hook_q", "head_num": 0},
            {"from": "blocks.0.hook_mlp_in", "to": "blocks.0.hook_mlp_out"}
        ]
    });
    expect_circuit(
        &document,
        CircuitFormat::EdgePruningAcdc,
        &[
            "a0.h1->a1.h0.q",
            "m0->m1",
            "a1.h1->resid_post",
            "tok->a1.h1.v",
            "pos->a1.h1.v",
        ],
    );
    let imported = read_circuit(&graph(), &document, None).unwrap();
    assert_eq!(imported.notes.len(), 2, "{:?}", imported.notes);
}

#[test]
fn auto_circuit_names_merge_resid_start() {
    expect_circuit(
        &json!([
            "Resid Start->A1.0.V",
            "A0.1->MLP 0",
            "MLP 1->Resid End",
            "A1.1->Resid End"
        ]),
        CircuitFormat::AutoCircuit,
        &[
            "tok->a1.h0.v",
            "pos->a1.h0.v",
            "a0.h1->m0",
            "m1->resid_post",
            "a1.h1->resid_post",
        ],
    );
}

#[test]
fn tl_hook_pairs_map_hooks_and_skip_edges_inside_components() {
    let document = json!([
        ["hook_embed", "blocks.0.hook_v_input[1]"],
        ["hook_pos_embed", "blocks.1.hook_k_input[0]"],
        ["blocks.0.attn.hook_result[0]", "blocks.0.hook_mlp_in"],
        ["blocks.0.hook_mlp_out", "blocks.1.hook_q_input[1]"],
        ["blocks.1.attn.hook_result[1]", "blocks.1.hook_resid_post"],
        ["blocks.0.hook_resid_pre", "blocks.1.hook_mlp_in"],
        ["blocks.1.hook_q_input[1]", "blocks.1.attn.hook_q[1]"],
        ["blocks.1.attn.hook_q[1]", "blocks.1.attn.hook_result[1]"],
        ["blocks.1.hook_mlp_in", "blocks.1.hook_mlp_out"]
    ]);
    expect_circuit(
        &document,
        CircuitFormat::TlHooks,
        &[
            "tok->a0.h1.v",
            "pos->a1.h0.k",
            "a0.h0->m0",
            "m0->a1.h1.q",
            "a1.h1->resid_post",
            "tok->m1",
            "pos->m1",
        ],
    );
}

#[test]
fn mib_graph_reads_in_graph_and_merges_input() {
    let document = json!({
        "cfg": {"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": false, "d_model": 8},
        "nodes": {"input": {"in_graph": true}, "logits": {"in_graph": true}},
        "edges": {
            "input->a1.h0<k>": {"score": -0.5, "in_graph": true},
            "a0.h1->m1": {"score": 0.25, "in_graph": true},
            "m0->logits": {"score": 2.0, "in_graph": false},
            "a1.h1->logits": {"score": 1.0, "in_graph": true}
        }
    });
    expect_circuit(
        &document,
        CircuitFormat::Mib,
        &[
            "tok->a1.h0.k",
            "pos->a1.h0.k",
            "a0.h1->m1",
            "a1.h1->resid_post",
        ],
    );
    // Four of 2*... edges scored: no ranking over the whole graph.
    let imported = read_circuit(&graph(), &document, None).unwrap();
    assert_eq!(imported.scores, None);
}

#[test]
fn mib_scores_of_every_edge_become_per_edge_scores() {
    // One layer, one head: EAP-IG's 8 edges cover our 13 (input is tok and pos).
    let graph = EdgeGraph::new(1, 1);
    let document = json!({
        "cfg": {"n_layers": 1, "n_heads": 1, "parallel_attn_mlp": false, "d_model": 4},
        "nodes": {},
        "edges": {
            "input->a0.h0<q>": {"score": 0.1, "in_graph": false},
            "input->a0.h0<k>": {"score": 0.2, "in_graph": false},
            "input->a0.h0<v>": {"score": -0.3, "in_graph": true},
            "input->m0": {"score": 0.4, "in_graph": false},
            "a0.h0->m0": {"score": 0.5, "in_graph": true},
            "input->logits": {"score": 0.6, "in_graph": false},
            "a0.h0->logits": {"score": 0.7, "in_graph": false},
            "m0->logits": {"score": 0.8, "in_graph": true}
        }
    });
    let imported = read_circuit(&graph, &document, None).unwrap();
    let expected: Vec<(&str, f64)> = vec![
        ("tok->a0.h0.q", 0.1),
        ("tok->a0.h0.k", 0.2),
        ("tok->a0.h0.v", -0.3),
        ("pos->a0.h0.q", 0.1),
        ("pos->a0.h0.k", 0.2),
        ("pos->a0.h0.v", -0.3),
        ("tok->m0", 0.4),
        ("pos->m0", 0.4),
        ("a0.h0->m0", 0.5),
        ("tok->resid_post", 0.6),
        ("pos->resid_post", 0.6),
        ("a0.h0->resid_post", 0.7),
        ("m0->resid_post", 0.8),
    ];
    let scores = imported.scores.expect("every edge is scored");
    for (name, want) in expected {
        let got = scores[graph.edge_by_name(name).unwrap()];
        assert_eq!(got, want, "score of {name}");
    }
    let kept = Circuit::from_edge_names(
        &graph,
        &[
            "tok->a0.h0.v",
            "pos->a0.h0.v",
            "a0.h0->m0",
            "m0->resid_post",
        ],
    )
    .unwrap();
    assert_eq!(imported.circuit, kept);
    assert_eq!(
        imported.from_merged,
        (0..graph.num_edges())
            .map(|e| ["tok->a0.h0.v", "pos->a0.h0.v"].contains(&graph.edge_names()[e].as_str()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn merged_edges_outside_the_structural_circuit_are_dropped() {
    let graph = EdgeGraph::new(1, 1);
    let mut imported = read_circuit(&graph, &json!(["Resid Start->A0.0.V"]), None).unwrap();
    // A structural circuit in which only pos reaches the value input.
    let structural =
        Circuit::from_edge_names(&graph, &["pos->a0.h0.v", "a0.h0->resid_post"]).unwrap();
    assert_eq!(imported.drop_structurally_silent(&structural), 1);
    assert_eq!(
        imported.circuit.kept_edge_names(&graph),
        vec!["pos->a0.h0.v"]
    );
}

fn error_of(document: Json, format: Option<&str>) -> String {
    let format = format.map(|f| CircuitFormat::from_name(f).unwrap());
    match read_circuit(&graph(), &document, format) {
        Ok(imported) => panic!(
            "{document} was read as {:?}",
            imported.circuit.kept_edge_names(&graph())
        ),
        Err(error) => error.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
}

#[test]
fn unknown_names_list_what_each_format_expects() {
    let cases: Vec<(Json, &str, Vec<&str>)> = vec![
        (
            json!(["tok->a0.h0.x"]),
            "edgeprune",
            vec!["a0.h0.x", "resid_post"],
        ),
        (
            json!([["embeds", "m0"]]),
            "edge-pruning",
            vec!["embeds", "token_embeds"],
        ),
        (
            json!({"original": [{"from": "attn.0", "to": "mlp.1"}]}),
            "ep-acdc",
            vec!["attn.0", "head.{layer}.{head}"],
        ),
        (
            json!({"cfg": {"n_layers": 2, "n_heads": 2}, "nodes": {}, "edges": {"input->a0.h0": {"score": 0, "in_graph": true}}}),
            "mib",
            vec!["a0.h0", "<q|k|v>"],
        ),
        (
            json!(["Resid Start->Attn 0"]),
            "auto-circuit",
            vec!["Attn 0", "A{layer}.{head}.Q|K|V"],
        ),
        (
            json!([["hook_embed", "blocks.0.hook_z[0]"]]),
            "tl-hooks",
            vec!["blocks.0.hook_z[0]", "hook_mlp_in"],
        ),
    ];
    for (document, format, parts) in cases {
        let message = error_of(document.clone(), Some(format));
        assert_mentions(&message, &parts);
        assert_mentions(&message, &[format, "unknown"]);
    }
}

#[test]
fn circuits_for_another_model_name_the_edge() {
    let cases: Vec<(Json, Vec<&str>)> = vec![
        // A layer this 2-layer model lacks.
        (
            json!(["a5.h0->resid_post"]),
            vec!["a5.h0->resid_post", "layer 5", "another model"],
        ),
        // A head this 2-head model lacks.
        (
            json!([["a0.h7", "m1"]]),
            vec!["a0.h7->m1", "head 7", "another model"],
        ),
        // Backwards in the layer order.
        (
            json!(["A1.0->A0.1.Q"]),
            vec!["A1.0->A0.1.Q", "does not feed"],
        ),
        // resid_post named at the wrong layer (GPT-2's 11).
        (
            json!([["blocks.0.attn.hook_result[0]", "blocks.11.hook_resid_post"]]),
            vec!["blocks.11.hook_resid_post", "blocks.1.hook_resid_post"],
        ),
        // GPT-2 small's MIB cfg.
        (
            json!({"cfg": {"n_layers": 12, "n_heads": 12, "parallel_attn_mlp": false, "d_model": 768}, "nodes": {}, "edges": {}}),
            vec!["12 layers x 12 heads", "2 x 2", "another model"],
        ),
    ];
    for (document, parts) in cases {
        assert_mentions(&error_of(document, None), &parts);
    }
}

#[test]
fn malformed_files_are_typed_errors() {
    assert_mentions(
        &error_of(json!({"nodes": {}}), None),
        &["no known form", "--format"],
    );
    assert_mentions(&error_of(json!([1, 2]), None), &["edge 0"]);
    assert_mentions(
        &error_of(json!([["tok", "m0", "m1"]]), Some("edge-pruning")),
        &["edge 0", "pair"],
    );
    assert_mentions(
        &error_of(
            json!({"cfg": {"n_layers": 2, "n_heads": 2}, "nodes": {}, "edges": {"m0->m1": {"score": 1}}}),
            None,
        ),
        &["m0->m1", "in_graph"],
    );
    assert_mentions(
        &error_of(json!({"original": [{"from": "mlp.0"}]}), None),
        &["original edge 0", "\"to\""],
    );
    assert_mentions(
        &CircuitFormat::from_name("acdc").unwrap_err().to_string(),
        &["acdc", "mib", "tl-hooks"],
    );
}

#[test]
fn detection_tells_the_formats_apart() {
    let cases: Vec<(Json, CircuitFormat)> = vec![
        (json!(["tok->m0"]), CircuitFormat::Edgeprune),
        (
            json!({"functional": {"edges": ["tok->m0"]}}),
            CircuitFormat::Edgeprune,
        ),
        (json!([["tok_embeds", "m0"]]), CircuitFormat::EdgePruning),
        (
            json!({"original": [], "extra": []}),
            CircuitFormat::EdgePruningAcdc,
        ),
        (
            json!({"cfg": {}, "nodes": {}, "edges": {}}),
            CircuitFormat::Mib,
        ),
        (json!(["A0.0->MLP 1"]), CircuitFormat::AutoCircuit),
        (
            json!([["hook_embed", "blocks.0.hook_mlp_in"]]),
            CircuitFormat::TlHooks,
        ),
    ];
    for (document, want) in cases {
        assert_eq!(
            CircuitFormat::detect(&document).unwrap(),
            want,
            "{document}"
        );
    }
}

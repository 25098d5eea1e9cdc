//! The masked forward, KL and mask gradients equal the official Edge-Pruning code's float64 results
//! on both Tracr models, for every fixture case (zero and interchange ablation).

mod common;

use ndarray::Array3;

use common::{close, flat_numbers, ids, load_fixture, tracr_model};
use edgeprune::ablation::Ablation;
use edgeprune::forward::MaskedForward;
use edgeprune::graph::EdgeGraph;
use edgeprune::objective::Metric;

/// The fixture README's suggested float64 tolerance: their and our f64 sums differ only in
/// summation order, amplified by Tracr weights up to ~100 (f32-vs-f64 gaps are ~1e-7 at eps 6e-8).
const REL: f64 = 1e-10;
const ABS: f64 = 1e-12;

fn names(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .expect("list of names")
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect()
}

fn check_program(program: &str, fixture_name: &str) -> usize {
    let fixture = load_fixture(&format!("edge-pruning/{fixture_name}"));
    let model = tracr_model(program);
    let graph = EdgeGraph::for_model(&model);
    assert_eq!(
        graph.writer_names(),
        names(&fixture["writers"]).as_slice(),
        "{program}: writers"
    );
    assert_eq!(
        graph.reader_names(),
        names(&fixture["readers"]).as_slice(),
        "{program}: readers"
    );
    assert_eq!(
        graph.edge_names(),
        names(&fixture["edges"]).as_slice(),
        "{program}: edge order"
    );

    let inputs = ids(&fixture["inputs"]["input_ids"]);
    let corrupted = ids(&fixture["inputs"]["corr_input_ids"]);
    let batch: Vec<usize> = (0..inputs.nrows()).collect();
    let mut zero = MaskedForward::new(&model, inputs.view(), &Ablation::Zero).unwrap();
    let mut interchange = MaskedForward::new(
        &model,
        inputs.view(),
        &Ablation::Interchange {
            corrupted_ids: corrupted,
        },
    )
    .unwrap();

    let cases = fixture["cases"].as_array().expect("cases");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let forward = match case["ablation"].as_str().unwrap() {
            "zero" => &mut zero,
            "interchange" => &mut interchange,
            other => panic!("{program}/{name}: unknown ablation {other}"),
        };
        let edge_mask: Vec<f64> = graph
            .edge_names()
            .iter()
            .map(|e| {
                case["edge_masks"][e]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{name}: mask of {e}"))
            })
            .collect();
        let node_mask: Vec<f64> = graph
            .writer_names()
            .iter()
            .map(|w| {
                case["node_masks"][w]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{name}: mask of {w}"))
            })
            .collect();
        let expected = &case["results"]["float64"];

        let output = forward
            .forward(&batch, &edge_mask, &node_mask)
            .unwrap()
            .to_owned();
        let want_output = flat_numbers(&expected["output"]);
        let got_output: Vec<f64> = output.iter().copied().collect();
        assert_eq!(
            got_output.len(),
            want_output.len(),
            "{program}/{name}: output size"
        );
        for (i, (g, w)) in got_output.iter().zip(&want_output).enumerate() {
            assert!(
                close(*g, *w, REL, ABS),
                "{program}/{name}: output[{i}] = {g}, theirs {w}"
            );
        }

        let reference = forward.reference_batch(&batch);
        let mut grad_output = Array3::zeros(output.raw_dim());
        let loss = Metric::Kl
            .value_and_gradient(
                forward.output_kind(),
                output.view(),
                reference.view(),
                grad_output.view_mut(),
            )
            .unwrap();
        let want_loss = expected["loss"].as_f64().unwrap();
        assert!(
            close(loss, want_loss, REL, ABS),
            "{program}/{name}: loss {loss}, theirs {want_loss}"
        );

        let mut grad_edges = vec![0.0; graph.num_edges()];
        let mut grad_nodes = vec![0.0; graph.num_writers()];
        forward
            .backward(grad_output.view(), &mut grad_edges, &mut grad_nodes)
            .unwrap();
        for (e, edge) in graph.edge_names().iter().enumerate() {
            let want = expected["grad_edge_masks"][edge].as_f64().unwrap();
            assert!(
                close(grad_edges[e], want, REL, ABS),
                "{program}/{name}: d loss/d z[{edge}] = {}, theirs {want}",
                grad_edges[e]
            );
        }
        for (w, writer) in graph.writer_names().iter().enumerate() {
            let want = expected["grad_node_masks"][writer].as_f64().unwrap();
            assert!(
                close(grad_nodes[w], want, REL, ABS),
                "{program}/{name}: d loss/d zeta[{writer}] = {}, theirs {want}",
                grad_nodes[w]
            );
        }

        // The one-call training entry point gives exactly the same numbers.
        let mut step_edges = vec![0.0; graph.num_edges()];
        let mut step_nodes = vec![0.0; graph.num_writers()];
        let step_loss = forward
            .metric_and_gradients(
                Metric::Kl,
                &batch,
                &edge_mask,
                &node_mask,
                &mut step_edges,
                &mut step_nodes,
            )
            .unwrap();
        assert_eq!(
            step_loss, loss,
            "{program}/{name}: metric_and_gradients loss"
        );
        assert_eq!(
            step_edges, grad_edges,
            "{program}/{name}: metric_and_gradients edge gradients"
        );
        assert_eq!(
            step_nodes, grad_nodes,
            "{program}/{name}: metric_and_gradients node gradients"
        );
        let metric_only = forward
            .metric(Metric::Kl, &batch, &edge_mask, &node_mask)
            .unwrap();
        assert_eq!(metric_only, loss, "{program}/{name}: metric");
    }
    cases.len()
}

#[test]
fn reverse_matches_official_masked_forward_loss_and_gradients() {
    let cases = check_program("reverse_123", "ep_masked_forward_reverse.json");
    assert_eq!(cases, 12, "every fixture case ran");
}

#[test]
fn xproportion_matches_official_masked_forward_loss_and_gradients() {
    let cases = check_program("xproportion", "ep_masked_forward_xproportion.json");
    assert_eq!(cases, 12, "every fixture case ran");
}

#[test]
fn full_model_reference_matches_official_full_model_output() {
    for (program, fixture_name) in [
        ("reverse_123", "ep_masked_forward_reverse.json"),
        ("xproportion", "ep_masked_forward_xproportion.json"),
    ] {
        let fixture = load_fixture(&format!("edge-pruning/{fixture_name}"));
        let model = tracr_model(program);
        for (ids_key, output_key) in [
            ("input_ids", "full_model_output_clean"),
            ("corr_input_ids", "full_model_output_corrupted"),
        ] {
            let inputs = ids(&fixture["inputs"][ids_key]);
            let got: Vec<f64> = model
                .forward(inputs.view())
                .unwrap()
                .iter()
                .copied()
                .collect();
            let want = flat_numbers(&fixture["reference"][output_key]["float64"]);
            assert_eq!(got.len(), want.len(), "{program} {output_key}: size");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    close(*g, *w, REL, ABS),
                    "{program} {output_key}[{i}]: {g}, theirs {w}"
                );
            }
        }
    }
}

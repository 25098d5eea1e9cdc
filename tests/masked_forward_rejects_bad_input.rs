//! Bad input gives a typed error naming what is wrong, never a panic.

mod common;

use ndarray::{array, Array2};

use common::tracr_model;
use edgeprune::ablation::Ablation;
use edgeprune::error::Error;
use edgeprune::forward::MaskedForward;
use edgeprune::graph::EdgeGraph;
use edgeprune::model::Transformer;

fn xproportion_inputs() -> Array2<usize> {
    // BOS a b c x
    array![[0, 1, 2, 3, 5], [0, 5, 5, 1, 2]]
}

#[test]
fn token_id_outside_the_vocabulary_is_rejected() {
    let model = tracr_model("xproportion");
    let inputs = array![[0, 1, 9]];
    let err = MaskedForward::new(&model, inputs.view(), &Ablation::Zero).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TokenId {
                sequence: 0,
                position: 2,
                id: 9,
                vocab_size: 6
            }
        ),
        "{err}"
    );
    assert!(model.forward(inputs.view()).is_err());
}

#[test]
fn sequence_longer_than_the_position_table_is_rejected() {
    let model = tracr_model("xproportion");
    let inputs = Array2::zeros((1, 7));
    let err = model.forward(inputs.view()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn masks_of_the_wrong_length_or_not_finite_are_rejected() {
    let model = tracr_model("xproportion");
    let mut forward =
        MaskedForward::new(&model, xproportion_inputs().view(), &Ablation::Zero).unwrap();
    let (edges, nodes) = (forward.graph().num_edges(), forward.graph().num_writers());
    let err = forward
        .forward(&[0], &vec![1.0; edges - 1], &vec![1.0; nodes])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = forward
        .forward(&[0], &vec![1.0; edges], &vec![1.0; nodes + 1])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let mut bad = vec![1.0; edges];
    bad[3] = f64::NAN;
    let err = forward.forward(&[0], &bad, &vec![1.0; nodes]).unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");
}

#[test]
fn batch_indices_must_name_dataset_examples() {
    let model = tracr_model("xproportion");
    let mut forward =
        MaskedForward::new(&model, xproportion_inputs().view(), &Ablation::Zero).unwrap();
    let (edges, nodes) = (
        vec![1.0; forward.graph().num_edges()],
        vec![1.0; forward.graph().num_writers()],
    );
    let err = forward.forward(&[0, 2], &edges, &nodes).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = forward.forward(&[], &edges, &nodes).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn backward_needs_a_forward_and_matching_shapes() {
    let model = tracr_model("xproportion");
    let mut forward =
        MaskedForward::new(&model, xproportion_inputs().view(), &Ablation::Zero).unwrap();
    let (num_edges, num_nodes) = (forward.graph().num_edges(), forward.graph().num_writers());
    let (mut grad_edges, mut grad_nodes) = (vec![0.0; num_edges], vec![0.0; num_nodes]);
    let grad_output = ndarray::Array3::zeros((2, 5, 1));
    let err = forward
        .backward(grad_output.view(), &mut grad_edges, &mut grad_nodes)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
    forward
        .forward(&[0, 1], &vec![1.0; num_edges], &vec![1.0; num_nodes])
        .unwrap();
    let wrong = ndarray::Array3::zeros((2, 4, 1));
    let err = forward
        .backward(wrong.view(), &mut grad_edges, &mut grad_nodes)
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn corrupted_inputs_must_pair_with_clean_ones() {
    let model = tracr_model("xproportion");
    let ablation = Ablation::Interchange {
        corrupted_ids: array![[0, 1, 2, 3, 5]],
    };
    let err = MaskedForward::new(&model, xproportion_inputs().view(), &ablation).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn malformed_tracr_json_is_a_json_error() {
    let fixture = common::load_fixture("tracr/xproportion.json");
    let mut model = fixture["model"].clone();
    model["weights"]
        .as_object_mut()
        .unwrap()
        .remove("pos_embed");
    let err = Transformer::from_tracr_json(&model).unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err}");
    assert!(err.to_string().contains("pos_embed"), "{err}");
}

#[test]
fn unknown_graph_names_are_errors_with_a_hint() {
    let graph = EdgeGraph::new(2, 1);
    let err = graph.edge_by_name("tok->a9.h0.q").unwrap_err();
    assert!(matches!(err, Error::UnknownName { .. }), "{err}");
    assert!(graph.writer_by_name("m7").is_err());
    assert!(graph.reader_by_name("resid_pre").is_err());
}

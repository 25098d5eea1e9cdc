//! Each fixture's model, loaded from JSON, decodes every fixture input as Tracr did and reproduces its traces.

mod common;

use ndarray::{Array2, Array3};
use serde_json::Value as Json;
use tracr::craft::json::value_from_json;
use tracr::model::CompiledModel;
use tracr::value::Value;

/// Tracr ran in float32 and we run in f64 on the same (float32) weights, so activations agree to
/// float32 rounding: 1e-5 absolute, relative for magnitudes above 1 (hidden neurons reach L·x ≈ 100,
/// and e.g. a decoded 10.0 came out of Tracr as 10.000015).
const TRACE_TOLERANCE: f64 = 1e-5;

/// Tracr's softmax coldness: query–key entries are at most this, so logits amplify residual
/// rounding by coldness/sqrt(key_size) and are compared with the tolerance scaled by that.
const SOFTMAX_COLDNESS: f64 = 100.0;

/// Whether `ours` equals `theirs` within [`TRACE_TOLERANCE`], relative above magnitude 1.
fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= TRACE_TOLERANCE * theirs.abs().max(1.0)
}

fn values(json: &Json) -> Vec<Value> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|v| value_from_json(v).unwrap())
        .collect()
}

fn matrix(json: &Json) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(json.clone()).unwrap();
    Array2::from_shape_vec(
        (rows.len(), rows[0].len()),
        rows.into_iter().flatten().collect(),
    )
    .unwrap()
}

/// The largest difference in units of the tolerance: at most 1 means [`close`] everywhere.
fn max_scaled_diff(ours: &Array2<f64>, theirs: &Array2<f64>) -> f64 {
    max_diff_in_units(ours, theirs, TRACE_TOLERANCE)
}

/// The largest difference in units of `tolerance` (relative above magnitude 1).
fn max_diff_in_units(ours: &Array2<f64>, theirs: &Array2<f64>, tolerance: f64) -> f64 {
    assert_eq!(ours.shape(), theirs.shape());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs() / (tolerance * b.abs().max(1.0)))
        .fold(0.0, f64::max)
}

fn heads(json: &Json) -> Vec<Array2<f64>> {
    json.as_array().unwrap().iter().map(matrix).collect()
}

fn head_slices(a: &Array3<f64>) -> Vec<Array2<f64>> {
    a.outer_iter().map(|m| m.to_owned()).collect()
}

#[test]
fn model_json_round_trips_exactly() {
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
        assert!(
            model.to_json() == common::fixture_model(&fixture),
            "{name}: to_json(from_json(model)) differs from the fixture's model"
        );
    }
}

#[test]
fn decoded_outputs_equal_tracr_on_every_fixture_input() {
    let mut checked = 0;
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
        for input in fixture["inputs"].as_array().unwrap() {
            let tokens = values(&input["model_input"]);
            let expected = values(&input["model_decoded"]);
            let ours = model.apply(&tokens).unwrap();
            if model.categorical_output {
                assert_eq!(ours.decoded, expected, "{name}: input {tokens:?}");
            } else {
                // Numerical outputs: float32 (Tracr) vs f64 (ours) on the same weights.
                for (pos, (a, b)) in ours.decoded.iter().zip(&expected).enumerate().skip(1) {
                    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                    assert!(
                        close(a, b),
                        "{name}: input {tokens:?} position {pos}: ours {a}, Tracr {b}"
                    );
                }
                assert_eq!(ours.decoded[0], expected[0], "{name}: BOS position");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 26 * 30, "every fixture has 30 inputs");
}

#[test]
fn residual_traces_equal_tracr_within_float32_rounding() {
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
        let traces = fixture["traces"].as_array().unwrap();
        let logit_tolerance = TRACE_TOLERANCE * SOFTMAX_COLDNESS * model.config.attn_logit_scale;
        assert!(!traces.is_empty(), "{name} has no traces");
        for trace in traces {
            let tokens = values(&trace["model_input"]);
            let ours = model.apply_traced(&tokens).unwrap().trace.unwrap();
            let emb = max_scaled_diff(&ours.input_embeddings, &matrix(&trace["input_embeddings"]));
            assert!(
                emb <= 1.0,
                "{name} {tokens:?}: embeddings differ by {emb} tolerances"
            );
            let residuals = trace["residuals"].as_array().unwrap();
            let names = trace["residual_names"].as_array().unwrap();
            assert_eq!(ours.residuals.len(), residuals.len(), "{name}: half-layers");
            for ((r, theirs), label) in ours.residuals.iter().zip(residuals).zip(names) {
                let d = max_scaled_diff(r, &matrix(theirs));
                assert!(
                    d <= 1.0,
                    "{name} {tokens:?}: residual after {label} differs by {d} tolerances"
                );
            }
            for (layer, (ours_l, theirs_l)) in ours
                .attn_logits
                .iter()
                .zip(trace["attn_logits"].as_array().unwrap())
                .enumerate()
            {
                for (h, (a, b)) in head_slices(ours_l).iter().zip(heads(theirs_l)).enumerate() {
                    let d = max_diff_in_units(a, &b, logit_tolerance);
                    assert!(
                        d <= 1.0,
                        "{name} {tokens:?}: layer {layer} head {h} logits differ by {d} tolerances"
                    );
                }
            }
            for (layer, (ours_l, theirs_l)) in ours
                .attn_weights
                .iter()
                .zip(trace["attn_weights"].as_array().unwrap())
                .enumerate()
            {
                for (h, (a, b)) in head_slices(ours_l).iter().zip(heads(theirs_l)).enumerate() {
                    let d = max_scaled_diff(a, &b);
                    assert!(
                        d <= 1.0,
                        "{name} {tokens:?}: layer {layer} head {h} attention weights differ by {d} tolerances"
                    );
                }
            }
        }
    }
}

#[test]
fn inputs_the_model_cannot_encode_are_typed_errors() {
    let fixture = common::load_fixture("reverse");
    let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
    let bos = Value::from("BOS");
    for bad in [
        vec![Value::from("a")],
        vec![bos.clone(), Value::from("z")],
        vec![bos.clone(); 7],
    ] {
        assert!(
            matches!(model.apply(&bad), Err(tracr::error::Error::Input(_))),
            "input {bad:?} should be rejected"
        );
    }
}

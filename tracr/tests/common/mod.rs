//! Fixture loading shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use ndarray::{Array2, Array3};
use serde_json::Value as Json;
use tracr::craft::json::value_from_json;
use tracr::value::Value;

/// The folder holding the Tracr oracle fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tracr")
}

/// Every fixture's name (file stem), sorted, excluding SUMMARY.json.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/tracr exists")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let stem = path.file_stem()?.to_str()?.to_string();
            (path.extension()? == "json" && stem != "SUMMARY").then_some(stem)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 26,
        "expected the 26 Tracr fixtures, found {names:?}"
    );
    names
}

/// One fixture parsed.
pub fn load_fixture(name: &str) -> Json {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The fixture's `model`, with `config.causal` taken from `compile_args`.
///
/// The oracle wrote `config.causal` from the config Tracr builds *before* `assemble` sets the
/// causal flag, so it reads false even for `frac_prevs_causal`, whose traces are masked.
pub fn fixture_model(fixture: &Json) -> Json {
    let mut model = fixture["model"].clone();
    model["config"]["causal"] = fixture["compile_args"]["causal"].clone();
    model
}

/// Tracr ran in float32 and we run in f64 on the same (float32) weights, so activations agree to
/// float32 rounding: 1e-5 absolute, relative for magnitudes above 1 (hidden neurons reach L·x ≈ 100,
/// and e.g. a decoded 10.0 came out of Tracr as 10.000015).
pub const TRACE_TOLERANCE: f64 = 1e-5;

/// Tracr's softmax coldness: query–key entries are at most this, so logits amplify residual
/// rounding by coldness/sqrt(key_size) and are compared with the tolerance scaled by that.
const SOFTMAX_COLDNESS: f64 = 100.0;

/// Whether `ours` equals `theirs` within [`TRACE_TOLERANCE`], relative above magnitude 1.
pub fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= TRACE_TOLERANCE * theirs.abs().max(1.0)
}

pub fn values(json: &Json) -> Vec<Value> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|v| value_from_json(v).unwrap())
        .collect()
}

pub fn matrix(json: &Json) -> Array2<f64> {
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

/// Asserts that `model` reproduces every trace of the fixture (embeddings, residuals, attention).
pub fn assert_traces_match(name: &str, fixture: &Json, model: &tracr::CompiledModel) {
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

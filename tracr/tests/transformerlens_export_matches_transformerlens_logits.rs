//! The TransformerLens export, read back from disk, computes the logits TransformerLens itself
//! computed from the same files (`fixtures/transformerlens/*.json`, written by
//! `scripts/check-transformerlens.py` with transformer-lens 3.9.0): the folder means to our reader
//! what it means to HookedTransformer.

use std::path::PathBuf;

use serde_json::Value as Json;
use tracr::craft::json::value_from_json;
use tracr::formats::{read_model, write_model, ModelFormat};
use tracr::library::by_name;
use tracr::value::Value;

/// Both sides run the same float32 weights; TransformerLens accumulates in float32 and we in f64,
/// so logits agree to float32 rounding of the residual: 1e-5, relative above magnitude 1.
const LOGIT_TOLERANCE: f64 = 1e-5;

fn fixture_paths() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/transformerlens");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn exported_folders_reproduce_transformerlens_logits() {
    let scratch = std::env::temp_dir().join(format!("tracr-tl-logits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let paths = fixture_paths();
    assert!(
        paths.len() >= 4,
        "expected 4 logit fixtures, found {paths:?}"
    );
    let mut compared = 0;
    for path in paths {
        let fixture: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = fixture["program"].as_str().unwrap();
        let program = by_name(name).unwrap_or_else(|| panic!("{name} is not a library program"));
        let compiled = program.compile().unwrap();
        let folder = scratch.join(name);
        write_model(&compiled, &folder, ModelFormat::TransformerLens).unwrap();
        let model = read_model(&folder).unwrap_or_else(|e| panic!("{name}: {e}"));
        for item in fixture["inputs"].as_array().unwrap() {
            let tokens: Vec<Value> = item["model_input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| value_from_json(v).unwrap())
                .collect();
            let ids: Vec<usize> = serde_json::from_value(item["ids"].clone()).unwrap();
            assert_eq!(
                model.encode(&tokens).unwrap(),
                ids,
                "{name} {tokens:?}: token ids"
            );
            let output = model.apply_traced(&tokens).unwrap();
            let residual = output.trace.unwrap().residuals.pop().unwrap();
            let theirs: Vec<Vec<f64>> = serde_json::from_value(item["logits"].clone()).unwrap();
            assert_eq!(theirs.len(), tokens.len(), "{name} {tokens:?}: positions");
            for (pos, row) in theirs.iter().enumerate() {
                assert_eq!(row.len(), model.output_residual_indices.len().max(1));
                for (j, &logit) in row.iter().enumerate() {
                    let ours = residual[[pos, model.output_residual_indices[j]]];
                    assert!(
                        (ours - logit).abs() <= LOGIT_TOLERANCE * logit.abs().max(1.0),
                        "{name} {tokens:?} position {pos} logit {j}: ours {ours}, TransformerLens {logit}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 1000, "only {compared} logits compared");
    std::fs::remove_dir_all(&scratch).unwrap();
}

//! Fixture loading shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value as Json;

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

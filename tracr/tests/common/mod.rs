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

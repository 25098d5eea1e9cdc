//! Reading the Tracr fixtures (`fixtures/tracr/*.json`) for the tests.

use serde_json::Value as Json;
use std::path::PathBuf;
use tracr::value::Value;

/// The folder holding the Tracr fixtures.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tracr")
}

/// Every fixture's name (file stem), sorted, without `SUMMARY`.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixtures/tracr exists")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let stem = path.file_stem()?.to_str()?.to_string();
            (path.extension()? == "json" && stem != "SUMMARY").then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// The parsed fixture file.
pub fn load(name: &str) -> Json {
    let path = fixture_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

/// A fixture value as the RASP value it encodes; JSON lists are Python tuples (the generator's `jv`).
pub fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().expect("a JSON number is an f64")),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::Tuple(items.iter().map(to_value).collect()),
        Json::Object(_) => panic!("fixture value {json} is not a RASP value"),
    }
}

/// A JSON list of RASP values.
pub fn to_values(json: &Json) -> Vec<Value> {
    json.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {json}"))
        .iter()
        .map(to_value)
        .collect()
}

/// A JSON list of string labels.
pub fn to_strings(json: &Json) -> Vec<String> {
    json.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {json}"))
        .iter()
        .map(|s| s.as_str().expect("a label").to_string())
        .collect()
}

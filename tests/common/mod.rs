//! Fixture loading shared by the integration tests.
#![allow(dead_code)]

use ndarray::Array2;
use serde_json::Value;

use edgeprune::model::Transformer;

/// Parses a fixture under `fixtures/`.
pub fn load_fixture(relative: &str) -> Value {
    let path = format!("{}/fixtures/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The compiled Tracr model of `fixtures/tracr/<name>.json`.
pub fn tracr_model(name: &str) -> Transformer {
    let fixture = load_fixture(&format!("tracr/{name}.json"));
    Transformer::from_tracr_json(&fixture["model"]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A `[rows, cols]` matrix of token ids from nested JSON lists.
pub fn ids(value: &Value) -> Array2<usize> {
    let rows: Vec<Vec<usize>> = value
        .as_array()
        .expect("list of rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_u64().expect("token id") as usize)
                .collect()
        })
        .collect();
    let cols = rows[0].len();
    Array2::from_shape_vec((rows.len(), cols), rows.concat()).expect("rectangular")
}

/// Floats of a nested JSON list, flattened in row-major order.
pub fn flat_numbers(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat_numbers).collect(),
        v => vec![v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))],
    }
}

/// `|got − want| ≤ rel·|want| + abs`.
pub fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= rel * want.abs() + abs
}
pub mod random_setup;
pub mod tiny_tokenizer;

/// The circuits Edge Pruning's paper reports as recovered (../shared/docs/edge-pruning.md §8): facts
/// from the paper, not outputs of this code.
pub mod paper_circuits {
    /// reverse, vocab {1,2,3}, inputs of length 3.
    pub const REVERSE: [&str; 11] = [
        "tok->a0.h0.v",
        "tok->m0",
        "a0.h0->m0",
        "tok->m1",
        "pos->m1",
        "m0->m1",
        "m1->m2",
        "tok->a3.h0.v",
        "pos->a3.h0.k",
        "m2->a3.h0.q",
        "a3.h0->resid_post",
    ];

    /// xproportion (frac_prevs of "x"), vocab {a,b,c,x}, inputs of length 4.
    pub const XPROPORTION: [&str; 7] = [
        "tok->m0",
        "tok->a1.h0.q",
        "tok->a1.h0.k",
        "pos->a1.h0.q",
        "pos->a1.h0.k",
        "m0->a1.h0.v",
        "a1.h0->resid_post",
    ];
}

/// A GPT-2 fixture checkpoint folder under `fixtures/edge-pruning-gpt2/`.
pub fn gpt2_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/edge-pruning-gpt2")
        .join(name)
}

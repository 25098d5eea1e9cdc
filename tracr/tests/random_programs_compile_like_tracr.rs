//! Programs on which the differential fuzzer (`scripts/fuzz-vs-tracr.py`) or issue 15 found a
//! difference from the real Tracr: each fixture in `fixtures/tracr-fuzz/` was made by the real
//! Tracr from the program's `.rasp` text. We compile the same text and compare: whether it
//! compiles, residual labels, output decoding (value types included), every weight as float32,
//! and on each recorded input the RASP evaluation and the decoded model output.

use std::path::PathBuf;

use serde_json::{json, Value as Json};
use tracr::rasp;
use tracr::value::Value;
use tracr::{compile, CompileOptions};

/// Numerical decoded outputs: both forwards run in float32-exact weights but sum in different
/// orders (ours in f64, Tracr's in f32); a wrong weight is off by far more.
const NUMERICAL_ATOL: f64 = 1e-5;

fn fixtures() -> Vec<(String, Json)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tracr-fuzz");
    let mut out: Vec<(String, Json)> = std::fs::read_dir(&dir)
        .expect("fixtures/tracr-fuzz exists")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "json").then_some(path)
        })
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 4,
        "expected at least the four issue-15 fixtures in {dir:?}, found {}",
        out.len()
    );
    out
}

/// The fuzzer's typed JSON (`{"int": 1}`, `{"float": 1.0}`, ...) as a value.
fn value(typed: &Json) -> Value {
    let (kind, v) = typed
        .as_object()
        .and_then(|o| o.iter().next())
        .unwrap_or_else(|| panic!("not a typed value: {typed}"));
    match kind.as_str() {
        "int" => Value::Int(v.as_i64().unwrap()),
        "float" => Value::Float(v.as_f64().unwrap()),
        "bool" => Value::Bool(v.as_bool().unwrap()),
        "str" => Value::Str(v.as_str().unwrap().into()),
        "tuple" => Value::Tuple(v.as_array().unwrap().iter().map(value).collect()),
        other => panic!("unknown value kind {other}"),
    }
}

/// A value in the fuzzer's typed JSON, so that 1, 1.0 and True stay apart.
fn typed(v: &Value) -> Json {
    match v {
        Value::None => Json::Null,
        Value::Int(i) => json!({ "int": i }),
        Value::Float(x) => json!({ "float": x }),
        Value::Bool(b) => json!({ "bool": b }),
        Value::Str(s) => json!({ "str": s }),
        Value::Tuple(items) => json!({ "tuple": items.iter().map(typed).collect::<Vec<_>>() }),
    }
}

/// Our model file's plain JSON value as typed JSON (serde keeps 1 and 1.0 apart).
fn typed_plain(v: &Json) -> Json {
    match v {
        Json::Bool(b) => json!({ "bool": b }),
        Json::Number(n) if n.is_f64() => json!({ "float": n.as_f64() }),
        Json::Number(n) => json!({ "int": n.as_i64() }),
        Json::String(s) => json!({ "str": s }),
        other => panic!("unexpected output value {other}"),
    }
}

fn as_f32_matrix(w: &Json) -> Vec<Vec<f32>> {
    let row = |r: &Json| -> Vec<f32> {
        match r {
            Json::Array(xs) => xs.iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            x => vec![x.as_f64().unwrap() as f32],
        }
    };
    match w {
        Json::Array(rows) => rows.iter().map(row).collect(),
        other => panic!("not a weight array: {other}"),
    }
}

fn floats_close(a: &Json, b: &Json) -> bool {
    match (a.get("float"), b.get("float")) {
        (Some(x), Some(y)) => (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() <= NUMERICAL_ATOL,
        _ => a == b,
    }
}

#[test]
fn fuzz_found_programs_compile_and_run_like_tracr() {
    for (name, fixture) in fixtures() {
        let source = fixture["source"].as_str().unwrap();
        let vocab: Vec<Value> = fixture["vocab"]
            .as_array()
            .unwrap()
            .iter()
            .map(value)
            .collect();
        let max_seq_len = fixture["max_seq_len"].as_u64().unwrap() as usize;
        let causal = fixture["causal"].as_bool().unwrap();
        let tracr = &fixture["tracr"];
        let program = rasp::text::parse(source)
            .unwrap_or_else(|e| panic!("{name}: parse failed: {e}\n{source}"));
        let options = CompileOptions {
            causal,
            ..CompileOptions::default()
        };
        let compiled = compile(&program, &vocab, max_seq_len, &options);
        let ours = match (&compiled, tracr["compiled"].as_bool().unwrap()) {
            (Ok(model), true) => model,
            (Err(_), false) => continue,
            (Ok(_), false) => panic!(
                "{name}: we compile a program Tracr refuses ({})\n{source}",
                tracr["error"]
            ),
            (Err(e), true) => panic!("{name}: Tracr compiles it, we fail: {e}\n{source}"),
        };
        let our_json = ours.to_json();
        let labels: Vec<&str> = tracr["residual_labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(
            ours.residual_labels, labels,
            "{name}: residual labels\n{source}"
        );
        let our_decoding: Option<Vec<Json>> =
            our_json["output_encoding"]["map"].as_array().map(|pairs| {
                let mut pairs: Vec<(i64, Json)> = pairs
                    .iter()
                    .map(|p| (p[1].as_i64().unwrap(), typed_plain(&p[0])))
                    .collect();
                pairs.sort_by_key(|p| p.0);
                pairs.into_iter().map(|(i, v)| json!([i, v])).collect()
            });
        let their_decoding = tracr["output_decoding"].as_array().cloned();
        assert_eq!(
            our_decoding, their_decoding,
            "{name}: output decoding (index, value)\n{source}"
        );
        for (module, params) in tracr["weights"].as_object().unwrap() {
            for (param, w) in params.as_object().unwrap() {
                let mine = &our_json["weights"][module][param];
                assert_eq!(
                    as_f32_matrix(mine),
                    as_f32_matrix(w),
                    "{name}: {module}/{param} as float32 (ours, Tracr's)\n{source}"
                );
            }
        }
        for case in tracr["inputs"].as_array().unwrap() {
            let xs: Vec<Value> = case["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(value)
                .collect();
            let evaluated = rasp::evaluate(&program, &xs, causal);
            match (&evaluated, case.get("rasp")) {
                (Ok(got), Some(want)) => {
                    let got: Vec<Json> = got.iter().map(typed).collect();
                    assert_eq!(&Json::from(got), want, "{name}: RASP on {xs:?}\n{source}");
                }
                (Err(_), None) => continue,
                (got, want) => panic!(
                    "{name}: RASP on {xs:?}: ours {got:?}, Tracr {want:?} / {}\n{source}",
                    case["rasp_error"]
                ),
            }
            let want = &case["rasp"];
            // Unspecified: RASP says None somewhere, or the input fails dynamic validation.
            let unspecified = want.as_array().unwrap().iter().any(Json::is_null)
                || !case["dynamic_issues"].as_array().unwrap().is_empty();
            if unspecified || case.get("model").is_none() {
                continue;
            }
            let decoded = ours
                .apply_without_bos(&xs)
                .unwrap_or_else(|e| panic!("{name}: model on {xs:?}: {e}"))
                .decoded;
            let got: Vec<Json> = decoded[1..].iter().map(typed).collect();
            let want = case["model"].as_array().unwrap();
            assert!(
                got.len() == want.len() && got.iter().zip(want).all(|(a, b)| floats_close(a, b)),
                "{name}: model on {xs:?}: ours {got:?}, Tracr {want:?}\n{source}"
            );
        }
    }
}

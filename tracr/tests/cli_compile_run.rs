//! `tracr compile` writes the real Tracr's model (fixtures' `model` schema), atomically; `tracr run`
//! decodes as Tracr did; `--describe` names every head's RASP node.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

fn tracr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(args)
        .output()
        .expect("the tracr binary runs")
}

fn fixture(name: &str) -> Json {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/tracr/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture exists")).expect("JSON")
}

fn temp_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tracr-cli-compile-{}-{test}.json",
        std::process::id()
    ))
}

/// Every number of two nested JSON arrays, paired.
fn flatten(value: &Json, out: &mut Vec<f64>) {
    match value {
        Json::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        Json::Number(n) => out.push(n.as_f64().expect("finite")),
        other => panic!("unexpected {other} in a weight"),
    }
}

#[test]
fn compiled_files_hold_tracrs_weights_and_decode_like_tracr() {
    for name in [
        "reverse",
        "frac_prevs",
        "sort",
        "shuffle_dyck",
        "frac_prevs_causal",
    ] {
        let out = temp_path(name);
        let output = tracr(&["compile", "--lib", name, "-o", out.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ours: Json = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let theirs = fixture(name);
        let model = &theirs["model"];
        assert_eq!(
            ours["residual_labels"], model["residual_labels"],
            "{name}: labels"
        );
        for key in [
            "num_layers",
            "num_heads",
            "key_size",
            "mlp_hidden_size",
            "d_model",
        ] {
            assert_eq!(
                ours["config"][key], model["config"][key],
                "{name}: config.{key}"
            );
        }
        // The fixtures record causal=false even for causal programs (the oracle read the config
        // before assembly set it), so the flag is compared with compile_args.
        assert_eq!(
            ours["config"]["causal"], theirs["compile_args"]["causal"],
            "{name}: causal"
        );
        let weights = model["weights"].as_object().unwrap();
        assert_eq!(
            ours["weights"].as_object().unwrap().len(),
            weights.len(),
            "{name}: params"
        );
        for (param, tensors) in weights {
            for (key, tensor) in tensors.as_object().unwrap() {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                flatten(&ours["weights"][param][key], &mut a);
                flatten(tensor, &mut b);
                assert_eq!(a.len(), b.len(), "{name}: {param}/{key} size");
                for (x, y) in a.iter().zip(&b) {
                    // Fixtures store float32, so ours must agree to f32 precision.
                    assert!(
                        (x - y).abs() <= 1e-6 * y.abs().max(1.0),
                        "{name}: {param}/{key}: {x} vs {y}"
                    );
                }
            }
        }
        for case in theirs["inputs"].as_array().unwrap().iter().take(5) {
            let input: Vec<String> = case["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect();
            let run = tracr(&["run", out.to_str().unwrap(), "--input", &input.join(",")]);
            assert!(
                run.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            let decoded: Json = serde_json::from_slice(&run.stdout).expect("run prints JSON");
            let expected = &case["model_decoded"];
            for (got, want) in decoded
                .as_array()
                .unwrap()
                .iter()
                .zip(expected.as_array().unwrap())
            {
                match (got.as_f64(), want.as_f64()) {
                    // Numerical outputs: Tracr computed them in float32.
                    (Some(g), Some(w)) => assert!(
                        (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                        "{name} {input:?}: {got} vs {want}"
                    ),
                    _ => assert_eq!(got, want, "{name} {input:?}"),
                }
            }
        }
        std::fs::remove_file(&out).ok();
    }
}

#[test]
fn a_rasp_file_compiles_and_describe_names_every_head() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("lib/reverse.rasp");
    let output = tracr(&[
        "compile",
        file.to_str().unwrap(),
        "--vocab",
        "a,b,c",
        "--max-seq-len",
        "5",
        "--describe",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    for label in ["length_5", "reverse_1"] {
        assert!(
            text.contains(label),
            "--describe should name {label}:\n{text}"
        );
    }
}

#[test]
fn a_failing_validation_writes_nothing_and_keeps_the_old_file() {
    let program =
        std::env::temp_dir().join(format!("tracr-cli-invalid-{}.rasp", std::process::id()));
    // A numerical Aggregate with a non-zero default: Tracr's validator rejects it.
    std::fs::write(
        &program,
        "x = numerical(Map(lambda t: 1, tokens))\nnumerical(Aggregate(Select(tokens, tokens, EQ), x, default=1))\n",
    )
    .unwrap();
    let out = temp_path("invalid");
    std::fs::write(&out, "previous contents").unwrap();
    let output = tracr(&[
        "compile",
        program.to_str().unwrap(),
        "--vocab",
        "a,b",
        "--max-seq-len",
        "3",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!output.status.success(), "an invalid program must fail");
    assert!(!String::from_utf8_lossy(&output.stderr).is_empty());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous contents");
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("tracr-cli-compile")
                && e.file_name().to_string_lossy().ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "no temporary file may be left behind");
    std::fs::remove_file(&out).ok();
    std::fs::remove_file(&program).ok();
}

#[test]
fn run_reports_missing_files_and_unknown_tokens() {
    let missing = tracr(&["run", "/nonexistent/model.json", "--input", "a"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/model.json"));
    let out = temp_path("tokens");
    assert!(
        tracr(&["compile", "--lib", "reverse", "-o", out.to_str().unwrap()])
            .status
            .success()
    );
    let unknown = tracr(&["run", out.to_str().unwrap(), "--input", "a,z"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains('z'),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    std::fs::remove_file(&out).ok();
}

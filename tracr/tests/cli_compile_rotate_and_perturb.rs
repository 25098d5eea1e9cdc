//! `tracr compile --rotate SEED` writes a model that `tracr run` decodes exactly as the compiled one;
//! `--perturb` refuses negative or NaN sizes with a message naming the flag and the valid range.

mod cli_support;

use cli_support::{scratch_dir, stderr, stdout, tracr};

#[test]
fn a_rotated_model_runs_like_the_compiled_one() {
    let dir = scratch_dir("cli_compile_rotate");
    let plain = dir.join("plain.json");
    let rotated = dir.join("rotated.json");
    let compile = |extra: &[&str], out: &std::path::Path| {
        let mut args = vec!["compile", "--lib", "reverse", "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let output = tracr(&args);
        assert!(
            output.status.success(),
            "compile {extra:?}: {}",
            stderr(&output)
        );
    };
    compile(&[], &plain);
    compile(&["--rotate", "7"], &rotated);
    let text = std::fs::read_to_string(&rotated).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["residual_labels"][0], "rotated:0",
        "labels shown as rotated"
    );
    assert_eq!(
        json["residual_map"]["transform"]["seed"], 7,
        "the seed is kept"
    );
    assert!(
        json["residual_map"]["compiled_labels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == "one")),
        "the compiled labels are kept"
    );
    for input in ["a,b,c", "c,c,a,b,a", "b"] {
        let run = |model: &std::path::Path| {
            let output = tracr(&["run", model.to_str().unwrap(), "--input", input]);
            assert!(output.status.success(), "run {input}: {}", stderr(&output));
            stdout(&output)
        };
        assert_eq!(run(&rotated), run(&plain), "rotated vs compiled on {input}");
    }
}

#[test]
fn perturb_rejects_negative_and_nan_sizes() {
    let dir = scratch_dir("cli_compile_perturb");
    let out = dir.join("never.json");
    for bad in ["-0.5", "NaN", "inf"] {
        let output = tracr(&[
            "compile",
            "--lib",
            "reverse",
            "--perturb",
            bad,
            "-o",
            out.to_str().unwrap(),
        ]);
        let message = stderr(&output);
        assert!(!output.status.success(), "--perturb {bad} was accepted");
        assert!(
            message.contains("--perturb") && message.contains(">= 0"),
            "--perturb {bad}: {message}"
        );
        assert!(!out.exists(), "--perturb {bad} wrote a model");
    }
    let ok = tracr(&[
        "compile",
        "--lib",
        "reverse",
        "--perturb",
        "0.01",
        "--perturb-seed",
        "3",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok.status.success(), "--perturb 0.01: {}", stderr(&ok));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json["perturbation"]["epsilon"], 0.01);
    assert_eq!(json["perturbation"]["seed"], 3);
}

//! `tracr compile --compress D|auto` writes a compressed model (d_model = D) that `tracr run` and the
//! TransformerLens export decode as the compiled model does on the inputs it was trained on, says
//! what it did on stderr, and refuses widths outside 1..d_model-1 before any work, writing nothing.

mod cli_support;

use std::path::Path;

use cli_support::{scratch_dir, stderr, stdout, tracr};

fn compile(extra: &[&str], out: &Path) -> std::process::Output {
    let mut args = vec!["compile", "--lib", "reverse", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    tracr(&args)
}

fn run(model: &Path, input: &str) -> String {
    let output = tracr(&["run", model.to_str().unwrap(), "--input", input]);
    assert!(output.status.success(), "run {input}: {}", stderr(&output));
    stdout(&output)
}

#[test]
fn a_compressed_model_runs_like_the_compiled_one_on_its_inputs() {
    let dir = scratch_dir("cli_compile_compress");
    let plain = dir.join("plain.json");
    let compressed = dir.join("compressed.json");
    let folder = dir.join("compressed-tl");
    assert!(compile(&[], &plain).status.success());
    // reverse (d_model 41) at the width docs/harder-truth.md's search found for it.
    let output = compile(&["--compress", "5"], &compressed);
    let message = stderr(&output);
    assert!(output.status.success(), "--compress 5: {message}");
    for part in [
        "from d_model 41 to 5",
        "all 243 inputs of 5 tokens",
        "100.0 % as the compiled model does and 100.0 % as the RASP evaluator does",
        "on the shorter inputs, which it was not trained on",
    ] {
        assert!(message.contains(part), "no `{part}` in: {message}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&compressed).unwrap()).unwrap();
    assert_eq!(json["config"]["d_model"], 5, "the model is 5 wide");
    assert_eq!(json["residual_labels"][0], "compressed:0");
    let output = compile(&["--compress", "5", "--format", "transformerlens"], &folder);
    assert!(output.status.success(), "TL export: {}", stderr(&output));
    // Inputs of max_seq_len (5) tokens: the compression's training and scoring data.
    for input in ["a,b,c,a,b", "c,c,a,b,a", "b,b,b,b,b"] {
        let want = run(&plain, input);
        assert_eq!(run(&compressed, input), want, "JSON vs compiled on {input}");
        assert_eq!(
            run(&folder, input),
            want,
            "TL folder vs compiled on {input}"
        );
    }
}

#[test]
fn auto_finds_a_width_that_keeps_every_input() {
    let dir = scratch_dir("cli_compile_compress_auto");
    let out = dir.join("frac_prevs.json");
    let output = tracr(&[
        "compile",
        "--lib",
        "frac_prevs",
        "--compress",
        "auto",
        "-o",
        out.to_str().unwrap(),
    ]);
    let message = stderr(&output);
    assert!(output.status.success(), "--compress auto: {message}");
    assert!(
        message.contains("widths tried") && message.contains("100.0 % as the compiled model does"),
        "{message}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let width = json["config"]["d_model"].as_u64().unwrap();
    assert!(
        (1..13).contains(&width),
        "frac_prevs (d_model 13) at {width}"
    );
}

#[test]
fn bad_widths_and_budgets_are_refused_before_any_work() {
    let dir = scratch_dir("cli_compile_compress_bad");
    let out = dir.join("never.json");
    for (extra, wanted) in [
        (&["--compress", "0"][..], "between 1 and d_model - 1 = 40"),
        (&["--compress", "41"][..], "between 1 and d_model - 1 = 40"),
        (&["--compress", "400"][..], "got 400"),
        (&["--compress", "-3"][..], "nor `auto`"),
        (&["--compress", "wide"][..], "nor `auto`"),
        (
            &["--compress", "5", "--compress-steps", "0"][..],
            "at least one step",
        ),
        (&["--compress-steps", "10"][..], "--compress"),
    ] {
        let output = compile(extra, &out);
        let message = stderr(&output);
        assert!(!output.status.success(), "{extra:?} was accepted");
        assert!(message.contains(wanted), "{extra:?}: {message}");
        assert!(
            !message.contains("panicked"),
            "{extra:?} panicked: {message}"
        );
        assert!(!out.exists(), "{extra:?} wrote a model");
    }
}

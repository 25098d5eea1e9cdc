//! A `.rasp` file's header (`# vocab:`, `# max_seq_len:`, `# causal:`, ...) sets what `eval`,
//! `check`, `print` and `compile` use, so the commands agree on one file; flags override it, and
//! `--causal=false` overrides `# causal: true`.

mod cli_support;

use cli_support::{assert_fails_with, scratch_dir, stderr, stdout, tracr, write_file};
use serde_json::Value as Json;

/// A mean over all positions: causal evaluation of `0,1` gives `[0, 0.5]`, full gives `[0.5, 0.5]`.
const CAUSAL_MEAN: &str = "# the fraction of ones so far\n\
    # vocab: 0,1\n\
    # max_seq_len: 4\n\
    # causal: true\n\
    is_one = numerical(Map(lambda x: 1 if x == 1 else 0, tokens))\n\
    mean = numerical(Aggregate(Select(indices, indices, TRUE), is_one, default=0))\n";

fn eval_output(args: &[&str]) -> Json {
    let output = tracr(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_str(stdout(&output).trim())
        .unwrap_or_else(|e| panic!("{args:?}: `{}` is not JSON: {e}", stdout(&output)))
}

/// Compiles `program` (with `flags`) and runs the model on `input`: (config, decoded output).
fn compile_and_run(
    dir: &std::path::Path,
    program: &str,
    flags: &[&str],
    input: &str,
) -> (Json, Vec<Json>) {
    let model = dir.join("model.json").display().to_string();
    let mut args = vec!["compile", program, "-o", &model];
    args.extend(flags);
    let output = tracr(&args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    let json: Json = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    let run = tracr(&["run", &model, "--input", input]);
    assert!(run.status.success(), "run {input}: {}", stderr(&run));
    let decoded: Vec<Json> = serde_json::from_str(stdout(&run).trim()).unwrap();
    (json["config"].clone(), decoded)
}

fn assert_close(what: &str, got: &[Json], want: &[f64]) {
    let got: Vec<f64> = got.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
    // The compiled attention is a softmax at coldness 100, not a hard mean: 1e-6 absorbs that.
    let close = got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6);
    assert!(close, "{what}: got {got:?}, want {want:?}");
}

#[test]
fn eval_reads_the_header_and_causal_false_overrides_it() {
    let dir = scratch_dir("header-eval");
    let program = write_file(&dir, "mean.rasp", CAUSAL_MEAN);
    let input = ["--input", "0,1"];
    let with = |extra: &[&str]| {
        let mut args = vec!["eval", program.as_str()];
        args.extend(input);
        args.extend(extra);
        eval_output(&args)
    };
    assert_eq!(with(&[]), serde_json::json!([0, 0.5]), "header says causal");
    assert_eq!(
        with(&["--causal"]),
        serde_json::json!([0, 0.5]),
        "bare --causal"
    );
    assert_eq!(
        with(&["--causal=false"]),
        serde_json::json!([0.5, 0.5]),
        "--causal=false overrides the header"
    );
    // The header's vocabulary and length are enforced, and flags override them too.
    let outside = tracr(&["eval", &program, "--input", "0,2"]);
    assert_fails_with(
        "token outside the header's vocab",
        &outside,
        &["`2`", "{0, 1}"],
    );
    let long = tracr(&["eval", &program, "--input", "0,1,0,1,0"]);
    assert_fails_with(
        "input longer than the header's max_seq_len",
        &long,
        &["at most 4", "--max-seq-len"],
    );
    assert_eq!(
        eval_output(&[
            "eval",
            &program,
            "--input",
            "0,1,0,1,0",
            "--max-seq-len",
            "5",
            "--causal=false"
        ]),
        serde_json::json!([0.4, 0.4, 0.4, 0.4, 0.4])
    );
}

#[test]
fn compile_reads_the_header_and_agrees_with_eval_about_causality() {
    let dir = scratch_dir("header-compile");
    let program = write_file(&dir, "mean.rasp", CAUSAL_MEAN);
    let (config, decoded) = compile_and_run(&dir, &program, &[], "0,1");
    assert_eq!(config["causal"], Json::Bool(true), "config {config}");
    assert_eq!(decoded[0], Json::from("BOS"), "{decoded:?}");
    let evaluated = eval_output(&["eval", &program, "--input", "0,1"]);
    let want: Vec<f64> = evaluated
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_close(
        "compiled with the header's causal: true",
        &decoded[1..],
        &want,
    );

    let (config, decoded) = compile_and_run(&dir, &program, &["--causal=false"], "0,1");
    assert_eq!(config["causal"], Json::Bool(false), "config {config}");
    assert_close("compiled with --causal=false", &decoded[1..], &[0.5, 0.5]);

    // The flag's length overrides the header's 4: the model takes 6 tokens.
    let (_, decoded) = compile_and_run(&dir, &program, &["--max-seq-len", "6"], "0,1,1,1,1,1");
    assert_eq!(decoded.len(), 7, "{decoded:?}");
}

#[test]
fn check_and_print_read_the_header_and_flags_override_it() {
    let dir = scratch_dir("header-check");
    let program = write_file(&dir, "mean.rasp", CAUSAL_MEAN);
    let output = tracr(&["check", &program]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("vocab {0, 1}, max_seq_len 4, causal"),
        "{}",
        stdout(&output)
    );
    let reserved = tracr(&["check", &program, "--vocab", "0,BOS"]);
    assert_fails_with(
        "--vocab overrides the header",
        &reserved,
        &["error:", "Found 'BOS'"],
    );
    let bad_header = write_file(&dir, "bad.rasp", "# max_seq_len: none\nx = tokens\n");
    let output = tracr(&["check", &bad_header, "--vocab", "a"]);
    assert_fails_with(
        "a bad header value",
        &output,
        &["error:", "line 1", "at least 1"],
    );

    // print writes the header, so that the printed file compiles like the original.
    let printed = tracr(&["print", &program]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let text = stdout(&printed);
    for line in ["# vocab: 0,1", "# max_seq_len: 4", "# causal: true"] {
        assert!(
            text.contains(line),
            "`{line}` missing from the printed text:\n{text}"
        );
    }
    let reprinted = write_file(&dir, "printed.rasp", &text);
    assert_eq!(
        eval_output(&["eval", &reprinted, "--input", "0,1"]),
        eval_output(&["eval", &program, "--input", "0,1"]),
        "printed text:\n{text}"
    );
}

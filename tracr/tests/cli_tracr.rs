//! The `tracr` binary: `eval` prints Tracr's outputs as JSON, `check` reports the validator's
//! verdict, and bad input gives an actionable message and a non-zero exit status.

mod rasp_support;

use rasp_support::fixtures::{load, to_values};
use std::path::PathBuf;
use std::process::{Command, Output};
use tracr::value::Value;

fn tracr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(args)
        .output()
        .expect("the tracr binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn lib_file(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("lib")
        .join(format!("{name}.rasp"))
        .display()
        .to_string()
}

/// A temporary `.rasp` file holding `text`, unique per test.
fn temp_program(test: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("tracr-cli-{}-{test}.rasp", std::process::id()));
    std::fs::write(&path, text).expect("temp dir is writable");
    path.display().to_string()
}

/// The JSON the CLI should print for a fixture's RASP output.
fn json_of(values: &[Value]) -> serde_json::Value {
    serde_json::Value::Array(
        values
            .iter()
            .map(|v| match v {
                Value::None => serde_json::Value::Null,
                Value::Bool(b) => serde_json::Value::Bool(*b),
                Value::Int(i) => serde_json::json!(i),
                Value::Float(x) => serde_json::json!(x),
                Value::Str(s) => serde_json::json!(s),
                Value::Tuple(_) => panic!("no fixture output is a tuple"),
            })
            .collect(),
    )
}

fn comma_list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::py_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn eval_prints_tracrs_output_for_every_fixture_input_of_several_programs() {
    for name in [
        "reverse",
        "sort",
        "frac_prevs",
        "shift_by_1",
        "pair_balance",
        "detect_pattern_ab",
    ] {
        let fixture = load(name);
        for input in fixture["inputs"].as_array().unwrap().iter().take(4) {
            let xs = to_values(&input["input"]);
            let want = json_of(&to_values(&input["rasp_output"]));
            let file = lib_file(name);
            for program in [vec!["--lib", name], vec![file.as_str()]] {
                let mut args = vec!["eval"];
                args.extend(&program);
                let list = comma_list(&xs);
                args.extend(["--input", &list]);
                let output = tracr(&args);
                assert!(
                    output.status.success(),
                    "tracr {args:?} failed: {}",
                    stderr(&output)
                );
                let got: serde_json::Value = serde_json::from_str(stdout(&output).trim())
                    .unwrap_or_else(|e| {
                        panic!(
                            "tracr {args:?} printed invalid JSON {:?}: {e}",
                            stdout(&output)
                        )
                    });
                assert_eq!(got, want, "tracr {args:?}");
            }
        }
    }
}

#[test]
fn eval_writes_python_like_values() {
    let output = tracr(&["eval", "--lib", "shift_by_1", "--input", "a,b"]);
    assert_eq!(stdout(&output).trim(), r#"[null, "a"]"#);
    let output = tracr(&["eval", "--lib", "frac_prevs", "--input", "x,a"]);
    // Tracr's mean of one selected True is True itself; of [True, False] it is 0.5.
    assert_eq!(stdout(&output).trim(), "[true, 0.5]");
    let program = temp_program(
        "values",
        "x = Map(lambda x: (x, x / 2) if x > 1 else x * 1.0, tokens)",
    );
    let output = tracr(&["eval", &program, "--input", "1,3"]);
    assert_eq!(
        stdout(&output).trim(),
        "[1.0, [3, 1.5]]",
        "{}",
        stderr(&output)
    );
}

#[test]
fn causal_evaluation_sees_only_the_prefix() {
    let program = temp_program(
        "causal",
        "is_one = numerical(Map(lambda x: 1 if x == 1 else 0, tokens))\n\
         mean = numerical(Aggregate(Select(indices, indices, TRUE), is_one, default=0))",
    );
    let full = tracr(&["eval", &program, "--input", "0,1"]);
    let causal = tracr(&["eval", &program, "--input", "0,1", "--causal"]);
    assert_eq!(stdout(&full).trim(), "[0.5, 0.5]", "{}", stderr(&full));
    assert_eq!(stdout(&causal).trim(), "[0, 0.5]", "{}", stderr(&causal));
}

#[test]
fn unknown_library_name_lists_the_available_ones() {
    let output = tracr(&["eval", "--lib", "revrese", "--input", "a"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("unknown library program `revrese`") && message.contains("reverse, hist"),
        "{message}"
    );
}

#[test]
fn missing_file_is_reported_with_its_path() {
    let output = tracr(&["eval", "/nonexistent/prog.rasp", "--input", "a"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot read `/nonexistent/prog.rasp`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn parse_error_shows_line_column_and_a_caret() {
    let program = temp_program("parse", "a = tokens\nb = Map(lambda x x, a)\n");
    let output = tracr(&["eval", &program, "--input", "a"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("line 2, column 18") && message.contains(":2:18"),
        "{message}"
    );
    assert!(
        message.contains("2 | b = Map(lambda x x, a)\n  |                  ^"),
        "{message}"
    );
}

#[test]
fn input_token_outside_the_vocabulary_is_refused() {
    let output = tracr(&["eval", "--lib", "sort", "--input", "1,7"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .contains("input token `7` (position 1) is not in the vocabulary {1, 2, 3, 4}"),
        "{}",
        stderr(&output)
    );
    let output = tracr(&[
        "eval",
        &lib_file("reverse"),
        "--input",
        "a,z",
        "--vocab",
        "a,b",
    ]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("`z`"), "{}", stderr(&output));
}

#[test]
fn check_accepts_a_compilable_program() {
    let output = tracr(&[
        "check",
        &lib_file("sort"),
        "--vocab",
        "1,2,3,4",
        "--max-seq-len",
        "5",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("OK: `sort_1`"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn check_reports_the_validators_reason_and_fails() {
    let program = temp_program(
        "check",
        "s = Select(tokens, tokens, EQ)\nw = SelectorWidth(s & Select(tokens, indices, LT))\n",
    );
    let output = tracr(&["check", &program, "--vocab", "a,b", "--max-seq-len", "4"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .contains("Compiling composite Selectors is not supported. Got a SelectorAnd."),
        "{}",
        stderr(&output)
    );
    let numerical_keys = temp_program(
        "check2",
        "k = numerical(Map(lambda x: x, tokens))\nw = SelectorWidth(Select(k, k, EQ))\n",
    );
    let output = tracr(&[
        "check",
        &numerical_keys,
        "--vocab",
        "1,2",
        "--max-seq-len",
        "4",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("Select keys must be categorical."),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_refuses_a_reserved_token_or_a_missing_vocabulary() {
    let output = tracr(&[
        "check",
        &lib_file("hist"),
        "--vocab",
        "a,BOS",
        "--max-seq-len",
        "4",
    ]);
    // check uses compile's BOS token (`BOS` unless --bos says otherwise), so it refuses what
    // compile refuses.
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("Found 'BOS' in the vocab"),
        "{}",
        stderr(&output)
    );
    let output = tracr(&["check", &lib_file("hist"), "--max-seq-len", "4"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--vocab"), "{}", stderr(&output));
}

#[test]
fn print_writes_text_that_evaluates_like_the_file() {
    let output = tracr(&["print", &lib_file("sort_freq")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = temp_program("print", &stdout(&output));
    let a = tracr(&["eval", &lib_file("sort_freq"), "--input", "1,2,2,3,3"]);
    let b = tracr(&["eval", &printed, "--input", "1,2,2,3,3"]);
    assert_eq!(stdout(&a), stdout(&b));
}

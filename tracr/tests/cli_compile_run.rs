//! `tracr compile` writes the real Tracr's model for every fixture program, `tracr run` on that file
//! reproduces Tracr's decoded outputs and residual streams, `--describe` names every head and MLP,
//! and bad input fails with a message and without touching the output file.

mod common;

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tracr::value::Value;

fn tracr<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
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

/// An empty directory of this test process's own, one per test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracr-cli-compile-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temp dir is writable");
    dir
}

fn lib_file(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("lib")
        .join(format!("{name}.rasp"))
        .display()
        .to_string()
}

/// What `tracr compile --lib NAME -o FILE --describe` gave for one fixture program.
struct Compiled {
    model_file: PathBuf,
    describe: String,
}

/// Every fixture program compiled once through the binary (both -o and --describe at once),
/// shared by the tests that read the files.
fn compiled_fixtures() -> &'static BTreeMap<String, Compiled> {
    static COMPILED: OnceLock<BTreeMap<String, Compiled>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let dir = scratch_dir("fixtures");
        common::fixture_names()
            .into_iter()
            .map(|name| {
                let model_file = dir.join(format!("{name}.json"));
                let output = tracr(&[
                    "compile".as_ref(),
                    "--lib".as_ref(),
                    name.as_ref(),
                    "-o".as_ref(),
                    model_file.as_os_str(),
                    "--describe".as_ref(),
                ]);
                assert!(
                    output.status.success(),
                    "tracr compile --lib {name} failed: {}",
                    stderr(&output)
                );
                let describe = stdout(&output);
                (
                    name,
                    Compiled {
                        model_file,
                        describe,
                    },
                )
            })
            .collect()
    })
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn flatten(json: &Json) -> Vec<f64> {
    match json {
        Json::Array(items) => items.iter().flat_map(flatten).collect(),
        other => vec![other
            .as_f64()
            .unwrap_or_else(|| panic!("{other} is not a number"))],
    }
}

/// The fixtures hold float32 weights and ours are f64: 1e-6 is ~10 float32 ulps relative. Below
/// magnitude 1 the bound is absolute, because float32 rounding of a near-zero product leaves an
/// absolute, not a relative, residue.
const WEIGHT_TOLERANCE: f64 = 1e-6;

/// Asserts that the model JSON `ours` has the fixture model's schema, config, labels and weights.
fn assert_model_json_matches(what: &str, ours: &Json, fixture: &Json) {
    let theirs = common::fixture_model(fixture);
    let keys = |j: &Json| j.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(ours), keys(&theirs), "{what}: top-level fields");
    for field in [
        "config",
        "residual_labels",
        "tokens_labels",
        "indices_labels",
        "output_labels",
        "output_residual_indices",
        "categorical_output",
        "input_encoding",
        "output_encoding",
        "layers",
    ] {
        assert_eq!(
            ours[field], theirs[field],
            "{what}: `{field}`\nours:  {}\nTracr: {}",
            ours[field], theirs[field]
        );
    }
    let (ours_w, theirs_w) = (&ours["weights"], &theirs["weights"]);
    assert_eq!(keys(ours_w), keys(theirs_w), "{what}: parameter names");
    for (key, params) in theirs_w.as_object().unwrap() {
        for (param, theirs_p) in params.as_object().unwrap() {
            let (a, b) = (flatten(&ours_w[key][param]), flatten(theirs_p));
            assert_eq!(a.len(), b.len(), "{what}: {key}/{param} size");
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (x - y).abs() <= WEIGHT_TOLERANCE * y.abs().max(1.0),
                    "{what}: {key}/{param}[{i}]: ours {x}, Tracr {y}"
                );
            }
        }
    }
}

#[test]
fn compile_writes_tracrs_model_for_every_fixture_program() {
    let compiled = compiled_fixtures();
    assert_eq!(compiled.len(), common::fixture_names().len());
    for (name, c) in compiled {
        let fixture = common::load_fixture(name);
        assert_model_json_matches(
            &format!("tracr compile --lib {name}"),
            &read_json(&c.model_file),
            &fixture,
        );
    }
}

/// A fixture value as `tracr run --input` spells it.
fn comma_list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::py_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// One JSON document per stdout line.
fn json_lines(output: &Output) -> Vec<Json> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn run_reproduces_tracrs_decoded_output_for_every_fixture_input() {
    for (name, c) in compiled_fixtures() {
        let fixture = common::load_fixture(name);
        let inputs = fixture["inputs"].as_array().unwrap();
        // Half the inputs without BOS, half with it, which `run` must not double.
        let lists: Vec<String> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let key = if i % 2 == 0 { "input" } else { "model_input" };
                comma_list(&common::values(&input[key]))
            })
            .collect();
        let mut args = vec!["run".to_string(), c.model_file.display().to_string()];
        for list in &lists {
            args.extend(["--input".to_string(), list.clone()]);
        }
        let output = tracr(&args);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let got = json_lines(&output);
        assert_eq!(got.len(), inputs.len(), "{name}: one line per input");
        for ((got, input), list) in got.iter().zip(inputs).zip(&lists) {
            let want = &input["model_decoded"];
            if fixture["model"]["categorical_output"] == Json::Bool(true) {
                assert_eq!(got, want, "{name}: tracr run --input {list}");
                continue;
            }
            let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
            assert_eq!(got.len(), want.len(), "{name}: --input {list}");
            assert_eq!(got[0], want[0], "{name}: --input {list}: BOS first");
            for (pos, (a, b)) in got.iter().zip(want).enumerate().skip(1) {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                // float32 (Tracr) vs f64 (ours): 1e-5, relative above magnitude 1, as for traces.
                assert!(
                    common::close(a, b),
                    "{name}: --input {list} position {pos}: ours {a}, Tracr {b}"
                );
            }
        }
    }
}

fn matrix_diff_ok(ours: &Json, theirs: &Json) -> Option<(usize, f64, f64)> {
    let (a, b) = (flatten(ours), flatten(theirs));
    assert_eq!(a.len(), b.len(), "matrix sizes");
    a.into_iter()
        .zip(b)
        .enumerate()
        .find(|(_, (x, y))| !common::close(*x, *y))
        .map(|(i, (x, y))| (i, x, y))
}

#[test]
fn run_trace_reproduces_tracrs_residual_stream_after_every_half_layer() {
    for (name, c) in compiled_fixtures() {
        let fixture = common::load_fixture(name);
        let traces = fixture["traces"].as_array().unwrap();
        assert!(!traces.is_empty(), "{name} has no traces");
        let mut args = vec![
            "run".to_string(),
            c.model_file.display().to_string(),
            "--trace".to_string(),
        ];
        for trace in traces {
            args.extend([
                "--input".to_string(),
                comma_list(&common::values(&trace["model_input"])),
            ]);
        }
        let output = tracr(&args);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let got = json_lines(&output);
        assert_eq!(got.len(), traces.len(), "{name}: one object per input");
        for (ours, theirs) in got.iter().zip(traces) {
            let input = &theirs["model_input"];
            assert_eq!(&ours["model_input"], input, "{name}");
            assert_eq!(
                ours["residual_labels"], fixture["model"]["residual_labels"],
                "{name}: the residual columns' names"
            );
            assert_eq!(
                ours["residual_names"], theirs["residual_names"],
                "{name}: half-layer names"
            );
            if let Some((i, a, b)) =
                matrix_diff_ok(&ours["input_embeddings"], &theirs["input_embeddings"])
            {
                panic!("{name} {input}: input embedding entry {i}: ours {a}, Tracr {b}");
            }
            let (ours_r, theirs_r) = (
                ours["residuals"].as_array().unwrap(),
                theirs["residuals"].as_array().unwrap(),
            );
            assert_eq!(ours_r.len(), theirs_r.len(), "{name}: half-layers");
            for ((a, b), module) in ours_r
                .iter()
                .zip(theirs_r)
                .zip(theirs["residual_names"].as_array().unwrap())
            {
                if let Some((i, x, y)) = matrix_diff_ok(a, b) {
                    panic!(
                        "{name} {input}: residual after {module}, entry {i}: ours {x}, Tracr {y}"
                    );
                }
            }
        }
    }
}

#[test]
fn describe_names_every_head_and_mlp_with_its_rasp_label() {
    for (name, c) in compiled_fixtures() {
        let fixture = common::load_fixture(name);
        let lines: Vec<&str> = c.describe.lines().collect();
        for layer in fixture["model"]["layers"].as_array().unwrap() {
            let module = layer["module"].as_str().unwrap();
            let units: Vec<(String, &str)> = match layer["kind"].as_str().unwrap() {
                "attn" => layer["heads"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (format!("head {}", h["head"]), h["label"].as_str().unwrap()))
                    .collect(),
                _ => layer["mlps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| ("mlp ".to_string(), m["label"].as_str().unwrap()))
                    .collect(),
            };
            if units.is_empty() {
                assert!(
                    lines
                        .iter()
                        .any(|l| l.starts_with(module) && l.contains("(empty)")),
                    "{name}: no `(empty)` row for {module} in\n{}",
                    c.describe
                );
            }
            for (unit, label) in units {
                assert!(
                    lines.iter().any(|l| {
                        let words: Vec<&str> = l.split_whitespace().collect();
                        l.starts_with(module) && l.contains(&unit) && words.contains(&label)
                    }),
                    "{name}: no row for {module} {unit} computing `{label}` in\n{}",
                    c.describe
                );
            }
        }
        let d_model = fixture["model"]["config"]["d_model"].as_u64().unwrap();
        assert!(
            c.describe
                .contains(&format!("residual stream ({d_model} dimensions)")),
            "{name}: residual summary missing in\n{}",
            c.describe
        );
    }
}

#[test]
fn describe_alone_prints_the_table_and_writes_no_file() {
    let dir = scratch_dir("describe-alone");
    let output = Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(["compile", "--lib", "sort_unique", "--describe"])
        .current_dir(&dir)
        .output()
        .expect("the tracr binary runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim_end(),
        compiled_fixtures()["sort_unique"].describe.trim_end(),
        "--describe alone and with -o print the same table"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn compile_of_rasp_files_with_cli_arguments_matches_tracr() {
    let dir = scratch_dir("rasp-files");
    // sort: an integer vocabulary given on the command line; frac_prevs_causal: --causal.
    for (name, extra) in [
        ("sort", vec!["--vocab", "1,2,3,4", "--max-seq-len", "5"]),
        (
            "frac_prevs_causal",
            vec!["--vocab", "a,b,x", "--max-seq-len", "5", "--causal"],
        ),
        (
            "reverse",
            vec![
                "--vocab",
                "a,b,c",
                "--max-seq-len",
                "5",
                "--bos",
                "BOS",
                "--mlp-exactness",
                "100",
            ],
        ),
    ] {
        let out = dir.join(format!("{name}.json"));
        let mut args = vec!["compile".to_string(), lib_file(name)];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["-o".to_string(), out.display().to_string()]);
        let output = tracr(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert_model_json_matches(
            &format!("tracr {}", args.join(" ")),
            &read_json(&out),
            &common::load_fixture(name),
        );
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files left behind: {names:?}");
}

/// Runs a compile that must fail, into a directory that holds `previous` at the output path, and
/// returns its stderr after checking that the directory is exactly as before.
fn failing_compile(test: &str, args: &[&str]) -> String {
    let dir = scratch_dir(test);
    let existing = dir.join("model.json");
    std::fs::write(&existing, "previous").unwrap();
    let fresh = dir.join("fresh.json");
    for target in [&existing, &fresh] {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["-o".to_string(), target.display().to_string()]);
        let output = tracr(&all);
        assert!(
            !output.status.success(),
            "{all:?} succeeded: {}",
            stdout(&output)
        );
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["model.json"], "{all:?} left files behind");
        assert_eq!(
            std::fs::read_to_string(&existing).unwrap(),
            "previous",
            "{all:?} touched the existing file"
        );
        if target == &fresh {
            return stderr(&output);
        }
    }
    unreachable!()
}

#[test]
fn failed_validation_writes_nothing_and_reports_the_validators_reason() {
    let dir = scratch_dir("invalid-program");
    let program = dir.join("composite.rasp");
    std::fs::write(
        &program,
        "s = Select(tokens, tokens, EQ)\nw = SelectorWidth(s & Select(tokens, indices, LT))\n",
    )
    .unwrap();
    let program = program.display().to_string();
    let message = failing_compile(
        "invalid-program-out",
        &["compile", &program, "--vocab", "a,b", "--max-seq-len", "4"],
    );
    // Tracr's validator's words for a SelectorAnd.
    assert!(
        message.contains("Compiling composite Selectors is not supported. Got a SelectorAnd."),
        "{message}"
    );
    let message = failing_compile(
        "reserved-token",
        &["compile", "--lib", "hist", "--vocab", "a,BOS"],
    );
    assert!(
        message.contains("Compiler BOS token must not be present in the vocab. Found 'BOS'"),
        "{message}"
    );
}

#[test]
fn compile_of_a_rasp_file_says_which_argument_is_missing() {
    let output = tracr(&["compile", &lib_file("reverse"), "--describe"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--vocab"), "{}", stderr(&output));
    let output = tracr(&[
        "compile",
        &lib_file("reverse"),
        "--vocab",
        "a,b",
        "--describe",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--max-seq-len"),
        "{}",
        stderr(&output)
    );
    let output = tracr(&["compile", "--lib", "reverse"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--output") && stderr(&output).contains("--describe"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_errors_say_what_is_wrong_with_the_file_or_the_input() {
    let dir = scratch_dir("run-errors");
    let reverse = &compiled_fixtures()["reverse"].model_file;
    let reverse = reverse.display().to_string();
    let missing = dir.join("missing.json").display().to_string();
    let not_json = dir.join("not-json.json");
    std::fs::write(&not_json, "weights?").unwrap();
    let not_model = dir.join("not-model.json");
    std::fs::write(&not_model, r#"{"config": {}}"#).unwrap();
    let (not_json, not_model) = (
        not_json.display().to_string(),
        not_model.display().to_string(),
    );
    for (args, wanted) in [
        (vec!["run", &missing, "--input", "a"], "cannot read"),
        (
            vec!["run", &not_json, "--input", "a"],
            "is not a JSON document",
        ),
        (
            vec!["run", &not_model, "--input", "a"],
            "is not a compiled model",
        ),
        (
            vec!["run", &reverse, "--input", "a,d"],
            "input token `d` (position 1) is not in the vocabulary {a, b, c}",
        ),
        (
            vec!["run", &reverse, "--input", "a,b,c,a,b,c"],
            "the input has 6 tokens but the model was compiled for at most 5",
        ),
        (
            vec!["run", &reverse, "--input", "a", "--input", "a,BOS"],
            "(in --input #2 `a,BOS`)",
        ),
    ] {
        let output = tracr(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stdout(&output).is_empty(), "{args:?}: {}", stdout(&output));
        assert!(
            stderr(&output).contains(wanted),
            "{args:?}: expected `{wanted}` in\n{}",
            stderr(&output)
        );
    }
}

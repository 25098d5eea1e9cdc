//! Options that would do nothing, or nonsense, are rejected up front with what is valid (issue 9,
//! defects 10, 11 and 15).

mod cli_common;

use cli_common::{edgeprune, rejected};

#[test]
fn bench_sizes_of_zero_are_rejected_before_any_timing() {
    for flag in [
        "--gpt2-seq-len",
        "--gpt2-steps",
        "--gpt2-batch",
        "--reverse-runs",
    ] {
        let message = rejected(&["bench", flag, "0"], &[flag, "at least 1"]);
        assert!(!message.contains("expected 1..=0"), "{flag}: {message}");
    }
}

#[test]
fn bench_quotes_the_official_time_as_a_constant_from_another_machine() {
    let output = edgeprune(&["bench", "--reverse-runs", "1", "--skip-gpt2"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("not measured here") && text.contains("128.9 s"),
        "{text}"
    );
    assert!(
        !text.contains("on this machine"),
        "the official time is not from this machine: {text}"
    );
}

#[test]
fn prune_rejects_options_that_mean_nothing() {
    rejected(
        &[
            "prune",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--dtype",
            "f32",
        ],
        &["--dtype", "--backend candle"],
    );
    for target in ["5", "-0.5"] {
        rejected(
            &[
                "prune",
                "--lib",
                "reverse_123",
                "--lengths",
                "3",
                "--target",
                target,
            ],
            &["--target", "0..=1.1"],
        );
    }
}

#[test]
fn repeated_lengths_are_rejected() {
    rejected(
        &["truth", "--lib", "reverse_123", "--lengths", "3,3"],
        &["--lengths", "3 is given twice"],
    );
}

#[test]
fn graph_takes_no_data_options() {
    for (flag, value) in [
        ("--ablation", "mean"),
        ("--lengths", "3"),
        ("--data-seed", "1"),
    ] {
        rejected(&["graph", "--lib", "reverse_123", flag, value], &[flag]);
    }
}

#[test]
fn a_model_without_output_dimensions_is_rejected() {
    let dir = std::env::temp_dir().join(format!("edgeprune-no-output-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = tracr::library::by_name("reverse_123").unwrap();
    let compiled = tracr::compile(
        &program.program,
        &program.vocab,
        program.max_seq_len,
        &tracr::CompileOptions::default(),
    )
    .unwrap();
    let mut model = compiled.to_json();
    model["output_residual_indices"] = serde_json::json!([]);
    let path = dir.join("no_output.json");
    std::fs::write(&path, model.to_string()).unwrap();
    rejected(
        &["truth", "--model", path.to_str().unwrap()],
        &["output_residual_indices", "empty"],
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn negative_seeds_get_the_valid_range() {
    for args in [
        vec![
            "prune",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--seed",
            "-1",
        ],
        vec!["truth", "--lib", "reverse_123", "--data-seed", "-1"],
        vec!["demo", "--seed", "-1"],
    ] {
        let message = rejected(&args, &["-1", "from 0 to 18446744073709551615"]);
        assert!(!message.contains("-- -1"), "{args:?}: {message}");
    }
}

//! The prune and truth JSON use the command line's names (`positive`, `edge-pruning`) and keep integer
//! vocabularies as JSON integers (issue 9, defect 9).

mod cli_common;

use cli_common::{edgeprune, json_of};
use serde_json::{json, Value as Json};

fn run_json(args: &[&str]) -> Json {
    json_of(&edgeprune(args), &format!("{args:?}"))
}

#[test]
fn extraction_rules_are_named_as_on_the_command_line() {
    for (flag, name, threshold) in [
        ("positive", "positive", Json::Null),
        ("edge-pruning", "edge-pruning", json!(0.005)),
    ] {
        let summary = run_json(&[
            "prune",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--preset",
            "reverse",
            "--seed",
            "42",
            "--no-truth",
            "--extraction",
            flag,
        ]);
        let config = &summary["config"];
        assert_eq!(config["extraction"], name, "--extraction {flag}: {config}");
        assert_eq!(
            config["extraction_threshold"], threshold,
            "--extraction {flag}: {config}"
        );
    }
}

#[test]
fn integer_vocabularies_are_json_integers() {
    let summary = run_json(&[
        "prune",
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
        "--steps",
        "10",
        "--no-truth",
    ]);
    assert_eq!(
        summary["task"]["vocab"],
        json!([1, 2, 3]),
        "{}",
        summary["task"]
    );
    let truth = run_json(&["truth", "--lib", "reverse", "--lengths", "2", "--json", "-"]);
    assert_eq!(
        truth["task"]["vocab"],
        json!(["a", "b", "c"]),
        "{}",
        truth["task"]
    );
}

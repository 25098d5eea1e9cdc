//! The `edgeprune` binary: edge counts, ground truth files, quiet JSON when piped, the demo, errors.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value as Json;

fn edgeprune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeprune"))
        .args(args)
        .output()
        .expect("the edgeprune binary runs")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeprune-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn graph_prints_the_papers_edge_counts() {
    for (lib, edges) in [("reverse_123", 94), ("xproportion", 32)] {
        let output = edgeprune(&["graph", "--lib", lib]);
        assert!(output.status.success());
        let text = stdout(&output);
        assert!(
            text.contains(&format!("{edges} edges (paper's formula: {edges})")),
            "{text}"
        );
        assert_eq!(
            text.lines().count(),
            edges + 1,
            "one line per edge after the summary"
        );
    }
}

#[test]
fn unknown_programs_and_bad_vocabularies_are_typed_errors() {
    let unknown = edgeprune(&["graph", "--lib", "nope"]);
    assert!(!unknown.status.success());
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        message.contains("nope") && message.contains("reverse_123"),
        "{message}"
    );
    let reserved = edgeprune(&["graph", "--lib", "reverse", "--vocab", "a,BOS"]);
    assert!(!reserved.status.success());
    assert!(String::from_utf8_lossy(&reserved.stderr).contains("BOS"));
    let long = edgeprune(&["truth", "--lib", "reverse", "--lengths", "9"]);
    assert!(!long.status.success());
    assert!(String::from_utf8_lossy(&long.stderr).contains("1..=5"));
}

#[test]
fn truth_writes_json_svg_and_dot_that_read_back() {
    let dir = temp("truth");
    let (json, svg, dot) = (dir.join("gt.json"), dir.join("gt.svg"), dir.join("gt.dot"));
    let output = edgeprune(&[
        "truth",
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
        "--json",
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--dot",
        dot.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Json = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["structural"]["num_edges"], 15);
    assert_eq!(report["functional"]["num_edges"], 11);
    assert_eq!(report["functional"]["certified"], true);
    assert_eq!(report["differences"].as_array().unwrap().len(), 4);
    let drawing = std::fs::read_to_string(&svg).unwrap();
    assert!(drawing.starts_with("<svg") && drawing.trim_end().ends_with("</svg>"));
    // One path per edge of either circuit: the 15 structural edges.
    assert_eq!(drawing.matches("<path class=\"edge\"").count(), 15);
    assert_eq!(
        drawing.matches("<path").count(),
        drawing.matches("</path>").count()
    );
    let graphviz = std::fs::read_to_string(&dot).unwrap();
    assert_eq!(graphviz.matches(" -> ").count(), 15);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prune_prints_quiet_json_when_piped_and_finds_the_ground_truth() {
    let output = edgeprune(&[
        "prune",
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
        "--preset",
        "reverse",
        "--seed",
        "42",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "no progress bar when not on a terminal"
    );
    let summary: Json =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(summary["ground_truth"]["exact"], true, "{summary}");
    assert_eq!(summary["circuit"]["num_edges"], 11);
}

#[test]
fn demo_prints_exact_recovery_and_draws_the_circuit() {
    let dir = temp("demo");
    let svg = dir.join("demo.svg");
    let output = edgeprune(&["demo", "--svg", svg.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    assert!(
        text.contains("exact recovery of the ground truth"),
        "{text}"
    );
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("found and in the ground truth (11)"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unwritable_output_leaves_no_file_behind() {
    let dir = temp("unwritable");
    let target = dir.join("missing-dir").join("gt.json");
    let output = edgeprune(&[
        "truth",
        "--lib",
        "xproportion",
        "--json",
        target.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing-dir"));
    assert!(
        std::fs::read_dir(&dir).unwrap().count() == 0,
        "nothing may be left in {}",
        dir.display()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn truth_on_every_length_recovers_the_papers_reverse_circuit() {
    // With only length-5 inputs the length of the sequence is constant and its circuit is not needed;
    // certifying on lengths 1..=5 at once needs it again: the paper's 11 edges.
    let single = edgeprune(&["truth", "--lib", "reverse_123", "--lengths", "5"]);
    assert!(
        stdout(&single).contains("functional: 9 edges"),
        "{}",
        stdout(&single)
    );
    let all = edgeprune(&["truth", "--lib", "reverse_123", "--lengths", "1,2,3,4,5"]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert!(
        stdout(&all).contains("functional: 11 edges"),
        "{}",
        stdout(&all)
    );
    let prune = edgeprune(&["prune", "--lib", "reverse_123", "--lengths", "3,4"]);
    assert!(!prune.status.success());
    assert!(String::from_utf8_lossy(&prune.stderr).contains("one sequence length"));
}

//! `edgeprune compare` and `edgeprune score` through the binary: the report's shape, what ACDC and the
//! gradient methods get on Edge Pruning's reverse setting, and bad input refused before anything is written.

mod cli_common;
mod common;

use cli_common::{edgeprune, rejected, scratch, text};
use serde_json::Value as Json;

/// The paper's reverse circuit (a fact from the paper, tests/common), which the truth search must find.
const REVERSE_TRUTH: [&str; 11] = common::paper_circuits::REVERSE;

#[test]
fn compare_reports_every_method_against_the_known_minimal_circuits() {
    let dir = scratch("compare");
    let json_path = dir.join("cmp.json");
    let svg_path = dir.join("cmp.svg");
    let output = edgeprune(&[
        "compare",
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
        "--methods",
        "acdc,eap,eap-ig,random",
        "--json",
        json_path.to_str().unwrap(),
        "--svg",
        svg_path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Json = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let minimal = report["truth"]["minimal_circuits"].as_array().unwrap();
    assert_eq!(
        minimal.len(),
        1,
        "reverse_123 has one minimal circuit: {minimal:?}"
    );
    assert_eq!(report["truth"]["complete"], true);
    let mut truth: Vec<&str> = minimal[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    truth.sort_unstable();
    let mut expected = REVERSE_TRUTH.to_vec();
    expected.sort_unstable();
    assert_eq!(truth, expected, "the known minimal circuit is the paper's");
    let methods = report["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acdc", "eap", "eap-ig", "random"]);
    for method in methods {
        for key in [
            "scores",
            "circuit",
            "faithful",
            "exact",
            "precision",
            "recall",
            "f1",
            "auc",
            "cpr",
            "cmd",
            "seconds",
            "forwards",
        ] {
            assert!(method.get(key).is_some(), "{} lacks {key}", method["name"]);
        }
        assert_eq!(
            method["scores"].as_object().unwrap().len(),
            94,
            "one score per edge"
        );
        // Every operating point here is certified faithful (smallest faithful top-k or sweep).
        assert_eq!(method["faithful"], true, "{}", method["name"]);
    }
    let acdc = &methods[0];
    assert_eq!(acdc["exact"], true, "ACDC finds the truth: {acdc}");
    assert_eq!(acdc["equals_minimal_circuit"], 0);
    assert_eq!(acdc["auc"], 1.0);
    // EAP ranks the truth's edges first (AUC near 1), random does not.
    let eap_auc = methods[1]["auc"].as_f64().unwrap();
    let random_auc = methods[3]["auc"].as_f64().unwrap();
    assert!(eap_auc > 0.95, "EAP AUC {eap_auc}");
    assert!(random_auc < eap_auc, "random {random_auc} vs EAP {eap_auc}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_eq!(
        svg.matches("class=\"curve\"").count(),
        8,
        "a ROC and a faithfulness curve per method"
    );
    let table = text(&output.stdout);
    assert!(table.contains("= minimal circuit #1"), "{table}");
}

#[test]
fn score_reads_a_circuit_file_and_scores_it_against_the_truth() {
    let dir = scratch("score");
    let exact = dir.join("exact.json");
    std::fs::write(&exact, serde_json::to_string(&REVERSE_TRUTH).unwrap()).unwrap();
    let output = edgeprune(&[
        "score",
        exact.to_str().unwrap(),
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("= minimal circuit #1"),
        "{}",
        text(&output.stdout)
    );
    // Edge Pruning's own edge-list format, one edge short: faithful no more.
    let pairs: Vec<[&str; 2]> = REVERSE_TRUTH[1..]
        .iter()
        .map(|e| {
            let (w, r) = e.split_once("->").unwrap();
            [if w == "tok" { "tok_embeds" } else { w }, r]
        })
        .collect();
    let short = dir.join("short.json");
    std::fs::write(&short, serde_json::to_string(&pairs).unwrap()).unwrap();
    let scores = dir.join("scores.json");
    let output = edgeprune(&[
        "score",
        short.to_str().unwrap(),
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
        "--json",
        scores.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Json = serde_json::from_str(&std::fs::read_to_string(&scores).unwrap()).unwrap();
    let method = &report["methods"][0];
    assert_eq!(method["faithful"], false, "{method}");
    assert_eq!(method["recall"].as_f64().unwrap(), 10.0 / 11.0);
    assert_eq!(method["precision"], 1.0);
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = scratch("bad");
    let json_path = dir.join("out.json");
    let out = json_path.to_str().unwrap();
    rejected(
        &[
            "compare",
            "--lib",
            "reverse_123",
            "--methods",
            "acdc,nope",
            "--json",
            out,
        ],
        &["unknown method `nope`", "acdc", "eap-ig", "random"],
    );
    rejected(
        &["compare", "--lib", "reverse_123", "--methods", "acdc,acdc"],
        &["twice"],
    );
    rejected(&["compare"], &["--lib", "--program", "--model"]);
    rejected(
        &["compare", "--all", "--lib", "sort"],
        &["--all", "drop --lib"],
    );
    rejected(
        &[
            "compare",
            "--lib",
            "reverse_123",
            "--json",
            "no-such-dir/x.json",
        ],
        &["cannot write", "does not exist"],
    );
    let bad_circuit = dir.join("bad.json");
    std::fs::write(&bad_circuit, r#"["tok->a9.h0.q"]"#).unwrap();
    rejected(
        &[
            "score",
            bad_circuit.to_str().unwrap(),
            "--lib",
            "reverse_123",
            "--json",
            out,
        ],
        &["a9.h0.q"],
    );
    assert!(!json_path.exists(), "nothing is written on bad input");
}

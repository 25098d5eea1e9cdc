//! The `edgeprune` binary: edge counts, ground truth files, quiet JSON when piped, the demo, errors.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value as Json;

mod cli_common;
use cli_common::{edgeprune, json_of, scratch as temp};

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
        let edge_lines = text
            .lines()
            .skip(1)
            .take_while(|line| *line != "components:")
            .count();
        assert_eq!(
            edge_lines, edges,
            "one line per edge after the summary:\n{text}"
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
    let report = dir.join("demo.html");
    let output = edgeprune(&[
        "demo",
        "--svg",
        svg.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
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
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(
        page.contains("<section id=\"edge-pruning\">")
            && page.contains("found and in the ground truth (11)"),
        "the demo's report lacks its Edge Pruning run"
    );
    assert!(text.contains(report.to_str().unwrap()), "{text}");
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

/// Tracr's reverse as a user would write it, settings in the header.
const REVERSE_RASP: &str = "# vocab: 1,2,3
# max_seq_len: 5
all_true_selector = Select(tokens, tokens, TRUE).named(\"all_true_selector\")
length = SelectorWidth(all_true_selector).named(\"length\")
opp_idx = (length - indices).named(\"opp_idx\")
opp_idx = (opp_idx - 1).named(\"opp_idx-1\")
reverse_selector = Select(indices, opp_idx, EQ).named(\"reverse_selector\")
reverse = Aggregate(reverse_selector, tokens).named(\"reverse\")
";

/// Writes `my_reverse.rasp` and the model `tracr compile my_reverse.rasp -o my_reverse.json` writes
/// (the same library call the tracr binary makes).
fn own_program(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let rasp = dir.join("my_reverse.rasp");
    std::fs::write(&rasp, REVERSE_RASP).unwrap();
    let parsed = tracr::rasp::text::parse_program(REVERSE_RASP).unwrap();
    let vocab = [1, 2, 3].map(tracr::value::Value::Int);
    let compiled =
        tracr::compile(&parsed.output, &vocab, 5, &tracr::CompileOptions::default()).unwrap();
    let model = dir.join("my_reverse.json");
    tracr::cli::model_file::write_model(&compiled, &model).unwrap();
    (rasp, model)
}

#[test]
fn truth_and_prune_run_on_a_rasp_file_and_on_a_compiled_model() {
    let dir = temp("own");
    let (rasp, model) = own_program(&dir);
    let truth = |source: &[&str]| {
        let mut args = vec!["truth", "--lengths", "3", "--json", "-"];
        args.extend_from_slice(source);
        json_of(&edgeprune(&args), &format!("truth {source:?}"))
    };
    let library = truth(&["--lib", "reverse_123"]);
    for source in [
        ["--program", rasp.to_str().unwrap()],
        ["--model", model.to_str().unwrap()],
    ] {
        let own = truth(&source);
        for part in ["structural", "functional"] {
            assert_eq!(
                own[part]["edges"], library[part]["edges"],
                "{part} truth of {source:?} vs --lib reverse_123"
            );
        }
        assert_eq!(own["functional"]["certified"], true, "{source:?}: {own}");
        assert_eq!(own["task"]["vocab"], serde_json::json!([1, 2, 3]));
        assert_eq!(own["task"]["program"], "my_reverse");
        assert_eq!(
            own["components"]["a3.h0"], "reverse_1 (Aggregate)",
            "{source:?}: {}",
            own["components"]
        );

        let mut args = vec![
            "prune",
            "--lengths",
            "3",
            "--preset",
            "reverse",
            "--seed",
            "42",
        ];
        args.extend_from_slice(&source);
        let summary = json_of(&edgeprune(&args), &format!("prune {source:?}"));
        assert_eq!(
            summary["ground_truth"]["exact"], true,
            "{source:?}: {summary}"
        );
        assert_eq!(summary["circuit"]["num_edges"], 11, "{source:?}: {summary}");
        assert_eq!(
            summary["circuit"]["components"]["m2"], "opp_idx-1_3 (Map)",
            "{source:?}: {}",
            summary["circuit"]["components"]
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn components_are_named_by_their_rasp_nodes_on_the_terminal_and_in_svg() {
    let dir = temp("components");
    let svg = dir.join("gt.svg");
    let output = edgeprune(&[
        "truth",
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let text = stdout(&output);
    for line in [
        "a3.h0 = reverse_1 (Aggregate)",
        "m1 = opp_idx_4 (SequenceMap)",
        "a0.h0 = length_5 (SelectorWidth)",
        "tok = tokens",
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
    let drawing = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawing.contains("<title>a3.h0 · reverse_1 · Aggregate</title>"),
        "{drawing}"
    );
    let graph = stdout(&edgeprune(&["graph", "--lib", "reverse_123"]));
    assert!(graph.contains("m2 = opp_idx-1_3 (Map)"), "{graph}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_program_comes_from_exactly_one_source_with_flags_that_fit_it() {
    let dir = temp("sources");
    let (rasp, model) = own_program(&dir);
    let failure = |args: &[&str]| {
        let output = edgeprune(args);
        assert!(!output.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let both = failure(&[
        "graph",
        "--lib",
        "reverse",
        "--program",
        rasp.to_str().unwrap(),
    ]);
    assert!(both.contains("cannot be used with"), "{both}");
    let none = failure(&["graph"]);
    assert!(none.contains("--lib") && none.contains("--model"), "{none}");
    let vocab = failure(&[
        "truth",
        "--model",
        model.to_str().unwrap(),
        "--vocab",
        "1,2",
    ]);
    assert!(
        vocab.contains("--vocab") && vocab.contains("makes no sense with --model"),
        "{vocab}"
    );
    let bare = dir.join("bare.rasp");
    std::fs::write(&bare, "x = Map(lambda t: t, tokens)\n").unwrap();
    let missing = failure(&["truth", "--program", bare.to_str().unwrap()]);
    assert!(
        missing.contains("--vocab") && missing.contains("missing"),
        "{missing}"
    );
    // Flags override the header: max_seq_len 3 leaves no room for length 4.
    let short = failure(&[
        "truth",
        "--program",
        rasp.to_str().unwrap(),
        "--max-seq-len",
        "3",
        "--lengths",
        "4",
    ]);
    assert!(short.contains("1..=3"), "{short}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn edge_prunings_extraction_returns_the_truth_on_reverse_seed_42_as_the_readme_says() {
    // The README's spurious edge at seed 42 is the official code's run; ours must stay exact.
    let summary = json_of(
        &edgeprune(&[
            "prune",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--preset",
            "reverse",
            "--seed",
            "42",
            "--extraction",
            "edge-pruning",
        ]),
        "prune --extraction edge-pruning --seed 42",
    );
    assert_eq!(summary["ground_truth"]["exact"], true, "{summary}");
    assert_eq!(summary["circuit"]["num_edges"], 11, "{summary}");
}

#[test]
fn a_rasp_header_sets_the_compile_settings_and_flags_override_it() {
    let dir = temp("header");
    let rasp = dir.join("prevs.rasp");
    std::fs::write(
        &rasp,
        "# vocab: a,x\n# max_seq_len: 3\n# causal: true\n\
         bools = numerical(tokens == \"x\")\n\
         prevs = Select(indices, indices, LEQ)\n\
         frac = numerical(Aggregate(prevs, bools, default=0)).named(\"frac\")\n",
    )
    .unwrap();
    let task = |extra: &[&str]| {
        let mut args = vec!["truth", "--program", rasp.to_str().unwrap(), "--json", "-"];
        args.extend_from_slice(extra);
        json_of(&edgeprune(&args), &format!("truth {extra:?}"))["task"].clone()
    };
    let header = task(&[]);
    assert_eq!(
        (&header["vocab"], &header["max_seq_len"], &header["causal"]),
        (
            &serde_json::json!(["a", "x"]),
            &serde_json::json!(3),
            &Json::Bool(true)
        ),
        "{header}"
    );
    let flags = task(&[
        "--causal",
        "false",
        "--vocab",
        "a,b,x",
        "--max-seq-len",
        "2",
    ]);
    assert_eq!(
        (&flags["vocab"], &flags["max_seq_len"], &flags["causal"]),
        (
            &serde_json::json!(["a", "b", "x"]),
            &serde_json::json!(2),
            &Json::Bool(false)
        ),
        "{flags}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

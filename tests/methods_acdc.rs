//! ACDC: its visiting order is the reference code's, a tiny τ gives a faithful circuit on Edge Pruning's two
//! Tracr tasks, a huge τ removes everything, and bad settings are typed errors.

use std::path::Path;

use edgeprune::ablation::Ablation;
use edgeprune::graph::EdgeGraph;
use edgeprune::methods::acdc::{reader_order, sender_order, Acdc, AcdcMetric, AcdcRunner};
use edgeprune::methods::{CircuitMethod, MethodInput};
use edgeprune::task::Task;
use edgeprune::truth::functional::Certifier;
use edgeprune::truth::{functional, structural};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn readers_are_visited_in_reverse_topological_order_heads_v_then_k_then_q() {
    let graph = EdgeGraph::new(2, 2);
    let names: Vec<&str> = reader_order(&graph)
        .into_iter()
        .map(|r| graph.reader_names()[r].as_str())
        .collect();
    // methods.md §1: resid_post, m{L−1}, a{L−1}.h{H−1..0}.v, then .k, then .q, m{L−2}, …
    let want = [
        "resid_post",
        "m1",
        "a1.h1.v",
        "a1.h0.v",
        "a1.h1.k",
        "a1.h0.k",
        "a1.h1.q",
        "a1.h0.q",
        "m0",
        "a0.h1.v",
        "a0.h0.v",
        "a0.h1.k",
        "a0.h0.k",
        "a0.h1.q",
        "a0.h0.q",
    ];
    assert_eq!(names, want, "reader order of a 2-layer, 2-head graph");
}

#[test]
fn senders_are_tried_latest_writer_first_then_tok_then_pos() {
    let graph = EdgeGraph::new(2, 2);
    let senders = |reader: &str| -> Vec<String> {
        let r = graph.reader_by_name(reader).unwrap();
        sender_order(&graph, r)
            .into_iter()
            .map(|e| graph.writer_names()[graph.edges()[e].writer].clone())
            .collect()
    };
    assert_eq!(
        senders("resid_post"),
        ["m1", "a1.h1", "a1.h0", "m0", "a0.h1", "a0.h0", "tok", "pos"],
        "senders of resid_post"
    );
    assert_eq!(
        senders("m1"),
        ["a1.h1", "a1.h0", "m0", "a0.h1", "a0.h0", "tok", "pos"],
        "senders of m1: its own layer's heads first"
    );
    assert_eq!(
        senders("a1.h0.q"),
        ["m0", "a0.h1", "a0.h0", "tok", "pos"],
        "senders of a1.h0.q"
    );
    assert_eq!(senders("a0.h1.k"), ["tok", "pos"], "senders of a0.h1.k");
}

/// Runs ACDC at its default τ under zero ablation and checks its circuit against the certificate;
/// returns (ACDC's edges, the certified truth's edges).
fn acdc_at_default_tau(task: &Task) -> (Vec<String>, Vec<String>) {
    let ablation = Ablation::Zero;
    let input = MethodInput {
        task,
        ablation: &ablation,
    };
    let output = Acdc::new().run(&input).expect("ACDC runs");
    let certificate = Certifier::new(task, &ablation)
        .unwrap()
        .certify(&output.circuit)
        .unwrap();
    let graph = EdgeGraph::for_model(&task.model);
    let found: Vec<String> = output
        .circuit
        .kept_edge_names(&graph)
        .into_iter()
        .map(String::from)
        .collect();
    assert!(
        certificate.holds(),
        "{}: ACDC's circuit {found:?} fails the certificate: {certificate:?}",
        task.name
    );
    let truth = functional(task, &ablation, &structural(&task.model)).unwrap();
    let truth: Vec<String> = truth
        .circuit
        .kept_edge_names(&graph)
        .into_iter()
        .map(String::from)
        .collect();
    (found, truth)
}

#[test]
fn tiny_tau_gives_the_certified_truth_on_reverse() {
    let task = Task::reverse(fixtures()).unwrap();
    let (found, truth) = acdc_at_default_tau(&task);
    assert_eq!(truth.len(), 11, "certified truth of reverse: {truth:?}");
    assert_eq!(
        found, truth,
        "reverse, zero ablation: ACDC vs certified truth"
    );
}

#[test]
fn tiny_tau_gives_the_certified_truth_on_xproportion() {
    let task = Task::xproportion(fixtures()).unwrap();
    let (found, truth) = acdc_at_default_tau(&task);
    assert_eq!(truth.len(), 7, "certified truth of xproportion: {truth:?}");
    assert_eq!(
        found, truth,
        "xproportion, zero ablation: ACDC vs certified truth"
    );
}

#[test]
fn reference_l2_after_bos_drops_the_edges_that_only_feed_the_bos_output() {
    // ACDC's own Tracr l2 skips BOS; the certificate counts it, so that choice fails it on xproportion.
    let task = Task::xproportion(fixtures()).unwrap();
    let ablation = Ablation::Zero;
    let output = Acdc::new()
        .with_metric(AcdcMetric::L2AfterBos)
        .run(&MethodInput {
            task: &task,
            ablation: &ablation,
        })
        .unwrap();
    let certificate = Certifier::new(&task, &ablation)
        .unwrap()
        .certify(&output.circuit)
        .unwrap();
    assert_eq!(certificate.changed_examples, 0, "decoded outputs after BOS");
    assert!(
        certificate.kl > 1e-6 && output.circuit.num_edges() < 7,
        "expected fewer than the truth's 7 edges and a KL above the limit: {} edges, {certificate:?}",
        output.circuit.num_edges()
    );
    let err = Acdc::new()
        .with_metric(AcdcMetric::Kl)
        .run(&MethodInput {
            task: &task,
            ablation: &ablation,
        })
        .expect_err("KL on a numerical output")
        .to_string();
    assert!(err.contains("l2"), "{err}");
}

#[test]
fn metric_is_kl_for_classes_and_l2_for_numbers() {
    let reverse = Task::reverse(fixtures()).unwrap();
    let xproportion = Task::xproportion(fixtures()).unwrap();
    for (task, want) in [(&reverse, AcdcMetric::Kl), (&xproportion, AcdcMetric::L2)] {
        let runner = AcdcRunner::new(&MethodInput {
            task,
            ablation: &Ablation::Zero,
        })
        .unwrap();
        assert_eq!(runner.metric(), want, "{}", task.name);
    }
}

#[test]
fn a_huge_tau_removes_every_edge_clearing_dead_readers_untested() {
    let task = Task::reverse(fixtures()).unwrap();
    let mut runner = AcdcRunner::new(&MethodInput {
        task: &task,
        ablation: &Ablation::Zero,
    })
    .unwrap();
    let all_gone = runner.run(f64::MAX).unwrap();
    let kept = all_gone.kept.iter().filter(|&&k| k).count();
    assert_eq!(kept, 0, "τ = f64::MAX keeps {kept} edges");
    // Without the shortcut for dead readers, a pass would test every one of the 94 edges.
    assert!(
        all_gone.forwards < 94,
        "dead readers are cleared untested: {} forwards",
        all_gone.forwards
    );
}

#[test]
fn sweep_has_one_circuit_per_tau_and_scores_rank_kept_edges_first() {
    let task = Task::reverse(fixtures()).unwrap();
    let ablation = Ablation::Zero;
    let grid = vec![1e-4, 1e-2, 1.0];
    let acdc = Acdc::with_settings(Some(grid.clone()), 1e-4).unwrap();
    let output = acdc
        .run(&MethodInput {
            task: &task,
            ablation: &ablation,
        })
        .unwrap();
    let taus: Vec<f64> = output.sweep.iter().map(|p| p.parameter).collect();
    assert_eq!(taus, grid, "sweep parameters");
    // An edge kept at the smallest τ scores above every edge that τ removed.
    let first = &output.sweep[0].circuit;
    let lowest_kept = (0..first.edges.len())
        .filter(|&e| first.edges[e])
        .map(|e| output.scores[e])
        .fold(f64::INFINITY, f64::min);
    let highest_removed = (0..first.edges.len())
        .filter(|&e| !first.edges[e])
        .map(|e| output.scores[e])
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        lowest_kept > highest_removed,
        "kept at τ=1e-4 scores down to {lowest_kept}, removed ones up to {highest_removed}"
    );
    assert_eq!(highest_removed, -4.0, "log10 of the smallest τ");
    assert_eq!(output.circuit, *first, "operating τ 1e-4 is the first pass");
}

#[test]
fn bad_settings_are_typed_errors_naming_what_is_valid() {
    let negative = Acdc::with_settings(None, -1e-3).unwrap_err().to_string();
    assert!(
        negative.contains("-0.001") && negative.contains(">= 0"),
        "{negative}"
    );
    let nan = Acdc::with_settings(None, f64::NAN).unwrap_err().to_string();
    assert!(nan.contains("NaN") && nan.contains("finite"), "{nan}");
    let empty = Acdc::with_settings(Some(vec![]), 1e-9)
        .unwrap_err()
        .to_string();
    assert!(
        empty.contains("empty") && empty.contains("at least one"),
        "{empty}"
    );
    let zero = Acdc::with_settings(Some(vec![0.0, 1e-3]), 1e-9)
        .unwrap_err()
        .to_string();
    assert!(zero.contains("> 0"), "{zero}");
    let task = Task::reverse(fixtures()).unwrap();
    let mut runner = AcdcRunner::new(&MethodInput {
        task: &task,
        ablation: &Ablation::Zero,
    })
    .unwrap();
    let err = runner.run(-1.0).unwrap_err().to_string();
    assert!(err.contains("tau") && err.contains(">= 0"), "{err}");
}

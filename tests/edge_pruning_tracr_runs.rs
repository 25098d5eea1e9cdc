//! Edge Pruning's two Tracr runs (their scripts' settings) on the ndarray backend, several seeds.
//!
//! Slow (seconds per run), so ignored by default:
//! `cargo test --release -p edgeprune --test edge_pruning_tracr_runs -- --ignored --nocapture`
//! (`EP_SEEDS=42,1,2,3` picks the seeds). Prints the edges each extraction rule finds, the circuit's KL and
//! accuracy on all inputs, and the loop's wall time.
//!
//! Reverse must give an exact-accuracy circuit on every seed. Xproportion with Edge Pruning's settings
//! collapses on about half the seeds (LR 1.0 drives a needed node or edge far below zero, where its
//! mask is clamped to 0 and gets no gradient again; the official code failed on 2 of its 4 seeds too),
//! so that test requires at least a third of the seeds to be exact. With [`PruneConfig::with_safeguards`]
//! (restarts and cleanup) every seed must give the exact circuit.

mod common;

use std::path::Path;

use common::paper_circuits;

use edgeprune::ablation::Ablation;
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::backend::Backend;
use edgeprune::extract::{extract, Circuit, ExtractionRule};
use edgeprune::forward::MaskedForward;
use edgeprune::masks::layout::ParameterLayout;
use edgeprune::model::OutputKind;
use edgeprune::task::Task;
use edgeprune::train::config::PruneConfig;
use edgeprune::train::trainer::train;
use ndarray::s;

fn seeds(default: &str) -> Vec<u64> {
    std::env::var("EP_SEEDS")
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|x| {
            x.trim()
                .parse()
                .expect("EP_SEEDS: comma-separated integers")
        })
        .collect()
}

/// Fraction of inputs the circuit gets right by Edge Pruning's criteria: exact argmax at positions 1.. for
/// class outputs; `allclose(out, full, atol = 0.05)` over all positions for numerical ones (against the full
/// model, which equals the program's output on these inputs).
fn accuracy(task: &Task, circuit: &Circuit) -> f64 {
    let mut forward =
        MaskedForward::new(&task.model, task.clean.view(), &Ablation::Zero).expect("forward");
    let all: Vec<usize> = (0..task.num_examples()).collect();
    let output = forward
        .forward(&all, &circuit.edge_mask(), &circuit.node_mask())
        .expect("forward")
        .to_owned();
    let reference = forward.reference().clone();
    let correct = (0..task.num_examples())
        .filter(|&n| match task.output {
            OutputKind::Categorical => (1..task.clean.ncols()).all(|p| {
                let argmax = |row: ndarray::ArrayView1<f64>| {
                    row.iter()
                        .enumerate()
                        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                            if v > best.1 {
                                (i, v)
                            } else {
                                best
                            }
                        })
                        .0
                };
                argmax(output.slice(s![n, p, ..])) == argmax(reference.slice(s![n, p, ..]))
            }),
            OutputKind::Numerical => (0..task.clean.ncols())
                .all(|p| (output[[n, p, 0]] - reference[[n, p, 0]]).abs() <= 0.05),
        })
        .count();
    correct as f64 / task.num_examples() as f64
}

/// Runs every seed and returns, per seed, the accuracy of our rule's circuit.
fn run(task: &Task, preset: PruneConfig, default_seeds: &str) -> Vec<(u64, f64)> {
    let layout =
        ParameterLayout::new(task.model.num_layers(), task.model.num_heads()).expect("layout");
    let all: Vec<usize> = (0..task.num_examples()).collect();
    let mut accuracies = Vec::new();
    for seed in seeds(default_seeds) {
        let config = PruneConfig {
            seed,
            eval_every: 0,
            ..preset.clone()
        };
        let mut backend =
            NdarrayBackend::new(&task.model, task.clean.view(), &Ablation::Zero, task.metric)
                .expect("backend");
        let outcome = train(
            &mut backend,
            &layout,
            task.num_examples(),
            &config,
            &mut |_| {},
        )
        .expect("train");
        let seconds = outcome.wall_time.as_secs_f64();
        println!(
            "\n{} seed {seed}: {} steps in {seconds:.2} s ({:.0} steps/s), final sampled edge sparsity {:.3}, lambdas {:?}",
            task.name,
            config.steps,
            config.steps as f64 / seconds,
            outcome.last.edge_sparsity,
            outcome.parameters.edge_lambdas,
        );
        for (label, rule) in [
            (
                "ours (log_alpha > 0, dangling pruned)",
                ExtractionRule::PositiveLogAlpha,
            ),
            (
                "Edge Pruning (top-k, > 0.005)",
                ExtractionRule::edge_pruning(),
            ),
        ] {
            let circuit = extract(&layout, &outcome.parameters, rule);
            let kl = backend
                .metric(&circuit.edge_mask(), &circuit.node_mask(), &all)
                .expect("metric");
            let acc = accuracy(task, &circuit);
            println!(
                "  {label}: {} edges, KL {kl:.3e}, accuracy {acc:.3}\n    {:?}",
                circuit.num_edges(),
                circuit.edge_names(&layout)
            );
            if rule == ExtractionRule::PositiveLogAlpha {
                accuracies.push((seed, acc));
            }
        }
        println!(
            "  node log-alphas: {:.2?}",
            outcome.parameters.node_log_alpha
        );
    }
    accuracies
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
#[ignore = "slow: full Edge Pruning runs; use --ignored --nocapture"]
fn reverse_runs_recover_an_exact_circuit_on_every_seed() {
    let accuracies = run(
        &Task::reverse(fixtures()).expect("task"),
        PruneConfig::reverse(),
        "42,1,2,3",
    );
    let failed: Vec<_> = accuracies.iter().filter(|(_, acc)| *acc < 1.0).collect();
    assert!(
        failed.is_empty(),
        "reverse seeds without an exact circuit (seed, accuracy): {failed:?}"
    );
}

#[test]
#[ignore = "slow: full Edge Pruning runs; use --ignored --nocapture"]
fn xproportion_runs_recover_an_exact_circuit_on_a_third_of_the_seeds() {
    let accuracies = run(
        &Task::xproportion(fixtures()).expect("task"),
        PruneConfig::xproportion(),
        "42,1,2,3,4,5,6,7,8,9,10,11",
    );
    let exact = accuracies.iter().filter(|(_, acc)| *acc == 1.0).count();
    assert!(
        3 * exact >= accuracies.len(),
        "only {exact} of {} xproportion seeds exact: {accuracies:?}",
        accuracies.len()
    );
}

/// Every seed's final (restarted, cleaned) circuit must be `want`, the circuit single runs reach when they
/// succeed (exact accuracy, KL 0 up to round-off).
fn check_safeguarded(task: &Task, preset: PruneConfig, default_seeds: &str, want: &[&str]) {
    let layout =
        ParameterLayout::new(task.model.num_layers(), task.model.num_heads()).expect("layout");
    let mut wrong = Vec::new();
    for seed in seeds(default_seeds) {
        let config = PruneConfig {
            seed,
            eval_every: 0,
            ..preset.clone().with_safeguards()
        };
        let mut backend =
            NdarrayBackend::new(&task.model, task.clean.view(), &Ablation::Zero, task.metric)
                .expect("backend");
        let outcome = train(
            &mut backend,
            &layout,
            task.num_examples(),
            &config,
            &mut |_| {},
        )
        .expect("train");
        let found = outcome.circuit.edge_names(&layout);
        println!(
            "{} seed {seed}: {} edges, KL {:.3e}, {:.2} s for {} restarts {:?}",
            task.name,
            found.len(),
            outcome.circuit_metric,
            outcome.wall_time.as_secs_f64(),
            config.restarts,
            outcome.restarts
        );
        if found != want {
            wrong.push((seed, found));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}: seeds with another circuit than {want:?}: {wrong:?}",
        task.name
    );
}

#[test]
#[ignore = "slow: full Edge Pruning runs; use --ignored --nocapture"]
fn reverse_with_safeguards_recovers_the_circuit_on_every_seed() {
    let task = Task::reverse(fixtures()).expect("task");
    check_safeguarded(
        &task,
        PruneConfig::reverse(),
        "42,1,2,3,6,12,13,20",
        &paper_circuits::REVERSE,
    );
}

#[test]
#[ignore = "slow: full Edge Pruning runs; use --ignored --nocapture"]
fn xproportion_with_safeguards_recovers_the_circuit_on_every_seed() {
    let task = Task::xproportion(fixtures()).expect("task");
    check_safeguarded(
        &task,
        PruneConfig::xproportion(),
        "42,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
        &paper_circuits::XPROPORTION,
    );
}

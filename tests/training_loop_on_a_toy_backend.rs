//! The training loop over a toy backend whose metric has a known minimiser: it is seeded and bit-for-bit
//! reproducible, and it finds exactly the edges the toy metric needs.

use edgeprune::backend::{Backend, StepRequest, StepResult};
use edgeprune::error::Result;
use edgeprune::extract::ExtractionRule;
use edgeprune::masks::layout::ParameterLayout;
use edgeprune::masks::sampled::SampledMasks;
use edgeprune::objective::regulariser::finish_step;
use edgeprune::train::config::PruneConfig;
use edgeprune::train::trainer::{train, Progress};

/// Metric `Σ_e w_e (1 − z_e)²`: edges with weight 1 are needed, the rest are free to drop.
struct ToyBackend {
    weights: Vec<f64>,
    writers: usize,
}

impl Backend for ToyBackend {
    fn name(&self) -> String {
        "toy".into()
    }
    fn num_edges(&self) -> usize {
        self.weights.len()
    }
    fn num_writers(&self) -> usize {
        self.writers
    }
    fn step(&mut self, request: &StepRequest<'_>) -> Result<StepResult> {
        let edges = SampledMasks::draw(request.edge_log_alpha, request.edge_uniform, "edge")?;
        let nodes = SampledMasks::draw(request.node_log_alpha, request.node_uniform, "node")?;
        let metric = self.metric(&edges.z, &nodes.z, request.batch)?;
        let grad: Vec<f64> = self
            .weights
            .iter()
            .zip(&edges.z)
            .map(|(w, z)| -2.0 * w * (1.0 - z))
            .collect();
        Ok(finish_step(
            request,
            &edges,
            &nodes,
            metric,
            &grad,
            &vec![0.0; self.writers],
        ))
    }
    fn metric(&mut self, edge_mask: &[f64], _node_mask: &[f64], _batch: &[usize]) -> Result<f64> {
        Ok(self
            .weights
            .iter()
            .zip(edge_mask)
            .map(|(w, z)| w * (1.0 - z) * (1.0 - z))
            .sum())
    }
}

const NEEDED: [&str; 6] = [
    "tok->a0.h0.v",
    "pos->a0.h0.q",
    "pos->a0.h0.k",
    "a0.h0->resid_post",
    "tok->m0",
    "m0->resid_post",
];

fn toy() -> (ToyBackend, ParameterLayout) {
    let layout = ParameterLayout::new(4, 1).expect("layout");
    let weights = (0..layout.num_edges())
        .map(|e| {
            if NEEDED.contains(&layout.edge_name(e).as_str()) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let writers = layout.num_writers();
    (ToyBackend { weights, writers }, layout)
}

fn short_config(seed: u64) -> PruneConfig {
    PruneConfig {
        steps: 1000,
        lr_warmup: 100,
        sparsity_warmup: 800,
        log_alpha_lr: 1.0,
        lambda_lr: 0.01,
        edge_target: 1.02,
        node_loss: false,
        seed,
        eval_every: 100,
        extraction: ExtractionRule::PositiveLogAlpha,
        ..PruneConfig::reverse()
    }
}

fn run(seed: u64) -> (edgeprune::train::trainer::TrainOutcome, Vec<Progress>) {
    let (mut backend, layout) = toy();
    let mut history = Vec::new();
    let outcome = train(&mut backend, &layout, 27, &short_config(seed), &mut |p| {
        history.push(p.clone())
    })
    .expect("toy run");
    (outcome, history)
}

#[test]
fn same_seed_gives_bit_identical_runs() {
    let (a, history_a) = run(7);
    let (b, history_b) = run(7);
    assert_eq!(
        a.parameters, b.parameters,
        "parameters differ between two seed-7 runs"
    );
    assert_eq!(
        history_a, history_b,
        "progress differs between two seed-7 runs"
    );
    assert_eq!(history_a.len(), 1000);
    assert_eq!(
        history_a.iter().filter(|p| p.eval_metric.is_some()).count(),
        10,
        "eval every 100 of 1000 steps"
    );
}

#[test]
fn different_seeds_give_different_trajectories() {
    let (a, _) = run(7);
    let (b, _) = run(8);
    assert_ne!(a.parameters.edge_log_alpha, b.parameters.edge_log_alpha);
}

#[test]
fn toy_run_keeps_exactly_the_needed_edges() {
    let (_, layout) = toy();
    for seed in [1, 2, 3] {
        let (outcome, history) = run(seed);
        let mut found = outcome.circuit.edge_names(&layout);
        found.sort();
        let mut want: Vec<String> = NEEDED.iter().map(|s| s.to_string()).collect();
        want.sort();
        let last = history.last().expect("history");
        assert_eq!(
            found, want,
            "seed {seed}: final edge sparsity {}, metric {}",
            last.edge_sparsity, last.metric
        );
    }
}

#[test]
fn mismatched_backend_is_a_shape_error() {
    let (mut backend, _) = toy();
    let wrong = ParameterLayout::new(2, 1).expect("layout");
    let err = train(&mut backend, &wrong, 27, &short_config(1), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("edges"), "{err}");
}

#[test]
fn zero_steps_is_rejected() {
    let (mut backend, layout) = toy();
    let config = PruneConfig {
        steps: 0,
        ..short_config(1)
    };
    let err = train(&mut backend, &layout, 27, &config, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("steps"), "{err}");
}

#[test]
fn restarts_keep_the_lowest_metric_circuit_and_restart_zero_is_the_plain_run() {
    let (mut backend, layout) = toy();
    let config = PruneConfig {
        restarts: 3,
        eval_every: 0,
        ..short_config(11)
    };
    let mut restarts_seen = std::collections::BTreeSet::new();
    let outcome = train(&mut backend, &layout, 27, &config, &mut |p| {
        restarts_seen.insert(p.restart);
    })
    .expect("restarted run");
    assert_eq!(restarts_seen.into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(outcome.restarts.len(), 3);
    assert_eq!(
        outcome.restarts[0].0, 11,
        "restart 0 runs the configured seed"
    );
    let seeds: std::collections::BTreeSet<u64> = outcome.restarts.iter().map(|r| r.0).collect();
    assert_eq!(
        seeds.len(),
        3,
        "restart seeds must differ: {:?}",
        outcome.restarts
    );
    let best = outcome
        .restarts
        .iter()
        .map(|&(_, edges, metric)| (metric, edges))
        .fold(
            (f64::INFINITY, usize::MAX),
            |a, b| if b < a { b } else { a },
        );
    assert_eq!(
        (outcome.circuit_metric, outcome.circuit.num_edges()),
        best,
        "winner vs restarts {:?}",
        outcome.restarts
    );
    let (single, _) = run(11);
    let first = outcome.restarts[0];
    assert_eq!(
        (first.1, first.2),
        (single.circuit.num_edges(), single.circuit_metric),
        "restart 0 must reproduce the single run"
    );
}

#[test]
fn cleanup_removes_every_edge_the_metric_does_not_need() {
    let (mut backend, layout) = toy();
    let mut circuit = edgeprune::extract::Circuit {
        edges: vec![true; layout.num_edges()],
        nodes: vec![true; layout.num_writers()],
    };
    let all: Vec<usize> = (0..27).collect();
    edgeprune::extract::prune_unneeded_edges(&mut backend, &layout, &mut circuit, &all, 1e-12)
        .expect("cleanup");
    let mut found = circuit.edge_names(&layout);
    found.sort();
    let mut want: Vec<String> = NEEDED.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
}

#[test]
fn negative_cleanup_tolerance_is_rejected() {
    let (mut backend, layout) = toy();
    let config = PruneConfig {
        cleanup_tolerance: Some(-1.0),
        ..short_config(1)
    };
    let err = train(&mut backend, &layout, 27, &config, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("cleanup"), "{err}");
}

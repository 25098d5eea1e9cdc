//! Subnetwork probing (Cao et al. 2021, as ACDC's `subnetwork_probing/train.py` runs it) at edge level:
//! Edge Pruning's hard-concrete edge masks trained against a fixed L0 penalty λ, without a sparsity target
//! or Lagrangian, over a λ grid.
//!
//! The loss is `metric + λ·mean(z)` over the sampled edge masks z (Edge Pruning's regulariser with its
//! multipliers held at `l1 = −λ, l2 = 0` and target 0; the reference penalises the expected L0 instead,
//! which has the same minimisers in the limit of confident masks). The metric is the task's (KL, as Edge
//! Pruning trains), so this is exactly "Edge Pruning without its Lagrangian". Edge log-alphas start at
//! N(ln 9, 0.01) (the reference's p = 0.9 initialisation), node masks keep Edge Pruning's on-state and
//! carry no penalty; AdamW without weight decay (the reference uses Adam), linear LR decay from
//! [`DEFAULT_LR`] to 0 over [`DEFAULT_STEPS`] steps of batch 16 (sized so that the whole grid costs
//! about as much as one Edge Pruning run; see the README's timings).
//!
//! Each λ gives one circuit (log-alpha > 0, dangling edges removed: Edge Pruning's and our extraction).
//! Operating point: the largest λ on the grid whose circuit passes the certificate (SP's own sparsest
//! faithful circuit), or the smallest λ when none does. Scores: the final edge log-alphas at that λ.

use std::time::Instant;

use serde_json::json;

use crate::backend::ndarray::NdarrayBackend;
use crate::backend::Lambdas;
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::extract::ExtractionRule;
use crate::graph::EdgeGraph;
use crate::masks::layout::ParameterLayout;
use crate::methods::acdc::log_grid;
use crate::methods::operating_point::FORWARDS_PER_CERTIFICATE;
use crate::methods::{CircuitMethod, MethodInput, MethodOutput, SweepPoint};
use crate::train::config::PruneConfig;
use crate::train::trainer::train;
use crate::truth::functional::Certifier;

/// Training steps per λ.
pub const DEFAULT_STEPS: usize = 300;
/// Peak learning rate of the log-alphas.
pub const DEFAULT_LR: f64 = 0.1;
/// Examples per step.
pub const DEFAULT_BATCH_SIZE: usize = 16;
/// Mean of the initial edge log-alphas: `ln 9`, a deterministic mask of 0.9.
pub const INITIAL_LOG_ALPHA: f64 = 2.197_224_577_336_219_6;

/// Subnetwork probing over a λ grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetworkProbing {
    lambdas: Vec<f64>,
    steps: usize,
    learning_rate: f64,
    seed: u64,
}

impl Default for SubnetworkProbing {
    fn default() -> Self {
        Self {
            lambdas: Self::default_grid(),
            steps: DEFAULT_STEPS,
            learning_rate: DEFAULT_LR,
            seed: 0,
        }
    }
}

impl SubnetworkProbing {
    /// ACDC's Tracr λ grid, `10^linspace(−3, 0, 11)`.
    pub fn default_grid() -> Vec<f64> {
        log_grid(-3.0, 0.0, 11)
    }

    /// The defaults with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// A λ grid, steps per λ, learning rate and seed; rejects an empty grid, λ < 0 or non-finite, 0 steps,
    /// and a learning rate that is not a positive number.
    pub fn with_settings(
        lambdas: Vec<f64>,
        steps: usize,
        learning_rate: f64,
        seed: u64,
    ) -> Result<Self> {
        let invalid = |option: &str, message: String| {
            Err(Error::InvalidOption {
                option: format!("subnetwork probing {option}"),
                message,
            })
        };
        if lambdas.is_empty() {
            return invalid(
                "lambda grid",
                "is empty; give at least one λ >= 0, e.g. 0.001,0.01,0.1,1".into(),
            );
        }
        if let Some(bad) = lambdas.iter().find(|l| !(l.is_finite() && **l >= 0.0)) {
            return invalid(
                "lambda",
                format!("got {bad}; λ must be a finite number >= 0 (the weight of the L0 penalty)"),
            );
        }
        if steps == 0 {
            return invalid(
                "steps",
                format!("got 0; give at least 1 (default {DEFAULT_STEPS})"),
            );
        }
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return invalid(
                "learning rate",
                format!("got {learning_rate}; must be a finite number > 0 (default {DEFAULT_LR})"),
            );
        }
        Ok(Self {
            lambdas,
            steps,
            learning_rate,
            seed,
        })
    }

    /// The trainer's configuration at penalty weight `lambda`.
    pub fn config(&self, lambda: f64) -> PruneConfig {
        PruneConfig {
            steps: self.steps,
            batch_size: DEFAULT_BATCH_SIZE,
            log_alpha_lr: self.learning_rate,
            lambda_lr: 0.0,
            lr_warmup: 0,
            sparsity_warmup: 0,
            edge_target: 0.0,
            node_target: 0.0,
            node_loss: false,
            seed: self.seed,
            restarts: 1,
            eval_every: 0,
            extraction: ExtractionRule::PositiveLogAlpha,
            cleanup_tolerance: None,
            max_grad_norm: 1.0,
            weight_decay: 0.0,
            fixed_edge_lambdas: Some(Lambdas {
                linear: -lambda,
                quadratic: 0.0,
            }),
            initial_edge_log_alpha: Some(INITIAL_LOG_ALPHA),
        }
    }
}

impl CircuitMethod for SubnetworkProbing {
    fn name(&self) -> &'static str {
        "sp"
    }

    fn run(&self, input: &MethodInput<'_>) -> Result<MethodOutput> {
        let started = Instant::now();
        let task = input.task;
        let graph = EdgeGraph::for_model(&task.model);
        let layout = ParameterLayout::new(task.model.num_layers(), task.model.num_heads())?;
        let mut backend =
            NdarrayBackend::new(&task.model, task.clean.view(), input.ablation, task.metric)?;
        let mut certifier = Certifier::new(task, input.ablation)?;
        let mut lambdas = self.lambdas.clone();
        lambdas.sort_by(f64::total_cmp);
        lambdas.dedup();
        let (mut forwards, mut backwards) = (0, 0);
        let mut sweep = Vec::with_capacity(lambdas.len());
        let mut runs = Vec::with_capacity(lambdas.len());
        for &lambda in &lambdas {
            let outcome = train(
                &mut backend,
                &layout,
                task.num_examples(),
                &self.config(lambda),
                &mut |_| {},
            )?;
            // Every step is one batch forward and backward; the trainer then scores the circuit once.
            forwards += self.steps + 1;
            backwards += self.steps;
            let circuit = Circuit::from_edges(&graph, outcome.circuit.edges.clone());
            forwards += FORWARDS_PER_CERTIFICATE;
            let faithful = certifier.certify(&circuit)?.holds();
            sweep.push(SweepPoint {
                parameter: lambda,
                circuit: circuit.clone(),
            });
            runs.push((lambda, circuit, faithful, outcome.parameters.edge_log_alpha));
        }
        let chosen = runs
            .iter()
            .rposition(|(_, _, faithful, _)| *faithful)
            .unwrap_or(0);
        let (lambda, circuit, faithful, log_alpha) = runs.swap_remove(chosen);
        Ok(MethodOutput {
            scores: log_alpha,
            circuit,
            sweep,
            forwards,
            backwards,
            seconds: started.elapsed().as_secs_f64(),
            settings: json!({
                "lambda": lambda,
                "lambda_grid": lambdas,
                "operating_point": "largest lambda whose circuit passes the certificate (else the smallest)",
                "faithful": faithful,
                "steps": self.steps,
                "batch_size": DEFAULT_BATCH_SIZE,
                "learning_rate": self.learning_rate,
                "initial_edge_log_alpha": INITIAL_LOG_ALPHA,
                "seed": self.seed,
                "metric": task.metric.name(),
                "score": "final edge log-alpha at the operating lambda",
            }),
        })
    }
}

//! Edge Pruning as a [`CircuitMethod`]: the trainer with a preset (default: our default preset), our
//! extraction (log-alpha > 0, dangling edges removed), scores = the final edge log-alphas.
//!
//! The reported circuit is the trained one; the certified refinement (`crate::refine`) is run on it and
//! reported separately in `settings.refinement` (its certificates are not counted as the method's forwards),
//! so that the comparison shows what training alone finds. The sweep is empty by default (the curve is the
//! top-k of the log-alphas, as MIB evaluates mask methods); [`EdgePruning::with_targets`] adds one full
//! training run per edge-sparsity target instead.

use std::time::Instant;

use serde_json::json;

use crate::backend::ndarray::NdarrayBackend;
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;
use crate::masks::layout::ParameterLayout;
use crate::methods::{CircuitMethod, MethodInput, MethodOutput, SweepPoint};
use crate::refine::refine;
use crate::train::config::PruneConfig;
use crate::train::trainer::{train, TrainOutcome};

/// Edge Pruning with a training configuration and an optional target sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgePruning {
    config: PruneConfig,
    targets: Vec<f64>,
}

impl Default for EdgePruning {
    fn default() -> Self {
        Self {
            config: PruneConfig {
                eval_every: 0,
                ..PruneConfig::default_config()
            },
            targets: Vec::new(),
        }
    }
}

impl EdgePruning {
    /// Our default preset (`PruneConfig::default_config`, no evaluation during training) with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut method = Self::default();
        method.config.seed = seed;
        method
    }

    /// A given configuration (validated).
    pub fn with_config(config: PruneConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            targets: Vec::new(),
        })
    }

    /// Adds a sweep over edge-sparsity targets, one training run each; each must be a finite number.
    pub fn with_targets(mut self, targets: Vec<f64>) -> Result<Self> {
        if let Some(bad) = targets.iter().find(|t| !t.is_finite()) {
            return Err(Error::InvalidOption {
                option: "Edge Pruning target".into(),
                message: format!(
                    "got {bad}; targets are finite edge sparsities such as 0.9, 0.95, 1.02"
                ),
            });
        }
        self.targets = targets;
        Ok(self)
    }

    /// The training configuration.
    pub fn config(&self) -> &PruneConfig {
        &self.config
    }

    fn train_with(
        &self,
        backend: &mut NdarrayBackend,
        layout: &ParameterLayout,
        num_examples: usize,
        config: &PruneConfig,
    ) -> Result<(TrainOutcome, usize, usize)> {
        let outcome = train(backend, layout, num_examples, config, &mut |_| {})?;
        let steps = config.steps * config.restarts;
        // One batch forward and backward per step; the trainer scores each restart's circuit once, and
        // evaluation steps add one forward each.
        let evaluations = if config.eval_every == 0 {
            0
        } else {
            config.steps.div_ceil(config.eval_every)
        };
        let forwards = steps + config.restarts * (1 + evaluations);
        Ok((outcome, forwards, steps))
    }
}

impl CircuitMethod for EdgePruning {
    fn name(&self) -> &'static str {
        "ep"
    }

    fn run(&self, input: &MethodInput<'_>) -> Result<MethodOutput> {
        let started = Instant::now();
        let task = input.task;
        let graph = EdgeGraph::for_model(&task.model);
        let layout = ParameterLayout::new(task.model.num_layers(), task.model.num_heads())?;
        let mut backend =
            NdarrayBackend::new(&task.model, task.clean.view(), input.ablation, task.metric)?;
        let (outcome, mut forwards, mut backwards) =
            self.train_with(&mut backend, &layout, task.num_examples(), &self.config)?;
        let mut sweep = Vec::with_capacity(self.targets.len());
        for &target in &self.targets {
            let config = PruneConfig {
                edge_target: target,
                ..self.config.clone()
            };
            let (point, f, b) =
                self.train_with(&mut backend, &layout, task.num_examples(), &config)?;
            forwards += f;
            backwards += b;
            sweep.push(SweepPoint {
                parameter: target,
                circuit: Circuit::from_edges(&graph, point.circuit.edges),
            });
        }
        let circuit = Circuit::from_edges(&graph, outcome.circuit.edges.clone());
        let seconds = started.elapsed().as_secs_f64();
        let refinement = refine(
            task,
            input.ablation,
            &circuit,
            &outcome.parameters.edge_log_alpha,
        )?;
        let names = graph.edge_names();
        let name_list =
            |edges: &[usize]| -> Vec<String> { edges.iter().map(|&e| names[e].clone()).collect() };
        Ok(MethodOutput {
            scores: outcome.parameters.edge_log_alpha.clone(),
            circuit,
            sweep,
            forwards,
            backwards,
            seconds,
            settings: json!({
                "steps": self.config.steps,
                "batch_size": self.config.batch_size,
                "log_alpha_lr": self.config.log_alpha_lr,
                "lambda_lr": self.config.lambda_lr,
                "edge_target": self.config.edge_target,
                "restarts": self.config.restarts,
                "seed": self.config.seed,
                "extraction": format!("{:?}", self.config.extraction),
                "targets": self.targets,
                "metric": task.metric.name(),
                "score": "final edge log-alpha",
                "refinement": {
                    "edges": refinement.circuit.kept_edge_names(&graph),
                    "added": name_list(&refinement.added),
                    "removed": name_list(&refinement.removed),
                    "certified": refinement.certified,
                    "note": "run after training and not counted in seconds or forwards",
                },
            }),
        })
    }
}

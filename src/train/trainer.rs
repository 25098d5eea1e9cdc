//! The training loop, written once over [`Backend`]: sample masks, differentiate, clip, AdamW, schedule.

use std::time::{Duration, Instant};

use crate::backend::{Backend, Lambdas, StepRequest};
use crate::error::{Error, Result};
use crate::extract::{extract, prune_unneeded_edges, Circuit};
use crate::masks::hard_concrete::{EPS, INIT_MEAN};
use crate::masks::layout::ParameterLayout;
use crate::masks::parameters::MaskParameters;
use crate::rng::{Rng, SplitMix64};
use crate::train::adamw::{AdamW, AdamWConfig};
use crate::train::clip::clip_global_norm;
use crate::train::config::PruneConfig;
use crate::train::sampler::EpochSampler;
use crate::train::schedule::{linear_warmup_decay, sparsity_target};

/// What the loop reports after every step (for progress bars and logs).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Which restart this step belongs to (0-based).
    pub restart: usize,
    /// Steps completed (1 after the first step).
    pub step: usize,
    /// Total steps of the run.
    pub total_steps: usize,
    /// The output metric of this step's batch under the sampled masks.
    pub metric: f64,
    /// Metric plus regularisers.
    pub loss: f64,
    /// Edge sparsity of the sampled masks.
    pub edge_sparsity: f64,
    /// Node sparsity of the sampled masks.
    pub node_sparsity: f64,
    /// Edge sparsity target at this step.
    pub edge_target: f64,
    /// Edges of the circuit the configured rule extracts after this step.
    pub edges_kept: usize,
    /// Metric of that circuit on all examples, on evaluation steps.
    pub eval_metric: Option<f64>,
}

/// The result of a run (of the winning restart, when there are several).
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The seed of the run that produced this outcome.
    pub seed: u64,
    /// The metric of [`TrainOutcome::circuit`] on all examples.
    pub circuit_metric: f64,
    /// Per restart: (seed, edges of its circuit, metric of its circuit on all examples).
    pub restarts: Vec<(u64, usize, f64)>,
    /// The trained log-alphas and multipliers.
    pub parameters: MaskParameters,
    /// The circuit the configured rule extracts from them.
    pub circuit: Circuit,
    /// The last step's report.
    pub last: Progress,
    /// Wall time of the loop (initialisation excluded).
    pub wall_time: Duration,
}

/// Independent PRNG streams derived from the run's seed, so one use never shifts another's draws.
struct Streams {
    init: Rng,
    shuffle: Rng,
    noise: Rng,
}

impl Streams {
    fn new(seed: u64) -> Self {
        // Rng::new runs the seed through SplitMix64, so neighbouring seeds give unrelated streams.
        let mut root = Rng::new(seed);
        Self {
            init: Rng::new(root.next_u64()),
            shuffle: Rng::new(root.next_u64()),
            noise: Rng::new(root.next_u64()),
        }
    }
}

/// The seed of restart `index`: restart 0 uses the configured seed, later ones are derived from it.
pub fn restart_seed(seed: u64, index: usize) -> u64 {
    if index == 0 {
        seed
    } else {
        let mut mixer = SplitMix64::new(seed ^ 0x7265_7374_6172_7473);
        (0..index).map(|_| mixer.next_u64()).last().unwrap_or(seed)
    }
}

/// Trains the masks of `backend`'s graph on examples `0..num_examples`, calling `on_progress` after each
/// step; with several restarts, keeps the circuit with the lowest metric on all examples (then fewest edges).
pub fn train(
    backend: &mut dyn Backend,
    layout: &ParameterLayout,
    num_examples: usize,
    config: &PruneConfig,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<TrainOutcome> {
    config.validate()?;
    check_shapes(backend, layout, num_examples)?;
    let all_examples: Vec<usize> = (0..num_examples).collect();
    let mut best: Option<TrainOutcome> = None;
    let mut summaries = Vec::with_capacity(config.restarts);
    let started = Instant::now();
    for restart in 0..config.restarts {
        let seed = restart_seed(config.seed, restart);
        let mut outcome = train_once(
            backend,
            layout,
            num_examples,
            config,
            restart,
            seed,
            on_progress,
        )?;
        outcome.circuit_metric = backend.metric(
            &outcome.circuit.edge_mask(),
            &outcome.circuit.node_mask(),
            &all_examples,
        )?;
        summaries.push((seed, outcome.circuit.num_edges(), outcome.circuit_metric));
        let better = match &best {
            None => true,
            Some(current) => {
                (outcome.circuit_metric, outcome.circuit.num_edges())
                    < (current.circuit_metric, current.circuit.num_edges())
            }
        };
        if better {
            best = Some(outcome);
        }
    }
    let mut best = best.expect("validate() guarantees at least one restart");
    best.restarts = summaries;
    best.wall_time = started.elapsed();
    Ok(best)
}

/// One run from `seed`.
fn train_once(
    backend: &mut dyn Backend,
    layout: &ParameterLayout,
    num_examples: usize,
    config: &PruneConfig,
    restart: usize,
    seed: u64,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<TrainOutcome> {
    let mut streams = Streams::new(seed);
    let mut parameters = MaskParameters::initial(layout, &mut streams.init);
    if let Some(mean) = config.initial_edge_log_alpha {
        // Same draws, shifted: the noise around the mean is Edge Pruning's.
        for log_alpha in &mut parameters.edge_log_alpha {
            *log_alpha += mean - INIT_MEAN;
        }
    }
    if let Some(lambdas) = config.fixed_edge_lambdas {
        parameters.edge_lambdas = lambdas;
    }
    let mut sampler = EpochSampler::new(num_examples, streams.shuffle);
    let all_examples: Vec<usize> = (0..num_examples).collect();

    let (num_edges, num_writers) = (layout.num_edges(), layout.num_writers());
    let num_log_alphas = num_edges + num_writers + layout.num_padding;
    let log_alpha_config = AdamWConfig {
        weight_decay: config.weight_decay,
        ..AdamWConfig::edge_pruning(false)
    };
    let lambda_config = AdamWConfig {
        weight_decay: config.weight_decay,
        ..AdamWConfig::edge_pruning(true)
    };
    let mut log_alpha_opt = AdamW::new(num_log_alphas, log_alpha_config);
    let mut edge_lambda_opt = AdamW::new(2, lambda_config);
    let mut node_lambda_opt = AdamW::new(2, lambda_config);
    // Edge Pruning keeps the log-alphas of all tensors as one parameter group; padding entries get grad 0.
    let mut log_alphas = vec![0.0; num_log_alphas];
    let mut grads = vec![0.0; num_log_alphas];
    let mut edge_uniform = vec![0.0; num_edges];
    let mut node_uniform = vec![0.0; num_writers];

    let started = Instant::now();
    let mut last = None;
    for step in 0..config.steps {
        for u in edge_uniform.iter_mut().chain(node_uniform.iter_mut()) {
            *u = streams.noise.uniform_in(EPS, 1.0 - EPS);
        }
        let edge_target = sparsity_target(step, config.edge_target, config.sparsity_warmup);
        let node_target = sparsity_target(step, config.node_target, config.sparsity_warmup);
        let batch = sampler.next_batch(config.batch_size).to_vec();
        let result = backend.step(&StepRequest {
            edge_log_alpha: &parameters.edge_log_alpha,
            node_log_alpha: &parameters.node_log_alpha,
            edge_uniform: &edge_uniform,
            node_uniform: &node_uniform,
            edge_lambdas: parameters.edge_lambdas,
            node_lambdas: parameters.node_lambdas,
            edge_target,
            node_target,
            node_loss: config.node_loss,
            batch: &batch,
        })?;
        if !result.loss.is_finite() {
            return Err(Error::NonFinite {
                what: format!(
                    "training loss at step {step} (metric {}, lambdas {:?})",
                    result.metric, parameters.edge_lambdas
                ),
            });
        }

        grads.fill(0.0);
        grads[..num_edges].copy_from_slice(&result.grad_edge_log_alpha);
        grads[num_edges..num_edges + num_writers].copy_from_slice(&result.grad_node_log_alpha);
        // Fixed multipliers are not trained, so they have no gradient to clip or step.
        let mut edge_lambda_grads = if config.fixed_edge_lambdas.is_some() {
            [0.0; 2]
        } else {
            lambda_vector(result.grad_edge_lambdas)
        };
        let mut node_lambda_grads = lambda_vector(result.grad_node_lambdas);
        // Without node loss the node multipliers are outside the loss: torch gives them no gradient, so they
        // neither count in the clipped norm nor step.
        if config.node_loss {
            clip_global_norm(
                &mut [&mut grads, &mut edge_lambda_grads, &mut node_lambda_grads],
                config.max_grad_norm,
            );
        } else {
            clip_global_norm(
                &mut [&mut grads, &mut edge_lambda_grads],
                config.max_grad_norm,
            );
        }

        let lr_scale = linear_warmup_decay(step, config.lr_warmup, config.steps);
        log_alphas[..num_edges].copy_from_slice(&parameters.edge_log_alpha);
        log_alphas[num_edges..num_edges + num_writers].copy_from_slice(&parameters.node_log_alpha);
        log_alphas[num_edges + num_writers..].copy_from_slice(&parameters.padding_log_alpha);
        log_alpha_opt.step(&mut log_alphas, &grads, config.log_alpha_lr * lr_scale);
        parameters
            .edge_log_alpha
            .copy_from_slice(&log_alphas[..num_edges]);
        parameters
            .node_log_alpha
            .copy_from_slice(&log_alphas[num_edges..num_edges + num_writers]);
        parameters
            .padding_log_alpha
            .copy_from_slice(&log_alphas[num_edges + num_writers..]);
        let lambda_lr = config.lambda_lr * lr_scale;
        if config.fixed_edge_lambdas.is_none() {
            parameters.edge_lambdas = step_lambdas(
                &mut edge_lambda_opt,
                parameters.edge_lambdas,
                &edge_lambda_grads,
                lambda_lr,
            );
        }
        if config.node_loss {
            parameters.node_lambdas = step_lambdas(
                &mut node_lambda_opt,
                parameters.node_lambdas,
                &node_lambda_grads,
                lambda_lr,
            );
        }

        let circuit = extract(layout, &parameters, config.extraction);
        let done = step + 1;
        let eval_metric =
            if config.eval_every > 0 && (done % config.eval_every == 0 || done == config.steps) {
                Some(backend.metric(&circuit.edge_mask(), &circuit.node_mask(), &all_examples)?)
            } else {
                None
            };
        let progress = Progress {
            restart,
            step: done,
            total_steps: config.steps,
            metric: result.metric,
            loss: result.loss,
            edge_sparsity: result.edge_sparsity,
            node_sparsity: result.node_sparsity,
            edge_target,
            edges_kept: circuit.num_edges(),
            eval_metric,
        };
        on_progress(&progress);
        last = Some(progress);
    }
    let wall_time = started.elapsed();
    let mut circuit = extract(layout, &parameters, config.extraction);
    if let Some(tolerance) = config.cleanup_tolerance {
        prune_unneeded_edges(backend, layout, &mut circuit, &all_examples, tolerance)?;
    }
    Ok(TrainOutcome {
        seed,
        circuit_metric: f64::NAN,
        restarts: Vec::new(),
        parameters,
        circuit,
        last: last.expect("validate() guarantees at least one step"),
        wall_time,
    })
}

fn lambda_vector(lambdas: Lambdas) -> [f64; 2] {
    [lambdas.linear, lambdas.quadratic]
}

fn step_lambdas(optimiser: &mut AdamW, lambdas: Lambdas, grads: &[f64; 2], lr: f64) -> Lambdas {
    let mut values = lambda_vector(lambdas);
    optimiser.step(&mut values, grads, lr);
    Lambdas {
        linear: values[0],
        quadratic: values[1],
    }
}

fn check_shapes(
    backend: &dyn Backend,
    layout: &ParameterLayout,
    num_examples: usize,
) -> Result<()> {
    if backend.num_edges() != layout.num_edges() {
        return Err(Error::Shape {
            what: format!("edges of backend {}", backend.name()),
            expected: layout.num_edges().to_string(),
            got: backend.num_edges().to_string(),
        });
    }
    if backend.num_writers() != layout.num_writers() {
        return Err(Error::Shape {
            what: format!("writers of backend {}", backend.name()),
            expected: layout.num_writers().to_string(),
            got: backend.num_writers().to_string(),
        });
    }
    if num_examples == 0 {
        return Err(Error::InvalidOption {
            option: "task".into(),
            message: "has no examples to train on".into(),
        });
    }
    Ok(())
}

//! Hyper-parameters of a pruning run, with Edge Pruning's Tracr settings as presets.

use crate::backend::Lambdas;
use crate::error::{Error, Result};
use crate::extract::ExtractionRule;

/// Everything that decides a pruning run (together with the task and the backend).
#[derive(Debug, Clone, PartialEq)]
pub struct PruneConfig {
    /// Optimizer steps (HF `max_steps`).
    pub steps: usize,
    /// Examples per step; the last batch of an epoch is smaller (no `drop_last`).
    pub batch_size: usize,
    /// Peak learning rate of every log-alpha (Edge Pruning puts node log-alphas in the edge group too).
    pub log_alpha_lr: f64,
    /// Peak learning rate of the Lagrange multipliers.
    pub lambda_lr: f64,
    /// Steps of linear LR warm-up (HF `warmup_steps`).
    pub lr_warmup: usize,
    /// Steps over which the sparsity targets ramp linearly from 0.
    pub sparsity_warmup: usize,
    /// Final edge sparsity target (may exceed 1 to keep pushing).
    pub edge_target: f64,
    /// Final node sparsity target.
    pub node_target: f64,
    /// Whether the node sparsity term is in the loss (off = Edge Pruning's `--disable_node_loss`).
    pub node_loss: bool,
    /// Seed of the initialisation, the epoch shuffles and the mask noise.
    pub seed: u64,
    /// Independent runs (restart 0 uses `seed`); the circuit with the lowest metric on all examples wins,
    /// ties going to fewer edges. 1 is Edge Pruning's single run.
    pub restarts: usize,
    /// Evaluate the extracted circuit's metric on all examples every this many steps (0 = never).
    pub eval_every: usize,
    /// The rule used for progress reports, evaluation and the final circuit.
    pub extraction: ExtractionRule,
    /// When set, the final circuit of each restart is cleaned with
    /// [`crate::extract::prune_unneeded_edges`] at this metric tolerance (off in Edge Pruning).
    pub cleanup_tolerance: Option<f64>,
    /// Global gradient-norm clipping threshold (HF `max_grad_norm`).
    pub max_grad_norm: f64,
    /// AdamW decoupled weight decay on log-alphas and multipliers.
    pub weight_decay: f64,
    /// When set, the edge multipliers are held at these values instead of being trained by ascent (and stay
    /// out of the clipped gradient norm): subnetwork probing's fixed penalty, Edge Pruning without its
    /// Lagrangian. `l1 = −λ, l2 = 0` with target 0 makes the penalty `λ·mean(z) − λ`. `None` in Edge Pruning.
    pub fixed_edge_lambdas: Option<Lambdas>,
    /// When set, edge log-alphas start from N(this, 0.01) instead of Edge Pruning's N(10, 0.01) (node
    /// log-alphas keep Edge Pruning's). At 10 the sampled masks are clamped at 1 for all but ~2e-4 of the
    /// noise, so a penalty on sampled masks barely reaches them; subnetwork probing starts nearer 0.
    pub initial_edge_log_alpha: Option<f64>,
}

impl PruneConfig {
    /// `run_scripts/tracr_reverse.sh`: 6000 steps, warm-ups 1500/5900, LRs 0.03/1e-3, targets 1.02/0.1, no node loss.
    pub fn reverse() -> Self {
        Self {
            steps: 6000,
            batch_size: 16,
            log_alpha_lr: 0.03,
            lambda_lr: 1e-3,
            lr_warmup: 1500,
            sparsity_warmup: 5900,
            edge_target: 1.02,
            node_target: 0.1,
            node_loss: false,
            seed: 42,
            restarts: 1,
            eval_every: 64,
            extraction: ExtractionRule::PositiveLogAlpha,
            cleanup_tolerance: None,
            max_grad_norm: 1.0,
            weight_decay: 0.01,
            fixed_edge_lambdas: None,
            initial_edge_log_alpha: None,
        }
    }

    /// `run_scripts/tracr_xproportion.sh`: 720 steps, warm-ups 96/640, LRs 1.0/1e-4, targets 0.92/0.4, node loss on.
    pub fn xproportion() -> Self {
        Self {
            steps: 720,
            batch_size: 16,
            log_alpha_lr: 1.0,
            lambda_lr: 1e-4,
            lr_warmup: 96,
            sparsity_warmup: 640,
            edge_target: 0.92,
            node_target: 0.4,
            node_loss: true,
            seed: 42,
            restarts: 1,
            eval_every: 8,
            extraction: ExtractionRule::PositiveLogAlpha,
            cleanup_tolerance: None,
            max_grad_norm: 1.0,
            weight_decay: 0.01,
            fixed_edge_lambdas: None,
            initial_edge_log_alpha: None,
        }
    }

    /// The same run with our safeguards: 4 restarts (lowest circuit metric, then fewest edges) and
    /// cleanup of edges whose removal changes the metric by at most 1e-9. With them every tested seed
    /// recovered the exact circuit (reverse seeds 0..23, xproportion seeds 0..99), against ~85% and ~50%
    /// for single runs, whose failures are masks driven so far negative that they never sample non-zero again.
    pub fn with_safeguards(self) -> Self {
        Self {
            restarts: 4,
            cleanup_tolerance: Some(1e-9),
            ..self
        }
    }

    /// Our default for any program: Edge Pruning's reverse settings with the multipliers' learning rate
    /// lowered from 1e-3 to 1e-4, so the Lagrangian's push (target 1.02 keeps it growing) cannot
    /// overwhelm the KL on small graphs (on seed 0 training alone then finds the certified circuit for
    /// 19 of the 26 library programs instead of 9); the CLI then refines the circuit against the
    /// certificate (see `crate::refine`).
    pub fn default_config() -> Self {
        Self {
            lambda_lr: 1e-4,
            ..Self::reverse()
        }
    }

    /// The preset of a named Edge Pruning Tracr run (`reverse` or `xproportion`).
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "reverse" => Ok(Self::reverse()),
            "xproportion" => Ok(Self::xproportion()),
            other => Err(Error::InvalidOption {
                option: "preset".into(),
                message: format!("unknown preset `{other}`; choose `reverse` or `xproportion`"),
            }),
        }
    }

    /// Rejects settings the loop cannot run with.
    pub fn validate(&self) -> Result<()> {
        let invalid = |option: &str, message: String| {
            Err(Error::InvalidOption {
                option: option.into(),
                message,
            })
        };
        if self.steps == 0 {
            return invalid("steps", "must be at least 1".into());
        }
        if self.restarts == 0 {
            return invalid("restarts", "must be at least 1 (1 = a single run)".into());
        }
        if self.batch_size == 0 {
            return invalid("batch size", "must be at least 1".into());
        }
        for (option, value) in [
            ("log-alpha learning rate", self.log_alpha_lr),
            ("lambda learning rate", self.lambda_lr),
            ("edge target", self.edge_target),
            ("node target", self.node_target),
            ("weight decay", self.weight_decay),
        ] {
            if !value.is_finite() {
                return invalid(option, format!("must be a finite number, got {value}"));
            }
        }
        if let Some(tolerance) = self.cleanup_tolerance {
            if !(tolerance.is_finite() && tolerance >= 0.0) {
                return invalid(
                    "cleanup tolerance",
                    format!("must be a finite number >= 0, got {tolerance}"),
                );
            }
        }
        if let Some(lambdas) = self.fixed_edge_lambdas {
            if !(lambdas.linear.is_finite() && lambdas.quadratic.is_finite()) {
                return invalid(
                    "fixed edge multipliers",
                    format!("must be finite numbers, got {lambdas:?}"),
                );
            }
        }
        if let Some(mean) = self.initial_edge_log_alpha {
            if !mean.is_finite() {
                return invalid(
                    "initial edge log-alpha",
                    format!("must be a finite number, got {mean}"),
                );
            }
        }
        if self.log_alpha_lr < 0.0 || self.lambda_lr < 0.0 {
            return invalid("learning rate", "must not be negative".into());
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return invalid(
                "max gradient norm",
                format!("must be positive, got {}", self.max_grad_norm),
            );
        }
        Ok(())
    }
}

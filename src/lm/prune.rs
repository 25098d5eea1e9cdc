//! Edge Pruning on a language-model task: the paper's GPT-2 settings, the backend bound to the task's
//! data and target positions, and the circuit's scores next to the full model's.

use candle_core::DType;
use ndarray::Array3;
use serde_json::{json, Value};

use crate::ablation::Ablation;
use crate::backend::candle::{CandleBackend, CandleDevice};
use crate::backend::ndarray::NdarrayBackend;
use crate::backend::Backend;
use crate::circuit::Circuit;
use crate::error::Result;
use crate::extract::ExtractionRule;
use crate::graph::EdgeGraph;
use crate::lm::tasks::TaskKind;
use crate::lm::{LmTask, TaskScores};
use crate::model::Transformer;
use crate::objective::Metric;
use crate::train::config::PruneConfig;

/// The GPT-2 settings of Edge Pruning's `*_sweep.sh` scripts: LR 0.8 for log-alphas and multipliers,
/// 3000 steps, LR warm-up 200, sparsity warm-up 2500, batch 32, node loss off, node targets 0.72 (IOI),
/// 0.68 (GT), 0.69 (GP). The edge target is one point of their sweeps (IOI 0.94-1.1, GT 0.95-1.1, GP
/// 0.93-1.4): we take 1.0 (as sparse as the KL allows). Extraction: ours (log-alpha > 0), not their
/// threshold bisection.
pub fn paper_config(kind: TaskKind) -> PruneConfig {
    PruneConfig {
        steps: 3000,
        batch_size: 32,
        log_alpha_lr: 0.8,
        lambda_lr: 0.8,
        lr_warmup: 200,
        sparsity_warmup: 2500,
        edge_target: 1.0,
        node_target: match kind {
            TaskKind::Ioi => 0.72,
            TaskKind::GreaterThan => 0.68,
            TaskKind::GenderedPronoun => 0.69,
        },
        node_loss: false,
        seed: 42,
        restarts: 1,
        eval_every: 0,
        extraction: ExtractionRule::PositiveLogAlpha,
        cleanup_tolerance: None,
        max_grad_norm: 1.0,
        weight_decay: 0.01,
        fixed_edge_lambdas: None,
        initial_edge_log_alpha: None,
    }
}

/// The examples the paper trains on: IOI 200, GT 150, GP 150.
pub fn paper_examples(kind: TaskKind) -> usize {
    match kind {
        TaskKind::Ioi => 200,
        TaskKind::GreaterThan | TaskKind::GenderedPronoun => 150,
    }
}

/// A backend bound to a task (interchange ablation with its corruptions, KL at its target positions).
pub enum LmBackend {
    /// The f64 reference.
    Ndarray(Box<NdarrayBackend>),
    /// candle (f32 or f64, CPU or CUDA).
    Candle(Box<CandleBackend>),
}

impl LmBackend {
    /// The reference backend (`None`) or candle in `dtype` on `device`, over `task`.
    pub fn new(
        model: &Transformer,
        task: &LmTask,
        candle: Option<(DType, CandleDevice)>,
    ) -> Result<LmBackend> {
        model.check_token_ids(task.clean.view())?;
        let ablation = Ablation::Interchange {
            corrupted_ids: task.corrupted.clone(),
        };
        let positions = Some(task.target_positions());
        Ok(match candle {
            None => {
                let mut backend =
                    NdarrayBackend::new(model, task.clean.view(), &ablation, Metric::Kl)?;
                backend.masked_forward().set_target_positions(positions)?;
                LmBackend::Ndarray(Box::new(backend))
            }
            Some((dtype, device)) => {
                let mut backend = CandleBackend::new(
                    model,
                    task.clean.view(),
                    &ablation,
                    Metric::Kl,
                    dtype,
                    device,
                )?;
                backend.set_target_positions(positions)?;
                LmBackend::Candle(Box::new(backend))
            }
        })
    }

    /// The backend, for the training loop.
    pub fn backend(&mut self) -> &mut dyn Backend {
        match self {
            LmBackend::Ndarray(b) => b.as_mut(),
            LmBackend::Candle(b) => b.as_mut(),
        }
    }

    /// The masked model's logits `[N, S, V]` on every example, for a circuit.
    pub fn logits(&mut self, circuit: &Circuit, num_examples: usize) -> Result<Array3<f64>> {
        let all: Vec<usize> = (0..num_examples).collect();
        let (edges, nodes) = (circuit.edge_mask(), circuit.node_mask());
        match self {
            LmBackend::Ndarray(b) => {
                Ok(b.masked_forward().forward(&all, &edges, &nodes)?.to_owned())
            }
            LmBackend::Candle(b) => b.masked_output(&all, &edges, &nodes),
        }
    }
}

/// The full model's and the circuit's task scores and the circuit's KL, as JSON.
pub fn scores_json(
    full: &TaskScores,
    circuit: &TaskScores,
    kl: f64,
    graph: &EdgeGraph,
    kept: usize,
) -> Value {
    json!({
        "kl": kl,
        "edges": kept,
        "edge_sparsity": 1.0 - kept as f64 / graph.num_edges().max(1) as f64,
        "full_model": { "answer_score": full.answer_score, "accuracy": full.accuracy },
        "circuit": { "answer_score": circuit.answer_score, "accuracy": circuit.accuracy },
    })
}

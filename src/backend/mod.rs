//! What a pruning backend computes, so the training loop is written once for every backend.

pub mod candle;
mod cpu_op;
pub mod frozen;
pub mod gelu;
pub mod layer_norm;
pub mod ndarray;
mod product;

/// A tensor's values as f64, flattened: what the fused ops' tests compare.
#[cfg(test)]
pub(crate) fn test_values(t: &::candle_core::Tensor) -> Vec<f64> {
    t.to_dtype(::candle_core::DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .expect("a CPU tensor converts to f64")
}

use crate::error::Result;
use crate::objective::metric::LinearMetric;

/// The two Lagrange multipliers of one targeted-sparsity term: `l1 (s - t) + l2 (s - t)^2`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lambdas {
    /// Multiplier of the linear term.
    pub linear: f64,
    /// Multiplier of the quadratic term.
    pub quadratic: f64,
}

/// Everything one optimisation step needs from the optimiser's side.
#[derive(Debug, Clone)]
pub struct StepRequest<'a> {
    /// Log-alpha of every edge, in the edge graph's order.
    pub edge_log_alpha: &'a [f64],
    /// Log-alpha of every writer (node mask), in writer order.
    pub node_log_alpha: &'a [f64],
    /// Uniform noise u in (eps, 1 - eps), one per edge, shared across the batch.
    pub edge_uniform: &'a [f64],
    /// Uniform noise u, one per writer, shared across the batch.
    pub node_uniform: &'a [f64],
    /// Multipliers of the edge sparsity term.
    pub edge_lambdas: Lambdas,
    /// Multipliers of the node sparsity term.
    pub node_lambdas: Lambdas,
    /// Edge sparsity target at this step (after warm-up).
    pub edge_target: f64,
    /// Node sparsity target at this step.
    pub node_target: f64,
    /// Whether the node sparsity term is part of the loss.
    pub node_loss: bool,
    /// Indices of the task's examples in this batch.
    pub batch: &'a [usize],
}

/// Loss, its parts, and the gradients of the loss with respect to every trained parameter.
#[derive(Debug, Clone, Default)]
pub struct StepResult {
    /// metric + edge regulariser (+ node regulariser when enabled).
    pub loss: f64,
    /// The output metric alone (KL or MSE against the full model).
    pub metric: f64,
    /// `1 - sum(z_edges) / num_edges`, from the sampled masks.
    pub edge_sparsity: f64,
    /// `1 - sum(z_nodes) / num_writers`, from the sampled masks.
    pub node_sparsity: f64,
    /// d loss / d edge log-alpha.
    pub grad_edge_log_alpha: Vec<f64>,
    /// d loss / d node log-alpha.
    pub grad_node_log_alpha: Vec<f64>,
    /// d loss / d edge lambdas (the optimiser maximises these).
    pub grad_edge_lambdas: Lambdas,
    /// d loss / d node lambdas.
    pub grad_node_lambdas: Lambdas,
}

/// A backend computes the masked forward, metric, regulariser and their gradients.
pub trait Backend {
    /// Short name for tables and logs (e.g. `ndarray-f64`, `candle-f32-cpu`).
    fn name(&self) -> String;
    /// Number of edges the backend's graph has.
    fn num_edges(&self) -> usize;
    /// Number of writers (node masks).
    fn num_writers(&self) -> usize;
    /// One training step: sample masks from log-alphas and noise, run, differentiate.
    fn step(&mut self, request: &StepRequest<'_>) -> Result<StepResult>;
    /// The output metric for fixed edge and node masks (no regulariser), on the given examples.
    fn metric(&mut self, edge_mask: &[f64], node_mask: &[f64], batch: &[usize]) -> Result<f64>;
}

/// What gradient attribution (EAP, EAP-IG) needs from a backend: gradients of a [`LinearMetric`] with
/// respect to the edge masks and, for EAP-IG's inputs variant, reader-input gradients at interpolated
/// token embeddings dotted with the clean writer differences. Every node mask is 1 throughout.
pub trait AttributionBackend: Backend {
    /// Number of examples in the bound dataset.
    fn num_examples(&self) -> usize;
    /// `m` on `batch` at the given edge masks, and `∂m/∂z_e` for every edge (graph order) into `grad_edge`.
    fn mask_gradient(
        &mut self,
        metric: &LinearMetric,
        batch: &[usize],
        edge_mask: &[f64],
        grad_edge: &mut [f64],
    ) -> Result<f64>;
    /// With every mask 1 and the token embedding `X̃_tok + alpha (e − X̃_tok)`: `m` on `batch`, and for every
    /// edge w→r `⟨∂m/∂in_r, Δ_w⟩` with `Δ_w = X_w − X̃_w` of the clean run (alpha = 1), into `grad_edge`.
    fn interpolated_input_gradient(
        &mut self,
        metric: &LinearMetric,
        batch: &[usize],
        alpha: f64,
        grad_edge: &mut [f64],
    ) -> Result<f64>;
}

//! Edge Pruning's targeted-sparsity penalty `λ1 (s − t) + λ2 (s − t)²`, with `s` from the sampled masks.

use crate::backend::{Lambdas, StepRequest, StepResult};
use crate::masks::sampled::SampledMasks;

/// The penalty on one family of masks (edges or nodes) and its gradients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparsityPenalty {
    /// `λ1 (s − t) + λ2 (s − t)²`.
    pub loss: f64,
    /// `s = 1 − Σz / N` from the sampled, clamped masks (not the expected L0).
    pub sparsity: f64,
    /// `d loss / d z_i`, the same for every mask entry: `−(λ1 + 2 λ2 (s − t)) / N`.
    pub grad_z: f64,
    /// `d loss / d λ`: `(s − t)` and `(s − t)²`.
    pub grad_lambdas: Lambdas,
}

/// The penalty for masks `z` (all valid entries), sparsity target `target`, and multipliers `lambdas`.
///
/// An empty `z` has sparsity 0 and no gradient, so a family without masks contributes only `λ·(−t)` terms.
pub fn sparsity_penalty(z: &[f64], target: f64, lambdas: Lambdas) -> SparsityPenalty {
    let count = z.len() as f64;
    let sparsity = if z.is_empty() {
        0.0
    } else {
        1.0 - z.iter().sum::<f64>() / count
    };
    let gap = sparsity - target;
    let loss = lambdas.quadratic * gap * gap + lambdas.linear * gap;
    let grad_z = if z.is_empty() {
        0.0
    } else {
        -(lambdas.linear + 2.0 * lambdas.quadratic * gap) / count
    };
    SparsityPenalty {
        loss,
        sparsity,
        grad_z,
        grad_lambdas: Lambdas {
            linear: gap,
            quadratic: gap * gap,
        },
    }
}

/// Combines a backend's metric and its gradients with respect to the sampled masks into a full step result:
/// adds the edge penalty (and the node penalty when `request.node_loss`), then chains to the log-alphas.
pub fn finish_step(
    request: &StepRequest<'_>,
    edges: &SampledMasks,
    nodes: &SampledMasks,
    metric: f64,
    metric_grad_edge_z: &[f64],
    metric_grad_node_z: &[f64],
) -> StepResult {
    let edge = sparsity_penalty(&edges.z, request.edge_target, request.edge_lambdas);
    let node = sparsity_penalty(&nodes.z, request.node_target, request.node_lambdas);
    let edge_grad_z: Vec<f64> = metric_grad_edge_z.iter().map(|g| g + edge.grad_z).collect();
    let node_penalty_grad = if request.node_loss { node.grad_z } else { 0.0 };
    let node_grad_z: Vec<f64> = metric_grad_node_z
        .iter()
        .map(|g| g + node_penalty_grad)
        .collect();
    StepResult {
        loss: metric + edge.loss + if request.node_loss { node.loss } else { 0.0 },
        metric,
        edge_sparsity: edge.sparsity,
        node_sparsity: node.sparsity,
        grad_edge_log_alpha: edges.chain(&edge_grad_z),
        grad_node_log_alpha: nodes.chain(&node_grad_z),
        grad_edge_lambdas: edge.grad_lambdas,
        grad_node_lambdas: if request.node_loss {
            node.grad_lambdas
        } else {
            Lambdas::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_and_gradients_match_hand_values() {
        // z = (1, 0.5, 0, 0.5): s = 1 − 2/4 = 0.5; t = 0.75 → gap −0.25.
        // loss = 2·0.0625 + 3·(−0.25) = −0.625; dL/dz = −(3 + 2·2·(−0.25))/4 = −0.5.
        let lambdas = Lambdas {
            linear: 3.0,
            quadratic: 2.0,
        };
        let p = sparsity_penalty(&[1.0, 0.5, 0.0, 0.5], 0.75, lambdas);
        assert_eq!(p.sparsity, 0.5);
        assert_eq!(p.loss, -0.625);
        assert_eq!(p.grad_z, -0.5);
        assert_eq!(p.grad_lambdas.linear, -0.25);
        assert_eq!(p.grad_lambdas.quadratic, 0.0625);
    }

    #[test]
    fn zero_lambdas_give_zero_loss_but_informative_lambda_gradients() {
        // At initialisation λ = 0: the loss is 0, and only the λ's learn (s − t and (s − t)²).
        let p = sparsity_penalty(&[1.0; 3], 1.02, Lambdas::default());
        assert_eq!(p.loss, 0.0);
        assert_eq!(p.grad_z, 0.0);
        assert_eq!(p.grad_lambdas.linear, -1.02);
        assert!((p.grad_lambdas.quadratic - 1.0404).abs() < 1e-15);
    }
}

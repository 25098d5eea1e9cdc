//! The trained quantities: every log-alpha (edges, nodes, Edge Pruning's padded entries) and the multipliers.

use crate::backend::Lambdas;
use crate::masks::hard_concrete::{INIT_MEAN, INIT_STD};
use crate::masks::layout::{ParameterLayout, Slot};
use crate::rng::Rng;

/// Log-alphas and Lagrange multipliers, the whole trainable state of a pruning run.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskParameters {
    /// One log-alpha per edge, in canonical edge order.
    pub edge_log_alpha: Vec<f64>,
    /// One log-alpha per writer (node mask), in writer order.
    pub node_log_alpha: Vec<f64>,
    /// Edge Pruning's padded tensor entries: never used by the forward, only decayed and counted in the top-k.
    pub padding_log_alpha: Vec<f64>,
    /// Multipliers of the edge sparsity term (start at 0).
    pub edge_lambdas: Lambdas,
    /// Multipliers of the node sparsity term (start at 0).
    pub node_lambdas: Lambdas,
}

impl MaskParameters {
    /// Every log-alpha drawn from N(10, 0.01), tensor by tensor in the layout's order; multipliers 0.
    pub fn initial(layout: &ParameterLayout, rng: &mut Rng) -> Self {
        let mut parameters = Self {
            edge_log_alpha: vec![0.0; layout.num_edges()],
            node_log_alpha: vec![0.0; layout.num_writers()],
            padding_log_alpha: vec![0.0; layout.num_padding],
            edge_lambdas: Lambdas::default(),
            node_lambdas: Lambdas::default(),
        };
        for tensor in &layout.tensors {
            for slot in &tensor.slots {
                let value = rng.normal_with(INIT_MEAN, INIT_STD);
                match *slot {
                    Slot::Edge(i) => parameters.edge_log_alpha[i] = value,
                    Slot::Node(i) => parameters.node_log_alpha[i] = value,
                    Slot::Padding(i) => parameters.padding_log_alpha[i] = value,
                }
            }
        }
        parameters
    }
}

//! Turning trained log-alphas into a binary circuit: Edge Pruning's rule, and ours.
//!
//! **Edge Pruning's rule** (`get_edges` with thresholds 0.005): each parameter tensor gets the deterministic
//! mask (soft mask `σ(1.2·log_alpha)` with the `round(Σ P(z=0))` smallest entries zeroed), thresholded at
//! 0.005; an edge is kept when its entry survives and its writer's node entry survives. Because the zero
//! count is rounded per tensor (padded entries included), an edge with a clearly negative log-alpha can
//! survive (reverse, seed 42: log-alpha −2.07 kept).
//!
//! **Our rule**: keep an edge when its log-alpha and its writer's node log-alpha are both positive (the
//! deterministic soft mask exceeds 1/2, i.e. the edge is more likely on than off), then drop every edge that
//! cannot carry information from the input to the output (see [`prune_dangling`]).

use crate::backend::Backend;
use crate::error::Result;
use crate::masks::hard_concrete::{thresholded_mask, EVAL_THRESHOLD};
use crate::masks::layout::{ParameterLayout, Slot};
use crate::masks::parameters::MaskParameters;

/// How to binarise the trained masks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExtractionRule {
    /// Edge Pruning's per-tensor top-k then `soft > threshold` (their Tracr scripts use 0.005), edges ∧ writer nodes.
    EdgePruning {
        /// Threshold on the deterministic mask.
        threshold: f64,
    },
    /// `log_alpha > 0` for the edge and its writer's node, then dangling edges removed.
    PositiveLogAlpha,
}

impl ExtractionRule {
    /// Edge Pruning's rule with the threshold of its Tracr scripts.
    pub fn edge_pruning() -> Self {
        Self::EdgePruning {
            threshold: EVAL_THRESHOLD,
        }
    }
}

pub use crate::circuit::Circuit;

impl Circuit {
    /// Names (`writer->reader`) of the kept edges, in canonical order.
    pub fn edge_names(&self, layout: &ParameterLayout) -> Vec<String> {
        (0..self.edges.len())
            .filter(|&e| self.edges[e])
            .map(|e| layout.edge_name(e))
            .collect()
    }
}

/// The binary circuit that `rule` extracts from `parameters`.
pub fn extract(
    layout: &ParameterLayout,
    parameters: &MaskParameters,
    rule: ExtractionRule,
) -> Circuit {
    match rule {
        ExtractionRule::EdgePruning { threshold } => {
            let mut edges = vec![false; layout.num_edges()];
            let mut nodes = vec![false; layout.num_writers()];
            for tensor in &layout.tensors {
                let log_alphas = layout.gather(
                    tensor,
                    &parameters.edge_log_alpha,
                    &parameters.node_log_alpha,
                    &parameters.padding_log_alpha,
                );
                for (slot, kept) in tensor
                    .slots
                    .iter()
                    .zip(thresholded_mask(&log_alphas, threshold))
                {
                    match *slot {
                        Slot::Edge(i) => edges[i] = kept,
                        Slot::Node(i) => nodes[i] = kept,
                        Slot::Padding(_) => {}
                    }
                }
            }
            for (edge, kept) in edges.iter_mut().enumerate() {
                *kept &= nodes[layout.edge_writer[edge]];
            }
            Circuit { edges, nodes }
        }
        ExtractionRule::PositiveLogAlpha => {
            let nodes: Vec<bool> = parameters
                .node_log_alpha
                .iter()
                .map(|&la| la > 0.0)
                .collect();
            let edges: Vec<bool> = (0..layout.num_edges())
                .map(|e| parameters.edge_log_alpha[e] > 0.0 && nodes[layout.edge_writer[e]])
                .collect();
            let mut circuit = Circuit { edges, nodes };
            prune_dangling(layout, &mut circuit);
            circuit
        }
    }
}

/// Removes edges that cannot carry information from the input tokens to `resid_post`.
///
/// A writer *depends on the input* when its node is kept and: it is `tok` or `pos`; or it is a head whose
/// `.v` reader has a kept edge from a writer that depends on the input (with no such edge the values are
/// the same at every position, so the head's output is a constant whatever `.q`/`.k` do); or it is an MLP
/// with a kept input edge from such a writer. A writer *reaches the output* when it has a kept edge to
/// `resid_post` or to a reader of a writer that depends on the input and reaches the output. An edge stays
/// when its writer depends on the input and its reader is `resid_post` or belongs to a writer that depends on
/// the input and reaches the output. Constant contributions (biases) of dropped writers are thereby treated as
/// absent, which is exact for models whose biases are zero, such as the Tracr models. Node masks of writers
/// left without edges are switched off.
pub fn prune_dangling(layout: &ParameterLayout, circuit: &mut Circuit) {
    let num_writers = layout.num_writers();
    // Edges only go from lower to higher writer index, so one pass in writer order settles dependence.
    let mut depends_on_input = vec![false; num_writers];
    for writer in 0..num_writers {
        if !circuit.nodes[writer] {
            continue;
        }
        depends_on_input[writer] = writer < 2
            || (0..layout.num_edges()).any(|e| {
                let reader = layout.edge_reader[e];
                circuit.edges[e]
                    && layout.reader_node(reader) == Some(writer)
                    && depends_on_input[layout.edge_writer[e]]
                    && (layout.is_value_reader(reader) || layout.is_mlp_writer(writer))
            });
    }
    let reader_alive = |reader: usize, reaches: &[bool]| match layout.reader_node(reader) {
        None => true,
        Some(node) => depends_on_input[node] && reaches[node],
    };
    let mut reaches_output = vec![false; num_writers];
    for writer in (0..num_writers).rev() {
        reaches_output[writer] = depends_on_input[writer]
            && (0..layout.num_edges()).any(|e| {
                circuit.edges[e]
                    && layout.edge_writer[e] == writer
                    && reader_alive(layout.edge_reader[e], &reaches_output)
            });
    }
    for e in 0..layout.num_edges() {
        let writer = layout.edge_writer[e];
        circuit.edges[e] &= depends_on_input[writer]
            && reaches_output[writer]
            && reader_alive(layout.edge_reader[e], &reaches_output);
    }
    for writer in 0..num_writers {
        circuit.nodes[writer] &= depends_on_input[writer] && reaches_output[writer];
    }
}

/// Removes, one at a time from the last edge in canonical order to the first, every kept edge whose
/// removal keeps the metric on `examples` within `tolerance` of the circuit's, then prunes dangling edges.
///
/// The training objective cannot see an edge that carries nothing the output uses (its KL gradient is 0),
/// so a run may end with such edges still on; this finds them with one masked forward per kept edge.
pub fn prune_unneeded_edges(
    backend: &mut dyn Backend,
    layout: &ParameterLayout,
    circuit: &mut Circuit,
    examples: &[usize],
    tolerance: f64,
) -> Result<()> {
    let baseline = backend.metric(&circuit.edge_mask(), &circuit.node_mask(), examples)?;
    for edge in (0..circuit.edges.len()).rev() {
        if !circuit.edges[edge] {
            continue;
        }
        circuit.edges[edge] = false;
        let without = backend.metric(&circuit.edge_mask(), &circuit.node_mask(), examples)?;
        // A NaN metric counts as a change, so the edge stays.
        let unchanged = without <= baseline + tolerance;
        circuit.edges[edge] = !unchanged;
    }
    prune_dangling(layout, circuit);
    Ok(())
}

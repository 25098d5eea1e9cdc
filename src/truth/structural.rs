//! The structural ground truth: which writer's residual dimensions each reader actually reads.
//!
//! A compiled Tracr model gives every residual dimension one meaning (`tokens:a`, `length_5:3`, `one`),
//! and each component writes only the dimensions of the RASP node it computes. So a writer can influence
//! a reader exactly when some dimension it writes (a non-zero column of its output weights) is one the
//! reader reads (a non-zero row of its input weights). Edges that cannot reach `resid_post` through kept
//! edges carry nothing to the output and are dropped.

use crate::circuit::Circuit;
use crate::forward::residual_supports;
use crate::graph::{EdgeGraph, Reader, Writer};
use crate::model::{ResidualBasis, Transformer};

/// The writer a reader belongs to (`a0.h0.q` → `a0.h0`), or `None` for `resid_post`.
pub fn reader_component(graph: &EdgeGraph, reader: usize) -> Option<usize> {
    match graph.readers()[reader] {
        Reader::Head { layer, head, .. } => Some(graph.head_writer(layer, head)),
        Reader::Mlp { layer } => Some(graph.mlp_writer(layer)),
        Reader::Output => None,
    }
}

/// Residual dimensions shared by an edge's writer and reader (what the edge can carry).
pub fn shared_dims(
    writer_dims: &[Vec<usize>],
    reader_dims: &[Vec<usize>],
    graph: &EdgeGraph,
    edge: usize,
) -> Vec<usize> {
    let e = graph.edges()[edge];
    writer_dims[e.writer]
        .iter()
        .copied()
        .filter(|d| reader_dims[e.reader].binary_search(d).is_ok())
        .collect()
}

/// Keeps only edges on a path to `resid_post`: an edge into a component counts only when that
/// component has a kept outgoing edge.
pub fn keep_paths_to_output(graph: &EdgeGraph, edges: &mut [bool]) {
    let mut needed = vec![false; graph.num_writers()];
    // Readers come in layer order, so walking them backwards sees a component's outputs before its inputs.
    for reader in (0..graph.num_readers()).rev() {
        let live = match reader_component(graph, reader) {
            None => true,
            Some(component) => needed[component],
        };
        for &edge in graph.edges_into(reader) {
            if !live {
                edges[edge] = false;
            }
            if edges[edge] {
                needed[graph.edges()[edge].writer] = true;
            }
        }
    }
}

/// The structural ground truth of `model`: edges whose writer writes a dimension the reader reads,
/// restricted to paths into the output. Node masks are all on.
///
/// A rotated model is read in its compiled basis (the rotation undone, see
/// [`Transformer::in_compiled_basis`]), where dimensions have one meaning again. A compressed model
/// has no such basis: its weights are dense, so every edge on a path to the output is structural
/// ([`structural_applies`] says so, and reports print it).
pub fn structural(model: &Transformer) -> Circuit {
    let model = model.in_compiled_basis();
    let model = model.as_ref();
    let graph = EdgeGraph::for_model(model);
    let (writer_dims, reader_dims) = residual_supports(model);
    let mut edges: Vec<bool> = (0..graph.num_edges())
        .map(|edge| !shared_dims(&writer_dims, &reader_dims, &graph, edge).is_empty())
        .collect();
    keep_paths_to_output(&graph, &mut edges);
    Circuit {
        edges,
        nodes: vec![true; graph.num_writers()],
    }
}

/// Whether the structural truth means something for `model`, and in which basis: `None` when it is
/// read from the weights as they are, else a sentence for reports.
pub fn structural_note(model: &Transformer) -> Option<&'static str> {
    match model.residual_basis {
        ResidualBasis::Native => None,
        ResidualBasis::Rotated { .. } => Some(
            "rotated model: structural truth computed in the compiled basis (the rotation undone)",
        ),
        ResidualBasis::Compressed => Some(
            "compressed model: features share residual dimensions, so the structural truth does \
             not apply (every edge on a path to the output); only the functional truth does",
        ),
    }
}

/// Whether the structural truth is a meaningful bound for `model` (not for a compressed one).
pub fn structural_applies(model: &Transformer) -> bool {
    !matches!(model.residual_basis, ResidualBasis::Compressed)
}

/// Whether the writer is one of the two embeddings.
pub fn is_embedding(writer: Writer) -> bool {
    matches!(writer, Writer::TokenEmbedding | Writer::PositionEmbedding)
}

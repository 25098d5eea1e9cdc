//! A binary circuit on the edge graph: which edges and which writers are kept.
//!
//! Every method (Edge Pruning, ACDC, EAP, …), the ground truth and the reports speak this type; it knows
//! the graph, not any method.

use crate::error::Result;
use crate::graph::EdgeGraph;

/// A binary circuit: which edges and which writers (node masks) are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circuit {
    /// Per edge, in canonical order.
    pub edges: Vec<bool>,
    /// Per writer: whether its node mask is on.
    pub nodes: Vec<bool>,
}

impl Circuit {
    /// Every edge and every writer kept: the full model.
    pub fn full(graph: &EdgeGraph) -> Circuit {
        Circuit {
            edges: vec![true; graph.num_edges()],
            nodes: vec![true; graph.num_writers()],
        }
    }

    /// The given edges kept, every writer's node mask on (how ablation-based methods evaluate a circuit).
    pub fn from_edges(graph: &EdgeGraph, edges: Vec<bool>) -> Circuit {
        Circuit {
            edges,
            nodes: vec![true; graph.num_writers()],
        }
    }

    /// The circuit keeping the named edges (`writer->reader`), node masks on; an unknown name is an error.
    pub fn from_edge_names<S: AsRef<str>>(graph: &EdgeGraph, names: &[S]) -> Result<Circuit> {
        let mut edges = vec![false; graph.num_edges()];
        for name in names {
            edges[graph.edge_by_name(name.as_ref())?] = true;
        }
        Ok(Circuit::from_edges(graph, edges))
    }

    /// Number of kept edges.
    pub fn num_edges(&self) -> usize {
        self.edges.iter().filter(|&&kept| kept).count()
    }

    /// Names (`writer->reader`) of the kept edges, in graph order.
    pub fn kept_edge_names<'g>(&self, graph: &'g EdgeGraph) -> Vec<&'g str> {
        graph
            .edge_names()
            .iter()
            .zip(&self.edges)
            .filter(|(_, &kept)| kept)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The edge mask as 0/1 numbers, for a backend's `metric`.
    pub fn edge_mask(&self) -> Vec<f64> {
        self.edges.iter().map(|&k| f64::from(u8::from(k))).collect()
    }

    /// The node mask as 0/1 numbers, for a backend's `metric`.
    pub fn node_mask(&self) -> Vec<f64> {
        self.nodes.iter().map(|&k| f64::from(u8::from(k))).collect()
    }
}

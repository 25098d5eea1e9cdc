//! Circuits as JSON, DOT and SVG, with the ground truth and the found circuit told apart by colour.

pub mod components;
pub mod curves;
pub mod dot;
pub mod html;
pub mod json;
pub mod layout;
pub mod svg;

use crate::circuit::Circuit;
use crate::graph::EdgeGraph;

/// Legend of a found circuit drawn against the ground truth.
pub const DEFAULT_LEGEND: [&str; 3] = [
    "found and in the ground truth",
    "found only (not in the ground truth)",
    "ground truth only (missed)",
];

/// Legend of the structural ground truth drawn against the functional one.
pub const TRUTH_LEGEND: [&str; 3] = [
    "functional (certified) ground truth",
    "structural only (not needed on this data)",
    "functional only (impossible: functional is a subset)",
];

/// How an edge relates to the two circuits being compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeClass {
    /// In both the found circuit and the ground truth.
    Both,
    /// Found, but not in the ground truth (a false positive).
    FoundOnly,
    /// In the ground truth, but not found (a false negative).
    TruthOnly,
}

impl EdgeClass {
    /// Stroke colour, distinguishable in colour-blind palettes.
    pub fn colour(self) -> &'static str {
        match self {
            EdgeClass::Both => "#1b7837",
            EdgeClass::FoundOnly => "#d6604d",
            EdgeClass::TruthOnly => "#2166ac",
        }
    }
}

/// Every edge in either circuit, with its class, in graph order.
pub fn classify_edges(found: &Circuit, truth: &Circuit) -> Vec<(usize, EdgeClass)> {
    found
        .edges
        .iter()
        .zip(&truth.edges)
        .enumerate()
        .filter_map(|(edge, (&f, &t))| match (f, t) {
            (true, true) => Some((edge, EdgeClass::Both)),
            (true, false) => Some((edge, EdgeClass::FoundOnly)),
            (false, true) => Some((edge, EdgeClass::TruthOnly)),
            (false, false) => None,
        })
        .collect()
}

/// Edge names of a circuit, in graph order, as owned strings (see [`Circuit::kept_edge_names`]).
pub fn edge_names(graph: &EdgeGraph, circuit: &Circuit) -> Vec<String> {
    circuit
        .kept_edge_names(graph)
        .into_iter()
        .map(String::from)
        .collect()
}

/// Precision and recall of `found` against `truth` (1 when the denominator is empty).
pub fn precision_recall(found: &Circuit, truth: &Circuit) -> (f64, f64) {
    let both = classify_edges(found, truth)
        .iter()
        .filter(|(_, class)| *class == EdgeClass::Both)
        .count() as f64;
    let ratio = |count: usize| {
        if count == 0 {
            1.0
        } else {
            both / count as f64
        }
    };
    (ratio(found.num_edges()), ratio(truth.num_edges()))
}

//! An SVG drawing of a circuit against the ground truth, with no Graphviz needed: the layered,
//! orthogonally routed drawing of [`super::layout`].

use super::layout::{render, Drawing};
use crate::circuit::Circuit;
use crate::graph::EdgeGraph;

/// The SVG document: one `<path class="edge">` per edge of either circuit, coloured by class, and a legend.
/// `legend` names the three classes (found∧truth, found only, truth only); see [`super::DEFAULT_LEGEND`].
pub fn to_svg(
    graph: &EdgeGraph,
    found: &Circuit,
    truth: &Circuit,
    title: &str,
    legend: [&str; 3],
) -> String {
    to_svg_labelled(graph, found, truth, title, legend, &[])
}

/// [`to_svg`] with each box also naming the RASP node its component computes (`labels[writer]`, see
/// [`super::components::component_labels`]; missing entries draw the edge-graph name alone).
pub fn to_svg_labelled(
    graph: &EdgeGraph,
    found: &Circuit,
    truth: &Circuit,
    title: &str,
    legend: [&str; 3],
    labels: &[Option<String>],
) -> String {
    to_svg_with_alternatives(graph, found, truth, &[], title, legend, labels)
}

/// [`to_svg_labelled`] with the edges of other minimal circuits (`alternatives`) that neither circuit
/// has drawn dotted purple.
pub fn to_svg_with_alternatives(
    graph: &EdgeGraph,
    found: &Circuit,
    truth: &Circuit,
    alternatives: &[Circuit],
    title: &str,
    legend: [&str; 3],
    labels: &[Option<String>],
) -> String {
    render(&Drawing {
        graph,
        found,
        truth,
        alternatives,
        title,
        legend,
        labels,
    })
}

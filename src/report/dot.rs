//! Graphviz DOT text of a circuit against the ground truth (rendering it needs no Graphviz here: see svg).

use super::{classify_edges, EdgeClass};
use crate::circuit::Circuit;
use crate::graph::EdgeGraph;
use crate::truth::structural::reader_component;

/// DOT source: components as nodes, kept edges coloured by class, labelled with the head input (q/k/v).
pub fn to_dot(graph: &EdgeGraph, found: &Circuit, truth: &Circuit, title: &str) -> String {
    to_dot_labelled(graph, found, truth, title, &[])
}

/// [`to_dot`] with each node also labelled by the RASP node it computes (`labels[writer]`).
pub fn to_dot_labelled(
    graph: &EdgeGraph,
    found: &Circuit,
    truth: &Circuit,
    title: &str,
    labels: &[Option<String>],
) -> String {
    let mut out = format!(
        "digraph circuit {{\n  label=\"{}\";\n  rankdir=BT;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        title.replace('"', "\\\"")
    );
    for (writer, name) in graph.writer_names().iter().enumerate() {
        match labels.get(writer).and_then(|l| l.as_deref()) {
            Some(label) => out.push_str(&format!(
                "  \"{name}\" [label=\"{name}\\n{}\"];\n",
                label.replace('\\', "\\\\").replace('"', "\\\"")
            )),
            None => out.push_str(&format!("  \"{name}\";\n")),
        }
    }
    out.push_str("  \"resid_post\" [shape=ellipse];\n");
    for (edge, class) in classify_edges(found, truth) {
        let e = graph.edges()[edge];
        let writer = &graph.writer_names()[e.writer];
        let reader_name = &graph.reader_names()[e.reader];
        let (target, input) = match reader_component(graph, e.reader) {
            Some(component) => {
                let component_name = &graph.writer_names()[component];
                let input = reader_name
                    .strip_prefix(component_name.as_str())
                    .map(|rest| rest.trim_start_matches('.'))
                    .unwrap_or("");
                (component_name.clone(), input.to_string())
            }
            None => ("resid_post".to_string(), String::new()),
        };
        let style = if class == EdgeClass::TruthOnly {
            ", style=dashed"
        } else {
            ""
        };
        out.push_str(&format!(
            "  \"{writer}\" -> \"{target}\" [color=\"{}\", label=\"{input}\"{style}];\n",
            class.colour()
        ));
    }
    out.push_str("}\n");
    out
}

//! An SVG drawing of a circuit against the ground truth, laid out by layer, with no Graphviz needed.

use super::{classify_edges, EdgeClass};
use crate::circuit::Circuit;
use crate::graph::{EdgeGraph, HeadInput, Reader, Writer};

const BOX_WIDTH: f64 = 124.0;
const BOX_HEIGHT: f64 = 40.0;
const COLUMN: f64 = 144.0;
const ROW: f64 = 84.0;
const MARGIN: f64 = 40.0;
const LEGEND_HEIGHT: f64 = 86.0;

/// Where a component's box sits.
#[derive(Debug, Clone, Copy)]
struct Place {
    x: f64,
    y: f64,
}

/// Rows from the bottom: embeddings, then per layer its heads and its MLP, then `resid_post`.
fn level(writer: Writer) -> usize {
    match writer {
        Writer::TokenEmbedding | Writer::PositionEmbedding => 0,
        Writer::Head { layer, .. } => 2 * layer + 1,
        Writer::Mlp { layer } => 2 * layer + 2,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

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

/// Longest RASP label drawn inside a box (the full label is in the box's tooltip).
const MAX_BOX_LABEL: usize = 24;

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
    let top_level = 2 * graph.num_layers() + 1;
    let mut per_level: Vec<Vec<usize>> = vec![Vec::new(); top_level];
    for (writer, &kind) in graph.writers().iter().enumerate() {
        per_level[level(kind)].push(writer);
    }
    let widest = per_level.iter().map(Vec::len).max().unwrap_or(1).max(3);
    // Wide enough for the title (about 8.5 px per character at 15 px) and the legend.
    let width = (2.0 * MARGIN + widest as f64 * COLUMN)
        .max(2.0 * MARGIN + 8.5 * title.chars().count() as f64)
        .max(2.0 * MARGIN + 420.0);
    let height = 2.0 * MARGIN + LEGEND_HEIGHT + top_level as f64 * ROW + BOX_HEIGHT;
    let y_of = |level: usize| height - MARGIN - BOX_HEIGHT - level as f64 * ROW;
    let mut places = vec![Place { x: 0.0, y: 0.0 }; graph.num_writers()];
    for (lvl, writers) in per_level.iter().enumerate() {
        let row_width = writers.len() as f64 * COLUMN;
        for (i, &writer) in writers.iter().enumerate() {
            places[writer] = Place {
                x: (width - row_width) / 2.0 + (i as f64 + 0.5) * COLUMN,
                y: y_of(lvl),
            };
        }
    }
    let output_place = Place {
        x: width / 2.0,
        y: y_of(top_level),
    };

    let classes = classify_edges(found, truth);
    let mut used = vec![false; graph.num_writers()];
    for &(edge, _) in &classes {
        let e = graph.edges()[edge];
        used[e.writer] = true;
        if let Some(component) = crate::truth::structural::reader_component(graph, e.reader) {
            used[component] = true;
        }
    }

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{MARGIN}\" y=\"{:.0}\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        MARGIN - 12.0,
        escape(title)
    );
    for (i, class) in [EdgeClass::Both, EdgeClass::FoundOnly, EdgeClass::TruthOnly]
        .into_iter()
        .enumerate()
    {
        let count = classes.iter().filter(|(_, c)| *c == class).count();
        let y = MARGIN + 8.0 + i as f64 * 20.0;
        let dash = if class == EdgeClass::TruthOnly {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        svg.push_str(&format!(
            "<g class=\"legend\"><line x1=\"{MARGIN}\" y1=\"{y:.0}\" x2=\"{:.0}\" y2=\"{y:.0}\" stroke=\"{}\" stroke-width=\"2.5\"{dash}/>\
             <text x=\"{:.0}\" y=\"{:.0}\">{} ({count})</text></g>\n",
            MARGIN + 36.0,
            class.colour(),
            MARGIN + 44.0,
            y + 4.0,
            escape(legend[i])
        ));
    }

    // Edges first, so boxes are drawn over their ends.
    for &(edge, class) in &classes {
        let e = graph.edges()[edge];
        let from = places[e.writer];
        let (to, offset) = match graph.readers()[e.reader] {
            Reader::Head { layer, head, input } => {
                let offset = match input {
                    HeadInput::Query => -BOX_WIDTH / 3.0,
                    HeadInput::Key => 0.0,
                    HeadInput::Value => BOX_WIDTH / 3.0,
                };
                (places[graph.head_writer(layer, head)], offset)
            }
            Reader::Mlp { layer } => (places[graph.mlp_writer(layer)], 0.0),
            Reader::Output => (output_place, 0.0),
        };
        let (x1, y1) = (from.x, from.y);
        let (x2, y2) = (to.x + offset, to.y + BOX_HEIGHT);
        let bend = ((y1 - y2) / 2.0).max(20.0);
        let dash = if class == EdgeClass::TruthOnly {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        svg.push_str(&format!(
            "<path class=\"edge\" data-edge=\"{}\" d=\"M {x1:.1} {y1:.1} C {x1:.1} {:.1} {x2:.1} {:.1} {x2:.1} {y2:.1}\" \
             fill=\"none\" stroke=\"{}\" stroke-width=\"2\" opacity=\"0.85\"{dash}><title>{}</title></path>\n",
            escape(&graph.edge_names()[edge]),
            y1 - bend,
            y2 + bend,
            class.colour(),
            escape(&graph.edge_names()[edge])
        ));
    }

    let mut draw_box = |place: Place, name: &str, label: Option<&str>, active: bool, head: bool| {
        let (fill, stroke, text) = if active {
            ("#f7f7f7", "#333333", "#000000")
        } else {
            ("#ffffff", "#bbbbbb", "#999999")
        };
        svg.push_str(&format!(
            "<g class=\"node\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{BOX_WIDTH}\" height=\"{BOX_HEIGHT}\" rx=\"5\" \
             fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{text}\">{}</text>",
            place.x - BOX_WIDTH / 2.0,
            place.y,
            place.x,
            place.y + 14.0,
            escape(name)
        ));
        if let Some(label) = label {
            let shown: String = if label.chars().count() > MAX_BOX_LABEL {
                let mut short: String = label.chars().take(MAX_BOX_LABEL - 1).collect();
                short.push('…');
                short
            } else {
                label.to_string()
            };
            svg.push_str(&format!(
                "<text class=\"rasp\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\" fill=\"{text}\">{}</text>\
                 <title>{} = {}</title>",
                place.x,
                place.y + 25.0,
                escape(&shown),
                escape(name),
                escape(label)
            ));
        }
        if head {
            for (letter, dx) in [("q", -BOX_WIDTH / 3.0), ("k", 0.0), ("v", BOX_WIDTH / 3.0)] {
                svg.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\" fill=\"{text}\">{letter}</text>",
                    place.x + dx,
                    place.y + BOX_HEIGHT - 2.0
                ));
            }
        }
        svg.push_str("</g>\n");
    };
    for (writer, &kind) in graph.writers().iter().enumerate() {
        let head = matches!(kind, Writer::Head { .. });
        let label = labels.get(writer).and_then(|l| l.as_deref());
        draw_box(
            places[writer],
            &graph.writer_names()[writer],
            label,
            used[writer],
            head,
        );
    }
    draw_box(output_place, "resid_post", None, true, false);
    svg.push_str("</svg>\n");
    svg
}

//! A layered drawing of a circuit that a student can trace: layers left to right, the heads of a layer
//! stacked in one column with the MLP in the next, q/k/v ports on the left of each head, and every edge
//! routed orthogonally through the box-free channels between columns and corridors between rows, so no
//! edge crosses a box.
//!
//! **Grid.** Column 0 holds `tok` and `pos`; layer `l` is column `1 + l`, head `h` in row `h` and the
//! MLP in the row below the last head; `resid_post` is the last column. All boxes have one size and sit
//! on the rows, so the space between two columns (a *channel*) and between two rows (a *corridor*) holds
//! no box from one side of the drawing to the other.
//!
//! **Routes.** An edge leaves its writer's right side, runs up or down its writer's *lane* in the channel
//! right of the writer's column, and, when its reader is in the next column, goes straight into the
//! reader's port. Otherwise (a later column, or the MLP under its own layer's heads) it runs along its
//! writer's *track* in a corridor to the channel left of the reader's column, down that channel's lane for the writer, and into the port. Lanes and tracks belong
//! to one (writer, class) pair, so the edges of one writer and one colour share their path (a bundle),
//! and two bundles never overlap, only cross. The output depends on nothing but its inputs.

use std::collections::BTreeMap;

use crate::circuit::Circuit;
use crate::graph::{EdgeGraph, HeadInput, Reader, Writer};

/// Box width and height (every box the same, so rows and columns stay straight).
pub const BOX_WIDTH: f64 = 150.0;
/// See [`BOX_WIDTH`].
pub const BOX_HEIGHT: f64 = 46.0;
/// Vertical offsets of the q, k, v ports (and of an MLP's or `resid_post`'s one port: k's) in a box.
const PORT_Q: f64 = 12.0;
const PORT_K: f64 = 23.0;
const PORT_V: f64 = 34.0;
/// The output port's offset: on the right side, at a height no input port uses, so a writer's stub
/// never lies on top of the stub into the box beside it.
const PORT_OUT: f64 = 29.0;
const LANE: f64 = 7.0;
const TRACK: f64 = 6.0;
const CHANNEL_PAD: f64 = 14.0;
const CORRIDOR_PAD: f64 = 12.0;
const MARGIN: f64 = 24.0;
/// Title line plus up to four legend rows.
const HEADER: f64 = 26.0 + 4.0 * 18.0 + 8.0;
/// Longest RASP caption drawn inside a box (the full one is in the tooltip).
const MAX_CAPTION: usize = 26;

/// How an edge relates to the circuits drawn; the order is the drawing order (later on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DrawClass {
    /// In an alternative minimal circuit only (neither found nor in the truth drawn).
    Alternative,
    /// In the truth only (missed).
    TruthOnly,
    /// Found only (not in the truth).
    FoundOnly,
    /// In both.
    Both,
}

impl DrawClass {
    /// Stroke colour (the same three as [`super::EdgeClass`], purple for alternatives).
    pub fn colour(self) -> &'static str {
        match self {
            DrawClass::Both => "#1b7837",
            DrawClass::FoundOnly => "#d6604d",
            DrawClass::TruthOnly => "#2166ac",
            DrawClass::Alternative => "#9970ab",
        }
    }

    /// `stroke-dasharray` value, or `None` for a solid line (missed and alternative edges are dashed, so
    /// the classes stay apart without colour).
    fn dash(self) -> Option<&'static str> {
        match self {
            DrawClass::TruthOnly => Some("6 4"),
            DrawClass::Alternative => Some("2 3"),
            _ => None,
        }
    }

    fn css(self) -> &'static str {
        match self {
            DrawClass::Both => "both",
            DrawClass::FoundOnly => "found",
            DrawClass::TruthOnly => "missed",
            DrawClass::Alternative => "alternative",
        }
    }
}

/// A drawn box: a writer of the edge graph, or `resid_post`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Writer index into [`EdgeGraph::writers`].
    Writer(usize),
    /// The final residual read by the unembedding.
    Output,
}

/// A box and where it sits (top-left corner, size [`BOX_WIDTH`] x [`BOX_HEIGHT`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedBox {
    /// What the box is.
    pub component: Component,
    /// Left side.
    pub x: f64,
    /// Top side.
    pub y: f64,
    /// Whether any drawn edge touches it (unused boxes are greyed).
    pub used: bool,
}

impl PlacedBox {
    /// Whether the open segment from `a` to `b` (horizontal or vertical) enters the box's interior.
    pub fn crossed_by(&self, a: (f64, f64), b: (f64, f64)) -> bool {
        // Interior only: touching the border is how an edge reaches its port.
        let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
        let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
        x1 > self.x && x0 < self.x + BOX_WIDTH && y1 > self.y && y0 < self.y + BOX_HEIGHT
    }
}

/// One routed edge: its graph index, class and the corners of its orthogonal path.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedEdge {
    /// Index into [`EdgeGraph::edges`].
    pub edge: usize,
    /// How it is drawn.
    pub class: DrawClass,
    /// Corners from the writer's output port to the reader's port; consecutive points share x or y.
    pub points: Vec<(f64, f64)>,
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Drawing width.
    pub width: f64,
    /// Drawing height.
    pub height: f64,
    /// Every writer's box, in writer order, then `resid_post`'s.
    pub boxes: Vec<PlacedBox>,
    /// Every drawn edge, in drawing order (alternatives first, found-and-truth last).
    pub edges: Vec<RoutedEdge>,
}

impl Layout {
    /// The box of a component.
    pub fn box_of(&self, component: Component) -> &PlacedBox {
        match component {
            Component::Writer(w) => &self.boxes[w],
            Component::Output => self.boxes.last().expect("resid_post is always placed"),
        }
    }
}

/// Column and row of a writer.
fn grid(graph: &EdgeGraph, writer: Writer) -> (usize, usize) {
    match writer {
        Writer::TokenEmbedding => (0, 0),
        Writer::PositionEmbedding => (0, 1),
        Writer::Head { layer, head } => (1 + layer, head),
        Writer::Mlp { layer } => (1 + layer, graph.num_heads()),
    }
}

/// Column, row and port offset of a reader.
fn reader_grid(graph: &EdgeGraph, reader: Reader) -> (usize, usize, f64) {
    match reader {
        Reader::Head { layer, head, input } => {
            let offset = match input {
                HeadInput::Query => PORT_Q,
                HeadInput::Key => PORT_K,
                HeadInput::Value => PORT_V,
            };
            (1 + layer, head, offset)
        }
        Reader::Mlp { layer } => (1 + layer, graph.num_heads(), PORT_K),
        Reader::Output => (1 + graph.num_layers(), 0, PORT_K),
    }
}

/// Every edge in `found`, `truth` or one of `alternatives`, with its class, in graph order.
pub fn classify(
    found: &Circuit,
    truth: &Circuit,
    alternatives: &[Circuit],
) -> Vec<(usize, DrawClass)> {
    (0..found.edges.len())
        .filter_map(|edge| {
            match (found.edges[edge], truth.edges[edge]) {
                (true, true) => Some(DrawClass::Both),
                (true, false) => Some(DrawClass::FoundOnly),
                (false, true) => Some(DrawClass::TruthOnly),
                (false, false) => alternatives
                    .iter()
                    .any(|c| c.edges[edge])
                    .then_some(DrawClass::Alternative),
            }
            .map(|class| (edge, class))
        })
        .collect()
}

/// Places the boxes and routes `edges` (graph index and class) between them.
pub fn layout(graph: &EdgeGraph, edges: &[(usize, DrawClass)]) -> Layout {
    let columns = 2 + graph.num_layers();
    let rows = (graph.num_heads() + 1).max(2);
    let key = |writer: usize, class: DrawClass| (writer, class);

    // Lanes per channel (channel c lies between columns c and c+1) and tracks per corridor (corridor k
    // lies above row k; corridor `rows` below the last row), each keyed by (writer, class).
    let mut lanes: Vec<BTreeMap<(usize, DrawClass), usize>> = vec![BTreeMap::new(); columns - 1];
    let mut drops: Vec<BTreeMap<(usize, DrawClass), usize>> = vec![BTreeMap::new(); columns - 1];
    let mut tracks: Vec<BTreeMap<(usize, DrawClass), usize>> = vec![BTreeMap::new(); rows + 1];
    let corridor_of = |row: usize| if 2 * row < rows { row } else { row + 1 };
    for &(edge, class) in edges {
        let e = graph.edges()[edge];
        let (wc, wr) = grid(graph, graph.writers()[e.writer]);
        let (rc, _, _) = reader_grid(graph, graph.readers()[e.reader]);
        lanes[wc].insert(key(e.writer, class), 0);
        if rc != wc + 1 {
            drops[rc - 1].insert(key(e.writer, class), 0);
            tracks[corridor_of(wr)].insert(key(e.writer, class), 0);
        }
    }
    // Number the lanes: the writers' own lanes nearest their column, the drops after them.
    let mut channel_width = Vec::with_capacity(columns - 1);
    for c in 0..columns - 1 {
        let mut next = 0;
        for slot in lanes[c].values_mut() {
            *slot = next;
            next += 1;
        }
        for slot in drops[c].values_mut() {
            *slot = next;
            next += 1;
        }
        channel_width.push(2.0 * CHANNEL_PAD + next.saturating_sub(1) as f64 * LANE + 12.0);
    }
    let mut corridor_height = Vec::with_capacity(rows + 1);
    for corridor in &mut tracks {
        for (i, slot) in corridor.values_mut().enumerate() {
            *slot = i;
        }
        corridor_height
            .push(2.0 * CORRIDOR_PAD + corridor.len().saturating_sub(1) as f64 * TRACK + 4.0);
    }

    let mut column_x = Vec::with_capacity(columns);
    let mut x = MARGIN;
    for c in 0..columns {
        column_x.push(x);
        x += BOX_WIDTH + channel_width.get(c).copied().unwrap_or(0.0);
    }
    let width = x + MARGIN;
    let mut corridor_y = Vec::with_capacity(rows + 1);
    let mut row_y = Vec::with_capacity(rows);
    let mut y = MARGIN + HEADER;
    for (k, height) in corridor_height.iter().enumerate() {
        corridor_y.push(y);
        y += height;
        if k < rows {
            row_y.push(y);
            y += BOX_HEIGHT;
        }
    }
    let height = y + MARGIN;
    let lane_x = |channel: usize, slot: usize| {
        column_x[channel] + BOX_WIDTH + CHANNEL_PAD + 6.0 + slot as f64 * LANE
    };
    let track_y = |corridor: usize, slot: usize| {
        corridor_y[corridor] + CORRIDOR_PAD + 2.0 + slot as f64 * TRACK
    };

    let mut used = vec![false; graph.num_writers() + 1];
    let mut routed: Vec<RoutedEdge> = edges
        .iter()
        .map(|&(edge, class)| {
            let e = graph.edges()[edge];
            let (wc, wr) = grid(graph, graph.writers()[e.writer]);
            let (rc, rr, port) = reader_grid(graph, graph.readers()[e.reader]);
            used[e.writer] = true;
            match crate::truth::structural::reader_component(graph, e.reader) {
                Some(component) => used[component] = true,
                None => used[graph.num_writers()] = true,
            }
            let start = (column_x[wc] + BOX_WIDTH, row_y[wr] + PORT_OUT);
            let end = (column_x[rc], row_y[rr] + port);
            let own = lane_x(wc, lanes[wc][&key(e.writer, class)]);
            let points = if rc == wc + 1 {
                vec![start, (own, start.1), (own, end.1), end]
            } else {
                let corridor = corridor_of(wr);
                let track = track_y(corridor, tracks[corridor][&key(e.writer, class)]);
                let drop = lane_x(rc - 1, drops[rc - 1][&key(e.writer, class)]);
                vec![
                    start,
                    (own, start.1),
                    (own, track),
                    (drop, track),
                    (drop, end.1),
                    end,
                ]
            };
            RoutedEdge {
                edge,
                class,
                points,
            }
        })
        .collect();
    routed.sort_by_key(|r| (r.class, r.edge));

    let mut boxes: Vec<PlacedBox> = graph
        .writers()
        .iter()
        .enumerate()
        .map(|(w, &writer)| {
            let (c, r) = grid(graph, writer);
            PlacedBox {
                component: Component::Writer(w),
                x: column_x[c],
                y: row_y[r],
                used: used[w],
            }
        })
        .collect();
    boxes.push(PlacedBox {
        component: Component::Output,
        x: column_x[columns - 1],
        y: row_y[0],
        used: true,
    });
    Layout {
        width,
        height,
        boxes,
        edges: routed,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `reverse_1 (Aggregate)` as `reverse_1 · Aggregate` (each part of an MLP's list likewise).
pub fn caption(label: &str) -> String {
    let mut text = label.to_string();
    for kind in [
        "Aggregate",
        "SelectorWidth",
        "LinearSequenceMap",
        "SequenceMap",
        "Map",
        "numerical",
        "categorical",
    ] {
        text = text.replace(&format!(" ({kind})"), &format!(" · {kind}"));
    }
    text
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    } else {
        text.to_string()
    }
}

/// What to draw: the circuits, the legend's three names (found∧truth, found only, truth only; see
/// [`super::DEFAULT_LEGEND`]) and each writer's RASP node (see [`super::components::component_labels`]).
pub struct Drawing<'a> {
    /// The edge graph.
    pub graph: &'a EdgeGraph,
    /// The found circuit (or the structural truth when drawing the truths against each other).
    pub found: &'a Circuit,
    /// The ground truth it is judged against.
    pub truth: &'a Circuit,
    /// Other minimal circuits; their edges outside `found` and `truth` are drawn dotted purple.
    pub alternatives: &'a [Circuit],
    /// Bold line at the top.
    pub title: &'a str,
    /// Names of the three classes.
    pub legend: [&'a str; 3],
    /// RASP node per writer (`None`: the edge-graph name alone).
    pub labels: &'a [Option<String>],
}

/// The SVG document: one `<path class="edge ...">` per drawn edge, boxes labelled `a3.h0` over
/// `reverse_1 · Aggregate` (tooltip `a3.h0 · reverse_1 · Aggregate`), a legend with counts.
pub fn render(drawing: &Drawing) -> String {
    let graph = drawing.graph;
    let classes = classify(drawing.found, drawing.truth, drawing.alternatives);
    let placed = layout(graph, &classes);
    let width = placed
        .width
        .max(2.0 * MARGIN + 8.0 * drawing.title.chars().count() as f64)
        .max(2.0 * MARGIN + 460.0);
    let height = placed.height;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"circuit\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{MARGIN}\" y=\"{:.0}\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        MARGIN + 12.0,
        escape(drawing.title)
    );
    let mut legend: Vec<(DrawClass, &str)> = vec![
        (DrawClass::Both, drawing.legend[0]),
        (DrawClass::FoundOnly, drawing.legend[1]),
        (DrawClass::TruthOnly, drawing.legend[2]),
    ];
    if !drawing.alternatives.is_empty() {
        legend.push((
            DrawClass::Alternative,
            "in another minimal circuit only (an equally valid alternative)",
        ));
    }
    for (i, (class, name)) in legend.into_iter().enumerate() {
        let count = classes.iter().filter(|(_, c)| *c == class).count();
        let y = MARGIN + 32.0 + i as f64 * 18.0;
        let dash = class
            .dash()
            .map_or(String::new(), |d| format!(" stroke-dasharray=\"{d}\""));
        svg.push_str(&format!(
            "<g class=\"legend\"><line x1=\"{MARGIN}\" y1=\"{y:.0}\" x2=\"{:.0}\" y2=\"{y:.0}\" stroke=\"{}\" stroke-width=\"2.5\"{dash}/>\
             <text x=\"{:.0}\" y=\"{:.0}\">{} ({count})</text></g>\n",
            MARGIN + 36.0,
            class.colour(),
            MARGIN + 44.0,
            y + 4.0,
            escape(name)
        ));
    }
    svg.push_str("<defs>");
    for class in [
        DrawClass::Alternative,
        DrawClass::TruthOnly,
        DrawClass::FoundOnly,
        DrawClass::Both,
    ] {
        svg.push_str(&format!(
            "<marker id=\"arrow-{}\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">\
             <polygon points=\"0,0 8,4 0,8\" fill=\"{}\"/></marker>",
            class.css(),
            class.colour()
        ));
    }
    svg.push_str("</defs>\n");

    // Boxes first: edges only touch their borders, and arrowheads stay visible on top.
    for placed_box in &placed.boxes {
        let (name, label, head) = match placed_box.component {
            Component::Writer(w) => (
                graph.writer_names()[w].as_str(),
                drawing.labels.get(w).and_then(|l| l.as_deref()),
                matches!(graph.writers()[w], Writer::Head { .. }),
            ),
            Component::Output => ("resid_post", Some("the output (unembedded)"), false),
        };
        let (fill, stroke, text) = if placed_box.used {
            ("#f4f4f4", "#333333", "#000000")
        } else {
            ("#ffffff", "#c8c8c8", "#a0a0a0")
        };
        let caption = label.map(caption);
        let tooltip = match &caption {
            Some(c) => format!("{name} · {c}"),
            None => format!("{name} (empty slot)"),
        };
        let (x, y) = (placed_box.x, placed_box.y);
        let text_x = x + BOX_WIDTH / 2.0 + if head { 6.0 } else { 0.0 };
        svg.push_str(&format!(
            "<g class=\"node\" data-label=\"{}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_WIDTH}\" height=\"{BOX_HEIGHT}\" rx=\"5\" \
             fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{text_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"{text}\">{}</text>",
            escape(&tooltip),
            escape(&tooltip),
            y + 18.0,
            escape(name)
        ));
        if let Some(c) = &caption {
            svg.push_str(&format!(
                "<text class=\"rasp\" x=\"{text_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"{text}\">{}</text>",
                y + 34.0,
                escape(&shorten(c, if head { MAX_CAPTION - 2 } else { MAX_CAPTION }))
            ));
        }
        if head {
            for (letter, dy) in [("q", PORT_Q), ("k", PORT_K), ("v", PORT_V)] {
                svg.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"{text}\">{letter}</text>",
                    x + 4.0,
                    y + dy + 3.0
                ));
            }
        }
        svg.push_str("</g>\n");
    }
    for edge in &placed.edges {
        let name = &graph.edge_names()[edge.edge];
        let mut d = String::new();
        for (i, (px, py)) in edge.points.iter().enumerate() {
            d.push_str(&format!(
                "{}{px:.1} {py:.1}",
                if i == 0 { "M " } else { " L " }
            ));
        }
        let dash = edge
            .class
            .dash()
            .map_or(String::new(), |d| format!(" stroke-dasharray=\"{d}\""));
        svg.push_str(&format!(
            "<path class=\"edge\" data-edge=\"{}\" data-class=\"{}\" d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{dash} \
             marker-end=\"url(#arrow-{})\"><title>{}</title></path>\n",
            escape(name),
            edge.class.css(),
            edge.class.colour(),
            if edge.class == DrawClass::Alternative { 1.5 } else { 2.0 },
            edge.class.css(),
            escape(name)
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_is_horizontal_or_vertical_and_ends_on_the_right_boxes() {
        let graph = EdgeGraph::new(2, 2);
        let edges: Vec<(usize, DrawClass)> = (0..graph.num_edges())
            .map(|e| (e, DrawClass::Both))
            .collect();
        let placed = layout(&graph, &edges);
        for routed in &placed.edges {
            for pair in routed.points.windows(2) {
                assert!(
                    pair[0].0 == pair[1].0 || pair[0].1 == pair[1].1,
                    "edge {} has a slanted segment {:?}",
                    graph.edge_names()[routed.edge],
                    pair
                );
            }
            let e = graph.edges()[routed.edge];
            let from = placed.box_of(Component::Writer(e.writer));
            let start = routed.points[0];
            assert_eq!(
                start,
                (from.x + BOX_WIDTH, from.y + PORT_OUT),
                "edge {} does not start at its writer's port",
                graph.edge_names()[routed.edge]
            );
        }
    }

    #[test]
    fn the_same_input_gives_the_same_drawing() {
        let graph = EdgeGraph::new(3, 2);
        let found = Circuit::full(&graph);
        let truth =
            Circuit::from_edges(&graph, (0..graph.num_edges()).map(|e| e % 3 == 0).collect());
        let drawing = Drawing {
            graph: &graph,
            found: &found,
            truth: &truth,
            alternatives: &[],
            title: "t",
            legend: super::super::DEFAULT_LEGEND,
            labels: &[],
        };
        assert_eq!(render(&drawing), render(&drawing));
    }
}

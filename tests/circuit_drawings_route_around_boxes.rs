//! No edge of a circuit drawing crosses a box: for every library program, both the structural truth and
//! the full edge graph are laid out, and every segment of every routed edge is checked against every box.

use edgeprune::circuit::Circuit;
use edgeprune::cli::program::ModelArgs;
use edgeprune::graph::EdgeGraph;
use edgeprune::model::Transformer;
use edgeprune::report::layout::{layout, Component, DrawClass, Layout, BOX_WIDTH};
use edgeprune::truth::structural::{reader_component, structural};

/// The first segment-box crossing of `placed`, described, or `None`.
fn first_crossing(graph: &EdgeGraph, placed: &Layout) -> Option<String> {
    for routed in &placed.edges {
        for pair in routed.points.windows(2) {
            if pair[0].0 != pair[1].0 && pair[0].1 != pair[1].1 {
                return Some(format!(
                    "{}: slanted segment {:?}",
                    graph.edge_names()[routed.edge],
                    pair
                ));
            }
            for placed_box in &placed.boxes {
                if placed_box.crossed_by(pair[0], pair[1]) {
                    let name = match placed_box.component {
                        Component::Writer(w) => graph.writer_names()[w].clone(),
                        Component::Output => "resid_post".into(),
                    };
                    return Some(format!(
                        "{}: segment {:?} -> {:?} crosses box {name} at ({}, {})",
                        graph.edge_names()[routed.edge],
                        pair[0],
                        pair[1],
                        placed_box.x,
                        placed_box.y
                    ));
                }
            }
        }
    }
    None
}

/// Each edge starts on its writer's box border and ends on its reader's.
fn ends_on_own_boxes(graph: &EdgeGraph, placed: &Layout) -> Option<String> {
    for routed in &placed.edges {
        let e = graph.edges()[routed.edge];
        let from = placed.box_of(Component::Writer(e.writer));
        let to = placed.box_of(match reader_component(graph, e.reader) {
            Some(w) => Component::Writer(w),
            None => Component::Output,
        });
        let (start, end) = (routed.points[0], *routed.points.last().unwrap());
        if start.0 != from.x + BOX_WIDTH || end.0 != to.x {
            return Some(format!(
                "{}: starts at {start:?} (writer box at x {}), ends at {end:?} (reader box at x {})",
                graph.edge_names()[routed.edge],
                from.x,
                to.x
            ));
        }
    }
    None
}

#[test]
fn no_edge_crosses_a_box_for_any_library_program() {
    for name in tracr::library::names() {
        let compiled = ModelArgs::library(name)
            .compile()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let model =
            Transformer::from_compiled(&compiled.model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let graph = EdgeGraph::for_model(&model);
        let truth = structural(&model);
        for (what, circuit) in [
            ("structural truth", truth),
            ("full graph", Circuit::full(&graph)),
        ] {
            let edges: Vec<(usize, DrawClass)> = (0..graph.num_edges())
                .filter(|&e| circuit.edges[e])
                .map(|e| (e, DrawClass::Both))
                .collect();
            let placed = layout(&graph, &edges);
            assert_eq!(placed.edges.len(), edges.len(), "{name} {what}: edges lost");
            if let Some(problem) = first_crossing(&graph, &placed) {
                panic!("{name} {what}: {problem}");
            }
            if let Some(problem) = ends_on_own_boxes(&graph, &placed) {
                panic!("{name} {what}: {problem}");
            }
        }
    }
}

#[test]
fn the_check_sees_a_crossing_when_there_is_one() {
    // A straight line from `tok` to `resid_post` passes through every column's row-0 box.
    let graph = EdgeGraph::new(2, 1);
    let placed = layout(&graph, &[(graph.num_edges() - 1, DrawClass::Both)]);
    let tok = placed.box_of(Component::Writer(0));
    let out = placed.box_of(Component::Output);
    let straight = ((tok.x + BOX_WIDTH, tok.y + 20.0), (out.x, out.y + 20.0));
    let crossed = placed
        .boxes
        .iter()
        .filter(|b| b.crossed_by(straight.0, straight.1))
        .count();
    assert_eq!(
        crossed, 2,
        "a straight tok->resid_post line should cross a0.h0 and a1.h0"
    );
}

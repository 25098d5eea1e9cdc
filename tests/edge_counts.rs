//! The edge graph has the paper's edge count and the official naming, order and lookups.

use edgeprune::graph::{EdgeGraph, HeadInput, Reader, Writer};

#[test]
fn edge_counts_match_the_paper_formula_and_reported_numbers() {
    // (layers, heads, edges with tok and pos writers): reverse, xproportion, GPT-2 small.
    for (layers, heads, expected) in [(4, 1, 94), (2, 1, 32), (12, 12, 32_936)] {
        let graph = EdgeGraph::new(layers, heads);
        assert_eq!(
            graph.num_edges(),
            expected,
            "L={layers} H={heads}: built graph"
        );
        assert_eq!(
            EdgeGraph::formula_edge_count(layers, heads, 2),
            expected,
            "L={layers} H={heads}: formula"
        );
    }
    // GPT-2 small without embedding nodes (32,046) and with one (ACDC's 32,491), from the paper's code.
    assert_eq!(EdgeGraph::formula_edge_count(12, 12, 0), 32_046);
    assert_eq!(EdgeGraph::formula_edge_count(12, 12, 1), 32_491);
}

#[test]
fn writer_and_reader_counts_match_the_fixtures() {
    let reverse = EdgeGraph::new(4, 1);
    assert_eq!((reverse.num_writers(), reverse.num_readers()), (10, 17));
    let xproportion = EdgeGraph::new(2, 1);
    assert_eq!(
        (xproportion.num_writers(), xproportion.num_readers()),
        (6, 9)
    );
}

#[test]
fn every_edge_is_found_by_name_and_by_writer_reader_pair() {
    let graph = EdgeGraph::new(12, 12);
    for (e, edge) in graph.edges().iter().enumerate() {
        let name = &graph.edge_names()[e];
        assert_eq!(graph.edge_by_name(name).unwrap(), e, "{name}");
        assert_eq!(
            graph.edge_index(edge.writer, edge.reader),
            Some(e),
            "{name}"
        );
        let (writer, reader) = name.split_once("->").expect("writer->reader");
        assert_eq!(graph.writer_by_name(writer).unwrap(), edge.writer, "{name}");
        assert_eq!(graph.reader_by_name(reader).unwrap(), edge.reader, "{name}");
    }
    assert!(
        graph.edge_by_name("a0.h0->a0.h1.q").is_err(),
        "same-layer head edges do not exist"
    );
    assert!(
        graph.edge_by_name("m11->a0.h0.q").is_err(),
        "backward edges do not exist"
    );
}

#[test]
fn readers_read_exactly_the_writers_before_them() {
    let (layers, heads) = (3, 2);
    let graph = EdgeGraph::new(layers, heads);
    for (r, reader) in graph.readers().iter().enumerate() {
        let readable = match *reader {
            Reader::Head { layer, .. } => 2 + layer * (heads + 1),
            Reader::Mlp { layer } => 2 + layer * (heads + 1) + heads,
            Reader::Output => graph.num_writers(),
        };
        let writers: Vec<usize> = graph
            .edges_into(r)
            .iter()
            .map(|&e| graph.edges()[e].writer)
            .collect();
        assert_eq!(
            writers,
            (0..readable).collect::<Vec<_>>(),
            "{}",
            graph.reader_names()[r]
        );
    }
    for layer in 0..layers {
        for head in 0..heads {
            let w = graph.head_writer(layer, head);
            assert_eq!(graph.writers()[w], Writer::Head { layer, head });
            assert_eq!(w, 2 + layer * (heads + 1) + head);
            for input in HeadInput::ALL {
                let r = graph.head_reader(layer, head, input);
                assert_eq!(graph.readers()[r], Reader::Head { layer, head, input });
            }
        }
        assert_eq!(
            graph.writers()[graph.mlp_writer(layer)],
            Writer::Mlp { layer }
        );
        assert_eq!(
            graph.readers()[graph.mlp_reader(layer)],
            Reader::Mlp { layer }
        );
    }
}

#[test]
fn edge_order_groups_q_k_v_across_heads_per_writer() {
    // The official get_edges order for a layer: per writer, q of every head, then k, then v.
    let graph = EdgeGraph::new(1, 2);
    let first: Vec<&str> = graph.edge_names()[..12]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        first,
        [
            "tok->a0.h0.q",
            "tok->a0.h1.q",
            "tok->a0.h0.k",
            "tok->a0.h1.k",
            "tok->a0.h0.v",
            "tok->a0.h1.v",
            "pos->a0.h0.q",
            "pos->a0.h1.q",
            "pos->a0.h0.k",
            "pos->a0.h1.k",
            "pos->a0.h0.v",
            "pos->a0.h1.v",
        ]
    );
    let rest: Vec<&str> = graph.edge_names()[12..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        rest,
        [
            "tok->m0",
            "pos->m0",
            "a0.h0->m0",
            "a0.h1->m0",
            "tok->resid_post",
            "pos->resid_post",
            "a0.h0->resid_post",
            "a0.h1->resid_post",
            "m0->resid_post",
        ]
    );
}

#[test]
fn reader_order_is_the_official_q_then_k_then_v_across_heads() {
    let graph = EdgeGraph::new(1, 2);
    let readers: Vec<&str> = graph.reader_names().iter().map(String::as_str).collect();
    assert_eq!(
        readers,
        [
            "a0.h0.q",
            "a0.h1.q",
            "a0.h0.k",
            "a0.h1.k",
            "a0.h0.v",
            "a0.h1.v",
            "m0",
            "resid_post"
        ]
    );
}

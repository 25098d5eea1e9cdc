//! Reading a circuit someone else wrote, for `edgeprune score`: our reports, bare edge lists, and Edge
//! Pruning's `[writer, reader]` pairs (with its `tok_embeds`/`pos_embeds` names).

use serde_json::Value as Json;

use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;

/// Edge Pruning's writer names that differ from ours.
fn our_writer_name(name: &str) -> &str {
    match name {
        "tok_embeds" | "token_embeds" => "tok",
        "pos_embeds" => "pos",
        other => other,
    }
}

/// The kept edges a circuit document lists, in any of the accepted forms:
/// - a list of `"writer->reader"` names, or of `[writer, reader]` pairs (Edge Pruning's `edges.json`);
/// - an object with such a list under `edges`, or under `circuit.edges` (`edgeprune prune --json`), or
///   under `functional.edges` (`edgeprune truth --json`).
pub fn circuit_from_document(graph: &EdgeGraph, document: &Json) -> Result<Circuit> {
    let list = find_edge_list(document).ok_or_else(|| Error::Json {
        what: "circuit file".into(),
        message: "found no edge list; give a JSON list of \"writer->reader\" names or [writer, reader] pairs, \
                  or an object with one under \"edges\", \"circuit.edges\" or \"functional.edges\""
            .into(),
    })?;
    let mut names = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let name = match item {
            Json::String(name) => name.clone(),
            Json::Array(pair) if pair.len() == 2 && pair.iter().all(Json::is_string) => format!(
                "{}->{}",
                our_writer_name(pair[0].as_str().unwrap_or_default()),
                pair[1].as_str().unwrap_or_default()
            ),
            other => {
                return Err(Error::Json {
                    what: format!("circuit file, edge {index}"),
                    message: format!("{other} is neither \"writer->reader\" nor [writer, reader]"),
                })
            }
        };
        names.push(name);
    }
    Circuit::from_edge_names(graph, &names)
}

fn find_edge_list(document: &Json) -> Option<&Vec<Json>> {
    if let Json::Array(list) = document {
        return Some(list);
    }
    [
        &["edges"][..],
        &["circuit", "edges"][..],
        &["functional", "edges"][..],
    ]
    .iter()
    .find_map(|path| {
        path.iter()
            .try_fold(document, |value, key| value.get(key))
            .and_then(Json::as_array)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_accepted_form_reads_the_same_circuit() {
        let graph = EdgeGraph::new(1, 1);
        let names = ["tok->a0.h0.q", "pos->m0"];
        let expected = Circuit::from_edge_names(&graph, &names).unwrap();
        for document in [
            json!(names),
            json!([["tok_embeds", "a0.h0.q"], ["pos_embeds", "m0"]]),
            json!({"edges": names}),
            json!({"circuit": {"edges": names, "kl": 0.0}}),
            json!({"functional": {"edges": names}}),
        ] {
            assert_eq!(
                circuit_from_document(&graph, &document).unwrap(),
                expected,
                "{document}"
            );
        }
    }

    #[test]
    fn unknown_edges_and_shapes_are_errors() {
        let graph = EdgeGraph::new(1, 1);
        let error = circuit_from_document(&graph, &json!(["tok->a9.h0.q"])).unwrap_err();
        assert!(error.to_string().contains("a9.h0.q"), "{error}");
        let error = circuit_from_document(&graph, &json!({"nodes": []})).unwrap_err();
        assert!(error.to_string().contains("no edge list"), "{error}");
        let error = circuit_from_document(&graph, &json!([1, 2])).unwrap_err();
        assert!(error.to_string().contains("edge 0"), "{error}");
    }
}

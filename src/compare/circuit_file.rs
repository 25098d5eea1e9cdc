//! Reading a circuit someone else wrote, for `edgeprune score`: any format of [`crate::formats`].

use serde_json::Value as Json;

use crate::circuit::Circuit;
use crate::error::Result;
use crate::formats::{read_circuit, CircuitFormat, ImportedCircuit};
use crate::graph::EdgeGraph;

/// The kept edges a circuit document lists, its format detected (see [`CircuitFormat::detect`]).
pub fn circuit_from_document(graph: &EdgeGraph, document: &Json) -> Result<Circuit> {
    Ok(read_circuit(graph, document, None)?.circuit)
}

/// The circuit (and scores, if any) of a document in `format`, or in the detected format.
pub fn import_document(
    graph: &EdgeGraph,
    document: &Json,
    format: Option<CircuitFormat>,
) -> Result<ImportedCircuit> {
    read_circuit(graph, document, format)
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
        assert!(error.to_string().contains("no known form"), "{error}");
        let error = circuit_from_document(&graph, &json!([1, 2])).unwrap_err();
        assert!(error.to_string().contains("edge 0"), "{error}");
    }
}

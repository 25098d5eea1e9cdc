//! Circuits as JSON: edge names over a named graph, so a file can be read back against the same graph.

use serde_json::{json, Value as Json};

use super::edge_names;
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;

/// `{"num_edges", "graph_edges", "edges": [names], "writers_off": [names]}` for one circuit.
pub fn circuit_to_json(graph: &EdgeGraph, circuit: &Circuit) -> Json {
    let writers_off: Vec<&String> = graph
        .writer_names()
        .iter()
        .zip(&circuit.nodes)
        .filter(|(_, &on)| !on)
        .map(|(name, _)| name)
        .collect();
    json!({
        "num_edges": circuit.num_edges(),
        "graph_edges": graph.num_edges(),
        "edges": edge_names(graph, circuit),
        "writers_off": writers_off,
    })
}

/// Reads [`circuit_to_json`]'s output back against `graph`; unknown edge or writer names are errors.
pub fn circuit_from_json(graph: &EdgeGraph, value: &Json) -> Result<Circuit> {
    let bad = |message: String| Error::Json {
        what: "circuit".into(),
        message,
    };
    let names = |key: &str| -> Result<Vec<String>> {
        match value.get(key) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("`{key}` holds {item}, not a name")))
                })
                .collect(),
            Some(other) => Err(bad(format!("`{key}` is {other}, not a list of names"))),
        }
    };
    let mut circuit = Circuit {
        edges: vec![false; graph.num_edges()],
        nodes: vec![true; graph.num_writers()],
    };
    for name in names("edges")? {
        circuit.edges[graph.edge_by_name(&name)?] = true;
    }
    for name in names("writers_off")? {
        circuit.nodes[graph.writer_by_name(&name)?] = false;
    }
    Ok(circuit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuits_round_trip_through_json() {
        let graph = EdgeGraph::new(2, 2);
        let circuit = Circuit {
            edges: (0..graph.num_edges()).map(|e| e % 3 == 0).collect(),
            nodes: (0..graph.num_writers()).map(|w| w != 2).collect(),
        };
        let text = serde_json::to_string(&circuit_to_json(&graph, &circuit)).unwrap();
        let back = circuit_from_json(&graph, &serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, circuit);
    }

    #[test]
    fn unknown_edge_names_are_errors() {
        let graph = EdgeGraph::new(1, 1);
        let bad = serde_json::json!({"edges": ["tok->a7.h0.q"]});
        assert!(circuit_from_json(&graph, &bad).is_err());
    }
}

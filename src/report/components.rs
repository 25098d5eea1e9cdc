//! Which RASP node each component of the edge graph computes, read off a compiled model's per-layer
//! metadata (`model.layers[]`), so reports speak the program's language: `a3.h0 = reverse_1 (Aggregate)`.

use serde_json::Value as Json;

use crate::graph::{EdgeGraph, Writer};

/// `label (expr_type)` of one head or MLP entry of `model.layers[]`.
fn describe(entry: &Json) -> Option<String> {
    let label = entry.get("label")?.as_str()?;
    match entry.get("expr_type").and_then(Json::as_str) {
        Some(kind) => Some(format!("{label} ({kind})")),
        None => Some(label.to_string()),
    }
}

/// The module `layer_{layer}/{kind}` of `model.layers[]`.
fn module<'a>(model_json: &'a Json, layer: usize, kind: &str) -> Option<&'a Json> {
    let name = format!("layer_{layer}/{kind}");
    model_json
        .get("layers")?
        .as_array()?
        .iter()
        .find(|m| m.get("module").and_then(Json::as_str) == Some(name.as_str()))
}

/// The RASP node of every writer, by writer index: `tokens` and `indices` for the embeddings, the head's
/// Aggregate or SelectorWidth, the MLP's Maps and SequenceMaps (comma-separated when the compiler put
/// several in one layer). `None` for a slot the compiler left empty, or a model without metadata.
pub fn component_labels(graph: &EdgeGraph, model_json: &Json) -> Vec<Option<String>> {
    graph
        .writers()
        .iter()
        .map(|writer| match *writer {
            Writer::TokenEmbedding => Some("tokens".to_string()),
            Writer::PositionEmbedding => Some("indices".to_string()),
            Writer::Head { layer, head } => module(model_json, layer, "attn")?
                .get("heads")?
                .as_array()?
                .iter()
                .find(|h| h.get("head").and_then(Json::as_u64) == Some(head as u64))
                .and_then(describe),
            Writer::Mlp { layer } => {
                let parts: Vec<String> = module(model_json, layer, "mlp")?
                    .get("mlps")?
                    .as_array()?
                    .iter()
                    .filter_map(describe)
                    .collect();
                (!parts.is_empty()).then(|| parts.join(", "))
            }
        })
        .collect()
}

/// `name = label` lines (`a3.h0 = reverse_1 (Aggregate)`) for the writers that `used` marks.
pub fn component_lines(graph: &EdgeGraph, labels: &[Option<String>], used: &[bool]) -> Vec<String> {
    graph
        .writer_names()
        .iter()
        .zip(labels)
        .zip(used)
        .filter(|(_, &on)| on)
        .map(|((name, label), _)| match label {
            Some(label) => format!("{name} = {label}"),
            None => format!("{name} = (empty slot)"),
        })
        .collect()
}

/// The writers that an edge of `edges` reads from or feeds (the circuit's components).
pub fn used_writers(graph: &EdgeGraph, edges: &[bool]) -> Vec<bool> {
    let mut used = vec![false; graph.num_writers()];
    for (edge, &on) in edges.iter().enumerate() {
        if on {
            let e = graph.edges()[edge];
            used[e.writer] = true;
            if let Some(component) = crate::truth::structural::reader_component(graph, e.reader) {
                used[component] = true;
            }
        }
    }
    used
}

/// `{"a3.h0": "reverse_1 (Aggregate)", ..}` for the writers that `used` marks.
pub fn components_json(graph: &EdgeGraph, labels: &[Option<String>], used: &[bool]) -> Json {
    let mut map = serde_json::Map::new();
    for ((name, label), &on) in graph.writer_names().iter().zip(labels).zip(used) {
        if on {
            map.insert(name.clone(), label.clone().map_or(Json::Null, Json::String));
        }
    }
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn heads_and_mlps_are_named_by_their_rasp_nodes() {
        let graph = EdgeGraph::new(1, 2);
        let model = json!({"layers": [
            {"module": "layer_0/attn", "heads": [{"head": 1, "label": "reverse_1", "expr_type": "Aggregate"}]},
            {"module": "layer_0/mlp", "mlps": [
                {"label": "a_2", "expr_type": "Map"}, {"label": "b_3", "expr_type": "SequenceMap"}]},
        ]});
        let labels = component_labels(&graph, &model);
        let named: Vec<(String, Option<String>)> = graph
            .writer_names()
            .iter()
            .cloned()
            .zip(labels.iter().cloned())
            .collect();
        let expected = vec![
            ("tok".to_string(), Some("tokens".to_string())),
            ("pos".to_string(), Some("indices".to_string())),
            ("a0.h0".to_string(), None),
            (
                "a0.h1".to_string(),
                Some("reverse_1 (Aggregate)".to_string()),
            ),
            (
                "m0".to_string(),
                Some("a_2 (Map), b_3 (SequenceMap)".to_string()),
            ),
        ];
        assert_eq!(named, expected, "model layers: {model}");
    }
}

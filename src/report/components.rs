//! Which RASP node each component of the edge graph computes, read off a compiled model's per-layer
//! metadata (`model.layers[]`), so reports speak the program's language: `a3.h0 = reverse_1 (Aggregate)`.

use serde_json::Value as Json;
use tracr::model::{CompiledModel, ModuleContents, ModuleInfo};

use crate::graph::{EdgeGraph, Writer};

/// The module `layer_{layer}/{kind}` of the model's per-layer metadata.
fn module<'a>(model: &'a CompiledModel, layer: usize, kind: &str) -> Option<&'a ModuleInfo> {
    let name = format!("layer_{layer}/{kind}");
    model.layers.iter().find(|m| m.module == name)
}

/// The RASP node of every writer, by writer index: `tokens` and `indices` for the embeddings, the head's
/// Aggregate or SelectorWidth, the MLP's Maps and SequenceMaps (comma-separated when the compiler put
/// several in one layer), each as `label (expr_type)`. `None` for a slot the compiler left empty.
pub fn component_labels(graph: &EdgeGraph, model: &CompiledModel) -> Vec<Option<String>> {
    graph
        .writers()
        .iter()
        .map(|writer| match *writer {
            Writer::TokenEmbedding => Some("tokens".to_string()),
            Writer::PositionEmbedding => Some("indices".to_string()),
            Writer::Head { layer, head } => match &module(model, layer, "attn")?.contents {
                ModuleContents::Attention { heads, .. } => heads
                    .iter()
                    .find(|h| h.head == head)
                    .map(|h| format!("{} ({})", h.label, h.expr_type)),
                ModuleContents::Mlp { .. } => None,
            },
            Writer::Mlp { layer } => match &module(model, layer, "mlp")?.contents {
                ModuleContents::Mlp { mlps, .. } => (!mlps.is_empty()).then(|| {
                    mlps.iter()
                        .map(|m| format!("{} ({})", m.label, m.expr_type))
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                ModuleContents::Attention { .. } => None,
            },
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
    use tracr::model::{HeadInfo, MlpInfo};

    /// An MLP entry of the per-layer metadata (only its label and type matter here).
    fn mlp(label: &str, expr_type: &str) -> MlpInfo {
        MlpInfo {
            label: label.into(),
            expr_type: expr_type.into(),
            reads: vec![],
            writes: vec![],
            hidden_size: 1,
        }
    }

    #[test]
    fn heads_and_mlps_are_named_by_their_rasp_nodes() {
        let graph = EdgeGraph::new(1, 2);
        // Any compiled model will do: only its per-layer metadata is replaced and read.
        let program = tracr::library::by_name("length").expect("length is in the registry");
        let mut model = program.compile().expect("length compiles");
        let head = HeadInfo {
            head: 1,
            label: "reverse_1".into(),
            expr_type: "Aggregate".into(),
            selector: "select_2".into(),
            query_sop: "indices".into(),
            key_sop: "indices".into(),
            value_sop: Some("tokens".into()),
            reads_query: vec![],
            reads_key: vec![],
            reads_value: vec![],
            writes: vec![],
            qk_dims: vec![1, 1],
            ov_dims: vec![1, 1],
        };
        model.layers = vec![
            ModuleInfo {
                module: "layer_0/attn".into(),
                param_prefix: "transformer/layer_0/attn".into(),
                allocation_layer: Some(0),
                empty: false,
                contents: ModuleContents::Attention {
                    heads: vec![head],
                    num_heads_used: 1,
                },
            },
            ModuleInfo {
                module: "layer_0/mlp".into(),
                param_prefix: "transformer/layer_0/mlp".into(),
                allocation_layer: Some(1),
                empty: false,
                contents: ModuleContents::Mlp {
                    mlps: vec![mlp("a_2", "Map"), mlp("b_3", "SequenceMap")],
                    hidden_labels: vec![],
                    hidden_owners: vec![],
                    hidden_size_used: 0,
                },
            },
        ];
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
        assert_eq!(named, expected, "model layers: {:?}", model.layers);
    }
}

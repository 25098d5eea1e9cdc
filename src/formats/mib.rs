//! EAP-IG/MIB graph JSON (hannamw/EAP-IG `src/eap/graph.py`, `Graph.to_json`/`from_json`):
//! `{"cfg": {n_layers, n_heads, parallel_attn_mlp, d_model}, "nodes": {name: {"in_graph"}},
//! "edges": {"parent->child[<q|k|v>]": {"score", "in_graph"}}}`. Nodes: `input` (its `hook_embed`; our
//! `tok` and `pos` merged), `a{l}.h{h}`, `m{l}`, `logits` (our `resid_post`); an edge into a head
//! carries the head's input as `<q>`, `<k>` or `<v>`. The circuit is the edges' `in_graph`; their
//! `score` ranks the edges for a ROC when every edge has one.

use serde_json::{json, Map, Value as Json};

use super::{unknown_name, CircuitFormat, EdgeCollector, ImportedCircuit, Source, Target};
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, HeadInput, Reader, Writer};

const PARENTS: &str = "input, a{layer}.h{head}, m{layer}";
const CHILDREN: &str = "a{layer}.h{head}<q|k|v>, m{layer}, logits";

fn parse_parent(name: &str) -> Option<Source> {
    if name == "input" {
        return Some(Source::Embeddings);
    }
    if let Some((layer, head)) = super::parse_a_h(name) {
        return Some(Source::Writer(Writer::Head { layer, head }));
    }
    super::parse_m(name).map(|layer| Source::Writer(Writer::Mlp { layer }))
}

fn parse_child(name: &str) -> Option<Reader> {
    if name == "logits" {
        return Some(Reader::Output);
    }
    if let Some(layer) = super::parse_m(name) {
        return Some(Reader::Mlp { layer });
    }
    let (head_part, rest) = name.split_once('<')?;
    let letter = rest.strip_suffix('>')?;
    if letter.len() != 1 || !"qkv".contains(letter) {
        return None;
    }
    let (layer, head) = super::parse_a_h(head_part)?;
    Some(Reader::Head {
        layer,
        head,
        input: super::head_input(letter)?,
    })
}

fn cfg_number(cfg: &Json, key: &str) -> Result<usize> {
    cfg.get(key)
        .and_then(Json::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| Error::Json {
            what: format!("MIB graph cfg.{key}"),
            message: "missing or not a whole number (EAP-IG's Graph.from_json needs it)".into(),
        })
}

/// Reads an EAP-IG/MIB graph JSON.
pub fn read(graph: &EdgeGraph, document: &Json) -> Result<ImportedCircuit> {
    let format = CircuitFormat::Mib;
    let cfg = document.get("cfg").ok_or_else(|| Error::Json {
        what: "MIB graph".into(),
        message: "has no \"cfg\" (n_layers, n_heads, parallel_attn_mlp, d_model)".into(),
    })?;
    let (layers, heads) = (cfg_number(cfg, "n_layers")?, cfg_number(cfg, "n_heads")?);
    if (layers, heads) != (graph.num_layers(), graph.num_heads()) {
        return Err(Error::OtherModel {
            format: format.name().into(),
            edge: "cfg".into(),
            message: format!(
                "its cfg has {layers} layers x {heads} heads, this model {} x {}",
                graph.num_layers(),
                graph.num_heads()
            ),
        });
    }
    if cfg.get("parallel_attn_mlp").and_then(Json::as_bool) == Some(true) {
        return Err(Error::OtherModel {
            format: format.name().into(),
            edge: "cfg".into(),
            message:
                "its cfg has parallel_attn_mlp = true; Tracr models run attention, then the MLP"
                    .into(),
        });
    }
    let edges = document
        .get("edges")
        .and_then(Json::as_object)
        .ok_or_else(|| Error::Json {
            what: "MIB graph \"edges\"".into(),
            message: "is not an object of \"parent->child<q|k|v>\": {\"score\", \"in_graph\"}"
                .into(),
        })?;
    let mut collector = EdgeCollector::new(graph, format);
    let mut merged = 0;
    for (key, info) in edges {
        let bad = |message: String| Error::Json {
            what: format!("MIB graph edge `{key}`"),
            message,
        };
        let (parent, child) = key.split_once("->").ok_or_else(|| {
            unknown_name(
                format,
                "edge",
                key,
                "\"parent->child\", e.g. input->a0.h0<q>, a0.h0->logits",
            )
        })?;
        let source =
            parse_parent(parent).ok_or_else(|| unknown_name(format, "parent", parent, PARENTS))?;
        let target =
            parse_child(child).ok_or_else(|| unknown_name(format, "child", child, CHILDREN))?;
        let kept = info
            .get("in_graph")
            .and_then(Json::as_bool)
            .ok_or_else(|| bad("has no boolean \"in_graph\"".into()))?;
        let score = match info.get("score") {
            None | Some(Json::Null) => None,
            Some(value) => Some(
                value
                    .as_f64()
                    .ok_or_else(|| bad(format!("score {value} is not a number")))?,
            ),
        };
        if kept && source == Source::Embeddings {
            merged += 1;
        }
        collector.add(key, source, Target::Reader(target), kept, score)?;
    }
    let mut notes = Vec::new();
    if merged > 0 {
        notes.push(format!(
            "{merged} kept edge(s) from `input` (the merged embeddings) kept as both tok and pos"
        ));
    }
    let imported = collector.finish(notes);
    Ok(imported)
}

fn node_name(source: Option<Writer>) -> String {
    match source {
        None => "input".into(),
        Some(writer) => crate::graph::writer_name(writer),
    }
}

fn child_name(reader: Reader) -> (String, Option<HeadInput>) {
    match reader {
        Reader::Head { layer, head, input } => (format!("a{layer}.h{head}"), Some(input)),
        Reader::Mlp { layer } => (format!("m{layer}"), None),
        Reader::Output => ("logits".into(), None),
    }
}

/// An EAP-IG/MIB graph JSON of `circuit`, nodes and edges in EAP-IG's `Graph.from_model` order.
/// `scores` (one per edge; default: 1 for kept edges, 0 otherwise) become `score`; a merged
/// `input` edge takes the larger in magnitude of `tok`'s and `pos`'s.
pub fn write(graph: &EdgeGraph, circuit: &Circuit, scores: Option<&[f64]>, d_model: usize) -> Json {
    let (layers, heads) = (graph.num_layers(), graph.num_heads());
    let score_of = |edge: usize| match scores {
        Some(scores) => scores[edge],
        None => f64::from(u8::from(circuit.edges[edge])),
    };
    // (kept, score) of `source -> reader`, merging tok and pos for `input`.
    let edge = |source: Option<Writer>, reader: usize| -> (bool, f64) {
        let writers = match source {
            None => vec![0, 1],
            Some(Writer::Head { layer, head }) => vec![graph.head_writer(layer, head)],
            Some(Writer::Mlp { layer }) => vec![graph.mlp_writer(layer)],
            Some(_) => vec![],
        };
        let mut kept = false;
        let mut best: Option<f64> = None;
        for writer in writers {
            if let Some(index) = graph.edge_index(writer, reader) {
                kept |= circuit.edges[index];
                let score = score_of(index);
                if best.is_none_or(|b| score.abs() > b.abs()) {
                    best = Some(score);
                }
            }
        }
        (kept, best.unwrap_or(0.0))
    };
    let mut edges = Map::new();
    let mut touched = std::collections::HashSet::new();
    let mut push = |edges: &mut Map<String, Json>, source: Option<Writer>, reader: Reader| {
        let index = match reader {
            Reader::Head { layer, head, input } => graph.head_reader(layer, head, input),
            Reader::Mlp { layer } => graph.mlp_reader(layer),
            Reader::Output => graph.output_reader(),
        };
        let (kept, score) = edge(source, index);
        let (child, input) = child_name(reader);
        let key = match input {
            Some(input) => format!("{}->{child}<{}>", node_name(source), input.suffix()),
            None => format!("{}->{child}", node_name(source)),
        };
        if kept {
            touched.insert(node_name(source));
            touched.insert(child);
        }
        edges.insert(key, json!({"score": score, "in_graph": kept}));
    };
    let mut stream: Vec<Option<Writer>> = vec![None];
    let mut nodes = vec!["input".to_string()];
    for layer in 0..layers {
        for source in stream.clone() {
            for head in 0..heads {
                for input in HeadInput::ALL {
                    push(&mut edges, source, Reader::Head { layer, head, input });
                }
            }
        }
        for head in 0..heads {
            stream.push(Some(Writer::Head { layer, head }));
            nodes.push(format!("a{layer}.h{head}"));
        }
        for source in stream.clone() {
            push(&mut edges, source, Reader::Mlp { layer });
        }
        stream.push(Some(Writer::Mlp { layer }));
        nodes.push(format!("m{layer}"));
    }
    for source in stream {
        push(&mut edges, source, Reader::Output);
    }
    nodes.push("logits".into());
    let nodes: Map<String, Json> = nodes
        .into_iter()
        .map(|name| {
            // EAP-IG's logits node is always in the graph.
            let in_graph = name == "logits" || touched.contains(&name);
            (name, json!({"in_graph": in_graph}))
        })
        .collect();
    json!({
        "cfg": {"n_layers": layers, "n_heads": heads, "parallel_attn_mlp": false, "d_model": d_model},
        "nodes": nodes,
        "edges": edges,
    })
}

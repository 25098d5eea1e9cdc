//! TransformerLens hook-name pairs, InterpBench's `edges` form (FlyingPumba/InterpBench
//! `circuits_benchmark/utils/circuit/edges_list.py`: a list of `(src, dst)` strings, each a hook name
//! with `[head]` appended where there is a head). Writers: `hook_embed` (our `tok`), `hook_pos_embed`
//! (`pos`), `blocks.0.hook_resid_pre` (both merged, as ACDC may give), `blocks.{l}.attn.hook_result[h]`,
//! `blocks.{l}.hook_mlp_out`; readers: `blocks.{l}.hook_q_input[h]` (and `k`, `v`),
//! `blocks.{l}.hook_mlp_in`, `blocks.{L-1}.hook_resid_post`. InterpBench's edges inside a component
//! (`hook_q_input[h] -> attn.hook_q[h] -> attn.hook_result[h]`, `hook_mlp_in -> hook_mlp_out`) are not
//! edges of our graph and are skipped.

use serde_json::{json, Value as Json};

use super::{
    kept_pairs, number, ours, unknown_name, CircuitFormat, EdgeCollector, ImportedCircuit, Source,
    Target,
};
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, HeadInput, Reader, Writer};

const HOOKS: &str = "writers hook_embed, hook_pos_embed, blocks.0.hook_resid_pre, \
                     blocks.{layer}.attn.hook_result[{head}], blocks.{layer}.hook_mlp_out; readers \
                     blocks.{layer}.hook_q_input[{head}] (k, v), blocks.{layer}.hook_mlp_in, \
                     blocks.{last layer}.hook_resid_post";

/// What one hook name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Writer(Source),
    Reader(Target),
    /// Inside a head or an MLP (`attn.hook_q[h]`): no node of our graph.
    Internal,
}

fn parse_hook(name: &str) -> Option<Hook> {
    match name {
        "hook_embed" => return Some(Hook::Writer(Source::Writer(Writer::TokenEmbedding))),
        "hook_pos_embed" => return Some(Hook::Writer(Source::Writer(Writer::PositionEmbedding))),
        "blocks.0.hook_resid_pre" => return Some(Hook::Writer(Source::Embeddings)),
        _ => {}
    }
    let (hook, head) = match name.split_once('[') {
        Some((hook, rest)) => (hook, Some(number(rest.strip_suffix(']')?)?)),
        None => (name, None),
    };
    let rest = hook.strip_prefix("blocks.")?;
    let (layer, point) = rest.split_once('.')?;
    let layer = number(layer)?;
    let hook = match (point, head) {
        ("attn.hook_result", Some(head)) => {
            Hook::Writer(Source::Writer(Writer::Head { layer, head }))
        }
        ("hook_mlp_out", None) => Hook::Writer(Source::Writer(Writer::Mlp { layer })),
        ("hook_mlp_in", None) => Hook::Reader(Target::Reader(Reader::Mlp { layer })),
        ("hook_resid_post", None) => Hook::Reader(Target::ResidPostOf(layer)),
        ("attn.hook_q" | "attn.hook_k" | "attn.hook_v", Some(_)) => Hook::Internal,
        (point, Some(head)) => {
            let input = match point {
                "hook_q_input" => HeadInput::Query,
                "hook_k_input" => HeadInput::Key,
                "hook_v_input" => HeadInput::Value,
                _ => return None,
            };
            Hook::Reader(Target::Reader(Reader::Head { layer, head, input }))
        }
        _ => return None,
    };
    Some(hook)
}

/// Reads a list of `[src hook, dst hook]` pairs.
pub fn read(graph: &EdgeGraph, document: &Json) -> Result<ImportedCircuit> {
    let format = CircuitFormat::TlHooks;
    let list = ours::find_edge_list(document).ok_or_else(|| Error::Json {
        what: "circuit file".into(),
        message: "found no edge list; give a JSON list of [src hook, dst hook] pairs".into(),
    })?;
    let mut collector = EdgeCollector::new(graph, format);
    let mut internal = 0;
    let mut merged = 0;
    for (index, item) in list.iter().enumerate() {
        let (src, dst) = match item.as_array().map(Vec::as_slice) {
            Some([Json::String(src), Json::String(dst)]) => (src, dst),
            _ => {
                return Err(Error::Json {
                    what: format!("circuit file, edge {index}"),
                    message: format!("{item} is not a [src hook, dst hook] pair of names"),
                })
            }
        };
        let written = format!("{src}->{dst}");
        let from = parse_hook(src).ok_or_else(|| unknown_name(format, "hook", src, HOOKS))?;
        let to = parse_hook(dst).ok_or_else(|| unknown_name(format, "hook", dst, HOOKS))?;
        match (from, to) {
            (Hook::Writer(source), Hook::Reader(target)) => {
                merged += usize::from(source == Source::Embeddings);
                collector.add(&written, source, target, true, None)?;
            }
            // Into a head's q/k/v, or from it (or from an MLP's input) to the component's output.
            (
                Hook::Reader(_) | Hook::Internal,
                Hook::Internal | Hook::Writer(Source::Writer(_)),
            ) => {
                internal += 1;
            }
            _ => {
                return Err(unknown_name(
                    format,
                    "edge",
                    &written,
                    "a pair from a writer hook to a reader hook (or an edge inside one component)",
                ))
            }
        }
    }
    let mut notes = Vec::new();
    if merged > 0 {
        notes.push(format!(
            "{merged} edge(s) from blocks.0.hook_resid_pre (the merged embeddings) kept as both tok and pos"
        ));
    }
    if internal > 0 {
        notes.push(format!("{internal} edge(s) inside a component skipped"));
    }
    Ok(collector.finish(notes))
}

fn writer_hook(writer: Writer) -> String {
    match writer {
        Writer::TokenEmbedding => "hook_embed".into(),
        Writer::PositionEmbedding => "hook_pos_embed".into(),
        Writer::Head { layer, head } => format!("blocks.{layer}.attn.hook_result[{head}]"),
        Writer::Mlp { layer } => format!("blocks.{layer}.hook_mlp_out"),
    }
}

fn reader_hook(reader: Reader, layers: usize) -> String {
    match reader {
        Reader::Head { layer, head, input } => {
            format!("blocks.{layer}.hook_{}_input[{head}]", input.suffix())
        }
        Reader::Mlp { layer } => format!("blocks.{layer}.hook_mlp_in"),
        Reader::Output => format!("blocks.{}.hook_resid_post", layers.saturating_sub(1)),
    }
}

/// `[["hook_embed", "blocks.0.hook_q_input[0]"], ...]` in graph order (embeddings kept apart).
pub fn write(graph: &EdgeGraph, circuit: &Circuit) -> Json {
    Json::Array(
        kept_pairs(graph, circuit)
            .into_iter()
            .map(|(w, r)| json!([writer_hook(w), reader_hook(r, graph.num_layers())]))
            .collect(),
    )
}

//! Edge Pruning's circuit files (princeton-nlp/Edge-Pruning):
//! - `edges.json`, the `get_edges()` list of `[writer, reader]` pairs (`src/modeling/modeling_erazr.py`
//!   for Tracr models: `token_embeds`, `pos_embeds`, `a{l}.h{h}`, `m{l}`; readers `a{l}.h{h}.q|k|v`,
//!   `m{l}`, `resid_post`; its GPT-2 code says `tok_embeds`);
//! - its ACDC wrapper's output (`baselines_examples/acdc_ioi.py`): `{"original": [{"from", "to"}],
//!   "extra": [...]}` with `head.{l}.{h}`, `mlp.{l}`, readers `head.{l}.{h}.q|k|v`, `mlp.{l}`,
//!   `resid_post`. The wrapper puts edges from the merged embeddings (`blocks.0.hook_resid_pre`) and
//!   ACDC's internal edges (`hook_q_input -> attn.hook_q`, `hook_mlp_in -> hook_mlp_out`) in `extra`;
//!   we read the first (both `tok` and `pos`) and skip the second.

use serde_json::{json, Value as Json};

use super::{
    kept_pairs, kept_pairs_merged, number, ours, unknown_name, CircuitFormat, EdgeCollector,
    ImportedCircuit, Source, Target,
};
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, Reader, Writer};

/// Reads `[writer, reader]` pairs (Edge Pruning's or our names).
pub fn read_edges(graph: &EdgeGraph, document: &Json) -> Result<ImportedCircuit> {
    let format = CircuitFormat::EdgePruning;
    let list = ours::find_edge_list(document).ok_or_else(|| Error::Json {
        what: "circuit file".into(),
        message:
            "found no edge list; Edge Pruning's edges.json is a JSON list of [writer, reader] pairs"
                .into(),
    })?;
    let mut collector = EdgeCollector::new(graph, format);
    for (index, item) in list.iter().enumerate() {
        let pair = match item.as_array().map(Vec::as_slice) {
            Some([Json::String(writer), Json::String(reader)]) => (writer, reader),
            _ => {
                return Err(Error::Json {
                    what: format!("circuit file, edge {index}"),
                    message: format!("{item} is not a [writer, reader] pair of names"),
                })
            }
        };
        ours::add_pair(&mut collector, format, pair.0, pair.1)?;
    }
    Ok(collector.finish(Vec::new()))
}

/// Edge Pruning's name of a writer (its Tracr code's).
fn writer_name(writer: Writer) -> String {
    match writer {
        Writer::TokenEmbedding => "token_embeds".into(),
        Writer::PositionEmbedding => "pos_embeds".into(),
        other => crate::graph::writer_name(other),
    }
}

/// `[["token_embeds", "a0.h0.q"], ...]` in graph order.
pub fn write_edges(graph: &EdgeGraph, circuit: &Circuit) -> Json {
    Json::Array(
        kept_pairs(graph, circuit)
            .into_iter()
            .map(|(w, r)| json!([writer_name(w), crate::graph::reader_name(r)]))
            .collect(),
    )
}

const ACDC_WRITERS: &str =
    "head.{layer}.{head}, mlp.{layer} (in \"original\"); blocks.0.hook_resid_pre (in \"extra\")";
const ACDC_READERS: &str = "head.{layer}.{head}.q|k|v, mlp.{layer}, resid_post";
/// The merged embeddings' hook, as the wrapper writes it.
const RESID_PRE: &str = "blocks.0.hook_resid_pre";

fn acdc_writer(name: &str) -> Option<Source> {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["head", layer, head] => Some(Source::Writer(Writer::Head {
            layer: number(layer)?,
            head: number(head)?,
        })),
        ["mlp", layer] => Some(Source::Writer(Writer::Mlp {
            layer: number(layer)?,
        })),
        _ => match name {
            RESID_PRE => Some(Source::Embeddings),
            "hook_embed" => Some(Source::Writer(Writer::TokenEmbedding)),
            "hook_pos_embed" => Some(Source::Writer(Writer::PositionEmbedding)),
            _ => None,
        },
    }
}

fn acdc_reader(name: &str) -> Option<Reader> {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["resid_post"] => Some(Reader::Output),
        ["mlp", layer] => Some(Reader::Mlp {
            layer: number(layer)?,
        }),
        ["head", layer, head, letter] if letter.len() == 1 && "qkv".contains(*letter) => {
            Some(Reader::Head {
                layer: number(layer)?,
                head: number(head)?,
                input: super::head_input(letter)?,
            })
        }
        _ => None,
    }
}

fn from_to(item: &Json, what: &str) -> Result<(String, String)> {
    let field = |key: &str| {
        item.get(key)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::Json {
                what: what.to_string(),
                message: format!("{item} has no string \"{key}\""),
            })
    };
    Ok((field("from")?, field("to")?))
}

/// Reads the wrapper's `{"original": [...], "extra": [...]}`.
pub fn read_acdc(graph: &EdgeGraph, document: &Json) -> Result<ImportedCircuit> {
    let format = CircuitFormat::EdgePruningAcdc;
    let list = |key: &str| -> Result<&[Json]> {
        match document.get(key) {
            None if key == "extra" => Ok(&[]),
            Some(Json::Array(items)) => Ok(items),
            _ => Err(Error::Json {
                what: format!("circuit file \"{key}\""),
                message: "is not a list of {\"from\": ..., \"to\": ...} edges (Edge Pruning's ACDC output)"
                    .into(),
            }),
        }
    };
    let mut collector = EdgeCollector::new(graph, format);
    for (index, item) in list("original")?.iter().enumerate() {
        let (from, to) = from_to(item, &format!("circuit file, original edge {index}"))?;
        let source = match acdc_writer(&from) {
            Some(source @ Source::Writer(Writer::Head { .. } | Writer::Mlp { .. })) => source,
            _ => return Err(unknown_name(format, "writer", &from, ACDC_WRITERS)),
        };
        let target =
            acdc_reader(&to).ok_or_else(|| unknown_name(format, "reader", &to, ACDC_READERS))?;
        collector.add(
            &format!("{from}->{to}"),
            source,
            Target::Reader(target),
            true,
            None,
        )?;
    }
    let mut internal = 0;
    let mut merged = 0;
    for (index, item) in list("extra")?.iter().enumerate() {
        let (from, to) = from_to(item, &format!("circuit file, extra edge {index}"))?;
        match acdc_writer(&from) {
            Some(source @ (Source::Embeddings | Source::Writer(Writer::TokenEmbedding | Writer::PositionEmbedding))) => {
                let target = acdc_reader(&to)
                    .ok_or_else(|| unknown_name(format, "reader", &to, ACDC_READERS))?;
                merged += usize::from(source == Source::Embeddings);
                collector.add(&format!("{from}->{to}"), source, Target::Reader(target), true, None)?;
            }
            // ACDC's edges inside a head or an MLP: not edges of our graph.
            _ if from.starts_with("blocks.") && to.starts_with("blocks.") => internal += 1,
            _ => {
                return Err(unknown_name(
                    format,
                    "extra edge",
                    &format!("{from}->{to}"),
                    "an edge from blocks.0.hook_resid_pre, or one of ACDC's internal edges between two blocks.* hooks",
                ))
            }
        }
    }
    let mut notes = Vec::new();
    if merged > 0 {
        notes.push(format!(
            "{merged} edge(s) from the merged embeddings ({RESID_PRE}) kept as both tok and pos"
        ));
    }
    if internal > 0 {
        notes.push(format!(
            "{internal} internal ACDC edge(s) in \"extra\" skipped"
        ));
    }
    Ok(collector.finish(notes))
}

fn acdc_writer_name(writer: Writer) -> String {
    match writer {
        Writer::Head { layer, head } => format!("head.{layer}.{head}"),
        Writer::Mlp { layer } => format!("mlp.{layer}"),
        Writer::TokenEmbedding | Writer::PositionEmbedding => RESID_PRE.into(),
    }
}

fn acdc_reader_name(reader: Reader) -> String {
    match reader {
        Reader::Head { layer, head, input } => format!("head.{layer}.{head}.{}", input.suffix()),
        Reader::Mlp { layer } => format!("mlp.{layer}"),
        Reader::Output => "resid_post".into(),
    }
}

/// `{"original": [components' edges], "extra": [merged-embedding edges]}`, as the wrapper splits them.
pub fn write_acdc(graph: &EdgeGraph, circuit: &Circuit) -> Json {
    let mut original = Vec::new();
    let mut extra = Vec::new();
    for (source, reader) in kept_pairs_merged(graph, circuit) {
        match source {
            Some(writer) => original.push(json!({
                "from": acdc_writer_name(writer),
                "to": acdc_reader_name(reader),
            })),
            None => extra.push(json!({"from": RESID_PRE, "to": acdc_reader_name(reader)})),
        }
    }
    json!({"original": original, "extra": extra})
}

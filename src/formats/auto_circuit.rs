//! auto-circuit edge names (UFO-101/auto-circuit `auto_circuit/model_utils/transformer_lens_utils.py`
//! `factorized_src_nodes`/`factorized_dest_nodes` with `separate_qkv`; `Edge.name` is
//! `"{src.name}->{dest.name}"`): sources `Resid Start` (`blocks.0.hook_resid_pre`: our `tok` and `pos`
//! merged), `A{l}.{h}`, `MLP {l}`; destinations `A{l}.{h}.Q|K|V`, `MLP {l}`, `Resid End`. auto-circuit
//! keeps circuits as Python sets of edges (`circuits/tracr/reverse_official.py`); the file is a JSON list
//! of their names.

use serde_json::Value as Json;

use super::{
    kept_pairs_merged, number, ours, unknown_name, CircuitFormat, EdgeCollector, ImportedCircuit,
    Source, Target,
};
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, Reader, Writer};

const SOURCES: &str = "Resid Start, A{layer}.{head}, MLP {layer}";
const DESTINATIONS: &str = "A{layer}.{head}.Q|K|V, MLP {layer}, Resid End";

fn parse_head(name: &str) -> Option<(usize, usize)> {
    let (layer, head) = name.strip_prefix('A')?.split_once('.')?;
    Some((number(layer)?, number(head)?))
}

/// Whether `name` is an auto-circuit head source or destination (`A3.0`, `A3.0.V`).
pub fn is_head_name(name: &str) -> bool {
    parse_head(name).is_some()
        || name.rsplit_once('.').is_some_and(|(head, letter)| {
            parse_head(head).is_some() && super::head_input(letter).is_some()
        })
}

fn parse_source(name: &str) -> Option<Source> {
    if name == "Resid Start" {
        return Some(Source::Embeddings);
    }
    if let Some(layer) = name.strip_prefix("MLP ").and_then(number) {
        return Some(Source::Writer(Writer::Mlp { layer }));
    }
    parse_head(name).map(|(layer, head)| Source::Writer(Writer::Head { layer, head }))
}

fn parse_destination(name: &str) -> Option<Reader> {
    if name == "Resid End" {
        return Some(Reader::Output);
    }
    if let Some(layer) = name.strip_prefix("MLP ").and_then(number) {
        return Some(Reader::Mlp { layer });
    }
    let (head, letter) = name.rsplit_once('.')?;
    if !matches!(letter, "Q" | "K" | "V") {
        return None;
    }
    let (layer, head) = parse_head(head)?;
    Some(Reader::Head {
        layer,
        head,
        input: super::head_input(letter)?,
    })
}

/// Reads a list of auto-circuit edge names.
pub fn read(graph: &EdgeGraph, document: &Json) -> Result<ImportedCircuit> {
    let format = CircuitFormat::AutoCircuit;
    let list = ours::find_edge_list(document).ok_or_else(|| Error::Json {
        what: "circuit file".into(),
        message: "found no edge list; give a JSON list of auto-circuit edge names such as \"Resid Start->A3.0.V\""
            .into(),
    })?;
    let mut collector = EdgeCollector::new(graph, format);
    let mut merged = 0;
    for (index, item) in list.iter().enumerate() {
        let name = item.as_str().ok_or_else(|| Error::Json {
            what: format!("circuit file, edge {index}"),
            message: format!("{item} is not an auto-circuit edge name"),
        })?;
        let (src, dest) = name.split_once("->").ok_or_else(|| {
            unknown_name(
                format,
                "edge",
                name,
                "\"source->destination\", e.g. Resid Start->A3.0.V",
            )
        })?;
        let source =
            parse_source(src).ok_or_else(|| unknown_name(format, "source", src, SOURCES))?;
        let target = parse_destination(dest)
            .ok_or_else(|| unknown_name(format, "destination", dest, DESTINATIONS))?;
        merged += usize::from(source == Source::Embeddings);
        collector.add(name, source, Target::Reader(target), true, None)?;
    }
    let notes = if merged > 0 {
        vec![format!(
            "{merged} edge(s) from Resid Start (the merged embeddings) kept as both tok and pos"
        )]
    } else {
        Vec::new()
    };
    Ok(collector.finish(notes))
}

fn source_name(source: Option<Writer>) -> String {
    match source {
        None | Some(Writer::TokenEmbedding | Writer::PositionEmbedding) => "Resid Start".into(),
        Some(Writer::Head { layer, head }) => format!("A{layer}.{head}"),
        Some(Writer::Mlp { layer }) => format!("MLP {layer}"),
    }
}

fn destination_name(reader: Reader) -> String {
    match reader {
        Reader::Head { layer, head, input } => {
            format!("A{layer}.{head}.{}", input.suffix().to_uppercase())
        }
        Reader::Mlp { layer } => format!("MLP {layer}"),
        Reader::Output => "Resid End".into(),
    }
}

/// `["Resid Start->A0.0.Q", ...]`, embeddings merged, in graph order.
pub fn write(graph: &EdgeGraph, circuit: &Circuit) -> Json {
    Json::Array(
        kept_pairs_merged(graph, circuit)
            .into_iter()
            .map(|(source, reader)| {
                Json::String(format!(
                    "{}->{}",
                    source_name(source),
                    destination_name(reader)
                ))
            })
            .collect(),
    )
}

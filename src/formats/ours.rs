//! Our circuit files: `writer->reader` names (`tok->a0.h0.q`, `a3.h0->resid_post`), as a list or under
//! `edges` (and `circuit.edges` of `prune --json`, `functional.edges` of `truth --json`).

use serde_json::{json, Value as Json};

use super::{unknown_name, CircuitFormat, EdgeCollector, ImportedCircuit, Source, Target};
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, Reader, Writer};

/// What our writer names look like (and Edge Pruning's, which `read` also takes).
pub const WRITER_NAMES: &str =
    "tok, pos (or Edge Pruning's tok_embeds, token_embeds, pos_embeds), a{layer}.h{head}, m{layer}";
/// What our reader names look like.
pub const READER_NAMES: &str = "a{layer}.h{head}.q|k|v, m{layer}, resid_post";

/// A writer name of ours or Edge Pruning's (`tok_embeds` in its GPT-2 code, `token_embeds` in its Tracr
/// code, `src/modeling/modeling_erazr.py` `get_writer_name`).
pub fn parse_writer(name: &str) -> Option<Writer> {
    match name {
        "tok" | "tok_embeds" | "token_embeds" => Some(Writer::TokenEmbedding),
        "pos" | "pos_embeds" => Some(Writer::PositionEmbedding),
        _ => {
            if let Some((layer, head)) = super::parse_a_h(name) {
                Some(Writer::Head { layer, head })
            } else {
                super::parse_m(name).map(|layer| Writer::Mlp { layer })
            }
        }
    }
}

/// A reader name of ours (the same as Edge Pruning's `get_reader_name`).
pub fn parse_reader(name: &str) -> Option<Reader> {
    if name == "resid_post" {
        return Some(Reader::Output);
    }
    if let Some(layer) = super::parse_m(name) {
        return Some(Reader::Mlp { layer });
    }
    let (head_part, letter) = name.rsplit_once('.')?;
    let (layer, head) = super::parse_a_h(head_part)?;
    let input = match letter {
        "q" | "k" | "v" => super::head_input(letter)?,
        _ => return None,
    };
    Some(Reader::Head { layer, head, input })
}

/// Adds the edge `writer`→`reader` (names of ours or Edge Pruning's) to `collector`.
pub(crate) fn add_pair(
    collector: &mut EdgeCollector,
    format: CircuitFormat,
    writer: &str,
    reader: &str,
) -> Result<()> {
    let written = format!("{writer}->{reader}");
    let source =
        parse_writer(writer).ok_or_else(|| unknown_name(format, "writer", writer, WRITER_NAMES))?;
    let target =
        parse_reader(reader).ok_or_else(|| unknown_name(format, "reader", reader, READER_NAMES))?;
    collector.add(
        &written,
        Source::Writer(source),
        Target::Reader(target),
        true,
        None,
    )
}

/// The edge list of a document: the document itself when it is a list, else the first list under
/// `edges`, `circuit.edges` or `functional.edges`.
pub fn find_edge_list(document: &Json) -> Option<&Vec<Json>> {
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

/// Reads a list of `"writer->reader"` names.
pub fn read(graph: &EdgeGraph, document: &Json) -> Result<ImportedCircuit> {
    let format = CircuitFormat::Edgeprune;
    let list = find_edge_list(document).ok_or_else(|| Error::Json {
        what: "circuit file".into(),
        message: "found no edge list; give a JSON list of \"writer->reader\" names, or an object with one \
                  under \"edges\", \"circuit.edges\" or \"functional.edges\""
            .into(),
    })?;
    let mut collector = EdgeCollector::new(graph, format);
    for (index, item) in list.iter().enumerate() {
        let name = item.as_str().ok_or_else(|| Error::Json {
            what: format!("circuit file, edge {index}"),
            message: format!("{item} is not a \"writer->reader\" name"),
        })?;
        let (writer, reader) = name.split_once("->").ok_or_else(|| {
            unknown_name(
                format,
                "edge",
                name,
                "\"writer->reader\" with writers tok, pos, a{layer}.h{head}, m{layer} and readers \
                 a{layer}.h{head}.q|k|v, m{layer}, resid_post",
            )
        })?;
        add_pair(&mut collector, format, writer, reader)?;
    }
    Ok(collector.finish(Vec::new()))
}

/// `{"edges": ["writer->reader", ...]}` in graph order.
pub fn write(graph: &EdgeGraph, circuit: &Circuit) -> Json {
    json!({ "edges": circuit.kept_edge_names(graph) })
}

//! Circuit files of peer tools, read and written over our edge graph: ours (`writer->reader`), Edge
//! Pruning's `[writer, reader]` pairs and its ACDC wrapper's `{"original": [...]}`, EAP-IG/MIB graph JSON,
//! auto-circuit's `"Resid Start->A3.0.V"` names, and TransformerLens hook-name pairs (InterpBench's
//! `edges` form). docs/interop.md "Task packs and circuit files" gives every name rule and its source.
//!
//! Three formats have one embedding node where our graph has two (`tok`, `pos`): MIB's `input`,
//! auto-circuit's `Resid Start` and the ACDC wrapper's `blocks.0.hook_resid_pre`. Reading, a merged edge
//! `E->r` keeps both `tok->r` and `pos->r`; writing, `E->r` is kept when either is (its score is the one
//! of larger magnitude). So those three round-trip a circuit up to that merge ([`merge_embeddings`]).

pub mod auto_circuit;
pub mod edge_pruning;
pub mod hooks;
pub mod mib;
pub mod ours;

use serde_json::Value as Json;

use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, HeadInput, Reader, Writer};

/// A circuit file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitFormat {
    /// Ours: `writer->reader` names, as a list or under `edges`/`circuit.edges`/`functional.edges`.
    Edgeprune,
    /// Edge Pruning's `edges.json`: `[writer, reader]` pairs, `token_embeds`/`tok_embeds`, `pos_embeds`.
    EdgePruning,
    /// Edge Pruning's ACDC wrapper: `{"original": [{"from": "head.3.0", "to": "mlp.4"}], "extra": [...]}`.
    EdgePruningAcdc,
    /// EAP-IG/MIB graph JSON: `cfg`, `nodes`, `edges` keyed `parent->child<q|k|v>`.
    Mib,
    /// auto-circuit edge names: `"Resid Start->A3.0.V"`, `"MLP 2->Resid End"`.
    AutoCircuit,
    /// TransformerLens hook-name pairs: `["blocks.0.attn.hook_result[1]", "blocks.2.hook_mlp_in"]`.
    TlHooks,
}

impl CircuitFormat {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [CircuitFormat; 6] = [
        CircuitFormat::Edgeprune,
        CircuitFormat::EdgePruning,
        CircuitFormat::EdgePruningAcdc,
        CircuitFormat::Mib,
        CircuitFormat::AutoCircuit,
        CircuitFormat::TlHooks,
    ];

    /// The name `--format` takes (and a pack's file suffix).
    pub fn name(self) -> &'static str {
        match self {
            CircuitFormat::Edgeprune => "edgeprune",
            CircuitFormat::EdgePruning => "edge-pruning",
            CircuitFormat::EdgePruningAcdc => "ep-acdc",
            CircuitFormat::Mib => "mib",
            CircuitFormat::AutoCircuit => "auto-circuit",
            CircuitFormat::TlHooks => "tl-hooks",
        }
    }

    /// The format called `name`; an unknown name is an error listing the valid ones.
    pub fn from_name(name: &str) -> Result<CircuitFormat> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| Error::InvalidOption {
                option: "--format".into(),
                message: format!(
                    "unknown format `{name}`; choose from {}",
                    names().join(", ")
                ),
            })
    }

    /// Whether the format has one embedding node for our `tok` and `pos`.
    pub fn merges_embeddings(self) -> bool {
        matches!(
            self,
            CircuitFormat::Mib | CircuitFormat::AutoCircuit | CircuitFormat::EdgePruningAcdc
        )
    }

    /// Guesses the format of a parsed document from its shape and names (see docs/interop.md).
    pub fn detect(document: &Json) -> Result<CircuitFormat> {
        if let Json::Object(map) = document {
            if map.contains_key("cfg") && map.contains_key("edges") {
                return Ok(CircuitFormat::Mib);
            }
            if map.contains_key("original") {
                return Ok(CircuitFormat::EdgePruningAcdc);
            }
        }
        let list = ours::find_edge_list(document).ok_or_else(|| Error::Json {
            what: "circuit file".into(),
            message: format!(
                "of no known form: give a JSON list of edges (\"writer->reader\" names or [writer, reader] \
                 pairs), an object with one under \"edges\", \"circuit.edges\" or \"functional.edges\", an \
                 EAP-IG/MIB graph (\"cfg\", \"nodes\", \"edges\") or Edge Pruning's ACDC output \
                 (\"original\"); or name the format with --format ({})",
                names().join(", ")
            ),
        })?;
        let strings: Vec<&str> = list
            .iter()
            .flat_map(|item| match item {
                Json::String(s) => vec![s.as_str()],
                Json::Array(pair) => pair.iter().filter_map(Json::as_str).collect(),
                _ => Vec::new(),
            })
            .collect();
        let pairs = list.iter().any(Json::is_array);
        let hooky = strings
            .iter()
            .any(|s| s.starts_with("hook_") || s.starts_with("blocks."));
        let auto_circuit = strings.iter().any(|s| {
            s.contains("Resid Start")
                || s.contains("Resid End")
                || s.contains("MLP ")
                || s.split("->").any(auto_circuit::is_head_name)
        });
        Ok(if pairs && hooky {
            CircuitFormat::TlHooks
        } else if pairs {
            CircuitFormat::EdgePruning
        } else if auto_circuit {
            CircuitFormat::AutoCircuit
        } else {
            CircuitFormat::Edgeprune
        })
    }
}

/// Every format's name, for messages.
pub fn names() -> Vec<&'static str> {
    CircuitFormat::ALL.iter().map(|f| f.name()).collect()
}

/// A circuit read from a file, with the per-edge scores the file carried (MIB's `score`), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedCircuit {
    /// The format it was read as.
    pub format: CircuitFormat,
    /// The kept edges (node masks on).
    pub circuit: Circuit,
    /// One score per graph edge, when the file scored every edge of the graph.
    pub scores: Option<Vec<f64>>,
    /// What the reader did besides mapping names (merged embeddings, internal edges skipped), in words.
    pub notes: Vec<String>,
    /// Per graph edge: kept only because the file kept a merged embedding node's edge.
    pub from_merged: Vec<bool>,
}

impl ImportedCircuit {
    /// Un-keeps the edges kept only through a merged embedding node that are not in `structural` (the
    /// model's structural circuit): such an edge carries nothing that reaches the output, so the file
    /// could not have meant it. Returns how many were dropped (also noted in `notes`).
    pub fn drop_structurally_silent(&mut self, structural: &Circuit) -> usize {
        let mut dropped = 0;
        for (edge, &merged) in self.from_merged.iter().enumerate() {
            if merged && self.circuit.edges[edge] && !structural.edges[edge] {
                self.circuit.edges[edge] = false;
                // Ranked last too: its score was the merged node's, not its own.
                if let Some(scores) = &mut self.scores {
                    scores[edge] = 0.0;
                }
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.notes.push(format!(
                "{dropped} edge(s) of the merged embeddings dropped: tok or pos shares no path to the output \
                 with that reader (not in the structural circuit)"
            ));
        }
        dropped
    }
}

/// Reads a circuit document in `format` (or the detected one) against `graph`.
pub fn read_circuit(
    graph: &EdgeGraph,
    document: &Json,
    format: Option<CircuitFormat>,
) -> Result<ImportedCircuit> {
    let format = match format {
        Some(format) => format,
        None => CircuitFormat::detect(document)?,
    };
    let mut imported = match format {
        CircuitFormat::Edgeprune => ours::read(graph, document)?,
        CircuitFormat::EdgePruning => edge_pruning::read_edges(graph, document)?,
        CircuitFormat::EdgePruningAcdc => edge_pruning::read_acdc(graph, document)?,
        CircuitFormat::Mib => mib::read(graph, document)?,
        CircuitFormat::AutoCircuit => auto_circuit::read(graph, document)?,
        CircuitFormat::TlHooks => hooks::read(graph, document)?,
    };
    imported.format = format;
    Ok(imported)
}

/// Writes `circuit` in `format`; `scores` (one per edge) go where the format has room (MIB), else
/// kept edges score 1 and the rest 0. `d_model` fills MIB's `cfg`.
pub fn write_circuit(
    graph: &EdgeGraph,
    circuit: &Circuit,
    scores: Option<&[f64]>,
    format: CircuitFormat,
    d_model: usize,
) -> Json {
    match format {
        CircuitFormat::Edgeprune => ours::write(graph, circuit),
        CircuitFormat::EdgePruning => edge_pruning::write_edges(graph, circuit),
        CircuitFormat::EdgePruningAcdc => edge_pruning::write_acdc(graph, circuit),
        CircuitFormat::Mib => mib::write(graph, circuit, scores, d_model),
        CircuitFormat::AutoCircuit => auto_circuit::write(graph, circuit),
        CircuitFormat::TlHooks => hooks::write(graph, circuit),
    }
}

/// `circuit` with both `tok->r` and `pos->r` kept wherever either is: what a merged-embedding format
/// can say about it, so what a write and a read in such a format give back.
pub fn merge_embeddings(graph: &EdgeGraph, circuit: &Circuit) -> Circuit {
    let mut merged = circuit.clone();
    for reader in 0..graph.num_readers() {
        let (Some(tok), Some(pos)) = (graph.edge_index(0, reader), graph.edge_index(1, reader))
        else {
            continue;
        };
        let either = circuit.edges[tok] || circuit.edges[pos];
        merged.edges[tok] = either;
        merged.edges[pos] = either;
    }
    merged
}

/// A writer as a file names it: one of ours, or both embeddings as one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// One writer of our graph.
    Writer(Writer),
    /// `tok` and `pos` merged (MIB `input`, auto-circuit `Resid Start`, `blocks.0.hook_resid_pre`).
    Embeddings,
}

/// A reader as a file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One reader of our graph.
    Reader(Reader),
    /// The final residual named with its layer (`blocks.{L-1}.hook_resid_post`).
    ResidPostOf(usize),
}

/// Builds an edge list while reading: resolves names against the graph, with errors naming the edge.
pub(crate) struct EdgeCollector<'g> {
    graph: &'g EdgeGraph,
    format: CircuitFormat,
    edges: Vec<bool>,
    scores: Vec<Option<f64>>,
    direct: Vec<bool>,
}

impl<'g> EdgeCollector<'g> {
    pub(crate) fn new(graph: &'g EdgeGraph, format: CircuitFormat) -> Self {
        Self {
            graph,
            format,
            edges: vec![false; graph.num_edges()],
            scores: vec![None; graph.num_edges()],
            direct: vec![false; graph.num_edges()],
        }
    }

    /// Our edge indices of `source->target` (two for a merged source); `written` is the edge as the
    /// file spells it, for errors.
    pub(crate) fn resolve(
        &self,
        written: &str,
        source: Source,
        target: Target,
    ) -> Result<Vec<usize>> {
        let graph = self.graph;
        let other = |message: String| Error::OtherModel {
            format: self.format.name().into(),
            edge: written.to_string(),
            message,
        };
        let (layers, heads) = (graph.num_layers(), graph.num_heads());
        let check = |layer: usize, head: Option<usize>| -> Result<()> {
            if layer >= layers {
                return Err(other(format!(
                    "layer {layer} does not exist; this model has layers 0..{}",
                    layers.saturating_sub(1)
                )));
            }
            if let Some(head) = head {
                if head >= heads {
                    return Err(other(format!(
                        "head {head} does not exist; this model has heads 0..{} per layer",
                        heads.saturating_sub(1)
                    )));
                }
            }
            Ok(())
        };
        let writers = match source {
            Source::Embeddings => vec![0, 1],
            Source::Writer(Writer::TokenEmbedding) => vec![0],
            Source::Writer(Writer::PositionEmbedding) => vec![1],
            Source::Writer(Writer::Head { layer, head }) => {
                check(layer, Some(head))?;
                vec![graph.head_writer(layer, head)]
            }
            Source::Writer(Writer::Mlp { layer }) => {
                check(layer, None)?;
                vec![graph.mlp_writer(layer)]
            }
        };
        let reader = match target {
            Target::Reader(Reader::Head { layer, head, input }) => {
                check(layer, Some(head))?;
                graph.head_reader(layer, head, input)
            }
            Target::Reader(Reader::Mlp { layer }) => {
                check(layer, None)?;
                graph.mlp_reader(layer)
            }
            Target::Reader(Reader::Output) => graph.output_reader(),
            Target::ResidPostOf(layer) => {
                if layer + 1 != layers {
                    return Err(other(format!(
                        "the final residual is blocks.{}.hook_resid_post in this {layers}-layer model, not layer {layer}",
                        layers.saturating_sub(1)
                    )));
                }
                graph.output_reader()
            }
        };
        writers
            .into_iter()
            .map(|writer| {
                graph.edge_index(writer, reader).ok_or_else(|| {
                    other(format!(
                        "`{}` does not feed `{}` in this graph (a reader reads only writers of earlier \
                         layers, and an MLP its own layer's heads too)",
                        graph.writer_names()[writer],
                        graph.reader_names()[reader]
                    ))
                })
            })
            .collect()
    }

    /// Marks `source->target` as kept (when `kept`) and records its score.
    pub(crate) fn add(
        &mut self,
        written: &str,
        source: Source,
        target: Target,
        kept: bool,
        score: Option<f64>,
    ) -> Result<()> {
        for edge in self.resolve(written, source, target)? {
            self.edges[edge] |= kept;
            self.direct[edge] |= kept && source != Source::Embeddings;
            if score.is_some() {
                self.scores[edge] = score;
            }
        }
        Ok(())
    }

    /// The circuit, with scores when every edge got one.
    pub(crate) fn finish(self, notes: Vec<String>) -> ImportedCircuit {
        let scores = self.scores.iter().copied().collect::<Option<Vec<f64>>>();
        let from_merged = self
            .edges
            .iter()
            .zip(&self.direct)
            .map(|(&kept, &direct)| kept && !direct)
            .collect();
        ImportedCircuit {
            format: self.format,
            circuit: Circuit::from_edges(self.graph, self.edges),
            scores,
            notes,
            from_merged,
        }
    }
}

/// The error for a name the format does not have.
pub(crate) fn unknown_name(format: CircuitFormat, kind: &str, name: &str, expected: &str) -> Error {
    Error::CircuitName {
        format: format.name().into(),
        kind: kind.into(),
        name: name.into(),
        expected: expected.into(),
    }
}

/// Parses a whole non-negative number with no sign or padding (`"03"` is refused: no peer writes it).
pub(crate) fn number(text: &str) -> Option<usize> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// `q`/`k`/`v` (any case) as a head input.
pub(crate) fn head_input(letter: &str) -> Option<HeadInput> {
    match letter {
        "q" | "Q" => Some(HeadInput::Query),
        "k" | "K" => Some(HeadInput::Key),
        "v" | "V" => Some(HeadInput::Value),
        _ => None,
    }
}

/// Parses our (and Edge Pruning's) `a{l}.h{h}` into (layer, head).
pub(crate) fn parse_a_h(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix('a')?;
    let (layer, head) = rest.split_once(".h")?;
    Some((number(layer)?, number(head)?))
}

/// Parses our (and Edge Pruning's, MIB's) `m{l}`.
pub(crate) fn parse_m(name: &str) -> Option<usize> {
    number(name.strip_prefix('m')?)
}

/// The writer of graph index `writer` (for writing files).
pub(crate) fn writer_at(graph: &EdgeGraph, writer: usize) -> Writer {
    graph.writers()[writer]
}

/// Every kept edge of `circuit` as (writer, reader) of the graph, in graph order.
pub(crate) fn kept_pairs(graph: &EdgeGraph, circuit: &Circuit) -> Vec<(Writer, Reader)> {
    graph
        .edges()
        .iter()
        .zip(&circuit.edges)
        .filter(|(_, &kept)| kept)
        .map(|(edge, _)| (writer_at(graph, edge.writer), graph.readers()[edge.reader]))
        .collect()
}

/// Kept edges with the two embeddings merged: (None = merged embeddings, or the writer, reader), each
/// once, in graph order, a merged edge at the place of its `tok` edge (so the order does not depend on
/// which of the two was kept).
pub(crate) fn kept_pairs_merged(
    graph: &EdgeGraph,
    circuit: &Circuit,
) -> Vec<(Option<Writer>, Reader)> {
    let mut keyed: Vec<(usize, Option<Writer>, Reader)> = Vec::new();
    for (index, edge) in graph.edges().iter().enumerate() {
        if !circuit.edges[index] {
            continue;
        }
        let reader = graph.readers()[edge.reader];
        match writer_at(graph, edge.writer) {
            Writer::TokenEmbedding | Writer::PositionEmbedding => {
                let key = graph.edge_index(0, edge.reader).unwrap_or(index);
                keyed.push((key, None, reader));
            }
            writer => keyed.push((index, Some(writer), reader)),
        }
    }
    keyed.sort_by_key(|(key, _, _)| *key);
    keyed.dedup_by_key(|(key, _, _)| *key);
    keyed
        .into_iter()
        .map(|(_, source, reader)| (source, reader))
        .collect()
}

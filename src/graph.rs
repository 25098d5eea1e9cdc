//! Edge Pruning's computational graph: writers, readers and the edges between them.
//!
//! Writers, in writer order: `tok`, `pos`, then per layer `a{l}.h0..h{H-1}`, `m{l}`.
//! Readers (the official fpt2 reader order): per layer, `a{l}.h{h}.q` for every head, then every
//! `.k`, then every `.v`, then `m{l}`; finally `resid_post`.
//! A head reads every writer of earlier layers; an MLP also reads its own layer's heads;
//! `resid_post` reads every writer. Edges are named `writer->reader` and ordered as in the
//! official code's `get_edges` (and the fixtures' `edges` list): per layer, for each writer
//! before the layer, its q edges (all heads), then k, then v; then every writer into the MLP;
//! after all layers, every writer into `resid_post`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// A component whose output other components read (one node mask each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Writer {
    /// The token embedding, `tok`.
    TokenEmbedding,
    /// The position embedding, `pos`.
    PositionEmbedding,
    /// Attention head `a{layer}.h{head}`.
    Head {
        /// Layer index.
        layer: usize,
        /// Head index within the layer.
        head: usize,
    },
    /// The MLP `m{layer}`.
    Mlp {
        /// Layer index.
        layer: usize,
    },
}

/// Which of a head's three input streams a reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeadInput {
    /// The query input, `.q`.
    Query,
    /// The key input, `.k`.
    Key,
    /// The value input, `.v`.
    Value,
}

impl HeadInput {
    /// The three streams in graph order.
    pub const ALL: [HeadInput; 3] = [HeadInput::Query, HeadInput::Key, HeadInput::Value];

    /// `q`, `k` or `v`.
    pub fn suffix(self) -> &'static str {
        match self {
            HeadInput::Query => "q",
            HeadInput::Key => "k",
            HeadInput::Value => "v",
        }
    }
}

/// A place where a sum of (masked) writer outputs is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reader {
    /// One input stream of head `a{layer}.h{head}`.
    Head {
        /// Layer index.
        layer: usize,
        /// Head index within the layer.
        head: usize,
        /// Query, key or value.
        input: HeadInput,
    },
    /// The input of MLP `m{layer}`.
    Mlp {
        /// Layer index.
        layer: usize,
    },
    /// The final residual read by the readout, `resid_post`.
    Output,
}

/// One edge: writer index → reader index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Edge {
    /// Index into `EdgeGraph::writers`.
    pub writer: usize,
    /// Index into `EdgeGraph::readers`.
    pub reader: usize,
}

/// The graph of a transformer with `num_layers` layers of `num_heads` heads and both embedding writers.
#[derive(Debug, Clone)]
pub struct EdgeGraph {
    num_layers: usize,
    num_heads: usize,
    writers: Vec<Writer>,
    readers: Vec<Reader>,
    edges: Vec<Edge>,
    writer_names: Vec<String>,
    reader_names: Vec<String>,
    /// Built on first use: most graphs are made to index masks and never name an edge.
    edge_names: OnceLock<Vec<String>>,
    edges_into: Vec<Vec<usize>>,
    edges_from: Vec<Vec<usize>>,
    edge_by_pair: OnceLock<HashMap<(usize, usize), usize>>,
    edge_by_name: OnceLock<HashMap<String, usize>>,
    writer_by_name: HashMap<String, usize>,
    reader_by_name: HashMap<String, usize>,
}

impl EdgeGraph {
    /// The graph of `num_layers` layers with `num_heads` heads each.
    pub fn new(num_layers: usize, num_heads: usize) -> EdgeGraph {
        let mut writers = vec![Writer::TokenEmbedding, Writer::PositionEmbedding];
        let mut readers = Vec::new();
        for layer in 0..num_layers {
            for head in 0..num_heads {
                writers.push(Writer::Head { layer, head });
            }
            for input in HeadInput::ALL {
                for head in 0..num_heads {
                    readers.push(Reader::Head { layer, head, input });
                }
            }
            writers.push(Writer::Mlp { layer });
            readers.push(Reader::Mlp { layer });
        }
        readers.push(Reader::Output);
        let reader_index: HashMap<Reader, usize> =
            readers.iter().enumerate().map(|(i, r)| (*r, i)).collect();

        let mut edges = Vec::new();
        for layer in 0..num_layers {
            let first_head = 2 + layer * (num_heads + 1);
            for writer in 0..first_head {
                for input in HeadInput::ALL {
                    for head in 0..num_heads {
                        let reader = reader_index[&Reader::Head { layer, head, input }];
                        edges.push(Edge { writer, reader });
                    }
                }
            }
            let mlp_reader = reader_index[&Reader::Mlp { layer }];
            for writer in 0..first_head + num_heads {
                edges.push(Edge {
                    writer,
                    reader: mlp_reader,
                });
            }
        }
        let output_reader = readers.len() - 1;
        for writer in 0..writers.len() {
            edges.push(Edge {
                writer,
                reader: output_reader,
            });
        }

        let writer_names: Vec<String> = writers.iter().map(|w| writer_name(*w)).collect();
        let reader_names: Vec<String> = readers.iter().map(|r| reader_name(*r)).collect();
        let mut edges_into = vec![Vec::new(); readers.len()];
        let mut edges_from = vec![Vec::new(); writers.len()];
        for (i, e) in edges.iter().enumerate() {
            edges_into[e.reader].push(i);
            edges_from[e.writer].push(i);
        }
        EdgeGraph {
            num_layers,
            num_heads,
            edge_by_pair: OnceLock::new(),
            edge_by_name: OnceLock::new(),
            writer_by_name: index_names(&writer_names),
            reader_by_name: index_names(&reader_names),
            writers,
            readers,
            edges,
            writer_names,
            reader_names,
            edge_names: OnceLock::new(),
            edges_into,
            edges_from,
        }
    }

    /// The graph of a model's layer and head counts.
    pub fn for_model(model: &crate::model::Transformer) -> EdgeGraph {
        EdgeGraph::new(model.num_layers(), model.num_heads())
    }

    /// Paper formula for the edge count with `embedding_writers` ∈ {0, 1, 2} embedding nodes:
    /// `Σ_{l<L} [3H(E + l(H+1)) + E + l(H+1) + H] + E + L(H+1)`.
    pub fn formula_edge_count(
        num_layers: usize,
        num_heads: usize,
        embedding_writers: usize,
    ) -> usize {
        let (l_count, h, e) = (num_layers, num_heads, embedding_writers);
        let per_layer: usize = (0..l_count)
            .map(|l| 3 * h * (e + l * (h + 1)) + e + l * (h + 1) + h)
            .sum();
        per_layer + e + l_count * (h + 1)
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    /// Heads per layer.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// Number of writers (= node masks).
    pub fn num_writers(&self) -> usize {
        self.writers.len()
    }

    /// Number of readers.
    pub fn num_readers(&self) -> usize {
        self.readers.len()
    }

    /// Number of edges (= edge masks).
    pub fn num_edges(&self) -> usize {
        self.edges.len()
    }

    /// Writers in writer order.
    pub fn writers(&self) -> &[Writer] {
        &self.writers
    }

    /// Readers in reader order.
    pub fn readers(&self) -> &[Reader] {
        &self.readers
    }

    /// Edges in canonical order.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Writer names (`tok`, `pos`, `a0.h0`, `m0`, ...) in writer order.
    pub fn writer_names(&self) -> &[String] {
        &self.writer_names
    }

    /// Reader names (`a0.h0.q`, ..., `m0`, ..., `resid_post`) in reader order.
    pub fn reader_names(&self) -> &[String] {
        &self.reader_names
    }

    /// Edge names `writer->reader` in canonical order.
    pub fn edge_names(&self) -> &[String] {
        self.edge_names.get_or_init(|| {
            self.edges
                .iter()
                .map(|e| {
                    format!(
                        "{}->{}",
                        self.writer_names[e.writer], self.reader_names[e.reader]
                    )
                })
                .collect()
        })
    }

    /// Index of writer `a{layer}.h{head}`: `2 + layer (H + 1) + head`.
    pub fn head_writer(&self, layer: usize, head: usize) -> usize {
        2 + layer * (self.num_heads + 1) + head
    }

    /// Index of writer `m{layer}`: `2 + layer (H + 1) + H`.
    pub fn mlp_writer(&self, layer: usize) -> usize {
        2 + layer * (self.num_heads + 1) + self.num_heads
    }

    /// Index of reader `a{layer}.h{head}.{q|k|v}`.
    pub fn head_reader(&self, layer: usize, head: usize, input: HeadInput) -> usize {
        let stream = HeadInput::ALL.iter().position(|i| *i == input).unwrap_or(0);
        layer * (3 * self.num_heads + 1) + stream * self.num_heads + head
    }

    /// Index of reader `m{layer}`.
    pub fn mlp_reader(&self, layer: usize) -> usize {
        layer * (3 * self.num_heads + 1) + 3 * self.num_heads
    }

    /// Index of reader `resid_post`.
    pub fn output_reader(&self) -> usize {
        self.readers.len() - 1
    }

    /// Edges into a reader, ordered by writer (the reader reads writers `0..edges_into(r).len()`).
    pub fn edges_into(&self, reader: usize) -> &[usize] {
        &self.edges_into[reader]
    }

    /// Edges out of a writer, in canonical order.
    pub fn edges_from(&self, writer: usize) -> &[usize] {
        &self.edges_from[writer]
    }

    /// The edge from `writer` to `reader`, if the graph has one.
    pub fn edge_index(&self, writer: usize, reader: usize) -> Option<usize> {
        let by_pair = self.edge_by_pair.get_or_init(|| {
            self.edges
                .iter()
                .enumerate()
                .map(|(i, e)| ((e.writer, e.reader), i))
                .collect()
        });
        by_pair.get(&(writer, reader)).copied()
    }

    /// The edge called `writer->reader`.
    pub fn edge_by_name(&self, name: &str) -> Result<usize> {
        let by_name = self
            .edge_by_name
            .get_or_init(|| index_names(self.edge_names()));
        lookup(by_name, name, "edge", self.edge_names())
    }

    /// The writer called `name`.
    pub fn writer_by_name(&self, name: &str) -> Result<usize> {
        lookup(&self.writer_by_name, name, "writer", &self.writer_names)
    }

    /// The reader called `name`.
    pub fn reader_by_name(&self, name: &str) -> Result<usize> {
        lookup(&self.reader_by_name, name, "reader", &self.reader_names)
    }
}

/// `tok`, `pos`, `a{l}.h{h}` or `m{l}`.
pub fn writer_name(writer: Writer) -> String {
    match writer {
        Writer::TokenEmbedding => "tok".into(),
        Writer::PositionEmbedding => "pos".into(),
        Writer::Head { layer, head } => format!("a{layer}.h{head}"),
        Writer::Mlp { layer } => format!("m{layer}"),
    }
}

/// `a{l}.h{h}.q|k|v`, `m{l}` or `resid_post`.
pub fn reader_name(reader: Reader) -> String {
    match reader {
        Reader::Head { layer, head, input } => format!("a{layer}.h{head}.{}", input.suffix()),
        Reader::Mlp { layer } => format!("m{layer}"),
        Reader::Output => "resid_post".into(),
    }
}

fn index_names(names: &[String]) -> HashMap<String, usize> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect()
}

fn lookup(map: &HashMap<String, usize>, name: &str, kind: &str, names: &[String]) -> Result<usize> {
    map.get(name).copied().ok_or_else(|| Error::UnknownName {
        kind: kind.to_string(),
        name: name.to_string(),
        example: names.last().cloned().unwrap_or_default(),
    })
}

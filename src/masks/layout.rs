//! How Edge Pruning stores the log-alphas of a Tracr model in parameter tensors (`modeling_erazr.py`).
//!
//! The layout matters for two things only: the deterministic mask rounds its zero count per tensor, and
//! each reader tensor is padded with rows for writers that cannot feed it. Those padded entries never get a
//! gradient but do decay under AdamW, and they take part in the per-tensor count.

use crate::error::{Error, Result};

/// What one entry of a log-alpha parameter tensor stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// An edge, by its index in the canonical edge order.
    Edge(usize),
    /// A writer's node mask, by writer index.
    Node(usize),
    /// A padded entry (a writer that cannot feed this reader), by padding index.
    Padding(usize),
}

/// One log-alpha parameter tensor of Edge Pruning's model, flattened row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterTensor {
    /// Edge Pruning's parameter name (e.g. `blocks.2.attn.q_read_log_alphas`).
    pub name: String,
    /// The entries in flattened (row-major) order.
    pub slots: Vec<Slot>,
}

/// The edges, writers, readers and log-alpha tensors of an `L`-layer, `H`-head model in Edge Pruning's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterLayout {
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Attention heads per layer.
    pub num_heads: usize,
    /// Writer names: `tok`, `pos`, then per layer `a{l}.h{h}` and `m{l}`.
    pub writers: Vec<String>,
    /// Reader names: per layer `a{l}.h{h}.q` for every head, then `.k`, then `.v`, then `m{l}`; finally
    /// `resid_post` (Edge Pruning's reader order, which the edge graph follows).
    pub readers: Vec<String>,
    /// Writer index of every edge, in canonical edge order.
    pub edge_writer: Vec<usize>,
    /// Reader index of every edge, in canonical edge order.
    pub edge_reader: Vec<usize>,
    /// The log-alpha tensors, in the order of their parameter names in the model.
    pub tensors: Vec<ParameterTensor>,
    /// Number of padded entries over all tensors.
    pub num_padding: usize,
}

/// The three inputs of an attention head.
const HEAD_INPUTS: [&str; 3] = ["q", "k", "v"];

impl ParameterLayout {
    /// The layout of a model with `num_layers` layers of `num_heads` heads each, one MLP per layer.
    pub fn new(num_layers: usize, num_heads: usize) -> Result<Self> {
        if num_layers == 0 || num_heads == 0 {
            return Err(Error::InvalidOption {
                option: "model shape".into(),
                message: format!(
                    "need at least one layer and one head, got {num_layers} layers and {num_heads} heads"
                ),
            });
        }
        let layer_width = num_heads + 1;
        let num_writers = 2 + num_layers * layer_width;
        let mut writers = vec!["tok".to_string(), "pos".to_string()];
        let mut readers = Vec::new();
        for layer in 0..num_layers {
            writers.extend((0..num_heads).map(|h| format!("a{layer}.h{h}")));
            writers.push(format!("m{layer}"));
            for input in HEAD_INPUTS {
                readers.extend((0..num_heads).map(|h| format!("a{layer}.h{h}.{input}")));
            }
            readers.push(format!("m{layer}"));
        }
        readers.push("resid_post".to_string());

        let mut edge_writer = Vec::new();
        let mut edge_reader = Vec::new();
        let mut tensors = vec![
            ParameterTensor {
                name: "token_write_log_alpha".into(),
                slots: vec![Slot::Node(0)],
            },
            ParameterTensor {
                name: "pos_write_log_alpha".into(),
                slots: vec![Slot::Node(1)],
            },
        ];
        let mut num_padding = 0;
        for layer in 0..num_layers {
            let first_head = 2 + layer * layer_width;
            let mlp = first_head + num_heads;
            let reader_base = layer * (3 * num_heads + 1);
            // Canonical order: per writer, q of every head, then k, then v.
            let mut head_slot_edges = vec![vec![None; num_writers * num_heads]; 3];
            for writer in 0..first_head {
                for (input, slots) in head_slot_edges.iter_mut().enumerate() {
                    for head in 0..num_heads {
                        slots[writer * num_heads + head] = Some(edge_writer.len());
                        edge_writer.push(writer);
                        edge_reader.push(reader_base + input * num_heads + head);
                    }
                }
            }
            for (input, slots) in HEAD_INPUTS.iter().zip(head_slot_edges) {
                let slots = slots
                    .into_iter()
                    .map(|edge| match edge {
                        Some(index) => Slot::Edge(index),
                        None => {
                            num_padding += 1;
                            Slot::Padding(num_padding - 1)
                        }
                    })
                    .collect();
                tensors.push(ParameterTensor {
                    name: format!("blocks.{layer}.attn.{input}_read_log_alphas"),
                    slots,
                });
            }
            tensors.push(ParameterTensor {
                name: format!("blocks.{layer}.attn.write_log_alphas"),
                slots: (first_head..mlp).map(Slot::Node).collect(),
            });
            let mlp_slots = (0..num_writers)
                .map(|writer| {
                    if writer < mlp {
                        edge_writer.push(writer);
                        edge_reader.push(reader_base + 3 * num_heads);
                        Slot::Edge(edge_writer.len() - 1)
                    } else {
                        num_padding += 1;
                        Slot::Padding(num_padding - 1)
                    }
                })
                .collect();
            tensors.push(ParameterTensor {
                name: format!("blocks.{layer}.mlp.mlp_read_log_alphas"),
                slots: mlp_slots,
            });
            tensors.push(ParameterTensor {
                name: format!("blocks.{layer}.mlp.mlp_write_log_alphas"),
                slots: vec![Slot::Node(mlp)],
            });
        }
        let final_slots = (0..num_writers)
            .map(|writer| {
                edge_writer.push(writer);
                edge_reader.push(readers.len() - 1);
                Slot::Edge(edge_writer.len() - 1)
            })
            .collect();
        tensors.push(ParameterTensor {
            name: "final_read_log_alpha".into(),
            slots: final_slots,
        });
        Ok(Self {
            num_layers,
            num_heads,
            writers,
            readers,
            edge_writer,
            edge_reader,
            tensors,
            num_padding,
        })
    }

    /// Number of edges.
    pub fn num_edges(&self) -> usize {
        self.edge_writer.len()
    }

    /// Number of writers (node masks).
    pub fn num_writers(&self) -> usize {
        self.writers.len()
    }

    /// `writer->reader` name of an edge.
    pub fn edge_name(&self, edge: usize) -> String {
        format!(
            "{}->{}",
            self.writers[self.edge_writer[edge]], self.readers[self.edge_reader[edge]]
        )
    }

    /// The writer whose output a reader feeds, or `None` for `resid_post`.
    pub fn reader_node(&self, reader: usize) -> Option<usize> {
        let per_layer = 3 * self.num_heads + 1;
        let layer = reader / per_layer;
        if layer >= self.num_layers {
            return None;
        }
        let within = reader % per_layer;
        let first_head = 2 + layer * (self.num_heads + 1);
        if within == 3 * self.num_heads {
            Some(first_head + self.num_heads)
        } else {
            Some(first_head + within % self.num_heads)
        }
    }

    /// Whether a writer is an MLP (`m{l}`).
    pub fn is_mlp_writer(&self, writer: usize) -> bool {
        writer >= 2 && (writer - 2) % (self.num_heads + 1) == self.num_heads
    }

    /// Whether a reader is the `.v` input of a head.
    pub fn is_value_reader(&self, reader: usize) -> bool {
        let per_layer = 3 * self.num_heads + 1;
        reader / per_layer < self.num_layers
            && (2 * self.num_heads..3 * self.num_heads).contains(&(reader % per_layer))
    }

    /// Gathers the log-alpha of every slot of `tensor` from the per-edge, per-node and padding vectors.
    pub fn gather(
        &self,
        tensor: &ParameterTensor,
        edge_log_alpha: &[f64],
        node_log_alpha: &[f64],
        padding_log_alpha: &[f64],
    ) -> Vec<f64> {
        tensor
            .slots
            .iter()
            .map(|slot| match *slot {
                Slot::Edge(i) => edge_log_alpha[i],
                Slot::Node(i) => node_log_alpha[i],
                Slot::Padding(i) => padding_log_alpha[i],
            })
            .collect()
    }
}

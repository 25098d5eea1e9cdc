//! What the masked forward precomputes from the weights alone: which residual dimensions each
//! writer can write and each reader reads, and the weights restricted to those dimensions.
//!
//! Compiled models are very sparse (a Tracr head reads a handful of its 41 dimensions), and a
//! dimension that a writer never writes or a reader never reads contributes an exact zero.
//! Dropping those dimensions therefore changes no result beyond summation order, and it makes
//! the per-step cost scale with the dimensions actually used. Dense (GPT-2-like) models keep every dimension.

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::graph::{EdgeGraph, Reader, Writer};
use crate::model::{LayerNorm, Transformer};

/// One reader's input projection, restricted to the dimensions it reads.
#[derive(Debug, Clone)]
pub(crate) struct ReaderWeights {
    /// LayerNorm applied to the reader's full input (then `dims` is every dimension).
    pub norm: Option<LayerNorm>,
    /// `[dims, width]`: rows of the projection at the read dimensions.
    pub weight: Array2<f64>,
    /// `[width]`.
    pub bias: Array1<f64>,
}

/// One head, compact: q/k/v projections and the output projection onto the written dimensions.
#[derive(Debug, Clone)]
pub(crate) struct HeadPlan {
    /// Query, key, value projections.
    pub streams: [ReaderWeights; 3],
    /// `[value_size, written dims]`.
    pub w_output: Array2<f64>,
    /// `[written dims]`: `b_O / H` at the written dimensions.
    pub b_output: Array1<f64>,
}

/// One MLP, compact.
#[derive(Debug, Clone)]
pub(crate) struct MlpPlan {
    /// Input projection `W_in`, `b_in` (and `ln_2`).
    pub input: ReaderWeights,
    /// `[hidden, written dims]`.
    pub w_out: Array2<f64>,
    /// `[written dims]`.
    pub b_out: Array1<f64>,
}

/// The whole precomputed structure.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Residual dimensions each writer can make non-zero, sorted.
    pub writer_dims: Vec<Vec<usize>>,
    /// Residual dimensions each reader reads, sorted.
    pub reader_dims: Vec<Vec<usize>>,
    /// Per edge: an index into `pair_lists`.
    edge_pairs: Vec<usize>,
    /// (position in reader dims, position in writer dims) for every shared dimension, one list per
    /// distinct (reader dims, writer dims) pair: a dense model would otherwise hold one identical
    /// list per edge (32,936 copies of 768 pairs, 400 MB at GPT-2 small).
    pair_lists: Vec<Vec<(usize, usize)>>,
    /// `[layer][head]`.
    pub heads: Vec<Vec<HeadPlan>>,
    /// `[layer]`.
    pub mlps: Vec<MlpPlan>,
    /// The readout as a projection: `[dims, outputs]` (numerical: a one-hot column).
    pub output: ReaderWeights,
}

impl Plan {
    /// Finds the supports and restricts every weight to them.
    pub fn new(model: &Transformer, graph: &EdgeGraph) -> Plan {
        let (writer_dims, reader_dims) = Plan::supports(model, graph);
        let output_matrix = model.readout.output_matrix(model.d_model());

        let mut pair_lists = Vec::new();
        let mut list_of: HashMap<(&[usize], &[usize]), usize> = HashMap::new();
        let edge_pairs = graph
            .edges()
            .iter()
            .map(|edge| {
                let (r, w) = (&reader_dims[edge.reader][..], &writer_dims[edge.writer][..]);
                *list_of.entry((r, w)).or_insert_with(|| {
                    pair_lists.push(shared_positions(r, w));
                    pair_lists.len() - 1
                })
            })
            .collect();
        drop(list_of);

        // A reader's projection on its read dimensions, keeping only the output columns `width`
        // (`None`: all of them).
        let restrict = |reader: usize, bias: ArrayView1<f64>, width: Option<&[usize]>| {
            let (norm, weight) = reader_projection(model, graph.readers()[reader], &output_matrix);
            let weight = weight.select(Axis(0), &reader_dims[reader]);
            match width {
                Some(columns) => ReaderWeights {
                    norm: norm.cloned(),
                    weight: weight.select(Axis(1), columns),
                    bias: bias.select(Axis(0), columns),
                },
                None => ReaderWeights {
                    norm: norm.cloned(),
                    weight,
                    bias: bias.to_owned(),
                },
            }
        };
        let mut heads = Vec::with_capacity(model.num_layers());
        let mut mlps = Vec::with_capacity(model.num_layers());
        for (l, layer) in model.layers.iter().enumerate() {
            let layer_heads = layer
                .heads
                .iter()
                .enumerate()
                .map(|(h, head)| {
                    let dims = &writer_dims[graph.head_writer(l, h)];
                    let stream = |input| graph.head_reader(l, h, input);
                    use crate::graph::HeadInput::{Key, Query, Value};
                    // Tracr pads every head to the widest one. A key column whose query or key
                    // projection is zero adds q·k = 0 to every logit, a value column whose output row
                    // is zero adds 0 to the output: dropping them changes nothing but the sign of a zero.
                    let query_columns =
                        nonzero_columns(head.w_query.view(), Some(head.b_query.view()));
                    let key_columns = nonzero_columns(head.w_key.view(), Some(head.b_key.view()));
                    let key_width: Vec<usize> = query_columns
                        .into_iter()
                        .filter(|c| key_columns.binary_search(c).is_ok())
                        .collect();
                    let value_width = nonzero_rows(&head.w_output);
                    HeadPlan {
                        streams: [
                            restrict(stream(Query), head.b_query.view(), Some(&key_width)),
                            restrict(stream(Key), head.b_key.view(), Some(&key_width)),
                            restrict(stream(Value), head.b_value.view(), Some(&value_width)),
                        ],
                        w_output: head
                            .w_output
                            .select(Axis(0), &value_width)
                            .select(Axis(1), dims),
                        b_output: head.b_output.select(Axis(0), dims),
                    }
                })
                .collect();
            heads.push(layer_heads);
            let dims = &writer_dims[graph.mlp_writer(l)];
            // Hidden units whose output row is zero add 0 to the output (Tracr pads every MLP to the
            // widest one, e.g. 212 units of which 16 are used): dropped like the heads' padding.
            let hidden = nonzero_rows(&layer.mlp.w_out);
            mlps.push(MlpPlan {
                input: restrict(graph.mlp_reader(l), layer.mlp.b_in.view(), Some(&hidden)),
                w_out: layer
                    .mlp
                    .w_out
                    .select(Axis(0), &hidden)
                    .select(Axis(1), dims),
                b_out: layer.mlp.b_out.select(Axis(0), dims),
            });
        }
        let no_bias = Array1::zeros(output_matrix.ncols());
        let output = restrict(graph.output_reader(), no_bias.view(), None);
        Plan {
            writer_dims,
            reader_dims,
            edge_pairs,
            pair_lists,
            heads,
            mlps,
            output,
        }
    }
}

impl Plan {
    /// (position in reader dims, position in writer dims) of every dimension edge `e` carries.
    pub fn edge_pairs(&self, e: usize) -> &[(usize, usize)] {
        &self.pair_lists[self.edge_pairs[e]]
    }

    /// The residual dimensions each writer can write and each reader reads (the plan's supports,
    /// without restricting any weight).
    pub fn supports(model: &Transformer, graph: &EdgeGraph) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let d = model.d_model();
        let all_dims: Vec<usize> = (0..d).collect();
        let writer_dims: Vec<Vec<usize>> = graph
            .writers()
            .iter()
            .map(|writer| match *writer {
                Writer::TokenEmbedding => nonzero_columns(model.token_embedding.view(), None),
                Writer::PositionEmbedding => nonzero_columns(model.position_embedding.view(), None),
                Writer::Head { layer, head } => {
                    let h = &model.layers[layer].heads[head];
                    nonzero_columns(h.w_output.view(), Some(h.b_output.view()))
                }
                Writer::Mlp { layer } => {
                    let m = &model.layers[layer].mlp;
                    nonzero_columns(m.w_out.view(), Some(m.b_out.view()))
                }
            })
            .collect();
        let output_matrix = model.readout.output_matrix(d);
        let reader_dims: Vec<Vec<usize>> = graph
            .readers()
            .iter()
            .map(|reader| {
                let (norm, weight) = reader_projection(model, *reader, &output_matrix);
                if norm.is_some() {
                    // LayerNorm mixes every dimension of its input.
                    all_dims.clone()
                } else {
                    nonzero_rows(weight)
                }
            })
            .collect();
        (writer_dims, reader_dims)
    }
}

/// The LayerNorm and full `[d_model, width]` projection a reader applies to its input.
fn reader_projection<'a>(
    model: &'a Transformer,
    reader: Reader,
    output_matrix: &'a Array2<f64>,
) -> (Option<&'a LayerNorm>, &'a Array2<f64>) {
    use crate::graph::HeadInput;
    match reader {
        Reader::Head { layer, head, input } => {
            let l = &model.layers[layer];
            let h = &l.heads[head];
            let weight = match input {
                HeadInput::Query => &h.w_query,
                HeadInput::Key => &h.w_key,
                HeadInput::Value => &h.w_value,
            };
            (l.ln_attention.as_ref(), weight)
        }
        Reader::Mlp { layer } => {
            let l = &model.layers[layer];
            (l.ln_mlp.as_ref(), &l.mlp.w_in)
        }
        Reader::Output => (model.ln_final.as_ref(), output_matrix),
    }
}

fn nonzero_rows(matrix: &Array2<f64>) -> Vec<usize> {
    (0..matrix.nrows())
        .filter(|&i| matrix.row(i).iter().any(|&v| v != 0.0))
        .collect()
}

fn nonzero_columns(matrix: ArrayView2<f64>, bias: Option<ArrayView1<f64>>) -> Vec<usize> {
    (0..matrix.ncols())
        .filter(|&j| {
            matrix.column(j).iter().any(|&v| v != 0.0) || bias.is_some_and(|b| b[j] != 0.0)
        })
        .collect()
}

fn shared_positions(reader_dims: &[usize], writer_dims: &[usize]) -> Vec<(usize, usize)> {
    reader_dims
        .iter()
        .enumerate()
        .filter_map(|(pr, d)| writer_dims.binary_search(d).ok().map(|pw| (pr, pw)))
        .collect()
}

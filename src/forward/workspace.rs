//! Every per-batch buffer of the masked forward and backward, allocated once per batch size.

use ndarray::{Array2, Array3};

use super::kernels::NormCache;
use super::plan::Plan;
use crate::graph::{EdgeGraph, HeadInput};
use crate::model::Transformer;

/// Per-head buffers.
#[derive(Debug, Clone, Default)]
pub(super) struct HeadBuffers {
    /// Q `[key, B·S]`, K `[key, B·S]`, V `[value, B·S]`.
    pub projected: [Array2<f64>; 3],
    /// Attention probabilities `[B, S(query), S(key)]`, flattened.
    pub probs: Vec<f64>,
    /// `A·V`, `[value, B·S]`.
    pub mixed: Array2<f64>,
    /// ∂L/∂(A·V).
    pub grad_mixed: Array2<f64>,
    /// ∂L/∂Q, ∂L/∂K, ∂L/∂V.
    pub grad_projected: [Array2<f64>; 3],
    /// ∂L/∂probs, then ∂L/∂logits.
    pub scratch: Vec<f64>,
}

/// Per-MLP buffers.
#[derive(Debug, Clone, Default)]
pub(super) struct MlpBuffers {
    /// `W_inᵀ x + b_in`, `[hidden, B·S]`.
    pub pre_activation: Array2<f64>,
    /// `act(pre_activation)`.
    pub activated: Array2<f64>,
    /// ∂L/∂activated, then ∂L/∂pre_activation.
    pub grad_hidden: Array2<f64>,
}

/// Every per-batch buffer, sized for `batch · seq_len` columns and reused across steps.
#[derive(Debug, Clone)]
pub(super) struct Workspace {
    /// Sequences per batch the buffers are sized for.
    pub batch: usize,
    /// `batch · seq_len`.
    pub columns: usize,
    /// Per writer: Δ_w = f_w − X̃_w on its written dimensions.
    pub delta: Vec<Array2<f64>>,
    /// Per writer: ∂L/∂Δ_w.
    pub grad_delta: Vec<Array2<f64>>,
    /// Per writer: X̃_w of the batch (empty under zero ablation).
    pub ablated: Vec<Array2<f64>>,
    /// Per reader: in_r on its read dimensions.
    pub input: Vec<Array2<f64>>,
    /// Per reader: Ã_r of the batch (empty under zero ablation).
    pub ablated_input: Vec<Array2<f64>>,
    /// Per reader with a LayerNorm: LN(in_r).
    pub normed: Vec<Array2<f64>>,
    /// Per reader with a LayerNorm: what its backward needs.
    pub norm_cache: Vec<NormCache>,
    /// Per reader: ∂L/∂(projection input), then ∂L/∂in_r.
    pub grad_input: Vec<Array2<f64>>,
    /// Per head, layer-major.
    pub heads: Vec<HeadBuffers>,
    /// Per layer.
    pub mlps: Vec<MlpBuffers>,
    /// The output `[B, S, outputs]`.
    pub output: Array3<f64>,
    /// (key size, value size) of every head, layer-major.
    pub head_sizes: Vec<(usize, usize)>,
    /// MLP hidden width per layer.
    pub hidden_sizes: Vec<usize>,
    /// Whether X̃ and Ã buffers are needed (not under zero ablation).
    pub has_ablation: bool,
    /// Output channels.
    pub outputs: usize,
}

impl Workspace {
    pub(super) fn new(
        model: &Transformer,
        graph: &EdgeGraph,
        plan: &Plan,
        has_ablation: bool,
        batch: usize,
        seq_len: usize,
    ) -> Workspace {
        let mut workspace = Workspace {
            batch: 0,
            columns: 0,
            delta: Vec::new(),
            grad_delta: Vec::new(),
            ablated: Vec::new(),
            input: Vec::new(),
            ablated_input: Vec::new(),
            normed: Vec::new(),
            norm_cache: Vec::new(),
            grad_input: Vec::new(),
            heads: Vec::new(),
            mlps: Vec::new(),
            output: Array3::zeros((0, 0, 0)),
            // The plan's widths: padding columns are dropped there.
            head_sizes: plan
                .heads
                .iter()
                .flat_map(|l| {
                    l.iter()
                        .map(|h| (h.streams[0].weight.ncols(), h.streams[2].weight.ncols()))
                })
                .collect(),
            hidden_sizes: plan.mlps.iter().map(|m| m.input.weight.ncols()).collect(),
            has_ablation,
            outputs: model.num_outputs(),
        };
        workspace.resize(plan, graph, batch, seq_len);
        workspace
    }

    pub(super) fn resize(&mut self, plan: &Plan, graph: &EdgeGraph, batch: usize, seq_len: usize) {
        let columns = batch * seq_len;
        self.batch = batch;
        self.columns = columns;
        let by_dims = |dims: &Vec<Vec<usize>>| -> Vec<Array2<f64>> {
            dims.iter()
                .map(|d| Array2::zeros((d.len(), columns)))
                .collect()
        };
        self.delta = by_dims(&plan.writer_dims);
        self.grad_delta = by_dims(&plan.writer_dims);
        let no_columns = |dims: &Vec<Vec<usize>>| -> Vec<Array2<f64>> {
            dims.iter().map(|_| Array2::zeros((0, 0))).collect()
        };
        self.ablated = if self.has_ablation {
            by_dims(&plan.writer_dims)
        } else {
            no_columns(&plan.writer_dims)
        };
        self.input = by_dims(&plan.reader_dims);
        self.ablated_input = if self.has_ablation {
            by_dims(&plan.reader_dims)
        } else {
            no_columns(&plan.reader_dims)
        };
        self.grad_input = by_dims(&plan.reader_dims);
        let reader_norm: Vec<bool> = (0..graph.num_readers())
            .map(|r| plan_reader_has_norm(plan, graph, r))
            .collect();
        self.normed = plan
            .reader_dims
            .iter()
            .zip(&reader_norm)
            .map(|(d, &n)| Array2::zeros(if n { (d.len(), columns) } else { (0, 0) }))
            .collect();
        self.norm_cache = plan
            .reader_dims
            .iter()
            .zip(&reader_norm)
            .map(|(d, &n)| {
                if n {
                    NormCache::new(d.len(), columns)
                } else {
                    NormCache::new(0, 0)
                }
            })
            .collect();
        self.heads = self
            .head_sizes
            .iter()
            .map(|&(key, value)| HeadBuffers {
                projected: [
                    Array2::zeros((key, columns)),
                    Array2::zeros((key, columns)),
                    Array2::zeros((value, columns)),
                ],
                probs: vec![0.0; columns * seq_len],
                mixed: Array2::zeros((value, columns)),
                grad_mixed: Array2::zeros((value, columns)),
                grad_projected: [
                    Array2::zeros((key, columns)),
                    Array2::zeros((key, columns)),
                    Array2::zeros((value, columns)),
                ],
                scratch: vec![0.0; columns * seq_len],
            })
            .collect();
        self.mlps = self
            .hidden_sizes
            .iter()
            .map(|&hidden| MlpBuffers {
                pre_activation: Array2::zeros((hidden, columns)),
                activated: Array2::zeros((hidden, columns)),
                grad_hidden: Array2::zeros((hidden, columns)),
            })
            .collect();
        self.output = Array3::zeros((batch, seq_len, self.outputs));
    }
}

fn plan_reader_has_norm(plan: &Plan, graph: &EdgeGraph, reader: usize) -> bool {
    use crate::graph::Reader;
    match graph.readers()[reader] {
        Reader::Head { layer, head, input } => {
            let stream = HeadInput::ALL.iter().position(|i| *i == input).unwrap_or(0);
            plan.heads[layer][head].streams[stream].norm.is_some()
        }
        Reader::Mlp { layer } => plan.mlps[layer].input.norm.is_some(),
        Reader::Output => plan.output.norm.is_some(),
    }
}

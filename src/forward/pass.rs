//! One masked forward and backward pass, component by component, on the workspace buffers.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2};

use super::kernels::{self, AttentionGrads, AttentionShape};
use super::plan::{Plan, ReaderWeights};
use super::workspace::Workspace;
use crate::graph::{EdgeGraph, HeadInput};
use crate::model::Activation;

/// Where `backward` writes the mask gradients.
pub(super) struct MaskGrads<'a> {
    pub edge: &'a mut [f64],
    pub node: &'a mut [f64],
}

/// The mask-independent part of a `MaskedForward`, plus the current masks.
#[derive(Debug, Clone)]
pub(super) struct Core {
    pub graph: EdgeGraph,
    pub plan: Plan,
    pub activation: Activation,
    pub attention_scale: f64,
    pub causal: bool,
    pub seq_len: usize,
    /// Δ of `tok` and `pos` (mask-independent), `[writer dims, N·S]`.
    pub embedding_delta: [Array2<f64>; 2],
    /// X̃ of every writer, `[writer dims, N·S]`; empty for zero ablation.
    pub ablated_writers: Vec<Array2<f64>>,
    /// Ã of every reader, `[reader dims, N·S]`; empty for zero ablation.
    pub ablated_inputs: Vec<Array2<f64>>,
    pub edge_mask: Vec<f64>,
    pub node_mask: Vec<f64>,
}

impl Core {
    pub(super) fn attention_shape(&self, batch: usize) -> AttentionShape {
        AttentionShape {
            batch,
            seq_len: self.seq_len,
            scale: self.attention_scale,
            causal: self.causal,
        }
    }

    /// Copies the batch's mask-independent columns (embedding Δ, X̃, Ã) into the workspace.
    pub(super) fn gather_batch(&self, ws: &mut Workspace, batch: &[usize]) {
        let s = self.seq_len;
        let gather = |source: &Array2<f64>, target: &mut Array2<f64>| {
            for (b, &n) in batch.iter().enumerate() {
                target
                    .slice_mut(s![.., b * s..(b + 1) * s])
                    .assign(&source.slice(s![.., n * s..(n + 1) * s]));
            }
        };
        for w in 0..2 {
            gather(&self.embedding_delta[w], &mut ws.delta[w]);
        }
        for (source, target) in self.ablated_writers.iter().zip(ws.ablated.iter_mut()) {
            gather(source, target);
        }
        for (source, target) in self.ablated_inputs.iter().zip(ws.ablated_input.iter_mut()) {
            gather(source, target);
        }
    }

    /// Fills reader r's input `Ã_r + Σ_w z ζ Δ_w` and applies its LayerNorm; returns the projection's input.
    pub(super) fn read<'w>(
        &self,
        ws: &'w mut Workspace,
        reader: usize,
        weights: &ReaderWeights,
    ) -> &'w Array2<f64> {
        let input = &mut ws.input[reader];
        if self.ablated_inputs.is_empty() {
            input.fill(0.0);
        } else {
            input.assign(&ws.ablated_input[reader]);
        }
        for &e in self.graph.edges_into(reader) {
            let w = self.graph.edges()[e].writer;
            let coefficient = self.edge_mask[e] * self.node_mask[w];
            if coefficient == 0.0 {
                // Adding 0·Δ changes nothing (Δ is finite).
                continue;
            }
            let delta = &ws.delta[w];
            for &(pr, pw) in self.plan.edge_pairs(e) {
                let source = delta.row(pw);
                let mut target = input.row_mut(pr);
                let target = target.as_slice_mut().expect("standard layout");
                for (t, x) in target.iter_mut().zip(row_slice(&source)) {
                    *t += coefficient * x;
                }
            }
        }
        match &weights.norm {
            Some(norm) => {
                kernels::layer_norm_columns(
                    norm,
                    &ws.input[reader],
                    &mut ws.norm_cache[reader],
                    &mut ws.normed[reader],
                );
                &ws.normed[reader]
            }
            None => &ws.input[reader],
        }
    }

    /// Projects reader r's (normed) input: `out = Wᵀ x + b`.
    pub(super) fn read_and_project(
        &self,
        ws: &mut Workspace,
        reader: usize,
        weights: &ReaderWeights,
        out: &mut Array2<f64>,
    ) {
        let input = self.read(ws, reader, weights);
        kernels::matmul_into(weights.weight.t(), input.view(), out);
        kernels::add_row_bias(out, &weights.bias);
    }

    /// Turns the just-written `f_w` in `delta[w]` into `Δ_w = f_w − X̃_w`.
    pub(super) fn subtract_ablated(&self, ws: &mut Workspace, writer: usize) {
        if !self.ablated_writers.is_empty() {
            let (delta, ablated) = (&mut ws.delta[writer], &ws.ablated[writer]);
            *delta -= ablated;
        }
    }

    pub(super) fn head_forward(
        &self,
        ws: &mut Workspace,
        layer: usize,
        head: usize,
        shape: AttentionShape,
    ) {
        let writer = self.graph.head_writer(layer, head);
        if self.plan.writer_dims[writer].is_empty() {
            // W_O and b_O are zero: the head writes exact zeros whatever it reads.
            return;
        }
        let plan = &self.plan.heads[layer][head];
        let index = layer * self.graph.num_heads() + head;
        let mut buffers = std::mem::take(&mut ws.heads[index]);
        for (stream, input_kind) in HeadInput::ALL.into_iter().enumerate() {
            let reader = self.graph.head_reader(layer, head, input_kind);
            self.read_and_project(
                ws,
                reader,
                &plan.streams[stream],
                &mut buffers.projected[stream],
            );
        }
        let [query, key, value] = &buffers.projected;
        kernels::attention_forward(
            shape,
            query,
            key,
            value,
            &mut buffers.probs,
            &mut buffers.mixed,
        );
        kernels::matmul_into(
            plan.w_output.t(),
            buffers.mixed.view(),
            &mut ws.delta[writer],
        );
        kernels::add_row_bias(&mut ws.delta[writer], &plan.b_output);
        ws.heads[index] = buffers;
        self.subtract_ablated(ws, writer);
    }

    pub(super) fn mlp_forward(&self, ws: &mut Workspace, layer: usize) {
        let writer = self.graph.mlp_writer(layer);
        if self.plan.writer_dims[writer].is_empty() {
            return;
        }
        let plan = &self.plan.mlps[layer];
        let mut buffers = std::mem::take(&mut ws.mlps[layer]);
        self.read_and_project(
            ws,
            self.graph.mlp_reader(layer),
            &plan.input,
            &mut buffers.pre_activation,
        );
        let activation = self.activation;
        buffers
            .activated
            .zip_mut_with(&buffers.pre_activation, |a, &x| *a = activation.apply(x));
        kernels::matmul_into(
            plan.w_out.t(),
            buffers.activated.view(),
            &mut ws.delta[writer],
        );
        kernels::add_row_bias(&mut ws.delta[writer], &plan.b_out);
        ws.mlps[layer] = buffers;
        self.subtract_ablated(ws, writer);
    }

    pub(super) fn output_forward(&self, ws: &mut Workspace) {
        let weights = &self.plan.output;
        let mut output = std::mem::take(&mut ws.output);
        let (columns, outputs) = (ws.columns, output.dim().2);
        let input = self.read(ws, self.graph.output_reader(), weights);
        let mut flat = output
            .view_mut()
            .into_shape_with_order((columns, outputs))
            .expect("fresh output is contiguous");
        if input.nrows() == 0 {
            flat.fill(0.0);
        } else {
            general_mat_mul(1.0, &input.t(), &weights.weight, 0.0, &mut flat);
        }
        ws.output = output;
    }

    /// Turns `grad_input[r]` (∂L/∂ projection input) into ∂L/∂in_r, then hands it to the masks and writers.
    pub(super) fn read_backward(
        &self,
        ws: &mut Workspace,
        reader: usize,
        weights: &ReaderWeights,
        grads: &mut MaskGrads<'_>,
    ) {
        if let Some(norm) = &weights.norm {
            kernels::layer_norm_columns_backward(
                norm,
                &ws.norm_cache[reader],
                &mut ws.grad_input[reader],
            );
        }
        let grad_input = &ws.grad_input[reader];
        for &e in self.graph.edges_into(reader) {
            let w = self.graph.edges()[e].writer;
            let pairs = self.plan.edge_pairs(e);
            if pairs.is_empty() {
                continue;
            }
            let delta = &ws.delta[w];
            let mut inner = 0.0;
            for &(pr, pw) in pairs {
                let (g, x) = (grad_input.row(pr), delta.row(pw));
                inner += row_slice(&g)
                    .iter()
                    .zip(row_slice(&x))
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
            }
            let (z, zeta) = (self.edge_mask[e], self.node_mask[w]);
            grads.edge[e] = zeta * inner;
            grads.node[w] += z * inner;
            let coefficient = z * zeta;
            if w < 2 || coefficient == 0.0 {
                // Embeddings have nothing upstream: only their masks need gradients.
                continue;
            }
            let grad_delta = &mut ws.grad_delta[w];
            for &(pr, pw) in pairs {
                let source = grad_input.row(pr);
                let mut target = grad_delta.row_mut(pw);
                let target = target.as_slice_mut().expect("standard layout");
                for (t, g) in target.iter_mut().zip(row_slice(&source)) {
                    *t += coefficient * g;
                }
            }
        }
    }

    pub(super) fn output_backward(
        &self,
        ws: &mut Workspace,
        grad_output: ArrayView2<f64>,
        grads: &mut MaskGrads<'_>,
    ) {
        let reader = self.graph.output_reader();
        kernels::matmul_into(
            self.plan.output.weight.view(),
            grad_output.t(),
            &mut ws.grad_input[reader],
        );
        self.read_backward(ws, reader, &self.plan.output, grads);
    }

    pub(super) fn mlp_backward(&self, ws: &mut Workspace, layer: usize, grads: &mut MaskGrads<'_>) {
        let writer = self.graph.mlp_writer(layer);
        let reader = self.graph.mlp_reader(layer);
        if self.plan.writer_dims[writer].is_empty() {
            // The MLP writes zeros: nothing flows back to its input (kept exact for `edge_inner_products`).
            ws.grad_input[reader].fill(0.0);
            return;
        }
        let plan = &self.plan.mlps[layer];
        let buffers = &mut ws.mlps[layer];
        kernels::matmul_into(
            plan.w_out.view(),
            ws.grad_delta[writer].view(),
            &mut buffers.grad_hidden,
        );
        let activation = self.activation;
        buffers
            .grad_hidden
            .zip_mut_with(&buffers.pre_activation, |g, &x| {
                *g *= activation.derivative(x)
            });
        kernels::matmul_into(
            plan.input.weight.view(),
            buffers.grad_hidden.view(),
            &mut ws.grad_input[reader],
        );
        self.read_backward(ws, reader, &plan.input, grads);
    }

    pub(super) fn head_backward(
        &self,
        ws: &mut Workspace,
        layer: usize,
        head: usize,
        shape: AttentionShape,
        grads: &mut MaskGrads<'_>,
    ) {
        let writer = self.graph.head_writer(layer, head);
        if self.plan.writer_dims[writer].is_empty() {
            // The head writes zeros: nothing flows back to its inputs (kept exact for `edge_inner_products`).
            for input_kind in HeadInput::ALL {
                ws.grad_input[self.graph.head_reader(layer, head, input_kind)].fill(0.0);
            }
            return;
        }
        let index = layer * self.graph.num_heads() + head;
        let plan = &self.plan.heads[layer][head];
        let mut buffers = std::mem::take(&mut ws.heads[index]);
        kernels::matmul_into(
            plan.w_output.view(),
            ws.grad_delta[writer].view(),
            &mut buffers.grad_mixed,
        );
        let [query, key, value] = &buffers.projected;
        let [grad_query, grad_key, grad_value] = &mut buffers.grad_projected;
        kernels::attention_backward(
            shape,
            query,
            key,
            value,
            &buffers.probs,
            &buffers.grad_mixed,
            &mut buffers.scratch,
            AttentionGrads {
                query: grad_query,
                key: grad_key,
                value: grad_value,
            },
        );
        for (stream, input_kind) in HeadInput::ALL.into_iter().enumerate() {
            let reader = self.graph.head_reader(layer, head, input_kind);
            let weights = &plan.streams[stream];
            kernels::matmul_into(
                weights.weight.view(),
                buffers.grad_projected[stream].view(),
                &mut ws.grad_input[reader],
            );
            self.read_backward(ws, reader, weights, grads);
        }
        ws.heads[index] = buffers;
    }
}

fn row_slice<'a>(row: &'a ndarray::ArrayView1<'_, f64>) -> &'a [f64] {
    row.as_slice()
        .expect("rows of standard-layout arrays are contiguous")
}

//! The masked ("disentangled") forward of Edge Pruning and its hand-written backward.
//!
//! Every writer w keeps its own output. A reader r reads
//! `in_r = Σ_w z_{w→r} X_w + (1 − z_{w→r}) X̃_w` with `X_w = ζ_w f_w + (1 − ζ_w) X̃_w`
//! (edge masks z, node masks ζ, ablated states X̃). Rewritten as
//! `in_r = Ã_r + Σ_w z_{w→r} ζ_w Δ_w` with `Ã_r = Σ_w X̃_w` and `Δ_w = f_w − X̃_w`, the part
//! that does not depend on the masks (Ã, the embeddings' Δ) is computed once per dataset, and
//! the mask gradients are `∂L/∂z_{w→r} = ζ_w ⟨G_r, Δ_w⟩`, `∂L/∂ζ_w = Σ_r z_{w→r} ⟨G_r, Δ_w⟩`
//! with `G_r = ∂L/∂in_r`.
//!
//! States are stored dimension-major, `[dims, B·S]`, restricted to the residual dimensions that
//! each writer can write and each reader reads (see `plan`).
//!
//! Memory is `O(N·S·(Σ written dims + Σ read dims))` for the dataset and `O(B·S·…)` per batch:
//! right for compiled models; GPT-2-sized graphs belong on the candle backend.

mod kernels;
mod plan;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, Axis};

use crate::ablation::Ablation;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, HeadInput};
use crate::model::{Activation, OutputKind, Transformer};
use kernels::{AttentionGrads, AttentionShape, NormCache};
use plan::{Plan, ReaderWeights};

/// A transformer bound to a dataset and an ablation, ready to run masked forwards and backwards.
#[derive(Debug, Clone)]
pub struct MaskedForward {
    core: Core,
    workspace: Workspace,
    output_kind: OutputKind,
    num_examples: usize,
    /// The full model's output on every clean example, `[N, S, outputs]`.
    reference: Array3<f64>,
    /// Batch size of the last forward (0 before the first).
    last_batch: usize,
}

impl MaskedForward {
    /// Prepares the masked forward of `model` on the `[N, S]` token ids `inputs` (BOS at position 0) with the given ablation.
    pub fn new(
        model: &Transformer,
        inputs: ArrayView2<usize>,
        ablation: &Ablation,
    ) -> Result<MaskedForward> {
        model.validate()?;
        model.check_token_ids(inputs)?;
        let (num_examples, seq_len) = inputs.dim();
        let graph = EdgeGraph::for_model(model);
        let plan = Plan::new(model, &graph);
        let reference = model.forward(inputs)?;
        let ablated = ablation.writer_states(model, num_examples, seq_len)?;
        let columns = num_examples * seq_len;

        // One writer's `[N, S, D]` states, restricted to `dims`, as `[dims, N·S]`.
        let compact = |states: ArrayView3<f64>, dims: &[usize]| -> Array2<f64> {
            let states = states.as_standard_layout();
            let flat = states
                .view()
                .into_shape_with_order((columns, model.d_model()))
                .expect("standard layout");
            flat.select(Axis(1), dims)
                .reversed_axes()
                .as_standard_layout()
                .into_owned()
        };
        let token_ids: Vec<usize> = inputs.iter().copied().collect();
        let positions: Vec<usize> = (0..columns).map(|c| c % seq_len).collect();
        let clean_embeddings = [
            model.token_embedding.select(Axis(0), &token_ids),
            model.position_embedding.select(Axis(0), &positions),
        ];
        let embedding_delta = [0, 1].map(|w| {
            let dims = &plan.writer_dims[w];
            let mut delta = clean_embeddings[w]
                .select(Axis(1), dims)
                .reversed_axes()
                .as_standard_layout()
                .into_owned();
            if let Some(states) = &ablated {
                delta -= &compact(states.index_axis(Axis(0), w), dims);
            }
            delta
        });
        let (ablated_writers, ablated_inputs) = match &ablated {
            None => (Vec::new(), Vec::new()),
            Some(states) => {
                let writers = (0..graph.num_writers())
                    .map(|w| compact(states.index_axis(Axis(0), w), &plan.writer_dims[w]))
                    .collect();
                let inputs = (0..graph.num_readers())
                    .map(|r| {
                        let dims = &plan.reader_dims[r];
                        let mut sum = Array2::zeros((dims.len(), columns));
                        for &e in graph.edges_into(r) {
                            let w = graph.edges()[e].writer;
                            sum += &compact(states.index_axis(Axis(0), w), dims);
                        }
                        sum
                    })
                    .collect();
                (writers, inputs)
            }
        };
        let workspace = Workspace::new(model, &graph, &plan, ablated.is_some(), 1, seq_len);
        let core = Core {
            edge_mask: vec![1.0; graph.num_edges()],
            node_mask: vec![1.0; graph.num_writers()],
            graph,
            plan,
            activation: model.activation,
            attention_scale: model.attention_scale,
            causal: model.causal,
            seq_len,
            embedding_delta,
            ablated_writers,
            ablated_inputs,
        };
        Ok(MaskedForward {
            core,
            workspace,
            output_kind: model.output_kind(),
            num_examples,
            reference,
            last_batch: 0,
        })
    }

    /// The edge graph whose edge and writer order the masks and gradients use.
    pub fn graph(&self) -> &EdgeGraph {
        &self.core.graph
    }

    /// Number of examples N in the bound dataset.
    pub fn num_examples(&self) -> usize {
        self.num_examples
    }

    /// Sequence length S (BOS included).
    pub fn seq_len(&self) -> usize {
        self.core.seq_len
    }

    /// Categorical or numerical output (decides the metric).
    pub fn output_kind(&self) -> OutputKind {
        self.output_kind
    }

    /// The full (unmasked) model's output on every clean example, `[N, S, outputs]`: the metric's reference.
    pub fn reference(&self) -> &Array3<f64> {
        &self.reference
    }

    /// The reference rows of a batch, `[B, S, outputs]`.
    pub fn reference_batch(&self, batch: &[usize]) -> Array3<f64> {
        self.reference.select(Axis(0), batch)
    }

    /// Residual dimensions each writer can write (writer order); the rest are exactly zero.
    pub fn writer_dims(&self) -> &[Vec<usize>] {
        &self.core.plan.writer_dims
    }

    /// Residual dimensions each reader reads (reader order); every dimension when it has a LayerNorm.
    pub fn reader_dims(&self) -> &[Vec<usize>] {
        &self.core.plan.reader_dims
    }

    /// Masked forward on the examples `batch` (indices into the dataset) with edge masks in graph
    /// edge order and node masks in writer order; returns the output `[B, S, outputs]`.
    /// Keeps what `backward` needs.
    pub fn forward(
        &mut self,
        batch: &[usize],
        edge_mask: &[f64],
        node_mask: &[f64],
    ) -> Result<ArrayView3<'_, f64>> {
        self.check_masks(edge_mask, node_mask)?;
        if batch.is_empty() {
            return Err(Error::Shape {
                what: "batch".into(),
                expected: "at least one example index".into(),
                got: "an empty batch".into(),
            });
        }
        if let Some(&bad) = batch.iter().find(|&&n| n >= self.num_examples) {
            return Err(Error::Shape {
                what: "batch example index".into(),
                expected: format!("< {} (examples in the dataset)", self.num_examples),
                got: bad.to_string(),
            });
        }
        let (core, ws) = (&mut self.core, &mut self.workspace);
        core.edge_mask.copy_from_slice(edge_mask);
        core.node_mask.copy_from_slice(node_mask);
        if ws.batch != batch.len() {
            ws.resize(&core.plan, &core.graph, batch.len(), core.seq_len);
        }
        self.last_batch = batch.len();
        core.gather_batch(ws, batch);
        let shape = core.attention_shape(batch.len());
        for layer in 0..core.graph.num_layers() {
            for head in 0..core.graph.num_heads() {
                core.head_forward(ws, layer, head, shape);
            }
            core.mlp_forward(ws, layer);
        }
        core.output_forward(ws);
        Ok(ws.output.view())
    }

    /// The output of the last forward, `[B, S, outputs]`.
    pub fn output(&self) -> ArrayView3<'_, f64> {
        self.workspace.output.view()
    }

    /// Backward of the last forward: given ∂L/∂output `[B, S, outputs]`, writes ∂L/∂z for every
    /// edge (graph edge order) and ∂L/∂ζ for every writer (writer order).
    pub fn backward(
        &mut self,
        grad_output: ArrayView3<f64>,
        grad_edge_mask: &mut [f64],
        grad_node_mask: &mut [f64],
    ) -> Result<()> {
        if self.last_batch == 0 {
            return Err(Error::InvalidOption {
                option: "backward".into(),
                message: "call forward first; backward differentiates the last forward".into(),
            });
        }
        let (core, ws) = (&self.core, &mut self.workspace);
        if grad_output.dim() != ws.output.dim() {
            return Err(shape_error(
                "grad_output",
                ws.output.shape(),
                grad_output.shape(),
            ));
        }
        let (edges, writers) = (core.graph.num_edges(), core.graph.num_writers());
        if grad_edge_mask.len() != edges || grad_node_mask.len() != writers {
            return Err(Error::Shape {
                what: "gradient buffers (edges, writers)".into(),
                expected: format!("({edges}, {writers})"),
                got: format!("({}, {})", grad_edge_mask.len(), grad_node_mask.len()),
            });
        }
        grad_edge_mask.fill(0.0);
        grad_node_mask.fill(0.0);
        for grad in &mut ws.grad_delta {
            grad.fill(0.0);
        }
        let mut grads = MaskGrads {
            edge: grad_edge_mask,
            node: grad_node_mask,
        };
        let (columns, outputs) = (ws.columns, grad_output.dim().2);
        let grad_output = grad_output.as_standard_layout();
        let grad_output = grad_output
            .view()
            .into_shape_with_order((columns, outputs))
            .expect("standard layout");
        core.output_backward(ws, grad_output, &mut grads);
        let shape = core.attention_shape(self.last_batch);
        for layer in (0..core.graph.num_layers()).rev() {
            core.mlp_backward(ws, layer, &mut grads);
            for head in 0..core.graph.num_heads() {
                core.head_backward(ws, layer, head, shape, &mut grads);
            }
        }
        Ok(())
    }

    fn check_masks(&self, edge_mask: &[f64], node_mask: &[f64]) -> Result<()> {
        let graph = &self.core.graph;
        if edge_mask.len() != graph.num_edges() {
            return Err(shape_error(
                "edge mask",
                &[graph.num_edges()],
                &[edge_mask.len()],
            ));
        }
        if node_mask.len() != graph.num_writers() {
            return Err(shape_error(
                "node mask",
                &[graph.num_writers()],
                &[node_mask.len()],
            ));
        }
        if edge_mask.iter().chain(node_mask).any(|z| !z.is_finite()) {
            return Err(Error::NonFinite {
                what: "edge or node mask".into(),
            });
        }
        Ok(())
    }
}

/// The mask-independent part of a `MaskedForward`, plus the current masks.
#[derive(Debug, Clone)]
struct Core {
    graph: EdgeGraph,
    plan: Plan,
    activation: Activation,
    attention_scale: f64,
    causal: bool,
    seq_len: usize,
    /// Δ of `tok` and `pos` (mask-independent), `[writer dims, N·S]`.
    embedding_delta: [Array2<f64>; 2],
    /// X̃ of every writer, `[writer dims, N·S]`; empty for zero ablation.
    ablated_writers: Vec<Array2<f64>>,
    /// Ã of every reader, `[reader dims, N·S]`; empty for zero ablation.
    ablated_inputs: Vec<Array2<f64>>,
    edge_mask: Vec<f64>,
    node_mask: Vec<f64>,
}

impl Core {
    fn attention_shape(&self, batch: usize) -> AttentionShape {
        AttentionShape {
            batch,
            seq_len: self.seq_len,
            scale: self.attention_scale,
            causal: self.causal,
        }
    }

    /// Copies the batch's mask-independent columns (embedding Δ, X̃, Ã) into the workspace.
    fn gather_batch(&self, ws: &mut Workspace, batch: &[usize]) {
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
    fn read<'w>(
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
            for &(pr, pw) in &self.plan.edge_pairs[e] {
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
    fn read_and_project(
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
    fn subtract_ablated(&self, ws: &mut Workspace, writer: usize) {
        if !self.ablated_writers.is_empty() {
            let (delta, ablated) = (&mut ws.delta[writer], &ws.ablated[writer]);
            *delta -= ablated;
        }
    }

    fn head_forward(&self, ws: &mut Workspace, layer: usize, head: usize, shape: AttentionShape) {
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

    fn mlp_forward(&self, ws: &mut Workspace, layer: usize) {
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

    fn output_forward(&self, ws: &mut Workspace) {
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
    fn read_backward(
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
            let pairs = &self.plan.edge_pairs[e];
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

    fn output_backward(
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

    fn mlp_backward(&self, ws: &mut Workspace, layer: usize, grads: &mut MaskGrads<'_>) {
        let writer = self.graph.mlp_writer(layer);
        if self.plan.writer_dims[writer].is_empty() {
            return;
        }
        let reader = self.graph.mlp_reader(layer);
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

    fn head_backward(
        &self,
        ws: &mut Workspace,
        layer: usize,
        head: usize,
        shape: AttentionShape,
        grads: &mut MaskGrads<'_>,
    ) {
        let writer = self.graph.head_writer(layer, head);
        if self.plan.writer_dims[writer].is_empty() {
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

/// Where `backward` writes the mask gradients.
struct MaskGrads<'a> {
    edge: &'a mut [f64],
    node: &'a mut [f64],
}

fn shape_error(what: &str, expected: &[usize], got: &[usize]) -> Error {
    Error::Shape {
        what: what.to_string(),
        expected: format!("{expected:?}"),
        got: format!("{got:?}"),
    }
}

/// Per-head buffers.
#[derive(Debug, Clone, Default)]
struct HeadBuffers {
    projected: [Array2<f64>; 3],
    probs: Vec<f64>,
    mixed: Array2<f64>,
    grad_mixed: Array2<f64>,
    grad_projected: [Array2<f64>; 3],
    scratch: Vec<f64>,
}

/// Per-MLP buffers.
#[derive(Debug, Clone, Default)]
struct MlpBuffers {
    pre_activation: Array2<f64>,
    activated: Array2<f64>,
    grad_hidden: Array2<f64>,
}

/// Every per-batch buffer, sized for `batch · seq_len` columns and reused across steps.
#[derive(Debug, Clone)]
struct Workspace {
    batch: usize,
    columns: usize,
    delta: Vec<Array2<f64>>,
    grad_delta: Vec<Array2<f64>>,
    ablated: Vec<Array2<f64>>,
    input: Vec<Array2<f64>>,
    ablated_input: Vec<Array2<f64>>,
    normed: Vec<Array2<f64>>,
    norm_cache: Vec<NormCache>,
    grad_input: Vec<Array2<f64>>,
    heads: Vec<HeadBuffers>,
    mlps: Vec<MlpBuffers>,
    output: Array3<f64>,
    /// (key size, value size) of every head, layer-major.
    head_sizes: Vec<(usize, usize)>,
    hidden_sizes: Vec<usize>,
    has_ablation: bool,
    outputs: usize,
}

impl Workspace {
    fn new(
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
            head_sizes: model
                .layers
                .iter()
                .flat_map(|l| {
                    l.heads
                        .iter()
                        .map(|h| (h.w_query.ncols(), h.w_value.ncols()))
                })
                .collect(),
            hidden_sizes: model.layers.iter().map(|l| l.mlp.w_in.ncols()).collect(),
            has_ablation,
            outputs: model.num_outputs(),
        };
        workspace.resize(plan, graph, batch, seq_len);
        workspace
    }

    fn resize(&mut self, plan: &Plan, graph: &EdgeGraph, batch: usize, seq_len: usize) {
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

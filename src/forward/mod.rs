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
mod pass;
mod plan;
mod workspace;

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut3, Axis};

use crate::ablation::Ablation;
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, HeadInput};
use crate::model::{OutputKind, Transformer};
use crate::objective::positions::{weighted_kl, TargetPositions};
use crate::objective::Metric;
use pass::{Core, MaskGrads};
use plan::Plan;
use workspace::Workspace;

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
    /// Whether the reader-input gradients in the workspace belong to the last forward.
    gradients_current: bool,
    /// The reference rows of the last `metric*` batch (reused buffer).
    reference_rows: Array3<f64>,
    /// ∂metric/∂output of the last `metric_and_gradients` call (reused buffer).
    grad_output: Array3<f64>,
    /// When set, the KL counts only these positions (Edge Pruning's GPT-2 tasks); else every position after BOS.
    target_positions: Option<TargetPositions>,
    /// Whether `forward` may keep the workspace states of components whose inputs did not change.
    reuse: bool,
    /// The batch and the per-edge coefficients `z ζ` the workspace's component states were computed
    /// with (`None`: they are stale or were never computed).
    computed_with: Option<(Vec<usize>, Vec<f64>)>,
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
            gradients_current: false,
            reference_rows: Array3::zeros((0, 0, 0)),
            grad_output: Array3::zeros((0, 0, 0)),
            target_positions: None,
            reuse: false,
            computed_with: None,
        })
    }

    /// Lets [`MaskedForward::forward`] skip every component whose inputs are unchanged since the last
    /// forward on the same batch (same coefficient `z ζ` on each of its input edges, and no input writer
    /// recomputed): its workspace state is then exactly what recomputing it would give, so outputs are
    /// bit for bit those of a full forward. Pays off when successive masks differ in a few edges (the
    /// ground-truth certification); training changes every mask each step and leaves this off.
    pub fn set_reuse_unchanged_components(&mut self, reuse: bool) {
        self.reuse = reuse;
        self.computed_with = None;
    }

    /// Makes the KL count only each example's target positions (see [`TargetPositions`]); `None` restores
    /// the default (every position after BOS). Only the KL takes target positions.
    pub fn set_target_positions(&mut self, positions: Option<TargetPositions>) -> Result<()> {
        if let Some(p) = &positions {
            p.check_covers(self.num_examples, self.core.seq_len)?;
        }
        self.target_positions = positions;
        Ok(())
    }

    /// The metric (and, given a buffer, its output gradient) of the last forward against `reference_rows`.
    fn evaluate_metric(
        &self,
        metric: Metric,
        batch: &[usize],
        grad_output: Option<ArrayViewMut3<f64>>,
    ) -> Result<f64> {
        let output = self.workspace.output.view();
        let reference = self.reference_rows.view();
        match (&self.target_positions, metric, grad_output) {
            (Some(positions), Metric::Kl, grad) => {
                weighted_kl(output, reference, positions.rows(batch).view(), grad)
            }
            (Some(_), Metric::Mse, _) => Err(Error::InvalidOption {
                option: "metric".into(),
                message: "target positions are defined for the KL only; use --metric kl".into(),
            }),
            (None, metric, Some(grad)) => {
                metric.value_and_gradient(self.output_kind, output, reference, grad)
            }
            (None, metric, None) => metric.value(self.output_kind, output, reference),
        }
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
        let previous = self.computed_with.take();
        self.prepare(batch, edge_mask, node_mask)?;
        let (core, ws) = (&mut self.core, &mut self.workspace);
        let coefficients: Vec<f64> = core
            .graph
            .edges()
            .iter()
            .enumerate()
            .map(|(e, edge)| core.edge_mask[e] * core.node_mask[edge.writer])
            .collect();
        // Writers recomputed in this forward; `None`: every component runs.
        let mut recomputed = match previous {
            Some((last_batch, last)) if self.reuse && last_batch == batch => {
                Some((vec![false; core.graph.num_writers()], last))
            }
            _ => None,
        };
        // A component must run when one of its input edges changed coefficient or reads a writer that ran.
        let mut must_run = |core: &Core, readers: &[usize], writer: usize| -> bool {
            let Some((ran, last)) = recomputed.as_mut() else {
                return true;
            };
            let run = readers.iter().any(|&r| {
                core.graph.edges_into(r).iter().any(|&e| {
                    coefficients[e] != last[e]
                        || (coefficients[e] != 0.0 && ran[core.graph.edges()[e].writer])
                })
            });
            ran[writer] = run;
            run
        };
        let shape = core.attention_shape(batch.len());
        for layer in 0..core.graph.num_layers() {
            for head in 0..core.graph.num_heads() {
                let readers =
                    HeadInput::ALL.map(|input| core.graph.head_reader(layer, head, input));
                if must_run(core, &readers, core.graph.head_writer(layer, head)) {
                    core.head_forward(ws, layer, head, shape);
                }
            }
            let reader = core.graph.mlp_reader(layer);
            if must_run(core, &[reader], core.graph.mlp_writer(layer)) {
                core.mlp_forward(ws, layer);
            }
        }
        core.output_forward(ws);
        if self.reuse {
            self.computed_with = Some((batch.to_vec(), coefficients));
        }
        Ok(self.workspace.output.view())
    }

    /// The output with every edge ablated on the examples `batch`, `[B, S, outputs]`: `resid_post` reads
    /// only `Ã = Σ_w X̃_w`, so no component runs. Not differentiable (`backward` refuses to follow it).
    pub fn ablated_output(&mut self, batch: &[usize]) -> Result<ArrayView3<'_, f64>> {
        let edges = vec![0.0; self.core.graph.num_edges()];
        let nodes = vec![1.0; self.core.graph.num_writers()];
        // Components do not run: their workspace states no longer match the masks.
        self.computed_with = None;
        self.prepare(batch, &edges, &nodes)?;
        self.last_batch = 0;
        let (core, ws) = (&self.core, &mut self.workspace);
        core.output_forward(ws);
        Ok(ws.output.view())
    }

    /// Checks the batch and masks, sets the masks and gathers the batch's mask-independent columns.
    fn prepare(&mut self, batch: &[usize], edge_mask: &[f64], node_mask: &[f64]) -> Result<()> {
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
        self.gradients_current = false;
        core.gather_batch(ws, batch);
        Ok(())
    }

    /// The output of the last forward, `[B, S, outputs]`.
    pub fn output(&self) -> ArrayView3<'_, f64> {
        self.workspace.output.view()
    }

    /// The metric of the masked model against the full model on the examples `batch`.
    pub fn metric(
        &mut self,
        metric: Metric,
        batch: &[usize],
        edge_mask: &[f64],
        node_mask: &[f64],
    ) -> Result<f64> {
        self.forward(batch, edge_mask, node_mask)?;
        self.gather_reference(batch);
        self.evaluate_metric(metric, batch, None)
    }

    /// Forward, metric against the full model, and backward in one call: returns the metric and
    /// writes ∂metric/∂z (edge order) and ∂metric/∂ζ (writer order). The training step's core.
    pub fn metric_and_gradients(
        &mut self,
        metric: Metric,
        batch: &[usize],
        edge_mask: &[f64],
        node_mask: &[f64],
        grad_edge_mask: &mut [f64],
        grad_node_mask: &mut [f64],
    ) -> Result<f64> {
        self.forward(batch, edge_mask, node_mask)?;
        self.gather_reference(batch);
        let mut grad_output = std::mem::take(&mut self.grad_output);
        if grad_output.dim() != self.workspace.output.dim() {
            grad_output = Array3::zeros(self.workspace.output.dim());
        }
        let result = self
            .evaluate_metric(metric, batch, Some(grad_output.view_mut()))
            .and_then(|value| {
                self.backward(grad_output.view(), grad_edge_mask, grad_node_mask)?;
                Ok(value)
            });
        self.grad_output = grad_output;
        result
    }

    /// Copies the reference rows of `batch` into the reused buffer.
    fn gather_reference(&mut self, batch: &[usize]) {
        let (_, seq_len, outputs) = self.reference.dim();
        if self.reference_rows.dim() != (batch.len(), seq_len, outputs) {
            self.reference_rows = Array3::zeros((batch.len(), seq_len, outputs));
        }
        for (mut row, &n) in self.reference_rows.outer_iter_mut().zip(batch) {
            row.assign(&self.reference.index_axis(Axis(0), n));
        }
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
        self.gradients_current = true;
        Ok(())
    }

    /// Δ_w = X_w − X̃_w of every writer in the last forward (writer order, on its written dimensions):
    /// a snapshot for [`MaskedForward::edge_inner_products`] (EAP-IG dots later runs' gradients with it).
    pub fn writer_deltas(&self) -> Result<WriterDeltas> {
        if self.last_batch == 0 {
            return Err(Error::InvalidOption {
                option: "writer_deltas".into(),
                message: "call forward first; the deltas are those of the last forward".into(),
            });
        }
        Ok(WriterDeltas {
            columns: self.workspace.columns,
            deltas: self.workspace.delta.clone(),
        })
    }

    /// For every edge w→r (graph edge order), `⟨G_r, Δ_w⟩` with `G_r = ∂L/∂in_r` from the last backward
    /// and `Δ_w` from `deltas` (a snapshot of the same batch, possibly of another forward).
    /// With `deltas` of the last forward and every node mask 1 this is the edge-mask gradient.
    pub fn edge_inner_products(&self, deltas: &WriterDeltas, out: &mut [f64]) -> Result<()> {
        if !self.gradients_current {
            return Err(Error::InvalidOption {
                option: "edge_inner_products".into(),
                message: "call forward then backward first; it reads the last backward's gradients"
                    .into(),
            });
        }
        let (core, ws) = (&self.core, &self.workspace);
        if deltas.columns != ws.columns {
            return Err(shape_error(
                "writer deltas (batch · seq_len columns)",
                &[ws.columns],
                &[deltas.columns],
            ));
        }
        if out.len() != core.graph.num_edges() {
            return Err(shape_error(
                "edge inner products",
                &[core.graph.num_edges()],
                &[out.len()],
            ));
        }
        for (e, (edge, slot)) in core.graph.edges().iter().zip(out.iter_mut()).enumerate() {
            let (grad, delta) = (&ws.grad_input[edge.reader], &deltas.deltas[edge.writer]);
            *slot = core
                .plan
                .edge_pairs(e)
                .iter()
                .map(|&(pr, pw)| grad.row(pr).dot(&delta.row(pw)))
                .sum();
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

/// Every writer's Δ_w of one forward, as [`MaskedForward::writer_deltas`] returns it.
#[derive(Debug, Clone)]
pub struct WriterDeltas {
    columns: usize,
    deltas: Vec<Array2<f64>>,
}

fn shape_error(what: &str, expected: &[usize], got: &[usize]) -> Error {
    Error::Shape {
        what: what.to_string(),
        expected: format!("{expected:?}"),
        got: format!("{got:?}"),
    }
}

/// Residual dimensions each writer can make non-zero (writer order) and each reader reads (reader order),
/// from the weights alone: the support the masked forward restricts itself to.
pub fn residual_supports(model: &Transformer) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    Plan::supports(model, &EdgeGraph::for_model(model))
}

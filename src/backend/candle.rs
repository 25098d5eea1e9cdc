//! The candle backend: the same masked forward, metric and regulariser as the reference, differentiated by
//! candle's autograd (`Var` + `backward()`), in f32 or f64, on the CPU or (with `--features cuda`) a GPU.
//!
//! One generic code path serves every device, so the CPU tests cover the logic the CUDA build runs.
//! The readers of a layer are vectorised: the heads' inputs are one matrix product of the layer's mask block
//! `[3H, writers]` with the writer differences `[writers, B·S·D]`, and every head of a layer runs in
//! batched products (one `[3H]` q/k/v projection, `[H·B]` attention). Each LayerNorm's gain and
//! bias are folded into the projection it feeds; on the CPU the normalisation and that projection are one
//! op with a hand-written backward ([`normalized_product`]), and so is GELU ([`gelu`]).
//! Products with the model's (frozen) weights go through [`frozen_matmul`], whose backward computes the
//! gradient of the activations only: the masks are the only parameters. The readers' mixing products are
//! one op (`backend::product::mix`); on the CPU these products run in pieces over the thread pool.

use candle_core::{DType, Device, Tensor, Var, D};
use ndarray::{s, Array1, Array2, Array3, Array4, ArrayView2, Axis};

use crate::ablation::Ablation;
use crate::backend::frozen::frozen_matmul;
use crate::backend::gelu::gelu;
use crate::backend::layer_norm::{normalized_mix, normalized_product};
use crate::backend::product::mix;
use crate::backend::{AttributionBackend, Backend, Lambdas, StepRequest, StepResult};
use crate::error::{Error, Result};
use crate::graph::{EdgeGraph, HeadInput};
use crate::masks::hard_concrete::{LIMIT_LEFT, LIMIT_RIGHT, TEMPERATURE};
use crate::model::{Activation, LayerNorm, OutputKind, Transformer};
use crate::objective::metric::{LinearMetric, Metric};
use crate::objective::positions::TargetPositions;

/// Large negative logit for masked (future) keys: exp underflows to exactly 0 in f32 and f64.
const MASKED_LOGIT: f64 = -1e30;

/// Where the backend computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandleDevice {
    /// The CPU.
    Cpu,
    /// CUDA GPU `ordinal` (needs a build with `--features cuda`).
    Cuda(usize),
}

fn candle_error(error: candle_core::Error) -> Error {
    Error::InvalidOption {
        option: "candle backend".into(),
        message: error.to_string(),
    }
}

trait CandleResult<T> {
    fn ce(self) -> Result<T>;
}

impl<T> CandleResult<T> for candle_core::Result<T> {
    fn ce(self) -> Result<T> {
        self.map_err(candle_error)
    }
}

/// The candle device for a choice, or a typed error saying how to get CUDA.
pub fn device(choice: CandleDevice) -> Result<Device> {
    match choice {
        CandleDevice::Cpu => Ok(Device::Cpu),
        CandleDevice::Cuda(ordinal) => {
            if !cfg!(feature = "cuda") {
                return Err(Error::InvalidOption {
                    option: "--device cuda".into(),
                    message: "this binary was built without CUDA; rebuild with `cargo build --release --features cuda` on a machine with nvcc".into(),
                });
            }
            Device::new_cuda(ordinal).ce()
        }
    }
}

/// A reader's projection with its LayerNorm folded in: `LN(x)·W + b = n(x)·(diag(γ)·W) + (β·W + b)` with
/// `n(x) = (x − mean) / sqrt(var + ε)`, so the scaled and shifted copy of every reader input is never built.
#[derive(Debug, Clone)]
struct Projection {
    /// `[readers, D, width]` (or `[D, width]` for a single reader).
    weight: Tensor,
    /// `[readers, 1, width]` (or `[width]`).
    bias: Tensor,
    /// The LayerNorm's ε; `None` when the reader has no LayerNorm.
    epsilon: Option<f64>,
}

#[derive(Debug, Clone)]
struct Layer {
    /// Query, key and value projections of every head, `[3H, D, width]` (q of every head, then k, then
    /// v; `width` the widest of them, narrower ones zero-padded): one product for every head reader, so
    /// the backward never pads a part of the readers' inputs back to the whole.
    query_key_value: Projection,
    /// Output projections `[H, width, D]` (zero rows for padded value columns).
    w_output: Tensor,
    /// `[H, 1, D]`.
    b_output: Tensor,
    /// MLP input projection `[D, hidden]`.
    mlp_in: Projection,
    w_out: Tensor,
    b_out: Tensor,
    /// Edge indices of the layer's head readers, `[3H · writers]`: q of every head, then k, then v.
    head_edges: Tensor,
    /// Edge indices of the MLP reader, `[writers]`.
    mlp_edges: Tensor,
}

/// [`Backend`] on candle with autograd.
#[derive(Debug)]
pub struct CandleBackend {
    device: Device,
    dtype: DType,
    graph: EdgeGraph,
    layers: Vec<Layer>,
    num_heads: usize,
    token_embedding: Tensor,
    position_embedding: Tensor,
    /// The readout with `ln_f` folded in, `[D, outputs]`.
    readout: Projection,
    output_kind: OutputKind,
    output_edges: Tensor,
    attention_scale: f64,
    causal: bool,
    activation: Activation,
    metric: Metric,
    clean: Array2<usize>,
    /// Ablated writer states `[W, N, S, D]` (None for zero ablation).
    ablated: Option<Array4<f64>>,
    /// The full model's output on every clean example, `[N, S, outputs]` (the f64 reference's).
    reference: Array3<f64>,
    /// The clean run's writer differences of the last batch EAP-IG interpolated on.
    clean_deltas: Option<(Vec<usize>, Vec<Tensor>)>,
    /// When set, the KL counts only these positions (Edge Pruning's GPT-2 tasks).
    target_positions: Option<TargetPositions>,
}

impl CandleBackend {
    /// Makes the KL count only each example's target positions (see [`TargetPositions`]); `None` restores
    /// the default (every position after BOS).
    pub fn set_target_positions(&mut self, positions: Option<TargetPositions>) -> Result<()> {
        if let Some(p) = &positions {
            p.check_covers(self.clean.nrows(), self.clean.ncols())?;
            if self.metric != Metric::Kl {
                return Err(Error::InvalidOption {
                    option: "metric".into(),
                    message: "target positions are defined for the KL only; use --metric kl".into(),
                });
            }
        }
        self.target_positions = positions;
        Ok(())
    }

    /// The masked output `[B, S, outputs]` on `batch` for fixed edge and node masks (as f64).
    pub fn masked_output(
        &mut self,
        batch: &[usize],
        edge_mask: &[f64],
        node_mask: &[f64],
    ) -> Result<Array3<f64>> {
        self.check_fixed_masks(batch, edge_mask, node_mask)?;
        let output = self.forward(batch, &self.vector(edge_mask)?, &self.vector(node_mask)?)?;
        let dims = output.dims3().ce()?;
        let values = output
            .to_dtype(DType::F64)
            .and_then(|o| o.flatten_all())
            .and_then(|o| o.to_vec1::<f64>())
            .ce()?;
        Ok(Array3::from_shape_vec(dims, values).expect("dims of the tensor"))
    }

    /// The metric on `batch` for fixed masks and its gradients with respect to every edge mask (graph
    /// order) and node mask (writer order): what the reference's `metric_and_gradients` returns.
    pub fn metric_and_mask_gradients(
        &mut self,
        batch: &[usize],
        edge_mask: &[f64],
        node_mask: &[f64],
    ) -> Result<(f64, Vec<f64>, Vec<f64>)> {
        self.check_fixed_masks(batch, edge_mask, node_mask)?;
        let edge_z = Var::from_tensor(&self.vector(edge_mask)?).ce()?;
        let node_z = Var::from_tensor(&self.vector(node_mask)?).ce()?;
        let output = self.forward(batch, edge_z.as_tensor(), node_z.as_tensor())?;
        let metric = self.metric_of(&output, batch)?;
        let grads = metric.backward().ce()?;
        let grad_of = |v: &Var, n: usize| -> Result<Vec<f64>> {
            match grads.get(v.as_tensor()) {
                Some(g) => vec_f64(g),
                None => Ok(vec![0.0; n]),
            }
        };
        Ok((
            scalar_f64(&metric)?,
            grad_of(&edge_z, edge_mask.len())?,
            grad_of(&node_z, node_mask.len())?,
        ))
    }

    fn check_fixed_masks(
        &self,
        batch: &[usize],
        edge_mask: &[f64],
        node_mask: &[f64],
    ) -> Result<()> {
        let (e, w) = (self.graph.num_edges(), self.graph.num_writers());
        if edge_mask.len() != e || node_mask.len() != w {
            return Err(Error::Shape {
                what: "edge and node masks".into(),
                expected: format!("({e}, {w})"),
                got: format!("({}, {})", edge_mask.len(), node_mask.len()),
            });
        }
        match batch.iter().find(|&&n| n >= self.clean.nrows()) {
            Some(bad) => Err(Error::Shape {
                what: "batch example index".into(),
                expected: format!("< {} (examples in the dataset)", self.clean.nrows()),
                got: bad.to_string(),
            }),
            None if batch.is_empty() => Err(Error::Shape {
                what: "batch".into(),
                expected: "at least one example index".into(),
                got: "an empty batch".into(),
            }),
            None => Ok(()),
        }
    }

    /// A backend for `model` on the `[N, S]` clean token ids, pruned under `ablation`, in `dtype` on `device`.
    pub fn new(
        model: &Transformer,
        inputs: ArrayView2<usize>,
        ablation: &Ablation,
        metric: Metric,
        dtype: DType,
        device: CandleDevice,
    ) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Err(Error::InvalidOption {
                option: "dtype".into(),
                message: format!("{dtype:?}; use f32 or f64"),
            });
        }
        model.validate()?;
        model.check_token_ids(inputs)?;
        let device = self::device(device)?;
        let (num_examples, seq_len) = inputs.dim();
        let graph = EdgeGraph::for_model(model);
        let reference = model.forward(inputs)?;
        let ablated = ablation.writer_states(model, num_examples, seq_len)?;
        let upload2 = |a: &Array2<f64>| {
            tensor(
                a.as_standard_layout().as_slice().unwrap(),
                a.dim(),
                dtype,
                &device,
            )
        };
        let upload1 = |a: &Array1<f64>| {
            Tensor::from_slice(a.as_slice().unwrap(), a.len(), &device)
                .and_then(|t| t.to_dtype(dtype))
                .ce()
        };
        let single = |norm: Option<&LayerNorm>, w: &Array2<f64>, b: &Array1<f64>| {
            let (w, b) = fold(norm, w, b, w.ncols());
            Ok::<_, Error>(Projection {
                weight: upload2(&w)?,
                bias: upload1(&b)?,
                epsilon: norm.map(|n| n.epsilon),
            })
        };
        let indices = |edges: Vec<u32>| Tensor::from_vec(edges.clone(), edges.len(), &device).ce();
        let num_heads = model.num_heads();
        let d = model.d_model();
        let mut layers = Vec::with_capacity(model.num_layers());
        for (l, layer) in model.layers.iter().enumerate() {
            let width = layer
                .heads
                .iter()
                .map(|h| h.w_query.ncols().max(h.w_value.ncols()))
                .max()
                .unwrap_or(0);
            let ln = layer.ln_attention.as_ref();
            let batched = |parts: Vec<(Array2<f64>, Array1<f64>)>| -> Result<Projection> {
                let (weights, biases): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
                let biases: Vec<Array2<f64>> =
                    biases.into_iter().map(|b| b.insert_axis(Axis(0))).collect();
                Ok(Projection {
                    weight: upload_stack(&weights, dtype, &device)?,
                    bias: upload_stack(&biases, dtype, &device)?,
                    epsilon: ln.map(|n| n.epsilon),
                })
            };
            let heads = &layer.heads;
            let query_key_value = batched(
                (heads
                    .iter()
                    .map(|h| fold(ln, &h.w_query, &h.b_query, width)))
                .chain(heads.iter().map(|h| fold(ln, &h.w_key, &h.b_key, width)))
                .chain(
                    heads
                        .iter()
                        .map(|h| fold(ln, &h.w_value, &h.b_value, width)),
                )
                .collect(),
            )?;
            // Zero rows for padded value columns: they multiply exact zeros.
            let outputs: Vec<Array2<f64>> = layer
                .heads
                .iter()
                .map(|h| {
                    let mut w = Array2::zeros((width, d));
                    w.slice_mut(s![..h.w_output.nrows(), ..])
                        .assign(&h.w_output);
                    w
                })
                .collect();
            let output_biases: Vec<Array2<f64>> = layer
                .heads
                .iter()
                .map(|h| h.b_output.clone().insert_axis(Axis(0)))
                .collect();
            let mut head_edges = Vec::new();
            for input in [HeadInput::Query, HeadInput::Key, HeadInput::Value] {
                for h in 0..num_heads {
                    let reader = graph.head_reader(l, h, input);
                    head_edges.extend(graph.edges_into(reader).iter().map(|&e| e as u32));
                }
            }
            let mlp_edges = graph
                .edges_into(graph.mlp_reader(l))
                .iter()
                .map(|&e| e as u32)
                .collect();
            layers.push(Layer {
                query_key_value,
                w_output: upload_stack(&outputs, dtype, &device)?,
                b_output: upload_stack(&output_biases, dtype, &device)?,
                mlp_in: single(layer.ln_mlp.as_ref(), &layer.mlp.w_in, &layer.mlp.b_in)?,
                w_out: upload2(&layer.mlp.w_out)?,
                b_out: upload1(&layer.mlp.b_out)?,
                head_edges: indices(head_edges)?,
                mlp_edges: indices(mlp_edges)?,
            });
        }
        let readout_matrix = model.readout.output_matrix(model.d_model());
        let no_bias = Array1::zeros(readout_matrix.ncols());
        let output_edges = graph
            .edges_into(graph.output_reader())
            .iter()
            .map(|&e| e as u32)
            .collect();
        Ok(Self {
            token_embedding: upload2(&model.token_embedding)?,
            position_embedding: upload2(&model.position_embedding)?,
            readout: single(model.ln_final.as_ref(), &readout_matrix, &no_bias)?,
            output_kind: model.output_kind(),
            output_edges: indices(output_edges)?,
            attention_scale: model.attention_scale,
            causal: model.causal,
            activation: model.activation,
            metric,
            clean: inputs.to_owned(),
            ablated,
            reference,
            clean_deltas: None,
            target_positions: None,
            layers,
            num_heads,
            graph,
            dtype,
            device,
        })
    }

    /// The masked forward on `batch`: output `[B, S, outputs]`, differentiable in `edge_z` and `node_z`.
    fn forward(&self, batch: &[usize], edge_z: &Tensor, node_z: &Tensor) -> Result<Tensor> {
        Ok(self.forward_probed(batch, edge_z, node_z, None)?.0)
    }

    /// [`CandleBackend::forward`] that also returns every writer's difference `X_w − X̃_w` (`[B·S·D]` each),
    /// and, given a `probe` (ε per edge, all 0, and fixed writer differences Δ'), adds `Σ_w ε_{w→r} Δ'_w` to
    /// each reader's input: `∂m/∂ε_{w→r} = ⟨∂m/∂in_r, Δ'_w⟩` without changing any value.
    fn forward_probed(
        &self,
        batch: &[usize],
        edge_z: &Tensor,
        node_z: &Tensor,
        probe: Option<(&Tensor, &[Tensor])>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, s) = (batch.len(), self.clean.ncols());
        let d = self.token_embedding.dim(1).ce()?;
        let m = b * s;
        let h_count = self.num_heads;
        let ids: Vec<u32> = batch
            .iter()
            .flat_map(|&n| {
                self.clean
                    .row(n)
                    .iter()
                    .map(|&t| t as u32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let ids = Tensor::from_vec(ids, m, &self.device).ce()?;
        let token = self.token_embedding.index_select(&ids, 0).ce()?;
        let positions = self
            .position_embedding
            .narrow(0, 0, s)
            .and_then(|p| p.unsqueeze(0))
            .and_then(|p| p.broadcast_as((b, s, d)))
            .and_then(|p| p.reshape((m, d)))
            .ce()?;
        // Ablated states of this batch, `[W, M, D]`.
        let ablated = match &self.ablated {
            None => None,
            Some(states) => {
                let rows = states.select(Axis(1), batch);
                Some(tensor(
                    rows.as_standard_layout().as_slice().unwrap(),
                    (states.dim().0, m, d),
                    self.dtype,
                    &self.device,
                )?)
            }
        };
        // The differences Δ_w = X_w − X̃_w = ζ_w (f_w − X̃_w) of the writers `first..first + count`, from
        // their clean outputs `[count, M, D]`, as one `[count, M·D]` group of the outbox.
        let deltas_of = |first: usize, clean: Tensor| -> Result<Tensor> {
            let count = clean.dim(0).ce()?;
            let zeta = node_z
                .narrow(0, first, count)
                .and_then(|z| z.reshape((count, 1, 1)))
                .ce()?;
            let difference = match &ablated {
                None => clean,
                Some(a) => (clean - a.narrow(0, first, count).ce()?).ce()?,
            };
            difference
                .broadcast_mul(&zeta)
                .and_then(|x| x.reshape((count, m * d)))
                .ce()
        };
        // The outbox: the writers' Δ in writer order, kept as the groups they were computed in (the two
        // embeddings, then per layer its heads and its MLP), so no read copies all of it more than once.
        let embeddings = Tensor::stack(&[token, positions], 0).ce()?;
        let mut groups: Vec<Tensor> = vec![deltas_of(0, embeddings)?];
        // Σ_w X̃_w over the first n writers (what an all-ablated reader sees).
        // Running sums of the ablated states, built once per forward rather than once per read.
        let ablated_prefix: Option<Vec<Tensor>> = match &ablated {
            None => None,
            Some(a) => {
                let mut sums: Vec<Tensor> = Vec::with_capacity(a.dim(0).ce()?);
                for w in 0..a.dim(0).ce()? {
                    let state = a.get(w).ce()?;
                    let next = match sums.last() {
                        None => state,
                        Some(previous) => (previous + state).ce()?,
                    };
                    sums.push(next);
                }
                Some(sums)
            }
        };
        // in_r = Ã_r + Σ_w z_{w→r} Δ_w for `readers` readers whose edges (in writer order) are `edges`:
        // `[readers, M, D]`, or `[M, D]` for a single reader. The products are made in that shape (no
        // reshape after them, whose backward would copy the gradient once more).
        let read = |edges: &Tensor, readers: usize, groups: &[Tensor]| -> Result<Tensor> {
            let n: usize = groups.iter().map(|g| g.dims()[0]).sum();
            let block = edge_z
                .index_select(edges, 0)
                .and_then(|z| z.reshape((readers, n)))
                .ce()?;
            let shape: Vec<usize> = if readers == 1 {
                vec![m, d]
            } else {
                vec![readers, m, d]
            };
            let mut mixed = if readers == 1 {
                // One reader: a sum of one product per group, so the outbox is not copied into a stack.
                let mut offset = 0;
                let mut sum: Option<Tensor> = None;
                for group in groups {
                    let count = group.dims()[0];
                    let part = block
                        .narrow(1, offset, count)
                        .and_then(|z| z.contiguous())
                        .and_then(|z| mix(&z, group, shape.as_slice()))
                        .ce()?;
                    sum = Some(match sum {
                        None => part,
                        Some(total) => (total + part).ce()?,
                    });
                    offset += count;
                }
                sum.expect("the embeddings group is always there")
            } else {
                mix(&block, &Tensor::cat(groups, 0).ce()?, shape.as_slice()).ce()?
            };
            if let Some((epsilon, fixed)) = probe {
                let probe_block = epsilon
                    .index_select(edges, 0)
                    .and_then(|z| z.reshape((readers, n)))
                    .ce()?;
                let fixed = Tensor::stack(&fixed[..n], 0).ce()?;
                let probed = probe_block
                    .matmul(&fixed)
                    .and_then(|p| p.reshape(shape.as_slice()))
                    .ce()?;
                mixed = (mixed + probed).ce()?;
            }
            match &ablated_prefix {
                None => Ok(mixed),
                Some(sums) => mixed.broadcast_add(&sums[n - 1]).ce(),
            }
        };
        let causal_mask = if self.causal {
            let mask: Vec<f64> = (0..s * s)
                .map(|i| if i % s > i / s { MASKED_LOGIT } else { 0.0 })
                .collect();
            Some(tensor(&mask, (s, s), self.dtype, &self.device)?)
        } else {
            None
        };
        for (l, layer) in self.layers.iter().enumerate() {
            // Every head of the layer at once: q, k and v inputs `[3H, M, D]`, projected to `[3H, M, width]`.
            let qkv = &layer.query_key_value;
            let projected = match qkv.epsilon {
                // The mixing, LayerNorm and projection as one op (see `normalized_mix`) when the inputs
                // are the mixing alone (no probe, no ablated states to add).
                Some(epsilon) if probe.is_none() && ablated_prefix.is_none() => {
                    let n: usize = groups.iter().map(|g| g.dims()[0]).sum();
                    let block = edge_z
                        .index_select(&layer.head_edges, 0)
                        .and_then(|z| z.reshape((3 * h_count, n)))
                        .ce()?;
                    let outbox = Tensor::cat(&groups, 0).ce()?;
                    normalized_mix(&block, &outbox, &qkv.weight, (m, d), epsilon)
                        .and_then(|p| p.broadcast_add(&qkv.bias))
                        .ce()?
                }
                _ => project(&read(&layer.head_edges, 3 * h_count, &groups)?, qkv)?,
            };
            let width = projected.dim(2).ce()?;
            let part = |first: usize| {
                projected
                    .narrow(0, first * h_count, h_count)
                    .and_then(|x| x.reshape((h_count * b, s, width)))
                    .ce()
            };
            let (q, v) = (part(0)?, part(2)?);
            let k = part(1)?.transpose(1, 2).and_then(|k| k.contiguous()).ce()?;
            let mut logits = q
                .matmul(&k)
                .and_then(|x| x.affine(self.attention_scale, 0.0))
                .ce()?;
            if let Some(mask) = &causal_mask {
                logits = logits.broadcast_add(mask).ce()?;
            }
            let probs = softmax_last(&logits)?;
            let outputs = probs
                .matmul(&v)
                .and_then(|x| x.reshape((h_count, m, width)))
                .and_then(|x| frozen_matmul(&x, &layer.w_output))
                .and_then(|x| x.broadcast_add(&layer.b_output))
                .ce()?;
            groups.push(deltas_of(self.graph.head_writer(l, 0), outputs)?);
            let x = read(&layer.mlp_edges, 1, &groups)?;
            let hidden = activation(&project(&x, &layer.mlp_in)?, self.activation)?;
            let out = linear(&hidden, &layer.w_out, &layer.b_out)?
                .unsqueeze(0)
                .ce()?;
            groups.push(deltas_of(self.graph.mlp_writer(l), out)?);
        }
        let x = read(&self.output_edges, 1, &groups)?;
        let outputs = self.readout.weight.dim(1).ce()?;
        let output = project(&x, &self.readout)?.reshape((b, s, outputs)).ce()?;
        let mut deltas = Vec::new();
        for group in &groups {
            for i in 0..group.dims()[0] {
                deltas.push(group.get(i).ce()?);
            }
        }
        Ok((output, deltas))
    }

    /// The metric of an output against the reference rows of `batch`.
    fn metric_of(&self, output: &Tensor, batch: &[usize]) -> Result<Tensor> {
        let reference = self.reference.select(Axis(0), batch);
        let (b, s, c) = reference.dim();
        let reference = tensor(
            reference.as_standard_layout().as_slice().unwrap(),
            (b, s, c),
            self.dtype,
            &self.device,
        )?;
        if let Some(positions) = &self.target_positions {
            // Σ_{b,s} w[b,s] Σ_v p (log p − log q) / B over the whole vocabulary (fpt2_ioi.py's KL).
            let weights = positions.rows(batch);
            let weights = tensor(
                weights.as_standard_layout().as_slice().unwrap(),
                (b, s),
                self.dtype,
                &self.device,
            )?;
            let log_p = log_softmax_last(&reference)?;
            let log_q = log_softmax_last(output)?;
            let p = log_p.exp().ce()?;
            return (p * (log_p - log_q).ce()?)
                .and_then(|x| x.sum(D::Minus1))
                .and_then(|x| x * weights)
                .and_then(|x| x.sum_all())
                .and_then(|x| x.affine(1.0 / b as f64, 0.0))
                .ce();
        }
        if self.output_kind == OutputKind::Categorical && s < 2 {
            // Only the BOS position: no group to compare, the metric is 0 (kept attached to the graph).
            return output.sum_all().and_then(|x| x.affine(0.0, 0.0)).ce();
        }
        // Categorical: groups are (example, position ≥ 1) over classes; numerical: examples over positions.
        let (out, reference) = match self.output_kind {
            OutputKind::Categorical => (
                output.narrow(1, 1, s - 1).ce()?,
                reference.narrow(1, 1, s - 1).ce()?,
            ),
            OutputKind::Numerical => (output.squeeze(2).ce()?, reference.squeeze(2).ce()?),
        };
        match self.metric {
            Metric::Kl => {
                let log_p = log_softmax_last(&reference)?;
                let log_q = log_softmax_last(&out)?;
                let p = log_p.exp().ce()?;
                (p * (log_p - log_q).ce()?)
                    .and_then(|x| x.sum_all())
                    .and_then(|x| x.affine(1.0 / b as f64, 0.0))
                    .ce()
            }
            Metric::Mse => {
                let entries = out.elem_count() as f64;
                (out - reference)
                    .and_then(|x| x.sqr())
                    .and_then(|x| x.sum_all())
                    .and_then(|x| x.affine(1.0 / entries, 0.0))
                    .ce()
            }
        }
    }

    /// The metric covers this dataset and `batch` indexes it (checked before the forward indexes the data).
    fn check_metric(&self, metric: &LinearMetric, batch: &[usize]) -> Result<()> {
        if metric.num_examples() != self.clean.nrows() {
            return Err(Error::Shape {
                what: "linear metric examples".into(),
                expected: format!("{} (the backend's dataset)", self.clean.nrows()),
                got: metric.num_examples().to_string(),
            });
        }
        metric.gradient(batch).map(|_| ())
    }

    /// `m(output)` of a linear metric on `batch`, as a differentiable scalar.
    fn linear_metric_of(
        &self,
        metric: &LinearMetric,
        output: &Tensor,
        batch: &[usize],
    ) -> Result<Tensor> {
        let gradient = metric.gradient(batch)?;
        let weights = tensor(
            gradient.as_standard_layout().as_slice().unwrap(),
            gradient.dim(),
            self.dtype,
            &self.device,
        )?;
        (output * weights).and_then(|x| x.sum_all()).ce()
    }

    fn vector(&self, values: &[f64]) -> Result<Tensor> {
        tensor(values, values.len(), self.dtype, &self.device)
    }
}

/// A tensor from f64 data, converted to `dtype` on `device`.
fn tensor<S: Into<candle_core::Shape>>(
    data: &[f64],
    shape: S,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    Tensor::from_slice(data, shape, device)
        .and_then(|t| t.to_dtype(dtype))
        .ce()
}

fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    frozen_matmul(x, w).and_then(|y| y.broadcast_add(b)).ce()
}

/// `(diag(γ)·W, β·W + b)` for a reader with LayerNorm `norm`, else `(W, b)` (see [`Projection`]), with `W`
/// zero-padded to `width` columns (a zero column adds exact zeros, so heads of unequal size batch together).
fn fold(
    norm: Option<&LayerNorm>,
    weight: &Array2<f64>,
    bias: &Array1<f64>,
    width: usize,
) -> (Array2<f64>, Array1<f64>) {
    let (rows, cols) = weight.dim();
    let mut w = Array2::zeros((rows, width));
    let mut b = Array1::zeros(width);
    w.slice_mut(s![.., ..cols]).assign(weight);
    b.slice_mut(s![..cols]).assign(bias);
    if let Some(norm) = norm {
        b.slice_mut(s![..cols])
            .scaled_add(1.0, &norm.shift.dot(weight));
        for (mut row, &g) in w.rows_mut().into_iter().zip(&norm.scale) {
            row *= g;
        }
    }
    (w, b)
}

/// Uploads several `[rows, cols]` matrices as one `[count, rows, cols]` tensor.
fn upload_stack(matrices: &[Array2<f64>], dtype: DType, device: &Device) -> Result<Tensor> {
    let (rows, cols) = matrices[0].dim();
    let data: Vec<f64> = matrices
        .iter()
        .flat_map(|m| m.as_standard_layout().iter().copied().collect::<Vec<_>>())
        .collect();
    tensor(&data, (matrices.len(), rows, cols), dtype, device)
}

/// `n(x)·W + b` (see [`Projection`]) for `x` `[readers, M, D]` (or `[M, D]`); `n(x)·W` is one fused op on
/// the CPU (see [`normalized_product`]).
fn project(x: &Tensor, projection: &Projection) -> Result<Tensor> {
    let product = match projection.epsilon {
        None => frozen_matmul(x, &projection.weight).ce()?,
        Some(epsilon) => normalized_product(x, &projection.weight, epsilon).ce()?,
    };
    product.broadcast_add(&projection.bias).ce()
}

/// ReLU with derivative 0 at 0 (torch's and the reference's convention; candle's own relu passes 1 there,
/// which matters for Tracr MLPs, whose pre-activations are often exactly 0); GELU in GPT-2's tanh form
/// with full-precision constants ([`gelu`]; candle's fused GELU backward uses 6-digit ones).
fn activation(x: &Tensor, kind: Activation) -> Result<Tensor> {
    match kind {
        Activation::Relu => {
            let positive = x.gt(0.0).and_then(|m| m.to_dtype(x.dtype())).ce()?.detach();
            (x * positive).ce()
        }
        Activation::Gelu => gelu(x).ce(),
    }
}

fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1).ce()?.detach();
    let shifted = x.broadcast_sub(&max).ce()?;
    let log_total = shifted
        .exp()
        .and_then(|e| e.sum_keepdim(D::Minus1))
        .and_then(|s| s.log())
        .ce()?;
    shifted.broadcast_sub(&log_total).ce()
}

fn softmax_last(x: &Tensor) -> Result<Tensor> {
    log_softmax_last(x)?.exp().ce()
}

/// `λ1 (s − t) + λ2 (s − t)²` with `s = 1 − Σz / n`; returns (penalty, sparsity as a tensor).
fn penalty(
    z: &Tensor,
    target: f64,
    linear: &Tensor,
    quadratic: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let n = z.elem_count() as f64;
    let sparsity = z.sum_all().and_then(|s| s.affine(-1.0 / n, 1.0)).ce()?;
    let gap = sparsity.affine(1.0, -target).ce()?;
    let value = (linear.squeeze(0).ce()? * &gap)
        .and_then(|a| Ok((a, (quadratic.squeeze(0)? * gap.sqr()?)?)))
        .and_then(|(a, b)| a + b)
        .ce()?;
    Ok((value, sparsity))
}

fn scalar_f64(t: &Tensor) -> Result<f64> {
    t.to_dtype(DType::F64)
        .and_then(|x| x.to_scalar::<f64>())
        .ce()
}

fn vec_f64(t: &Tensor) -> Result<Vec<f64>> {
    t.to_dtype(DType::F64).and_then(|x| x.to_vec1::<f64>()).ce()
}

impl Backend for CandleBackend {
    fn name(&self) -> String {
        let dtype = if self.dtype == DType::F32 {
            "f32"
        } else {
            "f64"
        };
        let device = if self.device.is_cuda() { "cuda" } else { "cpu" };
        format!("candle-{dtype}-{device}")
    }

    fn num_edges(&self) -> usize {
        self.graph.num_edges()
    }

    fn num_writers(&self) -> usize {
        self.graph.num_writers()
    }

    fn step(&mut self, request: &StepRequest<'_>) -> Result<StepResult> {
        let (e, w) = (self.graph.num_edges(), self.graph.num_writers());
        for (what, len, want) in [
            ("edge log-alpha", request.edge_log_alpha.len(), e),
            ("edge noise", request.edge_uniform.len(), e),
            ("node log-alpha", request.node_log_alpha.len(), w),
            ("node noise", request.node_uniform.len(), w),
        ] {
            if len != want {
                return Err(Error::Shape {
                    what: what.into(),
                    expected: want.to_string(),
                    got: len.to_string(),
                });
            }
        }
        let var = |values: &[f64]| -> Result<Var> { Var::from_tensor(&self.vector(values)?).ce() };
        let edge_la = var(request.edge_log_alpha)?;
        let node_la = var(request.node_log_alpha)?;
        let lambdas = [
            var(&[request.edge_lambdas.linear])?,
            var(&[request.edge_lambdas.quadratic])?,
            var(&[request.node_lambdas.linear])?,
            var(&[request.node_lambdas.quadratic])?,
        ];
        // The logistic noise log u − log(1 − u) is computed in f64 on the host, as the reference does.
        let logistic =
            |u: &[f64]| -> Vec<f64> { u.iter().map(|&u| u.ln() - (1.0 - u).ln()).collect() };
        let sample = |la: &Var, u: &[f64]| -> Result<Tensor> {
            let noise = self.vector(&logistic(u))?;
            // σ(x) = (1 + tanh(x/2)) / 2: no exp to overflow in f32 when a log-alpha drifts far negative.
            let s = (la.as_tensor() + noise)
                .and_then(|x| x.affine(0.5 / TEMPERATURE, 0.0))
                .and_then(|x| x.tanh())
                .and_then(|x| x.affine(0.5, 0.5))
                .ce()?;
            s.affine(LIMIT_RIGHT - LIMIT_LEFT, LIMIT_LEFT)
                .and_then(|z| z.clamp(0.0, 1.0))
                .ce()
        };
        let edge_z = sample(&edge_la, request.edge_uniform)?;
        let node_z = sample(&node_la, request.node_uniform)?;
        let output = self.forward(request.batch, &edge_z, &node_z)?;
        let metric = self.metric_of(&output, request.batch)?;
        let (edge_penalty, edge_sparsity) = penalty(
            &edge_z,
            request.edge_target,
            lambdas[0].as_tensor(),
            lambdas[1].as_tensor(),
        )?;
        let (node_penalty, node_sparsity) = penalty(
            &node_z,
            request.node_target,
            lambdas[2].as_tensor(),
            lambdas[3].as_tensor(),
        )?;
        let mut loss = (&metric + &edge_penalty).ce()?;
        if request.node_loss {
            loss = (&loss + &node_penalty).ce()?;
        }
        let grads = loss.backward().ce()?;
        let grad_of = |v: &Var, n: usize| -> Result<Vec<f64>> {
            match grads.get(v.as_tensor()) {
                Some(g) => vec_f64(g),
                None => Ok(vec![0.0; n]),
            }
        };
        let lambda_grads: Vec<f64> = lambdas
            .iter()
            .map(|l| grad_of(l, 1).map(|g| g[0]))
            .collect::<Result<_>>()?;
        Ok(StepResult {
            loss: scalar_f64(&loss)?,
            metric: scalar_f64(&metric)?,
            edge_sparsity: scalar_f64(&edge_sparsity)?,
            node_sparsity: scalar_f64(&node_sparsity)?,
            grad_edge_log_alpha: grad_of(&edge_la, e)?,
            grad_node_log_alpha: grad_of(&node_la, w)?,
            grad_edge_lambdas: Lambdas {
                linear: lambda_grads[0],
                quadratic: lambda_grads[1],
            },
            grad_node_lambdas: if request.node_loss {
                Lambdas {
                    linear: lambda_grads[2],
                    quadratic: lambda_grads[3],
                }
            } else {
                Lambdas::default()
            },
        })
    }

    fn metric(&mut self, edge_mask: &[f64], node_mask: &[f64], batch: &[usize]) -> Result<f64> {
        let edge_z = self.vector(edge_mask)?;
        let node_z = self.vector(node_mask)?;
        let output = self.forward(batch, &edge_z, &node_z)?;
        scalar_f64(&self.metric_of(&output, batch)?)
    }
}

impl AttributionBackend for CandleBackend {
    fn num_examples(&self) -> usize {
        self.clean.nrows()
    }

    fn mask_gradient(
        &mut self,
        metric: &LinearMetric,
        batch: &[usize],
        edge_mask: &[f64],
        grad_edge: &mut [f64],
    ) -> Result<f64> {
        let edges = self.graph.num_edges();
        for (what, len) in [
            ("edge mask", edge_mask.len()),
            ("edge gradient buffer", grad_edge.len()),
        ] {
            if len != edges {
                return Err(Error::Shape {
                    what: what.into(),
                    expected: edges.to_string(),
                    got: len.to_string(),
                });
            }
        }
        self.check_metric(metric, batch)?;
        let edge_z = Var::from_tensor(&self.vector(edge_mask)?).ce()?;
        let node_z = self.vector(&vec![1.0; self.graph.num_writers()])?;
        let output = self.forward(batch, edge_z.as_tensor(), &node_z)?;
        let value = self.linear_metric_of(metric, &output, batch)?;
        let grads = value.backward().ce()?;
        let gradient = match grads.get(edge_z.as_tensor()) {
            Some(g) => vec_f64(g)?,
            None => vec![0.0; edges],
        };
        grad_edge.copy_from_slice(&gradient);
        scalar_f64(&value)
    }

    fn interpolated_input_gradient(
        &mut self,
        metric: &LinearMetric,
        batch: &[usize],
        alpha: f64,
        grad_edge: &mut [f64],
    ) -> Result<f64> {
        let (edges, writers) = (self.graph.num_edges(), self.graph.num_writers());
        if grad_edge.len() != edges {
            return Err(Error::Shape {
                what: "edge gradient buffer".into(),
                expected: edges.to_string(),
                got: grad_edge.len().to_string(),
            });
        }
        if !alpha.is_finite() {
            return Err(Error::NonFinite {
                what: "EAP-IG interpolation coefficient".into(),
            });
        }
        self.check_metric(metric, batch)?;
        let ones = self.vector(&vec![1.0; edges])?;
        let cached = matches!(&self.clean_deltas, Some((b, _)) if b == batch);
        if !cached {
            let node_ones = self.vector(&vec![1.0; writers])?;
            let (_, deltas) = self.forward_probed(batch, &ones, &node_ones, None)?;
            let deltas = deltas.into_iter().map(|t| t.detach()).collect();
            self.clean_deltas = Some((batch.to_vec(), deltas));
        }
        // The token writer's node mask ζ scales its Δ: X̃_tok + ζ (e − X̃_tok) is the interpolated embedding.
        let mut nodes = vec![1.0; writers];
        nodes[0] = alpha;
        let node_z = self.vector(&nodes)?;
        let epsilon = Var::from_tensor(&self.vector(&vec![0.0; edges])?).ce()?;
        let (_, clean) = self.clean_deltas.as_ref().expect("filled above");
        let (output, _) =
            self.forward_probed(batch, &ones, &node_z, Some((epsilon.as_tensor(), clean)))?;
        let value = self.linear_metric_of(metric, &output, batch)?;
        let grads = value.backward().ce()?;
        let gradient = match grads.get(epsilon.as_tensor()) {
            Some(g) => vec_f64(g)?,
            None => vec![0.0; edges],
        };
        grad_edge.copy_from_slice(&gradient);
        scalar_f64(&value)
    }
}

//! The CPU reference backend in f64: hard-concrete sample → masked forward/backward ([`MaskedForward`])
//! → metric + regulariser → chain rule to log-alphas and multipliers.

use ndarray::ArrayView2;

use crate::ablation::Ablation;
use crate::backend::{AttributionBackend, Backend, StepRequest, StepResult};
use crate::error::{Error, Result};
use crate::forward::{MaskedForward, WriterDeltas};
use crate::masks::sampled::SampledMasks;
use crate::model::{OutputKind, Transformer};
use crate::objective::metric::{LinearMetric, Metric};
use crate::objective::regulariser::finish_step;

/// [`Backend`] over ndarray in f64, built on the hand-written masked forward and backward.
#[derive(Debug, Clone)]
pub struct NdarrayBackend {
    forward: MaskedForward,
    metric: Metric,
    grad_edge_z: Vec<f64>,
    grad_node_z: Vec<f64>,
    /// The clean run's writer differences of the last batch EAP-IG interpolated on.
    clean_deltas: Option<(Vec<usize>, WriterDeltas)>,
}

impl NdarrayBackend {
    /// A backend for `model` on the `[N, S]` clean token ids `inputs`, pruned under `ablation`, minimising `metric`.
    pub fn new(
        model: &Transformer,
        inputs: ArrayView2<usize>,
        ablation: &Ablation,
        metric: Metric,
    ) -> Result<Self> {
        let forward = MaskedForward::new(model, inputs, ablation)?;
        let graph = forward.graph();
        let (num_edges, num_writers) = (graph.num_edges(), graph.num_writers());
        Ok(Self {
            forward,
            metric,
            grad_edge_z: vec![0.0; num_edges],
            grad_node_z: vec![0.0; num_writers],
            clean_deltas: None,
        })
    }

    /// The masked forward the backend runs (its graph, reference output, dataset).
    pub fn masked_forward(&mut self) -> &mut MaskedForward {
        &mut self.forward
    }

    /// The attribution metric of this dataset and ablation (see [`LinearMetric`]): from the full model's
    /// outputs and, for numerical outputs, the outputs with every edge ablated (one masked forward).
    pub fn linear_metric(&mut self) -> Result<LinearMetric> {
        let reference = self.forward.reference().clone();
        let kind = self.forward.output_kind();
        if kind == OutputKind::Categorical {
            return LinearMetric::new(kind, reference.view(), reference.view());
        }
        let all: Vec<usize> = (0..self.forward.num_examples()).collect();
        let ones = vec![1.0; self.grad_node_z.len()];
        let zeros = vec![0.0; self.grad_edge_z.len()];
        let ablated = self.forward.forward(&all, &zeros, &ones)?.to_owned();
        LinearMetric::new(kind, reference.view(), ablated.view())
    }

    /// Forward at the given masks, then the backward of the linear metric; returns `m`.
    fn linear_forward_backward(
        &mut self,
        metric: &LinearMetric,
        batch: &[usize],
        edge_mask: &[f64],
        node_mask: &[f64],
    ) -> Result<f64> {
        check_metric_examples(metric, self.forward.num_examples())?;
        let gradient = metric.gradient(batch)?;
        let output = self.forward.forward(batch, edge_mask, node_mask)?;
        let value = metric.value(output, batch)?;
        self.forward.backward(
            gradient.view(),
            &mut self.grad_edge_z,
            &mut self.grad_node_z,
        )?;
        Ok(value)
    }
}

fn check_metric_examples(metric: &LinearMetric, examples: usize) -> Result<()> {
    if metric.num_examples() == examples {
        return Ok(());
    }
    Err(Error::Shape {
        what: "linear metric examples".into(),
        expected: format!("{examples} (the backend's dataset)"),
        got: metric.num_examples().to_string(),
    })
}

impl AttributionBackend for NdarrayBackend {
    fn num_examples(&self) -> usize {
        self.forward.num_examples()
    }

    fn mask_gradient(
        &mut self,
        metric: &LinearMetric,
        batch: &[usize],
        edge_mask: &[f64],
        grad_edge: &mut [f64],
    ) -> Result<f64> {
        let ones = vec![1.0; self.grad_node_z.len()];
        let value = self.linear_forward_backward(metric, batch, edge_mask, &ones)?;
        if grad_edge.len() != self.grad_edge_z.len() {
            return Err(Error::Shape {
                what: "edge gradient buffer".into(),
                expected: self.grad_edge_z.len().to_string(),
                got: grad_edge.len().to_string(),
            });
        }
        grad_edge.copy_from_slice(&self.grad_edge_z);
        Ok(value)
    }

    fn interpolated_input_gradient(
        &mut self,
        metric: &LinearMetric,
        batch: &[usize],
        alpha: f64,
        grad_edge: &mut [f64],
    ) -> Result<f64> {
        if !alpha.is_finite() {
            return Err(Error::NonFinite {
                what: "EAP-IG interpolation coefficient".into(),
            });
        }
        let edges = vec![1.0; self.grad_edge_z.len()];
        let cached = matches!(&self.clean_deltas, Some((b, _)) if b == batch);
        if !cached {
            // The clean run's Δ (writer 0, the token embedding, at node mask 1).
            self.forward
                .forward(batch, &edges, &vec![1.0; self.grad_node_z.len()])?;
            self.clean_deltas = Some((batch.to_vec(), self.forward.writer_deltas()?));
        }
        // The token writer's node mask ζ scales its Δ: X̃_tok + ζ (e − X̃_tok) is the interpolated embedding.
        let mut nodes = vec![1.0; self.grad_node_z.len()];
        nodes[0] = alpha;
        let value = self.linear_forward_backward(metric, batch, &edges, &nodes)?;
        let (_, deltas) = self.clean_deltas.as_ref().expect("filled above");
        self.forward.edge_inner_products(deltas, grad_edge)?;
        Ok(value)
    }
}

impl Backend for NdarrayBackend {
    fn name(&self) -> String {
        "ndarray-f64".into()
    }

    fn num_edges(&self) -> usize {
        self.grad_edge_z.len()
    }

    fn num_writers(&self) -> usize {
        self.grad_node_z.len()
    }

    fn step(&mut self, request: &StepRequest<'_>) -> Result<StepResult> {
        let edges = SampledMasks::draw(request.edge_log_alpha, request.edge_uniform, "edge")?;
        let nodes = SampledMasks::draw(request.node_log_alpha, request.node_uniform, "node")?;
        let metric = self.forward.metric_and_gradients(
            self.metric,
            request.batch,
            &edges.z,
            &nodes.z,
            &mut self.grad_edge_z,
            &mut self.grad_node_z,
        )?;
        if !metric.is_finite() {
            return Err(Error::NonFinite {
                what: format!("{} metric of the masked model", self.metric.name()),
            });
        }
        Ok(finish_step(
            request,
            &edges,
            &nodes,
            metric,
            &self.grad_edge_z,
            &self.grad_node_z,
        ))
    }

    fn metric(&mut self, edge_mask: &[f64], node_mask: &[f64], batch: &[usize]) -> Result<f64> {
        self.forward
            .metric(self.metric, batch, edge_mask, node_mask)
    }
}

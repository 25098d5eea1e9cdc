//! The CPU reference backend in f64: hard-concrete sample → masked forward/backward ([`MaskedForward`])
//! → metric + regulariser → chain rule to log-alphas and multipliers.

use ndarray::ArrayView2;

use crate::ablation::Ablation;
use crate::backend::{Backend, StepRequest, StepResult};
use crate::error::{Error, Result};
use crate::forward::MaskedForward;
use crate::masks::sampled::SampledMasks;
use crate::model::Transformer;
use crate::objective::metric::Metric;
use crate::objective::regulariser::finish_step;

/// [`Backend`] over ndarray in f64, built on the hand-written masked forward and backward.
#[derive(Debug, Clone)]
pub struct NdarrayBackend {
    forward: MaskedForward,
    metric: Metric,
    grad_edge_z: Vec<f64>,
    grad_node_z: Vec<f64>,
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
        })
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

//! EAP (edge attribution patching) and the gradient-attribution driver EAP-IG shares.
//!
//! In the masked forward `in_r = Ã_r + Σ_w z_{w→r} Δ_w` (node masks 1), so `∂m/∂z_{w→r} = ⟨∂m/∂in_r, Δ_w⟩`
//! with `Δ_w = X_w − X̃_w`: EAP's `(X̃_w − X_w)·∂L/∂in_r` for the loss `L = −m` (MIB's `loss=True`) is exactly
//! `∂m/∂z_e` at every mask 1, one forward and one backward over the data. The metric `m` is the
//! [`LinearMetric`] (logit difference for classes, a projection for numbers), averaged over examples, so the
//! score is already divided by N as the references divide it. A positive score means that ablating the edge
//! lowers the metric.
//!
//! Every edge is scored, those into `resid_post` from the last layer included; the minimal EAP code that
//! Edge Pruning's EAP baseline used never scores those (its `get_slice_previous_upstream_nodes` gives
//! `hook_resid_post` only the writers before the last layer).
//!
//! Edges are ranked by |score|, as EAP's and EAP-IG's references rank them (`abs_scores=True`,
//! `apply_topn(absolute=True)`); the signed scores stay in the method's settings (`signed_scores`).

use std::time::Instant;

use ndarray::ArrayView2;
use serde_json::json;

use crate::ablation::Ablation;
use crate::backend::ndarray::NdarrayBackend;
use crate::backend::AttributionBackend;
use crate::error::{Error, Result};
use crate::forward::MaskedForward;
use crate::methods::operating_point::smallest_faithful_top_k;
use crate::methods::{CircuitMethod, MethodInput, MethodOutput};
use crate::model::Transformer;
use crate::objective::metric::{LinearMetric, Metric};

/// Examples per masked forward when a method does not say otherwise: the whole of every library
/// program's dataset fits, and larger data is split so memory stays bounded.
pub const DEFAULT_BATCH_SIZE: usize = 1024;

/// Which gradient attribution to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// `∂m/∂z_e` at every mask 1.
    Eap,
    /// EAP-IG, inputs variant: reader-input gradients averaged over the token embedding interpolated
    /// `k/steps` of the way from the ablated to the clean embedding (k = 1..steps), dotted with the clean Δ.
    IgInputs {
        /// Interpolation steps m (≥ 1).
        steps: usize,
    },
    /// EAP-IG, mask variant: `∂m/∂z_e` averaged over every edge mask at `k/steps` (k = 1..steps).
    IgMasks {
        /// Interpolation steps m (≥ 1).
        steps: usize,
    },
}

impl Attribution {
    /// Interpolation steps (1 for EAP).
    pub fn steps(self) -> usize {
        match self {
            Attribution::Eap => 1,
            Attribution::IgInputs { steps } | Attribution::IgMasks { steps } => steps,
        }
    }

    /// `eap`, `eap-ig-inputs` or `eap-ig-masks`.
    pub fn name(self) -> &'static str {
        match self {
            Attribution::Eap => "eap",
            Attribution::IgInputs { .. } => "eap-ig-inputs",
            Attribution::IgMasks { .. } => "eap-ig-masks",
        }
    }

    /// A typed error for 0 steps (the only invalid setting).
    pub fn validate(self) -> Result<Self> {
        if self.steps() == 0 {
            return Err(Error::InvalidOption {
                option: "EAP-IG steps".into(),
                message: "0; the number of interpolation steps must be at least 1 (MIB uses 5; 1 equals EAP)"
                    .into(),
            });
        }
        Ok(self)
    }
}

/// Signed per-edge attributions and what they cost.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionScores {
    /// Per edge, graph order: `∂m/∂z_e` (EAP), or its EAP-IG average.
    pub signed: Vec<f64>,
    /// The metric `m` of the full model on the data (from the runs at mask 1 / the clean embedding).
    pub metric: f64,
    /// Masked forwards over the whole dataset.
    pub forwards: usize,
    /// Backward passes over the whole dataset.
    pub backwards: usize,
}

/// The attribution scores of `attribution` on every example of `backend`'s dataset, `batch_size` examples
/// per pass. Each batch's gradient is weighted by its share of the data, so the result is the gradient of
/// the metric averaged over all examples whatever the batch size.
pub fn attribute(
    backend: &mut dyn AttributionBackend,
    metric: &LinearMetric,
    attribution: Attribution,
    batch_size: usize,
) -> Result<AttributionScores> {
    let steps = attribution.validate()?.steps();
    if batch_size == 0 {
        return Err(Error::InvalidOption {
            option: "batch size".into(),
            message: "0; use at least 1 example per pass".into(),
        });
    }
    let examples = backend.num_examples();
    let edges = backend.num_edges();
    let mut signed = vec![0.0; edges];
    let mut gradient = vec![0.0; edges];
    let mut full_metric = 0.0;
    let all: Vec<usize> = (0..examples).collect();
    for batch in all.chunks(batch_size) {
        let share = batch.len() as f64 / examples as f64;
        // k = steps first: that run is the clean one, whose Δ the inputs variant reuses for the others.
        for k in (1..=steps).rev() {
            let alpha = k as f64 / steps as f64;
            let value = match attribution {
                Attribution::Eap => {
                    backend.mask_gradient(metric, batch, &vec![1.0; edges], &mut gradient)?
                }
                Attribution::IgMasks { .. } => {
                    backend.mask_gradient(metric, batch, &vec![alpha; edges], &mut gradient)?
                }
                Attribution::IgInputs { .. } => {
                    backend.interpolated_input_gradient(metric, batch, alpha, &mut gradient)?
                }
            };
            if k == steps {
                full_metric += share * value;
            }
            let weight = share / steps as f64;
            for (total, g) in signed.iter_mut().zip(&gradient) {
                *total += weight * g;
            }
        }
    }
    if let Some(edge) = signed.iter().position(|s| !s.is_finite()) {
        return Err(Error::NonFinite {
            what: format!("{} score of edge {edge}", attribution.name()),
        });
    }
    Ok(AttributionScores {
        signed,
        metric: full_metric,
        forwards: steps,
        backwards: steps,
    })
}

/// Runs a gradient attribution on a task with the f64 reference backend and picks its operating circuit.
pub(crate) fn run_attribution(
    input: &MethodInput<'_>,
    attribution: Attribution,
    batch_size: usize,
) -> Result<MethodOutput> {
    let started = Instant::now();
    let attribution = attribution.validate()?;
    let mut backend = NdarrayBackend::new(
        &input.task.model,
        input.task.clean.view(),
        input.ablation,
        Metric::Kl,
    )?;
    let metric = backend.linear_metric()?;
    let scores = attribute(&mut backend, &metric, attribution, batch_size)?;
    let magnitudes: Vec<f64> = scores.signed.iter().map(|s| s.abs()).collect();
    let operating = smallest_faithful_top_k(input, &magnitudes)?;
    Ok(MethodOutput {
        circuit: operating.circuit,
        sweep: Vec::new(),
        forwards: scores.forwards + operating.forwards,
        backwards: scores.backwards,
        seconds: started.elapsed().as_secs_f64(),
        settings: json!({
            "variant": attribution.name(),
            "steps": attribution.steps(),
            "metric": metric.name(),
            "loss": "-metric",
            "ablation": input.ablation.name(),
            "batch_size": batch_size,
            "ranking": "|score|",
            "operating_point": format!("smallest faithful top-k by |score| (k = {})", operating.k),
            "metric_of_full_model": scores.metric,
            "signed_scores": scores.signed,
        }),
        scores: magnitudes,
    })
}

/// EAP: one forward and one backward at every mask 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eap {
    /// Examples per masked forward.
    pub batch_size: usize,
}

impl Eap {
    /// EAP over the whole dataset in batches of [`DEFAULT_BATCH_SIZE`].
    pub fn new() -> Self {
        Self {
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

impl Default for Eap {
    fn default() -> Self {
        Self::new()
    }
}

impl CircuitMethod for Eap {
    fn name(&self) -> &'static str {
        "eap"
    }

    fn run(&self, input: &MethodInput<'_>) -> Result<MethodOutput> {
        run_attribution(input, Attribution::Eap, self.batch_size)
    }
}

/// Seconds of one EAP run (metric, forward, backward) and of one plain masked forward + backward
/// (Edge Pruning's KL at every mask 1) over the same batches, each the fastest of `repeats` runs (the one
/// least disturbed by other processes; runs of a few milliseconds on a shared machine vary several-fold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EapTiming {
    /// One EAP attribution, metric construction included.
    pub eap_seconds: f64,
    /// One masked forward + backward of the training objective.
    pub forward_backward_seconds: f64,
}

impl EapTiming {
    /// `eap_seconds / forward_backward_seconds` (the goal: at most 2).
    pub fn ratio(&self) -> f64 {
        self.eap_seconds / self.forward_backward_seconds
    }
}

/// Times EAP against one masked forward + backward on the same model, data and ablation, in one process
/// (for `edgeprune bench`): `repeats` runs of each, interleaved (after one untimed warm-up), fastest compared.
pub fn time_against_forward_backward(
    model: &Transformer,
    inputs: ArrayView2<usize>,
    ablation: &Ablation,
    repeats: usize,
) -> Result<EapTiming> {
    let examples: Vec<usize> = (0..inputs.nrows()).collect();
    let mut forward = MaskedForward::new(model, inputs, ablation)?;
    let (edges, writers) = (forward.graph().num_edges(), forward.graph().num_writers());
    let (ones_edges, ones_nodes) = (vec![1.0; edges], vec![1.0; writers]);
    let (mut grad_edges, mut grad_nodes) = (vec![0.0; edges], vec![0.0; writers]);
    let mut backend = NdarrayBackend::new(model, inputs, ablation, Metric::Kl)?;
    let fastest = |times: Vec<f64>| times.into_iter().fold(f64::INFINITY, f64::min);
    let (mut plain, mut eap) = (Vec::new(), Vec::new());
    for round in 0..=repeats.max(1) {
        let started = Instant::now();
        for batch in examples.chunks(DEFAULT_BATCH_SIZE) {
            forward.metric_and_gradients(
                Metric::Kl,
                batch,
                &ones_edges,
                &ones_nodes,
                &mut grad_edges,
                &mut grad_nodes,
            )?;
        }
        let plain_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let metric = backend.linear_metric()?;
        attribute(&mut backend, &metric, Attribution::Eap, DEFAULT_BATCH_SIZE)?;
        let eap_seconds = started.elapsed().as_secs_f64();
        if round > 0 {
            plain.push(plain_seconds);
            eap.push(eap_seconds);
        }
    }
    Ok(EapTiming {
        eap_seconds: fastest(eap),
        forward_backward_seconds: fastest(plain),
    })
}

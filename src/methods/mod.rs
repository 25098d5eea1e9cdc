//! Circuit-discovery methods on the edge graph, siblings behind one trait (as the backends are).
//!
//! Each method turns a task (a model, its data) and an ablation into per-edge scores and one circuit at
//! its operating point; scoring against the ground truth lives in `crate::scores`, which knows nothing of
//! any method.

pub mod acdc;
pub mod eap;
pub mod eap_ig;
pub mod edge_pruning;
pub mod operating_point;
pub mod random;
pub mod subnetwork;

use serde_json::Value as Json;

use crate::ablation::Ablation;
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::task::Task;

/// What every method runs on: one task and the ablation that replaces pruned edges.
#[derive(Debug, Clone, Copy)]
pub struct MethodInput<'a> {
    /// The model and its clean (and corrupted) data.
    pub task: &'a Task,
    /// How a removed edge is replaced.
    pub ablation: &'a Ablation,
}

/// One circuit along a method's own sweep (ACDC's τ grid, subnetwork probing's λ grid, Edge Pruning's
/// targets), with the sweep parameter that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// τ, λ or the target sparsity.
    pub parameter: f64,
    /// The circuit found at that parameter.
    pub circuit: Circuit,
}

/// What a method returns.
#[derive(Debug, Clone)]
pub struct MethodOutput {
    /// Per edge, in graph order: larger means more important (kept earlier in a top-k sweep).
    pub scores: Vec<f64>,
    /// The one circuit the method reports at its operating point.
    pub circuit: Circuit,
    /// Circuits along the method's own parameter sweep; empty when its curve is the top-k of `scores`.
    pub sweep: Vec<SweepPoint>,
    /// Masked forwards over the dataset (or a batch of it) the method ran.
    pub forwards: usize,
    /// Backward passes it ran.
    pub backwards: usize,
    /// Wall time of `run`.
    pub seconds: f64,
    /// The settings it ran with, for reports.
    pub settings: Json,
}

/// A circuit-discovery method.
pub trait CircuitMethod {
    /// The name users type (`acdc`, `eap`, …).
    fn name(&self) -> &'static str;
    /// Runs the method on `input`.
    fn run(&self, input: &MethodInput<'_>) -> Result<MethodOutput>;
}

/// The names [`by_name`] accepts.
pub const METHOD_NAMES: [&str; 7] = [
    "ep",
    "acdc",
    "eap",
    "eap-ig",
    "eap-ig-masks",
    "sp",
    "random",
];

/// The method a user named, with its default settings (`seed` for the stochastic ones); an unknown name is
/// an error that lists the valid ones.
pub fn by_name(name: &str, seed: u64) -> Result<Box<dyn CircuitMethod>> {
    match name {
        "ep" => Ok(Box::new(edge_pruning::EdgePruning::new(seed))),
        "acdc" => Ok(Box::new(acdc::Acdc::new())),
        "eap" => Ok(Box::new(eap::Eap::new())),
        "eap-ig" => Ok(Box::new(eap_ig::EapIg::inputs(eap_ig::DEFAULT_STEPS)?)),
        "eap-ig-masks" => Ok(Box::new(eap_ig::EapIg::masks(eap_ig::DEFAULT_STEPS)?)),
        "sp" => Ok(Box::new(subnetwork::SubnetworkProbing::new(seed))),
        "random" => Ok(Box::new(random::Random::new(seed))),
        other => Err(Error::InvalidOption {
            option: "method".into(),
            message: format!(
                "unknown method `{other}`; valid methods: {}",
                METHOD_NAMES.join(", ")
            ),
        }),
    }
}

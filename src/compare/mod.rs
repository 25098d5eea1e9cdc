//! The method benchmark: every circuit method on one task, scored against the set of known minimal
//! circuits (`edgeprune compare`), and one circuit file scored the same way (`edgeprune score`).

pub mod circuit_file;
pub mod render;
pub mod run;

use serde_json::Value as Json;

/// The ground truth a comparison scores against.
#[derive(Debug, Clone)]
pub struct TruthSummary {
    /// Every known inclusion-minimal faithful circuit, as edge names.
    pub minimal_circuits: Vec<Vec<String>>,
    /// Whether the list is proved complete.
    pub complete: bool,
    /// Index of the smallest.
    pub smallest: usize,
    /// Index of the one that follows the program's data flow.
    pub intended: usize,
    /// How the list was searched, in words.
    pub search: String,
}

/// One method's result on one task, with every score.
#[derive(Debug, Clone, Default)]
pub struct MethodReport {
    /// The method's name (`acdc`, `eap`, …).
    pub name: String,
    /// Why it failed, when it did (a failure is a result, reported as such).
    pub error: Option<String>,
    /// Per-edge scores, by edge name.
    pub scores: serde_json::Map<String, Json>,
    /// The circuit at its operating point, as edge names.
    pub circuit: Vec<String>,
    /// Its size.
    pub num_edges: usize,
    /// Whether it passes the certificate (decoded outputs unchanged, KL < 1e-6).
    pub faithful: bool,
    /// Its KL to the full model.
    pub kl: f64,
    /// Share of examples whose decoded output equals the full model's.
    pub accuracy: f64,
    /// Whether removing any one of its edges breaks faithfulness (None when not faithful).
    pub minimal: Option<bool>,
    /// Which known minimal circuit it equals, if any (index into the truth's list).
    pub equals_known: Option<usize>,
    /// The known minimal circuit the scores below are against.
    pub nearest: usize,
    /// Whether a known faithful circuit is smaller than it.
    pub smaller_known: bool,
    /// Equal to a known minimal circuit.
    pub exact: bool,
    /// Precision against the nearest known minimal circuit.
    pub precision: Option<f64>,
    /// Recall against it.
    pub recall: Option<f64>,
    /// F1 against it.
    pub f1: Option<f64>,
    /// Area under the ROC curve against it.
    pub auc: Option<f64>,
    /// How the AUC was computed (trapezoid over top-k, or ACDC's pessimistic step area over a sweep).
    pub auc_rule: String,
    /// The ROC curve's points `(FPR, TPR)`.
    pub roc: Vec<(f64, f64)>,
    /// MIB's CPR (area under the faithfulness curve; higher is better).
    pub cpr: Option<f64>,
    /// MIB's CMD (area under |1 − f|; lower is better).
    pub cmd: Option<f64>,
    /// The faithfulness curve's points `(fraction of edges, f)`.
    pub faithfulness: Vec<(f64, f64)>,
    /// Wall time of the method itself.
    pub seconds: f64,
    /// Masked forwards it ran.
    pub forwards: usize,
    /// Backward passes it ran.
    pub backwards: usize,
    /// Its settings.
    pub settings: Json,
}

/// Every method on one task.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The task (program, vocabulary, lengths, ablation, …) as in every report.
    pub task: Json,
    /// Edges in the graph.
    pub graph_edges: usize,
    /// The truth scored against.
    pub truth: TruthSummary,
    /// One report per method, in the order asked for.
    pub methods: Vec<MethodReport>,
    /// Wall time of the whole comparison (truth search included).
    pub seconds: f64,
}

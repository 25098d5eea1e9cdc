//! Running the methods on one task and scoring each against the known minimal circuits.

use std::time::Instant;

use serde_json::{json, Value as Json};

use super::{Comparison, MethodReport, TruthSummary};
use crate::ablation::Ablation;
use crate::circuit::Circuit;
use crate::error::Result;
use crate::forward::MaskedForward;
use crate::graph::EdgeGraph;
use crate::methods::{CircuitMethod, MethodInput, MethodOutput};
use crate::model::OutputKind;
use crate::objective::metric::LinearMetric;
use crate::report::edge_names;
use crate::scores::{
    auc_trapezoid, faithfulness, pessimistic_auc, precision_recall, roc_from_circuits,
    roc_from_scores, RocPoint,
};
use crate::task::Task;
use crate::truth::alternatives::{
    equals_any, is_minimal, minimal_circuits, nearest, smaller_known, MinimalCircuits, SearchKind,
    SearchOptions,
};
use crate::truth::functional::CertifierSet;

/// The known minimal circuits of `task` under `ablation` (see `truth::alternatives`).
pub fn known_truth(
    task: &Task,
    ablation: &Ablation,
    options: &SearchOptions,
) -> Result<MinimalCircuits> {
    minimal_circuits(&[(task, ablation)], options)
}

/// The truth part of a report: edge names, completeness, the smallest and intended circuits.
pub fn truth_summary(graph: &EdgeGraph, truth: &MinimalCircuits) -> TruthSummary {
    TruthSummary {
        minimal_circuits: truth
            .circuits
            .iter()
            .map(|m| edge_names(graph, &m.circuit))
            .collect(),
        complete: truth.complete,
        smallest: truth.smallest.unwrap_or(0),
        intended: truth.intended.unwrap_or(0),
        search: match truth.search {
            SearchKind::Exhaustive { closed_subsets } => format!(
                "exhaustive: all {closed_subsets} closed subsets of the structural circuit certified ({} checks)",
                truth.checks
            ),
            SearchKind::Heuristic {
                closed_subsets_over,
            } => format!(
                "heuristic: more than {closed_subsets_over} closed subsets, so elimination in many orders and swap moves ({} checks); the list may be incomplete",
                truth.checks
            ),
        },
    }
}

/// What scoring a circuit needs besides the truth: the certifier and the faithfulness metric's forward.
pub struct Scorer<'a> {
    task: &'a Task,
    graph: EdgeGraph,
    certifiers: CertifierSet,
    forward: MaskedForward,
    metric: LinearMetric,
    truth: Vec<Circuit>,
}

impl<'a> Scorer<'a> {
    /// Prepares the certificate, the linear metric (MIB's logit difference, or its numerical analogue)
    /// and the truth circuits for `task` under `ablation`.
    pub fn new(task: &'a Task, ablation: &Ablation, truth: &MinimalCircuits) -> Result<Self> {
        let graph = EdgeGraph::for_model(&task.model);
        let certifiers = CertifierSet::new(&[(task, ablation)])?;
        let mut forward = MaskedForward::new(&task.model, task.clean.view(), ablation)?;
        let all: Vec<usize> = (0..task.num_examples()).collect();
        let reference = forward.reference().clone();
        let ablated = if task.output == OutputKind::Numerical {
            let ones = vec![1.0; graph.num_writers()];
            let zeros = vec![0.0; graph.num_edges()];
            forward.forward(&all, &zeros, &ones)?.to_owned()
        } else {
            reference.clone()
        };
        let metric = LinearMetric::new(task.output, reference.view(), ablated.view())?;
        Ok(Self {
            task,
            graph,
            certifiers,
            forward,
            metric,
            truth: truth.as_circuits(),
        })
    }

    /// The faithfulness metric of `circuit` on every example.
    fn metric_of(&mut self, circuit: &Circuit) -> Result<f64> {
        let all: Vec<usize> = (0..self.task.num_examples()).collect();
        let output = self
            .forward
            .forward(&all, &circuit.edge_mask(), &circuit.node_mask())?;
        self.metric.value(output, &all)
    }

    /// Every score of one method's output against the truth.
    pub fn score(&mut self, name: &str, output: &MethodOutput) -> Result<MethodReport> {
        let circuit = &output.circuit;
        let minimality = is_minimal(&mut self.certifiers, circuit)?;
        let certificate = &minimality.certificate;
        let faithful = certificate.holds();
        let examples = self.task.num_examples().max(1);
        let mut report = MethodReport {
            name: name.to_string(),
            scores: self
                .graph
                .edge_names()
                .iter()
                .zip(&output.scores)
                .map(|(edge, &score)| (edge.clone(), json_number(score)))
                .collect(),
            circuit: edge_names(&self.graph, circuit),
            num_edges: circuit.num_edges(),
            faithful,
            kl: certificate.kl,
            accuracy: 1.0 - certificate.changed_examples as f64 / examples as f64,
            minimal: faithful.then_some(minimality.removable.is_empty()),
            equals_known: equals_any(circuit, &self.truth),
            smaller_known: smaller_known(circuit, &self.truth),
            seconds: output.seconds,
            forwards: output.forwards,
            backwards: output.backwards,
            settings: output.settings.clone(),
            ..MethodReport::default()
        };
        report.exact = report.equals_known.is_some();
        if let Some(index) = nearest(circuit, &self.truth) {
            let truth = &self.truth[index];
            report.nearest = index;
            let pr = precision_recall(circuit, truth)?;
            report.precision = Some(pr.precision);
            report.recall = Some(pr.recall);
            report.f1 = Some(pr.f1);
            if output.sweep.is_empty() {
                // Score methods: one point per top-k (ties kept), area by trapezoids (auto-circuit).
                let roc = roc_from_scores(&output.scores, &truth.edges)?;
                report.auc = Some(auc_trapezoid(&roc));
                report.auc_rule = "trapezoid over every top-k of the scores".into();
                report.roc = roc.iter().map(|p| (p.fpr, p.tpr)).collect();
            } else {
                // Sweep methods: one point per circuit, Pareto front, ACDC's pessimistic step area.
                let circuits: Vec<Circuit> =
                    output.sweep.iter().map(|p| p.circuit.clone()).collect();
                let front = roc_from_circuits(&circuits, &truth.edges)?;
                report.auc = Some(pessimistic_auc(&front));
                report.auc_rule =
                    "pessimistic step area over the sweep's Pareto front (ACDC)".into();
                report.roc = step_curve(&front);
            }
        }
        let graph = self.graph.clone();
        let curve = faithfulness(&graph, &output.scores, |c| self.metric_of(c))?;
        report.cpr = curve.cpr;
        report.cmd = curve.cmd;
        report.faithfulness = curve
            .points
            .iter()
            .filter_map(|p| p.faithfulness.map(|f| (p.fraction, f)))
            .collect();
        Ok(report)
    }
}

/// The step curve whose area is [`pessimistic_auc`]: from (0,0), each rise in TPR drawn at its own FPR,
/// then on to (1,1).
fn step_curve(front: &[RocPoint]) -> Vec<(f64, f64)> {
    let mut points = vec![(0.0, 0.0)];
    let mut tpr = 0.0;
    for p in front {
        points.push((p.fpr, tpr));
        points.push((p.fpr, p.tpr));
        tpr = p.tpr;
    }
    points.push((1.0, tpr));
    points.push((1.0, 1.0));
    points.dedup();
    points
}

/// JSON has no infinities: an infinite score (ACDC's never-removed edges) is written as a string.
fn json_number(value: f64) -> Json {
    if value.is_finite() {
        json!(value)
    } else {
        json!(value.to_string())
    }
}

/// Runs each method on `task` under `ablation` and scores it; a method that fails is reported with its
/// error, not dropped. `on_method` is called before each method (for a progress bar).
pub fn compare(
    task: &Task,
    ablation: &Ablation,
    task_json: Json,
    methods: &[Box<dyn CircuitMethod>],
    search: &SearchOptions,
    mut on_method: impl FnMut(&str),
) -> Result<Comparison> {
    let started = Instant::now();
    let graph = EdgeGraph::for_model(&task.model);
    on_method("ground truth");
    let truth = known_truth(task, ablation, search)?;
    let mut scorer = Scorer::new(task, ablation, &truth)?;
    let input = MethodInput { task, ablation };
    let mut reports = Vec::with_capacity(methods.len());
    for method in methods {
        on_method(method.name());
        let report = match method.run(&input) {
            Ok(output) => scorer.score(method.name(), &output)?,
            Err(error) => MethodReport {
                name: method.name().to_string(),
                error: Some(error.to_string()),
                ..MethodReport::default()
            },
        };
        reports.push(report);
    }
    Ok(Comparison {
        task: task_json,
        graph_edges: graph.num_edges(),
        truth: truth_summary(&graph, &truth),
        methods: reports,
        seconds: started.elapsed().as_secs_f64(),
    })
}

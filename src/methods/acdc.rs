//! ACDC (Conmy et al. 2023) as its reference code runs it, on Edge Pruning's edge graph.
//!
//! One pass at threshold τ (`TLACDCExperiment.step`): start from the full graph with `cur = metric(full)`;
//! visit the readers in reverse topological order (`resid_post`, `m{L−1}`, then layer L−1's heads: every
//! `.v` reader, heads H−1..0, then every `.k`, then every `.q`; then `m{L−2}`, …). A reader whose component
//! has no kept outgoing edge left is cleared untested (`current_node_connected`). Otherwise each sender is
//! tried in turn, latest writer first (`m{r−1}`, `a{r−1}.h{H−1}..h0`, `m{r−2}`, …, then `tok`, then `pos`,
//! the insertion order of `setup_from_model` with `indices_mode="normal"`): the edge is dropped, the
//! metric recomputed over the whole dataset (one masked forward), and the drop kept when
//! `metric(new) − metric(cur) < τ`, which then becomes `cur`. Removals accumulate.
//!
//! Metric (minimised, against the full model): KL for categorical outputs (Edge Pruning's, positions after
//! BOS); for numerical outputs ACDC's Tracr `l2`, the mean of `(circuit − model)²`, over every position
//! including BOS. ACDC's `l2_metric` skips BOS (`[:, 1:]`, kept here as [`AcdcMetric::L2AfterBos`]); we
//! count it because the certificate does (Edge Pruning's KL over the positions of a numerical output), and
//! with the reference's choice ACDC drops xproportion's two edges that only feed the BOS output, whose
//! circuit then fails the certificate (KL 4.3e-3, decoded outputs unchanged).
//!
//! Sweep: one pass per τ of a grid, the passes sharing their forwards while their decisions agree
//! ([`AcdcRunner::run_grid`]; the grids are ACDC's `launch_spreadsheet.py`): `10^linspace(−5, −1, 21)` for `l2`
//! (its Tracr grid), `10^linspace(−6, 0, 31)` for KL (its IOI KL grid). Score of an edge:
//! `log10` of the smallest grid τ whose pass removed it (ACDC's non-monotone passes make "smallest" the
//! meaningful one; auto-circuit's ACDC scores the same way), so larger means more important; an edge no
//! pass removed scores `log10(largest τ) + 1`, above every removed edge.
//!
//! Operating point (default): ACDC's own sparsest faithful circuit on its sweep: among the circuits of the
//! grid and of [`DEFAULT_TAU`] that pass the certificate, the one with the fewest edges (ties: the larger
//! τ), as subnetwork probing's and the score methods' operating points are chosen; when none passes, the pass at [`DEFAULT_TAU`]. A fixed τ can
//! be asked for instead ([`Acdc::with_settings`]). [`DEFAULT_TAU`] = 1e-9 is the tiny τ: each kept removal
//! raises the metric by less than τ, so the final metric is below `|E|·τ`, under the certificate's KL limit
//! of 1e-6 for graphs of up to 1000 edges, while far above the f64 round-off of a metric that does not move.
//! It can keep edges whose effect lies between 1e-9 and 1e-6 (sort_freq: 22 edges where the grid's τ ≥ 1e-6
//! give the certified 20), which is why it is the fallback rather than the default.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::forward::MaskedForward;
use crate::graph::{EdgeGraph, HeadInput};
use crate::methods::operating_point::FORWARDS_PER_CERTIFICATE;
use crate::methods::{CircuitMethod, MethodInput, MethodOutput, SweepPoint};
use crate::model::OutputKind;
use crate::objective::metric::Metric;
use crate::truth::functional::Certifier;
use crate::truth::structural::reader_component;

/// The tiny τ: the fallback operating point (see the module documentation).
pub const DEFAULT_TAU: f64 = 1e-9;

/// `10^linspace(a, b, n)`, as numpy computes it (`n ≥ 2`).
pub fn log_grid(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64))
        .collect()
}

/// The metric ACDC minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcdcMetric {
    /// KL(full ‖ circuit) over classes at positions after BOS, batch mean (categorical outputs).
    Kl,
    /// `l2`: mean of `(circuit − model)²` over every position, BOS included (numerical outputs).
    L2,
    /// ACDC's own Tracr `l2`: the same mean over positions after BOS only.
    L2AfterBos,
}

impl AcdcMetric {
    /// KL for categorical outputs, `l2` for numerical ones (ACDC's Tracr choice; KL needs classes).
    pub fn for_output(kind: OutputKind) -> Self {
        match kind {
            OutputKind::Categorical => AcdcMetric::Kl,
            OutputKind::Numerical => AcdcMetric::L2,
        }
    }

    /// `kl` or `l2`.
    pub fn name(self) -> &'static str {
        match self {
            AcdcMetric::Kl => "kl",
            AcdcMetric::L2 => "l2",
            AcdcMetric::L2AfterBos => "l2-after-bos",
        }
    }

    /// ACDC's τ grid for this metric (see the module documentation).
    pub fn default_grid(self) -> Vec<f64> {
        match self {
            AcdcMetric::Kl => log_grid(-6.0, 0.0, 31),
            AcdcMetric::L2 | AcdcMetric::L2AfterBos => log_grid(-5.0, -1.0, 21),
        }
    }
}

/// The readers in ACDC's visiting order (reverse topological, see the module documentation).
pub fn reader_order(graph: &EdgeGraph) -> Vec<usize> {
    let mut order = vec![graph.output_reader()];
    let heads: Vec<usize> = (0..graph.num_heads()).rev().collect();
    for layer in (0..graph.num_layers()).rev() {
        order.push(graph.mlp_reader(layer));
        for input in [HeadInput::Value, HeadInput::Key, HeadInput::Query] {
            order.extend(heads.iter().map(|&h| graph.head_reader(layer, h, input)));
        }
    }
    order
}

/// The edges into `reader` in ACDC's testing order: latest writer first, then `tok`, then `pos`.
pub fn sender_order(graph: &EdgeGraph, reader: usize) -> Vec<usize> {
    let into = graph.edges_into(reader);
    let writer = |e: usize| graph.edges()[e].writer;
    let mut order: Vec<usize> = into.iter().copied().filter(|&e| writer(e) >= 2).collect();
    order.sort_by_key(|&e| std::cmp::Reverse(writer(e)));
    for embedding in [0, 1] {
        order.extend(into.iter().copied().filter(|&e| writer(e) == embedding));
    }
    order
}

/// The result of one ACDC pass.
#[derive(Debug, Clone, PartialEq)]
pub struct AcdcPass {
    /// Per edge, in graph order: still present at the end.
    pub kept: Vec<bool>,
    /// The metric of the final circuit.
    pub metric: f64,
    /// Masked forwards over the dataset (the full graph's one included).
    pub forwards: usize,
}

/// A masked forward bound to a task's data, ready to run ACDC passes at any τ.
pub struct AcdcRunner {
    forward: MaskedForward,
    metric: AcdcMetric,
    examples: Vec<usize>,
    visits: Vec<(Option<usize>, Vec<usize>)>,
    node_mask: Vec<f64>,
    /// Stop with [`Error::TimeLimit`] once this instant passes, and the limit it came from (seconds).
    deadline: Option<(Instant, f64)>,
}

impl AcdcRunner {
    /// Prepares the masked forward of `input`'s model over all its examples under its ablation.
    pub fn new(input: &MethodInput<'_>) -> Result<Self> {
        let forward =
            MaskedForward::new(&input.task.model, input.task.clean.view(), input.ablation)?;
        let graph = forward.graph();
        let visits = reader_order(graph)
            .into_iter()
            .map(|r| (reader_component(graph, r), sender_order(graph, r)))
            .collect();
        let node_mask = vec![1.0; graph.num_writers()];
        Ok(Self {
            metric: AcdcMetric::for_output(forward.output_kind()),
            examples: (0..input.task.num_examples()).collect(),
            visits,
            node_mask,
            forward,
            deadline: None,
        })
    }

    /// Makes [`AcdcRunner::run_grid`] fail with [`Error::TimeLimit`] once `seconds` have passed from
    /// now: on rotated or perturbed models every edge has some effect, the grid's passes part at
    /// once, and a sweep can take hours on the larger programs.
    pub fn set_time_limit(&mut self, seconds: f64) {
        self.deadline = Some((Instant::now() + Duration::from_secs_f64(seconds), seconds));
    }

    /// Minimises `metric` instead of the output kind's default (KL needs categorical outputs).
    pub fn set_metric(&mut self, metric: AcdcMetric) -> Result<()> {
        if metric == AcdcMetric::Kl && self.forward.output_kind() != OutputKind::Categorical {
            return Err(Error::InvalidOption {
                option: "ACDC metric".into(),
                message: "kl needs categorical outputs; this model's output is numerical, use l2 or l2-after-bos".into(),
            });
        }
        self.metric = metric;
        Ok(())
    }

    /// The metric this runner minimises.
    pub fn metric(&self) -> AcdcMetric {
        self.metric
    }

    /// The edge graph.
    pub fn graph(&self) -> &EdgeGraph {
        self.forward.graph()
    }

    /// The metric of the circuit whose edge mask is `edge_mask` (one masked forward).
    fn evaluate(&mut self, edge_mask: &[f64]) -> Result<f64> {
        match self.metric {
            AcdcMetric::Kl => {
                self.forward
                    .metric(Metric::Kl, &self.examples, edge_mask, &self.node_mask)
            }
            AcdcMetric::L2 => {
                self.forward
                    .metric(Metric::Mse, &self.examples, edge_mask, &self.node_mask)
            }
            AcdcMetric::L2AfterBos => {
                self.forward
                    .forward(&self.examples, edge_mask, &self.node_mask)?;
                let output = self.forward.output();
                let reference = self.forward.reference();
                let (examples, positions, outputs) = output.dim();
                let mut total = 0.0;
                for n in 0..examples {
                    for p in 1..positions {
                        for o in 0..outputs {
                            let d = output[[n, p, o]] - reference[[n, p, o]];
                            total += d * d;
                        }
                    }
                }
                let count = examples * positions.saturating_sub(1) * outputs;
                Ok(total / count.max(1) as f64)
            }
        }
    }

    /// One ACDC pass at threshold `tau` (τ ≥ 0, finite).
    pub fn run(&mut self, tau: f64) -> Result<AcdcPass> {
        let (mut passes, _) = self.run_grid(&[tau])?;
        Ok(passes.remove(0))
    }

    /// One ACDC pass per τ of `taus` (in that order), exactly as [`AcdcRunner::run`] would give them, and
    /// the masked forwards actually run. Passes whose decisions have agreed so far share their forwards:
    /// a test's metric difference splits the τ's into those that remove the edge and those that keep it,
    /// and only then do the passes continue apart. On compiled models, where an edge's effect is either
    /// nothing or large, a whole grid then costs little more than one pass.
    pub fn run_grid(&mut self, taus: &[f64]) -> Result<(Vec<AcdcPass>, usize)> {
        for &tau in taus {
            check_tau("tau", tau)?;
        }
        let num_edges = self.graph().num_edges();
        let visits = self.visits.clone();
        let edge_mask = vec![1.0; num_edges];
        let full_metric = self.evaluate(&edge_mask)?;
        let mut forwards = 1;
        let mut passes: Vec<Option<AcdcPass>> = vec![None; taus.len()];
        let mut stack = vec![Branch {
            taus: (0..taus.len()).collect(),
            kept: vec![true; num_edges],
            edge_mask,
            current: full_metric,
            visit: 0,
            sender: 0,
            path_forwards: 1,
        }];
        while let Some(mut branch) = stack.pop() {
            while branch.visit < visits.len() {
                let (component, senders) = &visits[branch.visit];
                if branch.sender == 0 {
                    let connected = component.is_none_or(|c| {
                        self.forward
                            .graph()
                            .edges_from(c)
                            .iter()
                            .any(|&e| branch.kept[e])
                    });
                    if !connected {
                        for &edge in senders {
                            branch.kept[edge] = false;
                            branch.edge_mask[edge] = 0.0;
                        }
                        branch.visit += 1;
                        continue;
                    }
                }
                if branch.sender == senders.len() {
                    branch.visit += 1;
                    branch.sender = 0;
                    continue;
                }
                let edge = senders[branch.sender];
                branch.sender += 1;
                branch.edge_mask[edge] = 0.0;
                if let Some((deadline, seconds)) = self.deadline {
                    if Instant::now() > deadline {
                        return Err(Error::TimeLimit {
                            what: "ACDC".into(),
                            seconds,
                            progress: format!(
                                "{forwards} forwards, {} of {} τ passes finished",
                                passes.iter().filter(|p| p.is_some()).count(),
                                taus.len()
                            ),
                            advice: "raise or drop --acdc-time-limit".into(),
                        });
                    }
                }
                let new = self.evaluate(&branch.edge_mask)?;
                forwards += 1;
                branch.path_forwards += 1;
                let delta = new - branch.current;
                // A NaN difference fails every comparison, so the edge is restored.
                let (removing, keeping): (Vec<usize>, Vec<usize>) =
                    branch.taus.iter().partition(|&&t| delta < taus[t]);
                if !keeping.is_empty() {
                    let mut kept_branch = Branch {
                        taus: keeping,
                        edge_mask: branch.edge_mask.clone(),
                        kept: branch.kept.clone(),
                        ..branch
                    };
                    kept_branch.edge_mask[edge] = 1.0;
                    if removing.is_empty() {
                        branch = kept_branch;
                        continue;
                    }
                    stack.push(kept_branch);
                }
                branch.taus = removing;
                branch.kept[edge] = false;
                branch.current = new;
            }
            for &t in &branch.taus {
                passes[t] = Some(AcdcPass {
                    kept: branch.kept.clone(),
                    metric: branch.current,
                    forwards: branch.path_forwards,
                });
            }
        }
        let passes = passes
            .into_iter()
            .map(|p| p.expect("every τ ends in exactly one branch"))
            .collect();
        Ok((passes, forwards))
    }
}

/// The state of the passes that have made the same decisions so far.
struct Branch {
    /// Indices of the τ's on this branch.
    taus: Vec<usize>,
    kept: Vec<bool>,
    edge_mask: Vec<f64>,
    current: f64,
    /// Position: the visit (reader) and the sender within it to test next.
    visit: usize,
    sender: usize,
    /// Forwards a lone pass along this branch would have run.
    path_forwards: usize,
}

fn check_tau(option: &str, tau: f64) -> Result<()> {
    if tau.is_finite() && tau >= 0.0 {
        return Ok(());
    }
    Err(Error::InvalidOption {
        option: format!("ACDC {option}"),
        message: format!(
            "got {tau}; τ must be a finite number >= 0 (an edge is removed when it raises the metric by less than τ; e.g. {DEFAULT_TAU})"
        ),
    })
}

/// ACDC with a τ grid for its sweep and one τ for its operating point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acdc {
    grid: Option<Vec<f64>>,
    operating_tau: Option<f64>,
    metric: Option<AcdcMetric>,
    time_limit: Option<f64>,
}

impl Acdc {
    /// ACDC with the metric's default grid and the sparsest faithful circuit of its sweep as operating point.
    pub fn new() -> Self {
        Self::default()
    }

    /// ACDC with a given grid (`None`: the metric's default) and operating τ (`None`: the sparsest faithful
    /// circuit of the sweep); rejects τ < 0, non-finite τ, an empty grid, and grid values ≤ 0 (scores are
    /// `log10 τ`).
    pub fn with_settings(grid: Option<Vec<f64>>, operating_tau: Option<f64>) -> Result<Self> {
        if let Some(tau) = operating_tau {
            check_tau("tau", tau)?;
        }
        if let Some(grid) = &grid {
            if grid.is_empty() {
                return Err(Error::InvalidOption {
                    option: "ACDC tau grid".into(),
                    message: "is empty; give at least one τ > 0, e.g. 1e-5,1e-4,1e-3".into(),
                });
            }
            for &tau in grid {
                check_tau("tau grid value", tau)?;
                if tau == 0.0 {
                    return Err(Error::InvalidOption {
                        option: "ACDC tau grid value".into(),
                        message: "got 0; grid values must be > 0 because edge scores are log10 τ"
                            .into(),
                    });
                }
            }
        }
        Ok(Self {
            grid,
            operating_tau,
            metric: None,
            time_limit: None,
        })
    }

    /// The same ACDC failing with [`Error::TimeLimit`] when its sweep takes more than `seconds`
    /// (finite, > 0).
    pub fn with_time_limit(self, seconds: f64) -> Result<Self> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(Error::InvalidOption {
                option: "ACDC time limit".into(),
                message: format!("must be a finite number of seconds > 0, got {seconds}"),
            });
        }
        Ok(Self {
            time_limit: Some(seconds),
            ..self
        })
    }

    /// The same ACDC minimising `metric` instead of the output kind's default.
    pub fn with_metric(self, metric: AcdcMetric) -> Self {
        Self {
            metric: Some(metric),
            ..self
        }
    }
}

impl CircuitMethod for Acdc {
    fn name(&self) -> &'static str {
        "acdc"
    }

    fn run(&self, input: &MethodInput<'_>) -> Result<MethodOutput> {
        let started = Instant::now();
        let mut runner = AcdcRunner::new(input)?;
        if let Some(seconds) = self.time_limit {
            runner.set_time_limit(seconds);
        }
        if let Some(metric) = self.metric {
            runner.set_metric(metric)?;
        }
        let metric = runner.metric();
        let mut grid = self.grid.clone().unwrap_or_else(|| metric.default_grid());
        grid.sort_by(f64::total_cmp);
        grid.dedup();
        let graph = runner.graph().clone();
        let mut taus = grid.clone();
        let extra_tau = self.operating_tau.unwrap_or(DEFAULT_TAU);
        let extra_index = match grid.iter().position(|&t| t == extra_tau) {
            Some(index) => index,
            None => {
                taus.push(extra_tau);
                grid.len()
            }
        };
        let (mut passes, mut forwards) = runner.run_grid(&taus)?;
        let mut operating_index = extra_index;
        let mut faithful = None;
        if self.operating_tau.is_none() {
            let mut certifier = Certifier::new(input.task, input.ablation)?;
            let mut by_tau: Vec<usize> = (0..taus.len()).collect();
            by_tau.sort_by(|&a, &b| taus[b].total_cmp(&taus[a]));
            let mut tested: Vec<(&Vec<bool>, bool)> = Vec::new();
            let mut best: Option<(usize, usize)> = None;
            for index in by_tau {
                let kept = &passes[index].kept;
                let holds = match tested.iter().find(|(k, _)| *k == kept) {
                    Some(&(_, holds)) => holds,
                    None => {
                        forwards += FORWARDS_PER_CERTIFICATE;
                        let holds = certifier
                            .certify(&Circuit::from_edges(&graph, kept.clone()))?
                            .holds();
                        tested.push((kept, holds));
                        holds
                    }
                };
                let size = kept.iter().filter(|&&k| k).count();
                // Fewest edges; among equal sizes the larger τ, seen first.
                if holds && best.is_none_or(|(_, best_size)| size < best_size) {
                    best = Some((index, size));
                }
            }
            if let Some((index, _)) = best {
                operating_index = index;
                faithful = Some(true);
            }
            faithful.get_or_insert(false);
        }
        let operating_tau = taus[operating_index];
        let operating = passes[operating_index].clone();
        passes.truncate(grid.len());
        let mut sweep = Vec::with_capacity(grid.len());
        let mut smallest_removing: Vec<Option<f64>> = vec![None; graph.num_edges()];
        for (&tau, pass) in grid.iter().zip(passes) {
            for (slot, &kept) in smallest_removing.iter_mut().zip(&pass.kept) {
                if !kept && slot.is_none() {
                    *slot = Some(tau);
                }
            }
            sweep.push(SweepPoint {
                parameter: tau,
                circuit: Circuit::from_edges(&graph, pass.kept),
            });
        }
        let never_removed = grid.last().map_or(0.0, |t| t.log10() + 1.0);
        let scores = smallest_removing
            .iter()
            .map(|tau| tau.map_or(never_removed, f64::log10))
            .collect();
        Ok(MethodOutput {
            scores,
            circuit: Circuit::from_edges(&graph, operating.kept),
            sweep,
            forwards,
            backwards: 0,
            seconds: started.elapsed().as_secs_f64(),
            settings: json!({
                "metric": metric.name(),
                "tau": operating_tau,
                "operating_point": if self.operating_tau.is_some() {
                    "the given tau"
                } else {
                    "fewest-edge circuit (grid and 1e-9) that passes the certificate, ties to the larger tau; else 1e-9"
                },
                "faithful": faithful,
                "operating_metric": operating.metric,
                "grid": grid,
                "score": "log10 of the smallest grid tau that removed the edge; never removed: log10(max tau) + 1",
                "reader_order": "resid_post, then per layer from the last: mlp, heads' v, k, q (heads H-1..0)",
                "sender_order": "latest writer first, then tok, then pos",
            }),
        })
    }
}

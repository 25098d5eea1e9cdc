//! The functional ground truth: a circuit certified by brute force on the task's data.
//!
//! A circuit is *sufficient* when running the model with only its edges (all other edges ablated, node
//! masks on) leaves every decoded output unchanged and the KL to the full model below [`KL_LIMIT`]; it is
//! *minimal* when dropping any one of its edges breaks that. Starting from the structural circuit, edges
//! are removed greedily in graph order while the circuit stays sufficient, pass after pass, until no single
//! edge can go; the last pass tried every remaining edge, which is the minimality certificate.

use std::collections::HashMap;

use ndarray::{s, ArrayView3};

use crate::ablation::Ablation;
use crate::circuit::Circuit;
use crate::error::Result;
use crate::forward::{residual_supports, MaskedForward};
use crate::graph::EdgeGraph;
use crate::model::OutputKind;
use crate::objective::metric::Metric;
use crate::task::Task;
use crate::truth::structural::{keep_paths_to_output, reader_component, shared_dims};

/// KL (Edge Pruning's, against the full model) below which a circuit counts as faithful.
pub const KL_LIMIT: f64 = 1e-6;

/// Largest change of a numerical output that still counts as "unchanged": Tracr's numerical outputs are
/// exact up to f64 round-off and its discretising MLPs' 1/mlp_exactness slopes, far below this.
pub const NUMERICAL_TOLERANCE: f64 = 1e-6;

/// How a circuit fares on the whole dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// KL to the full model.
    pub kl: f64,
    /// Examples whose decoded output (positions after BOS) differs from the full model's.
    pub changed_examples: usize,
}

impl Certificate {
    /// Whether the circuit reproduces the full model.
    pub fn holds(&self) -> bool {
        self.changed_examples == 0 && self.kl < KL_LIMIT
    }
}

/// Why a structural edge is not in the functional circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceReason {
    /// It carries only `one` / `tokens:BOS` into a head's query or key: the attend-to-BOS default,
    /// which this data never needs (some query always finds a match).
    BosDefault,
    /// Under interchange ablation the writer's clean and corrupted activations agree on the dimensions
    /// the edge carries, so ablating it changes nothing.
    AblationInvariant,
    /// Its reader's component no longer reaches the output once the other removals are made.
    DeadEnd,
    /// Removing it changes no output on this data for another reason (e.g. a value never queried).
    UnusedOnData,
}

impl DifferenceReason {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DifferenceReason::BosDefault => "bos-default",
            DifferenceReason::AblationInvariant => "ablation-invariant",
            DifferenceReason::DeadEnd => "dead-end",
            DifferenceReason::UnusedOnData => "unused-on-data",
        }
    }
}

/// One structural edge missing from the functional circuit.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The edge index.
    pub edge: usize,
    /// The edge name.
    pub name: String,
    /// Why it could go.
    pub reason: DifferenceReason,
}

/// The functional ground truth with its certificate.
#[derive(Debug, Clone)]
pub struct FunctionalTruth {
    /// The certified circuit.
    pub circuit: Circuit,
    /// Its sufficiency certificate.
    pub certificate: Certificate,
    /// The structural circuit it started from, and its certificate.
    pub structural_certificate: Certificate,
    /// Edges of the starting circuit that were removed, with the reason.
    pub differences: Vec<Difference>,
    /// Number of sufficiency checks run (each a forward over the whole dataset).
    pub checks: usize,
}

/// Runs circuits on the task's data and certifies them.
pub struct Certifier {
    forward: MaskedForward,
    output: OutputKind,
    metric: Metric,
    examples: Vec<usize>,
    reference_decoded: Vec<Vec<Decoded>>,
}

impl Certifier {
    /// Prepares the masked forward of the task's model over all its examples under `ablation`.
    pub fn new(task: &Task, ablation: &Ablation) -> Result<Self> {
        let mut forward = MaskedForward::new(&task.model, task.clean.view(), ablation)?;
        // Successive circuits differ in a few edges: recompute only the components they affect.
        forward.set_reuse_unchanged_components(true);
        let examples: Vec<usize> = (0..task.num_examples()).collect();
        let reference_decoded = decode(task.output, forward.reference().view());
        Ok(Self {
            forward,
            output: task.output,
            metric: task.metric,
            examples,
            reference_decoded,
        })
    }

    /// The certificate of `circuit` (its node masks are used as given).
    pub fn certify(&mut self, circuit: &Circuit) -> Result<Certificate> {
        let edge_mask = circuit.edge_mask();
        let node_mask = circuit.node_mask();
        let kl = self
            .forward
            .metric(self.metric, &self.examples, &edge_mask, &node_mask)?;
        // The metric's forward left this circuit's output in the workspace.
        let decoded = decode(self.output, self.forward.output());
        let changed_examples = decoded
            .iter()
            .zip(&self.reference_decoded)
            .filter(|(ours, full)| {
                ours.iter()
                    .zip(full.iter())
                    .any(|(a, b)| match self.output {
                        // The circuit must pick one of the classes the full model ties for first.
                        OutputKind::Categorical => !b.tied_classes.contains(&(a.value as usize)),
                        OutputKind::Numerical => (a.value - b.value).abs() > NUMERICAL_TOLERANCE,
                    })
            })
            .count();
        Ok(Certificate {
            kl,
            changed_examples,
        })
    }
}

/// Logits closer than this (relative to the largest) count as a tie: Tracr's categorical attention can
/// split evenly between two values (e.g. sort_unique on repeated keys), and which of the two exactly tied
/// classes argmax picks then depends on summation order, not on the circuit.
pub const TIE_TOLERANCE: f64 = 1e-9;

/// One decoded position: the argmax class (as f64) or the number, and for classes every class tied for first.
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    value: f64,
    tied_classes: Vec<usize>,
}

/// Decoded outputs per example at positions after BOS.
fn decode(kind: OutputKind, output: ArrayView3<f64>) -> Vec<Vec<Decoded>> {
    let (examples, positions, _) = output.dim();
    (0..examples)
        .map(|n| {
            (1..positions)
                .map(|p| match kind {
                    OutputKind::Categorical => {
                        let row = output.slice(s![n, p, ..]);
                        // Ties go to the first index, as Tracr's argmax does.
                        let best = row
                            .iter()
                            .enumerate()
                            .fold(0, |b, (i, &z)| if z > row[b] { i } else { b });
                        let top = row[best];
                        let tolerance = TIE_TOLERANCE * top.abs().max(1.0);
                        Decoded {
                            value: best as f64,
                            tied_classes: (0..row.len())
                                .filter(|&i| top - row[i] <= tolerance)
                                .collect(),
                        }
                    }
                    OutputKind::Numerical => Decoded {
                        value: output[[n, p, 0]],
                        tied_classes: Vec::new(),
                    },
                })
                .collect()
        })
        .collect()
}

/// Certifies a functional circuit by greedy elimination from `start` (usually the structural truth).
pub fn functional(task: &Task, ablation: &Ablation, start: &Circuit) -> Result<FunctionalTruth> {
    functional_on(&[(task, ablation)], start)
}

/// Certifiers over several datasets of the same model (e.g. one per sequence length): a circuit
/// passes only if it passes on every one of them.
pub struct CertifierSet {
    certifiers: Vec<Certifier>,
    graph: EdgeGraph,
    checks: usize,
    /// Certificates already computed, by circuit (see [`CertifierSet::certify`]); `None`: off.
    known: Option<HashMap<Vec<u64>, Certificate>>,
    /// Forwards actually run (a repeated circuit runs none).
    forwards: usize,
}

/// A circuit's edges then nodes, 64 to a word: the key of [`CertifierSet`]'s known certificates.
fn circuit_key(circuit: &Circuit) -> Vec<u64> {
    let bits = circuit.edges.iter().chain(&circuit.nodes);
    let mut key = vec![0u64; (circuit.edges.len() + circuit.nodes.len()).div_ceil(64) + 1];
    // The edge count first, so that no two bit strings of different splits share a key.
    key[0] = circuit.edges.len() as u64;
    for (i, &on) in bits.enumerate() {
        key[1 + i / 64] |= u64::from(on) << (i % 64);
    }
    key
}

impl CertifierSet {
    /// Prepares one [`Certifier`] per dataset; at least one dataset is required.
    pub fn new(data: &[(&Task, &Ablation)]) -> Result<Self> {
        if data.is_empty() {
            return Err(crate::error::Error::InvalidOption {
                option: "data".into(),
                message: "no dataset to certify on".into(),
            });
        }
        let certifiers = data
            .iter()
            .map(|(task, ablation)| Certifier::new(task, ablation))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            certifiers,
            graph: EdgeGraph::for_model(&data[0].0.model),
            checks: 0,
            known: Some(HashMap::new()),
            forwards: 0,
        })
    }

    /// [`CertifierSet::new`] that runs a full forward for every certification: no component states
    /// kept between forwards, no certificate remembered. The reference the fast path is tested against.
    pub fn without_reuse(data: &[(&Task, &Ablation)]) -> Result<Self> {
        let mut set = Self::new(data)?;
        for certifier in &mut set.certifiers {
            certifier.forward.set_reuse_unchanged_components(false);
        }
        set.known = None;
        Ok(set)
    }

    /// The certificate over all datasets: the largest KL, and the changed examples of all of them.
    ///
    /// A circuit certified before gets its first certificate again without a forward: the forward is
    /// deterministic, so running it again would give the same bits (the searches revisit circuits
    /// often, e.g. every minimality check repeats the last elimination pass).
    pub fn certify(&mut self, circuit: &Circuit) -> Result<Certificate> {
        self.checks += 1;
        let key = self.known.as_ref().map(|_| circuit_key(circuit));
        if let (Some(known), Some(key)) = (&self.known, &key) {
            if let Some(certificate) = known.get(key) {
                return Ok(certificate.clone());
            }
        }
        self.forwards += 1;
        let mut total = Certificate {
            kl: 0.0,
            changed_examples: 0,
        };
        for certifier in &mut self.certifiers {
            let part = certifier.certify(circuit)?;
            total.kl = total.kl.max(part.kl);
            total.changed_examples += part.changed_examples;
        }
        if let (Some(known), Some(key)) = (&mut self.known, key) {
            known.insert(key, total.clone());
        }
        Ok(total)
    }

    /// Starts counting [`CertifierSet::checks`] from zero again (certificates stay known): a search
    /// that shares the set with an earlier one counts, and budgets, only its own checks.
    pub fn reset_checks(&mut self) {
        self.checks = 0;
    }

    /// Forwards run over every dataset so far (certifications of a circuit not seen before).
    pub fn forwards(&self) -> usize {
        self.forwards
    }

    /// The edge graph of the model.
    pub fn graph(&self) -> &EdgeGraph {
        &self.graph
    }

    /// Number of circuits certified so far (each a forward over every dataset).
    pub fn checks(&self) -> usize {
        self.checks
    }
}

/// [`functional`] certified on several datasets at once (all of the same model), e.g. one per
/// sequence length: a circuit must pass on every one of them.
pub fn functional_on(data: &[(&Task, &Ablation)], start: &Circuit) -> Result<FunctionalTruth> {
    functional_on_with_progress(data, start, &mut |_| {})
}

/// Where [`functional_on_with_progress`] is: in elimination pass `pass` (from 1), `tried` of the
/// `edges` edges of the graph looked at, `checks` certificates computed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EliminationProgress {
    /// The elimination pass, from 1.
    pub pass: usize,
    /// Edges of the graph looked at in this pass.
    pub tried: usize,
    /// Edges in the graph.
    pub edges: usize,
    /// Certificates computed so far.
    pub checks: usize,
}

/// [`functional_on`], calling `on_progress` after every edge looked at (for a progress bar).
pub fn functional_on_with_progress(
    data: &[(&Task, &Ablation)],
    start: &Circuit,
    on_progress: &mut dyn FnMut(EliminationProgress),
) -> Result<FunctionalTruth> {
    let mut certifiers = CertifierSet::new(data)?;
    functional_with(&mut certifiers, data, start, on_progress)
}

/// [`functional_on_with_progress`] on certifiers built from `data` by the caller, so that a later
/// search on the same data (e.g. [`crate::truth::alternatives::minimal_circuits_with`]) reuses the
/// certificates computed here. Its `checks` count only this call's certifications.
pub fn functional_with(
    certifiers: &mut CertifierSet,
    data: &[(&Task, &Ablation)],
    start: &Circuit,
    on_progress: &mut dyn FnMut(EliminationProgress),
) -> Result<FunctionalTruth> {
    certifiers.reset_checks();
    let graph = EdgeGraph::for_model(&data[0].0.model);
    let structural_certificate = certifiers.certify(start)?;
    let mut circuit = start.clone();
    if structural_certificate.holds() {
        let order: Vec<usize> = (0..graph.num_edges()).collect();
        eliminate_with_progress(certifiers, &mut circuit, &order, on_progress)?;
    }
    let checks = certifiers.checks();
    let certificate = certifiers.certify(&circuit)?;
    let differences = classify(data, &graph, start, &circuit)?;
    Ok(FunctionalTruth {
        circuit,
        certificate,
        structural_certificate,
        differences,
        checks,
    })
}

/// Greedy elimination: tries to drop each kept edge of `circuit` in `order` (edges not in `order` are
/// never dropped) while it stays sufficient, pass after pass until a pass drops nothing. `circuit` must
/// be sufficient on entry; on return it is sufficient and no edge of `order` can go alone (the last
/// pass tried each). Returns whether anything was dropped.
pub fn eliminate(
    certifiers: &mut CertifierSet,
    circuit: &mut Circuit,
    order: &[usize],
) -> Result<bool> {
    eliminate_with_progress(certifiers, circuit, order, &mut |_| {})
}

/// [`eliminate`], calling `on_progress` after every edge of `order` looked at.
pub fn eliminate_with_progress(
    certifiers: &mut CertifierSet,
    circuit: &mut Circuit,
    order: &[usize],
    on_progress: &mut dyn FnMut(EliminationProgress),
) -> Result<bool> {
    let mut dropped_any = false;
    let mut pass = 0;
    loop {
        pass += 1;
        let mut removed_any = false;
        for (tried, &edge) in order.iter().enumerate() {
            on_progress(EliminationProgress {
                pass,
                tried: tried + 1,
                edges: order.len(),
                checks: certifiers.checks(),
            });
            if !circuit.edges[edge] {
                continue;
            }
            circuit.edges[edge] = false;
            if certifiers.certify(circuit)?.holds() {
                removed_any = true;
            } else {
                circuit.edges[edge] = true;
            }
        }
        if !removed_any {
            return Ok(dropped_any);
        }
        dropped_any = true;
    }
}

/// Explains each edge of `start` that `kept` lacks.
fn classify(
    data: &[(&Task, &Ablation)],
    graph: &EdgeGraph,
    start: &Circuit,
    kept: &Circuit,
) -> Result<Vec<Difference>> {
    let model = &data[0].0.model;
    // Reasons speak of compiled dimensions (`one`, `tokens:BOS`): read a rotated model unrotated.
    let compiled = model.in_compiled_basis();
    let (writer_dims, reader_dims) = residual_supports(compiled.as_ref());
    let labels = compiled.residual_labels.clone().unwrap_or_default();
    let bos_labels = ["one".to_string(), "tokens:BOS".to_string()];
    // Clean and corrupted writer states of every interchange dataset (none for other ablations).
    let mut interchange_states = Vec::new();
    for (task, ablation) in data {
        if let Ablation::Interchange { corrupted_ids } = ablation {
            interchange_states.push((
                model.writer_states(task.clean.view())?,
                model.writer_states(corrupted_ids.view())?,
            ));
        }
    }
    // Which components still reach the output in the kept circuit.
    let mut reachable = kept.edges.clone();
    keep_paths_to_output(graph, &mut reachable);
    let mut live_component = vec![false; graph.num_writers()];
    for (edge, &on) in reachable.iter().enumerate() {
        if on {
            live_component[graph.edges()[edge].writer] = true;
        }
    }
    let names = graph.edge_names();
    let mut differences = Vec::new();
    for (edge, name) in names.iter().enumerate() {
        if !start.edges[edge] || kept.edges[edge] {
            continue;
        }
        let e = graph.edges()[edge];
        let shared = shared_dims(&writer_dims, &reader_dims, graph, edge);
        let reader_name = &graph.reader_names()[e.reader];
        let into_query_or_key = reader_name.ends_with(".q") || reader_name.ends_with(".k");
        let reason = if reader_component(graph, e.reader).is_some_and(|c| !live_component[c]) {
            DifferenceReason::DeadEnd
        } else if into_query_or_key
            && !labels.is_empty()
            && shared
                .iter()
                .all(|&d| bos_labels.iter().any(|l| labels.get(d) == Some(l)))
        {
            DifferenceReason::BosDefault
        } else if !interchange_states.is_empty()
            && interchange_states.iter().all(|(clean, corrupted)| {
                shared.iter().all(|&d| {
                    clean.slice(s![e.writer, .., .., d]) == corrupted.slice(s![e.writer, .., .., d])
                })
            })
        {
            DifferenceReason::AblationInvariant
        } else {
            DifferenceReason::UnusedOnData
        };
        differences.push(Difference {
            edge,
            name: name.clone(),
            reason,
        });
    }
    Ok(differences)
}

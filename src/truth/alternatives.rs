//! Ground truth as a set: every inclusion-minimal faithful circuit we can find, not just the first.
//!
//! The functional truth ([`super::functional`]) is the circuit greedy elimination reaches in graph order;
//! other elimination orders can reach other circuits that are just as faithful and just as minimal (on
//! `shuffle_dyck`, a head can read its answer off the BOS position instead of the program's data flow).
//! This module searches for all of them.
//!
//! **Search space.** Every minimal circuit is a subset of the structural circuit, and of its *closed*
//! subsets (every kept edge's reader component has a kept outgoing edge). Proof: an edge whose writer
//! and reader share no residual dimension is never read by the masked forward (it restricts every
//! reader to its support), so dropping it leaves the output bit for bit unchanged; and an edge into a
//! component none of whose outgoing edges is kept feeds a computation nobody reads, so dropping it leaves
//! the output unchanged too. In a minimal circuit every edge is necessary, so neither kind occurs, and
//! the edges left are exactly structural edges forming a closed set. The same argument shows that a set
//! is faithful exactly when its closure (dead edges dropped) is.
//!
//! **Exhaustive search** (when there are at most [`SearchOptions::exhaustive_limit`] closed subsets):
//! every closed subset is certified once; a faithful one is minimal exactly when, for each of its
//! edges, the closure of the set without that edge is not faithful (the closure is itself a closed
//! subset, so its verdict is already known). That finds every minimal circuit: the list is complete.
//!
//! **Heuristic search** (otherwise): greedy elimination from the structural circuit in graph order (the
//! functional truth), in reverse graph order and in seeded random orders, then swap moves: for each
//! found circuit `C` and each of its edges `e`, reach minimal circuits without `e` from the structural
//! circuit without `e` (eliminating the edges outside `C` first, or `C`'s first) and from `C` without
//! `e` repaired by adding structural edges until it is sufficient (then eliminating `C`'s edges
//! first), and by trying every other set of inputs of the component `e` feeds; new circuits are searched from in turn, until none is new or the check budget is spent.
//! The list is then not known to be complete.
//!
//! Every circuit reported is re-certified at the end with [`is_minimal`]: sufficient, and each edge
//! necessary.

use std::collections::{HashSet, VecDeque};

use crate::ablation::Ablation;
use crate::circuit::Circuit;
use crate::error::Result;
use crate::forward::residual_supports;
use crate::graph::EdgeGraph;
use crate::model::Transformer;
use crate::rng::Rng;
use crate::scores::Confusion;
use crate::task::Task;
use crate::truth::functional::{eliminate, Certificate, CertifierSet};
use crate::truth::structural::{keep_paths_to_output, reader_component, shared_dims, structural};

/// How hard to search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    /// Largest number of closed subsets of the structural circuit certified one by one (each a forward
    /// over the data); above it the heuristic search runs instead.
    pub exhaustive_limit: usize,
    /// Also caps the exhaustive search by work: closed subsets × examples (summed over the datasets) at
    /// most this, since each subset costs a forward over every example.
    pub exhaustive_work: usize,
    /// Seeded random elimination orders tried by the heuristic search.
    pub random_orders: usize,
    /// Seed of those orders.
    pub seed: u64,
    /// Whether the heuristic search tries swap moves after the elimination orders.
    pub swaps: bool,
    /// Certifications the heuristic search may spend (it stops starting new eliminations beyond it).
    pub max_checks: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        // Sized so that `compare --all` (52 searches, each check a forward over up to 10,000 sequences)
        // stays within minutes on 2 cores; the tests that need a deeper search say so.
        Self {
            exhaustive_limit: 4096,
            exhaustive_work: 4096 * 256,
            random_orders: 2,
            seed: 0,
            swaps: true,
            max_checks: 400,
        }
    }
}

/// How the list was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// Every closed subset of the structural circuit certified: the list is complete.
    Exhaustive {
        /// How many closed subsets there were.
        closed_subsets: usize,
    },
    /// Elimination orders and swap moves: the list may miss circuits.
    Heuristic {
        /// More closed subsets than this exist (the exhaustive limit).
        closed_subsets_over: usize,
    },
}

/// One minimal faithful circuit.
#[derive(Debug, Clone, PartialEq)]
pub struct MinimalCircuit {
    /// The circuit (node masks on).
    pub circuit: Circuit,
    /// Its sufficiency certificate.
    pub certificate: Certificate,
    /// Its edges that carry only `one`/`tokens:BOS` into a head's query or key: the attend-to-BOS
    /// default, a shortcut where the program's data flow would use other inputs.
    pub bos_default_edges: Vec<usize>,
    /// Which search step found it first (e.g. `graph order`, `random order 3`, `swap out a0.h0->m0`).
    pub found_by: String,
}

impl MinimalCircuit {
    /// Number of edges.
    pub fn size(&self) -> usize {
        self.circuit.num_edges()
    }
}

/// The minimal faithful circuits found, with the search's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct MinimalCircuits {
    /// The circuits, smallest first (ties in graph order of their edge lists).
    pub circuits: Vec<MinimalCircuit>,
    /// Index of the smallest (the first of the smallest size); `None` when nothing was found.
    pub smallest: Option<usize>,
    /// Index of the one that follows the program's data flow: fewest BOS-default edges, then smallest,
    /// then first; `None` when nothing was found.
    pub intended: Option<usize>,
    /// Whether every minimal circuit is in the list (true only for the exhaustive search).
    pub complete: bool,
    /// How the list was obtained.
    pub search: SearchKind,
    /// Certifications run (each a forward over every dataset).
    pub checks: usize,
}

impl MinimalCircuits {
    /// The circuits alone, in list order (for [`nearest`], [`equals_any`], [`smaller_known`]).
    pub fn as_circuits(&self) -> Vec<Circuit> {
        self.circuits.iter().map(|m| m.circuit.clone()).collect()
    }
}

/// Edges (per graph edge) that carry only `one`/`tokens:BOS` into a head's query or key.
pub fn bos_default_edges(model: &Transformer, graph: &EdgeGraph) -> Vec<bool> {
    // Compiled dimensions have names; a rotated model's have not until the rotation is undone.
    let model = model.in_compiled_basis();
    let model = model.as_ref();
    let (writer_dims, reader_dims) = residual_supports(model);
    let Some(labels) = model.residual_labels.as_ref() else {
        return vec![false; graph.num_edges()];
    };
    (0..graph.num_edges())
        .map(|edge| {
            let reader = &graph.reader_names()[graph.edges()[edge].reader];
            let shared = shared_dims(&writer_dims, &reader_dims, graph, edge);
            (reader.ends_with(".q") || reader.ends_with(".k"))
                && !shared.is_empty()
                && shared.iter().all(|&d| {
                    labels
                        .get(d)
                        .is_some_and(|l| l == "one" || l == "tokens:BOS")
                })
        })
        .collect()
}

/// Searches for the minimal faithful circuits of the model of `data` (several datasets of the same
/// model, e.g. one per length, certified together), exhaustively when the space is small enough.
pub fn minimal_circuits(
    data: &[(&Task, &Ablation)],
    options: &SearchOptions,
) -> Result<MinimalCircuits> {
    let mut certifiers = CertifierSet::new(data)?;
    minimal_circuits_with(&mut certifiers, data, options)
}

/// [`minimal_circuits`] on certifiers built from `data` by the caller (e.g. already used for the
/// functional truth, whose certificates the search then reuses). Its `checks`, and the budget
/// `options.max_checks`, count only this call's certifications.
pub fn minimal_circuits_with(
    certifiers: &mut CertifierSet,
    data: &[(&Task, &Ablation)],
    options: &SearchOptions,
) -> Result<MinimalCircuits> {
    certifiers.reset_checks();
    let model = &data[0].0.model;
    let graph = EdgeGraph::for_model(model);
    let candidates = structural(model);
    let examples: usize = data.iter().map(|(task, _)| task.num_examples()).sum();
    let limit = options
        .exhaustive_limit
        .min(options.exhaustive_work / examples.max(1));
    let closed = count_closed_subsets(&graph, &candidates, limit);
    let (found, complete, search) = if closed <= limit {
        (
            exhaustive(&graph, &candidates, certifiers)?,
            true,
            SearchKind::Exhaustive {
                closed_subsets: closed,
            },
        )
    } else {
        (
            heuristic(&graph, &candidates, certifiers, options)?,
            false,
            SearchKind::Heuristic {
                closed_subsets_over: limit,
            },
        )
    };
    let bos = bos_default_edges(model, &graph);
    let mut circuits = Vec::with_capacity(found.len());
    for (edges, found_by) in found {
        let circuit = Circuit::from_edges(&graph, edges);
        let check = is_minimal(certifiers, &circuit)?;
        if !check.holds() {
            // The search's own bookkeeping says this cannot happen; refuse to report it as truth.
            return Err(crate::error::Error::Unsupported {
                message: format!(
                    "alternative circuit {:?} failed re-certification (KL {:.2e}, {} examples changed, removable edges {:?}); please report this",
                    circuit.kept_edge_names(&graph),
                    check.certificate.kl,
                    check.certificate.changed_examples,
                    check.removable
                ),
            });
        }
        let bos_default_edges = (0..graph.num_edges())
            .filter(|&e| circuit.edges[e] && bos[e])
            .collect();
        circuits.push(MinimalCircuit {
            circuit,
            certificate: check.certificate,
            bos_default_edges,
            found_by,
        });
    }
    circuits.sort_by(|a, b| {
        a.size()
            .cmp(&b.size())
            .then_with(|| edge_list(&a.circuit).cmp(&edge_list(&b.circuit)))
    });
    let smallest = (!circuits.is_empty()).then_some(0);
    let intended = (0..circuits.len())
        .min_by_key(|&i| (circuits[i].bos_default_edges.len(), circuits[i].size(), i));
    Ok(MinimalCircuits {
        circuits,
        smallest,
        intended,
        complete,
        search,
        checks: certifiers.checks(),
    })
}

fn edge_list(circuit: &Circuit) -> Vec<usize> {
    (0..circuit.edges.len())
        .filter(|&e| circuit.edges[e])
        .collect()
}

/// The candidate edges into each reader.
fn incoming_candidates(graph: &EdgeGraph, candidates: &Circuit) -> Vec<Vec<usize>> {
    (0..graph.num_readers())
        .map(|r| {
            graph
                .edges_into(r)
                .iter()
                .copied()
                .filter(|&e| candidates.edges[e])
                .collect()
        })
        .collect()
}

/// Walks the closed subsets of the candidates: readers from the output backwards, each live reader
/// (the output, or one whose component has a kept outgoing edge) taking any subset of its candidate
/// inputs, a dead reader none.
struct ClosedSubsets<'g> {
    graph: &'g EdgeGraph,
    incoming: Vec<Vec<usize>>,
    edges: Vec<bool>,
    outgoing_kept: Vec<usize>,
    visited: usize,
    limit: usize,
}

impl ClosedSubsets<'_> {
    /// Visits subsets until `limit` is passed; returns false when it stopped early.
    fn walk(
        &mut self,
        readers_left: usize,
        visit: &mut dyn FnMut(&[bool]) -> Result<()>,
    ) -> Result<bool> {
        if readers_left == 0 {
            self.visited += 1;
            if self.visited > self.limit {
                return Ok(false);
            }
            visit(&self.edges)?;
            return Ok(true);
        }
        let reader = readers_left - 1;
        let live = reader_component(self.graph, reader).is_none_or(|c| self.outgoing_kept[c] > 0);
        let inputs = self.incoming[reader].clone();
        if !live || inputs.is_empty() {
            return self.walk(reader, visit);
        }
        if inputs.len() >= 63 {
            // More subsets than any limit: stop as if the limit was passed.
            self.visited = self.limit.saturating_add(1);
            return Ok(false);
        }
        for mask in 0u64..(1u64 << inputs.len()) {
            for (bit, &edge) in inputs.iter().enumerate() {
                let on = (mask >> bit) & 1 == 1;
                self.edges[edge] = on;
                if on {
                    self.outgoing_kept[self.graph.edges()[edge].writer] += 1;
                }
            }
            let go_on = self.walk(reader, visit)?;
            for &edge in &inputs {
                if self.edges[edge] {
                    self.edges[edge] = false;
                    self.outgoing_kept[self.graph.edges()[edge].writer] -= 1;
                }
            }
            if !go_on {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn closed_subsets<'g>(
    graph: &'g EdgeGraph,
    candidates: &Circuit,
    limit: usize,
) -> ClosedSubsets<'g> {
    ClosedSubsets {
        graph,
        incoming: incoming_candidates(graph, candidates),
        edges: vec![false; graph.num_edges()],
        outgoing_kept: vec![0; graph.num_writers()],
        visited: 0,
        limit,
    }
}

/// The number of closed subsets of `candidates`, or `limit + 1` when there are more than `limit`.
pub fn count_closed_subsets(graph: &EdgeGraph, candidates: &Circuit, limit: usize) -> usize {
    let mut walker = closed_subsets(graph, candidates, limit);
    let mut nothing = |_: &[bool]| Ok(());
    // The visitor does nothing, so the walk cannot fail.
    let _ = walker.walk(graph.num_readers(), &mut nothing);
    walker.visited.min(limit.saturating_add(1))
}

/// Every minimal faithful circuit, by certifying every closed subset once.
fn exhaustive(
    graph: &EdgeGraph,
    candidates: &Circuit,
    certifiers: &mut CertifierSet,
) -> Result<Vec<(Vec<bool>, String)>> {
    let mut faithful: Vec<Vec<bool>> = Vec::new();
    let mut walker = closed_subsets(graph, candidates, usize::MAX - 1);
    walker.walk(graph.num_readers(), &mut |edges| {
        if certifiers
            .certify(&Circuit::from_edges(graph, edges.to_vec()))?
            .holds()
        {
            faithful.push(edges.to_vec());
        }
        Ok(())
    })?;
    let faithful_set: HashSet<&Vec<bool>> = faithful.iter().collect();
    let mut minimal = Vec::new();
    for set in &faithful {
        let every_edge_needed = (0..set.len()).filter(|&e| set[e]).all(|e| {
            let mut without = set.clone();
            without[e] = false;
            keep_paths_to_output(graph, &mut without);
            !faithful_set.contains(&without)
        });
        if every_edge_needed {
            minimal.push((set.clone(), "exhaustive".to_string()));
        }
    }
    Ok(minimal)
}

/// Elimination orders and swap moves from the structural circuit.
fn heuristic(
    graph: &EdgeGraph,
    candidates: &Circuit,
    certifiers: &mut CertifierSet,
    options: &SearchOptions,
) -> Result<Vec<(Vec<bool>, String)>> {
    let mut found: Vec<(Vec<bool>, String)> = Vec::new();
    if !certifiers.certify(candidates)?.holds() {
        return Ok(found);
    }
    let candidate_edges = edge_list(candidates);
    let mut orders: Vec<(String, Vec<usize>)> = vec![
        ("graph order".into(), candidate_edges.clone()),
        (
            "reverse graph order".into(),
            candidate_edges.iter().rev().copied().collect(),
        ),
    ];
    let mut rng = Rng::new(options.seed);
    for i in 0..options.random_orders {
        let mut order = candidate_edges.clone();
        // Fisher–Yates.
        for j in (1..order.len()).rev() {
            let k = rng.below(j as u64 + 1) as usize;
            order.swap(j, k);
        }
        orders.push((format!("random order {i} (seed {})", options.seed), order));
    }
    let mut seen: HashSet<Vec<bool>> = HashSet::new();
    let mut queue = VecDeque::new();
    for (name, order) in orders {
        if certifiers.checks() >= options.max_checks {
            break;
        }
        let mut circuit = candidates.clone();
        eliminate(certifiers, &mut circuit, &order)?;
        if seen.insert(circuit.edges.clone()) {
            queue.push_back(found.len());
            found.push((circuit.edges, name));
        }
    }
    if !options.swaps {
        queue.clear();
    }
    while let Some(index) = queue.pop_front() {
        let base = found[index].0.clone();
        for removed in edge_list(&Circuit::from_edges(graph, base.clone())) {
            if certifiers.checks() >= options.max_checks {
                return Ok(found);
            }
            let base_circuit = Circuit::from_edges(graph, base.clone());
            for circuit in swap_move(certifiers, candidates, &base_circuit, removed)? {
                if seen.insert(circuit.edges.clone()) {
                    queue.push_back(found.len());
                    found.push((
                        circuit.edges,
                        format!("swap out {}", graph.edge_names()[removed]),
                    ));
                }
            }
        }
    }
    Ok(found)
}

/// The two elimination orders of a swap move that drops `removed` from `base`: the edges outside
/// `base` first (the result stays as close to `base` as it can), and the edges of `base` first (other
/// edges get the chance to replace several of `base`'s: e.g. two BOS-default edges for three
/// data-flow edges). Both in graph order within each part, `removed` in neither.
fn swap_orders(
    candidate_edges: &[usize],
    base: &[bool],
    removed: usize,
) -> [(&'static str, Vec<usize>); 2] {
    let outside: Vec<usize> = candidate_edges
        .iter()
        .copied()
        .filter(|&e| e != removed && !base[e])
        .collect();
    let inside: Vec<usize> = candidate_edges
        .iter()
        .copied()
        .filter(|&e| e != removed && base[e])
        .collect();
    [
        ("outside first", [outside.clone(), inside.clone()].concat()),
        ("inside first", [inside, outside].concat()),
    ]
}

/// One swap move: minimal circuits without `removed`, reached from `base` in up to four ways:
/// 1. from the structural circuit without `removed` (when that is sufficient), eliminating the edges
///    outside `base` first, and
/// 2. the edges of `base` first;
/// 3. from `base` without `removed`, adding the structural edges outside `base` one by one (graph
///    order) until it is sufficient again, then eliminating `base`'s edges first, so that the added
///    edges can replace several of `base`'s (e.g. two BOS-default edges for three data-flow edges).
///
/// 4. rewiring the inputs of the component `removed` feeds ([`rewire_component`]).
///
/// Sufficiency is not monotone in the edge set, so the structural circuit without one edge can fail
/// where a small repair of `base` succeeds; hence the third and fourth ways.
fn swap_move(
    certifiers: &mut CertifierSet,
    candidates: &Circuit,
    base: &Circuit,
    removed: usize,
) -> Result<Vec<Circuit>> {
    let candidate_edges = edge_list(candidates);
    let [outside_first, inside_first] = swap_orders(&candidate_edges, &base.edges, removed);
    let mut results = Vec::new();
    let mut start = candidates.clone();
    start.edges[removed] = false;
    if certifiers.certify(&start)?.holds() {
        for (_, order) in [&outside_first, &inside_first] {
            let mut circuit = start.clone();
            eliminate(certifiers, &mut circuit, order)?;
            results.push(circuit);
        }
    }
    let mut repaired = base.clone();
    repaired.edges[removed] = false;
    let mut holds = certifiers.certify(&repaired)?.holds();
    for &edge in &candidate_edges {
        if holds {
            break;
        }
        if edge != removed && !repaired.edges[edge] {
            repaired.edges[edge] = true;
            holds = certifiers.certify(&repaired)?.holds();
        }
    }
    if holds {
        eliminate(certifiers, &mut repaired, &inside_first.1)?;
        results.push(repaired);
    }
    results.extend(rewire_component(certifiers, candidates, base, removed)?);
    Ok(results)
}

/// Largest number of structural edges into one component whose subsets [`rewire_component`] tries.
const REWIRE_LIMIT: usize = 10;

/// The fourth way of a swap move: keep `base` except the inputs of the component that `removed` feeds,
/// and try every other subset of that component's structural inputs (at most 2^[`REWIRE_LIMIT`]); each
/// sufficient one is minimised in graph order. This is how one head trades its data-flow query and key
/// for the BOS default (or back), which single-edge moves cannot reach when neither alone is sufficient.
fn rewire_component(
    certifiers: &mut CertifierSet,
    candidates: &Circuit,
    base: &Circuit,
    removed: usize,
) -> Result<Vec<Circuit>> {
    let graph = certifiers.graph().clone();
    let Some(component) = reader_component(&graph, graph.edges()[removed].reader) else {
        return Ok(Vec::new());
    };
    let inputs: Vec<usize> = (0..graph.num_readers())
        .filter(|&r| reader_component(&graph, r) == Some(component))
        .flat_map(|r| graph.edges_into(r).iter().copied())
        .filter(|&e| candidates.edges[e] && e != removed)
        .collect();
    if inputs.len() > REWIRE_LIMIT {
        return Ok(Vec::new());
    }
    let all_edges: Vec<usize> = (0..graph.num_edges()).collect();
    let mut results = Vec::new();
    for mask in 0u32..(1 << inputs.len()) {
        let mut circuit = base.clone();
        circuit.edges[removed] = false;
        for (bit, &edge) in inputs.iter().enumerate() {
            circuit.edges[edge] = (mask >> bit) & 1 == 1;
        }
        if circuit.edges == base.edges || !certifiers.certify(&circuit)?.holds() {
            continue;
        }
        eliminate(certifiers, &mut circuit, &all_edges)?;
        results.push(circuit);
    }
    Ok(results)
}

/// A minimality certificate: the circuit's own certificate, and the edges that could go alone.
#[derive(Debug, Clone, PartialEq)]
pub struct MinimalityCertificate {
    /// The circuit's sufficiency certificate.
    pub certificate: Certificate,
    /// Edges whose removal alone keeps the circuit sufficient (empty for a minimal circuit).
    pub removable: Vec<usize>,
}

impl MinimalityCertificate {
    /// Faithful, and every edge necessary.
    pub fn holds(&self) -> bool {
        self.certificate.holds() && self.removable.is_empty()
    }
}

/// Certifies `circuit` (node masks as given) and, if it is sufficient, tries dropping each edge alone.
pub fn is_minimal(
    certifiers: &mut CertifierSet,
    circuit: &Circuit,
) -> Result<MinimalityCertificate> {
    let certificate = certifiers.certify(circuit)?;
    let mut removable = Vec::new();
    if certificate.holds() {
        let mut without = circuit.clone();
        for edge in edge_list(circuit) {
            without.edges[edge] = false;
            if certifiers.certify(&without)?.holds() {
                removable.push(edge);
            }
            without.edges[edge] = true;
        }
    }
    Ok(MinimalityCertificate {
        certificate,
        removable,
    })
}

/// The circuit of `set` nearest to `found`: highest F1 of `found` against it, ties by smallest
/// symmetric difference, then the first. `None` when `set` is empty or the lengths disagree.
pub fn nearest(found: &Circuit, set: &[Circuit]) -> Option<usize> {
    let mut best: Option<(usize, f64, usize)> = None;
    for (i, truth) in set.iter().enumerate() {
        let Ok(counts) = Confusion::of(&found.edges, &truth.edges) else {
            continue;
        };
        let (f1, diff) = (counts.f1(), counts.symmetric_difference());
        let better = match best {
            None => true,
            Some((_, best_f1, best_diff)) => f1 > best_f1 || (f1 == best_f1 && diff < best_diff),
        };
        if better {
            best = Some((i, f1, diff));
        }
    }
    best.map(|(i, _, _)| i)
}

/// The index of the circuit of `set` with exactly `found`'s edges (node masks ignored), if any.
pub fn equals_any(found: &Circuit, set: &[Circuit]) -> Option<usize> {
    set.iter().position(|c| c.edges == found.edges)
}

/// Whether some circuit of `set` has fewer edges than `found`.
pub fn smaller_known(found: &Circuit, set: &[Circuit]) -> bool {
    set.iter().any(|c| c.num_edges() < found.num_edges())
}

/// What [`refine_by_swaps`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapRefinement {
    /// The result (node masks on): minimal, and as small as the swap moves could make it.
    pub circuit: Circuit,
    /// Edges of the input circuit.
    pub start_size: usize,
    /// Whether swap moves ran (only when a known circuit was smaller than the minimised input).
    pub swapped: bool,
    /// Whether swap moves made the circuit smaller than plain minimisation did.
    pub improved: bool,
    /// Whether the input was sufficient (if not, the circuit is returned unchanged).
    pub faithful: bool,
    /// Index in `known` of the circuit the result equals, if any.
    pub equals_known: Option<usize>,
    /// Certifications run.
    pub checks: usize,
}

/// Edge Pruning's refinement hook: minimises a sufficient `found` circuit (graph-order elimination) and,
/// when a circuit of `known` is smaller, hill-climbs by swap moves (drop one edge, re-reach a minimal
/// circuit without it; see the module notes) while they make it smaller, within `max_checks`
/// certifications.
pub fn refine_by_swaps(
    data: &[(&Task, &Ablation)],
    found: &Circuit,
    known: &[Circuit],
    max_checks: usize,
) -> Result<SwapRefinement> {
    let mut certifiers = CertifierSet::new(data)?;
    let model = &data[0].0.model;
    let graph = EdgeGraph::for_model(model);
    let mut current = Circuit::from_edges(&graph, found.edges.clone());
    let start_size = found.num_edges();
    if !certifiers.certify(&current)?.holds() {
        return Ok(SwapRefinement {
            equals_known: equals_any(&current, known),
            circuit: current,
            start_size,
            swapped: false,
            improved: false,
            faithful: false,
            checks: certifiers.checks(),
        });
    }
    let all_edges: Vec<usize> = (0..graph.num_edges()).collect();
    eliminate(&mut certifiers, &mut current, &all_edges)?;
    let minimised_size = current.num_edges();
    let swapped = smaller_known(&current, known);
    if swapped {
        let candidates = structural(model);
        'climb: loop {
            for removed in edge_list(&current) {
                if certifiers.checks() >= max_checks {
                    break 'climb;
                }
                for circuit in swap_move(&mut certifiers, &candidates, &current, removed)? {
                    if circuit.num_edges() < current.num_edges() {
                        current = circuit;
                        continue 'climb;
                    }
                }
            }
            break;
        }
    }
    Ok(SwapRefinement {
        improved: current.num_edges() < minimised_size,
        equals_known: equals_any(&current, known),
        circuit: current,
        start_size,
        swapped,
        faithful: true,
        checks: certifiers.checks(),
    })
}

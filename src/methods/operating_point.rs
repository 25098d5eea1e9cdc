//! The operating point of a score-only method (random, EAP, EAP-IG): the smallest faithful top-k circuit.
//!
//! Edges are ranked by score, largest first, ties broken by graph order (the earlier edge ranks higher).
//! For k = 0, 1, …, |E| the top-k edges form a circuit; edges into a component that has no kept outgoing
//! edge are dropped ([`keep_paths_to_output`]: such a component's output is never read, so the drop is
//! exact under every ablation) and the rest is run through the certificate
//! ([`Certifier`]: every decoded output after BOS unchanged and KL to the full model below 1e-6). The first
//! k that passes gives the circuit. The certificate is not monotone in k (adding an edge can break a
//! circuit that worked, e.g. one whose partner edge is not in yet), so the scan goes upward one k at a
//! time rather than bisecting; consecutive k whose cleaned circuits agree share one certificate. The full
//! graph (k = |E|) always passes up to round-off, so the scan ends.

use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;
use crate::methods::MethodInput;
use crate::truth::functional::Certifier;
use crate::truth::structural::keep_paths_to_output;

/// Masked forwards one certificate costs (the metric, then the decoded outputs).
pub const FORWARDS_PER_CERTIFICATE: usize = 2;

/// The operating circuit found by [`smallest_faithful_top_k`].
#[derive(Debug, Clone, PartialEq)]
pub struct OperatingPoint {
    /// The circuit: the top-k edges with edges into dead components dropped; node masks on.
    pub circuit: Circuit,
    /// The k whose top-k edges first passed the certificate.
    pub k: usize,
    /// Whether the circuit passes the certificate (false only if even the full graph fails).
    pub faithful: bool,
    /// Masked forwards spent on certificates.
    pub forwards: usize,
}

/// Edge indices ranked by score, largest first, ties by graph order; NaN or a wrong length is an error.
pub fn ranking(graph: &EdgeGraph, scores: &[f64]) -> Result<Vec<usize>> {
    if scores.len() != graph.num_edges() {
        return Err(Error::Shape {
            what: "edge scores".into(),
            expected: format!("{} (one per edge of the graph)", graph.num_edges()),
            got: scores.len().to_string(),
        });
    }
    if let Some(edge) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::NonFinite {
            what: format!("score of edge {}", graph.edge_names()[edge]),
        });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    Ok(order)
}

/// The smallest k whose top-k edges by `scores` pass the certificate on `input`'s task and ablation.
pub fn smallest_faithful_top_k(input: &MethodInput<'_>, scores: &[f64]) -> Result<OperatingPoint> {
    let graph = EdgeGraph::for_model(&input.task.model);
    let order = ranking(&graph, scores)?;
    let mut certifier = Certifier::new(input.task, input.ablation)?;
    let mut top_k = vec![false; graph.num_edges()];
    let mut last_tested: Option<Vec<bool>> = None;
    let mut forwards = 0;
    for k in 0..=order.len() {
        if k > 0 {
            top_k[order[k - 1]] = true;
        }
        let mut cleaned = top_k.clone();
        keep_paths_to_output(&graph, &mut cleaned);
        if last_tested.as_ref() == Some(&cleaned) {
            continue;
        }
        let circuit = Circuit::from_edges(&graph, cleaned.clone());
        forwards += FORWARDS_PER_CERTIFICATE;
        if certifier.certify(&circuit)?.holds() {
            return Ok(OperatingPoint {
                circuit,
                k,
                faithful: true,
                forwards,
            });
        }
        last_tested = Some(cleaned);
    }
    Ok(OperatingPoint {
        circuit: Circuit::full(&graph),
        k: order.len(),
        faithful: false,
        forwards,
    })
}

//! The set of minimal circuits: the exhaustive search finds exactly the 1-minimal faithful subsets of
//! the structural circuit that a brute force over *every* subset finds, and every circuit reported is
//! re-certified (sufficient, every edge necessary) by an independent [`Certifier`] per dataset.

use edgeprune::ablation::Ablation;
use edgeprune::circuit::Circuit;
use edgeprune::cli::program::{AblationKind, LoadedProgram, ProgramArgs};
use edgeprune::graph::EdgeGraph;
use edgeprune::task::Task;
use edgeprune::truth::alternatives::SearchKind;
use edgeprune::truth::functional::Certifier;
use edgeprune::truth::{minimal_circuits, structural, SearchOptions};

fn load(lib: &str, lengths: &[usize], ablation: AblationKind) -> LoadedProgram {
    let mut args = ProgramArgs::library(lib, ablation);
    args.data.lengths = lengths.to_vec();
    args.load().unwrap_or_else(|e| panic!("{lib}: {e}"))
}

/// One certifier per dataset, used directly (not through the search's own `CertifierSet`).
struct Independent {
    certifiers: Vec<Certifier>,
}

impl Independent {
    fn new(loaded: &LoadedProgram) -> Self {
        let ablations = loaded.ablations();
        let certifiers = loaded
            .tasks
            .iter()
            .zip(&ablations)
            .map(|(task, ablation): (&Task, &Ablation)| Certifier::new(task, ablation).unwrap())
            .collect();
        Self { certifiers }
    }

    fn faithful(&mut self, circuit: &Circuit) -> bool {
        self.certifiers
            .iter_mut()
            .all(|c| c.certify(circuit).unwrap().holds())
    }

    /// Sufficient, and no edge can go alone.
    fn minimal(&mut self, circuit: &Circuit) -> bool {
        if !self.faithful(circuit) {
            return false;
        }
        (0..circuit.edges.len())
            .filter(|&e| circuit.edges[e])
            .all(|e| {
                let mut without = circuit.clone();
                without.edges[e] = false;
                !self.faithful(&without)
            })
    }
}

fn search(loaded: &LoadedProgram) -> edgeprune::truth::MinimalCircuits {
    let ablations = loaded.ablations();
    let data: Vec<(&Task, &Ablation)> = loaded.tasks.iter().zip(&ablations).collect();
    minimal_circuits(&data, &SearchOptions::default()).unwrap()
}

#[test]
fn exhaustive_search_equals_brute_force_over_every_subset() {
    // Small structural circuits (at most 7 edges: 128 subsets each), both ablations, one length and
    // all lengths at once.
    let cases = [
        ("xproportion", vec![4], AblationKind::Zero),
        ("xproportion", vec![4], AblationKind::Interchange),
        ("frac_prevs", vec![], AblationKind::Interchange),
        ("length", vec![1, 2, 3, 4, 5], AblationKind::Zero),
        ("count_a", vec![], AblationKind::Interchange),
        ("shift_by_1", vec![], AblationKind::Interchange),
    ];
    for (lib, lengths, ablation) in cases {
        let loaded = load(lib, &lengths, ablation);
        let graph = EdgeGraph::for_model(&loaded.task.model);
        let candidates: Vec<usize> = {
            let s = structural(&loaded.task.model);
            (0..s.edges.len()).filter(|&e| s.edges[e]).collect()
        };
        assert!(
            candidates.len() <= 10,
            "{lib}: {} structural edges is too many to brute-force",
            candidates.len()
        );
        let mut independent = Independent::new(&loaded);
        let mut brute: Vec<Vec<bool>> = Vec::new();
        for mask in 0u32..(1 << candidates.len()) {
            let mut edges = vec![false; graph.num_edges()];
            for (bit, &e) in candidates.iter().enumerate() {
                edges[e] = mask >> bit & 1 == 1;
            }
            let circuit = Circuit::from_edges(&graph, edges);
            if independent.minimal(&circuit) {
                brute.push(circuit.edges);
            }
        }
        let set = search(&loaded);
        assert!(
            set.complete,
            "{lib} {lengths:?} {}: search not exhaustive ({:?})",
            ablation.name(),
            set.search
        );
        assert!(matches!(set.search, SearchKind::Exhaustive { .. }));
        let mut found: Vec<Vec<bool>> = set
            .circuits
            .iter()
            .map(|m| m.circuit.edges.clone())
            .collect();
        found.sort();
        brute.sort();
        let names = |sets: &[Vec<bool>]| -> Vec<Vec<&str>> {
            sets.iter()
                .map(|e| Circuit::from_edges(&graph, e.clone()).kept_edge_names(&graph))
                .collect()
        };
        assert_eq!(
            names(&found),
            names(&brute),
            "{lib} lengths {lengths:?} {} ablation: search (left) vs brute force over all {} subsets (right)",
            ablation.name(),
            1u32 << candidates.len()
        );
    }
}

#[test]
fn every_reported_circuit_is_recertified_independently() {
    let cases = [
        ("reverse_123", vec![3], AblationKind::Zero),
        ("reverse_123", vec![3], AblationKind::Interchange),
        ("frac_prevs_causal", vec![], AblationKind::Zero),
    ];
    for (lib, lengths, ablation) in cases {
        let loaded = load(lib, &lengths, ablation);
        let graph = EdgeGraph::for_model(&loaded.task.model);
        let set = search(&loaded);
        assert!(!set.circuits.is_empty(), "{lib}: no minimal circuit found");
        let mut independent = Independent::new(&loaded);
        for m in &set.circuits {
            assert!(
                independent.minimal(&m.circuit),
                "{lib} {}: reported circuit {:?} is not faithful and minimal",
                ablation.name(),
                m.circuit.kept_edge_names(&graph)
            );
            assert!(
                m.certificate.holds(),
                "{lib}: stored certificate {:?}",
                m.certificate
            );
        }
        let smallest = set.smallest.unwrap();
        assert!(set
            .circuits
            .iter()
            .all(|m| m.size() >= set.circuits[smallest].size()));
    }
}

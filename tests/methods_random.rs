//! Random scores are seeded, and the shared operating point (smallest faithful top-k) of a perfect scorer
//! is the certified truth itself.

use std::path::Path;

use edgeprune::ablation::Ablation;
use edgeprune::graph::EdgeGraph;
use edgeprune::methods::operating_point::{ranking, smallest_faithful_top_k};
use edgeprune::methods::random::Random;
use edgeprune::methods::{by_name, CircuitMethod, MethodInput};
use edgeprune::task::Task;
use edgeprune::truth::functional::Certifier;
use edgeprune::truth::{functional, structural};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn random_scores_depend_only_on_the_seed() {
    let graph = EdgeGraph::new(3, 2);
    let a = Random::new(5).scores(&graph);
    assert_eq!(a, Random::new(5).scores(&graph), "seed 5 twice");
    assert_ne!(a, Random::new(6).scores(&graph), "seeds 5 and 6");
    assert_eq!(a.len(), graph.num_edges());
    assert!(
        a.iter().all(|s| (0.0..1.0).contains(s)),
        "scores outside [0, 1): {a:?}"
    );
}

#[test]
fn ranking_breaks_ties_by_graph_order_and_rejects_nan() {
    let graph = EdgeGraph::new(1, 1);
    let mut scores = vec![0.0; graph.num_edges()];
    scores[3] = 2.0;
    scores[1] = 1.0;
    scores[2] = 1.0;
    let order = ranking(&graph, &scores).unwrap();
    assert_eq!(&order[..4], &[3, 1, 2, 0], "scores {scores:?}");
    scores[4] = f64::NAN;
    let err = ranking(&graph, &scores).unwrap_err().to_string();
    assert!(err.contains(&graph.edge_names()[4]), "{err}");
    let err = ranking(&graph, &scores[..3]).unwrap_err().to_string();
    assert!(err.contains("one per edge"), "{err}");
}

#[test]
fn perfect_scores_give_the_certified_truth_as_operating_point() {
    let task = Task::reverse(fixtures()).unwrap();
    let ablation = Ablation::Zero;
    let truth = functional(&task, &ablation, &structural(&task.model)).unwrap();
    let scores: Vec<f64> = truth
        .circuit
        .edges
        .iter()
        .map(|&k| f64::from(u8::from(k)))
        .collect();
    let input = MethodInput {
        task: &task,
        ablation: &ablation,
    };
    let point = smallest_faithful_top_k(&input, &scores).unwrap();
    assert_eq!(point.k, truth.circuit.num_edges(), "k of a perfect scorer");
    assert_eq!(
        point.circuit.edges, truth.circuit.edges,
        "circuit of a perfect scorer"
    );
    assert!(point.faithful);
}

#[test]
fn random_operating_point_is_faithful_and_deterministic() {
    let task = Task::reverse(fixtures()).unwrap();
    let ablation = Ablation::Zero;
    let input = MethodInput {
        task: &task,
        ablation: &ablation,
    };
    let a = Random::new(1).run(&input).unwrap();
    let b = Random::new(1).run(&input).unwrap();
    assert_eq!(a.circuit, b.circuit, "seed 1 twice");
    let certificate = Certifier::new(&task, &ablation)
        .unwrap()
        .certify(&a.circuit)
        .unwrap();
    assert!(certificate.holds(), "{certificate:?}");
    assert!(a.forwards > 0 && a.sweep.is_empty());
}

#[test]
fn unknown_method_name_lists_the_valid_ones() {
    let err = by_name("acdcc", 0).err().expect("unknown name").to_string();
    for name in ["ep", "acdc", "sp", "random"] {
        assert!(err.contains(name), "{err} lacks {name}");
    }
    assert!(err.contains("acdcc"), "{err}");
    for name in ["ep", "acdc", "sp", "random"] {
        assert_eq!(by_name(name, 0).unwrap().name(), name);
    }
}

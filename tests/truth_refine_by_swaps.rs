//! The swap-move refinement hook: given the 22-edge data-flow circuit of `shuffle_dyck` (vocab `(,),x`,
//! length 4) and knowing a 21-edge minimal circuit exists, swap moves reach a 21-edge circuit, which is
//! then certified minimal; with no smaller circuit known, no swap moves run.
//!
//! Takes ~1000 certifications of 81 sequences (~10 s in release on 2 cores).

use edgeprune::ablation::Ablation;
use edgeprune::circuit::Circuit;
use edgeprune::cli::program::{AblationKind, ProgramArgs};
use edgeprune::graph::EdgeGraph;
use edgeprune::task::Task;
use edgeprune::truth::{is_minimal, refine_by_swaps, CertifierSet};

/// The two minimal circuits of this setting (issue 10's, listed by `examples/minimal_circuits`).
const TRUTH_21: [&str; 21] = [
    "tok->m0",
    "pos->a1.h0.q",
    "pos->a1.h1.q",
    "pos->a1.h0.k",
    "pos->a1.h1.k",
    "m0->a1.h0.v",
    "m0->a1.h1.v",
    "a1.h0->m2",
    "a1.h1->m2",
    "tok->m3",
    "m2->m3",
    "tok->a4.h0.q",
    "tok->a4.h0.k",
    "m3->a4.h0.v",
    "m3->a4.h1.v",
    "tok->m4",
    "a4.h1->m4",
    "tok->m5",
    "a4.h0->m5",
    "m4->m5",
    "m5->resid_post",
];

fn data_flow_22() -> Vec<&'static str> {
    let mut names: Vec<&str> = TRUTH_21
        .iter()
        .copied()
        .filter(|n| *n != "tok->a4.h0.q" && *n != "tok->a4.h0.k")
        .collect();
    names.extend(["m0->m1", "m1->a4.h0.q", "pos->a4.h0.k"]);
    names
}

#[test]
fn swap_moves_reach_the_smaller_known_circuit() {
    let mut args = ProgramArgs::library("shuffle_dyck", AblationKind::Zero);
    args.model.compile.vocab = Some("(,),x".into());
    args.model.compile.max_seq_len = Some(4);
    args.data.lengths = vec![4];
    let loaded = args.load().unwrap();
    let graph = EdgeGraph::for_model(&loaded.task.model);
    let ablations = loaded.ablations();
    let data: Vec<(&Task, &Ablation)> = loaded.tasks.iter().zip(&ablations).collect();
    let small = Circuit::from_edge_names(&graph, &TRUTH_21).unwrap();
    let large = Circuit::from_edge_names(&graph, &data_flow_22()).unwrap();

    // Both are minimal to begin with: plain elimination cannot shrink the 22-edge one.
    let mut certifiers = CertifierSet::new(&data).unwrap();
    for circuit in [&small, &large] {
        let check = is_minimal(&mut certifiers, circuit).unwrap();
        assert!(
            check.holds(),
            "{:?}: {check:?}",
            circuit.kept_edge_names(&graph)
        );
    }

    let refined = refine_by_swaps(&data, &large, std::slice::from_ref(&small), 5000).unwrap();
    assert!(refined.faithful && refined.swapped, "{refined:?}");
    assert_eq!(refined.start_size, 22);
    assert_eq!(
        refined.circuit.kept_edge_names(&graph),
        small.kept_edge_names(&graph),
        "swap moves from the 22-edge circuit"
    );
    assert!(refined.improved);
    assert_eq!(refined.equals_known, Some(0));

    // Nothing smaller known: the minimal input comes back unchanged, without swaps.
    let kept = refine_by_swaps(&data, &large, &[], 5000).unwrap();
    assert!(!kept.swapped && !kept.improved, "{kept:?}");
    assert_eq!(kept.circuit.edges, large.edges);
}

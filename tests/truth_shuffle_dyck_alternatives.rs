//! Issue 10's example: `shuffle_dyck` with vocab `(,),x`, max_seq_len 6, inputs of length 6, zero
//! ablation, has (at least) two minimal faithful circuits: the 21-edge functional truth, where head
//! a4.h0 reads its answer off the BOS position (tok->a4.h0.q, tok->a4.h0.k), and a 22-edge circuit that
//! follows the program's data flow (m0->m1, m1->a4.h0.q, pos->a4.h0.k) instead.
//!
//! SLOW: each certification is a forward over 729 sequences of a 431-edge graph (~0.1 s on one core),
//! and this test runs about 200 of them (~20-40 s in release on a 2-core CI machine). It searches only
//! graph and reverse graph order (no random orders, no swap moves) to stay within that.

use edgeprune::ablation::Ablation;
use edgeprune::cli::program::{AblationKind, ProgramArgs};
use edgeprune::graph::EdgeGraph;
use edgeprune::task::Task;
use edgeprune::truth::{
    equals_any, functional_on, is_minimal, minimal_circuits, structural, CertifierSet,
    SearchOptions,
};

#[test]
fn shuffle_dyck_has_the_bos_shortcut_truth_and_the_data_flow_alternative() {
    let mut args = ProgramArgs::library("shuffle_dyck", AblationKind::Zero);
    args.model.compile.vocab = Some("(,),x".into());
    args.model.compile.max_seq_len = Some(6);
    args.data.lengths = vec![6];
    let loaded = args.load().unwrap();
    let graph = EdgeGraph::for_model(&loaded.task.model);
    let ablations = loaded.ablations();
    let data: Vec<(&Task, &Ablation)> = loaded.tasks.iter().zip(&ablations).collect();
    let options = SearchOptions {
        random_orders: 0,
        swaps: false,
        max_checks: 20_000,
        ..SearchOptions::default()
    };
    let set = minimal_circuits(&data, &options).unwrap();
    let sizes: Vec<usize> = set.circuits.iter().map(|m| m.size()).collect();
    assert!(
        !set.complete,
        "a heuristic search cannot claim completeness"
    );
    assert_eq!(sizes, vec![21, 22], "sizes of the circuits found");

    let truth = functional_on(&data, &structural(&loaded.task.model))
        .unwrap()
        .circuit;
    let known = set.as_circuits();
    assert_eq!(
        equals_any(&truth, &known),
        Some(0),
        "the functional truth is the 21-edge one"
    );
    assert_eq!(set.smallest, Some(0));

    let alternative = &set.circuits[1].circuit;
    let names = alternative.kept_edge_names(&graph);
    for edge in ["m0->m1", "m1->a4.h0.q", "pos->a4.h0.k"] {
        assert!(
            names.contains(&edge),
            "{edge} missing from the alternative {names:?}"
        );
    }
    for edge in ["tok->a4.h0.q", "tok->a4.h0.k"] {
        assert!(
            !names.contains(&edge),
            "{edge} in the alternative {names:?}"
        );
    }
    let truth_names = truth.kept_edge_names(&graph);
    assert!(
        truth_names.contains(&"tok->a4.h0.q") && truth_names.contains(&"tok->a4.h0.k"),
        "{truth_names:?}"
    );
    assert_eq!(
        set.intended,
        Some(1),
        "the data-flow circuit (no BOS-default edge) is the intended one"
    );
    assert_eq!(set.circuits[1].bos_default_edges.len(), 0);
    assert_eq!(set.circuits[0].bos_default_edges.len(), 2);

    // Re-certify both with a fresh certifier: sufficient, and every edge necessary.
    let mut certifiers = CertifierSet::new(&data).unwrap();
    for circuit in [&known[0], &known[1]] {
        let check = is_minimal(&mut certifiers, circuit).unwrap();
        assert!(
            check.holds(),
            "{:?}: {check:?}",
            circuit.kept_edge_names(&graph)
        );
    }
}

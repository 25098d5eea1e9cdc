//! Subnetwork probing: no penalty keeps every edge, a large penalty prunes, and bad settings are typed errors.

use std::path::Path;

use edgeprune::ablation::Ablation;
use edgeprune::methods::subnetwork::SubnetworkProbing;
use edgeprune::methods::{CircuitMethod, MethodInput};
use edgeprune::task::Task;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn lambda_zero_keeps_every_edge_and_a_large_lambda_prunes() {
    let task = Task::reverse(fixtures()).unwrap();
    let ablation = Ablation::Zero;
    let sp = SubnetworkProbing::with_settings(vec![0.0, 1.0], 300, 0.1, 0).unwrap();
    let output = sp
        .run(&MethodInput {
            task: &task,
            ablation: &ablation,
        })
        .unwrap();
    let sizes: Vec<(f64, usize)> = output
        .sweep
        .iter()
        .map(|p| (p.parameter, p.circuit.num_edges()))
        .collect();
    assert_eq!(sizes[0], (0.0, 94), "λ = 0 keeps all 94 edges: {sizes:?}");
    assert!(
        sizes[1].0 == 1.0 && sizes[1].1 < 47,
        "λ = 1 should prune most of the 94 edges: {sizes:?}"
    );
    assert_eq!(output.scores.len(), 94, "one log-alpha per edge");
    assert_eq!(output.backwards, 2 * 300, "one backward per step and λ");
}

#[test]
fn runs_are_deterministic_for_a_seed() {
    let task = Task::reverse(fixtures()).unwrap();
    let ablation = Ablation::Zero;
    let input = MethodInput {
        task: &task,
        ablation: &ablation,
    };
    let sp = SubnetworkProbing::with_settings(vec![0.1], 50, 0.1, 7).unwrap();
    let a = sp.run(&input).unwrap();
    let b = sp.run(&input).unwrap();
    assert_eq!(a.scores, b.scores, "same seed, same log-alphas");
}

#[test]
fn bad_settings_are_typed_errors_naming_what_is_valid() {
    let cases = [
        (vec![], 10, 0.1, "empty"),
        (vec![-1.0], 10, 0.1, ">= 0"),
        (vec![f64::NAN], 10, 0.1, "finite"),
        (vec![0.1], 0, 0.1, "at least 1"),
        (vec![0.1], 10, 0.0, "> 0"),
    ];
    for (grid, steps, lr, needle) in cases {
        let err = SubnetworkProbing::with_settings(grid.clone(), steps, lr, 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains("subnetwork probing"),
            "grid {grid:?}, steps {steps}, lr {lr}: {err}"
        );
    }
}

//! The Edge Pruning adapter returns the trainer's log-alphas and circuit, reports its refinement apart,
//! and sweeps targets only when asked.

use std::path::Path;

use edgeprune::ablation::Ablation;
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::masks::layout::ParameterLayout;
use edgeprune::methods::edge_pruning::EdgePruning;
use edgeprune::methods::{CircuitMethod, MethodInput};
use edgeprune::task::Task;
use edgeprune::train::config::PruneConfig;
use edgeprune::train::trainer::train;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn adapter_returns_the_trainers_log_alphas_and_circuit() {
    let task = Task::reverse(fixtures()).unwrap();
    let ablation = Ablation::Zero;
    let config = PruneConfig {
        steps: 400,
        lr_warmup: 100,
        sparsity_warmup: 390,
        eval_every: 0,
        ..PruneConfig::default_config()
    };
    let method = EdgePruning::with_config(config.clone())
        .unwrap()
        .with_targets(vec![0.5])
        .unwrap();
    let output = method
        .run(&MethodInput {
            task: &task,
            ablation: &ablation,
        })
        .unwrap();
    let layout = ParameterLayout::new(task.model.num_layers(), task.model.num_heads()).unwrap();
    let mut backend =
        NdarrayBackend::new(&task.model, task.clean.view(), &ablation, task.metric).unwrap();
    let direct = train(
        &mut backend,
        &layout,
        task.num_examples(),
        &config,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        output.scores, direct.parameters.edge_log_alpha,
        "scores = log-alphas"
    );
    assert_eq!(
        output.circuit.edges, direct.circuit.edges,
        "circuit = trained circuit"
    );
    assert_eq!(output.sweep.len(), 1, "one sweep point per target");
    assert_eq!(output.sweep[0].parameter, 0.5);
    assert_eq!(
        output.backwards,
        2 * 400,
        "steps of the main run and of the target run"
    );
    assert_eq!(
        output.settings["refinement"]["certified"], true,
        "{}",
        output.settings
    );
}

#[test]
fn non_finite_target_is_a_typed_error() {
    let err = EdgePruning::new(0)
        .with_targets(vec![0.9, f64::INFINITY])
        .unwrap_err()
        .to_string();
    assert!(err.contains("inf") && err.contains("target"), "{err}");
}

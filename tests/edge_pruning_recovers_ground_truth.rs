//! Edge Pruning's two Tracr experiments with the paper's own settings find the certified ground truth.
//!
//! reverse: the paper's script settings alone, seeds 42, 1, 2, 3. xproportion: the paper's settings
//! collapse on about half the seeds (as the official code did on 2 of its 4), so it runs with our
//! safeguards (4 restarts, keep the lowest-KL circuit, then drop edges whose removal changes KL by
//! at most 1e-9); the safeguard is reported, not hidden. Seeds: `EP_SEEDS` overrides.

use std::path::Path;

use edgeprune::ablation::Ablation;
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::masks::layout::ParameterLayout;
use edgeprune::task::Task;
use edgeprune::train::config::PruneConfig;
use edgeprune::train::trainer::train;
use edgeprune::truth::{functional, structural};

fn seeds() -> Vec<u64> {
    std::env::var("EP_SEEDS")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().parse().expect("EP_SEEDS: integers"))
                .collect()
        })
        .unwrap_or_else(|_| vec![42, 1, 2, 3])
}

fn recovers(task: &Task, config: PruneConfig) {
    let truth = functional(task, &Ablation::Zero, &structural(&task.model)).unwrap();
    assert!(truth.certificate.holds());
    let layout = ParameterLayout::new(task.model.num_layers(), task.model.num_heads()).unwrap();
    for seed in seeds() {
        let mut backend =
            NdarrayBackend::new(&task.model, task.clean.view(), &Ablation::Zero, task.metric)
                .unwrap();
        let config = PruneConfig {
            seed,
            ..config.clone()
        };
        let outcome = train(
            &mut backend,
            &layout,
            task.num_examples(),
            &config,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            outcome.circuit.edge_names(&layout),
            layout_names(&layout, &truth.circuit.edges),
            "{} seed {seed}: found vs certified ground truth",
            task.name
        );
    }
}

fn layout_names(layout: &ParameterLayout, edges: &[bool]) -> Vec<String> {
    (0..edges.len())
        .filter(|&e| edges[e])
        .map(|e| layout.edge_name(e))
        .collect()
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn reverse_with_the_papers_settings_finds_the_ground_truth() {
    recovers(&Task::reverse(fixtures()).unwrap(), PruneConfig::reverse());
}

#[test]
fn xproportion_with_the_papers_settings_and_restarts_finds_the_ground_truth() {
    recovers(
        &Task::xproportion(fixtures()).unwrap(),
        PruneConfig::xproportion().with_safeguards(),
    );
}

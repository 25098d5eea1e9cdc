//! A masked forward that keeps the states of components whose inputs did not change
//! (`set_reuse_unchanged_components`) gives bit for bit the output of a full forward, over a walk of
//! masks that change a few edges or node masks at a time, switch batches, and interleave
//! `ablated_output` (which leaves the component states stale).

use edgeprune::ablation::Ablation;
use edgeprune::cli::program::{AblationKind, ProgramArgs};
use edgeprune::forward::MaskedForward;
use edgeprune::rng::Rng;

fn bits(output: ndarray::ArrayView3<f64>) -> Vec<u64> {
    output.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn reused_component_states_give_the_full_forward_bit_for_bit() {
    // Categorical and numerical outputs, a causal model, deep and shallow graphs, both ablations.
    let cases = [
        ("shuffle_dyck2", AblationKind::Zero),
        ("sort_freq", AblationKind::Interchange),
        ("reverse", AblationKind::Interchange),
        ("numerical_mean", AblationKind::Zero),
        ("frac_prevs_causal", AblationKind::Interchange),
    ];
    for (lib, kind) in cases {
        let mut args = ProgramArgs::library(lib, kind);
        args.data.lengths = vec![2];
        let loaded = args.load().unwrap_or_else(|e| panic!("{lib}: {e}"));
        let task = &loaded.task;
        let ablation: Ablation = loaded.ablation_for(task);
        let mut full = MaskedForward::new(&task.model, task.clean.view(), &ablation).unwrap();
        let mut reusing = full.clone();
        reusing.set_reuse_unchanged_components(true);
        let graph = full.graph().clone();
        let all: Vec<usize> = (0..task.num_examples()).collect();
        let half: Vec<usize> = (0..task.num_examples().div_ceil(2)).collect();
        let mut edges: Vec<f64> = vec![1.0; graph.num_edges()];
        let mut nodes: Vec<f64> = vec![1.0; graph.num_writers()];
        let mut rng = Rng::new(7);
        for step in 0..120 {
            // Mostly a few edges on or off (the certification's walk), sometimes a fractional mask
            // or a node mask.
            for _ in 0..1 + rng.below(3) {
                let e = rng.below(graph.num_edges() as u64) as usize;
                edges[e] = if rng.below(8) == 0 {
                    0.5
                } else {
                    1.0 - edges[e].round()
                };
            }
            if rng.below(10) == 0 {
                let w = rng.below(graph.num_writers() as u64) as usize;
                nodes[w] = 1.0 - nodes[w];
            }
            let batch = if rng.below(10) == 0 { &half } else { &all };
            if rng.below(15) == 0 {
                let want = bits(full.ablated_output(batch).unwrap());
                let got = bits(reusing.ablated_output(batch).unwrap());
                assert_eq!(got, want, "{lib} ({kind:?}) step {step}: ablated output");
            }
            let want = bits(full.forward(batch, &edges, &nodes).unwrap());
            let got = bits(reusing.forward(batch, &edges, &nodes).unwrap());
            let kept = edges.iter().filter(|&&z| z != 0.0).count();
            assert_eq!(
                got, want,
                "{lib} ({kind:?}) step {step}: reused forward differs from the full forward ({kept} edges with a non-zero mask, batch of {})",
                batch.len()
            );
        }
    }
}

//! Time of one masked forward + KL + backward on Edge Pruning's reverse run shape (batch 16 of
//! the 27 sequences BOS+{1,2,3}^3). Ignored by default (timings need `--release` and a quiet machine):
//! `cargo test --release -p edgeprune --test masked_forward_timing -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use ndarray::Array2;

use common::tracr_model;
use edgeprune::ablation::Ablation;
use edgeprune::forward::MaskedForward;
use edgeprune::objective::Metric;
use edgeprune::rng::Rng;

#[test]
#[ignore]
fn reverse_forward_backward_time_per_step() {
    let model = tracr_model("reverse_123");
    let bos = model.bos_token_id.expect("reverse fixture names its BOS");
    // All 27 sequences BOS + {1,2,3}^3; token ids 0, 1, 2 are the tokens 1, 2, 3.
    let mut inputs = Array2::zeros((27, 4));
    for n in 0..27 {
        inputs[(n, 0)] = bos;
        inputs[(n, 1)] = n / 9;
        inputs[(n, 2)] = (n / 3) % 3;
        inputs[(n, 3)] = n % 3;
    }
    for ablation in [
        Ablation::Zero,
        Ablation::Interchange {
            corrupted_ids: inputs.slice(ndarray::s![..;-1, ..]).to_owned(),
        },
    ] {
        let mut forward = MaskedForward::new(&model, inputs.view(), &ablation).unwrap();
        let graph = forward.graph().clone();
        let mut rng = Rng::new(42);
        let mut grad_edges = vec![0.0; graph.num_edges()];
        let mut grad_nodes = vec![0.0; graph.num_writers()];
        let steps = 6000;
        let mut checksum = 0.0;
        let start = Instant::now();
        for _ in 0..steps {
            let batch: Vec<usize> = (0..16).map(|_| rng.below(27) as usize).collect();
            let edge_mask: Vec<f64> = (0..graph.num_edges()).map(|_| rng.uniform()).collect();
            let node_mask: Vec<f64> = (0..graph.num_writers()).map(|_| rng.uniform()).collect();
            checksum += forward
                .metric_and_gradients(
                    Metric::Kl,
                    &batch,
                    &edge_mask,
                    &node_mask,
                    &mut grad_edges,
                    &mut grad_nodes,
                )
                .unwrap();
            checksum += grad_edges[0];
        }
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "reverse, {} ablation: {steps} steps of batch 16 in {elapsed:.3} s = {:.4} ms per forward+KL+backward (checksum {checksum:.3})",
            ablation.name(),
            1e3 * elapsed / steps as f64
        );
        assert!(checksum.is_finite());
    }
}

//! The hand-written backward gives the same mask gradients as central finite differences of the
//! metric, for every edge and node mask, for KL and MSE, on random models (several heads,
//! LayerNorm on and off, causal or not, every ablation).
//!
//! GELU models only: a ReLU kink within ±h of some pre-activation makes a finite difference
//! meaningless, and with ~10² pre-activations per model that happens in a noticeable share of
//! random cases. The ReLU path is checked exactly against the official code's gradients
//! (masked_forward_matches_edge_pruning.rs).

mod common;

use ndarray::Array3;
use proptest::prelude::*;

use common::random_setup::{cases, random_masks, setup_strategy};
use edgeprune::forward::MaskedForward;
use edgeprune::model::Activation;
use edgeprune::objective::Metric;

/// Steps of the five-point central stencil `(8(L(h) − L(−h)) − (L(2h) − L(−2h))) / 12h`, whose
/// truncation error is ~h⁴/30·|L⁽⁵⁾| and rounding error ~eps·|L|/h. No single step suits every
/// random model (LayerNorm over 2 dimensions with near-equal entries is steep, and the MSE of
/// large outputs reaches 1e2), so the hand gradient must agree with the best of three steps;
/// a wrong gradient disagrees with all of them.
const STEPS: [f64; 3] = [1e-3, 1e-4, 1e-5];
/// Required relative agreement.
const RELATIVE: f64 = 1e-6;
/// Absolute floor per unit of |metric|, for gradients that are (near) zero: ~5× the rounding
/// error of the stencil at the smallest step.
const FLOOR_PER_METRIC: f64 = 1e-10;

fn metric_at(
    forward: &mut MaskedForward,
    metric: Metric,
    batch: &[usize],
    reference: &Array3<f64>,
    edges: &[f64],
    nodes: &[f64],
) -> f64 {
    let kind = forward.output_kind();
    let output = forward.forward(batch, edges, nodes).unwrap().to_owned();
    metric.value(kind, output.view(), reference.view()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32)))]

    #[test]
    fn hand_gradients_match_central_finite_differences(setup in setup_strategy(vec![Activation::Gelu])) {
        let built = setup.build();
        let mut forward = MaskedForward::new(&built.model, built.inputs.view(), &built.ablation).unwrap();
        let graph = forward.graph().clone();
        let batch: Vec<usize> = (0..setup.examples).collect();
        // A perturbed reference, so that the metric and its gradients are not all zero at masks 1.
        let reference = forward.reference_batch(&batch).mapv(|v| 0.8 * v + 0.1);
        let edge_mask = random_masks(graph.num_edges(), setup.seed, 0.05, 0.95);
        let node_mask = random_masks(graph.num_writers(), setup.seed.wrapping_add(1), 0.05, 0.95);
        for metric in [Metric::Kl, Metric::Mse] {
            let output = forward.forward(&batch, &edge_mask, &node_mask).unwrap().to_owned();
            let mut grad_output = Array3::zeros(output.raw_dim());
            let value = metric
                .value_and_gradient(forward.output_kind(), output.view(), reference.view(), grad_output.view_mut())
                .unwrap();
            let mut grad_edges = vec![0.0; graph.num_edges()];
            let mut grad_nodes = vec![0.0; graph.num_writers()];
            forward.backward(grad_output.view(), &mut grad_edges, &mut grad_nodes).unwrap();

            let mut check = |hand: f64, edges_at: &dyn Fn(f64) -> (Vec<f64>, Vec<f64>), what: &str| -> Result<(), TestCaseError> {
                let mut at = |delta: f64| {
                    let (edges, nodes) = edges_at(delta);
                    metric_at(&mut forward, metric, &batch, &reference, &edges, &nodes)
                };
                let floor = FLOOR_PER_METRIC * value.abs().max(1.0);
                let mut best = f64::NAN;
                let mut best_error = f64::INFINITY;
                for step in STEPS {
                    let near = at(step) - at(-step);
                    let far = at(2.0 * step) - at(-2.0 * step);
                    let numeric = (8.0 * near - far) / (12.0 * step);
                    let error = (hand - numeric).abs() - RELATIVE * hand.abs().max(numeric.abs());
                    if error < best_error {
                        best_error = error;
                        best = numeric;
                    }
                }
                let numeric = best;
                prop_assert!(
                    best_error <= floor,
                    "{} d{}/d mask[{}]: hand {:e}, finite difference {:e} (metric {:e})",
                    metric.name(), metric.name(), what, hand, numeric, value
                );
                Ok(())
            };
            for e in 0..graph.num_edges() {
                let at = |delta: f64| {
                    let mut edges = edge_mask.clone();
                    edges[e] += delta;
                    (edges, node_mask.clone())
                };
                check(grad_edges[e], &at, &graph.edge_names()[e])?;
            }
            for w in 0..graph.num_writers() {
                let at = |delta: f64| {
                    let mut nodes = node_mask.clone();
                    nodes[w] += delta;
                    (edge_mask.clone(), nodes)
                };
                check(grad_nodes[w], &at, &graph.writer_names()[w])?;
            }
        }
    }
}

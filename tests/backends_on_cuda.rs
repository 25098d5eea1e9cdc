//! The candle backend on a CUDA device computes what the CPU reference computes (run by
//! `scripts/gpu-check.sh`). Without `--features cuda` the test is reported as ignored, with the reason:
//! CI has no GPU, and the CUDA path runs the same generic code that `backends_agree.rs` covers on the CPU. Tolerances as there: f64 1e-9 relative + 1e-12, f32 1e-4 + 1e-5.

use std::path::Path;

use candle_core::DType;
use edgeprune::ablation::Ablation;
use edgeprune::backend::candle::{CandleBackend, CandleDevice};
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::backend::{Backend, Lambdas, StepRequest};
use edgeprune::model::{Activation, Transformer, TransformerShape};
use edgeprune::objective::metric::Metric;
use edgeprune::rng::Rng;
use edgeprune::task::Task;
use ndarray::Array2;

fn check(
    model: &Transformer,
    inputs: &Array2<usize>,
    ablation: &Ablation,
    metric: Metric,
    label: &str,
) {
    let mut reference = NdarrayBackend::new(model, inputs.view(), ablation, metric).unwrap();
    let (e, w) = (reference.num_edges(), reference.num_writers());
    let mut rng = Rng::new(5);
    let edge_log_alpha: Vec<f64> = (0..e).map(|_| rng.normal_with(0.5, 2.0)).collect();
    let node_log_alpha: Vec<f64> = (0..w).map(|_| rng.normal_with(0.5, 2.0)).collect();
    let edge_uniform: Vec<f64> = (0..e).map(|_| rng.uniform_in(1e-6, 1.0 - 1e-6)).collect();
    let node_uniform: Vec<f64> = (0..w).map(|_| rng.uniform_in(1e-6, 1.0 - 1e-6)).collect();
    let batch: Vec<usize> = (0..inputs.nrows()).collect();
    let request = StepRequest {
        edge_log_alpha: &edge_log_alpha,
        node_log_alpha: &node_log_alpha,
        edge_uniform: &edge_uniform,
        node_uniform: &node_uniform,
        edge_lambdas: Lambdas {
            linear: -0.5,
            quadratic: 0.3,
        },
        node_lambdas: Lambdas {
            linear: 0.2,
            quadratic: 0.1,
        },
        edge_target: 0.7,
        node_target: 0.3,
        node_loss: true,
        batch: &batch,
    };
    let expected = reference.step(&request).unwrap();
    for (dtype, relative, floor) in [(DType::F64, 1e-9, 1e-12), (DType::F32, 1e-4, 1e-5)] {
        let mut cuda = CandleBackend::new(
            model,
            inputs.view(),
            ablation,
            metric,
            dtype,
            CandleDevice::Cuda(0),
        )
        .unwrap();
        let got = cuda.step(&request).unwrap();
        let pairs = std::iter::once((got.loss, expected.loss))
            .chain(
                got.grad_edge_log_alpha
                    .iter()
                    .copied()
                    .zip(expected.grad_edge_log_alpha.iter().copied()),
            )
            .chain(
                got.grad_node_log_alpha
                    .iter()
                    .copied()
                    .zip(expected.grad_node_log_alpha.iter().copied()),
            );
        let mut worst = 0.0f64;
        for (a, b) in pairs {
            let excess = (a - b).abs() - (relative * a.abs().max(b.abs()) + floor);
            worst = worst.max((a - b).abs() / b.abs().max(1e-300));
            assert!(excess <= 0.0, "{label} {dtype:?}: cuda {a:e} vs cpu {b:e}");
        }
        println!(
            "{label} {dtype:?} on CUDA: loss and {} gradients agree (worst relative {worst:.1e})",
            e + w
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "cuda"),
    ignore = "needs a CUDA GPU and --features cuda: run scripts/gpu-check.sh"
)]
fn cuda_matches_the_cpu_reference() {
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"));
    for task in [
        Task::reverse(fixtures).unwrap(),
        Task::xproportion(fixtures).unwrap(),
    ] {
        check(
            &task.model,
            &task.clean,
            &Ablation::Zero,
            task.metric,
            &task.name,
        );
    }
    let shape = TransformerShape {
        d_model: 64,
        num_layers: 3,
        num_heads: 4,
        key_size: 16,
        value_size: 16,
        mlp_hidden_size: 128,
        vocab_size: 20,
        max_positions: 12,
        layer_norm: true,
        causal: true,
        activation: Activation::Gelu,
        classes: Some(20),
    };
    let model = Transformer::random(&shape, 3);
    let mut rng = Rng::new(9);
    let inputs = Array2::from_shape_fn((4, 12), |_| rng.below(20) as usize);
    let corrupted = Array2::from_shape_fn((4, 12), |_| rng.below(20) as usize);
    check(
        &model,
        &inputs,
        &Ablation::Interchange {
            corrupted_ids: corrupted,
        },
        Metric::Kl,
        "random GPT-2-like",
    );
}

//! The candle backend (autograd) computes what the ndarray reference (hand-written backward) computes:
//! loss, metric, sparsities and every gradient, on random models and on the two Tracr models.
//!
//! Tolerances: candle-f64 within 1e-9 relative plus 1e-12 absolute (the two differ only in summation
//! order; the absolute floor covers quantities that are exactly 0 in one backend and round-off in the
//! other, such as a KL of identical outputs); candle-f32 within 1e-4 relative plus 1e-5 absolute (f32
//! round-off, 6e-8 per operation, accumulated through a few layers of O(1) activations). The f32 cases
//! use GELU models: near a ReLU kink an f32 pre-activation can land on the other side of 0.

mod common;

use std::path::Path;

use candle_core::DType;
use proptest::prelude::*;

use common::random_setup::{cases, setup_strategy};
use edgeprune::backend::candle::{CandleBackend, CandleDevice};
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::backend::{Backend, Lambdas, StepRequest, StepResult};
use edgeprune::model::Activation;
use edgeprune::objective::metric::Metric;
use edgeprune::rng::Rng;
use edgeprune::task::Task;

struct Draw {
    edge_log_alpha: Vec<f64>,
    node_log_alpha: Vec<f64>,
    edge_uniform: Vec<f64>,
    node_uniform: Vec<f64>,
    lambdas: [f64; 4],
    node_loss: bool,
}

fn draw(edges: usize, writers: usize, seed: u64) -> Draw {
    let mut rng = Rng::new(seed);
    // log-alphas around 0 so that masks are strictly inside (0, 1) often and clamped sometimes.
    let normal = |n: usize, rng: &mut Rng| {
        (0..n)
            .map(|_| rng.normal_with(0.5, 2.0))
            .collect::<Vec<_>>()
    };
    let edge_log_alpha = normal(edges, &mut rng);
    let node_log_alpha = normal(writers, &mut rng);
    let mut uniform = |n: usize| {
        (0..n)
            .map(|_| rng.uniform_in(1e-6, 1.0 - 1e-6))
            .collect::<Vec<_>>()
    };
    let edge_uniform = uniform(edges);
    let node_uniform = uniform(writers);
    let lambdas = [rng.normal(), rng.normal(), rng.normal(), rng.normal()];
    Draw {
        edge_log_alpha,
        node_log_alpha,
        edge_uniform,
        node_uniform,
        lambdas,
        node_loss: rng.below(2) == 1,
    }
}

fn step(backend: &mut dyn Backend, d: &Draw, batch: &[usize]) -> StepResult {
    backend
        .step(&StepRequest {
            edge_log_alpha: &d.edge_log_alpha,
            node_log_alpha: &d.node_log_alpha,
            edge_uniform: &d.edge_uniform,
            node_uniform: &d.node_uniform,
            edge_lambdas: Lambdas {
                linear: d.lambdas[0],
                quadratic: d.lambdas[1],
            },
            node_lambdas: Lambdas {
                linear: d.lambdas[2],
                quadratic: d.lambdas[3],
            },
            edge_target: 0.7,
            node_target: 0.3,
            node_loss: d.node_loss,
            batch,
        })
        .expect("step runs")
}

fn close(
    what: &str,
    ours: &[f64],
    reference: &[f64],
    relative: f64,
    floor: f64,
) -> std::result::Result<(), String> {
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        if (a - b).abs() > relative * a.abs().max(b.abs()) + floor {
            return Err(format!("{what}[{i}]: candle {a:e} vs ndarray {b:e}"));
        }
    }
    Ok(())
}

fn compare(
    candle: &StepResult,
    reference: &StepResult,
    relative: f64,
    floor: f64,
) -> std::result::Result<(), String> {
    close("loss", &[candle.loss], &[reference.loss], relative, floor)?;
    close(
        "metric",
        &[candle.metric],
        &[reference.metric],
        relative,
        floor,
    )?;
    close(
        "sparsity",
        &[candle.edge_sparsity, candle.node_sparsity],
        &[reference.edge_sparsity, reference.node_sparsity],
        relative,
        floor,
    )?;
    close(
        "d/d edge log-alpha",
        &candle.grad_edge_log_alpha,
        &reference.grad_edge_log_alpha,
        relative,
        floor,
    )?;
    close(
        "d/d node log-alpha",
        &candle.grad_node_log_alpha,
        &reference.grad_node_log_alpha,
        relative,
        floor,
    )?;
    let lambdas = |s: &StepResult| {
        vec![
            s.grad_edge_lambdas.linear,
            s.grad_edge_lambdas.quadratic,
            s.grad_node_lambdas.linear,
            s.grad_node_lambdas.quadratic,
        ]
    };
    close(
        "d/d lambdas",
        &lambdas(candle),
        &lambdas(reference),
        relative,
        floor,
    )
}

fn metric_for(seed: u64) -> Metric {
    if seed % 3 == 0 {
        Metric::Mse
    } else {
        Metric::Kl
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24)))]

    #[test]
    fn candle_f64_matches_the_reference(setup in setup_strategy(vec![Activation::Relu, Activation::Gelu]), seed in any::<u64>()) {
        let built = setup.build();
        let metric = metric_for(seed);
        let mut reference = NdarrayBackend::new(&built.model, built.inputs.view(), &built.ablation, metric).unwrap();
        let mut candle = CandleBackend::new(&built.model, built.inputs.view(), &built.ablation, metric, DType::F64, CandleDevice::Cpu).unwrap();
        let d = draw(reference.num_edges(), reference.num_writers(), seed);
        let batch: Vec<usize> = (0..setup.examples).collect();
        let expected = step(&mut reference, &d, &batch);
        let got = step(&mut candle, &d, &batch);
        prop_assert!(compare(&got, &expected, 1e-9, 1e-12).is_ok(), "{:?}", compare(&got, &expected, 1e-9, 1e-12));
    }

    #[test]
    fn candle_f32_matches_the_reference(setup in setup_strategy(vec![Activation::Gelu]), seed in any::<u64>()) {
        let built = setup.build();
        let metric = metric_for(seed);
        let mut reference = NdarrayBackend::new(&built.model, built.inputs.view(), &built.ablation, metric).unwrap();
        let mut candle = CandleBackend::new(&built.model, built.inputs.view(), &built.ablation, metric, DType::F32, CandleDevice::Cpu).unwrap();
        let d = draw(reference.num_edges(), reference.num_writers(), seed);
        let batch: Vec<usize> = (0..setup.examples).collect();
        let expected = step(&mut reference, &d, &batch);
        let got = step(&mut candle, &d, &batch);
        prop_assert!(compare(&got, &expected, 1e-4, 1e-5).is_ok(), "{:?}", compare(&got, &expected, 1e-4, 1e-5));
    }
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn candle_matches_the_reference_on_the_tracr_models() {
    for task in [
        Task::reverse(fixtures()).unwrap(),
        Task::xproportion(fixtures()).unwrap(),
    ] {
        for ablation in [
            edgeprune::ablation::Ablation::Zero,
            edgeprune::ablation::Ablation::Interchange {
                corrupted_ids: task.corrupted.clone(),
            },
        ] {
            let mut reference =
                NdarrayBackend::new(&task.model, task.clean.view(), &ablation, task.metric)
                    .unwrap();
            let mut candle = CandleBackend::new(
                &task.model,
                task.clean.view(),
                &ablation,
                task.metric,
                DType::F64,
                CandleDevice::Cpu,
            )
            .unwrap();
            let batch: Vec<usize> = (0..16.min(task.num_examples())).collect();
            for seed in 0..4 {
                let d = draw(reference.num_edges(), reference.num_writers(), seed);
                let expected = step(&mut reference, &d, &batch);
                let got = step(&mut candle, &d, &batch);
                if let Err(message) = compare(&got, &expected, 1e-9, 1e-12) {
                    panic!("{} {}: {message}", task.name, ablation.name());
                }
            }
        }
    }
}

#[test]
fn asking_for_cuda_without_the_feature_is_a_typed_error() {
    if cfg!(feature = "cuda") {
        eprintln!("built with --features cuda: the CPU-only error path does not apply (notice, not a skip of parity)");
        return;
    }
    let task = Task::xproportion(fixtures()).unwrap();
    let error = CandleBackend::new(
        &task.model,
        task.clean.view(),
        &edgeprune::ablation::Ablation::Zero,
        task.metric,
        DType::F64,
        CandleDevice::Cuda(0),
    )
    .unwrap_err();
    assert!(error.to_string().contains("--features cuda"), "{error}");
}

#[test]
fn a_full_reverse_run_on_candle_finds_the_references_circuit() {
    use edgeprune::masks::layout::ParameterLayout;
    use edgeprune::train::config::PruneConfig;
    use edgeprune::train::trainer::train;
    let task = Task::reverse(fixtures()).unwrap();
    let layout = ParameterLayout::new(task.model.num_layers(), task.model.num_heads()).unwrap();
    let config = PruneConfig::reverse();
    let ablation = edgeprune::ablation::Ablation::Zero;
    let mut reference =
        NdarrayBackend::new(&task.model, task.clean.view(), &ablation, task.metric).unwrap();
    let mut candle = CandleBackend::new(
        &task.model,
        task.clean.view(),
        &ablation,
        task.metric,
        DType::F64,
        CandleDevice::Cpu,
    )
    .unwrap();
    let expected = train(
        &mut reference,
        &layout,
        task.num_examples(),
        &config,
        &mut |_| {},
    )
    .unwrap();
    let got = train(
        &mut candle,
        &layout,
        task.num_examples(),
        &config,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        got.circuit.edge_names(&layout),
        expected.circuit.edge_names(&layout)
    );
    assert_eq!(got.circuit.num_edges(), 11);
}

//! EAP is the edge-mask gradient of its metric: it equals central differences of the metric in each edge
//! mask, it equals the exact effect of removing one edge into `resid_post` where the output is linear in
//! that mask, and EAP-IG with one step equals it in both variants. Bad step counts are typed errors.

mod common;

use std::path::Path;

use proptest::prelude::*;

use common::random_setup::{cases, setup_strategy, Built};
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::backend::{AttributionBackend, Backend};
use edgeprune::error::Error;
use edgeprune::graph::EdgeGraph;
use edgeprune::methods::eap::{attribute, Attribution};
use edgeprune::methods::eap_ig::EapIg;
use edgeprune::model::Activation;
use edgeprune::objective::metric::{LinearMetric, Metric};
use edgeprune::task::Task;

fn backend(built: &Built) -> NdarrayBackend {
    NdarrayBackend::new(
        &built.model,
        built.inputs.view(),
        &built.ablation,
        Metric::Kl,
    )
    .expect("backend builds")
}

/// The linear metric over the whole dataset at edge masks `edge_mask` (every node mask 1).
fn metric_at(backend: &mut NdarrayBackend, metric: &LinearMetric, edge_mask: &[f64]) -> f64 {
    let all: Vec<usize> = (0..AttributionBackend::num_examples(backend)).collect();
    let nodes = vec![1.0; backend.num_writers()];
    let forward = backend.masked_forward();
    let output = forward
        .forward(&all, edge_mask, &nodes)
        .expect("forward runs");
    metric.value(output, &all).expect("metric")
}

fn eap(backend: &mut NdarrayBackend, metric: &LinearMetric, attribution: Attribution) -> Vec<f64> {
    attribute(backend, metric, attribution, 2)
        .expect("attribution runs")
        .signed
}

fn largest(values: &[f64]) -> f64 {
    values.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24)))]

    /// Central differences with h = 1e-5 on GELU models (smooth; a ReLU kink would make the one-sided
    /// slopes differ): truncation error O(h² · third derivative) ≈ 1e-10 and round-off O(ε·|m|/h) ≈ 1e-11
    /// for O(1) activations, so 1e-6 of the largest score plus 1e-8 leaves two orders of margin.
    #[test]
    fn eap_equals_the_central_difference_of_the_metric(setup in setup_strategy(vec![Activation::Gelu])) {
        let built = setup.build();
        let mut backend = backend(&built);
        let metric = backend.linear_metric().unwrap();
        let scores = eap(&mut backend, &metric, Attribution::Eap);
        let tolerance = 1e-6 * largest(&scores) + 1e-8;
        let h = 1e-5;
        for (e, &score) in scores.iter().enumerate() {
            let mut mask = vec![1.0; scores.len()];
            mask[e] = 1.0 + h;
            let up = metric_at(&mut backend, &metric, &mask);
            mask[e] = 1.0 - h;
            let down = metric_at(&mut backend, &metric, &mask);
            let difference = (up - down) / (2.0 * h);
            prop_assert!((score - difference).abs() <= tolerance,
                "edge {e}: EAP {score:e} vs central difference {difference:e} ({setup:?})");
        }
    }

    /// Without a final LayerNorm the output is linear in every mask into `resid_post`, and the metric is
    /// linear in the output, so the gradient is the exact effect of removing the edge (up to round-off:
    /// 1e-9 of the largest score plus 1e-12).
    #[test]
    fn eap_equals_removing_an_edge_into_resid_post_without_final_layer_norm(
        setup in setup_strategy(vec![Activation::Relu, Activation::Gelu])
    ) {
        let mut built = setup.build();
        built.model.ln_final = None;
        let mut backend = backend(&built);
        let metric = backend.linear_metric().unwrap();
        let scores = eap(&mut backend, &metric, Attribution::Eap);
        let graph = EdgeGraph::for_model(&built.model);
        let full = metric_at(&mut backend, &metric, &vec![1.0; scores.len()]);
        let tolerance = 1e-9 * largest(&scores).max(full.abs()) + 1e-12;
        for &e in graph.edges_into(graph.output_reader()) {
            let mut mask = vec![1.0; scores.len()];
            mask[e] = 0.0;
            let effect = full - metric_at(&mut backend, &metric, &mask);
            prop_assert!((scores[e] - effect).abs() <= tolerance,
                "{}: EAP {:e} vs removal effect {effect:e}", graph.edge_names()[e], scores[e]);
        }
    }

    /// The mask variant at one step runs exactly EAP's pass; the inputs variant dots the same gradients
    /// with the same Δ in another summation order (1e-12 of the largest score).
    #[test]
    fn eap_ig_with_one_step_equals_eap(setup in setup_strategy(vec![Activation::Relu, Activation::Gelu])) {
        let built = setup.build();
        let mut backend = backend(&built);
        let metric = backend.linear_metric().unwrap();
        let scores = eap(&mut backend, &metric, Attribution::Eap);
        let masks = eap(&mut backend, &metric, Attribution::IgMasks { steps: 1 });
        prop_assert_eq!(&masks, &scores, "mask variant, 1 step");
        let inputs = eap(&mut backend, &metric, Attribution::IgInputs { steps: 1 });
        let tolerance = 1e-12 * largest(&scores) + 1e-15;
        for (e, (a, b)) in inputs.iter().zip(&scores).enumerate() {
            prop_assert!((a - b).abs() <= tolerance, "edge {e}: EAP-IG inputs {a:e} vs EAP {b:e}");
        }
    }
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

/// The Tracr models have no LayerNorm: every edge into `resid_post` is scored by its exact removal effect,
/// and the scores are not all zero (EAP sees the circuit's output edges).
#[test]
fn eap_equals_removing_an_edge_into_resid_post_on_the_tracr_models() {
    for task in [
        Task::reverse(fixtures()).unwrap(),
        Task::xproportion(fixtures()).unwrap(),
    ] {
        let ablation = edgeprune::ablation::Ablation::Zero;
        let mut backend =
            NdarrayBackend::new(&task.model, task.clean.view(), &ablation, Metric::Kl).unwrap();
        let metric = backend.linear_metric().unwrap();
        let scores = eap(&mut backend, &metric, Attribution::Eap);
        let graph = EdgeGraph::for_model(&task.model);
        let full = metric_at(&mut backend, &metric, &vec![1.0; scores.len()]);
        let tolerance = 1e-9 * largest(&scores).max(full.abs()) + 1e-12;
        let mut nonzero = 0;
        for &e in graph.edges_into(graph.output_reader()) {
            let mut mask = vec![1.0; scores.len()];
            mask[e] = 0.0;
            let effect = full - metric_at(&mut backend, &metric, &mask);
            assert!(
                (scores[e] - effect).abs() <= tolerance,
                "{} {}: EAP {:e} vs removal effect {effect:e}",
                task.name,
                graph.edge_names()[e],
                scores[e]
            );
            nonzero += usize::from(effect.abs() > tolerance);
        }
        assert!(nonzero > 0, "{}: every resid_post edge scored 0", task.name);
    }
}

#[test]
fn zero_steps_is_a_typed_error() {
    for result in [EapIg::inputs(0), EapIg::masks(0)] {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidOption { .. }) && err.to_string().contains("at least 1"),
            "{err}"
        );
    }
    let task = Task::reverse(fixtures()).unwrap();
    let ablation = edgeprune::ablation::Ablation::Zero;
    let mut backend =
        NdarrayBackend::new(&task.model, task.clean.view(), &ablation, Metric::Kl).unwrap();
    let metric = backend.linear_metric().unwrap();
    let err = attribute(&mut backend, &metric, Attribution::IgInputs { steps: 0 }, 8).unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
}

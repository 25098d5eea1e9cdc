//! The ndarray backend's d loss / d log-alpha (metric + regularisers, through the hard-concrete sample)
//! equals central finite differences of its own loss, on random models, masks and noise.

use edgeprune::ablation::Ablation;
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::backend::{Backend, Lambdas, StepRequest};
use edgeprune::masks::hard_concrete::{sample, EPS};
use edgeprune::model::{Activation, Transformer, TransformerShape};
use edgeprune::objective::metric::Metric;
use edgeprune::rng::Rng;
use ndarray::Array2;

/// Step of the central differences: truncation error ~h²·|f'''| ≈ 1e-10, round-off ~1e-16·|loss|/h ≈ 1e-11.
const H: f64 = 1e-5;
/// Required agreement: relative 1e-6, with an absolute floor of 1e-9 for gradients that are round-off-sized.
const REL: f64 = 1e-6;
const ABS: f64 = 1e-9;

struct Case {
    backend: NdarrayBackend,
    edge_log_alpha: Vec<f64>,
    node_log_alpha: Vec<f64>,
    edge_uniform: Vec<f64>,
    node_uniform: Vec<f64>,
    batch: Vec<usize>,
}

impl Case {
    fn loss(&mut self, edge_log_alpha: &[f64], node_log_alpha: &[f64]) -> f64 {
        self.step(edge_log_alpha, node_log_alpha).loss
    }

    fn step(
        &mut self,
        edge_log_alpha: &[f64],
        node_log_alpha: &[f64],
    ) -> edgeprune::backend::StepResult {
        let request = StepRequest {
            edge_log_alpha,
            node_log_alpha,
            edge_uniform: &self.edge_uniform,
            node_uniform: &self.node_uniform,
            edge_lambdas: Lambdas {
                linear: 0.3,
                quadratic: 0.7,
            },
            node_lambdas: Lambdas {
                linear: -0.2,
                quadratic: 0.4,
            },
            edge_target: 0.6,
            node_target: 0.3,
            node_loss: true,
            batch: &self.batch,
        };
        self.backend.step(&request).expect("step")
    }
}

fn make_case(seed: u64, layer_norm: bool, categorical: bool, interchange: bool) -> Case {
    let shape = TransformerShape {
        d_model: 6,
        num_layers: 2,
        num_heads: 2,
        key_size: 3,
        value_size: 3,
        mlp_hidden_size: 5,
        vocab_size: 5,
        max_positions: 5,
        layer_norm,
        causal: false,
        // GELU is smooth, so the only kinks left are the mask clamps, which the test steps around.
        activation: Activation::Gelu,
        classes: if categorical { Some(4) } else { None },
    };
    let model = Transformer::random(&shape, seed);
    let mut rng = Rng::new(seed ^ 0x5eed);
    let (examples, seq_len) = (6, 4);
    let ids = |rng: &mut Rng| {
        Array2::from_shape_fn((examples, seq_len), |(_, s)| {
            if s == 0 {
                0
            } else {
                1 + rng.below(4) as usize
            }
        })
    };
    let clean = ids(&mut rng);
    let ablation = if interchange {
        Ablation::Interchange {
            corrupted_ids: ids(&mut rng),
        }
    } else {
        Ablation::Zero
    };
    let backend =
        NdarrayBackend::new(&model, clean.view(), &ablation, Metric::Kl).expect("backend");
    let (edges, writers) = (backend.num_edges(), backend.num_writers());
    let mut draw =
        |n: usize, f: &mut dyn FnMut(&mut Rng) -> f64| (0..n).map(|_| f(&mut rng)).collect();
    let edge_log_alpha = draw(edges, &mut |r| r.normal_with(0.5, 1.5));
    let node_log_alpha = draw(writers, &mut |r| r.normal_with(0.5, 1.5));
    let edge_uniform = draw(edges, &mut |r| r.uniform_in(EPS, 1.0 - EPS));
    let node_uniform = draw(writers, &mut |r| r.uniform_in(EPS, 1.0 - EPS));
    Case {
        backend,
        edge_log_alpha,
        node_log_alpha,
        edge_uniform,
        node_uniform,
        batch: vec![4, 1, 5, 2],
    }
}

/// Whether `log_alpha ± H` stays on one side of both clamp kinks of z.
fn smooth_around(log_alpha: f64, u: f64) -> bool {
    let side = |x: f64| {
        let z = sample(x, u).unclamped;
        (z > 0.0) as u8 + (z >= 1.0) as u8
    };
    side(log_alpha - H) == side(log_alpha + H) && side(log_alpha) == side(log_alpha + H)
}

fn check(seed: u64, layer_norm: bool, categorical: bool, interchange: bool) {
    let label = format!(
        "seed {seed}, layer_norm {layer_norm}, categorical {categorical}, interchange {interchange}"
    );
    let mut case = make_case(seed, layer_norm, categorical, interchange);
    let (edges, nodes) = (case.edge_log_alpha.clone(), case.node_log_alpha.clone());
    let result = case.step(&edges, &nodes);
    let mut checked_nonzero = 0;
    let total = edges.len() + nodes.len();
    for index in 0..total {
        let is_edge = index < edges.len();
        let i = if is_edge { index } else { index - edges.len() };
        let (la, u) = if is_edge {
            (edges[i], case.edge_uniform[i])
        } else {
            (nodes[i], case.node_uniform[i])
        };
        if !smooth_around(la, u) {
            continue;
        }
        let (mut plus_e, mut plus_n) = (edges.clone(), nodes.clone());
        let (mut minus_e, mut minus_n) = (edges.clone(), nodes.clone());
        if is_edge {
            plus_e[i] += H;
            minus_e[i] -= H;
        } else {
            plus_n[i] += H;
            minus_n[i] -= H;
        }
        let numeric = (case.loss(&plus_e, &plus_n) - case.loss(&minus_e, &minus_n)) / (2.0 * H);
        let analytic = if is_edge {
            result.grad_edge_log_alpha[i]
        } else {
            result.grad_node_log_alpha[i]
        };
        let tolerance = REL * analytic.abs().max(numeric.abs()) + ABS;
        assert!(
            (analytic - numeric).abs() <= tolerance,
            "{label}: {} {i} (log_alpha {la}, u {u}): analytic {analytic}, central difference {numeric}",
            if is_edge { "edge" } else { "node" }
        );
        if analytic.abs() > 1e-6 {
            checked_nonzero += 1;
        }
    }
    assert!(
        checked_nonzero >= total / 4,
        "{label}: only {checked_nonzero} of {total} gradients were non-trivial and smooth"
    );
}

#[test]
fn zero_ablation_categorical_without_layer_norm() {
    for seed in 1..=3 {
        check(seed, false, true, false);
    }
}

#[test]
fn zero_ablation_numerical_with_layer_norm() {
    for seed in 4..=6 {
        check(seed, true, false, false);
    }
}

#[test]
fn interchange_ablation_categorical_with_layer_norm() {
    for seed in 7..=9 {
        check(seed, true, true, true);
    }
}

#[test]
fn interchange_ablation_numerical_without_layer_norm() {
    for seed in 10..=12 {
        check(seed, false, false, true);
    }
}

#[test]
fn lambda_gradients_are_the_sparsity_gaps() {
    // loss is linear in λ1 and λ2, so d loss/d λ must equal a finite difference exactly up to round-off.
    let mut case = make_case(21, false, true, false);
    let (edges, nodes) = (case.edge_log_alpha.clone(), case.node_log_alpha.clone());
    let result = case.step(&edges, &nodes);
    let gap = result.edge_sparsity - 0.6;
    assert!((result.grad_edge_lambdas.linear - gap).abs() < 1e-15);
    assert!((result.grad_edge_lambdas.quadratic - gap * gap).abs() < 1e-15);
    let node_gap = result.node_sparsity - 0.3;
    assert!((result.grad_node_lambdas.linear - node_gap).abs() < 1e-15);
}

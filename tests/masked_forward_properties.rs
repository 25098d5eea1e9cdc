//! Properties of the masked forward on random models: all-ones masks give the plain forward,
//! all-zero masks give the fully ablated model, and the output is affine in every mask that
//! reaches it without passing a non-linearity.

mod common;

use ndarray::{Array1, Array3, Axis};
use proptest::prelude::*;

use common::random_setup::{cases, random_masks, setup_strategy, AblationKind};
use edgeprune::forward::MaskedForward;
use edgeprune::model::{Activation, Readout, Transformer};

/// Masked and plain forwards add the same numbers in a different order (Ã + Σ z ζ Δ against
/// x += block(x), compact against full matrix products), so they agree to rounding, not bitwise:
/// a few ulps of values of order one, amplified by at most a few layers.
const ROUNDING: f64 = 1e-12;

/// The readout applied to one final residual vector by hand (ln_f, then U or the dimension).
fn readout_by_hand(model: &Transformer, residual: &Array1<f64>) -> Vec<f64> {
    let normed = match &model.ln_final {
        Some(norm) => {
            let mut out = vec![0.0; residual.len()];
            norm.apply_into(residual.as_slice().unwrap(), &mut out);
            Array1::from(out)
        }
        None => residual.clone(),
    };
    match &model.readout {
        Readout::Categorical { unembedding } => normed.dot(unembedding).to_vec(),
        Readout::Numerical { dimension } => vec![normed[*dimension]],
        Readout::NumericalDirection { direction } => vec![normed.dot(direction)],
    }
}

fn assert_close(got: &Array3<f64>, want: &Array3<f64>, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape(), "{}: shapes", what);
    for ((index, g), w) in got.indexed_iter().zip(want.iter()) {
        prop_assert!(
            (g - w).abs() <= ROUNDING * (1.0 + w.abs()),
            "{}: at {:?} masked {} vs expected {} (diff {:e})",
            what,
            index,
            g,
            w,
            (g - w).abs()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    #[test]
    fn all_ones_masks_reproduce_the_plain_forward(setup in setup_strategy(vec![Activation::Relu, Activation::Gelu])) {
        let built = setup.build();
        let mut forward = MaskedForward::new(&built.model, built.inputs.view(), &built.ablation).unwrap();
        let graph = forward.graph().clone();
        let batch: Vec<usize> = (0..setup.examples).collect();
        let ones_edges = vec![1.0; graph.num_edges()];
        let ones_nodes = vec![1.0; graph.num_writers()];
        let got = forward.forward(&batch, &ones_edges, &ones_nodes).unwrap().to_owned();
        let want = built.model.forward(built.inputs.view()).unwrap();
        assert_close(&got, &want, "all-ones masks vs plain forward")?;
    }

    #[test]
    fn all_zero_edge_masks_reproduce_the_fully_ablated_model(setup in setup_strategy(vec![Activation::Relu, Activation::Gelu])) {
        let built = setup.build();
        let model = &built.model;
        let mut forward = MaskedForward::new(model, built.inputs.view(), &built.ablation).unwrap();
        let graph = forward.graph().clone();
        let batch: Vec<usize> = (0..setup.examples).collect();
        let zero_edges = vec![0.0; graph.num_edges()];
        // With every edge cut, node masks cannot matter: try zeros and random values.
        for node_mask in [vec![0.0; graph.num_writers()], random_masks(graph.num_writers(), setup.seed, 0.0, 1.0)] {
            let got = forward.forward(&batch, &zero_edges, &node_mask).unwrap().to_owned();
            let want = match setup.ablation {
                // Every reader reads zero, so the output is the readout of a zero residual.
                AblationKind::Zero => {
                    let per_position = readout_by_hand(model, &Array1::zeros(model.d_model()));
                    Array3::from_shape_fn(got.raw_dim(), |(_, _, c)| per_position[c])
                }
                // Every reader reads the full model's state on the corrupted input.
                AblationKind::Interchange => model.forward(built.corrupted.view()).unwrap(),
                // The final read is Σ_w mean_n X_w = the dataset-mean final residual, per position.
                AblationKind::Mean => {
                    let states = model.writer_states(built.inputs.view()).unwrap();
                    let mean_residual = states.sum_axis(Axis(0)).mean_axis(Axis(0)).unwrap();
                    Array3::from_shape_fn(got.raw_dim(), |(_, s, c)| {
                        readout_by_hand(model, &mean_residual.row(s).to_owned())[c]
                    })
                }
            };
            assert_close(&got, &want, "all-zero edge masks vs fully ablated model")?;
        }
    }

    #[test]
    fn output_is_affine_in_every_mask_that_reaches_it_linearly(setup in setup_strategy(vec![Activation::Relu, Activation::Gelu])) {
        // Without ln_f the readout is linear, so the output is affine in each edge mask into
        // resid_post and in the node mask of the last MLP (read only by resid_post). Masks of
        // edges into heads and MLPs pass a softmax or activation and are not affine in general.
        let mut setup = setup;
        setup.shape.layer_norm = false;
        let built = setup.build();
        let mut forward = MaskedForward::new(&built.model, built.inputs.view(), &built.ablation).unwrap();
        let graph = forward.graph().clone();
        let batch: Vec<usize> = (0..setup.examples).collect();
        let edge_mask = random_masks(graph.num_edges(), setup.seed, 0.0, 1.0);
        let node_mask = random_masks(graph.num_writers(), setup.seed.wrapping_add(1), 0.0, 1.0);
        let t = 0.37;
        let mut run = |edges: &[f64], nodes: &[f64]| forward.forward(&batch, edges, nodes).unwrap().to_owned();
        let mut check = |edges_at: &dyn Fn(f64) -> (Vec<f64>, Vec<f64>), what: String| -> Result<(), TestCaseError> {
            let (e0, n0) = edges_at(0.0);
            let (e1, n1) = edges_at(1.0);
            let (et, nt) = edges_at(t);
            let (at0, at1, att) = (run(&e0, &n0), run(&e1, &n1), run(&et, &nt));
            let interpolated = &at0 * (1.0 - t) + &at1 * t;
            assert_close(&att, &interpolated, &what)
        };
        for &e in graph.edges_into(graph.output_reader()) {
            let at = |value: f64| {
                let mut edges = edge_mask.clone();
                edges[e] = value;
                (edges, node_mask.clone())
            };
            check(&at, format!("edge {}", graph.edge_names()[e]))?;
        }
        let last_mlp = graph.mlp_writer(graph.num_layers() - 1);
        let at = |value: f64| {
            let mut nodes = node_mask.clone();
            nodes[last_mlp] = value;
            (edge_mask.clone(), nodes)
        };
        check(&at, format!("node {}", graph.writer_names()[last_mlp]))?;
    }
}

//! The compression's hand-derived gradient (ndarray) equals candle's autograd of the same loss, and
//! central finite differences of the loss, on categorical, numerical and causal programs at a random
//! `W`.
//!
//! Tolerances: the two implementations compute the same f64 sums in different orders, so loss and
//! gradient agree to 1e-9 relative (to the gradient's largest entry). Central differences with step
//! 1e-5 have truncation error O(h²·f''') and rounding error O(ε·f/h) ≈ 1e-11; 1e-5 relative covers
//! both with margin while still catching a wrong term (those are O(1) relative).

use ndarray::{s, Array2};

use edgeprune::compress::{CandleProblem, Problem};
use edgeprune::harder::compile_library;
use edgeprune::task::Task;

/// Every input of the program at its registry length, the first `rows` of them.
fn setup(name: &str, rows: usize) -> (tracr::CompiledModel, Array2<usize>) {
    let program = tracr::library::by_name(name).unwrap_or_else(|| panic!("{name} in the registry"));
    let model = compile_library(&program).expect("compiles");
    let task = Task::from_tracr_model(name, &model.to_json(), program.max_seq_len, 0)
        .expect("task of the model");
    let rows = rows.min(task.clean.nrows());
    let inputs = task.clean.slice(s![..rows, ..]).to_owned();
    (model, inputs)
}

/// A random-looking `W` (`[d, dims]`), off the initial projection so no term vanishes by symmetry.
fn some_w(d: usize, dims: usize) -> Array2<f64> {
    let rotation = tracr::transform::random_rotation(d, 7).expect("rotation");
    let noise = tracr::transform::random_rotation(d, 8).expect("rotation");
    &rotation.slice(s![.., ..dims]) + &(noise.slice(s![.., ..dims]).to_owned() * 0.3)
}

fn max_abs(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn agrees_with_autograd(name: &str, rows: usize, dims: usize, residual_weight: f64) {
    let (model, inputs) = setup(name, rows);
    model_agrees_with_autograd(name, &model, &inputs, dims, residual_weight);
}

fn model_agrees_with_autograd(
    name: &str,
    model: &tracr::CompiledModel,
    inputs: &Array2<usize>,
    dims: usize,
    residual_weight: f64,
) {
    let w = some_w(model.config.d_model, dims);
    let hand = Problem::new(model, inputs, residual_weight);
    let reference = CandleProblem::new(model, inputs, residual_weight).expect("candle problem");
    let (loss, gradient) = hand.loss_and_gradient(&w);
    let (want_loss, want_gradient) = reference.loss_and_gradient(&w).expect("autograd");
    assert!(
        (loss - want_loss).abs() <= 1e-9 * want_loss.abs().max(1.0),
        "{name} (D = {dims}, residual weight {residual_weight}): loss {loss} vs autograd {want_loss}"
    );
    let scale = max_abs(&want_gradient);
    assert!(scale > 0.0, "{name}: autograd's gradient is all zero");
    for ((index, g), want) in gradient.indexed_iter().zip(&want_gradient) {
        assert!(
            (g - want).abs() <= 1e-9 * scale,
            "{name} (D = {dims}): gradient at {index:?}: hand {g} vs autograd {want} (largest entry {scale})"
        );
    }
}

#[test]
fn categorical_gradient_matches_autograd() {
    agrees_with_autograd("reverse", 200, 20, 1.0);
    agrees_with_autograd("sort", 100, 12, 0.5);
}

#[test]
fn numerical_gradient_matches_autograd() {
    agrees_with_autograd("frac_prevs", 243, 8, 1.0);
    agrees_with_autograd("xproportion", 100, 6, 2.0);
}

#[test]
fn causal_gradient_matches_autograd() {
    agrees_with_autograd("frac_prevs_causal", 100, 7, 1.0);
}

/// A perturbed model has no zero weight, so the hand gradient's skipping of unread and unwritten
/// dimensions skips nothing: the dense path.
#[test]
fn dense_model_gradient_matches_autograd() {
    let (model, inputs) = setup("reverse", 150);
    let noisy = tracr::transform::perturb(&model, 1e-3, 3).expect("perturbs");
    model_agrees_with_autograd("reverse perturbed", &noisy, &inputs, 18, 1.0);
}

#[test]
fn gradient_matches_finite_differences() {
    for (name, dims) in [("reverse", 15), ("frac_prevs", 8)] {
        let (model, inputs) = setup(name, 60);
        let w = some_w(model.config.d_model, dims);
        let problem = Problem::new(&model, &inputs, 1.0);
        let (_, gradient) = problem.loss_and_gradient(&w);
        let scale = max_abs(&gradient);
        let h = 1e-5;
        // A spread of entries, rows and columns both varying.
        for k in 0..12 {
            let index = ((k * 7) % w.nrows(), (k * 5) % dims);
            let mut plus = w.clone();
            plus[index] += h;
            let mut minus = w.clone();
            minus[index] -= h;
            let numeric = (problem.loss_and_gradient(&plus).0
                - problem.loss_and_gradient(&minus).0)
                / (2.0 * h);
            assert!(
                (numeric - gradient[index]).abs() <= 1e-5 * scale,
                "{name} (D = {dims}): entry {index:?}: hand {} vs finite differences {numeric} (largest entry {scale})",
                gradient[index]
            );
        }
    }
}

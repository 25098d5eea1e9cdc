//! Gaussian noise on every weight: "nearly compiled" models whose truth has to be re-certified.

use ndarray::{Array, Dimension};

use crate::error::{Error, Result};
use crate::model::{CompiledModel, Perturbation};
use crate::rng::Rng;

/// Errors unless the relative noise size `epsilon` is finite and at least 0.
pub fn check_epsilon(epsilon: f64) -> Result<()> {
    if !epsilon.is_finite() || epsilon < 0.0 {
        return Err(Error::InvalidOption {
            option: "--perturb",
            message: format!(
                "the relative noise size must be a finite number >= 0 (e.g. 0.01), got {epsilon}"
            ),
        });
    }
    Ok(())
}

/// Adds noise of standard deviation `epsilon · rms(W)` to every entry of every weight tensor `W`
/// (embeddings, query, key, value, attention output, MLP weights, all biases), drawn from `seed`.
///
/// The noise is relative to each tensor's root mean square, so an all-zero tensor (Tracr's biases,
/// an empty layer slot) stays zero: it has no scale to be relative to. `epsilon` must be finite and
/// at least 0.
pub fn perturb(model: &CompiledModel, epsilon: f64, seed: u64) -> Result<CompiledModel> {
    check_epsilon(epsilon)?;
    let mut rng = Rng::new(seed);
    let mut out = model.clone();
    add_noise(&mut out.token_embed, epsilon, &mut rng);
    add_noise(&mut out.pos_embed, epsilon, &mut rng);
    for layer in &mut out.weights {
        let a = &mut layer.attn;
        add_noise(&mut a.query, epsilon, &mut rng);
        add_noise(&mut a.query_bias, epsilon, &mut rng);
        add_noise(&mut a.key, epsilon, &mut rng);
        add_noise(&mut a.key_bias, epsilon, &mut rng);
        add_noise(&mut a.value, epsilon, &mut rng);
        add_noise(&mut a.value_bias, epsilon, &mut rng);
        add_noise(&mut a.output, epsilon, &mut rng);
        add_noise(&mut a.output_bias, epsilon, &mut rng);
        let m = &mut layer.mlp;
        add_noise(&mut m.hidden, epsilon, &mut rng);
        add_noise(&mut m.hidden_bias, epsilon, &mut rng);
        add_noise(&mut m.output, epsilon, &mut rng);
        add_noise(&mut m.output_bias, epsilon, &mut rng);
    }
    out.perturbation = Some(Perturbation { epsilon, seed });
    Ok(out)
}

fn add_noise<D: Dimension>(weights: &mut Array<f64, D>, epsilon: f64, rng: &mut Rng) {
    let count = weights.len().max(1) as f64;
    let rms = (weights.iter().map(|w| w * w).sum::<f64>() / count).sqrt();
    let scale = epsilon * rms;
    weights.mapv_inplace(|w| w + scale * rng.normal());
}

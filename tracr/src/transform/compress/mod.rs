//! Tracr's compressed residual (superposition with a known truth): the compiled weights stay frozen and
//! one matrix `W` (`[d_model, D]`, `D < d_model`) is trained so that writing `x · W` and reading
//! `r · Wᵀ` keeps the model's behaviour (../shared/docs/methods.md §7, the public recipe).
//!
//! Loss: output cross-entropy against the compiled model's class (categorical) or MSE against its value
//! (numerical), on every non-BOS position, plus the MSE between each half-layer's read-back residual
//! `r · Wᵀ` and the compiled model's residual there. Adam on `W` alone, in **f64** on the CPU, with the
//! gradient derived by hand on ndarray ([`Problem`]); candle's autograd of the same loss (in the root
//! crate, `edgeprune::compress::reference`) checks it and is the baseline of the step-time ratio.
//! `W` starts as the first `D` columns of a seeded random rotation (a projection onto a random
//! `D`-dimensional subspace), which trains faster than the recipe's `normal(0, 0.02)`.
//!
//! The data is every input of the model's full length ([`task_inputs`]: the same inputs, in the same
//! order, as `edgeprune`'s tasks), so `tracr compile --compress` and `edgeprune compress` train alike.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::{CompiledModel, ResidualMapKind};
use crate::value::Value;
use ndarray::{Array2, Axis};

mod hand;
mod inputs;

pub use hand::Problem;
pub use inputs::{
    decodings, input_sequences, input_token_ids, input_values, task_inputs, MAX_ENUMERATED,
};

/// Training settings of one compression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressOptions {
    /// Adam steps (full batch: every input each step).
    pub steps: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Learning rate at the last step: the rate falls from `learning_rate` along a cosine to this.
    pub final_learning_rate: f64,
    /// Weight of the per-half-layer residual MSE next to the output loss.
    pub residual_weight: f64,
    /// Weight of the output loss (cross-entropy or MSE).
    pub output_weight: f64,
    /// Stop as soon as the compressed model decodes every input as the compiled model does (checked
    /// every [`CHECK_EVERY`] steps), instead of running every step.
    pub early_stop: bool,
    /// Seed of `W`'s initial rotation.
    pub seed: u64,
}

/// Steps between the early-stopping checks.
pub const CHECK_EVERY: usize = 10;

/// Absolute tolerance of a decoded numerical output. The library's numerical outputs are fractions
/// with denominators at most max_seq_len (5) or small integers, so distinct values are at least
/// 1/20 apart and an output within 0.01 is nearest its right value; Tracr's own test tolerance (atol
/// 1e-7) is met by the exact compiled model but by no compressed or perturbed one at a 0 output.
pub const NUMERIC_ATOL: f64 = 1e-2;

/// Relative tolerance of a decoded numerical output (Tracr's test tolerance: its discretising MLPs
/// are approximate by design).
pub const NUMERIC_RTOL: f64 = 5e-3;

impl Default for CompressOptions {
    /// The documented budget: at most 1000 full-batch Adam steps, learning rate 1e-2 decaying along a
    /// cosine to 1e-4 (without the decay, frac_prevs did not compress below 12 of 13 in 2000 steps;
    /// with it, to 10), residual and output weights 1, early stop.
    fn default() -> Self {
        Self {
            steps: 1000,
            learning_rate: 1e-2,
            final_learning_rate: 1e-4,
            residual_weight: 1.0,
            output_weight: 1.0,
            early_stop: true,
            seed: 0,
        }
    }
}

impl CompressOptions {
    /// Errors unless the budget has a step, the learning rates are finite (the first positive) and
    /// the loss weights are finite and not negative.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 || !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::InvalidOption {
                option: "compression steps / learning rate",
                message: format!(
                    "need at least one step and a positive finite learning rate, got {} and {}",
                    self.steps, self.learning_rate
                ),
            });
        }
        for (option, value) in [
            ("final learning rate", self.final_learning_rate),
            ("residual weight", self.residual_weight),
            ("output weight", self.output_weight),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::InvalidOption {
                    option,
                    message: format!("must be a finite number >= 0, got {value}"),
                });
            }
        }
        Ok(())
    }
}

/// What one compression gives.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// The compressed model: a plain model with `d_model = D`, its `residual_map` holding `W`.
    pub model: CompiledModel,
    /// Final training loss.
    pub loss: f64,
    /// Adam steps run (fewer than the budget when training stopped early).
    pub steps: usize,
    /// Wall time of the training, seconds.
    pub seconds: f64,
}

/// Errors unless `0 < dims < d_model`.
pub fn check_dims(model: &CompiledModel, dims: usize) -> Result<()> {
    let d = model.config.d_model;
    if dims == 0 || dims >= d {
        return Err(Error::InvalidOption {
            option: "--compress",
            message: format!(
                "the compressed width must be between 1 and d_model - 1 = {} for this model (d_model {d}), got {dims}",
                d.saturating_sub(1)
            ),
        });
    }
    Ok(())
}

/// Trains `W` (`[d_model, dims]`) on `inputs`, blocks of `[N, S]` token ids (BOS first; one block per
/// input length, as the sequences of a block must have one length), and returns the compressed model.
/// The targets are the compiled model's own outputs and residuals; the loss is the mean over every
/// row of every block.
pub fn compress(
    model: &CompiledModel,
    inputs: &[Array2<usize>],
    dims: usize,
    options: &CompressOptions,
) -> Result<Compressed> {
    check_dims(model, dims)?;
    options.validate()?;
    if model.residual_map.is_some() {
        return Err(Error::InvalidOption {
            option: "--compress",
            message:
                "the model's residual is already rotated or compressed; compress the compiled model"
                    .into(),
        });
    }
    let start = Instant::now();
    let (w, loss, steps) = train(model, inputs, dims, options)?;
    let seconds = start.elapsed().as_secs_f64();
    let compressed = super::map_residual(model, &w, ResidualMapKind::Compression, "compressed");
    Ok(Compressed {
        model: compressed,
        loss,
        steps,
        seconds,
    })
}

fn train(
    model: &CompiledModel,
    inputs: &[Array2<usize>],
    dims: usize,
    options: &CompressOptions,
) -> Result<(Array2<f64>, f64, usize)> {
    let rows: usize = inputs.iter().map(Array2::nrows).sum();
    if rows == 0 {
        return Err(Error::Input("no inputs to train the compression on".into()));
    }
    // Each block's loss is a mean over its rows; weighting it by its share of the rows makes the
    // sum the mean over all of them.
    let problems: Vec<(f64, Problem)> = inputs
        .iter()
        .filter(|block| block.nrows() > 0)
        .map(|block| {
            let problem = Problem::new(model, block, options.residual_weight)
                .with_output_weight(options.output_weight);
            (block.nrows() as f64 / rows as f64, problem)
        })
        .collect();
    let evaluate = |w: &Array2<f64>| {
        let mut total = (0.0, Array2::<f64>::zeros(w.raw_dim()), true);
        for (share, problem) in &problems {
            let (loss, gradient, agrees) = problem.evaluate(w);
            total.0 += share * loss;
            total.1.scaled_add(*share, &gradient);
            total.2 &= agrees;
        }
        total
    };
    let rotation = super::random_rotation(model.config.d_model, options.seed)?;
    let mut w = rotation.slice(ndarray::s![.., ..dims]).to_owned();
    let mut adam = Adam::new(w.raw_dim());
    let mut last = f64::NAN;
    let mut taken = 0;
    for step in 0..options.steps {
        let (loss, gradient, agrees) = evaluate(&w);
        last = loss;
        if options.early_stop && step % CHECK_EVERY == 0 && agrees {
            break;
        }
        taken += 1;
        // Cosine from learning_rate (step 0) to final_learning_rate (last step).
        let progress = step as f64 / (options.steps.max(2) - 1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let rate = options.final_learning_rate
            + (options.learning_rate - options.final_learning_rate) * cosine;
        adam.step(&mut w, &gradient, rate);
    }
    Ok((w, last, taken))
}

/// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8, bias-corrected), on one matrix.
struct Adam {
    m: Array2<f64>,
    v: Array2<f64>,
    step: i32,
}

impl Adam {
    fn new(dim: ndarray::Ix2) -> Self {
        Self {
            m: Array2::zeros(dim),
            v: Array2::zeros(dim),
            step: 0,
        }
    }

    fn step(&mut self, w: &mut Array2<f64>, gradient: &Array2<f64>, learning_rate: f64) {
        let (beta1, beta2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);
        self.step += 1;
        let (c1, c2) = (1.0 - beta1.powi(self.step), 1.0 - beta2.powi(self.step));
        ndarray::Zip::from(w)
            .and(&mut self.m)
            .and(&mut self.v)
            .and(gradient)
            .for_each(|w, m, v, &g| {
                *m = beta1 * *m + (1.0 - beta1) * g;
                *v = beta2 * *v + (1.0 - beta2) * g * g;
                *w -= learning_rate * (*m / c1) / ((*v / c2).sqrt() + eps);
            });
    }
}

/// Decoded accuracy: the fraction of `inputs` (`[N, S]` ids, BOS first) whose every non-BOS position
/// `model` decodes to `expected` (a RASP evaluation or another model's decoding; `None` positions of
/// `expected` are skipped). Numbers match by [`numbers_match`].
pub fn decoded_accuracy(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    expected: &[Vec<Value>],
) -> Result<f64> {
    let by_id = inputs::tokens_by_id(model);
    let mut right = 0usize;
    for (row, want) in inputs.axis_iter(Axis(0)).zip(expected) {
        let tokens: Vec<Value> = row.iter().map(|&id| by_id[id].clone()).collect();
        let got = model.apply(&tokens)?;
        let ok = got.decoded[1..]
            .iter()
            .zip(want)
            .all(|(g, w)| values_match(g, w));
        right += usize::from(ok);
    }
    Ok(right as f64 / inputs.nrows().max(1) as f64)
}

fn values_match(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        _ if *want == Value::None => true,
        (Some(g), Some(w)) if !matches!(want, Value::Str(_)) => numbers_match(g, w),
        _ => got == want,
    }
}

/// Decoded accuracy over several blocks of inputs (`expected` holds one list per block): the share
/// of all their rows that decode as expected.
pub fn pooled_accuracy(
    model: &CompiledModel,
    inputs: &[Array2<usize>],
    expected: &[Vec<Vec<Value>>],
) -> Result<f64> {
    let mut right = 0.0;
    let mut rows = 0usize;
    for (block, want) in inputs.iter().zip(expected) {
        right += decoded_accuracy(model, block, want)? * block.nrows() as f64;
        rows += block.nrows();
    }
    Ok(right / rows.max(1) as f64)
}

/// Whether a decoded number `got` matches `want` within [`NUMERIC_ATOL`] and [`NUMERIC_RTOL`].
pub fn numbers_match(got: f64, want: f64) -> bool {
    (got - want).abs() <= NUMERIC_ATOL + NUMERIC_RTOL * want.abs()
}

/// The smallest `D` in `1..d_model` whose compression decodes every input as `expected` (one list per
/// block of `inputs`) within the budget `options`, by bisection (assuming, as the search's premise,
/// that a wider residual does no worse). Returns the compression at that `D`, or `None` when even
/// `d_model - 1` does not reach 100 %.
pub fn smallest_exact_compression(
    model: &CompiledModel,
    inputs: &[Array2<usize>],
    expected: &[Vec<Vec<Value>>],
    options: &CompressOptions,
    on_try: &mut dyn FnMut(usize, f64, f64),
) -> Result<Option<(usize, Compressed)>> {
    let d = model.config.d_model;
    if d < 2 {
        return Ok(None);
    }
    let mut attempt = |dims: usize| -> Result<(bool, Compressed)> {
        let c = compress(model, inputs, dims, options)?;
        let accuracy = pooled_accuracy(&c.model, inputs, expected)?;
        on_try(dims, accuracy, c.seconds);
        Ok((accuracy >= 1.0, c))
    };
    let (ok, top) = attempt(d - 1)?;
    if !ok {
        return Ok(None);
    }
    let (mut low, mut best) = (0usize, (d - 1, top));
    while best.0 - low > 1 {
        let mid = (low + best.0) / 2;
        let (ok, c) = attempt(mid)?;
        if ok {
            best = (mid, c);
        } else {
            low = mid;
        }
    }
    Ok(Some(best))
}

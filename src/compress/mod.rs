//! Tracr's compressed residual (superposition with a known truth): the compiled weights stay frozen and
//! one matrix `W` (`[d_model, D]`, `D < d_model`) is trained so that writing `x · W` and reading
//! `r · Wᵀ` keeps the model's behaviour (../shared/docs/methods.md §7, the public recipe).
//!
//! Loss: output cross-entropy against the compiled model's class (categorical) or MSE against its value
//! (numerical), on every non-BOS position, plus the MSE between each half-layer's read-back residual
//! `r · Wᵀ` and the compiled model's residual there. Adam on `W` alone, in **f64** on the CPU, with the
//! gradient derived by hand on ndarray ([`hand`]); candle's autograd of the same loss ([`reference`])
//! checks it and is the baseline of the step-time ratio. `W` starts as the first `D` columns of a seeded random rotation (a projection onto a random
//! `D`-dimensional subspace), which trains faster than the recipe's `normal(0, 0.02)`.

use std::time::Instant;

use ndarray::{Array2, Axis};
use tracr::model::{CompiledModel, ResidualMapKind};
use tracr::value::Value;

use crate::error::{Error, Result};

pub mod hand;
pub mod reference;

pub use hand::Problem;
pub use reference::CandleProblem;

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

/// What one compression gives.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// The compressed model: a plain model with `d_model = D`, its `residual_map` holding `W`.
    pub model: CompiledModel,
    /// Final training loss.
    pub loss: f64,
    /// Wall time of the training, seconds.
    pub seconds: f64,
}

fn candle(error: candle_core::Error) -> Error {
    Error::InvalidOption {
        option: "compression (candle)".into(),
        message: error.to_string(),
    }
}

/// Errors unless `0 < dims < d_model`.
pub fn check_dims(model: &CompiledModel, dims: usize) -> Result<()> {
    let d = model.config.d_model;
    if dims == 0 || dims >= d {
        return Err(Error::InvalidOption {
            option: "--compress".into(),
            message: format!(
                "the compressed width must be between 1 and d_model - 1 = {} for this model (d_model {d}), got {dims}",
                d.saturating_sub(1)
            ),
        });
    }
    Ok(())
}

/// Trains `W` (`[d_model, dims]`) on the `[N, S]` token ids `inputs` (BOS first) and returns the
/// compressed model. The targets are the compiled model's own outputs and residuals.
pub fn compress(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    dims: usize,
    options: &CompressOptions,
) -> Result<Compressed> {
    check_dims(model, dims)?;
    if model.residual_map.is_some() {
        return Err(Error::InvalidOption {
            option: "--compress".into(),
            message:
                "the model's residual is already rotated or compressed; compress the compiled model"
                    .into(),
        });
    }
    let start = Instant::now();
    let (w, loss) = train(model, inputs, dims, options)?;
    let seconds = start.elapsed().as_secs_f64();
    let compressed =
        tracr::transform::map_residual(model, &w, ResidualMapKind::Compression, "compressed");
    Ok(Compressed {
        model: compressed,
        loss,
        seconds,
    })
}

fn train(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    dims: usize,
    options: &CompressOptions,
) -> Result<(Array2<f64>, f64)> {
    let problem = Problem::new(model, inputs, options.residual_weight)
        .with_output_weight(options.output_weight);
    let rotation = tracr::transform::random_rotation(model.config.d_model, options.seed)?;
    let mut w = rotation.slice(ndarray::s![.., ..dims]).to_owned();
    let mut adam = Adam::new(w.raw_dim());
    let mut last = f64::NAN;
    for step in 0..options.steps {
        let (loss, gradient, agrees) = problem.evaluate(&w);
        last = loss;
        if options.early_stop && step % CHECK_EVERY == 0 && agrees {
            break;
        }
        // Cosine from learning_rate (step 0) to final_learning_rate (last step).
        let progress = step as f64 / (options.steps.max(2) - 1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let rate = options.final_learning_rate
            + (options.learning_rate - options.final_learning_rate) * cosine;
        adam.step(&mut w, &gradient, rate);
    }
    Ok((w, last))
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

/// Seconds per compression step (loss and gradient at one `W`) of the candle autograd baseline and of
/// the hand-derived gradient, timed in one process on the same problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTiming {
    /// Steps timed per implementation.
    pub steps: usize,
    /// Wall seconds per step, candle autograd (f64).
    pub candle_wall: f64,
    /// Wall seconds per step, hand gradient (ndarray, f64).
    pub ndarray_wall: f64,
    /// Process CPU seconds per step (all threads), candle; `None` where /proc/self/stat is unreadable.
    pub candle_cpu: Option<f64>,
    /// Process CPU seconds per step, hand gradient.
    pub ndarray_cpu: Option<f64>,
}

/// This process's user + system CPU time in seconds, from /proc/self/stat (Linux; clock ticks of
/// USER_HZ = 100, fixed by the Linux ABI), or `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Times `steps` loss-and-gradient evaluations of each implementation at `W` = the training's initial
/// projection to `dims`.
pub fn time_steps(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    dims: usize,
    steps: usize,
    options: &CompressOptions,
) -> Result<StepTiming> {
    check_dims(model, dims)?;
    let rotation = tracr::transform::random_rotation(model.config.d_model, options.seed)?;
    let w = rotation.slice(ndarray::s![.., ..dims]).to_owned();
    let steps = steps.max(1);
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<(f64, Option<f64>)> {
        let (cpu0, start) = (process_cpu_seconds(), Instant::now());
        for _ in 0..steps {
            f()?;
        }
        let wall = start.elapsed().as_secs_f64() / steps as f64;
        let cpu = process_cpu_seconds()
            .zip(cpu0)
            .map(|(b, a)| (b - a) / steps as f64);
        Ok((wall, cpu))
    };
    let reference = CandleProblem::new(model, inputs, options.residual_weight)?;
    let (candle_wall, candle_cpu) = time(&mut || reference.loss_and_gradient(&w).map(|_| ()))?;
    let hand = Problem::new(model, inputs, options.residual_weight);
    let (ndarray_wall, ndarray_cpu) = time(&mut || {
        hand.loss_and_gradient(&w);
        Ok(())
    })?;
    Ok(StepTiming {
        steps,
        candle_wall,
        ndarray_wall,
        candle_cpu,
        ndarray_cpu,
    })
}

/// Decoded accuracy: the fraction of `inputs` (`[N, S]` ids, BOS first) whose every non-BOS position
/// `model` decodes to `expected` (a RASP evaluation or another model's decoding; `None` positions of
/// `expected` are skipped). Numbers match by [`numbers_match`].
pub fn decoded_accuracy(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    expected: &[Vec<Value>],
) -> Result<f64> {
    let by_id: Vec<Value> = {
        let mut v = vec![Value::None; model.input_encoding.map.len()];
        for (value, id) in &model.input_encoding.map {
            v[*id] = value.clone();
        }
        v
    };
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

/// Whether a decoded number `got` matches `want` within [`NUMERIC_ATOL`] and [`NUMERIC_RTOL`].
pub fn numbers_match(got: f64, want: f64) -> bool {
    (got - want).abs() <= NUMERIC_ATOL + NUMERIC_RTOL * want.abs()
}

/// The smallest `D` in `1..d_model` whose compression decodes every input as `expected` within the
/// budget `options`, by bisection (assuming, as the search's premise, that a wider residual does no
/// worse). Returns the compression at that `D`, or `None` when even `d_model - 1` does not reach 100 %.
pub fn smallest_exact_compression(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    expected: &[Vec<Value>],
    options: &CompressOptions,
    on_try: &mut dyn FnMut(usize, f64, f64),
) -> Result<Option<(usize, Compressed)>> {
    let d = model.config.d_model;
    if d < 2 {
        return Ok(None);
    }
    let mut attempt = |dims: usize| -> Result<(bool, Compressed)> {
        let c = compress(model, inputs, dims, options)?;
        let accuracy = decoded_accuracy(&c.model, inputs, expected)?;
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

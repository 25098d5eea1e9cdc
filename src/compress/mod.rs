//! Tracr's compressed residual (superposition with a known truth). The training, its hand-derived
//! gradient and the search for the smallest width live in the tracr crate
//! ([`tracr::transform::compress`], behind `tracr compile --compress`) and are re-exported here; this
//! module adds candle's autograd of the same loss ([`reference`]), which checks the hand gradient and
//! is the baseline of the step-time ratio `edgeprune compress --time-steps` reports.

use std::time::Instant;

use ndarray::Array2;
use tracr::model::CompiledModel;

use crate::error::{Error, Result};

pub mod reference;

pub use reference::CandleProblem;
pub use tracr::transform::compress::{
    check_dims, compress, decoded_accuracy, decodings, numbers_match, smallest_exact_compression,
    CompressOptions, Compressed, Problem, CHECK_EVERY, NUMERIC_ATOL, NUMERIC_RTOL,
};

fn candle(error: candle_core::Error) -> Error {
    Error::InvalidOption {
        option: "compression (candle)".into(),
        message: error.to_string(),
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

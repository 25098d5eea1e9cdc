//! The hard-concrete (stretched, clamped concrete) distribution of Louizos et al., as Edge Pruning's `l0.py` uses it.
//!
//! Every mask entry has a trainable `log_alpha`. Training draws `z = clamp(1.2·σ((logit(u) + log_alpha)/β) − 0.1, 0, 1)`
//! with one `u` per entry; evaluation uses a deterministic mask derived from the log-alphas alone.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// Left end of the stretched interval (`l`).
pub const LIMIT_LEFT: f64 = -0.1;
/// Right end of the stretched interval (`r`).
pub const LIMIT_RIGHT: f64 = 1.1;
/// Concrete temperature `β = 2/3`.
pub const TEMPERATURE: f64 = 2.0 / 3.0;
/// Noise is drawn from `U(EPS, 1 − EPS)` and `P(z = 0)` is clamped to `[EPS, 1 − EPS]`.
pub const EPS: f64 = 1e-6;
/// Scale of the log-alpha inside the deterministic (soft) mask `σ(log_alpha / β · FACTOR)`.
pub const FACTOR: f64 = 0.8;
/// Mean of the normal every log-alpha is initialised from.
pub const INIT_MEAN: f64 = 10.0;
/// Standard deviation of the normal every log-alpha is initialised from.
pub const INIT_STD: f64 = 0.01;
/// Threshold Edge Pruning applies to the deterministic mask of Tracr models (`set_*_threshold_for_deterministic`).
pub const EVAL_THRESHOLD: f64 = 0.005;

/// The floating-point types the mask formulas are evaluated in (f64 for the reference path, f32 to match torch's).
pub trait MaskFloat:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Converts (rounding) from f64.
    fn from_f64(value: f64) -> Self;
    /// Widens to f64.
    fn to_f64(self) -> f64;
    /// Natural exponential.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
}

impl MaskFloat for f64 {
    fn from_f64(value: f64) -> Self {
        value
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
}

impl MaskFloat for f32 {
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn ln(self) -> Self {
        f32::ln(self)
    }
}

/// Logistic sigmoid, written as torch writes it: `1 / (1 + e^{−x})`.
pub fn sigmoid<F: MaskFloat>(x: F) -> F {
    let one = F::from_f64(1.0);
    one / (one + (-x).exp())
}

/// One sampled mask entry and its derivative with respect to its log-alpha.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskSample<F> {
    /// The stretched sample before clamping, `1.2·s − 0.1`.
    pub unclamped: F,
    /// The mask value `clamp(unclamped, 0, 1)`.
    pub z: F,
    /// `dz / d log_alpha`: `1.2·s(1 − s)/β` inside (0, 1), and 0 where the clamp is active (torch's hardtanh backward).
    pub dz_dlog_alpha: F,
}

/// Samples `z` from `log_alpha` and a uniform draw `u ∈ (0, 1)` (Edge Pruning's `sample_z_from_u` then `hardtanh`).
pub fn sample<F: MaskFloat>(log_alpha: F, u: F) -> MaskSample<F> {
    let one = F::from_f64(1.0);
    let temperature = F::from_f64(TEMPERATURE);
    let s = sigmoid((u.ln() - (one - u).ln() + log_alpha) / temperature);
    let stretch = F::from_f64(LIMIT_RIGHT - LIMIT_LEFT);
    let unclamped = stretch * s + F::from_f64(LIMIT_LEFT);
    let zero = F::from_f64(0.0);
    // hardtanh passes the gradient only strictly inside (min, max).
    let (z, dz_dlog_alpha) = if unclamped <= zero {
        (zero, zero)
    } else if unclamped >= one {
        (one, zero)
    } else {
        (unclamped, stretch * s * (one - s) / temperature)
    };
    MaskSample {
        unclamped,
        z,
        dz_dlog_alpha,
    }
}

/// `P(z = 0) = clamp(σ(β·logit(1/12) − log_alpha), EPS, 1 − EPS)` (Edge Pruning's `cdf_stretched_concrete(0, ·)`).
pub fn prob_zero<F: MaskFloat>(log_alpha: F) -> F {
    let x01 = (0.0 - LIMIT_LEFT) / (LIMIT_RIGHT - LIMIT_LEFT);
    let shift = TEMPERATURE * (x01.ln() - (1.0 - x01).ln());
    let p = sigmoid(F::from_f64(shift) - log_alpha);
    let low = F::from_f64(EPS);
    let high = F::from_f64(1.0 - EPS);
    if p < low {
        low
    } else if p > high {
        high
    } else {
        p
    }
}

/// The soft eval mask `σ(log_alpha / β · FACTOR)` (= `σ(1.2·log_alpha)`).
pub fn soft_mask<F: MaskFloat>(log_alpha: F) -> F {
    sigmoid(log_alpha / F::from_f64(TEMPERATURE) * F::from_f64(FACTOR))
}

/// How many entries of one parameter tensor the deterministic mask zeroes: `round(numel − Σ(1 − P(z=0)))`, half to even.
pub fn num_zeros<F: MaskFloat>(log_alphas: &[F]) -> usize {
    let one = F::from_f64(1.0);
    let mut expected_nonzeros = F::from_f64(0.0);
    for &log_alpha in log_alphas {
        expected_nonzeros = expected_nonzeros + (one - prob_zero(log_alpha));
    }
    let expected_zeros = F::from_f64(log_alphas.len() as f64) - expected_nonzeros;
    let rounded = expected_zeros.to_f64().round_ties_even();
    if rounded <= 0.0 {
        0
    } else {
        (rounded as usize).min(log_alphas.len())
    }
}

/// Edge Pruning's deterministic mask of one parameter tensor (flattened): the soft mask with the
/// [`num_zeros`] smallest entries set to 0. Ties are broken by position, the earliest first.
pub fn deterministic_mask<F: MaskFloat>(log_alphas: &[F]) -> Vec<F> {
    let mut mask: Vec<F> = log_alphas.iter().map(|&la| soft_mask(la)).collect();
    let zeros = num_zeros(log_alphas);
    if zeros > 0 {
        let mut order: Vec<usize> = (0..mask.len()).collect();
        // A NaN log-alpha compares as equal here; the trainer rejects non-finite values before this.
        order.sort_by(|&a, &b| {
            mask[a]
                .partial_cmp(&mask[b])
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        for &index in &order[..zeros] {
            mask[index] = F::from_f64(0.0);
        }
    }
    mask
}

/// The binary eval mask Edge Pruning's Tracr runs use: deterministic mask `> threshold`.
pub fn thresholded_mask<F: MaskFloat>(log_alphas: &[F], threshold: f64) -> Vec<bool> {
    let threshold = F::from_f64(threshold);
    deterministic_mask(log_alphas)
        .into_iter()
        .map(|value| value > threshold)
        .collect()
}

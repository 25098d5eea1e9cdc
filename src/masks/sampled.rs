//! One training step's hard-concrete draw for a whole family of masks, and the chain rule back to log-alphas.

use crate::error::{Error, Result};
use crate::masks::hard_concrete::sample;

/// Sampled masks `z` and their slopes `dz/d log_alpha` (0 where clamped).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampledMasks {
    /// Mask values in [0, 1].
    pub z: Vec<f64>,
    /// `dz / d log_alpha`, entry by entry.
    pub dz_dlog_alpha: Vec<f64>,
}

impl SampledMasks {
    /// Draws `z` from each log-alpha and its uniform noise; `what` names the family in errors.
    pub fn draw(log_alpha: &[f64], uniform: &[f64], what: &str) -> Result<Self> {
        if log_alpha.len() != uniform.len() {
            return Err(Error::Shape {
                what: format!("{what} noise"),
                expected: log_alpha.len().to_string(),
                got: uniform.len().to_string(),
            });
        }
        if let Some(bad) = log_alpha.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("{what} log-alpha {bad}"),
            });
        }
        let (z, dz_dlog_alpha) = log_alpha
            .iter()
            .zip(uniform)
            .map(|(&la, &u)| {
                let s = sample(la, u);
                (s.z, s.dz_dlog_alpha)
            })
            .unzip();
        Ok(Self { z, dz_dlog_alpha })
    }

    /// `d loss / d log_alpha` from `d loss / d z`.
    pub fn chain(&self, grad_z: &[f64]) -> Vec<f64> {
        grad_z
            .iter()
            .zip(&self.dz_dlog_alpha)
            .map(|(g, d)| g * d)
            .collect()
    }
}

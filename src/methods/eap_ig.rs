//! EAP-IG: EAP with the gradient averaged along a path from the ablated to the clean model
//! (integrated gradients, m steps; MIB's default m = 5).
//!
//! - **Inputs variant** (EAP-IG's `get_scores_eap_ig`, the one MIB recommends): the token embedding is
//!   interpolated, `x_k = X̃_tok + (k/m)(e − X̃_tok)`, the reader-input gradients `∂m/∂in_r` of the m runs are
//!   averaged and dotted with the clean run's `Δ_w = X_w − X̃_w`. The positional embedding is not
//!   interpolated (EAP-IG's input node is `hook_embed` alone). Unlike EAP-IG's code, which takes
//!   k = 0..m−1 (α = 0 in, α = 1 out), we take k = 1..m, so that m = 1 is exactly EAP; the two sums differ by
//!   the end points' gradients over m. X̃_tok is the chosen ablation's (zero, interchange or mean), where
//!   EAP-IG allows only interchange.
//! - **Mask variant** (auto-circuit's "integrated edge gradients" with EAP-IG's step convention): every
//!   edge mask at k/m, k = 1..m, and `∂m/∂z` averaged; each run uses its own Δ.
//!
//! Both rank edges by |score| and are scored, divided by N and signed as [`super::eap`] explains.

use crate::error::Result;
use crate::methods::eap::{run_attribution, Attribution, DEFAULT_BATCH_SIZE};
use crate::methods::{CircuitMethod, MethodInput, MethodOutput};

/// MIB's default number of interpolation steps (`--ig-steps`).
pub const DEFAULT_STEPS: usize = 5;

/// EAP-IG in one of its two variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EapIg {
    attribution: Attribution,
    /// Examples per masked forward.
    pub batch_size: usize,
}

impl EapIg {
    /// The inputs variant with `steps` interpolation steps; 0 steps is a typed error.
    pub fn inputs(steps: usize) -> Result<Self> {
        Self::with(Attribution::IgInputs { steps })
    }

    /// The mask variant with `steps` interpolation steps; 0 steps is a typed error.
    pub fn masks(steps: usize) -> Result<Self> {
        Self::with(Attribution::IgMasks { steps })
    }

    fn with(attribution: Attribution) -> Result<Self> {
        Ok(Self {
            attribution: attribution.validate()?,
            batch_size: DEFAULT_BATCH_SIZE,
        })
    }

    /// Which variant and how many steps.
    pub fn attribution(&self) -> Attribution {
        self.attribution
    }
}

impl CircuitMethod for EapIg {
    fn name(&self) -> &'static str {
        match self.attribution {
            Attribution::IgMasks { .. } => "eap-ig-masks",
            _ => "eap-ig",
        }
    }

    fn run(&self, input: &MethodInput<'_>) -> Result<MethodOutput> {
        run_attribution(input, self.attribution, self.batch_size)
    }
}

//! AdamW exactly as `torch.optim.AdamW` (single-tensor path): decoupled weight decay, bias correction, `maximize`.

/// AdamW hyper-parameters other than the learning rate (which the schedule supplies every step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Decay rate of the first moment.
    pub beta1: f64,
    /// Decay rate of the second moment.
    pub beta2: f64,
    /// Added to the bias-corrected root second moment.
    pub eps: f64,
    /// Decoupled weight decay: each step multiplies parameters by `1 − lr·weight_decay`.
    pub weight_decay: f64,
    /// Ascend instead of descend (Edge Pruning's Lagrange multipliers).
    pub maximize: bool,
}

impl AdamWConfig {
    /// torch's defaults with the weight decay 0.01 Edge Pruning's Trainer passes (which equals torch's own default).
    pub fn edge_pruning(maximize: bool) -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            maximize,
        }
    }
}

/// The optimiser state of one group of parameters that always step together.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW {
    /// Hyper-parameters.
    pub config: AdamWConfig,
    /// Number of steps taken (torch's per-parameter `step`, equal for the whole group).
    pub steps: u64,
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
}

impl AdamW {
    /// Fresh state (zero moments) for `len` parameters.
    pub fn new(len: usize, config: AdamWConfig) -> Self {
        Self {
            config,
            steps: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
        }
    }

    /// One update of `params` with gradients `grads` at learning rate `lr` (torch's `_single_tensor_adamw`).
    pub fn step(&mut self, params: &mut [f64], grads: &[f64], lr: f64) {
        assert_eq!(params.len(), self.exp_avg.len(), "AdamW parameter count");
        assert_eq!(grads.len(), self.exp_avg.len(), "AdamW gradient count");
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
            maximize,
        } = self.config;
        self.steps += 1;
        let step = self.steps as f64;
        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2_sqrt = (1.0 - beta2.powf(step)).sqrt();
        let step_size = lr / bias_correction1;
        for (((param, &raw_grad), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.exp_avg)
            .zip(&mut self.exp_avg_sq)
        {
            let grad = if maximize { -raw_grad } else { raw_grad };
            *param *= 1.0 - lr * weight_decay;
            // torch: exp_avg.lerp_(grad, 1 − β1), i.e. m + (1 − β1)(g − m).
            *m += (grad - *m) * (1.0 - beta1);
            *v = *v * beta2 + (1.0 - beta2) * grad * grad;
            let denom = v.sqrt() / bias_correction2_sqrt + eps;
            *param -= step_size * *m / denom;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_against_gradient_sign_after_decay() {
        // Step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g², update = lr·g/(|g| + eps).
        let mut opt = AdamW::new(1, AdamWConfig::edge_pruning(false));
        let mut p = [2.0];
        opt.step(&mut p, &[0.5], 0.1);
        let want = 2.0 * (1.0 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8);
        // Same formula, different operation order: a few ulps.
        assert!((p[0] - want).abs() < 1e-14, "got {} want {want}", p[0]);
    }

    #[test]
    fn maximize_ascends() {
        let mut opt = AdamW::new(1, AdamWConfig::edge_pruning(true));
        let mut p = [0.0];
        opt.step(&mut p, &[0.25], 0.01);
        let want = 0.01 * 0.25 / (0.25 + 1e-8);
        assert!((p[0] - want).abs() < 1e-16, "got {} want {want}", p[0]);
    }

    #[test]
    fn second_step_matches_hand_computed_moments() {
        // g1 = 1, g2 = -2, lr 0.5 both steps, p0 = 1, wd 0.01.
        // After step 1: p1 = 1·(1 − 0.005) − 0.5·1/(1 + 1e-8).
        // Step 2: m = 0.9·0.1 + 0.1·(−2) = −0.11; v = 0.999·0.001 + 0.001·4 = 0.004999;
        // bc1 = 1 − 0.81 = 0.19; bc2 = 1 − 0.998001 = 0.001999;
        // p2 = p1·0.995 − (0.5/0.19)·(−0.11)/(sqrt(0.004999)/sqrt(0.001999) + 1e-8).
        let mut opt = AdamW::new(1, AdamWConfig::edge_pruning(false));
        let mut p = [1.0];
        opt.step(&mut p, &[1.0], 0.5);
        opt.step(&mut p, &[-2.0], 0.5);
        let p1 = 0.995 - 0.5 / (1.0 + 1e-8);
        let want =
            p1 * 0.995 + (0.5 / 0.19) * 0.11 / ((0.004999f64).sqrt() / (0.001999f64).sqrt() + 1e-8);
        // Hand formula in a different operation order; moments rounded differently by ~1e-16 relative.
        assert!((p[0] - want).abs() < 1e-12, "got {} want {want}", p[0]);
    }

    #[test]
    fn zero_gradient_only_decays() {
        // Padded log-alphas: m = v = 0, so the Adam term is 0/(0 + eps) = 0 and only decay acts.
        let mut opt = AdamW::new(2, AdamWConfig::edge_pruning(false));
        let mut p = [10.0, -3.0];
        opt.step(&mut p, &[0.0, 0.0], 1.0);
        opt.step(&mut p, &[0.0, 0.0], 0.5);
        let want = [10.0 * 0.99 * 0.995, -3.0 * 0.99 * 0.995];
        assert_eq!(p, want, "got {p:?} want {want:?}");
    }

    #[test]
    fn zero_learning_rate_updates_moments_but_not_parameters() {
        // HF's schedule gives LR 0 at step 0: the parameters stay, the moments (and step count) advance.
        let mut opt = AdamW::new(1, AdamWConfig::edge_pruning(false));
        let mut p = [3.0];
        opt.step(&mut p, &[2.0], 0.0);
        assert_eq!(p[0], 3.0);
        // Step 2 with g = 2 again: m = 0.19·2 = 0.38, bc1 = 0.19, m̂ = 2; v = (0.999·0.001 + 0.001)·4 = 0.007996,
        // bc2 = 0.001999, v̂ = 4: update = lr·2/(2 + eps).
        opt.step(&mut p, &[2.0], 0.1);
        let want = 3.0 * (1.0 - 0.001) - 0.1 * 2.0 / (2.0 + 1e-8);
        assert!((p[0] - want).abs() < 1e-13, "got {} want {want}", p[0]);
    }
}

//! Learning-rate and sparsity-target schedules, as HF's Trainer and Edge Pruning's `ErazrTrainer` step them.

/// HF `get_linear_schedule_with_warmup`: the LR multiplier at optimizer step `step` (0-based).
///
/// `step / warmup` while `step < warmup` (so the first step has LR 0), then linear decay to 0 at `total`.
pub fn linear_warmup_decay(step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let remaining = total as f64 - step as f64;
    (remaining / (total.saturating_sub(warmup)).max(1) as f64).max(0.0)
}

/// Edge Pruning's linear sparsity-target warm-up from 0: `target · step / warmup` before `warmup`, then `target`.
///
/// `step` is HF's `global_step`, the number of optimizer steps already taken.
pub fn sparsity_target(step: usize, target: f64, warmup: usize) -> f64 {
    if step < warmup {
        target * step as f64 / warmup as f64
    } else {
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_is_zero_at_step_zero_and_peaks_at_warmup() {
        assert_eq!(linear_warmup_decay(0, 1500, 6000), 0.0);
        assert_eq!(linear_warmup_decay(750, 1500, 6000), 0.5);
        assert_eq!(linear_warmup_decay(1500, 1500, 6000), 1.0);
    }

    #[test]
    fn lr_decays_linearly_to_zero_at_total() {
        // (6000 − 3750) / 4500 = 0.5; (720 − 719)/624.
        assert_eq!(linear_warmup_decay(3750, 1500, 6000), 0.5);
        assert_eq!(linear_warmup_decay(6000, 1500, 6000), 0.0);
        assert_eq!(linear_warmup_decay(7000, 1500, 6000), 0.0);
        assert_eq!(linear_warmup_decay(719, 96, 720), 1.0 / 624.0);
    }

    #[test]
    fn no_warmup_starts_at_full_lr() {
        assert_eq!(linear_warmup_decay(0, 0, 10), 1.0);
        assert_eq!(linear_warmup_decay(5, 0, 10), 0.5);
    }

    #[test]
    fn sparsity_target_ramps_then_holds() {
        assert_eq!(sparsity_target(0, 1.02, 5900), 0.0);
        assert_eq!(sparsity_target(2950, 1.02, 5900), 0.51);
        assert_eq!(sparsity_target(5900, 1.02, 5900), 1.02);
        assert_eq!(sparsity_target(5999, 1.02, 5900), 1.02);
        assert_eq!(sparsity_target(320, 0.4, 640), 0.2);
    }

    #[test]
    fn zero_sparsity_warmup_gives_target_immediately() {
        assert_eq!(sparsity_target(0, 0.9, 0), 0.9);
    }
}

//! Global gradient-norm clipping as `torch.nn.utils.clip_grad_norm_` (HF's `max_grad_norm`).

/// Scales every gradient by `min(1, max_norm / (‖g‖ + 1e-6))` where `‖g‖` is the 2-norm over all of them.
///
/// Returns the norm before clipping. HF clips every trainable parameter that has a gradient: here the
/// log-alphas (padding included, whose gradient is 0) and the multipliers that are in the loss.
pub fn clip_global_norm(groups: &mut [&mut [f64]], max_norm: f64) -> f64 {
    let total_norm = groups
        .iter()
        .flat_map(|group| group.iter())
        .map(|g| g * g)
        .sum::<f64>()
        .sqrt();
    let coefficient = (max_norm / (total_norm + 1e-6)).min(1.0);
    if coefficient < 1.0 {
        for group in groups.iter_mut() {
            for g in group.iter_mut() {
                *g *= coefficient;
            }
        }
    }
    total_norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_gradients_are_scaled_to_norm_one() {
        // ‖(3, 4, 12)‖ = 13; coefficient 1/(13 + 1e-6).
        let mut a = [3.0, 4.0];
        let mut b = [12.0];
        let norm = clip_global_norm(&mut [&mut a, &mut b], 1.0);
        assert_eq!(norm, 13.0);
        let c = 1.0 / (13.0 + 1e-6);
        assert_eq!(a, [3.0 * c, 4.0 * c]);
        assert_eq!(b, [12.0 * c]);
    }

    #[test]
    fn small_gradients_are_untouched() {
        let mut a = [0.3, 0.4];
        let norm = clip_global_norm(&mut [&mut a], 1.0);
        assert!((norm - 0.5).abs() < 1e-16, "norm {norm}");
        assert_eq!(a, [0.3, 0.4]);
    }
}

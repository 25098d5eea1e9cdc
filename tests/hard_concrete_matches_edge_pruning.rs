//! The hard-concrete sampler, P(z=0) and deterministic mask agree with Edge Pruning's `l0.py` on its fixture.

use edgeprune::masks::hard_concrete::{
    deterministic_mask, num_zeros, prob_zero, sample, thresholded_mask, MaskFloat, EVAL_THRESHOLD,
};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/edge-pruning/ep_hard_concrete.json"
    );
    let text = std::fs::read_to_string(path).expect("read ep_hard_concrete.json");
    serde_json::from_str(&text).expect("parse ep_hard_concrete.json")
}

fn num(value: &Value) -> f64 {
    value.as_f64().expect("number")
}

fn flat(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![num(other)],
    }
}

/// f64: torch's f64 kernels and ours evaluate the same formula; a few ulps of libm difference remain.
const F64_REL: f64 = 1e-12;
/// f32: their values are rounded to 9 digits and torch's f32 sigmoid/log may differ from ours by a few ulps
/// (2^-23 ≈ 1.2e-7), amplified ~10x near the stretch offsets.
const F32_REL: f64 = 2e-6;

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-3) + 1e-15
}

fn check_sample_grid<F: MaskFloat>(entries: &Value, rel: f64) {
    let entries = entries.as_array().expect("grid");
    assert_eq!(entries.len(), 30, "6 log-alphas x 5 u");
    for entry in entries {
        let (la, u) = (num(&entry["log_alpha"]), num(&entry["u"]));
        let s = sample(F::from_f64(la), F::from_f64(u));
        let want_unclamped = num(&entry["z_unclamped"]);
        let want_z = num(&entry["z"]);
        assert!(
            close(s.unclamped.to_f64(), want_unclamped, rel),
            "z_unclamped at log_alpha {la}, u {u}: got {} want {want_unclamped}",
            s.unclamped.to_f64()
        );
        assert!(
            close(s.z.to_f64(), want_z, rel),
            "z at log_alpha {la}, u {u}: got {} want {want_z}",
            s.z.to_f64()
        );
    }
}

#[test]
fn sample_matches_grid_in_f64() {
    check_sample_grid::<f64>(&fixture()["sample_grid_float64"], F64_REL);
}

#[test]
fn sample_matches_grid_in_f32() {
    check_sample_grid::<f32>(&fixture()["sample_grid_float32"], F32_REL);
}

fn check_prob_zero<F: MaskFloat>(entries: &Value, rel: f64) {
    let entries = entries.as_array().expect("prob_zero");
    assert_eq!(entries.len(), 6);
    for entry in entries {
        let la = num(&entry["log_alpha"]);
        let want = num(&entry["p_zero"]);
        let got = prob_zero(F::from_f64(la)).to_f64();
        assert!(
            (got - want).abs() <= rel * want.abs(),
            "P(z=0) at log_alpha {la}: got {got} want {want}"
        );
    }
}

#[test]
fn prob_zero_matches_in_f64() {
    check_prob_zero::<f64>(&fixture()["prob_zero_float64"], F64_REL);
}

#[test]
fn prob_zero_matches_in_f32() {
    check_prob_zero::<f32>(&fixture()["prob_zero_float32"], F32_REL);
}

fn check_deterministic<F: MaskFloat>(entries: &Value, rel: f64) {
    let entries = entries.as_array().expect("deterministic");
    assert_eq!(entries.len(), 8);
    for entry in entries {
        let log_alphas: Vec<F> = flat(&entry["log_alpha"])
            .into_iter()
            .map(F::from_f64)
            .collect();
        let shown: Vec<f64> = log_alphas.iter().map(|x| x.to_f64()).collect();
        let want_zeros = entry["num_zeros"].as_u64().expect("num_zeros") as usize;
        assert_eq!(num_zeros(&log_alphas), want_zeros, "num_zeros of {shown:?}");
        let got = deterministic_mask(&log_alphas);
        let want = flat(&entry["deterministic_z"]);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                close(g.to_f64(), *w, rel),
                "deterministic mask entry {i} of {shown:?}: got {} want {w}",
                g.to_f64()
            );
        }
        let got_binary = thresholded_mask(&log_alphas, EVAL_THRESHOLD);
        let want_binary: Vec<bool> = flat(&entry["get_mask_eval_threshold_0.005"])
            .into_iter()
            .map(|x| x == 1.0)
            .collect();
        assert_eq!(got_binary, want_binary, "threshold-0.005 mask of {shown:?}");
    }
}

#[test]
fn deterministic_mask_matches_in_f64() {
    check_deterministic::<f64>(&fixture()["deterministic_float64"], F64_REL);
}

#[test]
fn deterministic_mask_matches_in_f32() {
    check_deterministic::<f32>(&fixture()["deterministic_float32"], F32_REL);
}

#[test]
fn derivative_matches_central_differences_inside_and_is_zero_when_clamped() {
    let fixture = fixture();
    for entry in fixture["sample_grid_float64"].as_array().expect("grid") {
        let (la, u) = (num(&entry["log_alpha"]), num(&entry["u"]));
        let got = sample(la, u).dz_dlog_alpha;
        let z = num(&entry["z_unclamped"]);
        if !(0.0..=1.0).contains(&z) {
            assert_eq!(
                got, 0.0,
                "clamped at log_alpha {la}, u {u} (z {z}) must have zero slope"
            );
            continue;
        }
        let h = 1e-5;
        let numeric = (sample(la + h, u).unclamped - sample(la - h, u).unclamped) / (2.0 * h);
        // Central difference error O(h² z''') ≈ 1e-10, round-off ≈ 1e-16/h ≈ 1e-11.
        assert!(
            (got - numeric).abs() <= 1e-8 * numeric.abs().max(1e-3),
            "dz/dlog_alpha at log_alpha {la}, u {u}: got {got}, central difference {numeric}"
        );
    }
}

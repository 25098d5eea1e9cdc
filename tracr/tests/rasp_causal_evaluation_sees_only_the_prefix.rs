//! Causal evaluation at position i depends only on the prefix up to i, and Tracr's "universal"
//! programs (frac_prevs, shift_by, detect_pattern) give the same values causally and plainly.
//! Case count: proptest's `PROPTEST_CASES` (default 64 here to keep the suite fast).

use proptest::prelude::*;
use tracr::library::{detect_pattern_str, make_frac_prevs, make_hist, make_length, shift_by};
use tracr::rasp::{evaluate, tokens, SOp};
use tracr::value::Value;

fn programs() -> Vec<(&'static str, SOp)> {
    vec![
        ("frac_prevs", make_frac_prevs(&tokens().eq_value("a"))),
        ("shift_by_2", shift_by(2, &tokens())),
        (
            "detect_pattern_ab",
            detect_pattern_str(&tokens(), "ab").unwrap(),
        ),
        ("length", make_length()),
        ("hist", make_hist()),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    ProptestConfig::with_cases(cases)
}

fn token_lists() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..8)
        .prop_map(|xs| xs.into_iter().map(Value::from).collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn causal_value_at_i_is_the_value_of_the_prefix(xs in token_lists()) {
        for (name, program) in programs() {
            let causal = evaluate(&program, &xs, true).unwrap();
            for i in 0..xs.len() {
                let prefix = evaluate(&program, &xs[..=i], false).unwrap();
                prop_assert_eq!(&causal[i], &prefix[i], "{} at {} on {:?}", name, i, xs);
            }
        }
    }

    #[test]
    fn universal_programs_agree_causally_and_plainly(xs in token_lists()) {
        for (name, program) in &programs()[..3] {
            let causal = evaluate(program, &xs, true).unwrap();
            let plain = evaluate(program, &xs, false).unwrap();
            prop_assert_eq!(&causal, &plain, "{} on {:?}", name, xs);
        }
    }
}

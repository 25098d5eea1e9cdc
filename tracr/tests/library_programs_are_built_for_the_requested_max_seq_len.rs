//! Library programs take the requested max_seq_len as Tracr's `lib.py` does: `make_sort` and
//! `make_sort_freq` bake it into the key-uniquifying term `key + min_key * i / max_seq_len`, so
//! `sort` built for 5 mis-sorts 7 tokens, and `--max-seq-len 7` must build it for 7. Every library
//! program built for a longer length still matches Tracr's fixtures (generated at 5).

mod cli_support;
mod rasp_support;

use cli_support::{assert_fails_with, scratch_dir, stderr, stdout, tracr};
use rasp_support::fixtures::{load, to_values};
use tracr::library::{by_name, by_name_for, names};
use tracr::rasp::Evaluator;
use tracr::value::Value;

/// `make_sort(tokens, tokens, max_seq_len=n, min_key=1)` for integer tokens: the keys
/// `x + i/n` are distinct and ordered by (x, i) for i < n, so the result is the stable sort.
fn sort_oracle(xs: &[i64]) -> Vec<Value> {
    let mut sorted = xs.to_vec();
    sorted.sort(); // stable, and equal ints are indistinguishable anyway
    sorted.into_iter().map(Value::Int).collect()
}

/// `make_sort_freq(n)`: keys `-count(x_i) + i/n`, so tokens by descending count, then position.
fn sort_freq_oracle(xs: &[i64]) -> Vec<Value> {
    let count = |x: i64| xs.iter().filter(|&&y| y == x).count();
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(count(xs[i])), i));
    order.into_iter().map(|i| Value::Int(xs[i])).collect()
}

/// Deterministic pseudo-random inputs over 1..=4 (an LCG: no seed file, the same every run).
fn inputs(length: usize, count: usize) -> Vec<Vec<i64>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ length as u64;
    (0..count)
        .map(|_| {
            (0..length)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    (state >> 33) as i64 % 4 + 1
                })
                .collect()
        })
        .collect()
}

#[test]
fn sort_and_sort_freq_built_for_n_sort_inputs_of_length_n() {
    type Oracle = fn(&[i64]) -> Vec<Value>;
    let cases: [(&str, Oracle); 2] = [("sort", sort_oracle), ("sort_freq", sort_freq_oracle)];
    for (name, oracle) in cases {
        for n in 6..=8 {
            let program = by_name_for(name, n).unwrap();
            assert_eq!(program.max_seq_len, n, "{name}");
            for xs in inputs(n, 200) {
                let values: Vec<Value> = xs.iter().map(|&x| Value::Int(x)).collect();
                let got = Evaluator::new(false)
                    .evaluate(&program.program, &values)
                    .unwrap();
                assert_eq!(got, oracle(&xs), "{name} built for {n} on {xs:?}");
            }
        }
    }
    // The input: built for 5, the keys of positions 0 and 5 collide.
    let xs = [2, 1, 1, 1, 1, 1, 1];
    let values: Vec<Value> = xs.iter().map(|&x| Value::Int(x)).collect();
    let at_5 = Evaluator::new(false)
        .evaluate(&by_name("sort").unwrap().program, &values)
        .unwrap();
    assert_ne!(
        at_5,
        sort_oracle(&xs),
        "built for 5 the length would not matter"
    );
}

#[test]
fn every_library_program_built_for_a_longer_length_still_matches_tracrs_fixtures() {
    for name in names() {
        let program = by_name_for(name, 8).unwrap();
        let fixture = load(name);
        for input in fixture["inputs"].as_array().unwrap() {
            let xs = to_values(&input["input"]);
            let want = to_values(&input["rasp_output"]);
            let got = Evaluator::new(program.causal)
                .evaluate(&program.program, &xs)
                .unwrap();
            // Numerical means are f64 in both; the fixtures hold Python's floats exactly.
            assert_eq!(got, want, "{name} built for 8 on {xs:?}");
        }
    }
}

#[test]
fn the_cli_builds_library_programs_for_max_seq_len() {
    let dir = scratch_dir("lib-max-seq-len");
    for (name, input, want) in [
        ("sort", "2,1,1,1,1,1,1", "[1, 1, 1, 1, 1, 1, 2]"),
        ("sort_freq", "1,2,2,3,3,3,4", "[3, 3, 3, 2, 2, 1, 4]"),
    ] {
        let eval = tracr(&[
            "eval",
            "--lib",
            name,
            "--input",
            input,
            "--max-seq-len",
            "7",
        ]);
        assert!(eval.status.success(), "{name}: {}", stderr(&eval));
        assert_eq!(
            stdout(&eval).trim(),
            want,
            "eval --lib {name} --max-seq-len 7 on {input}"
        );

        let model = dir.join(format!("{name}.json")).display().to_string();
        let compile = tracr(&["compile", "--lib", name, "--max-seq-len", "7", "-o", &model]);
        assert!(compile.status.success(), "{name}: {}", stderr(&compile));
        let run = tracr(&["run", &model, "--input", input]);
        assert!(run.status.success(), "{name}: {}", stderr(&run));
        let decoded: serde_json::Value = serde_json::from_str(stdout(&run).trim()).unwrap();
        let wanted: serde_json::Value = serde_json::from_str(want).unwrap();
        assert_eq!(
            decoded.as_array().unwrap()[1..],
            wanted.as_array().unwrap()[..],
            "run of {name} compiled for 7 on {input}"
        );

        let too_long = tracr(&["eval", "--lib", name, "--input", input]);
        assert_fails_with(
            &format!("{name} without --max-seq-len"),
            &too_long,
            &["the input has 7 tokens", "at most 5", "--max-seq-len 7"],
        );
    }
}

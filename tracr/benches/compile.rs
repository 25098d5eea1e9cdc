//! Compile time and forward time for every library program: a table, medians of N runs.
//!
//! `cargo bench -p tracr --bench compile` (N from `BENCH_RUNS`, default 21).

use std::time::{Duration, Instant};

use tracr::value::Value;
use tracr::{compile, CompileOptions};

/// What the real Tracr took to compile (ms), for the programs the brief timed.
const TRACR_COMPILE_MS: [(&str, f64); 4] = [
    ("reverse", 55.0),
    ("sort_unique", 30.0),
    ("frac_prevs", 22.0),
    ("shuffle_dyck2", 144.0),
];

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    println!("median of {runs} runs; forward = one input of max_seq_len tokens (BOS added)");
    println!(
        "{:<32} {:>4} {:>6} {:>12} {:>14} {:>14} {:>14} {:>12} {:>9}",
        "program",
        "lay",
        "d",
        "compile ms",
        "forward us",
        "sparse fwd us",
        "Tracr comp ms",
        "--rotate ms",
        "rot/comp"
    );
    for entry in tracr::library::registry() {
        let options = CompileOptions {
            causal: entry.causal,
            ..CompileOptions::default()
        };
        let mut compile_times = Vec::with_capacity(runs);
        let mut model = None;
        for _ in 0..runs {
            let start = Instant::now();
            let compiled = compile(&entry.program, &entry.vocab, entry.max_seq_len, &options)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            compile_times.push(start.elapsed());
            model = Some(compiled);
        }
        let model = model.expect("at least one run");
        let input: Vec<Value> = (0..entry.max_seq_len)
            .map(|i| entry.vocab[i % entry.vocab.len()].clone())
            .collect();
        let mut forward_times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let out = model
                .apply_without_bos(&input)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            forward_times.push(start.elapsed());
            std::hint::black_box(out);
        }
        // The sparse forward is prepared once per model, as a user running many inputs would.
        let sparse = model.sparse();
        let mut tokens = vec![Value::Str(options.bos.clone())];
        tokens.extend(input.iter().cloned());
        let mut sparse_times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let out = sparse
                .apply(&tokens)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            sparse_times.push(start.elapsed());
            std::hint::black_box(out);
        }
        // `tracr compile --rotate`: what the rotation adds to a compile (QR, products, the labels).
        let mut rotate_times = Vec::with_capacity(runs);
        for seed in 0..runs as u64 {
            let start = Instant::now();
            let rotated = tracr::transform::rotate(&model, seed)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            rotate_times.push(start.elapsed());
            std::hint::black_box(rotated);
        }
        let tracr = TRACR_COMPILE_MS
            .iter()
            .find(|(n, _)| *n == entry.name)
            .map_or(String::from("-"), |(_, ms)| format!("{ms:.0}"));
        println!(
            "{:<32} {:>4} {:>6} {:>12.3} {:>14.1} {:>14.1} {:>14} {:>12.3} {:>9.3}",
            entry.name,
            model.config.num_layers,
            model.config.d_model,
            median(compile_times.clone()).as_secs_f64() * 1e3,
            median(forward_times).as_secs_f64() * 1e6,
            median(sparse_times).as_secs_f64() * 1e6,
            tracr,
            median(rotate_times.clone()).as_secs_f64() * 1e3,
            median(rotate_times).as_secs_f64() / median(compile_times.clone()).as_secs_f64()
        );
    }
}

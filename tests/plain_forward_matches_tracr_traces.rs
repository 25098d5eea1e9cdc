//! `Transformer::from_tracr_json` + the plain forward reproduce the real Tracr's residual stream
//! after every half-layer, for every compiled program in `fixtures/tracr` (traced inputs).

mod common;

use ndarray::{s, Array2, Axis};

use common::{flat_numbers, load_fixture};
use edgeprune::model::Transformer;

/// The traces were computed by JAX in float32 (the weights are exact float32 values); compiled
/// MLPs have weights up to ~100, so float32 rounding reaches ~1e-5 of values of order 100.
const REL: f64 = 1e-5;
const ABS: f64 = 1e-4;

#[test]
fn residual_after_every_half_layer_matches_tracr_for_every_program() {
    let dir = format!("{}/fixtures/tracr", env!("CARGO_MANIFEST_DIR"));
    let mut programs = 0;
    let mut compared = 0;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "SUMMARY.json")
        .collect();
    names.sort();
    for name in names {
        let fixture = load_fixture(&format!("tracr/{name}"));
        let model = Transformer::from_tracr_json(&fixture["model"])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let heads = model.num_heads();
        for trace in fixture["traces"].as_array().unwrap() {
            let index = trace["input_index"].as_u64().unwrap() as usize;
            let id_list: Vec<usize> = fixture["inputs"][index]["model_input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            let seq_len = id_list.len();
            let ids = Array2::from_shape_vec((1, seq_len), id_list).unwrap();
            let states = model.writer_states(ids.view()).unwrap();
            let mut residual = &states.slice(s![0, 0, .., ..]) + &states.slice(s![1, 0, .., ..]);
            let mut check = |residual: &Array2<f64>, want: &serde_json::Value, what: &str| {
                let want = flat_numbers(want);
                assert_eq!(
                    want.len(),
                    residual.len(),
                    "{name} input {index} {what}: size"
                );
                for ((position, g), w) in residual.indexed_iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= REL * w.abs() + ABS,
                        "{name} input {index} {what} at {position:?}: ours {g}, Tracr {w}"
                    );
                }
                compared += 1;
            };
            check(&residual, &trace["input_embeddings"], "input embeddings");
            let residuals = trace["residuals"].as_array().unwrap();
            for (layer, pair) in residuals.chunks(2).enumerate() {
                for h in 0..heads {
                    let writer = 2 + layer * (heads + 1) + h;
                    residual += &states.index_axis(Axis(0), writer).index_axis(Axis(0), 0);
                }
                check(&residual, &pair[0], &format!("after layer_{layer}/attn"));
                let writer = 2 + layer * (heads + 1) + heads;
                residual += &states.index_axis(Axis(0), writer).index_axis(Axis(0), 0);
                check(&residual, &pair[1], &format!("after layer_{layer}/mlp"));
            }
        }
        programs += 1;
    }
    assert_eq!(programs, 26, "every Tracr fixture was compared");
    assert!(compared > 26 * 3, "compared {compared} residual states");
}

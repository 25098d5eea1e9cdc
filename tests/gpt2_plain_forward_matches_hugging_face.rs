//! The GPT-2 loader and plain forward reproduce Hugging Face's `GPT2LMHeadModel` logits (float64, eager
//! attention) on both fixture checkpoints, and `edgeprune run` prints the same numbers.

mod common;

use common::{close, flat_numbers, gpt2_dir, ids, load_fixture};
use edgeprune::model::checkpoint;

/// The fixture README's float64 tolerance: both sides are f64 from the same f32 weights and differ only in
/// summation order (their official forward and HF's agree to 3.3e-15).
const REL: f64 = 1e-10;
const ABS: f64 = 1e-12;

fn check(fixture_name: &str, checkpoint_name: &str) {
    let fixture = load_fixture(&format!("edge-pruning-gpt2/{fixture_name}"));
    let model = checkpoint::load(&gpt2_dir(checkpoint_name)).unwrap();
    let dims = &fixture["dims"];
    assert_eq!(
        model.num_layers() as u64,
        dims["num_layers"].as_u64().unwrap()
    );
    assert_eq!(
        model.num_heads() as u64,
        dims["num_heads"].as_u64().unwrap()
    );
    assert_eq!(
        model.vocab_size() as u64,
        dims["vocab_size"].as_u64().unwrap()
    );
    assert_eq!(
        model.layers[0].mlp.w_in.ncols() as u64,
        dims["mlp_hidden_size"].as_u64().unwrap(),
        "{checkpoint_name}: MLP width (n_inner null means 4·d_model)"
    );
    let inputs = ids(&fixture["inputs"]["input_ids"]);
    let got: Vec<f64> = model
        .forward(inputs.view())
        .unwrap()
        .iter()
        .copied()
        .collect();
    let want = flat_numbers(&fixture["hf_logits"]);
    assert_eq!(got.len(), want.len(), "{checkpoint_name}: logits size");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            close(*g, *w, REL, ABS),
            "{checkpoint_name}: logits[{i}] = {g}, HF {w}, inputs {inputs:?}"
        );
    }
}

#[test]
fn tiny_gpt2_logits_equal_hugging_face() {
    check("ep_masked_forward_tiny_gpt2.json", "tiny-gpt2");
}

#[test]
fn tiny_gpt2_b_logits_equal_hugging_face() {
    // n_inner null and L != H.
    check("ep_masked_forward_tiny_gpt2_b.json", "tiny-gpt2-b");
}

#[test]
fn run_command_prints_hugging_face_logits_as_json() {
    let fixture = load_fixture("edge-pruning-gpt2/ep_masked_forward_tiny_gpt2.json");
    let inputs = ids(&fixture["inputs"]["input_ids"]);
    let row: Vec<String> = inputs.row(1).iter().map(|i| i.to_string()).collect();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_edgeprune"))
        .args(["run", "--model"])
        .arg(gpt2_dir("tiny-gpt2"))
        .args(["--ids", &row.join(","), "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let got = flat_numbers(&printed["logits"]);
    let want = flat_numbers(&fixture["hf_logits"][1]);
    assert_eq!(got.len(), want.len(), "[S, V] logits");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(close(*g, *w, REL, ABS), "run logits[{i}] = {g}, HF {w}");
    }
}

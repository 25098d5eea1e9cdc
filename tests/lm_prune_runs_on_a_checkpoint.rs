//! `edgeprune prune --model DIR --task ...` runs end to end on a small random GPT-2 checkpoint with a
//! tokenizer of our own, writes its JSON, and refuses a folder without a tokenizer.

mod common;

use std::path::PathBuf;

use common::tiny_tokenizer::{single_token_words, write_tiny_tokenizer};
use edgeprune::model::{gpt2, Activation, Readout, Transformer, TransformerShape};

fn checkpoint(name: &str, with_tokenizer: bool) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("edgeprune-lm-prune-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let vocab = write_tiny_tokenizer(&dir, &single_token_words());
    if !with_tokenizer {
        std::fs::remove_file(dir.join("vocab.json")).unwrap();
        std::fs::remove_file(dir.join("merges.txt")).unwrap();
    }
    let shape = TransformerShape {
        d_model: 16,
        num_layers: 2,
        num_heads: 2,
        key_size: 8,
        value_size: 8,
        mlp_hidden_size: 32,
        vocab_size: vocab,
        max_positions: 128,
        layer_norm: true,
        causal: true,
        activation: Activation::Gelu,
        classes: Some(vocab),
    };
    let mut model = Transformer::random(&shape, 3);
    model.readout = Readout::Categorical {
        unembedding: model.token_embedding.t().to_owned(),
    };
    model.bos_token_id = Some(vocab - 1);
    gpt2::write_checkpoint(&model, &dir).unwrap();
    dir
}

fn prune(dir: &std::path::Path, task: &str, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_edgeprune"))
        .args(["prune", "--model"])
        .arg(dir)
        .args([
            "--task",
            task,
            "--steps",
            "12",
            "--batch-size",
            "4",
            "--examples",
            "6",
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn every_task_prunes_and_reports_the_circuit_and_scores() {
    let dir = checkpoint("ok", true);
    for (task, backend) in [
        ("ioi", ["--backend", "candle", "--dtype", "f32"]),
        ("gt", ["--backend", "candle", "--dtype", "f64"]),
        ("gp", ["--backend", "ndarray", "--dtype", "f64"]),
    ] {
        let out = dir.join(format!("{task}.json"));
        let output = prune(
            &dir,
            task,
            &[&backend[..], &["--json", out.to_str().unwrap()]].concat(),
        );
        assert!(
            output.status.success(),
            "{task}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(summary["task"]["name"], task);
        assert_eq!(summary["task"]["examples"], 6);
        assert_eq!(summary["config"]["steps"], 12);
        assert_eq!(
            summary["config"]["log_alpha_lr"], 0.8,
            "{task}: the paper's GPT-2 LR"
        );
        let edges = summary["circuit"]["num_edges"].as_u64().unwrap();
        assert_eq!(
            summary["circuit"]["edges"].as_array().unwrap().len() as u64,
            edges
        );
        assert!(summary["graph"]["edges"].as_u64().unwrap() >= edges);
        for key in ["kl", "edge_sparsity"] {
            assert!(
                summary["scores"][key].as_f64().unwrap().is_finite(),
                "{task}: {key}"
            );
        }
        let accuracy = summary["scores"]["full_model"]["accuracy"]
            .as_f64()
            .unwrap();
        assert!(
            (0.0..=1.0).contains(&accuracy),
            "{task}: accuracy {accuracy}"
        );
    }
}

#[test]
fn a_folder_without_a_tokenizer_or_a_task_without_a_folder_is_refused() {
    let dir = checkpoint("no-tokenizer", false);
    let output = prune(&dir, "ioi", &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tokenizer.json") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_edgeprune"))
        .args(["prune", "--lib", "reverse_123", "--task", "ioi"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--model DIR"));
}

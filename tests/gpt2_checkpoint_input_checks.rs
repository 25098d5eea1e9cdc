//! GPT-2 checkpoints: the key layouts seen in the wild load to the same model, and every kind of bad
//! folder, config, tensor or token sequence is a typed error that names what is wrong.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use common::gpt2_dir;
use edgeprune::error::Error;
use edgeprune::model::{checkpoint, gpt2, Transformer};

/// A fresh folder under the system temp dir, named after the test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeprune-gpt2-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The tiny-gpt2 fixture's tensors as (dtype, shape, bytes), by name.
type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

fn fixture_tensors() -> Tensors {
    let bytes = std::fs::read(gpt2_dir("tiny-gpt2").join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.iter()
        .map(|(name, view)| {
            (
                name.to_string(),
                (view.dtype(), view.shape().to_vec(), view.data().to_vec()),
            )
        })
        .collect()
}

fn fixture_config() -> Value {
    let text = std::fs::read_to_string(gpt2_dir("tiny-gpt2").join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Writes a checkpoint folder with these tensors and config.
fn write(dir: &Path, tensors: &Tensors, config: &Value) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, (dtype, shape, data))| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(config).unwrap(),
    )
    .unwrap();
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn load_error(dir: &Path) -> Error {
    match checkpoint::load(dir) {
        Ok(_) => panic!("{} loaded, expected an error", dir.display()),
        Err(error) => error,
    }
}

fn assert_mentions(error: &Error, words: &[&str]) {
    let message = error.to_string();
    for word in words {
        assert!(
            message.contains(word),
            "error `{message}` does not mention `{word}`"
        );
    }
}

fn fixture_model() -> Transformer {
    checkpoint::load(&gpt2_dir("tiny-gpt2")).unwrap()
}

#[test]
fn keys_without_the_transformer_prefix_and_with_mask_buffers_load_the_same_model() {
    // openai-community/gpt2's own layout: no `transformer.` prefix, `h.{i}.attn.bias` causal-mask buffers.
    let mut tensors = Tensors::new();
    for (name, value) in fixture_tensors() {
        tensors.insert(name.trim_start_matches("transformer.").to_string(), value);
    }
    let positions = 16;
    for l in 0..2 {
        let mask: Vec<f32> = (0..positions * positions)
            .map(|i| {
                if i % positions <= i / positions {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        tensors.insert(
            format!("h.{l}.attn.bias"),
            (
                Dtype::F32,
                vec![1, 1, positions, positions],
                f32_bytes(&mask),
            ),
        );
        tensors.insert(
            format!("h.{l}.attn.masked_bias"),
            (Dtype::F32, vec![], f32_bytes(&[-1e4])),
        );
    }
    let dir = scratch("no-prefix");
    write(&dir, &tensors, &fixture_config());
    assert_eq!(checkpoint::load(&dir).unwrap(), fixture_model());
}

#[test]
fn an_explicit_lm_head_is_used_as_the_unembedding() {
    let mut tensors = fixture_tensors();
    let (dtype, shape, wte) = tensors["transformer.wte.weight"].clone();
    // Tied copy: the same model.
    tensors.insert("lm_head.weight".into(), (dtype, shape.clone(), wte.clone()));
    let dir = scratch("lm-head-tied");
    write(&dir, &tensors, &fixture_config());
    assert_eq!(checkpoint::load(&dir).unwrap(), fixture_model());
    // An untied head (doubled): the logits double, since the readout is linear.
    let doubled: Vec<u8> = wte
        .chunks_exact(4)
        .flat_map(|b| (2.0 * f32::from_le_bytes(b.try_into().unwrap())).to_le_bytes())
        .collect();
    tensors.insert("lm_head.weight".into(), (dtype, shape, doubled));
    let dir = scratch("lm-head-untied");
    write(&dir, &tensors, &fixture_config());
    let ids = Array2::from_shape_vec((1, 3), vec![3, 1, 4]).unwrap();
    let plain = fixture_model().forward(ids.view()).unwrap();
    let untied = checkpoint::load(&dir).unwrap().forward(ids.view()).unwrap();
    for (u, p) in untied.iter().zip(plain.iter()) {
        assert!(
            (u - 2.0 * p).abs() <= 1e-12 * p.abs().max(1.0),
            "untied {u} vs 2 x tied {p}"
        );
    }
}

#[test]
fn a_written_checkpoint_reads_back_as_the_same_model() {
    let model = fixture_model();
    let dir = scratch("round-trip");
    gpt2::write_checkpoint(&model, &dir).unwrap();
    // The fixture is f32 and so is what we write: exact.
    assert_eq!(checkpoint::load(&dir).unwrap(), model);
}

#[test]
fn a_missing_folder_or_file_is_named() {
    let missing = std::env::temp_dir().join("edgeprune-gpt2-no-such-folder");
    assert_mentions(&load_error(&missing), &["not a folder"]);

    let dir = scratch("no-config");
    std::fs::copy(
        gpt2_dir("tiny-gpt2").join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    assert_mentions(&load_error(&dir), &["config.json"]);

    let dir = scratch("no-weights");
    std::fs::copy(
        gpt2_dir("tiny-gpt2").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    assert_mentions(&load_error(&dir), &["model.safetensors"]);
    std::fs::write(dir.join("model.safetensors.index.json"), "{}").unwrap();
    assert_mentions(&load_error(&dir), &["sharded"]);

    let dir = scratch("garbage-weights");
    std::fs::copy(
        gpt2_dir("tiny-gpt2").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    std::fs::write(dir.join("model.safetensors"), b"not a tensor file").unwrap();
    assert!(matches!(load_error(&dir), Error::Checkpoint { .. }));
}

#[test]
fn another_architecture_or_a_bad_config_is_refused() {
    let tensors = fixture_tensors();
    let mut config = fixture_config();
    config["model_type"] = "llama".into();
    let dir = scratch("llama");
    write(&dir, &tensors, &config);
    let error = load_error(&dir);
    assert!(matches!(error, Error::Unsupported { .. }), "{error}");
    assert_mentions(&error, &["llama", "gpt2"]);

    for (field, value, words) in [
        ("n_head", Value::from(5), vec!["n_embd", "multiple"]),
        ("n_layer", Value::Null, vec!["n_layer"]),
        ("activation_function", Value::from("relu"), vec!["relu"]),
        (
            "scale_attn_by_inverse_layer_idx",
            Value::from(true),
            vec!["scale_attn_by_inverse_layer_idx"],
        ),
    ] {
        let mut config = fixture_config();
        config[field] = value;
        let dir = scratch(&format!("config-{field}"));
        write(&dir, &tensors, &config);
        assert_mentions(&load_error(&dir), &words);
    }
    let mut config = fixture_config();
    config.as_object_mut().unwrap().remove("model_type");
    let dir = scratch("config-no-type");
    write(&dir, &tensors, &config);
    assert_mentions(&load_error(&dir), &["model_type"]);
}

#[test]
fn a_missing_or_misshapen_tensor_is_named_with_its_shapes() {
    let mut tensors = fixture_tensors();
    tensors.remove("transformer.h.1.mlp.c_fc.bias");
    let dir = scratch("missing-tensor");
    write(&dir, &tensors, &fixture_config());
    let error = load_error(&dir);
    assert!(matches!(error, Error::Checkpoint { .. }), "{error}");
    assert_mentions(&error, &["missing tensor", "transformer.h.1.mlp.c_fc.bias"]);

    let mut tensors = fixture_tensors();
    let (dtype, _, data) = tensors["transformer.h.0.attn.c_attn.weight"].clone();
    // Stored [3D, D] (nn.Linear's [out, in]) instead of Conv1D's [in, out].
    tensors.insert(
        "transformer.h.0.attn.c_attn.weight".into(),
        (dtype, vec![96, 32], data),
    );
    let dir = scratch("transposed-tensor");
    write(&dir, &tensors, &fixture_config());
    let error = load_error(&dir);
    assert!(matches!(error, Error::Shape { .. }), "{error}");
    assert_mentions(
        &error,
        &["transformer.h.0.attn.c_attn.weight", "[32, 96]", "[96, 32]"],
    );

    let mut tensors = fixture_tensors();
    tensors.retain(|name, _| !name.contains("wte"));
    let dir = scratch("no-wte");
    write(&dir, &tensors, &fixture_config());
    assert_mentions(
        &load_error(&dir),
        &["wte.weight", "not a GPT-2 weights file"],
    );

    let mut tensors = fixture_tensors();
    let (_, shape, data) = tensors["transformer.ln_f.bias"].clone();
    let ints: Vec<u8> = data
        .chunks_exact(4)
        .flat_map(|_| 0i32.to_le_bytes())
        .collect();
    tensors.insert("transformer.ln_f.bias".into(), (Dtype::I32, shape, ints));
    let dir = scratch("int-tensor");
    write(&dir, &tensors, &fixture_config());
    assert_mentions(&load_error(&dir), &["transformer.ln_f.bias", "dtype"]);
}

#[test]
fn out_of_vocabulary_ids_and_overlong_sequences_are_refused() {
    let model = fixture_model();
    let ids = Array2::from_shape_vec((1, 3), vec![3, 50, 4]).unwrap();
    match model.forward(ids.view()) {
        Err(Error::TokenId {
            id: 50,
            position: 1,
            vocab_size: 50,
            ..
        }) => {}
        other => panic!("expected a TokenId error for id 50, got {other:?}"),
    }
    let ids = Array2::from_shape_vec((1, 17), vec![1; 17]).unwrap();
    let error = model.forward(ids.view()).unwrap_err();
    assert!(matches!(error, Error::Shape { .. }), "{error}");
    assert_mentions(&error, &["17", "1..=16"]);
}

#[test]
fn the_run_command_reports_bad_input_without_a_panic() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_edgeprune"))
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        stderr
    };
    let dir = gpt2_dir("tiny-gpt2");
    let dir = dir.to_str().unwrap();
    assert!(run(&["run", "--model", dir, "--ids", "1,99"]).contains("token id 99"));
    let missing = std::env::temp_dir().join("edgeprune-gpt2-no-such-folder-cli");
    assert!(run(&["run", "--model", missing.to_str().unwrap(), "--ids", "1"]).contains("error"));
    // A checkpoint folder where a compiled Tracr model is needed is a typed refusal naming the folder.
    assert!(run(&["truth", "--model", dir]).contains("checkpoint folder"));
}

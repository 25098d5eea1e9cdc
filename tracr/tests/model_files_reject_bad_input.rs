//! Damaged or inconsistent model files are typed errors that name the tensor, the shape or the config
//! field, never panics; and `tracr compile` never leaves a half-written model behind.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::Value as Json;
use tracr::error::Error;
use tracr::formats::safetensors::from_safetensors_bytes;
use tracr::formats::transformerlens::{from_transformerlens_bytes, transformerlens_files};
use tracr::formats::{read_model, to_safetensors_bytes};
use tracr::library::by_name;
use tracr::model::CompiledModel;
use tracr::{compile, CompileOptions};

fn reverse() -> CompiledModel {
    let program = by_name("reverse").unwrap();
    compile(
        &program.program,
        &program.vocab,
        program.max_seq_len,
        &CompileOptions::default(),
    )
    .unwrap()
}

/// One tensor of a file, owned, so that a test can change it and write the file again.
#[derive(Clone)]
struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn unpack(bytes: &[u8]) -> (Vec<(String, Tensor)>, HashMap<String, String>) {
    let (_, metadata) = SafeTensors::read_metadata(bytes).unwrap();
    let file = SafeTensors::deserialize(bytes).unwrap();
    let tensors = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let tensor = Tensor {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            };
            (name, tensor)
        })
        .collect();
    (tensors, metadata.metadata().clone().unwrap_or_default())
}

fn pack(tensors: &[(String, Tensor)], metadata: HashMap<String, String>) -> Vec<u8> {
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(name, t)| {
            let view = TensorView::new(t.dtype, t.shape.clone(), &t.data).unwrap();
            (name.as_str(), view)
        })
        .collect();
    safetensors::serialize(views, Some(metadata)).unwrap()
}

/// `bytes` with the tensor `name` changed by `change`.
fn with_tensor(bytes: &[u8], name: &str, change: impl Fn(&mut Tensor)) -> Vec<u8> {
    let (mut tensors, metadata) = unpack(bytes);
    let tensor = &mut tensors
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
        .1;
    change(tensor);
    pack(&tensors, metadata)
}

fn message(result: Result<CompiledModel, Error>) -> (Error, String) {
    match result {
        Ok(_) => panic!("a damaged file was accepted"),
        Err(e) => {
            let text = e.to_string();
            (e, text)
        }
    }
}

const QUERY: &str = "transformer/layer_0/attn/query/w";

#[test]
fn truncated_or_corrupt_safetensors_are_safetensors_errors() {
    let bytes = to_safetensors_bytes(&reverse()).unwrap();
    let mut corrupt_header = bytes.clone();
    corrupt_header[9] = b'#';
    let mut huge_length = bytes.clone();
    huge_length[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    for (what, damaged) in [
        ("truncated", bytes[..bytes.len() - 100].to_vec()),
        ("cut inside the header", bytes[..50].to_vec()),
        ("shorter than the length prefix", bytes[..5].to_vec()),
        ("corrupt header", corrupt_header),
        ("absurd header length", huge_length),
        ("a JSON file", b"{\"config\": 1}".to_vec()),
    ] {
        let (error, text) = message(from_safetensors_bytes(&damaged));
        assert!(
            matches!(error, Error::Safetensors(_)),
            "{what}: expected a safetensors error, got {text}"
        );
        assert!(text.contains("safetensors"), "{what}: {text}");
    }
}

#[test]
fn wrong_dtype_shape_missing_extra_and_nan_tensors_are_named() {
    let bytes = to_safetensors_bytes(&reverse()).unwrap();
    // float32 where the format stores float64: same bytes, half as many values per byte.
    let f32_query = with_tensor(&bytes, QUERY, |t| {
        t.dtype = Dtype::F32;
        t.shape = vec![t.shape[0], t.shape[1] * 2];
    });
    let (error, text) = message(from_safetensors_bytes(&f32_query));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == QUERY),
        "{text}"
    );
    assert!(text.contains("F32") && text.contains("F64"), "{text}");

    let transposed = with_tensor(&bytes, QUERY, |t| t.shape.reverse());
    let (_, text) = message(from_safetensors_bytes(&transposed));
    assert!(
        text.contains("query") && text.contains("[12, 41]") && text.contains("[41, 12]"),
        "a transposed query should name it and both shapes: {text}"
    );

    let three_dims = with_tensor(&bytes, QUERY, |t| t.shape = vec![41, 3, 4]);
    let (error, text) = message(from_safetensors_bytes(&three_dims));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == QUERY)
            && text.contains("[41, 3, 4]"),
        "{text}"
    );

    let (tensors, metadata) = unpack(&bytes);
    let missing: Vec<(String, Tensor)> = tensors
        .iter()
        .filter(|(n, _)| n != QUERY)
        .cloned()
        .collect();
    let (error, text) = message(from_safetensors_bytes(&pack(&missing, metadata.clone())));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == QUERY) && text.contains("missing"),
        "{text}"
    );

    let mut extra = tensors.clone();
    let copy = extra[0].1.clone();
    extra.push(("transformer/layer_9/attn/query/w".into(), copy));
    let (error, text) = message(from_safetensors_bytes(&pack(&extra, metadata.clone())));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == "transformer/layer_9/attn/query/w"),
        "{text}"
    );

    for bad in [f64::NAN, f64::INFINITY] {
        let poisoned = with_tensor(&bytes, QUERY, |t| {
            t.data[16..24].copy_from_slice(&bad.to_le_bytes())
        });
        let (error, text) = message(from_safetensors_bytes(&poisoned));
        assert!(
            matches!(&error, Error::Tensor { name, .. } if name == QUERY)
                && text.contains(&bad.to_string())
                && text.contains("flat index 2"),
            "{bad}: {text}"
        );
    }
}

#[test]
fn metadata_that_disagrees_with_the_tensors_is_an_error() {
    let bytes = to_safetensors_bytes(&reverse()).unwrap();
    let (tensors, metadata) = unpack(&bytes);
    let edit = |change: &dyn Fn(&mut Json)| {
        let mut header: Json = serde_json::from_str(&metadata["tracr_model"]).unwrap();
        change(&mut header);
        let mut metadata = metadata.clone();
        metadata.insert("tracr_model".into(), header.to_string());
        from_safetensors_bytes(&pack(&tensors, metadata))
    };
    let (_, text) = message(edit(&|h| h["config"]["d_model"] = 40.into()));
    assert!(
        text.contains("[41") && text.contains("40"),
        "d_model 40 vs tensors of 41: {text}"
    );
    let (error, text) = message(edit(&|h| h["config"]["num_layers"] = 5.into()));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name.starts_with("transformer/layer_4/")),
        "a fifth layer that the file lacks: {text}"
    );
    let (error, text) = message(edit(&|h| h["config"]["num_layers"] = 3.into()));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name.starts_with("transformer/layer_3/")),
        "a fourth layer the config does not have: {text}"
    );
    let mut no_model = metadata.clone();
    no_model.remove("tracr_model");
    let (_, text) = message(from_safetensors_bytes(&pack(&tensors, no_model)));
    assert!(text.contains("tracr_model"), "{text}");
    let mut foreign = metadata.clone();
    foreign.insert("format".into(), "pt".into());
    let (_, text) = message(from_safetensors_bytes(&pack(&tensors, foreign)));
    assert!(text.contains("`pt`"), "{text}");
}

/// The TransformerLens folder's three files, with `change` applied to config.json's or vocab.json's
/// JSON or to the weights.
fn transformerlens_with(
    change_config: impl Fn(&mut Json),
    change_vocab: impl Fn(&mut Json),
    change_weights: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<CompiledModel, Error> {
    let files = transformerlens_files(&reverse(), "reverse").unwrap();
    let mut config: Json = serde_json::from_slice(&files[1].1).unwrap();
    let mut vocab: Json = serde_json::from_slice(&files[2].1).unwrap();
    change_config(&mut config);
    change_vocab(&mut vocab);
    from_transformerlens_bytes(
        &change_weights(&files[0].1),
        config.to_string().as_bytes(),
        vocab.to_string().as_bytes(),
    )
}

#[test]
fn transformerlens_config_vocab_or_tensors_that_disagree_are_named() {
    let same = |b: &[u8]| b.to_vec();
    let nothing = |_: &mut Json| {};
    assert!(transformerlens_with(nothing, nothing, same).is_ok());
    for (field, value) in [
        ("d_model", Json::from(40)),
        ("n_ctx", Json::from(7)),
        ("attention_dir", Json::from("causal")),
        ("normalization_type", Json::from("LN")),
        ("attn_scale", Json::from(1.0)),
        ("act_fn", Json::from("gelu")),
        ("d_vocab_out", Json::from(5)),
    ] {
        let (_, text) = message(transformerlens_with(
            |c| c[field] = value.clone(),
            nothing,
            same,
        ));
        assert!(
            text.contains("config.json") && text.contains(&format!("`{field}`")),
            "{field} = {value}: {text}"
        );
    }
    let (_, text) = message(transformerlens_with(
        nothing,
        |v| v["output"] = serde_json::json!(["c", "b", "a"]),
        same,
    ));
    assert!(
        text.contains("vocab.json") && text.contains("`output`"),
        "{text}"
    );
    let (_, text) = message(transformerlens_with(
        nothing,
        |v| v["input"]["a"] = 3.into(),
        same,
    ));
    assert!(
        text.contains("vocab.json") && text.contains("`input`"),
        "{text}"
    );

    let moved_unembed = |b: &[u8]| {
        with_tensor(b, "unembed.W_U", |t| {
            t.data.rotate_right(4);
        })
    };
    let (error, text) = message(transformerlens_with(nothing, nothing, moved_unembed));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == "unembed.W_U"),
        "{text}"
    );
    let wrong_heads = |b: &[u8]| {
        with_tensor(b, "blocks.0.attn.W_Q", |t| {
            t.shape = vec![2, 41, 6];
        })
    };
    let (error, text) = message(transformerlens_with(nothing, nothing, wrong_heads));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == "blocks.0.attn.W_Q")
            && text.contains("[2, 41, 6]")
            && text.contains("[1, 41, 12]"),
        "{text}"
    );
    let half_precision = |b: &[u8]| {
        with_tensor(b, "blocks.1.mlp.W_in", |t| {
            t.dtype = Dtype::F16;
            t.shape[1] *= 2;
        })
    };
    let (error, text) = message(transformerlens_with(nothing, nothing, half_precision));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == "blocks.1.mlp.W_in")
            && text.contains("F16"),
        "{text}"
    );
    let layer_norm = |b: &[u8]| {
        let (mut tensors, metadata) = unpack(b);
        let bias = tensors
            .iter()
            .find(|(n, _)| n == "blocks.0.attn.b_O")
            .unwrap()
            .1
            .clone();
        tensors.push(("blocks.0.ln1.b".into(), bias));
        pack(&tensors, metadata)
    };
    let (error, text) = message(transformerlens_with(nothing, nothing, layer_norm));
    assert!(
        matches!(&error, Error::Tensor { name, .. } if name == "blocks.0.ln1.b"),
        "{text}"
    );
}

#[test]
fn a_transformerlens_folder_missing_a_file_names_it() {
    let dir = std::env::temp_dir().join(format!("tracr-tl-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    tracr::formats::write_transformerlens(&reverse(), &dir).unwrap();
    std::fs::remove_file(dir.join("vocab.json")).unwrap();
    let text = read_model(&dir).unwrap_err().to_string();
    assert!(text.contains("vocab.json"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tracr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(args)
        .output()
        .unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn compile_refuses_before_writing_and_leaves_nothing_half_written() {
    let dir = std::env::temp_dir().join(format!("tracr-no-half-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("occupied")).unwrap();
    std::fs::write(dir.join("occupied/notes.txt"), "mine").unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    for (args, expected) in [
        (
            vec!["--format", "transformerlens", "-o", &path("occupied")],
            "notes.txt",
        ),
        (
            vec!["--format", "safetensors", "-o", &path("m.json")],
            "--format safetensors",
        ),
        (
            vec!["--format", "json", "-o", &path("m.safetensors")],
            "--format json",
        ),
        (vec!["--format", "transformerlens", "-o", "-"], "folder"),
        (
            vec!["--format", "transformerlens", "-o", &path("missing/tl")],
            "does not exist",
        ),
    ] {
        let mut all = vec!["compile", "--lib", "reverse"];
        all.extend(args.iter().copied());
        let out = tracr(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{all:?} succeeded");
        assert!(stderr.contains(expected), "{all:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{all:?}: {stderr}");
    }
    assert_eq!(
        listing(&dir),
        ["occupied"],
        "something was left beside the outputs"
    );
    assert_eq!(listing(&dir.join("occupied")), ["notes.txt"]);
    // Replacing an earlier export of the same files is fine, and leaves no temporary behind.
    let tl = path("tl");
    for _ in 0..2 {
        let out = tracr(&[
            "compile",
            "--lib",
            "reverse",
            "--format",
            "transformerlens",
            "-o",
            &tl,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(listing(&dir), ["occupied", "tl"]);
    assert_eq!(
        listing(&dir.join("tl")),
        ["config.json", "model.safetensors", "vocab.json"]
    );
    let out = tracr(&["run", &tl, "--input", "a,b,c"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"["BOS","c","b","a"]"#
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

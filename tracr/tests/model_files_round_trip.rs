//! Every library program survives each model file format: JSON -> safetensors -> JSON is the identity
//! bit for bit (float64 tensors), and the TransformerLens folder reads back as the same model with
//! its weights rounded to float32, padding for empty heads and MLPs removed.

mod f32_support;

use f32_support::rounded_to_f32;
use tracr::formats::json::from_json_bytes;
use tracr::formats::safetensors::from_safetensors_bytes;
use tracr::formats::transformerlens::{from_transformerlens_bytes, transformerlens_files};
use tracr::formats::{read_model, to_json_bytes, to_safetensors_bytes, write_model, ModelFormat};
use tracr::library::registry;
use tracr::model::CompiledModel;
use tracr::{compile, CompileOptions};

fn library_models() -> Vec<(&'static str, CompiledModel)> {
    registry()
        .into_iter()
        .map(|program| {
            let model = program
                .compile()
                .unwrap_or_else(|e| panic!("{}: {e}", program.name));
            (program.name, model)
        })
        .collect()
}

#[test]
fn json_to_safetensors_to_json_is_the_identity_for_every_library_program() {
    for (name, model) in library_models() {
        let json = to_json_bytes(&model);
        let from_json = from_json_bytes(&json).unwrap();
        let safetensors = to_safetensors_bytes(&from_json).unwrap();
        let back = from_safetensors_bytes(&safetensors)
            .unwrap_or_else(|e| panic!("{name}: reading our own safetensors: {e}"));
        assert!(
            back == model,
            "{name}: the safetensors round trip changed the model"
        );
        assert!(
            to_json_bytes(&back) == json,
            "{name}: JSON written after the safetensors round trip differs from the first JSON"
        );
    }
}

#[test]
fn transformerlens_folders_read_back_as_the_model_rounded_to_float32() {
    for (name, model) in library_models() {
        let files = transformerlens_files(&model, name).unwrap();
        let [(_, weights), (_, config), (_, vocab)] = files.as_slice() else {
            panic!("{name}: expected three files, got {}", files.len());
        };
        let back = from_transformerlens_bytes(weights, config, vocab)
            .unwrap_or_else(|e| panic!("{name}: reading our own TransformerLens export: {e}"));
        assert!(
            back == rounded_to_f32(&model),
            "{name}: the TransformerLens folder does not read back as the float32-rounded model"
        );
    }
}

#[test]
fn every_format_written_to_disk_is_read_back_by_read_model() {
    let dir = std::env::temp_dir().join(format!("tracr-formats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (name, model) = library_models()
        .into_iter()
        .find(|(n, _)| *n == "sort_freq")
        .unwrap();
    for (format, file) in [
        (ModelFormat::Json, "m.json"),
        (ModelFormat::Safetensors, "m.safetensors"),
        (ModelFormat::Safetensors, "m.bin"),
        (ModelFormat::Json, "m.model"),
        (ModelFormat::TransformerLens, "m_tl"),
    ] {
        let path = dir.join(file);
        write_model(&model, &path, format).unwrap();
        let back = read_model(&path).unwrap_or_else(|e| panic!("{name} as {file}: {e}"));
        let expected = match format {
            ModelFormat::TransformerLens => rounded_to_f32(&model),
            _ => model.clone(),
        };
        assert!(
            back == expected,
            "{name}: {file} ({format:?}) read back differently"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A model with no MLP neurons (attention only) and one with no attention (an MLP only): the
/// TransformerLens export writes the empty block as zeros (padded to at least one head, head width
/// and neuron), and reads back as the same model, computing the same outputs.
#[test]
fn transformerlens_pads_empty_blocks_with_zeros_and_reads_back_without_them() {
    use tracr::value::Value;
    for (name, text, vocab, input) in [
        (
            "attention only",
            r#"copy = Aggregate(Select(indices, indices, EQ), tokens).named("copy")"#,
            vec![Value::from("a"), Value::from("b"), Value::from("c")],
            vec![Value::from("c"), Value::from("a"), Value::from("b")],
        ),
        (
            "MLP only",
            r#"plus = Map(lambda x: x + 1, tokens).named("plus")"#,
            vec![Value::Int(1), Value::Int(2), Value::Int(3)],
            vec![Value::Int(3), Value::Int(1), Value::Int(2)],
        ),
    ] {
        let program = tracr::rasp::text::parse(text).unwrap();
        let model = compile(&program, &vocab, 4, &CompileOptions::default()).unwrap();
        let files = transformerlens_files(&model, name).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&files[1].1).unwrap();
        let c = &model.config;
        assert!(
            c.mlp_hidden_per_layer == [0] || c.heads_per_layer == [0],
            "{name}: expected an empty block, got {c:?}"
        );
        for (field, ours) in [
            ("d_mlp", c.mlp_hidden_size),
            ("d_head", c.key_size),
            ("n_heads", c.num_heads),
        ] {
            assert_eq!(config[field], ours.max(1), "{name}: {field}");
        }
        let back = from_transformerlens_bytes(&files[0].1, &files[1].1, &files[2].1)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            back == rounded_to_f32(&model),
            "{name}: read back differently"
        );
        assert_eq!(
            back.apply_without_bos(&input).unwrap().decoded,
            model.apply_without_bos(&input).unwrap().decoded,
            "{name}: {input:?}"
        );
    }
}

//! The exported `unembed.W_U` of a rotated or compressed model turns the model's final residual into
//! the outputs the model decodes: `resid · W_U` (what HookedTransformer computes, `b_U` being zero)
//! equals `CompiledModel::read_output(resid)`, checked from the file's bytes, not through our
//! reader (which compares the file with the same writer's matrix). The aligned export's `W_U` is
//! checked against TransformerLens itself by `transformerlens_export_matches_transformerlens_logits`.
//!
//! Tolerance 1e-6 relative to the residual's size: the file holds `W_U` in float32 (relative rounding
//! 6e-8 per entry) and a residual entry is summed over at most 41 dimensions here.

use ndarray::Array2;
use safetensors::SafeTensors;
use tracr::formats::{write_model, ModelFormat};
use tracr::transform::compress::{compress, task_inputs, CompressOptions};
use tracr::value::Value;

fn exported_w_u(model: &tracr::CompiledModel, name: &str) -> Array2<f64> {
    let dir = std::env::temp_dir().join(format!("tracr-tl-unembed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_model(model, &dir, ModelFormat::TransformerLens).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensor = file.tensor("unembed.W_U").unwrap();
    assert_eq!(tensor.dtype(), safetensors::Dtype::F32, "{name}: W_U dtype");
    let values: Vec<f64> = tensor
        .data()
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Array2::from_shape_vec((tensor.shape()[0], tensor.shape()[1]), values).unwrap()
}

fn check(model: &tracr::CompiledModel, name: &str, inputs: &[&[&str]]) {
    let w_u = exported_w_u(model, name);
    assert_eq!(w_u.nrows(), model.config.d_model, "{name}: W_U rows");
    for input in inputs {
        let tokens: Vec<Value> = std::iter::once("BOS")
            .chain(input.iter().copied())
            .map(|t| Value::Str(t.to_string()))
            .collect();
        let out = model.apply_traced(&tokens).unwrap();
        let trace = out.trace.unwrap();
        let resid = trace.residuals.last().unwrap();
        let want = model.read_output(resid);
        let got = resid.dot(&w_u);
        let scale = resid.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for ((i, j), w) in want.indexed_iter() {
            assert!(
                (got[(i, j)] - w).abs() <= 1e-6 * scale,
                "{name} {input:?}: logit [{i}, {j}] is {} through W_U, {w} through the model",
                got[(i, j)]
            );
        }
    }
}

#[test]
fn rotated_and_compressed_exports_unembed_the_decoded_outputs() {
    let program = tracr::library::by_name("reverse").unwrap();
    let compiled = program.compile().unwrap();
    let inputs: [&[&str]; 3] = [&["a", "b", "c"], &["c", "a", "b", "b", "a"], &["b"]];
    check(&compiled, "aligned", &inputs);
    check(
        &tracr::transform::rotate(&compiled, 11).unwrap(),
        "rotated",
        &inputs,
    );
    // Any trained W will do: the property is about reading the residual, not about accuracy.
    let data = task_inputs(&compiled, 5, 0).unwrap();
    let options = CompressOptions {
        steps: 5,
        early_stop: false,
        ..CompressOptions::default()
    };
    let compressed = compress(&compiled, &[data], 9, &options).unwrap().model;
    check(&compressed, "compressed", &inputs);
}

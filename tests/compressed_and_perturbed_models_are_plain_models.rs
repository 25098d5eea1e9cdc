//! A compressed model (`edgeprune compress`) and a perturbed one are plain models: written as model JSON,
//! read back by the tracr runner and by edgeprune's `--model` reader, which compute the same outputs;
//! bad widths and noise sizes are refused with messages that say what is valid.
//!
//! Tolerance 1e-9 (relative above 1) between the two readers: both run the same f64 weights, only
//! the summation order differs.

use ndarray::Array2;
use tracr::value::Value;

use edgeprune::compress::{check_dims, compress, CompressOptions};
use edgeprune::harder::{compile_library, decodings};
use edgeprune::model::{ResidualBasis, Transformer};
use edgeprune::task::Task;

fn program(name: &str) -> tracr::library::LibProgram {
    tracr::library::by_name(name).unwrap_or_else(|| panic!("{name} in the registry"))
}

/// The tracr runner's output values and edgeprune's forward agree on every input of `task`.
fn readers_agree(model: &tracr::CompiledModel, what: &str) {
    let json = model.to_json();
    let reread = tracr::CompiledModel::from_json(&json).expect("tracr re-reads the model");
    assert_eq!(&reread, model, "{what}: JSON round trip");
    let task = Task::from_tracr_model(
        what,
        &json,
        model.input_encoding.max_seq_len_with_bos - 1,
        0,
    )
    .expect("edgeprune reads the model");
    let outputs = task.model.forward(task.clean.view()).expect("forward");
    let mut by_id = vec![Value::None; model.input_encoding.map.len()];
    for (value, id) in &model.input_encoding.map {
        by_id[*id] = value.clone();
    }
    for (n, row) in task.clean.rows().into_iter().enumerate() {
        let tokens: Vec<Value> = row.iter().map(|&id| by_id[id].clone()).collect();
        let trace = model.apply_traced(&tokens).expect("tracr runs");
        let trace = trace.trace.expect("traced");
        let last = trace.residuals.last().unwrap_or(&trace.input_embeddings);
        let want: Array2<f64> = model.read_output(last);
        for ((s, c), w) in want.indexed_iter() {
            let got = outputs[(n, s, c)];
            assert!(
                (got - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{what}: input {tokens:?} position {s} output {c}: edgeprune {got} vs tracr {w}"
            );
        }
    }
}

#[test]
fn a_compressed_model_is_read_alike_by_both_readers() {
    let compiled = compile_library(&program("frac_prevs")).unwrap();
    let task = Task::from_tracr_model("frac_prevs", &compiled.to_json(), 5, 0)
        .expect("task of frac_prevs");
    let options = CompressOptions {
        steps: 20,
        ..CompressOptions::default()
    };
    let compressed = compress(&compiled, std::slice::from_ref(&task.clean), 8, &options)
        .expect("compression runs");
    assert_eq!(compressed.model.config.d_model, 8, "d_model is D");
    assert!(compressed.loss.is_finite(), "loss {}", compressed.loss);
    readers_agree(&compressed.model, "frac_prevs compressed to 8");
    let transformer = Transformer::from_tracr_json(&compressed.model.to_json()).unwrap();
    assert_eq!(transformer.residual_basis, ResidualBasis::Compressed);
    assert!(!edgeprune::truth::structural::structural_applies(
        &transformer
    ));
}

#[test]
fn a_perturbed_model_is_read_alike_and_zero_noise_changes_nothing() {
    let compiled = compile_library(&program("reverse")).unwrap();
    let noisy = tracr::transform::perturb(&compiled, 1e-3, 5).unwrap();
    assert_ne!(
        noisy.weights, compiled.weights,
        "noise of 1e-3 changed no weight"
    );
    readers_agree(&noisy, "reverse perturbed by 1e-3");
    let silent = tracr::transform::perturb(&compiled, 0.0, 5).unwrap();
    assert_eq!(
        silent.weights, compiled.weights,
        "zero noise changed the weights"
    );
    let task = Task::from_tracr_model("reverse", &compiled.to_json(), 3, 0).unwrap();
    assert_eq!(
        decodings(&noisy, &task.clean).unwrap(),
        decodings(&compiled, &task.clean).unwrap(),
        "noise of 1e-3 changed a decoded output of reverse"
    );
}

#[test]
fn bad_widths_and_noise_sizes_are_refused() {
    let compiled = compile_library(&program("reverse")).unwrap();
    let d = compiled.config.d_model;
    for dims in [0, d, d + 5] {
        let error = check_dims(&compiled, dims).expect_err("a bad width was accepted");
        let text = error.to_string();
        assert!(
            text.contains("--compress") && text.contains(&format!("d_model - 1 = {}", d - 1)),
            "width {dims}: {text}"
        );
    }
    for epsilon in [-1e-3, f64::NAN, f64::INFINITY] {
        let error = tracr::transform::perturb(&compiled, epsilon, 0)
            .expect_err("a bad noise size was accepted");
        let text = error.to_string();
        assert!(
            text.contains("--perturb") && text.contains(">= 0"),
            "eps {epsilon}: {text}"
        );
    }
}

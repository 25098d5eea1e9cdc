//! `Transformer::from_compiled`, `Vocabulary::from_compiled` and `Task::from_compiled` (the report's
//! and every command's path from a compiled model, without a JSON tree) give exactly what the JSON
//! path gives (`to_json` then `from_tracr_json`), for every library program as compiled, with
//! Tracr's bugs fixed, rotated, compressed and perturbed.

use edgeprune::model::Transformer;
use edgeprune::task::{Task, Vocabulary};
use ndarray::Array2;
use tracr::model::{CompiledModel, ResidualMapKind};

/// Every form of `model` the commands read: as compiled, rotated, compressed (a fixed random
/// projection stands in for a trained one: the conversion does not care how W was found) and
/// perturbed.
fn forms(model: &CompiledModel) -> Vec<(&'static str, CompiledModel)> {
    let d = model.config.d_model;
    let dims = d.saturating_sub(1).max(1);
    let projection = Array2::from_shape_fn((d, dims), |(i, j)| {
        ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5
    });
    vec![
        ("compiled", model.clone()),
        (
            "rotated",
            tracr::transform::rotate(model, 3).expect("rotates"),
        ),
        (
            "compressed",
            tracr::transform::map_residual(
                model,
                &projection,
                ResidualMapKind::Compression,
                "compressed",
            ),
        ),
        (
            "perturbed",
            tracr::transform::perturb(model, 1e-3, 5).expect("perturbs"),
        ),
    ]
}

#[test]
fn every_library_model_converts_as_its_json_does() {
    let mut checked = 0;
    for program in tracr::library::registry() {
        let mut options = tracr::CompileOptions {
            causal: program.causal,
            ..tracr::CompileOptions::default()
        };
        for fix in [false, true] {
            options.fix_tracr_bugs = fix;
            let model = tracr::compile(
                &program.program,
                &program.vocab,
                program.max_seq_len,
                &options,
            )
            .expect("library programs compile");
            for (form, model) in forms(&model) {
                let what = format!("{} ({form}, fix_tracr_bugs {fix})", program.name);
                let json = model.to_json();
                let from_json = Transformer::from_tracr_json(&json).expect("JSON path reads");
                let direct = Transformer::from_compiled(&model).expect("direct path reads");
                assert!(from_json == direct, "{what}: the two transformers differ");
                assert_eq!(
                    Vocabulary::from_tracr_json(&json).expect("JSON vocabulary"),
                    Vocabulary::from_compiled(&model).expect("direct vocabulary"),
                    "{what}: vocabularies differ"
                );
                let length = program.max_seq_len.min(3);
                let a = Task::from_tracr_model(program.name, &json, length, 9).expect("JSON task");
                let b = Task::from_compiled(program.name, &model, length, 9).expect("direct task");
                assert_eq!(a.clean, b.clean, "{what}: clean inputs differ");
                assert_eq!(a.corrupted, b.corrupted, "{what}: corrupted inputs differ");
                assert!(a.model == b.model, "{what}: task models differ");
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        26 * 2 * 4,
        "every program in every form was checked"
    );
}

//! The streaming JSON writer (`tracr compile -o model.json`) writes exactly the bytes that
//! serialising the `serde_json::Value` tree of `CompiledModel::to_json` gives, for every library
//! program, and for rotated and perturbed models (which carry `residual_map` and `perturbation`):
//! the fast path changed no byte of the file format, and the fast reader and the safetensors file
//! give the transformed model back. The document less its weights, which the safetensors and
//! TransformerLens files keep in their metadata, is likewise written straight from the model and
//! must be `header_json()`'s text.

use tracr::formats::to_json_bytes;
use tracr::library::registry;

#[test]
fn streamed_json_is_byte_identical_to_the_value_tree_for_every_library_program() {
    let mut checked = 0;
    for program in registry() {
        let model = program
            .compile()
            .unwrap_or_else(|e| panic!("{}: {e}", program.name));
        assert_same_bytes(program.name, &model);
        checked += 1;
    }
    assert_eq!(checked, 26, "every library program");
}

#[test]
fn rotated_and_perturbed_models_stream_and_read_back_with_their_transform() {
    for name in ["reverse", "frac_prevs", "sort"] {
        let program = registry().into_iter().find(|p| p.name == name).unwrap();
        let model = program.compile().unwrap();
        let transformed = tracr::transform::apply(
            model,
            &tracr::transform::TransformOptions {
                rotate: Some(5),
                perturb: Some((1e-3, 2)),
                compress: None,
            },
        )
        .unwrap();
        assert!(transformed.residual_map.is_some() && transformed.perturbation.is_some());
        assert_same_bytes(name, &transformed);
        // All three entries that follow the weights: the header moves the last into their place.
        let mut fixed = transformed.clone();
        fixed
            .tracr_fixes
            .push(tracr::fixes::TracrFix::KeySizeFitsOv);
        assert_same_bytes(name, &fixed);
        let mut rotated_only = fixed.clone();
        rotated_only.perturbation = None;
        rotated_only.tracr_fixes.clear();
        assert_same_bytes(name, &rotated_only);
        let bytes = to_json_bytes(&transformed);
        let back = tracr::formats::json::from_json_bytes(&bytes).unwrap();
        assert_eq!(
            back.residual_map, transformed.residual_map,
            "{name}: JSON residual_map"
        );
        assert_eq!(
            back.perturbation, transformed.perturbation,
            "{name}: JSON perturbation"
        );
        let st = tracr::formats::safetensors::to_safetensors_bytes(&transformed).unwrap();
        let back = tracr::formats::safetensors::from_safetensors_bytes(&st).unwrap();
        assert!(
            to_json_bytes(&back) == bytes,
            "{name}: the safetensors file does not give the transformed model back"
        );
    }
}

fn assert_same_bytes(name: &str, model: &tracr::model::CompiledModel) {
    assert_eq!(
        tracr::formats::json::header_json_text(model),
        model.header_json().to_string(),
        "{name}: the header text differs from the header's value tree"
    );
    let mut tree = serde_json::to_string(&model.to_json()).unwrap();
    tree.push('\n');
    let streamed = to_json_bytes(model);
    if streamed != tree.as_bytes() {
        let at = streamed
            .iter()
            .zip(tree.as_bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(streamed.len().min(tree.len()));
        let window = |bytes: &[u8]| {
            String::from_utf8_lossy(&bytes[at.saturating_sub(60)..(at + 60).min(bytes.len())])
                .into_owned()
        };
        panic!(
            "{}: streamed JSON ({} bytes) differs from the value tree's ({} bytes) at byte {at}:\n\
             streamed: …{}…\n    tree: …{}…",
            name,
            streamed.len(),
            tree.len(),
            window(&streamed),
            window(tree.as_bytes())
        );
    }
}

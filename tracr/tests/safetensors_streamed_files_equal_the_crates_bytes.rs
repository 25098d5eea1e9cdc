//! `tracr compile -o FILE.safetensors` streams the file (the `safetensors` crate's header, then each
//! tensor's bytes from the model's memory) instead of taking the whole file from the crate's
//! `serialize`. The streamed bytes must be the crate's own: for every library program, both
//! dtypes, a rotated and a perturbed model, and through the atomic file writer.

use tracr::formats::safetensors::{
    to_safetensors_bytes_as, write_safetensors_as, write_safetensors_to, TensorDtype,
};
use tracr::library::registry;
use tracr::transform::{apply, TransformOptions};

fn streamed(model: &tracr::model::CompiledModel, dtype: TensorDtype) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_safetensors_to(model, dtype, &mut bytes).expect("streams");
    bytes
}

#[test]
fn streamed_bytes_are_the_crates_serialize_bytes_for_every_library_program() {
    let mut checked = 0;
    for program in registry() {
        let model = program.compile().expect("library programs compile");
        for dtype in [TensorDtype::F64, TensorDtype::F32] {
            let whole = to_safetensors_bytes_as(&model, dtype).expect("serialises");
            let stream = streamed(&model, dtype);
            assert!(
                whole == stream,
                "{} {dtype:?}: streamed {} bytes differ from the crate's {} bytes",
                program.name,
                stream.len(),
                whole.len()
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 26, "every library program");
}

#[test]
fn streamed_bytes_match_for_rotated_and_perturbed_models() {
    let model = tracr::library::by_name("sort_freq")
        .expect("in the registry")
        .compile()
        .expect("compiles");
    for options in [
        TransformOptions {
            rotate: Some(3),
            perturb: None,
            compress: None,
        },
        TransformOptions {
            rotate: None,
            perturb: Some((0.01, 7)),
            compress: None,
        },
    ] {
        let transformed = apply(model.clone(), &options).expect("transforms");
        for dtype in [TensorDtype::F64, TensorDtype::F32] {
            assert!(
                to_safetensors_bytes_as(&transformed, dtype).unwrap()
                    == streamed(&transformed, dtype),
                "{options:?} {dtype:?}"
            );
        }
    }
}

#[test]
fn the_file_writer_writes_the_streamed_bytes_and_nothing_on_a_refused_tensor() {
    let dir = std::env::temp_dir().join(format!("tracr-streamed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut model = tracr::library::by_name("reverse")
        .unwrap()
        .compile()
        .unwrap();
    let path = dir.join("m.safetensors");
    for dtype in [TensorDtype::F64, TensorDtype::F32] {
        // Twice: the second replaces the first file.
        for _ in 0..2 {
            write_safetensors_as(&model, &path, dtype).expect("writes");
            assert!(
                std::fs::read(&path).unwrap() == to_safetensors_bytes_as(&model, dtype).unwrap(),
                "{dtype:?}"
            );
        }
    }
    // A weight float32 cannot hold is refused before the file is touched: the f32 file written
    // last stays as it was, and no temporary is left.
    let before = std::fs::read(&path).unwrap();
    model.weights[0].attn.query[[0, 0]] = 1e39;
    let error = write_safetensors_as(&model, &path, TensorDtype::F32).unwrap_err();
    assert!(error.to_string().contains("--dtype f64"), "{error}");
    assert!(std::fs::read(&path).unwrap() == before);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.safetensors")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `tracr compile --dtype f32` writes a safetensors file of float32 tensors: it reads back as the
//! compiled model with every weight rounded to float32 (for every library program), takes about
//! half the bytes of the float64 file, and refuses a weight float32 cannot hold. `--dtype` with
//! another format is a usage error before any work.

mod cli_support;
mod f32_support;

use cli_support::{assert_fails_with, scratch_dir, stderr, stdout, tracr};
use f32_support::rounded_to_f32;
use tracr::formats::safetensors::{from_safetensors_bytes, to_safetensors_bytes_as};
use tracr::formats::{to_json_bytes, TensorDtype};
use tracr::library::registry;

#[test]
fn every_library_program_reads_back_rounded_to_float32_in_about_half_the_bytes() {
    let mut checked = 0;
    for program in registry() {
        let model = program
            .compile()
            .unwrap_or_else(|e| panic!("{}: {e}", program.name));
        let f32_bytes = to_safetensors_bytes_as(&model, TensorDtype::F32).unwrap();
        let f64_bytes = to_safetensors_bytes_as(&model, TensorDtype::F64).unwrap();
        let back = from_safetensors_bytes(&f32_bytes)
            .unwrap_or_else(|e| panic!("{}: the f32 file: {e}", program.name));
        assert!(
            to_json_bytes(&back) == to_json_bytes(&rounded_to_f32(&model)),
            "{}: the f32 file does not read back as the model rounded to float32",
            program.name
        );
        // The tensors halve; the metadata (labels, layers) is the same in both.
        assert!(
            f32_bytes.len() < f64_bytes.len(),
            "{}: f32 file {} bytes, f64 file {} bytes",
            program.name,
            f32_bytes.len(),
            f64_bytes.len()
        );
        checked += 1;
    }
    assert_eq!(checked, 26, "every library program");
    let big = registry()
        .into_iter()
        .find(|p| p.name == "shuffle_dyck2")
        .unwrap()
        .compile()
        .unwrap();
    let (f32_len, f64_len) = (
        to_safetensors_bytes_as(&big, TensorDtype::F32)
            .unwrap()
            .len(),
        to_safetensors_bytes_as(&big, TensorDtype::F64)
            .unwrap()
            .len(),
    );
    // Weights are nearly all of the largest file's bytes: float32 halves it, give or take the
    // metadata's few percent.
    assert!(
        (0.45..0.6).contains(&(f32_len as f64 / f64_len as f64)),
        "shuffle_dyck2: f32 file {f32_len} bytes, f64 file {f64_len} bytes"
    );
}

#[test]
fn a_weight_beyond_float32_range_is_refused_naming_the_tensor() {
    let mut model = registry()
        .into_iter()
        .find(|p| p.name == "reverse")
        .unwrap()
        .compile()
        .unwrap();
    model.weights[0].attn.query[[0, 0]] = 1e39;
    let error = to_safetensors_bytes_as(&model, TensorDtype::F32).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("transformer/layer_0/attn/query/w")
            && text.contains("1000000000000000000000000000000000000000")
            && text.contains("--dtype f64"),
        "{text}"
    );
    assert!(to_safetensors_bytes_as(&model, TensorDtype::F64).is_ok());
}

#[test]
fn compile_dtype_f32_writes_a_file_run_reads_and_other_formats_refuse_it() {
    let dir = scratch_dir("dtype-f32");
    let path = dir.join("m.safetensors");
    let path = path.to_str().unwrap();
    let wrote = tracr(&["compile", "--lib", "reverse", "--dtype", "f32", "-o", path]);
    assert!(wrote.status.success(), "{}", stderr(&wrote));
    let ran = tracr(&["run", path, "--input", "a,b,c"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert_eq!(
        stdout(&ran).trim(),
        r#"["BOS","c","b","a"]"#,
        "reverse of a,b,c"
    );

    for (name, wanted) in [("m.json", "json"), ("tl", "transformerlens")] {
        let out = dir.join(name);
        let mut args = vec!["compile", "--lib", "reverse", "--dtype", "f64"];
        if name == "tl" {
            args.extend(["--format", "transformerlens"]);
        }
        args.extend(["-o", out.to_str().unwrap()]);
        let refused = tracr(&args);
        assert_fails_with(name, &refused, &["--dtype", "safetensors", wanted]);
        assert!(!out.exists(), "{name}: written although refused");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

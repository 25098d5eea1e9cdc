//! Every library program compiles to Tracr's model: config, residual labels, weights, provenance,
//! decoded outputs and traces all match the fixture made by the real Tracr.

mod common;

use serde_json::Value as Json;
use tracr::craft::json::value_from_json;
use tracr::{compile, CompileOptions, CompiledModel};

fn compiled(name: &str, fixture: &Json) -> CompiledModel {
    let entry = tracr::library::by_name(name)
        .unwrap_or_else(|| panic!("no library program named after fixture {name}"));
    let args = &fixture["compile_args"];
    let options = CompileOptions {
        causal: args["causal"].as_bool().unwrap(),
        bos: args["compiler_bos"].as_str().unwrap().into(),
        pad: args["compiler_pad"].as_str().unwrap().into(),
        mlp_exactness: args["mlp_exactness"].as_f64().unwrap(),
        fix_tracr_bugs: false,
    };
    let vocab: Vec<_> = args["vocab"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| value_from_json(v).unwrap())
        .collect();
    let max_seq_len = args["max_seq_len"].as_u64().unwrap() as usize;
    assert_eq!(entry.causal, options.causal, "{name}: registry causal flag");
    compile(&entry.program, &vocab, max_seq_len, &options)
        .unwrap_or_else(|e| panic!("{name}: compile failed: {e}"))
}

fn for_each_fixture(check: impl Fn(&str, &Json, &CompiledModel, &CompiledModel)) {
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let ours = compiled(&name, &fixture);
        let theirs = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
        check(&name, &fixture, &ours, &theirs);
    }
}

#[test]
fn config_equals_tracr() {
    for_each_fixture(|name, _, ours, theirs| {
        assert_eq!(ours.config, theirs.config, "{name}: config");
    });
}

#[test]
fn residual_labels_equal_tracr_in_order() {
    for_each_fixture(|name, _, ours, theirs| {
        assert_eq!(ours.residual_labels, theirs.residual_labels, "{name}");
        assert_eq!(
            ours.output_residual_indices, theirs.output_residual_indices,
            "{name}"
        );
        assert_eq!(ours.input_encoding, theirs.input_encoding, "{name}");
        assert_eq!(ours.output_encoding, theirs.output_encoding, "{name}");
    });
}

#[test]
fn layer_provenance_equals_tracr() {
    for_each_fixture(|name, _, ours, theirs| {
        assert_eq!(
            ours.layers.len(),
            theirs.layers.len(),
            "{name}: number of half-layers"
        );
        for (a, b) in ours.layers.iter().zip(&theirs.layers) {
            assert_eq!(a, b, "{name}: {}", b.module);
        }
    });
}

/// The fixtures hold float32 weights; ours are f64, and rounding them to f32 must give the same bits.
#[test]
fn every_weight_equals_tracr_after_rounding_to_f32() {
    for_each_fixture(|name, _, ours, theirs| {
        let ours_json = ours.to_json();
        let theirs_json = theirs.to_json();
        let (ours_w, theirs_w) = (&ours_json["weights"], &theirs_json["weights"]);
        let keys: Vec<&String> = theirs_w.as_object().unwrap().keys().collect();
        assert_eq!(
            ours_w.as_object().unwrap().keys().collect::<Vec<_>>(),
            keys,
            "{name}: parameter names"
        );
        for key in keys {
            for (param, theirs_p) in theirs_w[key].as_object().unwrap() {
                let a: Vec<f64> = flatten(&ours_w[key][param]);
                let b: Vec<f64> = flatten(theirs_p);
                assert_eq!(a.len(), b.len(), "{name}: {key}/{param} size");
                for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        (*x as f32).to_bits() == (*y as f32).to_bits(),
                        "{name}: {key}/{param}[{i}]: ours {x}, Tracr {y}"
                    );
                }
            }
        }
    });
}

fn flatten(json: &Json) -> Vec<f64> {
    match json {
        Json::Array(items) => items.iter().flat_map(flatten).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

#[test]
fn decoded_outputs_equal_tracr_on_every_fixture_input() {
    for_each_fixture(|name, fixture, ours, _| {
        for input in fixture["inputs"].as_array().unwrap() {
            let tokens: Vec<_> = input["model_input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| value_from_json(v).unwrap())
                .collect();
            let expected: Vec<_> = input["model_decoded"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| value_from_json(v).unwrap())
                .collect();
            let got = ours.apply(&tokens).unwrap().decoded;
            if ours.categorical_output {
                assert_eq!(got, expected, "{name}: input {tokens:?}");
            } else {
                for (pos, (a, b)) in got.iter().zip(&expected).enumerate().skip(1) {
                    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                    // float32 (Tracr) vs f64 (ours): 1e-5, relative above magnitude 1.
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                        "{name}: input {tokens:?} position {pos}: ours {a}, Tracr {b}"
                    );
                }
            }
        }
    });
}

#[test]
fn residual_traces_equal_tracr_within_float32_rounding() {
    for_each_fixture(|name, fixture, ours, _| common::assert_traces_match(name, fixture, ours));
}

#[test]
fn known_divergences_reproduce_tracr_not_rasp() {
    for name in [
        "known_bug_cat_to_num_negative",
        "known_limit_map_after_mean",
    ] {
        let fixture = common::load_fixture(name);
        assert_eq!(fixture["expected_model_matches_rasp"], false, "{name}");
        let ours = compiled(name, &fixture);
        let mut diverged = 0;
        for input in fixture["inputs"].as_array().unwrap() {
            let tokens: Vec<_> = input["model_input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| value_from_json(v).unwrap())
                .collect();
            let got = ours.apply(&tokens).unwrap().decoded;
            let model: Vec<f64> = flatten(&Json::Array(
                input["model_decoded"].as_array().unwrap()[1..].to_vec(),
            ));
            let rasp: Vec<f64> = flatten(&input["rasp_output"]);
            for (pos, ((a, m), r)) in got[1..].iter().zip(&model).zip(&rasp).enumerate() {
                let a = a.as_f64().unwrap();
                assert!(
                    (a - m).abs() <= 1e-5 * m.abs().max(1.0),
                    "{name}: input {tokens:?} position {pos}: ours {a}, Tracr's model {m}"
                );
                if (a - r).abs() > 1e-3 {
                    diverged += 1;
                }
            }
        }
        assert!(diverged > 0, "{name}: the model never diverged from RASP");
    }
}

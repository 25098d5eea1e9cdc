//! Each fixture's model, loaded from JSON, decodes every fixture input as Tracr did and reproduces its traces.

mod common;

use tracr::model::CompiledModel;
use tracr::value::Value;

#[test]
fn model_json_round_trips_exactly() {
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
        assert!(
            model.to_json() == common::fixture_model(&fixture),
            "{name}: to_json(from_json(model)) differs from the fixture's model"
        );
    }
}

#[test]
fn decoded_outputs_equal_tracr_on_every_fixture_input() {
    let mut checked = 0;
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
        for input in fixture["inputs"].as_array().unwrap() {
            let tokens = common::values(&input["model_input"]);
            let expected = common::values(&input["model_decoded"]);
            let ours = model.apply(&tokens).unwrap();
            if model.categorical_output {
                assert_eq!(ours.decoded, expected, "{name}: input {tokens:?}");
            } else {
                // Numerical outputs: float32 (Tracr) vs f64 (ours) on the same weights.
                for (pos, (a, b)) in ours.decoded.iter().zip(&expected).enumerate().skip(1) {
                    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                    assert!(
                        common::close(a, b),
                        "{name}: input {tokens:?} position {pos}: ours {a}, Tracr {b}"
                    );
                }
                assert_eq!(ours.decoded[0], expected[0], "{name}: BOS position");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 26 * 30, "every fixture has 30 inputs");
}

#[test]
fn residual_traces_equal_tracr_within_float32_rounding() {
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
        common::assert_traces_match(&name, &fixture, &model);
    }
}

#[test]
fn inputs_the_model_cannot_encode_are_typed_errors() {
    let fixture = common::load_fixture("reverse");
    let model = CompiledModel::from_json(&common::fixture_model(&fixture)).unwrap();
    let bos = Value::from("BOS");
    for bad in [
        vec![Value::from("a")],
        vec![bos.clone(), Value::from("z")],
        vec![bos.clone(); 7],
    ] {
        assert!(
            matches!(model.apply(&bad), Err(tracr::error::Error::Input(_))),
            "input {bad:?} should be rejected"
        );
    }
}

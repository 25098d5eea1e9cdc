//! The fast JSON model reader (weights scanned by hand, `tracr run`'s load) gives bit for bit the
//! model the `serde_json::Value` reader gives, on every library program, transformed models, pretty
//! printed files and numbers in every JSON spelling; what it does not take, the reader's fallback
//! reads like the `Value` reader, and a malformed or out-of-range number is an error either way.

use tracr::formats::json::{from_json_bytes, from_json_bytes_fast};
use tracr::formats::to_json_bytes;
use tracr::library::registry;
use tracr::model::CompiledModel;

/// The model the `Value` reader makes of `text`.
fn value_reader(text: &[u8]) -> tracr::error::Result<CompiledModel> {
    let json: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| tracr::error::Error::Json(format!("not JSON: {e}")))?;
    CompiledModel::from_json(&json)
}

/// Both readers give the same model: compared through the writer, whose shortest round-trip
/// numbers tell every two f64 apart (`-0.0` included).
fn assert_fast_reads_like_value(what: &str, text: &[u8]) {
    let fast = from_json_bytes_fast(text)
        .unwrap_or_else(|e| panic!("{what}: the fast reader refused the document: {e}"));
    let slow = value_reader(text).unwrap_or_else(|e| panic!("{what}: the Value reader: {e}"));
    let (fast, slow) = (to_json_bytes(&fast), to_json_bytes(&slow));
    if fast != slow {
        let at = fast
            .iter()
            .zip(&slow)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let window = |b: &[u8]| {
            String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 40).min(b.len())]).into_owned()
        };
        panic!(
            "{what}: the readers differ at byte {at} of the rewritten model:\n fast: …{}…\nValue: …{}…",
            window(&fast),
            window(&slow)
        );
    }
}

fn small_model() -> CompiledModel {
    let program = registry()
        .into_iter()
        .find(|p| p.name == "reverse")
        .unwrap();
    program.compile().unwrap()
}

/// `text` with the first weight of `reverse`'s first query matrix spelt `number`.
fn with_first_query_weight(number: &str) -> Vec<u8> {
    let text = String::from_utf8(to_json_bytes(&small_model())).unwrap();
    let key = "\"transformer/layer_0/attn/query\":{\"b\":[";
    let at = text.find(key).expect("reverse has a layer-0 query") + key.len();
    let w = at + text[at..].find("\"w\":[[").unwrap() + "\"w\":[[".len();
    let end = w + text[w..].find([',', ']']).unwrap();
    format!("{}{number}{}", &text[..w], &text[end..]).into_bytes()
}

#[test]
fn every_library_program_reads_the_same_through_both_readers() {
    let mut checked = 0;
    for program in registry() {
        let model = program
            .compile()
            .unwrap_or_else(|e| panic!("{}: {e}", program.name));
        assert_fast_reads_like_value(program.name, &to_json_bytes(&model));
        checked += 1;
    }
    assert_eq!(checked, 26, "every library program");
}

#[test]
fn rotated_and_perturbed_weights_read_the_same_through_both_readers() {
    // Rotation and noise make nearly every weight a 17-digit number, not 0.0.
    for name in ["reverse", "sort", "shuffle_dyck"] {
        let program = registry().into_iter().find(|p| p.name == name).unwrap();
        let model = tracr::transform::apply(
            program.compile().unwrap(),
            &tracr::transform::TransformOptions {
                rotate: Some(3),
                perturb: Some((1e-3, 7)),
                compress: None,
            },
        )
        .unwrap();
        assert_fast_reads_like_value(name, &to_json_bytes(&model));
    }
}

#[test]
fn pretty_printed_models_read_the_same_through_both_readers() {
    for name in ["reverse", "hist", "frac_prevs"] {
        let program = registry().into_iter().find(|p| p.name == name).unwrap();
        let pretty = serde_json::to_vec_pretty(&program.compile().unwrap().to_json()).unwrap();
        assert_fast_reads_like_value(name, &pretty);
    }
}

#[test]
fn every_json_spelling_of_a_number_reads_the_same_through_both_readers() {
    for number in [
        "1e-3",
        "-2.5E+2",
        "3E2",
        "7",
        "-12",
        "0",
        "-0.0",
        "9007199254740993",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "2.2250738585072011e-308",
        "0.1000000000000000055511151231257827021181583404541015625",
        " 0.5 ",
    ] {
        assert_fast_reads_like_value(number, &with_first_query_weight(number));
    }
}

#[test]
fn what_the_fast_reader_refuses_is_read_by_the_fallback_as_the_value_reader_reads_it() {
    // `-0` (an integer zero with a sign) is left to serde_json's own rule.
    let text = with_first_query_weight("-0");
    assert!(
        from_json_bytes_fast(&text).is_err(),
        "-0 took the fast path"
    );
    let read = to_json_bytes(&from_json_bytes(&text).unwrap());
    let expected = to_json_bytes(&value_reader(&text).unwrap());
    assert!(
        read == expected,
        "-0: the fallback and the Value reader differ"
    );
}

#[test]
fn a_malformed_or_out_of_range_number_is_an_error_for_both_readers() {
    for number in [
        "1e400", "-1e400", "1.", "+1", ".5", "01", "1e", "--1", "NaN", "Infinity", "0x10", "1_0",
    ] {
        let text = with_first_query_weight(number);
        assert!(
            from_json_bytes_fast(&text).is_err(),
            "`{number}`: the fast reader accepted it"
        );
        assert!(
            from_json_bytes(&text).is_err(),
            "`{number}`: the reader accepted it"
        );
    }
}

//! Programs Tracr cannot compile give typed errors naming the cause, never a panic.

use tracr::error::Error;
use tracr::rasp::{self, Comparison, MapFn};
use tracr::value::Value;
use tracr::{compile, CompileOptions};

fn letters(s: &str) -> Vec<Value> {
    s.chars().map(|c| Value::Str(c.to_string())).collect()
}

#[test]
fn bos_or_pad_in_the_vocabulary_is_rejected() {
    let program = tracr::library::make_length();
    let mut vocab = letters("ab");
    vocab.push(Value::from("BOS"));
    let err = compile(&program, &vocab, 4, &CompileOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::ReservedToken { role: "BOS", .. }),
        "{err}"
    );
    let mut vocab = letters("ab");
    vocab.push(Value::from("compiler_pad"));
    let err = compile(&program, &vocab, 4, &CompileOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::ReservedToken { role: "PAD", .. }),
        "{err}"
    );
}

/// Tracr §8.1: `shift_by(1, tokens)` over ten tokens and length 3 needs an OV wider than key_size;
/// Tracr crashes with a broadcast error, we say why.
#[test]
fn an_aggregate_wider_than_the_key_size_is_a_typed_error() {
    let program = tracr::library::shift_by(1, &rasp::tokens());
    let err = compile(
        &program,
        &letters("abcdefghij"),
        3,
        &CompileOptions::default(),
    )
    .unwrap_err();
    match err {
        Error::KeySizeTooSmall {
            value_width,
            key_size,
            ..
        } => assert!(value_width > key_size, "{value_width} <= {key_size}"),
        other => panic!("expected KeySizeTooSmall, got {other}"),
    }
}

#[test]
fn a_numerical_mean_of_non_binary_values_is_unsupported() {
    let doubled = rasp::numerical(&rasp::map(
        MapFn::infallible(|_| Value::Int(2)),
        &rasp::tokens(),
    ));
    let all = rasp::select(&rasp::tokens(), &rasp::tokens(), Comparison::True);
    let program = rasp::numerical(&rasp::aggregate_with_default(&all, &doubled, 0));
    let err = compile(&program, &letters("ab"), 3, &CompileOptions::default()).unwrap_err();
    match err {
        Error::Unsupported { reason, .. } => assert!(reason.contains("binary"), "{reason}"),
        other => panic!("expected Unsupported, got {other}"),
    }
}

#[test]
fn a_program_without_tokens_is_unsupported() {
    let all = rasp::select(&rasp::indices(), &rasp::indices(), Comparison::True);
    let program = rasp::selector_width(&all);
    let err = compile(&program, &letters("ab"), 3, &CompileOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}

#[test]
fn the_length_primitive_is_unsupported() {
    let program = rasp::length_primitive();
    let err = compile(&program, &letters("ab"), 3, &CompileOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}

#[test]
fn a_zero_max_seq_len_is_an_invalid_argument() {
    let program = tracr::library::make_length();
    let err = compile(&program, &letters("ab"), 0, &CompileOptions::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}

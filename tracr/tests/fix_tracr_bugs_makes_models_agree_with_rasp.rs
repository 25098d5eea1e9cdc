//! `--fix-tracr-bugs`: for each of Tracr's four known bugs, a program whose Tracr-compiled model
//! disagrees with the RASP evaluator on some input (or does not compile), while the model compiled
//! with the fixes agrees with it on every input of the program's input space (every sequence over
//! the vocabulary of every length from 1 to max_seq_len). The fixes are recorded in the model and
//! survive a model file; a program none of them touches compiles exactly as Tracr compiles it.

use tracr::error::Error;
use tracr::fixes::TracrFix;
use tracr::library::{make_length, shift_by};
use tracr::rasp::{
    self, aggregate, aggregate_with_default, categorical, indices, map, map_no_simplify, numerical,
    select, selector_width, tokens, Comparison, MapFn, PredicateFn, SOp,
};
use tracr::value::Value;
use tracr::{compile, CompileOptions, CompiledModel};

/// Tracr's own tolerance for numerical outputs (rasp_to_transformer_integration_test): soft
/// attention leaves a little weight off the selected positions.
const ATOL: f64 = 1e-7;
/// As above.
const RTOL: f64 = 0.005;

fn options(fix_tracr_bugs: bool) -> CompileOptions {
    CompileOptions {
        fix_tracr_bugs,
        ..CompileOptions::default()
    }
}

/// Every sequence over `vocab` of length 1 to `max_seq_len`.
fn input_space(vocab: &[Value], max_seq_len: usize) -> Vec<Vec<Value>> {
    let mut all = Vec::new();
    let mut layer: Vec<Vec<Value>> = vec![Vec::new()];
    for _ in 0..max_seq_len {
        layer = layer
            .iter()
            .flat_map(|prefix| {
                vocab.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
        all.extend(layer.iter().cloned());
    }
    all
}

/// RASP's value and the model's agree: equal, or (numbers) within Tracr's tolerance.
fn agree(model: &Value, rasp: &Value) -> bool {
    match (model.as_f64(), rasp.as_f64()) {
        (Some(m), Some(r)) => (m - r).abs() <= ATOL + RTOL * r.abs(),
        _ => model == rasp,
    }
}

/// The inputs (with the model's and RASP's outputs) on which the model disagrees with RASP.
type Disagreement = (Vec<Value>, Vec<Value>, Vec<Value>);

fn disagreements(
    model: &CompiledModel,
    program: &SOp,
    vocab: &[Value],
    max_seq_len: usize,
) -> Vec<Disagreement> {
    let mut out = Vec::new();
    for input in input_space(vocab, max_seq_len) {
        let expected = rasp::evaluate(program, &input, false)
            .unwrap_or_else(|e| panic!("RASP evaluates {input:?}: {e}"));
        let decoded = model
            .apply_without_bos(&input)
            .unwrap_or_else(|e| panic!("the model runs on {input:?}: {e}"))
            .decoded[1..]
            .to_vec();
        let ok = decoded.len() == expected.len()
            && decoded.iter().zip(&expected).all(|(m, r)| agree(m, r));
        if !ok {
            out.push((input, decoded, expected));
        }
    }
    out
}

/// Compiles with and without the fixes; asserts Tracr's model is wrong on some input (or, with
/// `tracr_fails`, that Tracr's compile fails) and the fixed one right on every input.
fn check_fixed(
    program: &SOp,
    vocab: &[Value],
    max_seq_len: usize,
    fix: TracrFix,
    tracr_fails: impl Fn(&Error) -> bool,
) -> CompiledModel {
    match compile(program, vocab, max_seq_len, &options(false)) {
        Ok(tracr_model) => {
            assert!(
                tracr_model.tracr_fixes.is_empty(),
                "without the flag no fix is recorded, got {:?}",
                tracr_model.tracr_fixes
            );
            let wrong = disagreements(&tracr_model, program, vocab, max_seq_len);
            assert!(
                !wrong.is_empty(),
                "{fix}: Tracr's model agrees with RASP on every input, so the test shows no bug"
            );
        }
        Err(e) => assert!(tracr_fails(&e), "{fix}: Tracr's compile failed with {e}"),
    }
    let fixed = compile(program, vocab, max_seq_len, &options(true))
        .unwrap_or_else(|e| panic!("{fix}: the fixed compile fails: {e}"));
    assert!(
        fixed.tracr_fixes.contains(&fix),
        "{fix} is not recorded among {:?}",
        fixed.tracr_fixes
    );
    let wrong = disagreements(&fixed, program, vocab, max_seq_len);
    let count = input_space(vocab, max_seq_len).len();
    assert!(
        wrong.is_empty(),
        "{fix}: the fixed model disagrees with RASP on {} of {count} inputs, first (input, model, RASP): {:?}",
        wrong.len(),
        wrong.first()
    );
    fixed
}

fn no_error(_: &Error) -> bool {
    false
}

fn ints(xs: &[i64]) -> Vec<Value> {
    xs.iter().map(|&i| Value::Int(i)).collect()
}

/// google-deepmind/tracr issue 25, its own program: a categorical Aggregate that selects nothing is
/// None in RASP, and Tracr's model decodes it as an output value.
#[test]
fn aggregate_none_default_decodes_as_none() {
    let sel = select(&indices(), &tokens(), Comparison::Eq);
    let inner = aggregate(&sel, &indices()).named("inner");
    let program = aggregate(&sel, &inner).named("outer");
    let vocab = ints(&[1, 2, 3, 4]);
    let fixed = check_fixed(
        &program,
        &vocab,
        5,
        TracrFix::AggregateNoneDecodes,
        no_error,
    );
    // The example, with RASP's output as the issue quotes it.
    let decoded = fixed
        .apply_without_bos(&ints(&[1, 2, 3, 4]))
        .unwrap()
        .decoded;
    assert_eq!(
        decoded[1..],
        [Value::Int(2), Value::Int(3), Value::None, Value::None],
        "issue 25's input [1, 2, 3, 4]"
    );
}

/// google-deepmind/tracr PR 14's program: a SelectorWidth reaching 10 decodes as 9 in Tracr.
#[test]
fn selector_width_is_exact_up_to_max_seq_len() {
    let program = categorical(&selector_width(&select(
        &tokens(),
        &tokens(),
        Comparison::Leq,
    )))
    .named("SO");
    let vocab = vec![Value::from("t0"), Value::from("t1")];
    check_fixed(&program, &vocab, 10, TracrFix::SelectorWidthSlope, no_error);
}

/// The same bug with a numerical output at a longer length (`length` of up to 24 tokens).
#[test]
fn numerical_selector_width_is_exact_on_long_inputs() {
    let program = numerical(&make_length()).named("length");
    let vocab = vec![Value::from("a")];
    check_fixed(&program, &vocab, 24, TracrFix::SelectorWidthSlope, no_error);
}

/// `shift_by(1, tokens)` over 10 tokens: W_ov (10 wide) is wider than W_qk, so Tracr cannot assemble
/// it (the port's typed error); fixed, key_size fits it. Position 0 selects nothing (None), so the
/// None decoding is needed too.
#[test]
fn key_size_fits_a_wide_value_space() {
    let program = shift_by(1, &tokens());
    let vocab = ints(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let fixed = check_fixed(&program, &vocab, 3, TracrFix::KeySizeFitsOv, |e| {
        matches!(e, Error::KeySizeTooSmall { .. })
    });
    let widest_ov = fixed
        .layers
        .iter()
        .filter_map(|m| match &m.contents {
            tracr::model::ModuleContents::Attention { heads, .. } => {
                heads.iter().map(|h| h.ov_dims[1]).max()
            }
            _ => None,
        })
        .max()
        .unwrap();
    assert_eq!(
        fixed.config.key_size, widest_ov,
        "key_size {} against the widest W_ov {widest_ov}",
        fixed.config.key_size
    );
}

/// The fixture `known_bug_cat_to_num_negative`: `numerical(Map(lambda x: -x, tokens))`.
#[test]
fn categorical_to_numerical_map_keeps_negative_values() {
    let program = numerical(&map(MapFn::new(Value::py_neg), &tokens())).named("neg");
    let vocab = ints(&[1, 2, 3]);
    check_fixed(&program, &vocab, 5, TracrFix::CatToNumNegative, no_error);
}

/// The selector of `shift_by(1, ...)`: each position reads the one before; position 0 reads nothing.
fn previous_position() -> rasp::Selector {
    let one = Value::Int(1);
    select(
        &indices(),
        &indices(),
        PredicateFn::new(move |k, q| Ok(*q == k.py_add(&one)?)),
    )
}

/// `numerical(Map(lambda t: t, tokens))`, then (not merged into it) `1 if x <= 2 else 0` through a
/// discretising MLP, whose bias writes f(1) = 1 at the BOS position too.
fn small_flag() -> SOp {
    let x = numerical(&map(MapFn::infallible(Value::clone), &tokens())).named("x");
    let flag = |x: &Value| Value::Int(i64::from(x.as_f64().is_some_and(|v| v <= 2.0)));
    numerical(&map_no_simplify(MapFn::infallible(flag), &x)).named("small")
}

/// A numerical mean that selects nothing (position 0) is 0 in RASP; Tracr's model attends to BOS and
/// reads the 1 a numerical Map's MLP wrote there.
#[test]
fn a_mean_over_nothing_reads_no_value_from_bos() {
    let program = numerical(&aggregate_with_default(
        &previous_position(),
        &small_flag(),
        0,
    ))
    .named("prev");
    check_fixed(
        &program,
        &ints(&[1, 2, 3]),
        4,
        TracrFix::BosSilentMaps,
        no_error,
    );
}

/// The categorical form: `shift_by(1, ...)` of a numerical-to-categorical Map is None at position 0
/// only if that Map's MLP is silent at BOS.
#[test]
fn a_categorical_aggregate_over_nothing_is_none_after_a_numerical_map() {
    let label = |x: &Value| {
        Value::from(if x.as_f64().is_some_and(|v| v >= 1.0) {
            "y"
        } else {
            "n"
        })
    };
    let flag = categorical(&map_no_simplify(MapFn::infallible(label), &small_flag())).named("yn");
    let program = aggregate(&previous_position(), &flag).named("prev");
    let fixed = check_fixed(
        &program,
        &ints(&[1, 2, 3]),
        4,
        TracrFix::BosSilentMaps,
        no_error,
    );
    assert!(
        fixed.tracr_fixes.contains(&TracrFix::AggregateNoneDecodes),
        "{:?}",
        fixed.tracr_fixes
    );
}

/// A program that none of the bugs touches compiles to the same model with and without the flag.
#[test]
fn untouched_programs_compile_as_tracr_does() {
    let program = numerical(&map(MapFn::infallible(Value::clone), &tokens())).named("x");
    let vocab = ints(&[1, 2, 3]);
    let tracr_model = compile(&program, &vocab, 4, &options(false)).unwrap();
    let fixed = compile(&program, &vocab, 4, &options(true)).unwrap();
    assert_eq!(fixed, tracr_model, "a positive cat->num Map needs no fix");
    assert!(
        fixed.to_json().get("tracr_fixes").is_none(),
        "nothing to record"
    );
}

/// The record of the fixes is written to the model file and read back (with the None decoding).
#[test]
fn the_fixes_survive_a_model_file() {
    let program = shift_by(1, &tokens());
    let vocab = ints(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let fixed = compile(&program, &vocab, 3, &options(true)).unwrap();
    let json = fixed.to_json();
    assert_eq!(
        json["tracr_fixes"]["applied"],
        serde_json::json!(["aggregate_none_decodes", "key_size_fits_ov"]),
        "{}",
        json["tracr_fixes"]
    );
    let read = CompiledModel::from_json(&json).unwrap();
    assert_eq!(read, fixed, "the model read back differs");
    let bytes = tracr::formats::safetensors::to_safetensors_bytes(&fixed).unwrap();
    let from_safetensors = tracr::formats::safetensors::from_safetensors_bytes(&bytes).unwrap();
    assert_eq!(
        from_safetensors.tracr_fixes, fixed.tracr_fixes,
        "the safetensors file's record"
    );
    let input = ints(&[4, 5, 6]);
    assert_eq!(
        read.apply_without_bos(&input).unwrap().decoded[1..],
        [Value::None, Value::Int(4), Value::Int(5)],
        "input {input:?}"
    );
}

/// A model file naming an unknown fix is a typed error that lists the known ones.
#[test]
fn an_unknown_fix_in_a_model_file_is_an_error() {
    let program = shift_by(1, &tokens());
    let vocab = ints(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let mut json = compile(&program, &vocab, 3, &options(true))
        .unwrap()
        .to_json();
    json["tracr_fixes"]["applied"] = serde_json::json!(["no_such_fix"]);
    let error = CompiledModel::from_json(&json).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, Error::Json(_)) && message.contains("key_size_fits_ov"),
        "{message}"
    );
}

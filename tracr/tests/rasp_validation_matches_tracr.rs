//! The validator rejects what Tracr's `validating` rejects, with Tracr's reasons, and accepts the
//! fixture programs (ported from `compiler/validating_test.py` and `UNSUPPORTED_TEST_CASES`).

mod rasp_support;

use rasp_support::fixtures::{fixture_names, load, to_strings, to_values};
use tracr::error::Error;
use tracr::graph::extract;
use tracr::library::by_name;
use tracr::rasp::validate::{
    check_vocab, ensure_compilable, static_validate, validate, Unsupported,
};
use tracr::rasp::{
    aggregate, aggregate_with_default, categorical, full, indices, linear_sequence_map, map,
    numerical, select, selector_and, selector_width, sequence_map, tokens, Comparison, MapFn, SOp,
    SeqMapFn,
};
use tracr::value::Value;

fn identity_map(sop: &SOp) -> SOp {
    map(MapFn::infallible(Value::clone), sop)
}

/// `validate(program, sorted(vocab))` with vocab {1, 2, 3}, as Tracr's test runs it.
fn issues(program: &SOp) -> Vec<Unsupported> {
    let graph = extract(program).unwrap();
    let xs = [Value::Int(1), Value::Int(2), Value::Int(3)];
    validate(&graph, Some(&xs)).unwrap()
}

fn assert_first_issue(case: &str, program: &SOp, label: &str, reason: &str) {
    let found = issues(program);
    let first = found
        .first()
        .unwrap_or_else(|| panic!("{case}: no issue found, want `{label}: {reason}`"));
    assert_eq!(
        (first.label.as_str(), first.reason.as_str()),
        (label, reason),
        "{case}: all issues {found:?}"
    );
}

fn select_all_tokens() -> tracr::rasp::Selector {
    select(&tokens(), &tokens(), Comparison::True)
}

#[test]
fn numerical_categorical_aggregate_is_rejected_for_its_encoding() {
    let program = aggregate(&select_all_tokens(), &numerical(&identity_map(&tokens())));
    assert_first_issue(
        "numerical_categorical_aggregate",
        &program,
        "aggregate_1",
        // Our words, the right way round (Tracr swaps the two and prints Python reprs).
        "an Aggregate's encoding must match the encoding of the SOp it aggregates: the input \
         `map_3` is numerical but the Aggregate is categorical; make both categorical or both \
         numerical",
    );
}

#[test]
fn categorical_numerical_aggregate_is_rejected_for_its_encoding() {
    let program = numerical(&aggregate(&select_all_tokens(), &tokens()));
    assert_first_issue(
        "categorical_numerical_aggregate",
        &program,
        "aggregate_1",
        "an Aggregate's encoding must match the encoding of the SOp it aggregates: the input \
         `tokens` is categorical but the Aggregate is numerical; make both categorical or both \
         numerical",
    );
}

#[test]
fn numerical_aggregate_of_non_binary_values_fails_dynamic_validation() {
    let program = numerical(&aggregate_with_default(
        &select_all_tokens(),
        &numerical(&identity_map(&tokens())),
        0,
    ));
    let graph = extract(&program).unwrap();
    assert!(
        static_validate(&graph).is_empty(),
        "statically fine in Tracr"
    );
    assert_first_issue(
        "numerical_numerical_aggregate",
        &program,
        "aggregate_1",
        "Numerical aggregate only supports binary inputs 0, 1. But got {1, 2, 3}.",
    );
}

#[test]
fn aggregate_with_not_none_default_is_rejected() {
    let program = numerical(&aggregate_with_default(
        &select(&indices(), &indices(), Comparison::Eq),
        &tokens(),
        1,
    ));
    // Tracr reports the first failing check of an expression: here the encoding mismatch.
    assert_first_issue(
        "aggregate_with_not_None_default",
        &program,
        "aggregate_1",
        "an Aggregate's encoding must match the encoding of the SOp it aggregates: the input \
         `tokens` is categorical but the Aggregate is numerical; make both categorical or both \
         numerical",
    );
    let numerical_input = numerical(&aggregate_with_default(
        &select(&indices(), &indices(), Comparison::Eq),
        &numerical(&identity_map(&tokens())),
        1,
    ));
    assert_first_issue(
        "numerical aggregate with default 1",
        &numerical_input,
        "aggregate_1",
        "Numerical aggregate only supports 0 as default value.",
    );
    let categorical_default = aggregate_with_default(
        &select(&indices(), &indices(), Comparison::Eq),
        &tokens(),
        1,
    );
    assert_first_issue(
        "categorical aggregate with default 1",
        &categorical_default,
        "aggregate_1",
        "Categorical aggregate only supports None as default value.",
    );
}

#[test]
fn numerical_selector_inputs_are_rejected() {
    let program = selector_width(&select(
        &numerical(&identity_map(&tokens())),
        &numerical(&identity_map(&tokens())),
        Comparison::Lt,
    ));
    assert_first_issue(
        "numerical_selector",
        &program,
        "select_2",
        "Select keys must be categorical.",
    );
    let numerical_queries = selector_width(&select(
        &tokens(),
        &numerical(&identity_map(&tokens())),
        Comparison::Lt,
    ));
    assert_first_issue(
        "numerical queries",
        &numerical_queries,
        "select_2",
        "Select queries must be categorical.",
    );
}

#[test]
fn numerical_sequence_map_is_rejected() {
    let program = numerical(&sequence_map(
        SeqMapFn::new(|x, y| x.py_add(y)),
        &numerical(&identity_map(&indices())),
        &numerical(&identity_map(&tokens())),
    ));
    assert_first_issue(
        "numerical_SequenceMap",
        &program,
        "sequence_map_1",
        "(Non-linear) SequenceMap only supports categorical inputs/outputs.",
    );
}

#[test]
fn categorical_linear_sequence_map_is_rejected() {
    let program = categorical(&linear_sequence_map(
        &categorical(&indices()),
        &categorical(&tokens()),
        1.0,
        1.0,
    ));
    assert_first_issue(
        "categorical_LinearSequenceMap",
        &program,
        "linear_sequence_map_1",
        "LinearSequenceMap only supports numerical inputs/outputs.",
    );
}

#[test]
fn numerical_tokens_and_indices_are_rejected() {
    assert_first_issue(
        "numerical_tokens",
        &numerical(&tokens()),
        "tokens",
        "tokens should always be categorical.",
    );
    // Tracr's message says "tokens" for indices too.
    assert_first_issue(
        "numerical_indices",
        &numerical(&indices()),
        "indices",
        "tokens should always be categorical.",
    );
}

#[test]
fn categorical_mean_fails_dynamic_validation() {
    let reason = "Categorical aggregate does not support Selectors with width > 1 that require \
                  aggregation (eg. averaging).";
    let xs: Vec<Value> = (1..=4).map(Value::Int).collect();
    for (case, comparison) in [("mean", Comparison::True), ("prev_mean", Comparison::Leq)] {
        let program = aggregate(&select(&tokens(), &tokens(), comparison), &tokens());
        let graph = extract(&program).unwrap();
        let found = validate(&graph, Some(&xs)).unwrap();
        assert_eq!(
            found,
            vec![Unsupported {
                label: "aggregate_1".into(),
                reason: reason.into()
            }],
            "{case}"
        );
    }
}

#[test]
fn uncollapsed_selector_combinations_are_rejected_like_the_compiler() {
    // Different keys, so selector_and cannot merge the two Selects.
    let both = selector_and(
        &select(&tokens(), &tokens(), Comparison::Eq),
        &select(&indices(), &indices(), Comparison::Eq),
    );
    let program = aggregate(&both, &tokens());
    let graph = extract(&program).unwrap();
    let found = static_validate(&graph);
    let want = vec![
        Unsupported {
            label: "aggregate_1".into(),
            reason: "Compiling composite Selectors is not supported. Got a SelectorAnd.".into(),
        },
        Unsupported {
            label: "selector_and_2".into(),
            reason: "Compiling composite Selectors is not supported. Got a SelectorAnd.".into(),
        },
    ];
    assert_eq!(found, want);
    assert!(
        matches!(ensure_compilable(&graph), Err(Error::Unsupported { ref label, .. }) if label == "aggregate_1")
    );
}

#[test]
fn primitives_without_a_model_component_are_rejected() {
    let program = sequence_map(SeqMapFn::new(|x, y| x.py_add(y)), &tokens(), &full(1));
    let graph = extract(&program).unwrap();
    let found = static_validate(&graph);
    assert_eq!(
        found,
        vec![Unsupported {
            label: "full_2".into(),
            reason: "Expression Full cannot be translated to a model component.".into()
        }]
    );
}

#[test]
fn reserved_tokens_in_the_vocab_are_rejected() {
    let vocab = vec![Value::from("a"), Value::from("BOS")];
    let err = check_vocab(&vocab, "BOS", "compiler_pad").unwrap_err();
    assert!(
        matches!(err, Error::ReservedToken { role: "BOS", .. }),
        "{err}"
    );
    let err = check_vocab(&[Value::from("compiler_pad")], "BOS", "compiler_pad").unwrap_err();
    assert!(
        matches!(err, Error::ReservedToken { role: "PAD", .. }),
        "{err}"
    );
    assert!(check_vocab(&[Value::from("a")], "BOS", "compiler_pad").is_ok());
}

#[test]
fn fixture_programs_pass_validation_with_tracrs_dynamic_verdicts() {
    for name in fixture_names() {
        let program = by_name(&name).unwrap();
        let graph = extract(&program.program).unwrap();
        assert_eq!(static_validate(&graph), vec![], "{name}: static issues");
        check_vocab(&program.vocab, "BOS", "compiler_pad").unwrap();
        let fixture = load(&name);
        for input in fixture["inputs"].as_array().unwrap() {
            let xs = to_values(&input["input"]);
            let found: Vec<String> = validate(&graph, Some(&xs))
                .unwrap()
                .into_iter()
                .map(|u| format!("{}: {}", u.label, u.reason))
                .collect();
            let want = to_strings(&input["dynamic_validation_issues"]);
            assert_eq!(found, want, "{name} on {xs:?}");
        }
    }
}

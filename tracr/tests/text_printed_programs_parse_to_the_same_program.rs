//! The printer: a program printed as `.rasp` text parses back to the same program (same graph
//! labels, kinds, names, encodings, predicates and function texts, same evaluation), and
//! programs built from Rust closures are refused with a typed error.
//!
//! Case count: `PROPTEST_CASES` random programs (default 64).

mod text_support;

use proptest::prelude::*;
use text_support::{config, evaluation_repr, graph_signature, lib_source};
use tracr::error::Error;
use tracr::library::registry;
use tracr::rasp::text::{parse, print_program};
use tracr::rasp::{map, tokens, MapFn, SOp};
use tracr::value::Value;

/// Prints `program`, parses the text, and checks graph, text fixed point and evaluations.
fn assert_round_trips(
    program: &SOp,
    what: &str,
    inputs: &[Vec<Value>],
) -> Result<(), TestCaseError> {
    let text = print_program(program)
        .map_err(|e| TestCaseError::fail(format!("{what}: print failed: {e}")))?;
    let reparsed = parse(&text).map_err(|e| {
        TestCaseError::fail(format!("{what}: printed text does not parse: {e}\n{text}"))
    })?;
    prop_assert_eq!(
        graph_signature(&reparsed, true),
        graph_signature(program, true),
        "{}: graph of the printed text (left) differs from the original (right)\n{}",
        what,
        text
    );
    let reprinted = print_program(&reparsed)
        .map_err(|e| TestCaseError::fail(format!("{what}: reprint failed: {e}")))?;
    prop_assert_eq!(&reprinted, &text, "{}: printing is not a fixed point", what);
    for xs in inputs {
        for causal in [false, true] {
            prop_assert_eq!(
                evaluation_repr(&reparsed, xs, causal),
                evaluation_repr(program, xs, causal),
                "{} on {:?} (causal {}):\n{}",
                what,
                xs,
                causal,
                text
            );
        }
    }
    Ok(())
}

#[test]
fn every_lib_program_round_trips_through_the_printer() {
    for program in registry() {
        let parsed = parse(&lib_source(program.name)).unwrap();
        let inputs: Vec<Vec<Value>> = (1..=program.max_seq_len)
            .map(|n| {
                program
                    .vocab
                    .iter()
                    .cycle()
                    .skip(n)
                    .take(n)
                    .cloned()
                    .collect()
            })
            .collect();
        assert_round_trips(&parsed, &format!("lib/{}.rasp", program.name), &inputs)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_program_with_a_rust_closure_cannot_be_printed() {
    let program = map(MapFn::new(|x| x.py_add(&Value::Int(1))), &tokens()).named("plus_one");
    match print_program(&program) {
        Err(Error::Unprintable { what, reason }) => {
            assert_eq!(what, "plus_one");
            assert!(reason.contains("closure"), "reason: {reason}");
        }
        other => panic!("printing a closure Map gave {other:?}, want Error::Unprintable"),
    }
}

#[test]
fn builder_programs_are_unprintable_exactly_where_they_use_closures() {
    // reverse uses `length - indices` and `opp_idx - 1`, both Rust closures in the builder.
    let reverse = tracr::library::by_name("reverse").unwrap().program;
    assert!(matches!(
        print_program(&reverse),
        Err(Error::Unprintable { .. })
    ));
    // hist has no functions at all, so it prints.
    let hist = tracr::library::by_name("hist").unwrap().program;
    let text = print_program(&hist).expect("hist has no closures");
    assert_eq!(
        graph_signature(&parse(&text).unwrap(), true),
        graph_signature(&hist, true)
    );
}

const MAP_BODIES: [&str; 12] = [
    "x + 1",
    "x - 1",
    "x * 2",
    "x // 2",
    "x % 3",
    "-x",
    "x == 1",
    "1 if x > 1 else 0",
    "max(x, 1)",
    "abs(x - 2)",
    "x / 2",
    "not x",
];
const SEQ_BODIES: [&str; 6] = [
    "x + y",
    "x * y",
    "x - y",
    "min(x, y)",
    "x if x > y else y",
    "x and y",
];
const COMPARISONS: [&str; 8] = ["EQ", "LT", "LEQ", "GT", "GEQ", "NEQ", "TRUE", "FALSE"];
const SOP_OPS: [&str; 8] = [
    "{a} + 1",
    "{a} == 2",
    "{a} < 2",
    "~{a}",
    "{a} & {b}",
    "{a} | {b}",
    "2 - {a}",
    "{a} * {b}",
];

/// A random program over earlier variables: every statement kind, annotation and simplification.
fn program_text(steps: &[(u8, u32, u32, u32, bool, bool)]) -> String {
    let mut sops: Vec<String> = vec!["tokens".into(), "indices".into()];
    let mut selectors: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for (i, &(kind, p, q, r, flag, annotate)) in steps.iter().enumerate() {
        let pick = |v: &Vec<String>, n: u32| v[n as usize % v.len()].clone();
        let (a, b) = (pick(&sops, p), pick(&sops, q));
        let mut is_selector = false;
        let mut expr = match kind % 9 {
            0 => format!(
                "Map(lambda x: {}, {a}{})",
                MAP_BODIES[r as usize % MAP_BODIES.len()],
                if flag { ", simplify=False" } else { "" }
            ),
            1 => format!(
                "SequenceMap(lambda x, y: {}, {a}, {b})",
                SEQ_BODIES[r as usize % SEQ_BODIES.len()]
            ),
            2 => format!("LinearSequenceMap({a}, {b}, 1, -{})", r % 3),
            3 => SOP_OPS[r as usize % SOP_OPS.len()]
                .replace("{a}", &a)
                .replace("{b}", &b),
            4 => {
                is_selector = true;
                let keys = if flag && r % 3 == 0 {
                    format!("Full({})", r % 3)
                } else {
                    a.clone()
                };
                if r % 4 == 1 {
                    format!("Select({keys}, {b}, lambda k, q: k == q + 1)")
                } else {
                    format!("Select({keys}, {b}, {})", COMPARISONS[r as usize % 8])
                }
            }
            5 if !selectors.is_empty() => {
                is_selector = true;
                let (s, t) = (pick(&selectors, p), pick(&selectors, q));
                match r % 6 {
                    0 => format!("{s} & {t}"),
                    1 => format!("{s} | {t}"),
                    2 => format!("~{s}"),
                    3 => format!("SelectorAnd({s}, {t})"),
                    4 => format!("SelectorOr({s}, {t})"),
                    _ => format!("SelectorNot({s})"),
                }
            }
            6 if !selectors.is_empty() => {
                let s = pick(&selectors, p);
                if flag {
                    format!("numerical(Aggregate({s}, {b}, default=0))")
                } else {
                    format!("Aggregate({s}, {b})")
                }
            }
            7 if !selectors.is_empty() => format!("SelectorWidth({})", pick(&selectors, p)),
            _ => format!("Full({})", r % 4),
        };
        if annotate {
            if !is_selector && flag {
                expr = format!("numerical({expr})");
            }
            // Names with quotes, escapes and non-ASCII must survive printing.
            let odd = ["", "-1", "'q'", "\\\"", "\\n", "²x", " sp"][r as usize % 7];
            expr = format!("({expr}).named(\"{odd}n{i}\")");
        }
        let var = format!("v{i}");
        lines.push(format!("{var} = {expr}"));
        if is_selector {
            selectors.push(var);
        } else {
            sops.push(var);
        }
    }
    if selectors.last().is_some_and(|s| {
        lines
            .last()
            .is_some_and(|l| l.starts_with(&format!("{s} ")))
    }) {
        lines.push(format!(
            "out = SelectorWidth({})",
            selectors.last().unwrap()
        ));
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn random_programs_round_trip_through_the_printer(
        steps in proptest::collection::vec((any::<u8>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), any::<bool>()), 1..12),
        inputs in proptest::collection::vec(proptest::collection::vec(0i64..4, 1..5), 3),
    ) {
        let text = program_text(&steps);
        let program = parse(&text).map_err(|e| TestCaseError::fail(format!("generated program does not parse: {e}\n{text}")))?;
        let inputs: Vec<Vec<Value>> = inputs.into_iter().map(|xs| xs.into_iter().map(Value::Int).collect()).collect();
        assert_round_trips(&program, &format!("generated program\n{text}\n"), &inputs)?;
    }
}

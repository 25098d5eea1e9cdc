//! The parser on hostile input: arbitrary strings, mutated valid programs and deep nesting give
//! a program or a located `ParseError`, never a panic or a stack overflow; every program that
//! parses can be printed and parses back.
//!
//! Case count: `PROPTEST_CASES` (default 256 per property).

mod text_support;

use proptest::prelude::*;
use text_support::{config, graph_signature, lib_source};
use tracr::library::names;
use tracr::rasp::text::{parse_program, print_program, ParseError};

/// The error's position lies inside the text (or just past its end).
fn assert_position_in_text(error: &ParseError, text: &str) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(
        error.line() >= 1 && error.line() <= lines.len(),
        "line {} of {} in {:?}: {}",
        error.line(),
        lines.len(),
        text,
        error
    );
    let width = lines[error.line() - 1].chars().count();
    prop_assert!(
        error.column() >= 1 && error.column() <= width + 1,
        "column {} of a {width}-char line in {:?}: {}",
        error.column(),
        text,
        error
    );
    Ok(())
}

/// Parses; an accepted program must print and parse back to the same graph.
fn check(text: &str) -> Result<(), TestCaseError> {
    match parse_program(text) {
        Err(e) => assert_position_in_text(&e, text),
        Ok(program) => {
            let printed = print_program(&program.output).map_err(|e| {
                TestCaseError::fail(format!("parsed program does not print: {e}\n{text}"))
            })?;
            let reparsed = parse_program(&printed).map_err(|e| {
                TestCaseError::fail(format!("printed program does not parse: {e}\n{printed}"))
            })?;
            prop_assert_eq!(
                graph_signature(&reparsed.output, true),
                graph_signature(&program.output, true)
            );
            Ok(())
        }
    }
}

const FRAGMENTS: [&str; 32] = [
    "(", ")", "[", "]", ",", ":", "=", ".", "lambda", "x", "y", " if ", " else ", "not ", "and",
    "or", "Map", "Select", "tokens", "indices", "EQ", "named", "\"s\"", "'", "1", "2.5", "-", "**",
    "\n", "#", "~", "&",
];

fn mutated_lib_program() -> impl Strategy<Value = String> {
    let sources: Vec<String> = names().into_iter().map(lib_source).collect();
    (
        proptest::sample::select(sources),
        proptest::collection::vec(
            (
                0usize..4,
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                0usize..FRAGMENTS.len(),
            ),
            1..4,
        ),
    )
        .prop_map(|(source, edits)| {
            let mut chars: Vec<char> = source.chars().collect();
            for (kind, at, len, fragment) in edits {
                if chars.is_empty() {
                    break;
                }
                let start = at.index(chars.len());
                let end = (start + 1 + len.index(8)).min(chars.len());
                match kind {
                    0 => {
                        chars.drain(start..end);
                    }
                    1 => {
                        chars.splice(start..start, FRAGMENTS[fragment].chars());
                    }
                    2 => {
                        chars.splice(start..end, FRAGMENTS[fragment].chars());
                    }
                    _ => {
                        let copy: Vec<char> = chars[start..end].to_vec();
                        chars.splice(end..end, copy);
                    }
                }
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn fragment_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS.to_vec()), 0..40)) {
        check(&parts.concat())?;
    }

    #[test]
    fn mutated_lib_programs_never_panic(text in mutated_lib_program()) {
        check(&text)?;
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let n = 100_000;
    let cases = [
        format!("x = {}1{}", "(".repeat(n), ")".repeat(n)),
        format!("x = {}1", "-".repeat(n)),
        format!("x = {}True", "not ".repeat(n)),
        format!("x = 1{}", " + 1".repeat(n)),
        format!("x = tokens{}", ".named(\"a\")".repeat(n)),
        format!(
            "x = Map(lambda x: {}x{}, tokens)",
            "(".repeat(n),
            ")".repeat(n)
        ),
        format!("x = 2{}", " ** 2".repeat(n)),
        format!("x = [{}]", "[".repeat(n)),
        format!("x = 1{}", " < 1".repeat(n)),
        format!("x = 1{}", " if 1 else 1".repeat(n)),
    ];
    for text in cases {
        let error = parse_program(&text).expect_err("100000 levels of nesting are refused");
        assert!(
            error.message.contains("nested"),
            "{}...: {error}",
            &text[..40]
        );
    }
}

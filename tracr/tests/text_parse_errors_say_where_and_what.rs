//! Parse errors carry the line and column of the problem and say what was expected.

use tracr::error::Error;
use tracr::rasp::text::{parse, parse_program};

/// Parses `text` expecting an error at `line:column` whose message contains `needle`.
fn assert_error(text: &str, line: usize, column: usize, needle: &str) {
    let error = parse_program(text).expect_err(text);
    assert_eq!(
        (error.line(), error.column()),
        (line, column),
        "position of the error in {text:?}: {error}"
    );
    assert!(
        error.message.contains(needle),
        "message for {text:?} is {:?}, want it to mention {needle:?}",
        error.message
    );
}

#[test]
fn syntax_errors_point_at_the_offending_token() {
    assert_error("x = Map(lambda x x, tokens)", 1, 18, "expected `,` or `:`");
    assert_error("a = tokens\nb = (a + 1", 2, 11, "expected `,` or `)`");
    assert_error("a = tokens +\n", 1, 13, "expected an expression");
    assert_error("a = 'abc", 1, 5, "unterminated string");
    assert_error("a = tokens $ 1", 1, 12, "unexpected character");
    assert_error("a = 1 if tokens", 1, 16, "expected `else`");
    assert_error(
        "a = tokens b = 1",
        1,
        12,
        "expected an operator or the end of the statement",
    );
    assert_error("lambda = 1", 1, 1, "cannot assign to keyword");
    assert_error("a = 99999999999999999999", 1, 5, "does not fit in 64 bits");
}

#[test]
fn semantic_errors_point_at_the_offending_expression() {
    assert_error(
        "a = tokens\nb = Map(lambda x: x + 1, tokenz)",
        2,
        26,
        "unknown name `tokenz`",
    );
    assert_error(
        "a = Map(lambda x, y: x, tokens)",
        1,
        9,
        "must take 1 parameter",
    );
    assert_error(
        "a = Map(lambda x: x + z, tokens)",
        1,
        23,
        "unknown name `z` in a function body",
    );
    assert_error(
        "a = Select(tokens, tokens, EQQ)",
        1,
        28,
        "unknown name `EQQ`",
    );
    assert_error(
        "a = Select(tokens, tokens, EQ)",
        1,
        1,
        "must be an SOp, found a selector",
    );
    assert_error(
        "a = Aggregate(tokens, tokens)",
        1,
        15,
        "expected a selector as `selector`",
    );
    assert_error(
        "a = Map(lambda x: x, tokens, simplify=1)",
        1,
        5,
        "`simplify` must be True or False",
    );
    assert_error(
        "a = Map(lambda x: x, tokens, simplfy=False)",
        1,
        38,
        "unexpected keyword argument `simplfy`",
    );
    assert_error("a = tokens.named(3)", 1, 5, "expected a string name");
    assert_error(
        "tokens\na = tokens",
        1,
        1,
        "only allowed as the last statement",
    );
    assert_error("a = tokens and indices", 1, 5, "use `&`");
    assert_error("a = tokens // 2", 1, 5, "Tracr defines + - * / & | only");
    assert_error("a = 1 / 0", 1, 5, "division by zero");
    assert_error(
        "# only a comment\n",
        1,
        1,
        "expected at least one statement",
    );
}

#[test]
fn the_parse_error_is_a_typed_crate_error_with_its_position_in_the_message() {
    match parse("a = (") {
        Err(Error::Parse(e)) => {
            assert_eq!((e.line(), e.column()), (1, 6));
            assert!(
                e.to_string()
                    .starts_with("parse error at line 1, column 6: "),
                "{e}"
            );
        }
        other => panic!("want Error::Parse, got {other:?}"),
    }
}

#[test]
fn comments_blank_lines_crlf_a_bom_and_brackets_spanning_lines_are_accepted() {
    let text = "\u{feff}# a comment\r\n\na = Map(\n    lambda x: x + 1,  # inline\n    tokens,\n)\nb = a.named('b'); c = b\n";
    let program = parse_program(text).unwrap();
    assert_eq!(program.output.name(), "b");
    assert_eq!(
        program
            .variables
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}

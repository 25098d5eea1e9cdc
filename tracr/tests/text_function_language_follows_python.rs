//! The lambda language computes what CPython computes. Expected values are CPython 3's results
//! for the same expressions (written down from the interpreter, not from this code).

use tracr::error::Error;
use tracr::rasp::text::{parse, parse_program};
use tracr::rasp::{evaluate, Evaluator, PyError, SOpKind};
use tracr::value::Value;

/// Applies `lambda x: body` (as a parsed Map) to `x`.
fn apply(body: &str, x: Value) -> Result<Value, PyError> {
    let program = parse(&format!("m = Map(lambda x: {body}, tokens)"))
        .unwrap_or_else(|e| panic!("{body}: {e}"));
    let SOpKind::Map { f, .. } = program.kind() else {
        panic!("{body}: not a Map")
    };
    f.call(&x)
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn float(x: f64) -> Value {
    Value::Float(x)
}

fn string(s: &str) -> Value {
    Value::Str(s.into())
}

#[test]
fn arithmetic_division_and_modulo_follow_python() {
    // (body, x, CPython's repr of the result)
    let cases: Vec<(&str, Value, &str)> = vec![
        ("x / 2", int(7), "3.5"),
        ("x / 2", int(4), "2.0"),
        ("x // 2", int(-7), "-4"),
        ("x // -2", int(7), "-4"),
        ("x % 3", int(-7), "2"),
        ("x % -3", int(7), "-2"),
        ("x // 2", float(7.0), "3.0"),
        ("x % 2", float(-7.5), "0.5"),
        ("x + 1", Value::Bool(true), "2"),
        ("x + x", Value::Bool(true), "2"),
        ("-x", Value::Bool(true), "-1"),
        ("-x ** 2", int(3), "-9"),
        ("2 ** -1", int(0), "0.5"),
        ("2 ** 10", int(0), "1024"),
        ("x * 'ab'", int(2), "'abab'"),
        ("x + 'b'", string("a"), "'ab'"),
        ("1 + 2 * 3 - 4 / 2", int(0), "5.0"),
        ("(1 + 2) * 3", int(0), "9"),
        ("x - 1 - 1", int(5), "3"),
        ("2 ** 3 ** 2", int(0), "512"),
    ];
    for (body, x, want) in cases {
        let got = apply(body, x.clone())
            .unwrap_or_else(|e| panic!("lambda x: {body} on {x:?} raised {e}"));
        assert_eq!(got.py_repr(), want, "lambda x: {body} on {x:?}");
    }
}

#[test]
fn comparisons_booleans_and_conditionals_follow_python() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("x == 1", Value::Bool(true), "True"),
        ("x == 1.0", int(1), "True"),
        ("x == 1", string("1"), "False"),
        ("x != 'a'", string("a"), "False"),
        ("1 < x < 3", int(2), "True"),
        ("1 < x < 3", int(5), "False"),
        ("x < 2 <= 2", int(1), "True"),
        ("x and 5", int(0), "0"),
        ("x and 5", int(2), "5"),
        ("x or 5", int(0), "5"),
        ("x or 5", string("a"), "'a'"),
        ("not x", int(0), "True"),
        ("not x", string("a"), "False"),
        ("'yes' if x > 1 else 'no'", int(2), "'yes'"),
        ("'yes' if x > 1 else 'no'", int(1), "'no'"),
        ("1 if x else 2 if x == 0 else 3", int(0), "2"),
        ("x if x else None", int(0), "None"),
        ("True", int(0), "True"),
    ];
    for (body, x, want) in cases {
        let got = apply(body, x.clone())
            .unwrap_or_else(|e| panic!("lambda x: {body} on {x:?} raised {e}"));
        assert_eq!(got.py_repr(), want, "lambda x: {body} on {x:?}");
    }
}

#[test]
fn builtins_tuples_and_indexing_follow_python() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("min(x, 2)", int(3), "2"),
        ("max(x, 2.5)", int(3), "3"),
        ("max(x, 3.0)", int(3), "3"),
        ("max(3.0, x)", int(3), "3.0"),
        ("min((x, 1, 0))", int(4), "0"),
        ("abs(x)", float(-2.5), "2.5"),
        ("abs(x)", Value::Bool(true), "1"),
        ("int(x)", float(-2.7), "-2"),
        ("int(x)", string(" 42 "), "42"),
        ("float(x)", int(3), "3.0"),
        ("str(x)", float(1.0), "'1.0'"),
        ("str(x)", Value::None, "'None'"),
        ("bool(x)", string(""), "False"),
        ("len(x)", string("abc"), "3"),
        ("(x, 1)", int(0), "(0, 1)"),
        ("(x,)", int(0), "(0,)"),
        ("(x, 1) + (2,)", int(0), "(0, 1, 2)"),
        ("(x, 'a')[1]", int(0), "'a'"),
        ("x[-1]", string("abc"), "'c'"),
        ("1e3", int(0), "1000.0"),
        ("0.1 + 0.2", int(0), "0.30000000000000004"),
        ("'it\\'s'", int(0), "\"it's\""),
    ];
    for (body, x, want) in cases {
        let got = apply(body, x.clone())
            .unwrap_or_else(|e| panic!("lambda x: {body} on {x:?} raised {e}"));
        assert_eq!(got.py_repr(), want, "lambda x: {body} on {x:?}");
    }
}

#[test]
fn arithmetic_errors_are_python_arithmetic_errors_and_others_are_not() {
    // ZeroDivisionError and OverflowError are ArithmeticErrors in Python; TypeError,
    // ValueError and IndexError are not.
    let arithmetic = [
        ("x / 0", int(1)),
        ("x // 0", int(1)),
        ("x % 0", int(1)),
        ("1 / x", float(0.0)),
        ("int(x)", float(f64::INFINITY)),
    ];
    for (body, x) in arithmetic {
        let e = apply(body, x.clone()).expect_err(body);
        assert!(
            e.is_arithmetic(),
            "lambda x: {body} on {x:?} raised {e}, want an ArithmeticError"
        );
    }
    let other = [
        ("x + 'a'", int(1)),
        ("x < 'a'", int(1)),
        ("int(x)", string("a")),
        ("x[5]", string("abc")),
        ("-x", string("a")),
    ];
    for (body, x) in other {
        let e = apply(body, x.clone()).expect_err(body);
        assert!(
            !e.is_arithmetic(),
            "lambda x: {body} on {x:?} raised {e}, want a non-arithmetic error"
        );
    }
}

#[test]
fn a_map_dividing_by_zero_follows_tracrs_arithmetic_error_rules() {
    let program = parse("m = Map(lambda x: 1 / x, tokens)").unwrap();
    let xs = [int(0), int(2)];
    // Tracr's evaluator lets the ZeroDivisionError escape ...
    assert!(matches!(
        evaluate(&program, &xs, false),
        Err(Error::Eval { .. })
    ));
    // ... and where ArithmeticErrors are swallowed the value is None.
    let lenient = Evaluator {
        causal: false,
        arithmetic_errors_as_none: true,
    };
    assert_eq!(
        lenient.evaluate(&program, &xs).unwrap(),
        vec![Value::None, float(0.5)]
    );
}

#[test]
fn operator_overloads_build_tracrs_maps_and_sequence_maps() {
    // Tracr: `sop == c` is Map(lambda x: x == c); `c - sop` is Map(lambda x: c - x);
    // `c | sop` is Map(lambda x: x or c); `sop & other` is SequenceMap(lambda x, y: x and y).
    let cases = [
        ("tokens == 'a'", "Map", "lambda x: x == 'a'"),
        ("2 < tokens", "Map", "lambda x: x > 2"),
        ("1 - tokens", "Map", "lambda x: 1 - x"),
        ("-1 * tokens", "Map", "lambda x: -1 * x"),
        ("True | tokens", "Map", "lambda x: x or True"),
        ("False & tokens", "Map", "lambda x: False and x"),
        ("~tokens", "Map", "lambda x: not x"),
        ("tokens & indices", "SequenceMap", "lambda x, y: x and y"),
        ("tokens / indices", "SequenceMap", "lambda x, y: x / y"),
    ];
    for (expr, kind, text) in cases {
        let program = parse(&format!("out = {expr}")).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let got = match program.kind() {
            SOpKind::Map { f, .. } => ("Map", f.text.clone()),
            SOpKind::SequenceMap { f, .. } => ("SequenceMap", f.text.clone()),
            other => panic!("{expr} built {other:?}"),
        };
        assert_eq!(got, (kind, Some(text.to_string())), "{expr}");
    }
}

#[test]
fn map_of_map_simplifies_unless_told_not_to() {
    let simplified =
        parse_program("a = Map(lambda x: x + 1, tokens)\nb = Map(lambda x: x * 2, a)").unwrap();
    let SOpKind::Map { f, inner } = simplified.output.kind() else {
        panic!()
    };
    assert!(f.composed_of().is_some() && matches!(inner.kind(), SOpKind::Tokens));
    assert_eq!(
        evaluate(&simplified.output, &[int(3)], false).unwrap(),
        vec![int(8)]
    );
    let kept =
        parse("a = Map(lambda x: x + 1, tokens)\nb = Map(lambda x: x * 2, a, simplify=False)")
            .unwrap();
    let SOpKind::Map { inner, .. } = kept.kind() else {
        panic!()
    };
    assert!(matches!(inner.kind(), SOpKind::Map { .. }));
}

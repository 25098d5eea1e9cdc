//! Tracr's `compiler/test_cases.py` programs give the outputs written there (`lib_test.py`),
//! also under causal evaluation for the causal cases, and pass validation (`validating_test.py`).

use tracr::graph::extract;
use tracr::library::*;
use tracr::rasp::validate::validate;
use tracr::rasp::{
    categorical, evaluate, indices, numerical, select, selector_width, tokens, Comparison, SOp,
};
use tracr::value::Value;

fn chars(s: &str) -> Vec<Value> {
    s.chars().map(|c| Value::Str(c.to_string())).collect()
}

fn ints(xs: &[i64]) -> Vec<Value> {
    xs.iter().map(|&i| Value::Int(i)).collect()
}

fn floats(xs: &[f64]) -> Vec<Value> {
    xs.iter().map(|&x| Value::Float(x)).collect()
}

fn bools(xs: &[Option<bool>]) -> Vec<Value> {
    xs.iter()
        .map(|b| b.map_or(Value::None, Value::Bool))
        .collect()
}

struct Case {
    name: &'static str,
    program: SOp,
    input: Vec<Value>,
    expected: Vec<Value>,
}

fn case(name: &'static str, program: SOp, input: Vec<Value>, expected: Vec<Value>) -> Case {
    Case {
        name,
        program,
        input,
        expected,
    }
}

/// Tracr's `UNIVERSAL_TEST_CASES`: correct under both plain and causal evaluation.
fn universal_cases() -> Vec<Case> {
    let mut shift_by_one = vec![Value::None];
    shift_by_one.extend(chars("abc"));
    let mut shift_by_two = vec![Value::None, Value::None];
    shift_by_two.extend(chars("ab"));
    vec![
        case(
            "frac_prevs_1",
            make_frac_prevs(&tokens().eq_value("l")),
            chars("hello"),
            floats(&[0.0, 0.0, 1.0 / 3.0, 1.0 / 2.0, 2.0 / 5.0]),
        ),
        case(
            "frac_prevs_2",
            make_frac_prevs(&tokens().eq_value("(")),
            chars("a()b(c))"),
            floats(&[
                0.0,
                1.0 / 2.0,
                1.0 / 3.0,
                1.0 / 4.0,
                2.0 / 5.0,
                2.0 / 6.0,
                2.0 / 7.0,
                2.0 / 8.0,
            ]),
        ),
        case(
            "frac_prevs_3",
            make_frac_prevs(&tokens().eq_value(")")),
            chars("a()b(c))"),
            floats(&[
                0.0,
                0.0,
                1.0 / 3.0,
                1.0 / 4.0,
                1.0 / 5.0,
                1.0 / 6.0,
                2.0 / 7.0,
                3.0 / 8.0,
            ]),
        ),
        case(
            "shift_by_one",
            shift_by(1, &tokens()),
            chars("abcd"),
            shift_by_one,
        ),
        case(
            "shift_by_two",
            shift_by(2, &tokens()),
            chars("abcd"),
            shift_by_two,
        ),
        case(
            "detect_pattern_a",
            detect_pattern_str(&tokens(), "a").unwrap(),
            chars("bacd"),
            bools(&[Some(false), Some(true), Some(false), Some(false)]),
        ),
        case(
            "detect_pattern_ab",
            detect_pattern_str(&tokens(), "ab").unwrap(),
            chars("aaba"),
            bools(&[None, Some(false), Some(true), Some(false)]),
        ),
        case(
            "detect_pattern_ab_2",
            detect_pattern_str(&tokens(), "ab").unwrap(),
            chars("abaa"),
            bools(&[None, Some(true), Some(false), Some(false)]),
        ),
        case(
            "detect_pattern_ab_3",
            detect_pattern_str(&tokens(), "ab").unwrap(),
            chars("aaaa"),
            bools(&[None, Some(false), Some(false), Some(false)]),
        ),
        case(
            "detect_pattern_abc",
            detect_pattern_str(&tokens(), "abc").unwrap(),
            chars("abcabc"),
            bools(&[None, None, Some(true), Some(false), Some(false), Some(true)]),
        ),
    ]
}

/// Tracr's `TEST_CASES` beyond the universal ones (plain evaluation only).
fn non_causal_cases() -> Vec<Case> {
    let dyck2 = || make_shuffle_dyck(&["()", "{}"]).unwrap();
    let dyck3 = || make_shuffle_dyck(&["()", "{}", "[]"]).unwrap();
    let one_minus_indices = || indices().rsub_value(1);
    vec![
        case(
            "reverse_1",
            make_reverse(&tokens()),
            chars("abcd"),
            chars("dcba"),
        ),
        case(
            "reverse_2",
            make_reverse(&tokens()),
            chars("abc"),
            chars("cba"),
        ),
        case(
            "reverse_3",
            make_reverse(&tokens()),
            chars("ad"),
            chars("da"),
        ),
        case("reverse_4", make_reverse(&tokens()), chars("c"), chars("c")),
        case(
            "length_categorical_1",
            categorical(&make_length()),
            chars("abc"),
            ints(&[3, 3, 3]),
        ),
        case(
            "length_categorical_2",
            categorical(&make_length()),
            chars("ad"),
            ints(&[2, 2]),
        ),
        case(
            "length_categorical_3",
            categorical(&make_length()),
            chars("c"),
            ints(&[1]),
        ),
        case(
            "length_numerical_1",
            numerical(&make_length()),
            chars("abc"),
            ints(&[3, 3, 3]),
        ),
        case(
            "length_numerical_2",
            numerical(&make_length()),
            chars("ad"),
            ints(&[2, 2]),
        ),
        case(
            "length_numerical_3",
            numerical(&make_length()),
            chars("c"),
            ints(&[1]),
        ),
        case(
            "pair_balance_1",
            make_pair_balance(&tokens(), "(", ")"),
            chars("a()b(c))"),
            floats(&[
                0.0,
                1.0 / 2.0,
                0.0,
                0.0,
                1.0 / 5.0,
                1.0 / 6.0,
                0.0,
                -1.0 / 8.0,
            ]),
        ),
        case(
            "shuffle_dyck2_1",
            dyck2(),
            chars("({)}"),
            ints(&[1, 1, 1, 1]),
        ),
        case(
            "shuffle_dyck2_2",
            dyck2(),
            chars("(){)}"),
            ints(&[0, 0, 0, 0, 0]),
        ),
        case("shuffle_dyck2_3", dyck2(), chars("{}("), ints(&[0, 0, 0])),
        case(
            "shuffle_dyck3_1",
            dyck3(),
            chars("({)[}]"),
            ints(&[1, 1, 1, 1, 1, 1]),
        ),
        case(
            "shuffle_dyck3_2",
            dyck3(),
            chars("(){)}"),
            ints(&[0, 0, 0, 0, 0]),
        ),
        case(
            "shuffle_dyck3_3",
            dyck3(),
            chars("{}[(]"),
            ints(&[0, 0, 0, 0, 0]),
        ),
        case("hist", make_hist(), chars("abac"), ints(&[2, 1, 2, 1])),
        case(
            "sort_unique_1",
            make_sort_unique(&tokens(), &tokens()),
            ints(&[2, 4, 3, 1]),
            ints(&[1, 2, 3, 4]),
        ),
        case(
            "sort_unique_2",
            make_sort_unique(&tokens(), &one_minus_indices()),
            chars("abcd"),
            chars("dcba"),
        ),
        case(
            "sort_1",
            make_sort(&tokens(), &tokens(), 5, 1),
            ints(&[2, 4, 3, 1]),
            ints(&[1, 2, 3, 4]),
        ),
        case(
            "sort_2",
            make_sort(&tokens(), &one_minus_indices(), 5, 1),
            chars("abcd"),
            chars("dcba"),
        ),
        case(
            "sort_3",
            make_sort(&tokens(), &tokens(), 5, 1),
            ints(&[2, 4, 1, 2]),
            ints(&[1, 2, 2, 4]),
        ),
        case(
            "sort_freq",
            make_sort_freq(5),
            ints(&[2, 4, 2, 1]),
            ints(&[2, 2, 4, 1]),
        ),
        case(
            "make_count_less_freq_categorical_1",
            make_count_less_freq(2),
            chars("aaabbc"),
            ints(&[3; 6]),
        ),
        case(
            "make_count_less_freq_categorical_2",
            make_count_less_freq(2),
            chars("aacbbc"),
            ints(&[6; 6]),
        ),
        case(
            "make_count_less_freq_numerical_1",
            numerical(&make_count_less_freq(2)),
            chars("aaabbc"),
            ints(&[3; 6]),
        ),
        case(
            "make_count_less_freq_numerical_2",
            numerical(&make_count_less_freq(2)),
            chars("aacbbc"),
            ints(&[6; 6]),
        ),
        case(
            "make_count_1",
            make_count(&tokens(), "a"),
            chars("aaabbc"),
            ints(&[3; 6]),
        ),
        case(
            "make_count_2",
            make_count(&tokens(), "a"),
            chars("cabc"),
            ints(&[1; 4]),
        ),
        case(
            "make_count_3",
            make_count(&tokens(), "a"),
            chars("bbc"),
            ints(&[0; 3]),
        ),
        case(
            "make_nary_sequencemap_1",
            make_nary_sequencemap(
                |a| a[0].py_add(&a[1])?.py_sub(&a[2]),
                &[tokens(), tokens(), indices()],
            )
            .unwrap(),
            ints(&[1, 2, 3]),
            ints(&[2, 3, 4]),
        ),
        case(
            "make_nary_sequencemap_2",
            make_nary_sequencemap(
                |a| a[0].py_mul(&a[1])?.py_truediv(&a[2]),
                &[indices(), indices(), tokens()],
            )
            .unwrap(),
            ints(&[1, 2, 3]),
            floats(&[0.0, 1.0 / 2.0, 4.0 / 3.0]),
        ),
    ]
}

/// Tracr's `CAUSAL_TEST_CASES` beyond the universal ones.
fn causal_only_cases() -> Vec<Case> {
    vec![case(
        "selector_width",
        selector_width(&select(&tokens(), &tokens(), Comparison::True)),
        chars("abcd"),
        ints(&[1, 2, 3, 4]),
    )]
}

/// Python's `==` on the lists; Tracr's tests compare with `assertEqual`, so no tolerance.
fn check(case: &Case, causal: bool) {
    let got = evaluate(&case.program, &case.input, causal)
        .unwrap_or_else(|e| panic!("{} (causal={causal}): {e}", case.name));
    assert_eq!(
        got, case.expected,
        "{} (causal={causal}) on {:?}",
        case.name, case.input
    );
}

#[test]
fn test_cases_give_tracrs_expected_outputs() {
    let cases: Vec<Case> = universal_cases()
        .into_iter()
        .chain(non_causal_cases())
        .collect();
    assert_eq!(
        cases.len(),
        43,
        "Tracr has 10 universal and 33 further TEST_CASES"
    );
    for case in &cases {
        check(case, false);
    }
}

#[test]
fn causal_test_cases_give_tracrs_expected_outputs_under_causal_evaluation() {
    let cases: Vec<Case> = universal_cases()
        .into_iter()
        .chain(causal_only_cases())
        .collect();
    for case in &cases {
        check(case, true);
    }
}

#[test]
fn supported_test_cases_pass_validation() {
    for case in universal_cases().into_iter().chain(non_causal_cases()) {
        let graph = extract(&case.program).unwrap();
        let issues = validate(&graph, Some(&case.input)).unwrap();
        assert!(issues.is_empty(), "{}: {issues:?}", case.name);
    }
}

#[test]
fn detect_pattern_names_follow_pythons_str_of_the_pattern() {
    assert_eq!(
        detect_pattern_str(&tokens(), "ab").unwrap().name(),
        "detect_pattern(ab)"
    );
    let listed = detect_pattern(&tokens(), &[Value::from("a"), Value::Int(1)]).unwrap();
    assert_eq!(listed.name(), "detect_pattern(['a', 1])");
    assert!(detect_pattern_str(&tokens(), "").is_err());
}

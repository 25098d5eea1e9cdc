//! Tracr's own RASP unit tests (`rasp/rasp_test.py`, `rasp/causal_eval_test.py`), ported: the
//! expected values are the ones written in those tests.

use tracr::graph::extract;
use tracr::library;
use tracr::rasp::{
    aggregate, constant_selector, constant_sop, evaluate, evaluate_selector, full, indices,
    length_primitive, linear_sequence_map, map, map_no_simplify, select, selector_and,
    selector_and_no_simplify, selector_not, selector_not_no_simplify, selector_or,
    selector_or_no_simplify, selector_width, sequence_map, tokens, Comparison, Encoding, Expr,
    MapFn, SOp, SOpKind, SelectorKind, SeqMapFn,
};
use tracr::value::Value;

fn ints(xs: &[i64]) -> Vec<Value> {
    xs.iter().map(|&i| Value::Int(i)).collect()
}

fn strs(s: &str) -> Vec<Value> {
    s.chars().map(|c| Value::Str(c.to_string())).collect()
}

fn bools(xs: &[bool]) -> Vec<Value> {
    xs.iter().map(|&b| Value::Bool(b)).collect()
}

fn eval(sop: &SOp, xs: &[Value]) -> Vec<Value> {
    evaluate(sop, xs, false).unwrap_or_else(|e| panic!("{sop:?} on {xs:?}: {e}"))
}

fn sop_examples() -> Vec<(&'static str, SOp)> {
    vec![
        ("tokens", tokens()),
        ("length", length_primitive()),
        ("indices", indices()),
        ("map", map(MapFn::infallible(Value::clone), &tokens())),
        (
            "sequence_map",
            sequence_map(SeqMapFn::new(|x, y| x.py_add(y)), &tokens(), &tokens()),
        ),
        (
            "linear_sequence_map",
            linear_sequence_map(&tokens(), &tokens(), 0.1, 0.2),
        ),
        (
            "aggregate",
            aggregate(&select(&tokens(), &indices(), Comparison::Eq), &tokens()),
        ),
        (
            "selector_width",
            selector_width(&select(&tokens(), &indices(), Comparison::Eq)),
        ),
    ]
}

#[test]
fn default_names_are_tracrs() {
    for (name, sop) in sop_examples() {
        assert_eq!(sop.name(), name);
    }
    let eq = select(&tokens(), &indices(), Comparison::Eq);
    let leq = select(&indices(), &tokens(), Comparison::Leq);
    assert_eq!(eq.name(), "select");
    assert_eq!(selector_and_no_simplify(&eq, &leq).name(), "selector_and");
    assert_eq!(selector_or_no_simplify(&eq, &leq).name(), "selector_or");
    assert_eq!(selector_not_no_simplify(&eq).name(), "selector_not");
    assert_eq!(constant_selector(vec![]).name(), "constant_selector");
    assert_eq!(full(1).name(), "full");
    assert_eq!(constant_sop(vec![]).name(), "constant_sop");
}

#[test]
fn primitives_evaluate_like_tracr() {
    assert_eq!(eval(&tokens(), &strs("hello")), strs("hello"));
    assert_eq!(eval(&indices(), &strs("hello")), ints(&[0, 1, 2, 3, 4]));
    assert_eq!(eval(&length_primitive(), &ints(&[1, 2])), ints(&[2, 2]));
    let fives = constant_sop(ints(&[5, 5, 5, 5, 5]));
    assert_eq!(eval(&fives, &strs("hello")), ints(&[5, 5, 5, 5, 5]));
    let short = constant_sop(ints(&[1, 2, 3]));
    let err = evaluate(&short, &strs("longer string"), false).unwrap_err();
    assert!(
        err.to_string()
            .contains("Constant len 3 doesn't match input len 13."),
        "{err}"
    );
}

#[test]
fn maps_and_sequence_maps_evaluate_like_tracr() {
    let add_a = map(MapFn::new(|x| x.py_add(&Value::from("a"))), &tokens());
    let want: Vec<Value> = ["ha", "ea", "la", "la", "oa"].map(Value::from).to_vec();
    assert_eq!(eval(&add_a, &strs("hello")), want);
    let half = map(MapFn::new(|x| x.py_truediv(&Value::Int(2))), &tokens());
    assert_eq!(
        eval(&half, &[Value::Float(0.1), Value::Float(0.2)]),
        vec![Value::Float(0.05), Value::Float(0.1)]
    );
    let doubled = sequence_map(SeqMapFn::new(|x, y| x.py_add(y)), &tokens(), &tokens());
    assert_eq!(
        eval(&doubled, &strs("hel")),
        vec![Value::from("hh"), Value::from("ee"), Value::from("ll")]
    );
    for (fst, snd, want) in [
        (1.0, 1.0, [2, 4]),
        (1.0, -1.0, [0, 0]),
        (1.0, -2.0, [-1, -2]),
    ] {
        let linear = linear_sequence_map(&tokens(), &tokens(), fst, snd);
        assert_eq!(eval(&linear, &ints(&[1, 2])), ints(&want), "{fst} {snd}");
    }
}

#[test]
fn nested_elementwise_ops_collapse_into_one_map() {
    let map_sop = tokens().mul_value(2).add_value(2).div_value(2);
    match map_sop.kind() {
        SOpKind::Map { inner, .. } => assert!(inner.ptr_eq(&tokens())),
        other => panic!("expected a Map, got {other:?}"),
    }
    assert_eq!(eval(&map_sop, &ints(&[1])), vec![Value::Float(2.0)]);

    let unsimplified = map_no_simplify(
        MapFn::new(|x| x.py_add(&Value::Int(2))),
        &tokens().mul_value(2),
    );
    match unsimplified.kind() {
        SOpKind::Map { inner, .. } => assert!(!inner.ptr_eq(&tokens())),
        other => panic!("expected a Map, got {other:?}"),
    }
    assert_eq!(eval(&unsimplified, &ints(&[1])), ints(&[4]));
}

#[test]
fn map_simplification_sees_through_named_and_numerical_copies() {
    let inner = tokens().add_value(1).named("plus_one").numerical();
    let outer = map(MapFn::new(|x| x.py_mul(&Value::Int(10))), &inner);
    match outer.kind() {
        SOpKind::Map { inner, .. } => assert!(inner.ptr_eq(&tokens())),
        other => panic!("expected a Map, got {other:?}"),
    }
    // The merged Map is a new object with default annotations.
    assert_eq!(outer.name(), "map");
    assert_eq!(outer.encoding(), Encoding::Categorical);
    assert_eq!(eval(&outer, &ints(&[1, 2])), ints(&[20, 30]));
}

#[test]
fn numeric_and_logical_dunders_evaluate_like_tracr() {
    let xs = ints(&[0, 1, 2]);
    let as_ints =
        |v: Vec<Value>| -> Vec<i64> { v.iter().map(|x| x.as_f64().unwrap() as i64).collect() };
    assert_eq!(as_ints(eval(&tokens().gt_value(1), &xs)), [0, 0, 1]);
    assert_eq!(as_ints(eval(&tokens().lt_value(1), &xs)), [1, 0, 0]);
    assert_eq!(as_ints(eval(&tokens().eq_value(1), &xs)), [0, 1, 0]);
    assert_eq!(eval(&tokens().add_value(1), &xs), ints(&[1, 2, 3]));
    assert_eq!(eval(&tokens().radd_value(1), &xs), ints(&[1, 2, 3]));
    assert_eq!(eval(&tokens().add_sop(&indices()), &xs), ints(&[0, 2, 4]));
    let reversed_index = length_primitive().sub_value(1).sub_sop(&indices());
    assert_eq!(eval(&reversed_index, &xs), ints(&[2, 1, 0]));
    let squared_length = length_primitive().mul_sop(&length_primitive());
    assert_eq!(eval(&squared_length, &xs), ints(&[9, 9, 9]));

    let tf = bools(&[true, false]);
    assert_eq!(eval(&tokens().and_value(true), &tf), bools(&[true, false]));
    assert_eq!(
        eval(&tokens().and_value(false), &tf),
        bools(&[false, false])
    );
    assert_eq!(eval(&tokens().or_value(true), &tf), bools(&[true, true]));
    assert_eq!(eval(&tokens().or_value(false), &tf), bools(&[true, false]));
    assert_eq!(eval(&tokens().rand_value(true), &tf), bools(&[true, false]));
    assert_eq!(
        eval(&tokens().rand_value(false), &tf),
        bools(&[false, false])
    );
    assert_eq!(eval(&tokens().ror_value(true), &tf), bools(&[true, true]));
    assert_eq!(eval(&tokens().ror_value(false), &tf), bools(&[true, false]));
    assert_eq!(eval(&tokens().invert(), &tf), bools(&[false, true]));
    let a = constant_sop(bools(&[true, true, false, false]));
    let b = constant_sop(bools(&[true, false, true, false]));
    let ones = ints(&[1, 1, 1, 1]);
    assert_eq!(
        eval(&a.and_sop(&b), &ones),
        bools(&[true, false, false, false])
    );
    assert_eq!(
        eval(&a.or_sop(&b), &ones),
        bools(&[true, true, true, false])
    );
}

#[test]
fn encodings_default_to_categorical_and_annotations_overwrite() {
    for (name, sop) in sop_examples() {
        assert!(sop.is_categorical(), "{name}");
        assert!(sop.numerical().is_numerical(), "{name}");
        assert!(!sop.categorical().is_numerical(), "{name}");
        assert!(sop.numerical().categorical().is_categorical(), "{name}");
    }
}

#[test]
fn comparisons_select_like_tracr() {
    let xs = ints(&[0, 1]);
    let cases = [
        (Comparison::Lt, [[false, false], [true, false]]),
        (Comparison::Leq, [[true, false], [true, true]]),
        (Comparison::Gt, [[false, true], [false, false]]),
        (Comparison::Geq, [[true, true], [false, true]]),
        (Comparison::Neq, [[false, true], [true, false]]),
        (Comparison::True, [[true, true], [true, true]]),
        (Comparison::False, [[false, false], [false, false]]),
    ];
    for (comparison, want) in cases {
        let got = evaluate_selector(&select(&tokens(), &tokens(), comparison), &xs, false).unwrap();
        assert_eq!(got, want.map(Vec::from).to_vec(), "{comparison}");
    }
    let eq = evaluate_selector(
        &select(&tokens(), &tokens(), Comparison::Eq),
        &strs("hey"),
        false,
    )
    .unwrap();
    assert_eq!(
        eq,
        vec![
            vec![true, false, false],
            vec![false, true, false],
            vec![false, false, true]
        ]
    );
    let constant = constant_selector(vec![vec![true, true], vec![false, false]]);
    assert_eq!(
        evaluate_selector(&constant, &ints(&[1, 2]), false).unwrap(),
        vec![vec![true, true], vec![false, false]]
    );
}

#[test]
fn comparison_names_round_trip() {
    for c in Comparison::ALL {
        assert_eq!(c.to_string().parse::<Comparison>().unwrap(), c);
    }
    assert_eq!(
        "Comparison.LEQ".parse::<Comparison>().unwrap(),
        Comparison::Leq
    );
    assert!("LE".parse::<Comparison>().is_err());
}

fn select_parts(sel: &tracr::rasp::Selector) -> (SOp, SOp) {
    match sel.kind() {
        SelectorKind::Select { keys, queries, .. } => (keys.clone(), queries.clone()),
        other => panic!("expected a Select, got {other:?}"),
    }
}

#[test]
fn selector_and_simplifies_when_tracr_does() {
    let same = selector_and(
        &select(&tokens(), &indices(), Comparison::Geq),
        &select(&tokens(), &indices(), Comparison::Leq),
    );
    let (k, q) = select_parts(&same);
    assert!(k.ptr_eq(&tokens()) && q.ptr_eq(&indices()));

    let different = selector_and(
        &select(&tokens(), &indices(), Comparison::Geq),
        &select(&indices(), &tokens(), Comparison::Leq),
    );
    assert!(matches!(different.kind(), SelectorKind::SelectorAnd { .. }));

    let full_keys = selector_and(
        &select(&full(1), &indices(), Comparison::Geq),
        &select(&tokens(), &indices(), Comparison::Leq),
    );
    let (k, q) = select_parts(&full_keys);
    assert!(k.ptr_eq(&tokens()) && q.ptr_eq(&indices()));

    let full_queries = selector_and(
        &select(&tokens(), &indices(), Comparison::Geq),
        &select(&tokens(), &full(1), Comparison::Leq),
    );
    let (k, q) = select_parts(&full_queries);
    assert!(k.ptr_eq(&tokens()) && q.ptr_eq(&indices()));

    assert!(matches!(
        selector_not(&select(&tokens(), &indices(), Comparison::Eq)).kind(),
        SelectorKind::Select { .. }
    ));
}

#[test]
fn simplified_selector_combinations_evaluate_like_unsimplified_ones() {
    let sides = [tokens(), indices(), full(1)];
    let xs = ints(&[0, 1, 2, 3]);
    let matrix = |s: &tracr::rasp::Selector| evaluate_selector(s, &xs, false).unwrap();
    let mut checked = 0;
    for fk in &sides {
        for fq in &sides {
            for fp in Comparison::ALL {
                let fst = select(fk, fq, fp);
                assert_eq!(
                    matrix(&selector_not(&fst)),
                    matrix(&selector_not_no_simplify(&fst)),
                    "not {fk:?} {fq:?} {fp}"
                );
                for sk in &sides {
                    for sq in &sides {
                        for sp in Comparison::ALL {
                            let snd = select(sk, sq, sp);
                            let case = format!("{fk:?} {fq:?} {fp} / {sk:?} {sq:?} {sp}");
                            assert_eq!(
                                matrix(&selector_and(&fst, &snd)),
                                matrix(&selector_and_no_simplify(&fst, &snd)),
                                "and {case}"
                            );
                            assert_eq!(
                                matrix(&selector_or(&fst, &snd)),
                                matrix(&selector_or_no_simplify(&fst, &snd)),
                                "or {case}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 72 * 72);
}

#[test]
fn copies_keep_names_and_get_new_identities() {
    for (_, sop) in sop_examples() {
        let foo = sop.named("foo");
        let bar = foo.named("bar");
        assert_eq!(foo.name(), "foo");
        assert_eq!(bar.name(), "bar");
        assert!(!foo.ptr_eq(&sop) && !bar.ptr_eq(&foo));
        // Copies share their children.
        for (a, b) in foo.children().iter().zip(sop.children()) {
            assert!(a.ptr_eq(&b));
        }
    }
}

#[test]
fn aggregate_means_follow_tracr() {
    let sel = select(&indices(), &indices(), Comparison::Leq);
    // One selected bool stays a bool; several numbers average to a float.
    let frac = aggregate(&sel, &tokens().numerical()).numerical();
    let got = eval(&frac, &bools(&[true, false, true]));
    assert!(matches!(got[0], Value::Bool(true)), "{got:?}");
    assert_eq!(got[1], Value::Float(0.5));
    assert!((got[2].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-15);
    // Nothing selected gives the default (None here).
    let none_selected = aggregate(
        &select(&indices(), &indices(), Comparison::False),
        &tokens(),
    );
    assert_eq!(
        eval(&none_selected, &ints(&[1, 2])),
        vec![Value::None, Value::None]
    );
    // Several strings cannot be averaged.
    let mean_of_strings = aggregate(&select(&tokens(), &tokens(), Comparison::True), &tokens());
    let err = evaluate(&mean_of_strings, &strs("ab"), false).unwrap_err();
    assert!(
        err.to_string()
            .contains("Only types int, bool, and float are supported for aggregation. Received sequence: ['a', 'b']"),
        "{err}"
    );
}

#[test]
fn none_propagates_through_maps_and_none_keys_fail_selects() {
    let shifted = library::shift_by(1, &tokens());
    let plus_one = shifted.add_value(1);
    assert_eq!(
        eval(&plus_one, &ints(&[5, 6, 7])),
        vec![Value::None, Value::Int(6), Value::Int(7)]
    );
    let pair = shifted.add_sop(&tokens());
    assert_eq!(
        eval(&pair, &ints(&[5, 6, 7])),
        vec![Value::None, Value::Int(11), Value::Int(13)]
    );
    let keyed_on_none = selector_width(&select(&shifted, &tokens(), Comparison::Eq));
    let err = evaluate(&keyed_on_none, &ints(&[5, 6, 7]), false).unwrap_err();
    assert!(err.to_string().contains("key is None!"), "{err}");
}

#[test]
fn arithmetic_errors_fail_evaluation_like_tracr_unless_asked_otherwise() {
    let inverse = tokens().rdiv_value(1);
    let xs = ints(&[0, 2]);
    let err = evaluate(&inverse, &xs, false).unwrap_err();
    assert!(err.to_string().contains("division by zero"), "{err}");
    let lenient = tracr::rasp::Evaluator {
        causal: false,
        arithmetic_errors_as_none: true,
    };
    assert_eq!(
        lenient.evaluate(&inverse, &xs).unwrap(),
        vec![Value::None, Value::Float(0.5)]
    );
}

#[test]
fn causal_evaluation_masks_every_selector() {
    // causal_eval_test: a non-causal-friendly program sees only the prefix.
    let xs = ints(&[1, 2, 3, 4]);
    let all = select(&tokens(), &tokens(), Comparison::True);
    assert_eq!(
        evaluate(&selector_width(&all), &xs, true).unwrap(),
        ints(&[1, 2, 3, 4])
    );
    assert_eq!(
        evaluate(&selector_width(&all), &xs, false).unwrap(),
        ints(&[4, 4, 4, 4])
    );
    // The mask applies after a SelectorNot too.
    let none = selector_not_no_simplify(&all);
    assert_eq!(
        evaluate(&selector_width(&none), &xs, true).unwrap(),
        ints(&[0, 0, 0, 0])
    );
}

#[test]
fn labels_follow_bfs_order_and_shared_objects_are_one_node() {
    let doubled = tokens().add_value(1).named("plus");
    let program = doubled.add_sop(&doubled).named("sum");
    let graph = extract(&program).unwrap();
    let labels: Vec<&str> = graph.labels().collect();
    assert_eq!(labels, ["sum_1", "plus_2", "tokens"]);
    assert_eq!(graph.node("sum_1").unwrap().children, ["plus_2", "plus_2"]);
    assert_eq!(
        graph.edges,
        [
            ("plus_2".to_string(), "sum_1".to_string()),
            ("tokens".to_string(), "plus_2".to_string())
        ]
    );
    assert_eq!(graph.sources, ["tokens"]);
    assert_eq!(graph.label_of(&Expr::SOp(doubled)), Some("plus_2"));
    // A second extraction numbers afresh, unlike Tracr's process-global counter.
    let again = extract(&program).unwrap();
    assert_eq!(again.sink, "sum_1");
}

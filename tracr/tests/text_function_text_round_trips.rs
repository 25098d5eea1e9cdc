//! The canonical text of a lambda body: printing a random expression tree and parsing it back
//! gives the same text again and the same values, so parentheses are placed as Python's
//! precedence requires.
//!
//! Case count: `PROPTEST_CASES` (default 256).

mod text_support;

use proptest::prelude::*;
use text_support::config;
use tracr::rasp::text::ast::{BinOp, CmpOp, Node, NodeKind, UnaryOp};
use tracr::rasp::text::error::Position;
use tracr::rasp::text::function::compile_lambda;
use tracr::rasp::text::parser::parse_expression;
use tracr::value::Value;

fn node(kind: NodeKind) -> Node {
    Node::new(kind, Position::default())
}

fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..4).prop_map(Value::Int),
        prop_oneof![Just(0.5), Just(-1.5), Just(1e16), Just(2.5e-7), Just(-0.0)]
            .prop_map(Value::Float),
        prop_oneof![Just("a"), Just("b'c"), Just("")].prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::None),
    ]
}

fn expression() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        Just(node(NodeKind::Name("x".into()))),
        Just(node(NodeKind::Name("y".into()))),
        literal().prop_map(|v| node(NodeKind::Literal(v))),
    ];
    leaf.prop_recursive(5, 48, 3, |inner| {
        let b = |n: Node| Box::new(n);
        prop_oneof![
            (
                prop_oneof![
                    Just(UnaryOp::Neg),
                    Just(UnaryOp::Pos),
                    Just(UnaryOp::Not),
                    Just(UnaryOp::Invert)
                ],
                inner.clone()
            )
                .prop_map(move |(op, operand)| node(NodeKind::Unary {
                    op,
                    operand: b(operand)
                })),
            (
                proptest::sample::select(vec![
                    BinOp::Add,
                    BinOp::Sub,
                    BinOp::Mul,
                    BinOp::Div,
                    BinOp::FloorDiv,
                    BinOp::Mod,
                    BinOp::Pow,
                    BinOp::BitAnd,
                    BinOp::BitOr,
                ]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(move |(op, l, r)| node(NodeKind::Binary {
                    op,
                    left: b(l),
                    right: b(r)
                })),
            (
                inner.clone(),
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec![
                            CmpOp::Eq,
                            CmpOp::Ne,
                            CmpOp::Lt,
                            CmpOp::Le,
                            CmpOp::Gt,
                            CmpOp::Ge
                        ]),
                        inner.clone()
                    ),
                    1..3
                )
            )
                .prop_map(move |(first, rest)| node(NodeKind::Compare {
                    first: b(first),
                    rest
                })),
            (inner.clone(), inner.clone()).prop_map(move |(l, r)| node(NodeKind::And(b(l), b(r)))),
            (inner.clone(), inner.clone()).prop_map(move |(l, r)| node(NodeKind::Or(b(l), b(r)))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(move |(c, t, o)| node(
                NodeKind::IfElse {
                    cond: b(c),
                    then: b(t),
                    otherwise: b(o)
                }
            )),
            proptest::collection::vec(inner.clone(), 1..3)
                .prop_map(|items| node(NodeKind::Tuple(items))),
            (inner.clone(), inner.clone()).prop_map(move |(v, i)| node(NodeKind::Index {
                value: b(v),
                index: b(i)
            })),
            (
                proptest::sample::select(vec!["min", "max", "abs", "int", "str", "bool"]),
                inner.clone(),
                inner
            )
                .prop_map(|(f, a1, a2)| {
                    let args = if matches!(f, "min" | "max") {
                        vec![a1, a2]
                    } else {
                        vec![a1]
                    };
                    node(NodeKind::Call {
                        func: Box::new(node(NodeKind::Name(f.into()))),
                        args,
                        kwargs: vec![],
                    })
                }),
        ]
    })
}

fn lambda(body: Node) -> Node {
    node(NodeKind::Lambda {
        params: vec!["x".into(), "y".into()],
        body: Box::new(body),
    })
}

/// The value's repr, or whether the error is an ArithmeticError (messages may differ by path).
fn outcome(result: Result<Value, tracr::rasp::PyError>) -> String {
    match result {
        Ok(v) => v.py_repr(),
        Err(e) if e.is_arithmetic() => "ArithmeticError".into(),
        Err(_) => "other error".into(),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn printed_bodies_parse_back_to_the_same_text_and_values(
        body in expression(),
        x in literal(),
        y in literal(),
    ) {
        let original = lambda(body);
        let text = original.to_source();
        let reparsed = parse_expression(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?} does not parse: {e}")))?;
        prop_assert_eq!(reparsed.to_source(), text.clone(), "text is not a fixed point");
        let f = compile_lambda(&original, 2, "test").expect("generated bodies compile");
        let g = compile_lambda(&reparsed, 2, "test").expect("reparsed bodies compile");
        let args = [x, y];
        prop_assert_eq!(outcome(g.call(&args)), outcome(f.call(&args)), "{} on {:?}", text, args);
    }
}

//! A function that raises while the compiler tabulates a categorical MLP or a selector (Tracr
//! calls it bare there) stops the compile with a typed error naming the node and the input, as
//! Tracr stops with the exception; numerical MLPs skip ArithmeticErrors, as Tracr's do.

use tracr::error::Error;
use tracr::rasp::text::parse;
use tracr::value::Value;
use tracr::{compile, CompileOptions};

fn compile_text(source: &str, vocab: &[i64]) -> tracr::error::Result<tracr::CompiledModel> {
    let program = parse(source).unwrap();
    let vocab: Vec<Value> = vocab.iter().map(|&v| Value::Int(v)).collect();
    compile(&program, &vocab, 3, &CompileOptions::default())
}

#[test]
fn a_raising_function_names_its_node_and_input() {
    let cases = [
        // (program, vocab, label, input)
        ("Map(lambda x: 1 // x, tokens)", vec![0, 1, 2], "map_1", "0"),
        (
            "numerical(Map(lambda x: 1 // x, tokens))",
            vec![2, 0, 1],
            "map_1",
            "0",
        ),
        (
            "SequenceMap(lambda x, y: x // y, tokens, indices)",
            vec![1, 2],
            "sequence_map_1",
            "(1, 0)",
        ),
        (
            "SequenceMap(lambda x, y: x % (y - 2), tokens, tokens)",
            vec![1, 2],
            "sequence_map_1",
            "(2, 2)",
        ),
        (
            "SelectorWidth(Select(tokens, tokens, lambda k, q: k // q == 1))",
            vec![0, 1],
            "select_2",
            "(key 0, query 0)",
        ),
    ];
    for (source, vocab, label, input) in cases {
        match compile_text(source, &vocab) {
            Err(Error::FunctionFailed {
                label: got_label,
                input: got_input,
                reason,
            }) => {
                assert_eq!(
                    (got_label.as_str(), got_input.as_str()),
                    (label, input),
                    "{source}"
                );
                assert!(reason.contains("by zero"), "{source}: reason {reason}");
            }
            other => {
                panic!("{source} with vocab {vocab:?}: expected FunctionFailed, got {other:?}")
            }
        }
    }
}

#[test]
fn numerical_mlps_skip_arithmetic_errors_like_tracr() {
    // Tracr's discretising MLP drops the input 0, on which 1 / x raises.
    let source = "x = numerical(Map(lambda t: t, tokens))\nnumerical(Map(lambda x: 1 / x, x, simplify=False))";
    assert!(compile_text(source, &[0, 1, 2]).is_ok(), "{source}");
}

//! The library programs give Tracr's graph (labels, children, edges, encodings) and Tracr's RASP
//! value at every node for every fixture input.

mod rasp_support;

use rasp_support::fixtures::{fixture_names, load, to_strings, to_value, to_values};
use serde_json::Value as Json;
use tracr::graph::extract;
use tracr::library::{by_name, registry};
use tracr::rasp::{evaluate, evaluate_all, NodeValue};
use tracr::value::Value;

/// Floats are compared within 1e-9: the evaluator adds in Python's order so it should agree
/// bit for bit, and the tolerance only guards against a different but equivalent summation.
const FLOAT_TOLERANCE: f64 = 1e-9;

#[test]
fn registry_holds_exactly_the_fixture_programs() {
    let mut names: Vec<String> = registry().iter().map(|p| p.name.to_string()).collect();
    names.sort();
    assert_eq!(names, fixture_names());
}

#[test]
fn registry_compile_args_match_the_fixtures() {
    for program in registry() {
        let fixture = load(program.name);
        let args = &fixture["compile_args"];
        assert_eq!(
            program.vocab,
            to_values(&args["vocab"]),
            "vocab of {}",
            program.name
        );
        assert_eq!(
            program.max_seq_len as u64,
            args["max_seq_len"].as_u64().unwrap(),
            "max_seq_len of {}",
            program.name
        );
        assert_eq!(
            program.causal,
            args["causal"].as_bool().unwrap(),
            "causal of {}",
            program.name
        );
        assert_eq!(
            program.source,
            fixture["source"].as_str().unwrap(),
            "source of {}",
            program.name
        );
    }
}

#[test]
fn extracted_graph_has_tracrs_labels_children_and_encodings() {
    for name in fixture_names() {
        let program = by_name(&name).unwrap_or_else(|| panic!("no registry program {name}"));
        let graph = extract(&program.program).unwrap();
        let fixture = load(&name);
        let nodes = fixture["program"]["nodes"].as_array().unwrap();
        let want: Vec<(String, Vec<String>)> = nodes
            .iter()
            .map(|n| {
                (
                    n["label"].as_str().unwrap().to_string(),
                    to_strings(&n["children"]),
                )
            })
            .collect();
        let got: Vec<(String, Vec<String>)> = graph
            .nodes
            .iter()
            .map(|n| (n.label.clone(), n.children.clone()))
            .collect();
        assert_eq!(got, want, "{name}: nodes (label, children) in order");
        assert_eq!(
            graph.sink,
            fixture["program"]["output_label"].as_str().unwrap()
        );
        for (node, json) in graph.nodes.iter().zip(nodes) {
            assert_eq!(
                node.expr.name(),
                json["name"].as_str().unwrap(),
                "{name}: name of {}",
                node.label
            );
            assert_eq!(
                node.expr.type_name(),
                json["type"].as_str().unwrap(),
                "{name}: type of {}",
                node.label
            );
            assert_eq!(
                node.is_sop(),
                json["is_sop"].as_bool().unwrap(),
                "{name}: is_sop of {}",
                node.label
            );
            if let Some(sop) = node.expr.as_sop() {
                assert_eq!(
                    sop.encoding().to_string(),
                    json["encoding"].as_str().unwrap(),
                    "{name}: encoding of {}",
                    node.label
                );
            }
        }
        let want_edges: Vec<(String, String)> = fixture["program"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let pair = to_strings(e);
                (pair[0].clone(), pair[1].clone())
            })
            .collect();
        assert_eq!(graph.edges, want_edges, "{name}: edges child → parent");
        let mut want_sources = Vec::new();
        for s in to_strings(&fixture["program"]["source_labels"]) {
            if !want_sources.contains(&s) {
                want_sources.push(s);
            }
        }
        assert_eq!(
            graph.sources, want_sources,
            "{name}: sources (Tracr's list without repeats)"
        );
        let want_deps: Vec<(String, Vec<String>)> = fixture["program"]["sop_deps"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), to_strings(v)))
            .collect();
        assert_eq!(graph.sop_deps(), want_deps, "{name}: sop_deps");
    }
}

/// Whether a computed value is the fixture's value: same Python type family, equal value.
fn same_value(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Float(a), Value::Float(b)) => (a - b).abs() <= FLOAT_TOLERANCE,
        (Value::Tuple(a), Value::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b) && a == b,
    }
}

fn json_matrix(json: &Json) -> Vec<Vec<bool>> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_bool().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn every_node_evaluates_to_tracrs_value_on_every_fixture_input() {
    let mut checked = 0usize;
    for name in fixture_names() {
        let program = by_name(&name).unwrap();
        let graph = extract(&program.program).unwrap();
        let fixture = load(&name);
        let inputs = fixture["inputs"].as_array().unwrap();
        assert!(!inputs.is_empty(), "{name} has no inputs");
        for input in inputs {
            let xs = to_values(&input["input"]);
            let values = evaluate_all(&graph, &xs, program.causal)
                .unwrap_or_else(|e| panic!("{name} on {xs:?}: {e}"));
            let want_values = input["rasp_node_values"].as_object().unwrap();
            assert_eq!(want_values.len(), graph.nodes.len(), "{name}: node count");
            for node in &graph.nodes {
                let want = &want_values[&node.label];
                match &values[&node.label] {
                    NodeValue::Sequence(got) => {
                        let want = to_values(want);
                        let equal = got.len() == want.len()
                            && got.iter().zip(&want).all(|(g, w)| same_value(g, w));
                        assert!(
                            equal,
                            "{name}: node {} on input {xs:?}\n got  {got:?}\n want {want:?}",
                            node.label
                        );
                    }
                    NodeValue::Matrix(got) => {
                        let want = json_matrix(want);
                        assert_eq!(
                            got, &want,
                            "{name}: selector {} on input {xs:?}",
                            node.label
                        );
                    }
                }
                checked += 1;
            }
            let output = evaluate(&program.program, &xs, program.causal).unwrap();
            let want_output: Vec<Value> = to_values(&input["rasp_output"]);
            assert!(
                output.len() == want_output.len()
                    && output
                        .iter()
                        .zip(&want_output)
                        .all(|(g, w)| same_value(g, w)),
                "{name}: output on {xs:?}\n got  {output:?}\n want {want_output:?}"
            );
        }
    }
    assert!(checked > 1000, "only {checked} node values checked");
}

#[test]
fn fixture_values_parse_as_tuples_for_nary_sequencemap() {
    // Guards the test's own reading of tuple-valued nodes: `jv` writes tuples as lists.
    let fixture = load("nary_sequencemap");
    let values = &fixture["inputs"][0]["rasp_node_values"]["sequence_map_2"];
    assert!(matches!(to_value(&values[0]), Value::Tuple(ref t) if t.len() == 3));
}

/// A fixture table cell computed by a RASP function: `None` where Tracr's `call` swallowed an ArithmeticError.
fn swallow_arithmetic(result: Result<Value, tracr::rasp::PyError>) -> Value {
    match result {
        Ok(v) => v,
        Err(e) if e.is_arithmetic() => Value::None,
        Err(e) => panic!("a fixture table cell raised {e}"),
    }
}

#[test]
fn functions_and_predicates_reproduce_tracrs_tables_on_whole_value_sets() {
    use tracr::rasp::{Predicate, SOpKind, SelectorKind};
    let mut cells = 0usize;
    for name in fixture_names() {
        let program = by_name(&name).unwrap();
        let graph = extract(&program.program).unwrap();
        let fixture = load(&name);
        for (node, json) in graph
            .nodes
            .iter()
            .zip(fixture["program"]["nodes"].as_array().unwrap())
        {
            let rows = |key: &str| -> Vec<Vec<Value>> {
                json[key]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: {} has no {key}", node.label))
                    .iter()
                    .map(to_values)
                    .collect()
            };
            let what = format!("{name}: {}", node.label);
            if let Some(sop) = node.expr.as_sop() {
                match sop.kind() {
                    SOpKind::Map { f, .. } => {
                        for row in rows("fn_table") {
                            let got = swallow_arithmetic(f.call(&row[0]));
                            assert!(
                                same_value(&got, &row[1]),
                                "{what}: f({:?}) = {got:?}, want {:?}",
                                row[0],
                                row[1]
                            );
                            cells += 1;
                        }
                    }
                    SOpKind::SequenceMap { f, .. } => {
                        for row in rows("fn_table") {
                            let got = swallow_arithmetic(f.call(&row[0], &row[1]));
                            assert!(
                                same_value(&got, &row[2]),
                                "{what}: f({:?}, {:?}) = {got:?}, want {:?}",
                                row[0],
                                row[1],
                                row[2]
                            );
                            cells += 1;
                        }
                    }
                    SOpKind::LinearSequenceMap {
                        fst_fac, snd_fac, ..
                    } => {
                        assert_eq!(Some(*fst_fac), json["fst_fac"].as_f64(), "{what}: fst_fac");
                        assert_eq!(Some(*snd_fac), json["snd_fac"].as_f64(), "{what}: snd_fac");
                    }
                    SOpKind::Aggregate { default, .. } => {
                        let want = to_value(&json["default"]);
                        assert!(
                            same_value(default, &want),
                            "{what}: default {default:?}, want {want:?}"
                        );
                    }
                    _ => {}
                }
            } else if let Some(SelectorKind::Select { predicate, .. }) =
                node.expr.as_selector().map(|s| s.kind())
            {
                let kind = match predicate {
                    Predicate::Comparison(c) => c.to_string(),
                    _ => "custom".to_string(),
                };
                assert_eq!(
                    kind,
                    json["predicate"].as_str().unwrap(),
                    "{what}: predicate"
                );
                for row in rows("predicate_table") {
                    let got = predicate.apply(&row[0], &row[1]).unwrap();
                    assert_eq!(
                        Value::Bool(got),
                        row[2],
                        "{what}: predicate({:?}, {:?})",
                        row[0],
                        row[1]
                    );
                    cells += 1;
                }
            }
        }
    }
    assert!(cells > 500, "only {cells} table cells checked");
}

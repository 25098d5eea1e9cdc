//! Every fixture node's craft block, rebuilt from the fixture's own value sets and tables, equals Tracr's.

mod common;

use std::collections::HashMap;

use serde_json::Value as Json;
use tracr::craft::bases::{BasisDirection, VectorSpace};
use tracr::craft::blocks::Block;
use tracr::craft::chamber::categorical_attn::{categorical_attn, CategoricalAttn};
use tracr::craft::chamber::categorical_mlp::{
    map_categorical_mlp, map_categorical_to_numerical_mlp, sequence_map_categorical_mlp,
};
use tracr::craft::chamber::numerical_mlp::{
    linear_sequence_map_numerical_mlp, map_numerical_mlp, map_numerical_to_categorical_mlp,
    DiscretisingMlp,
};
use tracr::craft::chamber::selector_width::{selector_width, SelectorWidth};
use tracr::craft::json::{block_to_json, direction_from_json, value_from_json};
use tracr::value::Value;

/// Tracr's constants (`compile_rasp_to_model` defaults and the fixtures' `mlp_exactness`).
const COLDNESS: f64 = 100.0;

struct Program<'a> {
    nodes: HashMap<String, &'a Json>,
    mlp_exactness: f64,
}

impl<'a> Program<'a> {
    fn node(&self, label: &str) -> &'a Json {
        self.nodes[label]
    }
    fn space(&self, label: &str) -> VectorSpace {
        let dirs = self.node(label)["output_basis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| direction_from_json(d).unwrap())
            .collect();
        VectorSpace::new(dirs)
    }
    fn values(&self, label: &str) -> Vec<Value> {
        self.node(label)["value_set"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| value_from_json(v).unwrap())
            .collect()
    }
    fn categorical(&self, label: &str) -> bool {
        self.node(label)["encoding"] == "categorical"
    }
    fn child(&self, label: &str, i: usize) -> String {
        self.node(label)["children"][i]
            .as_str()
            .unwrap()
            .to_string()
    }
    /// `(key, query) -> selected` from a Select's predicate table.
    fn predicate(&self, select: &str) -> HashMap<(Value, Value), bool> {
        self.node(select)["predicate_table"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    (
                        value_from_json(&row[0]).unwrap(),
                        value_from_json(&row[1]).unwrap(),
                    ),
                    row[2].as_bool().unwrap(),
                )
            })
            .collect()
    }
}

fn table(rows: &Json, arity: usize) -> HashMap<Vec<Value>, Value> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let row: Vec<Value> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|v| value_from_json(v).unwrap())
                .collect();
            (row[..arity].to_vec(), row[arity].clone())
        })
        .collect()
}

fn lookup(t: &HashMap<Vec<Value>, Value>, args: Vec<Value>) -> Option<Value> {
    match t.get(&args) {
        None | Some(Value::None) => None,
        Some(v) => Some(v.clone()),
    }
}

fn build_block(p: &Program, label: &str) -> Block {
    let node = p.node(label);
    let out = p.space(label);
    let one = VectorSpace::new(vec![BasisDirection::named("one")]);
    let bos = VectorSpace::new(vec![BasisDirection::new("tokens", Value::from("BOS"))]);
    let hidden_name = format!("_hidden_{label}_");
    match node["type"].as_str().unwrap() {
        "Map" => {
            let inner = p.child(label, 0);
            let input = p.space(&inner);
            let t = table(&node["fn_table"], 1);
            let f = |x: &Value| lookup(&t, vec![x.clone()]);
            let values = p.values(&inner);
            let spec = DiscretisingMlp {
                input_space: &input,
                output_space: &out,
                input_value_set: &values,
                one_space: &one,
                hidden_name: &hidden_name,
                large_number: p.mlp_exactness,
            };
            Block::Mlp(
                match (p.categorical(&inner), p.categorical(label)) {
                    (true, true) => map_categorical_mlp(&input, &out, label, &f),
                    (true, false) => map_categorical_to_numerical_mlp(&input, &out, &f),
                    (false, true) => map_numerical_to_categorical_mlp(spec, &f),
                    (false, false) => map_numerical_mlp(spec, &f),
                }
                .unwrap(),
            )
        }
        "SequenceMap" | "LinearSequenceMap" => {
            let (fst, snd) = (p.space(&p.child(label, 0)), p.space(&p.child(label, 1)));
            let t = table(&node["fn_table"], 2);
            Block::Mlp(
                if node["type"] == "LinearSequenceMap" {
                    linear_sequence_map_numerical_mlp(
                        &fst.basis()[0],
                        &snd.basis()[0],
                        &out.basis()[0],
                        node["fst_fac"].as_f64().unwrap(),
                        node["snd_fac"].as_f64().unwrap(),
                        &hidden_name,
                    )
                } else if fst == snd {
                    let f = |x: &Value| lookup(&t, vec![x.clone(), x.clone()]);
                    map_categorical_mlp(&fst, &out, label, &f)
                } else {
                    let op = |x: &BasisDirection, y: &BasisDirection| {
                        let args = vec![x.value.clone().unwrap(), y.value.clone().unwrap()];
                        lookup(&t, args).map(|v| BasisDirection::new(label, v))
                    };
                    sequence_map_categorical_mlp(&fst, &snd, &out, &one, &hidden_name, &op)
                }
                .unwrap(),
            )
        }
        "Aggregate" => {
            let select = p.child(label, 0);
            let (keys, queries) = (p.child(&select, 0), p.child(&select, 1));
            let pred = p.predicate(&select);
            let attn_fn = |q: &BasisDirection, k: &BasisDirection| {
                pred[&(k.value.clone().unwrap(), q.value.clone().unwrap())]
            };
            let head = categorical_attn(
                CategoricalAttn {
                    query_space: &p.space(&queries),
                    key_space: &p.space(&keys),
                    value_space: &p.space(&p.child(label, 1)),
                    output_space: &out,
                    bos_space: &bos,
                    one_space: &one,
                    default_output: None,
                    causal: false,
                    always_attend_to_bos: false,
                    use_bos_for_default_output: true,
                    softmax_coldness: COLDNESS,
                },
                &attn_fn,
            )
            .unwrap();
            Block::Attention(head)
        }
        "SelectorWidth" => {
            let select = p.child(label, 0);
            let (keys, queries) = (p.child(&select, 0), p.child(&select, 1));
            let pred = p.predicate(&select);
            let attn_fn = |q: &BasisDirection, k: &BasisDirection| {
                pred[&(k.value.clone().unwrap(), q.value.clone().unwrap())]
            };
            let values = p.values(label);
            let (head, mlp) = selector_width(
                SelectorWidth {
                    query_space: &p.space(&queries),
                    key_space: &p.space(&keys),
                    output_space: &out,
                    bos_space: &bos,
                    one_space: &one,
                    out_value_set: &values,
                    categorical_output: p.categorical(label),
                    causal: false,
                    softmax_coldness: COLDNESS,
                    mlp_large_number: p.mlp_exactness,
                    label,
                },
                &attn_fn,
            )
            .unwrap();
            Block::AttentionThenMlp(head, mlp)
        }
        other => panic!("{label}: no block for node type {other}"),
    }
}

#[test]
fn every_fixture_block_is_rebuilt_exactly_from_the_fixture_tables() {
    let mut checked = 0;
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let nodes = fixture["program"]["nodes"].as_array().unwrap();
        let program = Program {
            nodes: nodes
                .iter()
                .map(|n| (n["label"].as_str().unwrap().to_string(), n))
                .collect(),
            mlp_exactness: fixture["compile_args"]["mlp_exactness"].as_f64().unwrap(),
        };
        for node in nodes {
            let label = node["label"].as_str().unwrap();
            let Some(expected) = node.get("block").filter(|b| !b.is_null()) else {
                continue;
            };
            let ours = block_to_json(&build_block(&program, label));
            assert!(
                ours == *expected,
                "{name}/{label}: block differs\nours:     {ours}\nexpected: {expected}"
            );
            checked += 1;
        }
    }
    // The 26 fixtures hold 91 compiled nodes between them; fewer means blocks went unchecked.
    assert_eq!(checked, 91, "number of blocks checked");
}

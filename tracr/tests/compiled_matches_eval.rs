//! Random supported RASP programs: the compiled model's output equals the RASP evaluator's.
//!
//! 256 cases by default (proptest's default); raise with `PROPTEST_CASES`.

use proptest::prelude::*;
use tracr::error::Error;
use tracr::rasp::validate::dynamic_validate;
use tracr::rasp::{self, Comparison, MapFn, SOp, SeqMapFn};
use tracr::value::Value;
use tracr::{compile, CompileOptions};

/// Tracr's own test tolerance for numerical outputs (rasp_to_transformer_integration_test).
const ATOL: f64 = 1e-7;
/// As above: soft attention leaves a little weight on BOS, so means are close, not exact.
const RTOL: f64 = 0.005;

/// What a mean over nothing leaks: attending only to BOS (logit c/2 after scaling) still leaves
/// `exp(-c/2 · scale)` on each of the other keys, whose values reach the output.
fn softmax_leak(max_seq_len: usize, attn_logit_scale: f64) -> f64 {
    max_seq_len as f64 * (-0.5 * 100.0 * attn_logit_scale).exp()
}

/// Token values are small ints so every Map/SequenceMap stays in a small value set.
const VOCAB: [i64; 4] = [0, 1, 2, 3];

/// One step of a straight-line program; operands index earlier SOps (modulo their number).
#[derive(Debug, Clone)]
enum Step {
    /// `(a*x + b) % m`, categorical.
    Map { x: usize, a: i64, b: i64, m: i64 },
    /// `(x + y) % m`, `(x - y) % m` or `(x * y) % m`, categorical.
    SequenceMap { x: usize, y: usize, op: u8, m: i64 },
    /// Categorical `Aggregate(Select(k, q, cmp), v)`; its output may be None, so it is never selected on.
    Aggregate {
        k: usize,
        q: usize,
        cmp: usize,
        v: usize,
    },
    /// `SelectorWidth(Select(k, q, cmp))`, categorical.
    SelectorWidth { k: usize, q: usize, cmp: usize },
}

/// What the program ends with.
#[derive(Debug, Clone)]
enum Output {
    /// The last step's SOp.
    Last,
    /// A numerical mean of `x == c` over `Select(k, q, cmp)`.
    NumericalMean {
        k: usize,
        q: usize,
        cmp: usize,
        x: usize,
        c: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let i = 0usize..64;
    prop_oneof![
        (i.clone(), 0i64..3, 0i64..3, 2i64..5).prop_map(|(x, a, b, m)| Step::Map { x, a, b, m }),
        (i.clone(), i.clone(), 0u8..3, 2i64..5).prop_map(|(x, y, op, m)| Step::SequenceMap {
            x,
            y,
            op,
            m
        }),
        (i.clone(), i.clone(), 0usize..8, i.clone()).prop_map(|(k, q, cmp, v)| Step::Aggregate {
            k,
            q,
            cmp,
            v
        }),
        (i.clone(), i.clone(), 0usize..8).prop_map(|(k, q, cmp)| Step::SelectorWidth { k, q, cmp }),
    ]
}

fn output() -> impl Strategy<Value = Output> {
    let i = 0usize..64;
    prop_oneof![
        3 => Just(Output::Last),
        1 => (i.clone(), i.clone(), 0usize..8, i, 0i64..3)
            .prop_map(|(k, q, cmp, x, c)| Output::NumericalMean { k, q, cmp, x, c }),
    ]
}

/// The SOps built so far: all of them, those that are never None (safe to aggregate and to
/// query with), and those that are also safe as selector keys.
///
/// SelectorWidths are never keys: two in one layer share Tracr's BOS clean-up neuron and leave
/// -1 at the BOS position (Tracr quirk, reproduced), which a later selector then attends to.
struct Pool {
    all: Vec<SOp>,
    total: Vec<SOp>,
    keys: Vec<SOp>,
}

impl Pool {
    fn any(&self, i: usize) -> SOp {
        self.all[i % self.all.len()].clone()
    }
    fn total(&self, i: usize) -> SOp {
        self.total[i % self.total.len()].clone()
    }
    fn key(&self, i: usize) -> SOp {
        self.keys[i % self.keys.len()].clone()
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Bool(b) => i64::from(*b),
        // A categorical mean is a float in Python (`sum/len`); a fractional one only arises on
        // inputs that dynamic validation rejects, so any int will do there.
        Value::Float(x) => x.floor() as i64,
        other => panic!("generated programs only compute ints, got {other:?}"),
    }
}

fn build(steps: &[Step], out: &Output) -> SOp {
    let mut pool = Pool {
        all: vec![rasp::tokens(), rasp::indices()],
        total: vec![rasp::tokens(), rasp::indices()],
        keys: vec![rasp::tokens(), rasp::indices()],
    };
    for s in steps {
        let is_width = matches!(s, Step::SelectorWidth { .. });
        let (sop, total) = match *s {
            Step::Map { x, a, b, m } => {
                let input = pool.any(x);
                let f = MapFn::infallible(move |v| Value::Int((a * int(v) + b).rem_euclid(m)));
                let total = pool.total.iter().any(|t| t.ptr_eq(&input));
                (rasp::map(f, &input), total)
            }
            Step::SequenceMap { x, y, op, m } => {
                let (fst, snd) = (pool.any(x), pool.any(y));
                let f = SeqMapFn::new(move |a, b| {
                    let (a, b) = (int(a), int(b));
                    let r = match op {
                        0 => a + b,
                        1 => a - b,
                        _ => a * b,
                    };
                    Ok(Value::Int(r.rem_euclid(m)))
                });
                let total = [&fst, &snd]
                    .iter()
                    .all(|s| pool.total.iter().any(|t| t.ptr_eq(s)));
                (rasp::sequence_map(f, &fst, &snd), total)
            }
            Step::Aggregate { k, q, cmp, v } => {
                let sel = rasp::select(&pool.key(k), &pool.total(q), Comparison::ALL[cmp]);
                (rasp::aggregate(&sel, &pool.total(v)), false)
            }
            Step::SelectorWidth { k, q, cmp } => {
                let sel = rasp::select(&pool.key(k), &pool.total(q), Comparison::ALL[cmp]);
                (rasp::selector_width(&sel), true)
            }
        };
        if total {
            pool.total.push(sop.clone());
            if !is_width {
                pool.keys.push(sop.clone());
            }
        }
        pool.all.push(sop);
    }
    match *out {
        Output::Last => pool.all.last().expect("tokens at least").clone(),
        Output::NumericalMean { k, q, cmp, x, c } => {
            let is_c = MapFn::infallible(move |v| Value::Int(i64::from(int(v) == c)));
            let bools = rasp::numerical(&rasp::map(is_c, &pool.total(x)));
            let sel = rasp::select(&pool.key(k), &pool.total(q), Comparison::ALL[cmp]);
            rasp::numerical(&rasp::aggregate_with_default(&sel, &bools, 0))
        }
    }
}

/// Whether some categorical Aggregate selects distinct values for one query.
///
/// Tracr's dynamic validation only checks that the mean is among the input values, which misses
/// e.g. mean(0, 2) = 1 when 1 occurs elsewhere; the model then decodes an arbitrary tie.
fn averages_distinct_values(graph: &tracr::graph::RaspGraph, xs: &[Value], causal: bool) -> bool {
    let values = rasp::evaluate_all(graph, xs, causal).unwrap();
    graph.nodes.iter().any(|node| {
        let Some(sop) = node.expr.as_sop() else {
            return false;
        };
        if !matches!(sop.kind(), rasp::SOpKind::Aggregate { .. }) || !sop.is_categorical() {
            return false;
        }
        let selected = values[&node.children[0]].as_matrix().unwrap();
        let inputs = values[&node.children[1]].as_sequence().unwrap();
        selected.iter().any(|row| {
            let mut chosen = row.iter().zip(inputs).filter(|(s, _)| **s).map(|(_, v)| v);
            let first = chosen.next();
            chosen.any(|v| Some(v) != first)
        })
    })
}

proptest! {
    #[test]
    fn compiled_model_output_equals_rasp_evaluation(
        steps in prop::collection::vec(step(), 1..5),
        out in output(),
        max_seq_len in 2usize..=5,
        causal in any::<bool>(),
        inputs in prop::collection::vec(prop::collection::vec(0usize..VOCAB.len(), 1..=5), 1..6),
    ) {
        let program = build(&steps, &out);
        let vocab: Vec<Value> = VOCAB.iter().map(|&v| Value::Int(v)).collect();
        let model = match compile(&program, &vocab, max_seq_len, &CompileOptions { causal, ..CompileOptions::default() }) {
            Ok(model) => model,
            // Tracr cannot compile these either (it crashes on the OV width).
            Err(Error::KeySizeTooSmall { .. }) => return Ok(()),
            // Neither can Tracr compile a program that never reads the tokens.
            Err(Error::Unsupported { reason, .. }) if reason.contains("rasp.tokens") => return Ok(()),
            Err(e) => panic!("compile failed: {e}\nprogram: {steps:?} {out:?}"),
        };
        let graph = tracr::graph::extract(&program).unwrap();
        let leak = softmax_leak(max_seq_len, model.config.attn_logit_scale);
        for ids in inputs {
            let xs: Vec<Value> = ids.iter().take(max_seq_len).map(|&i| Value::Int(VOCAB[i])).collect();
            // Averaging several categorical values or non-binary numbers is outside what Tracr compiles.
            if !dynamic_validate(&graph, &xs).unwrap().is_empty() || averages_distinct_values(&graph, &xs, causal) {
                continue;
            }
            let expected = rasp::evaluate(&program, &xs, causal).unwrap();
            let got = model.apply_without_bos(&xs).unwrap().decoded;
            for (pos, (m, r)) in got[1..].iter().zip(&expected).enumerate() {
                if *r == Value::None {
                    continue; // Tracr's tests ignore None: the model has no way to say it.
                }
                if model.categorical_output {
                    prop_assert_eq!(m, r, "position {} of input {:?}; program {:?} {:?}", pos, xs, steps, out);
                } else {
                    let (m, r) = (m.as_f64().unwrap(), r.as_f64().unwrap());
                    prop_assert!(
                        (m - r).abs() <= ATOL + leak + RTOL * r.abs(),
                        "position {} of input {:?}: model {} vs RASP {}; program {:?} {:?}", pos, xs, m, r, steps, out
                    );
                }
            }
        }
    }
}

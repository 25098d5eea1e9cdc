//! Rotating a compiled model's residual stream (`tracr compile --rotate SEED`) changes no output, no
//! masked-forward output or mask gradient, and no ground truth: over every library program and random
//! seeds. Edge Pruning finds the same circuit on the rotated reverse.
//!
//! Tolerances: decoded outputs and unembedded values 1e-9 (relative above 1): the rotation and its
//! transpose are orthogonal to round-off (about 1e-15 per product), and compiled activations reach
//! ~1e2, so the round-off stays far below 1e-9. Masked outputs and gradients 1e-9 relative plus a
//! 1e-12 absolute floor for entries that are exactly 0 unrotated and round-off rotated.
//! Case count: `PROPTEST_CASES` (default 12: each case compiles and certifies a program).

mod common;

use ndarray::Array2;
use proptest::prelude::*;
use serde_json::Value as Json;

use common::random_setup::cases;
use edgeprune::ablation::Ablation;
use edgeprune::forward::MaskedForward;
use edgeprune::objective::metric::Metric;
use edgeprune::rng::Rng;
use edgeprune::task::Task;
use edgeprune::truth::{functional, structural};
use tracr::library::{registry, LibProgram};
use tracr::value::Value;
use tracr::CompiledModel;

const TOLERANCE: f64 = 1e-9;
const FLOOR: f64 = 1e-12;

fn compiled(program: &LibProgram) -> CompiledModel {
    program
        .compile()
        .unwrap_or_else(|e| panic!("{}: {e}", program.name))
}

fn oracle_inputs(name: &str) -> Vec<Vec<Value>> {
    let fixture = common::load_fixture(&format!("tracr/{name}.json"));
    fixture["inputs"]
        .as_array()
        .expect("fixture inputs")
        .iter()
        .map(|case| {
            case["model_input"]
                .as_array()
                .expect("model_input")
                .iter()
                .map(|v| tracr::craft::json::value_from_json(v).expect("a token"))
                .collect()
        })
        .collect()
}

fn task(name: &str, model: &Json, length: usize) -> Task {
    Task::from_tracr_model(name, model, length, 0).expect("task builds")
}

fn close(a: f64, b: f64, relative: f64, floor: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()) + floor
}

/// Rotated and unrotated read the same output values on every oracle input, and decode alike wherever
/// the unrotated output has a unique maximum (a tie, e.g. an all-zero output, is broken by round-off).
fn check_outputs(name: &str, plain: &CompiledModel, rotated: &CompiledModel) -> Result<(), String> {
    for input in oracle_inputs(name) {
        let want = plain.apply_traced(&input).map_err(|e| e.to_string())?;
        let got = rotated.apply_traced(&input).map_err(|e| e.to_string())?;
        let last = |out: &tracr::model::ModelOutput| {
            let trace = out.trace.as_ref().expect("traced");
            trace
                .residuals
                .last()
                .unwrap_or(&trace.input_embeddings)
                .clone()
        };
        let want_values = plain.read_output(&last(&want));
        let got_values = rotated.read_output(&last(&got));
        for ((index, g), w) in got_values.indexed_iter().zip(want_values.iter()) {
            if !close(*g, *w, TOLERANCE, TOLERANCE) {
                return Err(format!(
                    "{name} input {input:?} position/output {index:?}: rotated reads {g} vs {w}"
                ));
            }
        }
        if !plain.categorical_output {
            // A numerical model decodes the value read, compared above.
            continue;
        }
        for (position, row) in want_values.rows().into_iter().enumerate().skip(1) {
            let mut sorted: Vec<f64> = row.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let unique = sorted.len() < 2 || sorted[0] - sorted[1] > TOLERANCE;
            if unique && got.decoded[position] != want.decoded[position] {
                return Err(format!(
                    "{name} input {input:?} position {position}: rotated decodes {:?} vs {:?}",
                    got.decoded[position], want.decoded[position]
                ));
            }
        }
    }
    Ok(())
}

/// Masked outputs, metric and mask gradients at random masks agree, under zero and interchange ablation.
fn check_masked(name: &str, plain: &Task, rotated: &Task, seed: u64) -> Result<(), String> {
    for ablation_name in ["zero", "interchange"] {
        let ablation = |t: &Task| match ablation_name {
            "zero" => Ablation::Zero,
            _ => Ablation::Interchange {
                corrupted_ids: t.corrupted.clone(),
            },
        };
        let mut forwards = [plain, rotated].map(|t| {
            MaskedForward::new(&t.model, t.clean.view(), &ablation(t)).expect("masked forward")
        });
        let edges = forwards[0].graph().num_edges();
        let writers = forwards[0].graph().num_writers();
        let mut rng = Rng::new(seed);
        let edge_mask: Vec<f64> = (0..edges).map(|_| rng.uniform()).collect();
        let node_mask: Vec<f64> = (0..writers).map(|_| rng.uniform()).collect();
        let batch: Vec<usize> = (0..plain.num_examples()).collect();
        let mut results = Vec::new();
        for forward in &mut forwards {
            let mut grad_edge = vec![0.0; edges];
            let mut grad_node = vec![0.0; writers];
            let metric = forward
                .metric_and_gradients(
                    Metric::Kl,
                    &batch,
                    &edge_mask,
                    &node_mask,
                    &mut grad_edge,
                    &mut grad_node,
                )
                .map_err(|e| e.to_string())?;
            let output: Array2<f64> = forward
                .output()
                .to_shape((batch.len() * plain.clean.ncols(), forward.output().dim().2))
                .expect("output reshapes")
                .to_owned();
            results.push((metric, output, grad_edge, grad_node));
        }
        let (want, got) = (&results[0], &results[1]);
        let at = format!("{name} ({ablation_name} ablation, mask seed {seed})");
        if !close(got.0, want.0, TOLERANCE, FLOOR) {
            return Err(format!("{at}: KL rotated {} vs {}", got.0, want.0));
        }
        for ((index, g), w) in got.1.indexed_iter().zip(want.1.iter()) {
            if !close(*g, *w, TOLERANCE, FLOOR) {
                return Err(format!("{at}: masked output {index:?} rotated {g} vs {w}"));
            }
        }
        for (what, g, w) in [("edge", &got.2, &want.2), ("node", &got.3, &want.3)] {
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                if !close(*g, *w, TOLERANCE, FLOOR) {
                    return Err(format!(
                        "{at}: d KL / d {what} mask {i}: rotated {g} vs {w}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Structural truth (read in the compiled basis) and functional truth are the same edges.
fn check_truth(name: &str, plain: &Task, rotated: &Task) -> Result<(), String> {
    let names = |t: &Task, c: &edgeprune::circuit::Circuit| {
        let graph = edgeprune::graph::EdgeGraph::for_model(&t.model);
        c.kept_edge_names(&graph)
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (s_plain, s_rot) = (structural(&plain.model), structural(&rotated.model));
    if s_plain != s_rot {
        return Err(format!(
            "{name}: structural truth rotated {:?} vs {:?}",
            names(rotated, &s_rot),
            names(plain, &s_plain)
        ));
    }
    let f_plain = functional(plain, &Ablation::Zero, &s_plain).map_err(|e| e.to_string())?;
    let f_rot = functional(rotated, &Ablation::Zero, &s_rot).map_err(|e| e.to_string())?;
    if f_plain.circuit != f_rot.circuit {
        return Err(format!(
            "{name}: functional truth rotated {:?} vs {:?}",
            names(rotated, &f_rot.circuit),
            names(plain, &f_plain.circuit)
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(12)))]

    #[test]
    fn rotation_changes_no_output_gradient_or_truth(index in 0usize..26, seed in any::<u64>()) {
        let programs = registry();
        let program = &programs[index % programs.len()];
        let plain = compiled(program);
        let rotated = tracr::transform::rotate(&plain, seed).expect("rotation");
        prop_assert!(rotated.residual_labels.iter().all(|l| l.starts_with("rotated:")));
        let outputs = check_outputs(program.name, &plain, &rotated);
        prop_assert!(outputs.is_ok(), "seed {}: {}", seed, outputs.unwrap_err());
        // The round trip through JSON is what `--model` reads.
        let (plain_json, rotated_json) = (plain.to_json(), rotated.to_json());
        let reread = CompiledModel::from_json(&rotated_json).expect("rotated model re-reads");
        prop_assert_eq!(&reread, &rotated, "{}: JSON round trip", program.name);
        let plain_task = task(program.name, &plain_json, program.max_seq_len);
        let rotated_task = task(program.name, &rotated_json, program.max_seq_len);
        let masked = check_masked(program.name, &plain_task, &rotated_task, seed);
        prop_assert!(masked.is_ok(), "seed {}: {}", seed, masked.unwrap_err());
        let truth = check_truth(program.name, &plain_task, &rotated_task);
        prop_assert!(truth.is_ok(), "seed {}: {}", seed, truth.unwrap_err());
    }
}

/// Edge Pruning (default preset, seed 42; rotation seeds 1, 2, 3) and ACDC (rotation seed 1: its sweep
/// on the dense rotated model is the slow part of this file) find the same circuit on Edge Pruning's
/// reverse (reverse_123, length 3) rotated as unrotated.
///
/// EAP is left out on purpose: its scores are rotation-invariant (checked in
/// `eap_scores_are_rotation_invariant`), but several needed edges score exactly 0 on the compiled
/// model (saturated attention passes no gradient), and on a rotated model the edges that cannot carry
/// anything score round-off (~1e-17) instead of 0, so the top-k order among zero scores, and with it
/// EAP's smallest faithful top-k, changes: 25 edges instead of 13 with seed 1. A finding about EAP
/// on rotated models, reported in docs/harder-truth.md.
#[test]
fn methods_find_the_same_circuit_on_the_rotated_reverse() {
    let program = registry()
        .into_iter()
        .find(|p| p.name == "reverse_123")
        .expect("reverse_123 in the registry");
    let plain = compiled(&program);
    let plain_task = task("reverse_123", &plain.to_json(), 3);
    for method_name in ["ep", "acdc"] {
        let method = edgeprune::methods::by_name(method_name, 42).expect("method");
        let run = |t: &Task| {
            method
                .run(&edgeprune::methods::MethodInput {
                    task: t,
                    ablation: &Ablation::Zero,
                })
                .expect("method runs")
                .circuit
        };
        let want = run(&plain_task);
        let seeds: &[u64] = if method_name == "ep" {
            &[1, 2, 3]
        } else {
            &[1]
        };
        for &seed in seeds {
            let rotated = tracr::transform::rotate(&plain, seed).expect("rotation");
            let rotated_task = task("reverse_123", &rotated.to_json(), 3);
            let got = run(&rotated_task);
            let graph = edgeprune::graph::EdgeGraph::for_model(&plain_task.model);
            assert_eq!(
                got.kept_edge_names(&graph),
                want.kept_edge_names(&graph),
                "{method_name} on reverse_123 rotated with seed {seed} (left) vs unrotated (right)"
            );
        }
    }
}

/// EAP's edge scores on the rotated reverse equal the unrotated ones within 1e-9 of the largest score
/// (round-off of the rotation; see the note above).
#[test]
fn eap_scores_are_rotation_invariant() {
    let program = registry()
        .into_iter()
        .find(|p| p.name == "reverse_123")
        .expect("reverse_123 in the registry");
    let plain = compiled(&program);
    let rotated = tracr::transform::rotate(&plain, 1).expect("rotation");
    let method = edgeprune::methods::by_name("eap", 0).expect("eap");
    let scores = |model: &CompiledModel| {
        let t = task("reverse_123", &model.to_json(), 3);
        method
            .run(&edgeprune::methods::MethodInput {
                task: &t,
                ablation: &Ablation::Zero,
            })
            .expect("eap runs")
            .scores
    };
    let (want, got) = (scores(&plain), scores(&rotated));
    let largest = want.iter().fold(0.0f64, |m, s| m.max(s.abs()));
    for (edge, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= TOLERANCE * largest,
            "EAP score of edge {edge}: rotated {g:e} vs unrotated {w:e} (largest {largest:e})"
        );
    }
}

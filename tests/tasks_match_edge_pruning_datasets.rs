//! Edge Pruning's Tracr datasets: every input enumerated in their row order, corruptions change every non-BOS token.

use std::path::Path;

use edgeprune::rng::Rng;
use edgeprune::task::{corrupt, input_sequences, Task, Vocabulary, MAX_ENUMERATED};
use ndarray::Array2;
use serde_json::Value;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

fn ep_input_ids(name: &str) -> Array2<usize> {
    let path = fixtures().join(format!("edge-pruning/ep_masked_forward_{name}.json"));
    let value: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("parse");
    let rows: Vec<Vec<usize>> = value["inputs"]["input_ids"]
        .as_array()
        .expect("input_ids")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_u64().expect("id") as usize)
                .collect()
        })
        .collect();
    let width = rows[0].len();
    Array2::from_shape_vec((rows.len(), width), rows.concat()).expect("rectangular")
}

fn check_corruption(task: &Task) {
    let ids = task.vocabulary.ids();
    for (row, (clean, corrupted)) in task
        .clean
        .rows()
        .into_iter()
        .zip(task.corrupted.rows())
        .enumerate()
    {
        assert_eq!(corrupted[0], task.vocabulary.bos_id, "row {row}: BOS kept");
        for position in 1..clean.len() {
            assert_ne!(
                clean[position],
                corrupted[position],
                "row {row} ({}), position {position} not corrupted",
                task.describe(row)
            );
            assert!(
                ids.contains(&corrupted[position]),
                "row {row}: {} is not a token",
                corrupted[position]
            );
        }
    }
}

#[test]
fn reverse_task_enumerates_all_27_inputs_in_edge_prunings_order() {
    let task = Task::reverse(fixtures()).expect("reverse task");
    assert_eq!(task.clean.dim(), (27, 4));
    let theirs = ep_input_ids("reverse");
    assert_eq!(
        task.clean.slice(ndarray::s![..8, ..]),
        theirs,
        "first 8 dataset rows"
    );
    assert_eq!(task.describe(5), "BOS 1 2 3");
    check_corruption(&task);
}

#[test]
fn xproportion_task_enumerates_all_256_inputs_in_edge_prunings_order() {
    let task = Task::xproportion(fixtures()).expect("xproportion task");
    assert_eq!(task.clean.dim(), (256, 5));
    let theirs = ep_input_ids("xproportion");
    assert_eq!(
        task.clean.slice(ndarray::s![..8, ..]),
        theirs,
        "first 8 dataset rows"
    );
    assert_eq!(task.describe(255), "BOS x x x x");
    check_corruption(&task);
}

#[test]
fn long_inputs_are_sampled_reproducibly() {
    // 4^7 = 16384 > 10000 sequences: a seeded sample of MAX_ENUMERATED rows.
    let vocabulary = Vocabulary {
        tokens: vec![
            ("a".into(), 1),
            ("b".into(), 2),
            ("c".into(), 3),
            ("d".into(), 4),
        ],
        bos_id: 0,
    };
    let a = input_sequences(&vocabulary, 7, &mut Rng::new(5));
    let b = input_sequences(&vocabulary, 7, &mut Rng::new(5));
    assert_eq!(a.dim(), (MAX_ENUMERATED, 8));
    assert_eq!(a, b, "same seed, same sample");
    assert!(a.column(0).iter().all(|&t| t == 0), "BOS first");
    let corrupted = corrupt(&a, &vocabulary, &mut Rng::new(6));
    assert!(
        a.iter()
            .zip(corrupted.iter())
            .filter(|(x, y)| x == y)
            .count()
            == MAX_ENUMERATED,
        "only BOS equal"
    );
}

#[test]
fn too_long_inputs_are_rejected_with_the_model_limit() {
    let err =
        Task::from_tracr_fixture(&fixtures().join("tracr/reverse_123.json"), 9, 0).unwrap_err();
    assert!(err.to_string().contains("positions"), "{err}");
}

#[test]
fn missing_fixture_is_an_io_error_naming_the_file() {
    let err = Task::from_tracr_fixture(&fixtures().join("tracr/nope.json"), 3, 0).unwrap_err();
    assert!(err.to_string().contains("nope.json"), "{err}");
}

//! An ACDC sweep given a time limit stops with a typed time-limit error once it passes (how
//! `edgeprune harder-truth --acdc-time-limit` keeps one slow sweep from holding the table), runs as
//! before when the limit is generous, and refuses limits that are not a positive number of seconds.

use std::path::Path;

use edgeprune::ablation::Ablation;
use edgeprune::error::Error;
use edgeprune::methods::acdc::Acdc;
use edgeprune::methods::{CircuitMethod, MethodInput};
use edgeprune::task::Task;

#[test]
fn a_sweep_past_its_limit_is_a_time_limit_error() {
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"));
    let task = Task::reverse(fixtures).expect("reverse task");
    let ablation = Ablation::Zero;
    let input = MethodInput {
        task: &task,
        ablation: &ablation,
    };
    // 1 ns: past before the first edge is tested.
    let error = Acdc::new()
        .with_time_limit(1e-9)
        .unwrap()
        .run(&input)
        .expect_err("a 1 ns sweep finished");
    assert!(matches!(error, Error::TimeLimit { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("time limit") && message.contains("--acdc-time-limit"),
        "{message}"
    );
    // A generous limit changes nothing.
    let limited = Acdc::new()
        .with_time_limit(3600.0)
        .unwrap()
        .run(&input)
        .unwrap();
    let plain = Acdc::new().run(&input).unwrap();
    assert_eq!(limited.circuit, plain.circuit);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(
            Acdc::new().with_time_limit(bad).is_err(),
            "time limit {bad} was accepted"
        );
    }
}

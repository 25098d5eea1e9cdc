//! The compression search's target is "decodes every input as the compiled model does" (the same
//! criterion as training's early stop), not 100 % against the RASP evaluator: a program whose compiled
//! model is itself wrong (known_bug_cat_to_num_negative: Tracr clips the negative outputs) still gets
//! a compressed width, and its accuracy against RASP is reported next to the agreement.

use edgeprune::compress::{smallest_exact_compression, CompressOptions};
use edgeprune::harder::{compile_library, compress_and_certify, rasp_outputs};
use edgeprune::task::Task;

#[test]
fn a_wrong_compiled_model_compresses_to_a_width_that_matches_it() {
    let name = "known_bug_cat_to_num_negative";
    let program = tracr::library::by_name(name).expect("in the registry");
    let model = compile_library(&program).expect("compiles");
    let task =
        Task::from_tracr_model(name, &model.to_json(), program.max_seq_len, 0).expect("task");
    let rasp = rasp_outputs(&program, &task).expect("RASP evaluates");
    let options = CompressOptions::default();
    // The old target: 100 % against RASP is unreachable at every width, since the compiled model
    // itself is wrong on every input.
    let against_rasp = smallest_exact_compression(
        &model,
        std::slice::from_ref(&task.clean),
        std::slice::from_ref(&rasp),
        &options,
        &mut |_, _, _| {},
    )
    .expect("trains");
    assert!(
        against_rasp.is_none(),
        "{name}: a width reached 100 % against RASP: {:?}",
        against_rasp.map(|(d, _)| d)
    );
    let mut tried = Vec::new();
    let report = compress_and_certify(
        name,
        &model,
        program.max_seq_len,
        Some(&rasp),
        None,
        &options,
        &mut |dims, agreement, _| tried.push((dims, agreement)),
    )
    .expect("compresses")
    .unwrap_or_else(|| panic!("{name}: no width matched the compiled model; tried {tried:?}"));
    let d_model = model.config.d_model;
    assert!(
        report.searched && report.dims < d_model,
        "{name}: width {} of {d_model} (searched: {})",
        report.dims,
        report.searched
    );
    assert_eq!(
        report.agreement, 1.0,
        "{name} at D = {}: agreement with the compiled model",
        report.dims
    );
    // Both accuracies are against RASP and reported apart from the agreement: the compiled model
    // is wrong on every input, and the compressed one, matching it, is too.
    assert_eq!(
        (report.compiled_accuracy, report.accuracy),
        (0.0, 0.0),
        "{name} at D = {}: (compiled, compressed) accuracy against RASP",
        report.dims
    );
    // The bisection's verdicts use the same criterion: the chosen width was tried with agreement 1,
    // and every narrower width tried fell short of it.
    assert!(
        tried.contains(&(report.dims, 1.0))
            && tried
                .iter()
                .filter(|(d, _)| *d < report.dims)
                .all(|(_, a)| *a < 1.0),
        "{name}: tried {tried:?}, chose {}",
        report.dims
    );
}

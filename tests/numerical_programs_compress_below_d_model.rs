//! Within the default training budget, a numerical program (frac_prevs: a numerical mean read out as
//! a number) compresses below d_model with every input decoded as the RASP evaluator says, within the
//! stated numerical tolerance (`compress::NUMERIC_ATOL`, `NUMERIC_RTOL`). Before the learning-rate
//! decay, no width below d_model reached 100 % on it.

use edgeprune::compress::{compress, decoded_accuracy, CompressOptions};
use edgeprune::harder::{compile_library, rasp_outputs};
use edgeprune::task::Task;

#[test]
fn frac_prevs_compresses_two_dimensions_below_d_model() {
    let program = tracr::library::by_name("frac_prevs").expect("frac_prevs in the registry");
    let model = compile_library(&program).expect("compiles");
    let task = Task::from_tracr_model("frac_prevs", &model.to_json(), program.max_seq_len, 0)
        .expect("task");
    let expected = rasp_outputs(&program, &task).expect("RASP evaluates");
    let dims = model.config.d_model - 2;
    let compressed = compress(
        &model,
        std::slice::from_ref(&task.clean),
        dims,
        &CompressOptions::default(),
    )
    .expect("compresses");
    let accuracy = decoded_accuracy(&compressed.model, &task.clean, &expected).expect("decodes");
    assert_eq!(
        accuracy, 1.0,
        "frac_prevs at D = {dims} of {}: decoded accuracy {accuracy} (final loss {})",
        model.config.d_model, compressed.loss
    );
}

//! The report's truth certification (one certifier set shared by the functional truth and the
//! alternatives search, forwards that reuse unchanged component states, certificates of repeated
//! circuits remembered) gives exactly what plain certification gives (a fresh set per search, a full
//! forward for every check): same circuits, same certificates to the bit, same differences, same
//! check counts, on every library program at the report's data, under both ablations.

use edgeprune::ablation::Ablation;
use edgeprune::cli::program::{AblationKind, ProgramArgs};
use edgeprune::report::html::{report_search, DEFAULT_INPUT_LENGTH};
use edgeprune::task::Task;
use edgeprune::truth::{
    functional_with, minimal_circuits_with, structural, CertifierSet, FunctionalTruth,
};

/// Everything of a functional truth, KLs as bits.
fn summary(truth: &FunctionalTruth) -> String {
    format!(
        "circuit {:?}\ncertificate kl {:#x} changed {}\nstructural kl {:#x} changed {}\ndifferences {:?}\nchecks {}",
        truth.circuit,
        truth.certificate.kl.to_bits(),
        truth.certificate.changed_examples,
        truth.structural_certificate.kl.to_bits(),
        truth.structural_certificate.changed_examples,
        truth.differences,
        truth.checks
    )
}

#[test]
fn shared_reusing_certifiers_give_the_plain_certification_on_every_library_program() {
    let mut compared = 0;
    for lib in tracr::library::names() {
        for kind in [AblationKind::Zero, AblationKind::Interchange] {
            let mut args = ProgramArgs::library(lib, kind);
            let max_seq_len = args
                .model
                .compile()
                .unwrap_or_else(|e| panic!("{lib}: {e}"))
                .max_seq_len;
            args.data.lengths = vec![DEFAULT_INPUT_LENGTH.min(max_seq_len)];
            let loaded = args.load().unwrap_or_else(|e| panic!("{lib}: {e}"));
            let ablations = loaded.ablations();
            let data: Vec<(&Task, &Ablation)> = loaded.tasks.iter().zip(&ablations).collect();
            let start = structural(&loaded.task.model);

            let mut shared = CertifierSet::new(&data).unwrap();
            let fast_truth = functional_with(&mut shared, &data, &start, &mut |_| {}).unwrap();
            let fast_set = minimal_circuits_with(&mut shared, &data, &report_search()).unwrap();

            let mut plain = CertifierSet::without_reuse(&data).unwrap();
            let plain_truth = functional_with(&mut plain, &data, &start, &mut |_| {}).unwrap();
            let mut plain = CertifierSet::without_reuse(&data).unwrap();
            let plain_set = minimal_circuits_with(&mut plain, &data, &report_search()).unwrap();

            assert_eq!(
                summary(&fast_truth),
                summary(&plain_truth),
                "{lib} ({kind:?}): functional truth, fast (left) vs plain (right)"
            );
            assert_eq!(
                fast_set, plain_set,
                "{lib} ({kind:?}): minimal circuits, fast (left) vs plain (right)"
            );
            let kl_bits = |set: &edgeprune::truth::MinimalCircuits| -> Vec<u64> {
                set.circuits
                    .iter()
                    .map(|m| m.certificate.kl.to_bits())
                    .collect()
            };
            assert_eq!(
                kl_bits(&fast_set),
                kl_bits(&plain_set),
                "{lib} ({kind:?}): KLs of the minimal circuits as bits"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 2 * tracr::library::names().len());
}

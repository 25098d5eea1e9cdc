//! `tracr compile --compress` trains on `tracr::transform::compress::task_inputs`; `edgeprune compress`
//! and docs/harder-truth.md train on a task's clean inputs. Both must be the same rows in the same
//! order (token ids, the enumeration order, and the seeded sample where a length has more than
//! MAX_ENUMERATED inputs), so the two commands compress on the same data.

use edgeprune::task::Task;
use tracr::transform::compress::task_inputs;

#[test]
fn every_library_program_gets_the_same_rows_from_both_crates() {
    let mut sampled = 0;
    // At their registry lengths no program has more than MAX_ENUMERATED inputs; at 7 tokens those
    // with 4 or more tokens do, so the sampled branch is compared too (at the longest length only,
    // the shorter ones being the registry's case again).
    let longer = tracr::library::registry_for(Some(7));
    for (program, first) in tracr::library::registry()
        .into_iter()
        .map(|p| (p, 1))
        .chain(longer.into_iter().map(|p| (p, 7)))
    {
        let model = program.compile().unwrap();
        for length in first..=program.max_seq_len {
            for seed in [0, 3] {
                let task = Task::from_compiled(program.name, &model, length, seed)
                    .unwrap_or_else(|e| panic!("{}: {e}", program.name));
                let rows = task_inputs(&model, length, seed).unwrap();
                assert_eq!(
                    rows, task.clean,
                    "{} length {length} seed {seed}",
                    program.name
                );
                sampled += usize::from(rows.nrows() == edgeprune::task::MAX_ENUMERATED);
            }
        }
    }
    // Both branches of the enumeration are compared: some lengths are sampled.
    assert!(
        sampled > 0,
        "no program had a length with a sampled input set"
    );
}

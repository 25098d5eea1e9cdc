//! Acceptance: every registry program's `tracr/lib/NAME.rasp` parses to the builder program's
//! graph (same labels, kinds, names, encodings, predicates) and evaluates to the same values.
//!
//! Case count: `PROPTEST_CASES` random inputs per program (default 24).

mod text_support;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use text_support::{config, evaluation_repr, graph_signature, input_strategy, lib_source};
use tracr::library::registry;
use tracr::rasp::text::parse;

#[test]
fn every_registry_program_has_a_rasp_file_with_the_same_graph() {
    for program in registry() {
        let source = lib_source(program.name);
        let parsed = parse(&source).unwrap_or_else(|e| panic!("lib/{}.rasp: {e}", program.name));
        let want = graph_signature(&program.program, false);
        let got = graph_signature(&parsed, false);
        assert_eq!(
            got, want,
            "lib/{}.rasp graph (left) differs from the builder's (right)",
            program.name
        );
    }
}

#[test]
fn every_rasp_file_is_a_registry_program() {
    let names = tracr::library::names();
    for entry in std::fs::read_dir(text_support::lib_dir()).expect("tracr/lib exists") {
        let path = entry.expect("readable entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            path.extension().is_some_and(|e| e == "rasp") && names.contains(&stem.as_str()),
            "{} is not the .rasp file of a registry program (registry: {names:?})",
            path.display()
        );
    }
}

#[test]
fn every_rasp_file_evaluates_like_its_builder_program_on_random_inputs() {
    for program in registry() {
        let parsed = parse(&lib_source(program.name)).expect("lib file parses");
        let mut runner = TestRunner::new(config(24));
        let result = runner.run(
            &input_strategy(program.vocab.clone(), program.max_seq_len),
            |xs| {
                let want = evaluation_repr(&program.program, &xs, program.causal);
                let got = evaluation_repr(&parsed, &xs, program.causal);
                prop_assert_eq!(&got, &want, "lib/{}.rasp on {:?}", program.name, xs);
                Ok(())
            },
        );
        if let Err(e) = result {
            panic!("{}: {e}", program.name);
        }
    }
}

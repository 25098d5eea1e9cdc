//! `tracr print --lib NAME` prints every library program (from its `tracr/lib/NAME.rasp`, as the
//! builders may hold Rust closures that have no text), led by a header with the program's
//! settings, so that the printed file evaluates like the library program.

mod cli_support;
mod rasp_support;

use cli_support::{scratch_dir, stderr, stdout, tracr, write_file};
use rasp_support::fixtures::load;

fn comma_list(json: &serde_json::Value) -> String {
    json.as_array()
        .unwrap()
        .iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn every_library_program_prints_and_the_text_evaluates_like_it() {
    let names = tracr::library::names();
    assert_eq!(names.len(), 26, "{names:?}");
    let dir = scratch_dir("print-lib");
    for name in names {
        let output = tracr(&["print", "--lib", name]);
        assert!(
            output.status.success(),
            "print --lib {name}: {}",
            stderr(&output)
        );
        let text = stdout(&output);
        let program = tracr::library::by_name(name).unwrap();
        let header = tracr::rasp::text::ProgramSettings::from_source(&text).unwrap();
        assert_eq!(
            header.vocab.as_ref(),
            Some(&program.vocab),
            "{name}: header of\n{text}"
        );
        assert_eq!(header.max_seq_len, Some(program.max_seq_len), "{name}");
        assert_eq!(header.causal, Some(program.causal), "{name}");
        let printed = write_file(&dir, &format!("{name}.rasp"), &text);
        for input in load(name)["inputs"].as_array().unwrap().iter().take(3) {
            let xs = comma_list(&input["input"]);
            let from_lib = tracr(&["eval", "--lib", name, "--input", &xs]);
            let from_text = tracr(&["eval", &printed, "--input", &xs]);
            assert!(
                from_lib.status.success(),
                "{name} {xs}: {}",
                stderr(&from_lib)
            );
            assert_eq!(
                stdout(&from_text),
                stdout(&from_lib),
                "{name} on {xs}: printed text (left) vs library (right); stderr {}\n{text}",
                stderr(&from_text)
            );
        }
    }
}

//! The streaming JSON writer (`tracr compile -o model.json`) writes exactly the bytes that
//! serialising the `serde_json::Value` tree of `CompiledModel::to_json` gives, for every library
//! program: the fast path changed no byte of the file format.

use tracr::formats::to_json_bytes;
use tracr::library::registry;
use tracr::{compile, CompileOptions};

#[test]
fn streamed_json_is_byte_identical_to_the_value_tree_for_every_library_program() {
    let mut checked = 0;
    for program in registry() {
        let options = CompileOptions {
            causal: program.causal,
            ..CompileOptions::default()
        };
        let model = compile(
            &program.program,
            &program.vocab,
            program.max_seq_len,
            &options,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", program.name));
        let mut tree = serde_json::to_string(&model.to_json()).unwrap();
        tree.push('\n');
        let streamed = to_json_bytes(&model);
        if streamed != tree.as_bytes() {
            let at = streamed
                .iter()
                .zip(tree.as_bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(streamed.len().min(tree.len()));
            let window = |bytes: &[u8]| {
                String::from_utf8_lossy(&bytes[at.saturating_sub(60)..(at + 60).min(bytes.len())])
                    .into_owned()
            };
            panic!(
                "{}: streamed JSON ({} bytes) differs from the value tree's ({} bytes) at byte {at}:\n\
                 streamed: …{}…\n    tree: …{}…",
                program.name,
                streamed.len(),
                tree.len(),
                window(&streamed),
                window(tree.as_bytes())
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 26, "every library program");
}

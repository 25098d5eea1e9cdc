//! `edgeprune --lib/--program ... --fix-tracr-bugs` compiles with Tracr's bugs fixed (the truth is
//! then the fixed model's), and the flag is refused with `--model`, whose weights are fixed.

mod cli_common;

use cli_common::{edgeprune, json_of, rejected};

/// The functional truth's edges of `known_bug_cat_to_num_negative`, with or without the flag.
fn functional_edges(extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "truth",
        "--lib",
        "known_bug_cat_to_num_negative",
        "--json",
        "-",
    ];
    args.extend_from_slice(extra);
    let json = json_of(&edgeprune(&args), &format!("truth {extra:?}"));
    json["functional"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no functional.edges in {}", json["functional"]))
        .iter()
        .map(|e| e.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_fixed_model_has_the_circuit_tracrs_model_lacks() {
    // Tracr's model clips -x to 0: its output is constant and its functional circuit empty.
    let tracr = functional_edges(&[]);
    assert!(tracr.is_empty(), "Tracr's model: {tracr:?}");
    let fixed = functional_edges(&["--fix-tracr-bugs"]);
    assert_eq!(
        fixed,
        ["tok->m0", "m0->resid_post"],
        "the fixed model computes -x from the tokens through its MLP"
    );
}

#[test]
fn the_flag_is_refused_with_a_compiled_model() {
    let dir = cli_common::scratch("fix_tracr_bugs_model");
    let model = dir.join("model.json");
    std::fs::write(&model, "{}").unwrap();
    rejected(
        &[
            "truth",
            "--model",
            model.to_str().unwrap(),
            "--fix-tracr-bugs",
        ],
        &["--fix-tracr-bugs", "makes no sense with --model"],
    );
}

//! `tracr compile --fix-tracr-bugs` (or a `# fix_tracr_bugs: true` header) writes a model that records
//! its fixes and that `tracr run` decodes as RASP does; without it the file is Tracr's, with no record.

mod cli_support;

use cli_support::{scratch_dir, stderr, stdout, tracr};

/// Compiles with `extra` flags to `out` and returns the model's JSON.
fn compile(args: &[&str], out: &std::path::Path) -> serde_json::Value {
    let mut all = vec!["compile"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out.to_str().unwrap()]);
    let output = tracr(&all);
    assert!(
        output.status.success(),
        "compile {args:?}: {}",
        stderr(&output)
    );
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn run(model: &std::path::Path, input: &str) -> String {
    let output = tracr(&["run", model.to_str().unwrap(), "--input", input]);
    assert!(output.status.success(), "run {input}: {}", stderr(&output));
    stdout(&output).trim().to_string()
}

#[test]
fn the_flag_fixes_and_records_and_the_default_stays_tracr() {
    let dir = scratch_dir("cli_compile_fix_tracr_bugs");
    let (plain, fixed) = (dir.join("plain.json"), dir.join("fixed.json"));
    let plain_json = compile(&["--lib", "known_bug_cat_to_num_negative"], &plain);
    let fixed_json = compile(
        &["--lib", "known_bug_cat_to_num_negative", "--fix-tracr-bugs"],
        &fixed,
    );
    assert!(
        plain_json.get("tracr_fixes").is_none(),
        "a default compile records no fix: {}",
        plain_json["tracr_fixes"]
    );
    assert_eq!(
        fixed_json["tracr_fixes"]["applied"],
        serde_json::json!(["cat_to_num_negative"]),
        "{}",
        fixed_json["tracr_fixes"]
    );
    // RASP: lambda x: -x on 1,2,3; Tracr's ReLU clips it to 0.
    assert_eq!(
        run(&plain, "1,2,3"),
        r#"["BOS",0.0,0.0,0.0]"#,
        "Tracr's model"
    );
    assert_eq!(
        run(&fixed, "1,2,3"),
        r#"["BOS",-1.0,-2.0,-3.0]"#,
        "fixed model"
    );
}

#[test]
fn a_header_line_asks_for_the_fixes_and_the_flag_overrides_it() {
    let dir = scratch_dir("cli_compile_fix_tracr_bugs_header");
    let program = dir.join("shift.rasp");
    std::fs::write(
        &program,
        "# vocab: a,b,c\n# max_seq_len: 4\n# fix_tracr_bugs: true\n\
         prev = Select(indices, indices, lambda k, q: q == k + 1)\n\
         shifted = Aggregate(prev, tokens)\n",
    )
    .unwrap();
    let (with, without) = (dir.join("with.json"), dir.join("without.json"));
    let with_json = compile(&[program.to_str().unwrap()], &with);
    assert_eq!(
        with_json["tracr_fixes"]["applied"],
        serde_json::json!(["aggregate_none_decodes"]),
        "{}",
        with_json["tracr_fixes"]
    );
    // Position 0 selects nothing: None in RASP, the smallest token in Tracr's decoding.
    assert_eq!(run(&with, "a,b,c"), r#"["BOS",null,"a","b"]"#);
    let without_json = compile(
        &[program.to_str().unwrap(), "--fix-tracr-bugs=false"],
        &without,
    );
    assert!(
        without_json.get("tracr_fixes").is_none(),
        "the flag overrides the header"
    );
    assert_eq!(run(&without, "a,b,c"), r#"["BOS","a","a","b"]"#);
}

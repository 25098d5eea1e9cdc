//! `tracr check` answers "will compile" truthfully: it runs every check `compile` runs (the
//! compiler's value-set inference, lowering and assembly, not only Tracr's static validator), and
//! reports each problem as `error: ...`, like every other command.

mod cli_support;

use cli_support::{assert_fails_with, scratch_dir, stderr, stdout, tracr, write_file};

/// Programs the compiler rejects though Tracr's static validator accepts them, with the words
/// compile uses for each.
const REJECTED_BY_THE_COMPILER: [(&str, &str, &str); 4] = [
    (
        "mean_of_non_binary",
        "a = numerical(Aggregate(Select(tokens, tokens, LT), numerical(Map(lambda x: x, tokens)), default=0))\n",
        "can currently only average binary variables",
    ),
    (
        "type_error",
        "b = Map(lambda x: x + \"a\", tokens)\n",
        "TypeError",
    ),
    (
        "nan",
        "b = numerical(Map(lambda x: float(\"nan\"), tokens))\n",
        "can produce nan",
    ),
    (
        "no_values",
        "b = Map(lambda x: None, tokens)\n",
        "has no possible value",
    ),
];

#[test]
fn check_rejects_with_compiles_reason_what_compile_rejects() {
    let dir = scratch_dir("check-vs-compile");
    for (name, text, reason) in REJECTED_BY_THE_COMPILER {
        let program = write_file(&dir, &format!("{name}.rasp"), text);
        let settings = ["--vocab", "1,2,3", "--max-seq-len", "4"];
        let mut check_args = vec!["check", program.as_str()];
        check_args.extend(settings);
        let check = tracr(&check_args);
        assert_fails_with(&format!("check {name}"), &check, &["error:", reason]);

        let model = dir.join(format!("{name}.json")).display().to_string();
        let mut compile_args = vec!["compile", program.as_str(), "-o", model.as_str()];
        compile_args.extend(settings);
        let compile = tracr(&compile_args);
        assert_fails_with(&format!("compile {name}"), &compile, &["error:", reason]);
        assert_eq!(
            stderr(&check).trim(),
            stderr(&compile).trim(),
            "{name}: check and compile disagree"
        );
    }
}

#[test]
fn check_accepts_what_compile_accepts_and_says_what_it_would_build() {
    for name in ["reverse", "sort", "frac_prevs_causal", "shuffle_dyck2"] {
        let output = tracr(&["check", "--lib", name]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert!(
            stdout(&output).starts_with("OK: ") && stdout(&output).contains("layers"),
            "{name}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn every_static_issue_is_an_error_line_and_encodings_are_named_the_right_way_round() {
    let dir = scratch_dir("check-lines");
    let program = write_file(
        &dir,
        "two.rasp",
        "k = numerical(Map(lambda x: x, tokens)).named(\"k\")\n\
         w = SelectorWidth(Select(k, k, EQ))\n\
         m = numerical(Aggregate(Select(tokens, tokens, EQ), tokens)).named(\"m\")\n\
         s = SequenceMap(lambda x, y: x, w, m)\n",
    );
    let output = tracr(&["check", &program, "--vocab", "1,2", "--max-seq-len", "3"]);
    assert_fails_with(
        "two static issues",
        &output,
        &[
            "Select keys must be categorical.",
            "the input `tokens` is categorical but the Aggregate is numerical",
        ],
    );
    let message = stderr(&output);
    assert!(!message.contains("Encoding."), "Python reprs in: {message}");
    for line in message.lines() {
        assert!(
            line.starts_with("error: "),
            "line without `error:`: `{line}` in\n{message}"
        );
    }
}

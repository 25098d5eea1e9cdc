//! A `.rasp` file without a vocabulary or a maximum length (no flag, no header line) is refused by
//! `check` and `compile` with the flag to give, not with a message about an empty vocabulary or a
//! length of 0.

mod cli_support;

use cli_support::{assert_fails_with, scratch_dir, tracr, write_file};

#[test]
fn check_and_compile_name_the_missing_flag_and_header_line() {
    let dir = scratch_dir("missing-settings");
    let program = write_file(
        &dir,
        "hist.rasp",
        "hist = SelectorWidth(Select(tokens, tokens, EQ))\n",
    );
    let with_header = write_file(
        &dir,
        "with-vocab.rasp",
        "# vocab: a,b\nhist = SelectorWidth(Select(tokens, tokens, EQ))\n",
    );
    let out = dir.join("m.json").display().to_string();
    for command in [vec!["check"], vec!["compile", "-o", &out]] {
        let run = |extra: &[&str], file: &str| {
            let mut args = command.clone();
            args.push(file);
            args.extend(extra);
            tracr(&args)
        };
        assert_fails_with(
            &format!("{command:?} without --vocab"),
            &run(&["--max-seq-len", "4"], &program),
            &["error: --vocab is required for a .rasp file (or a '# vocab:' header)"],
        );
        assert_fails_with(
            &format!("{command:?} without --max-seq-len"),
            &run(&["--vocab", "a,b"], &program),
            &["error: --max-seq-len is required for a .rasp file (or a '# max_seq_len:' header)"],
        );
        assert_fails_with(
            &format!("{command:?} with a vocab header but no length"),
            &run(&[], &with_header),
            &["--max-seq-len is required"],
        );
    }
    assert!(!dir.join("m.json").exists(), "a model was written");
}

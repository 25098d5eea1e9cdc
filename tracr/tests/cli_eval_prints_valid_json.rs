//! `tracr eval` prints valid JSON (what `serde_json` parses) even where the program computes NaN
//! or ±infinity: those are written as `null`, as documented in docs/rasp-syntax.md.

mod cli_support;

use cli_support::{scratch_dir, stderr, stdout, tracr, write_file};

#[test]
fn nan_and_infinities_are_null_and_the_output_parses() {
    let dir = scratch_dir("eval-json");
    let cases = [
        (
            "nan",
            "x = numerical(Map(lambda x: float(\"nan\"), tokens))\n",
            "1,2",
            serde_json::json!([null, null]),
        ),
        (
            "inf",
            "x = Map(lambda x: float(\"inf\") if x == 1 else -float(\"inf\"), tokens)\n",
            "1,2",
            serde_json::json!([null, null]),
        ),
        (
            "tuple",
            "x = Map(lambda x: (x, float(\"nan\"), 0.5), tokens)\n",
            "1",
            serde_json::json!([[1, null, 0.5]]),
        ),
    ];
    for (name, text, input, want) in cases {
        let program = write_file(&dir, &format!("{name}.rasp"), text);
        let output = tracr(&["eval", &program, "--input", input]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let printed = stdout(&output);
        let parsed: serde_json::Value = serde_json::from_str(printed.trim())
            .unwrap_or_else(|e| panic!("{name}: `{}` is not JSON: {e}", printed.trim()));
        assert_eq!(parsed, want, "{name} on {input}: printed {printed}");
    }
}

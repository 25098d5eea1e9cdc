//! `edgeprune compress` refuses a width outside 1..d_model-1 and a budget without steps or with a
//! bad rate or weight before compiling or training, with a message naming what is valid, and writes
//! nothing.

mod cli_common;
use cli_common::{edgeprune, scratch};

#[test]
fn bad_widths_and_budgets_are_refused_and_nothing_is_written() {
    let dir = scratch("cli_compress_bad");
    let out = dir.join("never.json");
    for (extra, wanted) in [
        (&["--dims", "0"][..], "between 1 and d_model - 1 = 40"),
        (&["--dims", "41"][..], "between 1 and d_model - 1 = 40"),
        (&["--steps", "0"][..], "at least one step"),
        (
            &["--learning-rate", "0"][..],
            "positive finite learning rate",
        ),
        (&["--residual-weight=-1"][..], "finite number >= 0"),
        (&["--final-learning-rate", "NaN"][..], "finite number >= 0"),
    ] {
        let mut args = vec!["compress", "--lib", "reverse", "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let output = edgeprune(&args);
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{extra:?} was accepted");
        assert!(message.contains(wanted), "{extra:?}: {message}");
        assert!(!message.contains("panicked"), "{extra:?}: {message}");
        assert!(!out.exists(), "{extra:?} wrote a model");
    }
}

//! `tracr bench` prints one table row per program asked for, and names an unknown program.

use std::process::Command;

#[test]
fn bench_prints_a_row_per_program_and_rejects_unknown_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(["bench", "--runs", "1", "--programs", "reverse,frac_prevs"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for program in ["reverse", "frac_prevs"] {
        let rows = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("| {program} |")))
            .count();
        assert_eq!(rows, 2, "{program}: one row in each table:\n{stdout}");
    }
    assert!(stdout.contains("process json"), "{stdout}");
    let out = Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(["bench", "--runs", "1", "--programs", "nope", "--no-process"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown library program `nope`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

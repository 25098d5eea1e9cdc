//! Output paths are checked before any work, every output or none is written, symlinks are written
//! through and `-` is standard output (issue 9, defects 2 and 3).

mod cli_common;

use cli_common::{edgeprune, scratch, text};

/// Every command with an unwritable output fails before its work: nothing on stdout (each of them
/// prints its results, or its first step, as soon as the work is done), no other output file written.
#[test]
fn an_unwritable_output_stops_the_command_before_any_work_and_writes_nothing() {
    let dir = scratch("before");
    let ok = dir.join("ok.json");
    let bad = dir.join("no-such-dir").join("x.svg");
    let (ok, bad) = (ok.to_str().unwrap(), bad.to_str().unwrap());
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "truth",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--json",
            ok,
            "--svg",
            bad,
        ],
        vec![
            "truth",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--json",
            ok,
            "--dot",
            bad,
        ],
        vec![
            "prune",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--json",
            ok,
            "--svg",
            bad,
        ],
        vec!["demo", "--svg", bad],
        vec!["demo", "--svg", ok, "--report", bad],
        vec!["report", "--lib", "reverse", "-o", bad],
    ];
    for args in commands {
        let output = edgeprune(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let message = text(&output.stderr);
        assert!(
            message.contains("cannot write") && message.contains("no-such-dir"),
            "{args:?}: {message}"
        );
        assert!(
            output.stdout.is_empty(),
            "{args:?} worked before failing; stdout: {}",
            text(&output.stdout)
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn json_dash_is_standard_output_and_nothing_else_is_printed() {
    let dir = scratch("dash");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_edgeprune"))
        .args([
            "truth",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--json",
            "-",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            text(&output.stdout)
        )
    });
    assert_eq!(report["functional"]["num_edges"], 11, "{report}");
    assert!(
        !dir.join("-").exists(),
        "a file named `-` was created in {}",
        dir.display()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[test]
fn a_symlinked_output_is_written_through_to_its_target() {
    let dir = scratch("symlink");
    let target = dir.join("target.json");
    let link = dir.join("link.json");
    std::fs::write(&target, "old").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [
        vec!["truth", "--lib", "reverse_123", "--lengths", "3", "--json"],
        vec![
            "prune",
            "--lib",
            "reverse_123",
            "--lengths",
            "3",
            "--preset",
            "reverse",
            "--json",
        ],
    ] {
        let mut args = args.clone();
        args.push(link.to_str().unwrap());
        let output = edgeprune(&args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{args:?} replaced the link with a file"
        );
        let written = std::fs::read_to_string(&target).unwrap();
        let report: serde_json::Value = serde_json::from_str(&written)
            .unwrap_or_else(|e| panic!("{args:?}: target holds no JSON ({e}): {written}"));
        assert_eq!(
            report["task"]["program"], "reverse_123",
            "{args:?}: {report}"
        );
        std::fs::write(&target, "old").unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}

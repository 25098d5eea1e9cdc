//! Running the built `tracr` binary from the CLI integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `tracr` with `args` and returns what it did.
pub fn tracr<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(args)
        .output()
        .expect("the tracr binary runs")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh, empty directory for one test.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracr-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("scratch dir is writable");
    path.display().to_string()
}

/// Asserts the run failed with a message containing every one of `wanted`, and printed nothing.
pub fn assert_fails_with(what: &str, output: &Output, wanted: &[&str]) {
    let message = stderr(output);
    assert!(
        !output.status.success(),
        "{what}: succeeded, stdout {}",
        stdout(output)
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{what}: exit status {:?} (a signal means a crash), stderr {message}",
        output.status
    );
    for part in wanted {
        assert!(
            message.contains(part),
            "{what}: expected `{part}` in stderr:\n{message}"
        );
    }
}

/// Runs `tracr` with `args` in the working directory `dir`.
pub fn tracr_in<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tracr binary runs")
}

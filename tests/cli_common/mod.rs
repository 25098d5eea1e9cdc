//! Running the `edgeprune` binary from the CLI tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value as Json;

/// Runs `edgeprune ARGS` and returns what it did.
pub fn edgeprune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeprune"))
        .args(args)
        .output()
        .expect("the edgeprune binary runs")
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeprune-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Bytes as text (lossy), for messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON document a successful run printed; panics naming `what` otherwise.
pub fn json_of(output: &Output, what: &str) -> Json {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {}", text(&output.stdout)))
}

/// Runs `args`, expects failure, and returns stderr after checking it holds every `needles` item.
pub fn rejected(args: &[&str], needles: &[&str]) -> String {
    let output = edgeprune(args);
    let message = text(&output.stderr);
    assert!(
        !output.status.success(),
        "{args:?} succeeded; stdout: {}",
        text(&output.stdout)
    );
    for needle in needles {
        assert!(
            message.contains(needle),
            "{args:?}: `{needle}` missing from: {message}"
        );
    }
    message
}

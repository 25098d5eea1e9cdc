//! Writing output files so that a reader never sees a half-written one (shared with the tracr CLI):
//! symlinks are written through, `-` is standard output, and every output path is checked before work.

use std::path::Path;

use crate::error::Result;

/// Writes `bytes` to `path` all at once (see [`tracr::io::write_atomically`]).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(tracr::io::write_atomically(path, bytes)?)
}

/// Pretty-printed JSON with a final newline.
pub fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    text
}

/// Writes pretty-printed JSON atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    write(path, json_text(value).as_bytes())
}

/// Checks that every given output path can be written, before any long work starts.
pub fn check_writable(paths: &[Option<&Path>]) -> Result<()> {
    let paths: Vec<&Path> = paths.iter().flatten().copied().collect();
    Ok(tracr::io::check_all_writable(&paths)?)
}

/// Writes every `(path, bytes)` pair or none of them (see [`tracr::io::write_all_or_none`]).
pub fn write_all(outputs: &[(&Path, &[u8])]) -> Result<()> {
    Ok(tracr::io::write_all_or_none(outputs)?)
}

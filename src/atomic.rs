//! Writing output files so that a reader never sees a half-written one (shared with the tracr CLI).

use std::path::Path;

use crate::error::Result;

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(tracr::io::write_atomically(path, bytes)?)
}

/// Writes pretty-printed JSON atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    write(path, text.as_bytes())
}

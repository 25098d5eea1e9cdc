//! Model files for the command line: a `CompiledModel` read from any of the formats of
//! [`crate::formats`], with errors that name the file, and written atomically so that a reader
//! never sees half a model.

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::CompiledModel;

/// Reads a model written by `tracr compile` in any format (see [`crate::formats::read_model`]), or a
/// fixture's `model` object.
pub fn read_model(path: &Path) -> Result<CompiledModel> {
    crate::formats::read_model(path)
}

/// Reads a model written by `tracr compile` as JSON (or a fixture's `model` object).
pub fn read_json_model(path: &Path) -> Result<CompiledModel> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    // The fast path parses the weights straight into vectors; anything it cannot read is read
    // again below, whose errors name the field, row and column.
    if let Ok(model) = crate::formats::json::from_json_bytes_fast(&bytes) {
        return Ok(model);
    }
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Json(format!(
            "`{}` is not a JSON document ({e}); write one with `tracr compile ... -o FILE`",
            path.display()
        ))
    })?;
    CompiledModel::from_json(&json).map_err(|e| {
        Error::Json(format!(
            "`{}` is not a compiled model: {}",
            path.display(),
            match e {
                Error::Json(reason) => reason,
                other => other.to_string(),
            }
        ))
    })
}

/// Writes the model as JSON to `path` atomically (see [`crate::io::write_atomically`]): on failure any
/// existing `path` is left as it was.
pub fn write_model(model: &CompiledModel, path: &Path) -> Result<()> {
    crate::formats::write_json(model, path)
}

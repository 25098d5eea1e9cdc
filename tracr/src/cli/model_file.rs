//! Model files: a `CompiledModel` in the fixtures' `model` schema, read with errors that name the
//! file and written atomically so that a reader never sees half a model.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::CompiledModel;

/// Reads a model written by `tracr compile` (or a fixture's `model` object).
pub fn read_model(path: &Path) -> Result<CompiledModel> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
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

/// The temporary file next to `path` that [`write_model`] renames into place.
fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes the model as JSON to `path` atomically: a temporary file in the same directory, flushed
/// to disk, then renamed over `path`. On failure the temporary file is removed and any existing
/// `path` is left as it was.
pub fn write_model(model: &CompiledModel, path: &Path) -> Result<()> {
    let temp = temporary_sibling(path);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        serde_json::to_writer(&mut file, &model.to_json())?;
        file.write_all(b"\n")?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        // Best effort: the temporary file may not exist if creating it was what failed.
        let _ = std::fs::remove_file(&temp);
        return Err(Error::Message(format!(
            "cannot write `{}`: {e}",
            path.display()
        )));
    }
    Ok(())
}

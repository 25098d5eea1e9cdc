//! Model files: one module per format, each a writer and a reader of [`CompiledModel`].
//!
//! - [`json`]: the fixtures' `model` schema (`tracr compile -o model.json`, the default).
//! - [`safetensors`]: float64 tensors under our own names plus the rest as metadata; exact.
//! - [`transformerlens`]: a folder that `HookedTransformer` loads (float32).
//!
//! [`read_model`] tells them apart by the path: a folder is TransformerLens, a `.safetensors`
//! file safetensors, a `.json` file JSON, and any other file by its first bytes.

pub mod bench;
pub mod json;
pub mod safetensors;
pub mod transformerlens;

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::CompiledModel;

pub use self::json::{to_json_bytes, write_json};
pub use self::safetensors::{
    read_safetensors, to_safetensors_bytes, write_safetensors, write_safetensors_as, TensorDtype,
};
pub use self::transformerlens::{read_transformerlens, write_transformerlens};

/// A model file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelFormat {
    /// The fixtures' `model` schema as JSON (one file).
    Json,
    /// Hugging Face's safetensors, float64, with the rest of the model in its metadata (one file).
    Safetensors,
    /// A folder for TransformerLens's `HookedTransformer`: model.safetensors (float32), config.json,
    /// vocab.json.
    #[value(name = "transformerlens")]
    TransformerLens,
}

impl ModelFormat {
    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelFormat::Json => "json",
            ModelFormat::Safetensors => "safetensors",
            ModelFormat::TransformerLens => "transformerlens",
        }
    }

    /// The format a path's name implies, if any: `.json`, `.safetensors`, or an existing folder.
    pub fn implied_by(path: &Path) -> Option<ModelFormat> {
        if path.is_dir() {
            return Some(ModelFormat::TransformerLens);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(ModelFormat::Json),
            Some("safetensors") => Some(ModelFormat::Safetensors),
            _ => None,
        }
    }

    /// The format to write `path` in: `asked` if given (an error if the path's name says another
    /// format, since [`read_model`] goes by the name), else the name's, else JSON.
    pub fn for_output(asked: Option<ModelFormat>, path: &Path) -> Result<ModelFormat> {
        let implied = if crate::io::is_stdout(path) {
            None
        } else {
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => Some(ModelFormat::Json),
                Some("safetensors") => Some(ModelFormat::Safetensors),
                _ => None,
            }
        };
        match (asked, implied) {
            (Some(asked), Some(implied)) if asked != implied => Err(Error::Message(format!(
                "--format {} does not match the file name `{}`, which `tracr run` would read as {}; \
                 rename it (a TransformerLens export is a folder: give a name without an extension)",
                asked.name(),
                path.display(),
                implied.name()
            ))),
            (Some(asked), _) => Ok(asked),
            (None, Some(implied)) => Ok(implied),
            (None, None) => Ok(ModelFormat::Json),
        }
    }
}

/// Checks, before compiling, that `path` can take a model in `format`.
pub fn check_output(path: &Path, format: ModelFormat) -> Result<()> {
    match format {
        ModelFormat::Json | ModelFormat::Safetensors => crate::io::check_writable(path),
        ModelFormat::TransformerLens => {
            crate::io::check_directory_writable(path, &transformerlens::FILES)
        }
    }
}

/// Checks, before compiling, that `--dtype` goes with the format: only safetensors files have a
/// choice (JSON writes decimal f64, TransformerLens float32).
pub fn check_dtype(format: ModelFormat, dtype: Option<TensorDtype>) -> Result<()> {
    match (format, dtype) {
        (ModelFormat::Safetensors, _) | (_, None) => Ok(()),
        (other, Some(_)) => Err(Error::Message(format!(
            "--dtype applies to --format safetensors only; {} files have one float type ({}): \
             drop --dtype or write a .safetensors file",
            other.name(),
            match other {
                ModelFormat::TransformerLens => "float32, as TransformerLens computes",
                _ => "the exact f64 values as decimals",
            }
        ))),
    }
}

/// Writes the model to `path` in `format`, with safetensors tensors of `dtype` (float64 if none),
/// atomically; [`check_dtype`] says which formats take a dtype.
pub fn write_model_as(
    model: &CompiledModel,
    path: &Path,
    format: ModelFormat,
    dtype: Option<TensorDtype>,
) -> Result<()> {
    check_dtype(format, dtype)?;
    match format {
        ModelFormat::Safetensors => write_safetensors_as(model, path, dtype.unwrap_or_default()),
        other => write_model(model, path, other),
    }
}

/// Writes the model to `path` in `format`, atomically (a folder for TransformerLens).
pub fn write_model(model: &CompiledModel, path: &Path, format: ModelFormat) -> Result<()> {
    match format {
        ModelFormat::Json => write_json(model, path),
        ModelFormat::Safetensors => write_safetensors(model, path),
        ModelFormat::TransformerLens => write_transformerlens(model, path),
    }
}

/// Reads a model in any of the three formats (see the module's doc for how the format is told).
pub fn read_model(path: &Path) -> Result<CompiledModel> {
    match ModelFormat::implied_by(path) {
        Some(ModelFormat::TransformerLens) => read_transformerlens(path),
        Some(ModelFormat::Safetensors) => read_safetensors(path),
        Some(ModelFormat::Json) => crate::cli::model_file::read_json_model(path),
        None => {
            let bytes = std::fs::read(path).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            // A JSON document starts with `{` after any whitespace; a safetensors file with its
            // header's length, eight little-endian bytes.
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            if bytes.len() >= 8 && first != Some(&b'{') {
                read_safetensors(path)
            } else {
                crate::cli::model_file::read_json_model(path)
            }
        }
    }
}

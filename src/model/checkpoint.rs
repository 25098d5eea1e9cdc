//! A Hugging Face model folder (`config.json` + `model.safetensors`) dispatched on its `model_type`.
//!
//! Each architecture is one module that turns the folder into a [`Transformer`] (`gpt2` today); a new
//! one (Llama: RMSNorm, rotary positions, SwiGLU, grouped-query attention) adds a module and an arm here.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::safetensors_file::TensorFile;
use super::Transformer;
use crate::error::{Error, Result};

/// The architectures a folder may hold, by their `model_type`.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["gpt2"];

/// A checkpoint folder's parsed `config.json` and its opened weights file.
#[derive(Debug)]
pub struct Checkpoint {
    /// The folder.
    pub dir: PathBuf,
    /// `config.json`, parsed.
    pub config: Value,
    /// `model.safetensors`, read.
    pub weights: TensorFile,
}

impl Checkpoint {
    /// Opens `dir/config.json` and `dir/model.safetensors`, naming whichever is missing or unreadable.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        if !dir.is_dir() {
            return Err(Error::Checkpoint {
                path: dir.display().to_string(),
                message:
                    "not a folder; a checkpoint is a folder with config.json and model.safetensors"
                        .into(),
            });
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(Error::Checkpoint {
                path: dir.display().to_string(),
                message: "no config.json in this folder (a Hugging Face checkpoint has config.json and model.safetensors)".into(),
            });
        }
        let text = std::fs::read_to_string(&config_path).map_err(|source| Error::Io {
            path: config_path.display().to_string(),
            source,
        })?;
        let config: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            what: config_path.display().to_string(),
            message: e.to_string(),
        })?;
        if !config.is_object() {
            return Err(Error::Json {
                what: config_path.display().to_string(),
                message: "expected a JSON object of settings".into(),
            });
        }
        let weights_path = dir.join("model.safetensors");
        if !weights_path.is_file() {
            let hint = if dir.join("model.safetensors.index.json").is_file() {
                "the weights are sharded (model.safetensors.index.json); merge them into one model.safetensors"
            } else if dir.join("pytorch_model.bin").is_file() {
                "only pytorch_model.bin is present; convert it to model.safetensors (pickle files are not read)"
            } else {
                "a Hugging Face checkpoint has config.json and model.safetensors"
            };
            return Err(Error::Checkpoint {
                path: dir.display().to_string(),
                message: format!("no model.safetensors in this folder; {hint}"),
            });
        }
        let weights = TensorFile::open(&weights_path)?;
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            config,
            weights,
        })
    }

    /// `config.json`'s `model_type`.
    pub fn model_type(&self) -> Result<&str> {
        self.config
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                self.config_error("model_type", "missing (expected a string such as \"gpt2\")")
            })
    }

    /// A typed error about one `config.json` field.
    pub fn config_error(&self, field: &str, message: &str) -> Error {
        Error::Json {
            what: format!("{} field `{field}`", self.dir.join("config.json").display()),
            message: message.to_string(),
        }
    }
}

/// Loads the model in a checkpoint folder, whatever its (supported) architecture.
pub fn load(dir: &Path) -> Result<Transformer> {
    let checkpoint = Checkpoint::open(dir)?;
    match checkpoint.model_type()? {
        "gpt2" => super::gpt2::from_checkpoint(&checkpoint),
        other => Err(Error::Unsupported {
            message: format!(
                "{}: model_type `{other}`; supported: {}",
                dir.display(),
                SUPPORTED_MODEL_TYPES.join(", ")
            ),
        }),
    }
}

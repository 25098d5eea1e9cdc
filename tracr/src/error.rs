//! The crate's one error type.

/// Everything that can go wrong evaluating, validating or compiling a RASP program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A placeholder until the stages add their variants.
    #[error("{0}")]
    Message(String),
    /// A craft block could not be built from the given spaces (Tracr would raise or assert).
    #[error("craft: {0}")]
    Craft(String),
    /// A model or fixture JSON document does not have the expected shape.
    #[error("json: {0}")]
    Json(String),
    /// A model input the compiled model cannot encode (no BOS, unknown token, too long).
    #[error("input: {0}")]
    Input(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

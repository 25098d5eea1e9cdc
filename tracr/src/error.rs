//! The crate's one error type.

/// Everything that can go wrong evaluating, validating or compiling a RASP program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A placeholder until the stages add their variants.
    #[error("{0}")]
    Message(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

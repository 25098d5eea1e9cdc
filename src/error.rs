//! The crate's one error type, carrying what a user needs to fix the input.

/// Everything that can go wrong in circuit discovery, with actionable messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Shapes of two things that must agree do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being checked.
        what: String,
        /// The expected shape or length.
        expected: String,
        /// The shape or length found.
        got: String,
    },
    /// A non-finite number where a finite one is required.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Where it was found.
        what: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON document does not have the expected form.
    #[error("{what}: {message}")]
    Json {
        /// The document or field.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A user-supplied option is invalid.
    #[error("invalid {option}: {message}")]
    InvalidOption {
        /// The option's name.
        option: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A method ran past the time limit it was given.
    #[error("{what} ran past its time limit of {seconds} s ({progress}); {advice}")]
    TimeLimit {
        /// The method and the model.
        what: String,
        /// The limit, seconds.
        seconds: f64,
        /// How far it got.
        progress: String,
        /// How to give it more time.
        advice: String,
    },
    /// A token id outside the model's vocabulary.
    #[error("token id {id} at sequence {sequence}, position {position} is outside the vocabulary (size {vocab_size})")]
    TokenId {
        /// Index of the sequence in its batch or dataset.
        sequence: usize,
        /// Position in the sequence (0 = BOS).
        position: usize,
        /// The offending id.
        id: usize,
        /// Number of token ids the model has.
        vocab_size: usize,
    },
    /// A writer, reader or edge name that the graph does not have.
    #[error("unknown {kind} `{name}`; names look like {example}")]
    UnknownName {
        /// writer, reader or edge.
        kind: String,
        /// The name given.
        name: String,
        /// A valid name of that kind, as a hint.
        example: String,
    },
    /// A name in a circuit file that its format does not have.
    #[error("{format} circuit file: unknown {kind} `{name}`; expected {expected}")]
    CircuitName {
        /// The file's format (`mib`, `tl-hooks`, ...).
        format: String,
        /// writer, reader or edge.
        kind: String,
        /// The name as the file spells it.
        name: String,
        /// The names the format has, as patterns and examples.
        expected: String,
    },
    /// An edge of a circuit file that this model's graph does not have: a circuit for another model.
    #[error("{format} circuit file: edge `{edge}` is not in this model's graph: {message}; is the file for another model?")]
    OtherModel {
        /// The file's format.
        format: String,
        /// The edge as the file spells it (or the field that disagrees).
        edge: String,
        /// What does not exist here.
        message: String,
    },
    /// A checkpoint folder or weights file that is incomplete or malformed.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The folder or file.
        path: String,
        /// What is missing or wrong.
        message: String,
    },
    /// A model the operation cannot handle (with what would be needed).
    #[error("unsupported model: {message}")]
    Unsupported {
        /// What is unsupported and why.
        message: String,
    },
    /// An error from the Tracr compiler.
    #[error(transparent)]
    Tracr(#[from] tracr::error::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

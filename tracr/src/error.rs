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
    /// Tracr sizes heads by their widest `W_qk` side; a head whose `W_ov` is wider does not fit
    /// (Tracr crashes with a broadcast error here).
    #[error(
        "attention head `{label}` writes {value_width} dimensions but the model's key_size is {key_size} \
         (Tracr sizes heads by W_qk only); widen its selector's query or key space, or compile with \
         --fix-tracr-bugs (key_size then fits W_ov too, and the model is no longer Tracr's)"
    )]
    KeySizeTooSmall {
        /// The Aggregate's label.
        label: String,
        /// Its output width.
        value_width: usize,
        /// The model's key size.
        key_size: usize,
    },
    /// Evaluating a RASP node raised what Python would raise (a TypeError in a Map, a None key, ...).
    #[error("evaluating `{label}`: {reason}")]
    Eval {
        /// The label of the node whose evaluation failed.
        label: String,
        /// What went wrong, in Python's words where Python has some.
        reason: String,
    },
    /// A Map's, SequenceMap's or Select's function raised while the compiler tabulated it over its
    /// inputs' value sets (Tracr stops with that exception; only numerical MLPs skip ArithmeticErrors).
    #[error(
        "compiling `{label}`: its function raised {reason} on input {input}; Tracr refuses such \
         programs: make the function defined on every value its inputs can take"
    )]
    FunctionFailed {
        /// The label of the node whose function failed.
        label: String,
        /// The input it failed on, as Python writes it (`0`, `(1, 'a')` for two arguments).
        input: String,
        /// Python's exception, e.g. `ZeroDivisionError: integer division or modulo by zero`.
        reason: String,
    },
    /// A RASP expression Tracr cannot compile (its `validating` module's verdict or the compiler's).
    #[error("unsupported RASP expression `{label}`: {reason}")]
    Unsupported {
        /// The label of the offending node.
        label: String,
        /// Tracr's reason.
        reason: String,
    },
    /// A label that names no node of the RASP graph.
    #[error("no node labelled `{label}` in the RASP graph")]
    UnknownNode {
        /// The label looked up.
        label: String,
    },
    /// A command-line option or library argument outside its valid range.
    #[error("invalid {option}: {message}")]
    InvalidOption {
        /// The option (`--perturb`, `--compress`).
        option: &'static str,
        /// What is wrong and what is valid.
        message: String,
    },
    /// A library program was asked for with arguments Tracr's `lib.py` rejects.
    #[error("{function}: {reason}")]
    InvalidArgument {
        /// The library function (`make_shuffle_dyck`, ...).
        function: &'static str,
        /// What is wrong with the arguments.
        reason: String,
    },
    /// A compiler-reserved token (BOS or PAD) appears in the vocabulary.
    #[error(
        "Compiler {role} token must not be present in the vocab. Found '{token}' in the vocab"
    )]
    ReservedToken {
        /// `BOS` or `PAD`.
        role: &'static str,
        /// The reserved token found.
        token: String,
    },
    /// A `.rasp` text could not be parsed; the error says where and what was expected.
    #[error(transparent)]
    Parse(#[from] crate::rasp::text::ParseError),
    /// A program cannot be written as `.rasp` text (e.g. a Map built from a Rust closure).
    #[error("cannot print `{what}` as .rasp text: {reason}")]
    Unprintable {
        /// The expression that has no text form.
        what: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A file named on the command line could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// An output file could not be written (or its place cannot take a file).
    #[error("cannot write `{path}`: {reason}")]
    Write {
        /// The path as given.
        path: String,
        /// The operating system's reason, or what is wrong with the path.
        reason: String,
    },
    /// A library program name that the registry does not know.
    #[error("unknown library program `{name}`; available: {}", available.join(", "))]
    UnknownProgram {
        /// The name asked for.
        name: String,
        /// Every registry name.
        available: Vec<String>,
    },
    /// An input token outside the vocabulary the program is checked or run with.
    #[error("input token `{token}` (position {position}) is not in the vocabulary {{{vocab}}}")]
    TokenNotInVocab {
        /// The token as given.
        token: String,
        /// Its 0-based position in the input.
        position: usize,
        /// The vocabulary, comma-separated.
        vocab: String,
    },
    /// A compile setting that a `.rasp` file must declare (in its header) or the command line give.
    #[error("{flag} is required for a .rasp file (or a '# {key}:' header)")]
    MissingSetting {
        /// The command-line flag (`--vocab`).
        flag: &'static str,
        /// The header key (`vocab`).
        key: &'static str,
    },
    /// The compiled model (or one block built on the way) would need more memory than the compiler
    /// allows itself ([`crate::size::MODEL_BYTES_LIMIT`]); refused before allocating it.
    #[error(
        "the compiled model would need about {} (largest part: {largest}); the limit is {}: \
         lower --max-seq-len or shrink the vocabulary",
        crate::size::human_bytes(*estimate_bytes),
        crate::size::human_bytes(*limit_bytes)
    )]
    ModelTooLarge {
        /// The estimate, in bytes of f64 weights (the model, or the biggest intermediate if larger).
        estimate_bytes: u64,
        /// The limit in bytes.
        limit_bytes: u64,
        /// The biggest single block: its node's label, kind, shape and size.
        largest: String,
    },
    /// A safetensors file that the `safetensors` crate cannot parse (truncated, corrupt header,
    /// offsets outside the file).
    #[error("not a readable safetensors file: {0}")]
    Safetensors(String),
    /// A tensor of a model file that is missing, unexpected, of the wrong dtype or shape, or not finite.
    #[error("tensor `{name}`: {reason}")]
    Tensor {
        /// The tensor's name in the file.
        name: String,
        /// What is wrong, with the expected and the found dtype, shape or value.
        reason: String,
    },
    /// A model file (safetensors, or a TransformerLens folder) that cannot be read as a compiled model.
    #[error("`{path}` is not a {format} model: {source}")]
    ModelFile {
        /// The path as given.
        path: String,
        /// `safetensors` or `TransformerLens`.
        format: &'static str,
        /// What is wrong inside it.
        source: Box<Error>,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

//! The compiled transformer: configuration, named residual stream, weights and per-layer provenance.

mod forward;
mod json;
mod sparse;

pub use forward::{ModelOutput, Trace};
pub use json::tensor_names;
pub(crate) use json::WeightSource;
pub use sparse::SparseModel;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::fixes::TracrFix;
use crate::value::Value;

/// The architecture, in the fixtures' `model.config` schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Number of layers (each an attention half-layer then an MLP half-layer).
    pub num_layers: usize,
    /// Heads per attention layer (the most any layer uses).
    pub num_heads: usize,
    /// Width of each head's query/key/value (Tracr: the widest `W_qk` side).
    pub key_size: usize,
    /// Hidden width of every MLP (the widest any layer uses).
    pub mlp_hidden_size: usize,
    /// Residual width: the number of named residual dimensions.
    pub d_model: usize,
    /// Always false: compiled models have no layer norm.
    pub layer_norm: bool,
    /// Always "relu".
    pub activation: String,
    /// Whether attention masks future positions.
    pub causal: bool,
    /// Always 0.
    pub dropout_rate: f64,
    /// `1/sqrt(key_size)`, applied to the attention logits.
    pub attn_logit_scale: f64,
    /// Heads each layer actually uses.
    pub heads_per_layer: Vec<usize>,
    /// Hidden neurons each layer's MLP actually uses.
    pub mlp_hidden_per_layer: Vec<usize>,
}

/// How input tokens map to embedding rows.
#[derive(Debug, Clone, PartialEq)]
pub struct InputEncoding {
    /// `(token, row)` in row order (BOS, vocab, PAD sorted as Tracr sorts).
    pub map: Vec<(Value, usize)>,
    /// The token every input must start with.
    pub bos_token: String,
    /// The padding token.
    pub pad_token: String,
    /// The longest accepted input, BOS included.
    pub max_seq_len_with_bos: usize,
}

/// How the unembedded output becomes values.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputEncoding {
    /// Argmax over the output directions; `(value, index)` in index order.
    Categorical(Vec<(Value, usize)>),
    /// The single output direction is the value.
    Numerical,
}

/// One attention head's provenance: which RASP expression it computes and which dimensions it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// Index of the head within its layer.
    pub head: usize,
    /// Label of the Aggregate or SelectorWidth.
    pub label: String,
    /// `Aggregate` or `SelectorWidth`.
    pub expr_type: String,
    /// Label of the Select.
    pub selector: String,
    /// Label of the selector's queries.
    pub query_sop: String,
    /// Label of the selector's keys.
    pub key_sop: String,
    /// Label of the aggregated SOp (None for SelectorWidth).
    pub value_sop: Option<String>,
    /// Residual dimensions read as queries.
    pub reads_query: Vec<String>,
    /// Residual dimensions read as keys.
    pub reads_key: Vec<String>,
    /// Residual dimensions read as values.
    pub reads_value: Vec<String>,
    /// Residual dimensions written.
    pub writes: Vec<String>,
    /// Shape of the craft `W_qk`.
    pub qk_dims: Vec<usize>,
    /// Shape of the craft `W_ov`.
    pub ov_dims: Vec<usize>,
}

/// One MLP placed (in parallel with others) in an MLP layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpInfo {
    /// Label of the Map, SequenceMap or SelectorWidth.
    pub label: String,
    /// The RASP expression type.
    pub expr_type: String,
    /// Residual dimensions read.
    pub reads: Vec<String>,
    /// Residual dimensions written.
    pub writes: Vec<String>,
    /// Its own hidden neurons.
    pub hidden_size: usize,
}

/// What a half-layer holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ModuleContents {
    /// An attention half-layer.
    #[serde(rename = "attn")]
    Attention {
        /// Heads in weight-column order.
        heads: Vec<HeadInfo>,
        /// `heads.len()`.
        num_heads_used: usize,
    },
    /// An MLP half-layer.
    #[serde(rename = "mlp")]
    Mlp {
        /// The MLPs combined in this layer.
        mlps: Vec<MlpInfo>,
        /// Names of the hidden neurons in weight-column order.
        hidden_labels: Vec<String>,
        /// For each hidden neuron, the labels of the MLPs that use it.
        hidden_owners: Vec<Vec<String>>,
        /// `hidden_labels.len()`.
        hidden_size_used: usize,
    },
}

/// One half-layer's provenance, in the fixtures' `model.layers[]` schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleInfo {
    /// `layer_i/attn` or `layer_i/mlp`.
    pub module: String,
    /// `transformer/layer_i/attn` (the weights' name prefix).
    pub param_prefix: String,
    /// The allocator's half-layer number; None for an empty slot.
    pub allocation_layer: Option<usize>,
    /// Whether the slot holds nothing (all-zero weights).
    pub empty: bool,
    /// Heads or MLPs.
    #[serde(flatten)]
    pub contents: ModuleContents,
}

/// One attention layer's weights (haiku's MultiHeadAttention layout, heads along columns).
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionWeights {
    /// `[D, H*key_size]`.
    pub query: Array2<f64>,
    /// `[H*key_size]`.
    pub query_bias: Array1<f64>,
    /// `[D, H*key_size]`.
    pub key: Array2<f64>,
    /// `[H*key_size]`.
    pub key_bias: Array1<f64>,
    /// `[D, H*key_size]`.
    pub value: Array2<f64>,
    /// `[H*key_size]`.
    pub value_bias: Array1<f64>,
    /// `[H*key_size, D]` (haiku's `linear`).
    pub output: Array2<f64>,
    /// `[D]`.
    pub output_bias: Array1<f64>,
}

/// One MLP layer's weights.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpWeights {
    /// `[D, mlp_hidden_size]` (haiku's `linear_1`).
    pub hidden: Array2<f64>,
    /// `[mlp_hidden_size]`.
    pub hidden_bias: Array1<f64>,
    /// `[mlp_hidden_size, D]` (haiku's `linear_2`).
    pub output: Array2<f64>,
    /// `[D]`.
    pub output_bias: Array1<f64>,
}

/// One layer: attention then MLP.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// The attention half-layer.
    pub attn: AttentionWeights,
    /// The MLP half-layer.
    pub mlp: MlpWeights,
}

/// A compiled Tracr model whose every residual dimension has a name.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledModel {
    /// The architecture.
    pub config: ModelConfig,
    /// The name of each residual dimension (`tokens:a`, `indices:0`, `one`, ...), in order.
    pub residual_labels: Vec<String>,
    /// The token directions' labels.
    pub tokens_labels: Vec<String>,
    /// The index directions' labels.
    pub indices_labels: Vec<String>,
    /// The output directions' labels.
    pub output_labels: Vec<String>,
    /// Where the output directions sit in the residual.
    pub output_residual_indices: Vec<usize>,
    /// Whether the output is decoded by argmax.
    pub categorical_output: bool,
    /// Token → embedding row.
    pub input_encoding: InputEncoding,
    /// Unembedded output → value.
    pub output_encoding: OutputEncoding,
    /// Provenance of each half-layer, `layer_0/attn`, `layer_0/mlp`, ...
    pub layers: Vec<ModuleInfo>,
    /// `[vocab, D]`: row `i` embeds token id `i`.
    pub token_embed: Array2<f64>,
    /// `[max_seq_len + 1, D]`: row 0 (BOS) is zero, row `p` is `indices:p-1`.
    pub pos_embed: Array2<f64>,
    /// Per-layer weights.
    pub weights: Vec<LayerWeights>,
    /// How the residual stream was changed after compiling (rotated, compressed); None as compiled.
    pub residual_map: Option<ResidualMap>,
    /// The noise added to the weights after compiling, if any.
    pub perturbation: Option<Perturbation>,
    /// The Tracr bugs fixed in this model (`--fix-tracr-bugs`), in [`TracrFix::ALL`] order; empty for
    /// a model Tracr itself would compile.
    pub tracr_fixes: Vec<TracrFix>,
}

/// What changed the residual basis after compiling.
#[derive(Debug, Clone, PartialEq)]
pub enum ResidualMapKind {
    /// An orthogonal rotation drawn from `seed` (exact: every output is unchanged).
    Rotation {
        /// The seed of the Gaussian matrix whose QR factor is the rotation.
        seed: u64,
    },
    /// A trained projection to fewer dimensions (approximate: features share dimensions).
    Compression,
}

/// A change of residual basis: the compiled residual `r` (named dimensions) becomes `r · matrix`.
///
/// Writers' output weights and the embeddings were multiplied by `matrix` on the right, readers' input
/// weights by `matrixᵀ` on the left, so a reader sees `r · matrix · matrixᵀ` (= `r` for a rotation).
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualMap {
    /// Rotation or compression.
    pub kind: ResidualMapKind,
    /// `[compiled d_model, d_model]`.
    pub matrix: Array2<f64>,
    /// The compiled model's residual labels, the rows of `matrix`.
    pub compiled_labels: Vec<String>,
}

/// Gaussian noise added to every weight after compiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Perturbation {
    /// Noise standard deviation relative to each weight tensor's root mean square.
    pub epsilon: f64,
    /// The noise's seed.
    pub seed: u64,
}

/// The fixtures' description of the weight layout, written alongside the weights.
pub const WEIGHTS_LAYOUT: &str = "token_embed/embeddings [vocab, D] row = input id; pos_embed/embeddings [max_seq_len+1, D] row = position (row 0 = BOS position, all zeros); attn query/key/value w [D, H*key_size] (head h = columns h*key_size..), b [H*key_size]; attn linear w [H*key_size, D]; mlp linear_1 w [D, mlp_hidden], linear_2 w [mlp_hidden, D]; all biases zero. logits = (q.k)/sqrt(key_size), softmax over keys, relu MLP, no layer norm, residual x += block(x). Unembed: x[:, output_residual_indices] then argmax (categorical) or [:,0] (numerical).";

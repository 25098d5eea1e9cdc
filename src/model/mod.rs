//! A transformer general enough for compiled Tracr models and GPT-2-style models, with its plain forward.
//!
//! Layout conventions (row vectors, as in Tracr and GPT-2): a residual state is `[.., d_model]`,
//! weights map `x · W`. Each attention head owns its slice of the query/key/value/output
//! projections and `b_O / H` of the layer's output bias, exactly as Edge Pruning splits it.

mod basis;
pub mod checkpoint;
pub mod gpt2;
mod random;
pub mod safetensors_file;
mod tracr_json;

pub use basis::UNROTATE_ROUNDOFF;
pub use random::TransformerShape;

use ndarray::{s, Array1, Array2, Array3, Array4, ArrayView2, Axis};

use crate::error::{Error, Result};

/// The MLP non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`; the derivative at exactly 0 is taken as 0, as in torch.
    Relu,
    /// GPT-2's tanh approximation `0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³)))`.
    Gelu,
}

impl Activation {
    /// The activation applied to one number.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Gelu => {
                let inner = GELU_C * (x + 0.044715 * x * x * x);
                0.5 * x * (1.0 + inner.tanh())
            }
        }
    }

    /// Its derivative at one number.
    pub fn derivative(self, x: f64) -> f64 {
        match self {
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Gelu => {
                let inner = GELU_C * (x + 0.044715 * x * x * x);
                let t = inner.tanh();
                let d_inner = GELU_C * (1.0 + 3.0 * 0.044715 * x * x);
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner
            }
        }
    }
}

/// sqrt(2/π), GPT-2's GELU constant.
const GELU_C: f64 = 0.797_884_560_802_865_4;

/// LayerNorm over the model dimension: `(x − mean) / sqrt(var + ε) · scale + shift` (biased variance).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    /// Per-dimension gain γ, `[d_model]`.
    pub scale: Array1<f64>,
    /// Per-dimension bias β, `[d_model]`.
    pub shift: Array1<f64>,
    /// ε inside the square root (GPT-2: 1e-5).
    pub epsilon: f64,
}

impl LayerNorm {
    /// Normalises one vector into `out` (both of length `d_model`).
    pub fn apply_into(&self, x: &[f64], out: &mut [f64]) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv_std = 1.0 / (variance + self.epsilon).sqrt();
        for (d, o) in out.iter_mut().enumerate() {
            *o = (x[d] - mean) * inv_std * self.scale[d] + self.shift[d];
        }
    }

    /// Normalises every row of a `[rows, d_model]` matrix.
    pub fn apply_rows(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros(x.raw_dim());
        for (row, mut out_row) in x.outer_iter().zip(out.outer_iter_mut()) {
            let row = row.to_vec();
            self.apply_into(
                &row,
                out_row.as_slice_mut().expect("fresh array is contiguous"),
            );
        }
        out
    }
}

/// One attention head's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionHead {
    /// Query projection `[d_model, key_size]`.
    pub w_query: Array2<f64>,
    /// Query bias `[key_size]`.
    pub b_query: Array1<f64>,
    /// Key projection `[d_model, key_size]`.
    pub w_key: Array2<f64>,
    /// Key bias `[key_size]`.
    pub b_key: Array1<f64>,
    /// Value projection `[d_model, value_size]`.
    pub w_value: Array2<f64>,
    /// Value bias `[value_size]`.
    pub b_value: Array1<f64>,
    /// Output projection `[value_size, d_model]`.
    pub w_output: Array2<f64>,
    /// This head's share of the layer's output bias, `b_O / H`, `[d_model]`.
    pub b_output: Array1<f64>,
}

/// One MLP's parameters: `act(x · W_in + b_in) · W_out + b_out`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// `[d_model, hidden]`.
    pub w_in: Array2<f64>,
    /// `[hidden]`.
    pub b_in: Array1<f64>,
    /// `[hidden, d_model]`.
    pub w_out: Array2<f64>,
    /// `[d_model]`.
    pub b_out: Array1<f64>,
}

/// One transformer layer: attention heads, then an MLP (pre-LN when the norms are present).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `ln_1`, applied to the attention input (in the masked forward: to each head's q, k and v input separately).
    pub ln_attention: Option<LayerNorm>,
    /// The heads, all of the same key and value size.
    pub heads: Vec<AttentionHead>,
    /// `ln_2`, applied to the MLP input.
    pub ln_mlp: Option<LayerNorm>,
    /// The MLP.
    pub mlp: Mlp,
}

/// How the final residual state becomes the model's output.
#[derive(Debug, Clone, PartialEq)]
pub enum Readout {
    /// Class logits `R · U` with `U` of shape `[d_model, classes]`.
    Categorical {
        /// The unembedding matrix.
        unembedding: Array2<f64>,
    },
    /// One residual dimension, read as a number.
    Numerical {
        /// Index of that dimension.
        dimension: usize,
    },
    /// One number per position read along a direction, `R · direction` (a rotated or compressed
    /// numerical Tracr model, whose output dimension is no longer a basis vector).
    NumericalDirection {
        /// `[d_model]`.
        direction: Array1<f64>,
    },
}

impl Readout {
    /// The readout as a projection `[d_model, outputs]` (numerical: one column).
    pub fn output_matrix(&self, d_model: usize) -> Array2<f64> {
        match self {
            Readout::Categorical { unembedding } => unembedding.clone(),
            Readout::Numerical { dimension } => {
                let mut column = Array2::zeros((d_model, 1));
                column[(*dimension, 0)] = 1.0;
                column
            }
            Readout::NumericalDirection { direction } => direction
                .clone()
                .into_shape_with_order((d_model, 1))
                .expect("direction has d_model entries (validate checks)"),
        }
    }
}

/// How a model's residual dimensions relate to the compiled program's named features.
#[derive(Debug, Clone, PartialEq)]
pub enum ResidualBasis {
    /// As the weights are: for a compiled Tracr model, one named feature per dimension.
    Native,
    /// A compiled model's residual rotated by an orthogonal `rotation` (`r' = r · rotation`): the
    /// structural truth is computed after undoing it.
    Rotated {
        /// `[d_model, d_model]`, orthogonal.
        rotation: Array2<f64>,
        /// The compiled model's residual labels (the rows of `rotation`), when known.
        compiled_labels: Option<Vec<String>>,
    },
    /// A compiled model's residual projected to fewer dimensions (features share dimensions): the
    /// structural truth does not apply; only the functional certificate does.
    Compressed,
}

/// Whether the output is class logits or one number per position (decides the metric's softmax axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `[B, S, classes]` logits; the KL softmax runs over classes.
    Categorical,
    /// `[B, S, 1]`; the KL softmax runs over positions.
    Numerical,
}

/// A transformer: embeddings, layers, optional final LayerNorm, readout.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformer {
    /// Token embedding `[vocab, d_model]`, row = token id.
    pub token_embedding: Array2<f64>,
    /// Position embedding `[positions, d_model]`, row = position (0 is the BOS position).
    pub position_embedding: Array2<f64>,
    /// The layers, in order.
    pub layers: Vec<Layer>,
    /// `ln_f`, applied before the readout.
    pub ln_final: Option<LayerNorm>,
    /// The readout.
    pub readout: Readout,
    /// Multiplier of `q·k` in the attention logits (usually `1/sqrt(key_size)`).
    pub attention_scale: f64,
    /// Whether a query may attend only to keys at or before its position.
    pub causal: bool,
    /// The MLP non-linearity.
    pub activation: Activation,
    /// A name for every residual dimension, when known (Tracr models).
    pub residual_labels: Option<Vec<String>>,
    /// The BOS token id, when known.
    pub bos_token_id: Option<usize>,
    /// Whether the residual is the compiled basis, a rotation of it, or a compression.
    pub residual_basis: ResidualBasis,
}

/// A plain forward's result: the output and, when asked for, every writer's output.
#[derive(Debug, Clone)]
pub struct PlainRun {
    /// `[B, S, outputs]` (outputs = classes, or 1 for a numerical readout).
    pub output: Array3<f64>,
    /// `[writers, B, S, d_model]` in writer order (tok, pos, per layer heads then MLP); present when recorded.
    pub writer_states: Option<Array4<f64>>,
}

impl Transformer {
    /// Width of the residual stream.
    pub fn d_model(&self) -> usize {
        self.token_embedding.ncols()
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Heads per layer (uniform; 0 for a model without layers).
    pub fn num_heads(&self) -> usize {
        self.layers.first().map_or(0, |l| l.heads.len())
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.token_embedding.nrows()
    }

    /// Longest sequence (BOS included) the position embedding covers.
    pub fn max_positions(&self) -> usize {
        self.position_embedding.nrows()
    }

    /// Output channels per position: classes, or 1 for a numerical readout.
    pub fn num_outputs(&self) -> usize {
        match &self.readout {
            Readout::Categorical { unembedding } => unembedding.ncols(),
            Readout::Numerical { .. } | Readout::NumericalDirection { .. } => 1,
        }
    }

    /// Categorical or numerical output.
    pub fn output_kind(&self) -> OutputKind {
        match self.readout {
            Readout::Categorical { .. } => OutputKind::Categorical,
            Readout::Numerical { .. } | Readout::NumericalDirection { .. } => OutputKind::Numerical,
        }
    }

    /// Number of writers in the Edge Pruning graph: tok, pos, then H heads and one MLP per layer.
    pub fn num_writers(&self) -> usize {
        2 + self.num_layers() * (self.num_heads() + 1)
    }

    /// Checks every shape against `d_model`, the head sizes and the readout.
    pub fn validate(&self) -> Result<()> {
        let d = self.d_model();
        let heads = self.num_heads();
        check_len(
            "position_embedding columns",
            d,
            self.position_embedding.ncols(),
        )?;
        for (l, layer) in self.layers.iter().enumerate() {
            check_len(&format!("layer {l} head count"), heads, layer.heads.len())?;
            for (h, head) in layer.heads.iter().enumerate() {
                let at = |what: &str| format!("layer {l} head {h} {what}");
                let key = head.w_query.ncols();
                let value = head.w_value.ncols();
                check_len(&at("w_query rows"), d, head.w_query.nrows())?;
                check_len(&at("w_key rows"), d, head.w_key.nrows())?;
                check_len(&at("w_key columns (key_size)"), key, head.w_key.ncols())?;
                check_len(&at("w_value rows"), d, head.w_value.nrows())?;
                check_len(&at("b_query"), key, head.b_query.len())?;
                check_len(&at("b_key"), key, head.b_key.len())?;
                check_len(&at("b_value"), value, head.b_value.len())?;
                check_len(&at("w_output rows"), value, head.w_output.nrows())?;
                check_len(&at("w_output columns"), d, head.w_output.ncols())?;
                check_len(&at("b_output"), d, head.b_output.len())?;
            }
            let mlp = &layer.mlp;
            let hidden = mlp.w_in.ncols();
            check_len(&format!("layer {l} mlp w_in rows"), d, mlp.w_in.nrows())?;
            check_len(&format!("layer {l} mlp b_in"), hidden, mlp.b_in.len())?;
            check_len(
                &format!("layer {l} mlp w_out rows"),
                hidden,
                mlp.w_out.nrows(),
            )?;
            check_len(
                &format!("layer {l} mlp w_out columns"),
                d,
                mlp.w_out.ncols(),
            )?;
            check_len(&format!("layer {l} mlp b_out"), d, mlp.b_out.len())?;
            for (name, norm) in [
                ("ln_attention", &layer.ln_attention),
                ("ln_mlp", &layer.ln_mlp),
            ] {
                if let Some(norm) = norm {
                    check_norm(&format!("layer {l} {name}"), d, norm)?;
                }
            }
        }
        if let Some(norm) = &self.ln_final {
            check_norm("ln_final", d, norm)?;
        }
        match &self.readout {
            Readout::Categorical { unembedding } => {
                check_len("unembedding rows", d, unembedding.nrows())?
            }
            Readout::Numerical { dimension } => {
                if *dimension >= d {
                    return Err(Error::Shape {
                        what: "numerical readout dimension".into(),
                        expected: format!("< d_model = {d}"),
                        got: dimension.to_string(),
                    });
                }
            }
            Readout::NumericalDirection { direction } => {
                check_len("numerical readout direction", d, direction.len())?
            }
        }
        if let ResidualBasis::Rotated { rotation, .. } = &self.residual_basis {
            check_len("rotation rows", d, rotation.nrows())?;
            check_len("rotation columns", d, rotation.ncols())?;
        }
        if let Some(labels) = &self.residual_labels {
            check_len("residual_labels", d, labels.len())?;
        }
        Ok(())
    }

    /// Checks a `[B, S]` batch of token ids against the vocabulary and the position table.
    pub fn check_token_ids(&self, token_ids: ArrayView2<usize>) -> Result<()> {
        let (_, seq_len) = token_ids.dim();
        if seq_len == 0 || seq_len > self.max_positions() {
            return Err(Error::Shape {
                what: "sequence length (BOS included)".into(),
                expected: format!(
                    "1..={} (the position embedding's rows)",
                    self.max_positions()
                ),
                got: seq_len.to_string(),
            });
        }
        for ((b, s), &id) in token_ids.indexed_iter() {
            if id >= self.vocab_size() {
                return Err(Error::TokenId {
                    sequence: b,
                    position: s,
                    id,
                    vocab_size: self.vocab_size(),
                });
            }
        }
        Ok(())
    }

    /// The plain (unmasked) forward on `[B, S]` token ids: output `[B, S, outputs]`.
    pub fn forward(&self, token_ids: ArrayView2<usize>) -> Result<Array3<f64>> {
        Ok(self.run(token_ids, false)?.output)
    }

    /// Every writer's output in the full model, `[writers, B, S, d_model]` (interchange and mean ablation use these).
    pub fn writer_states(&self, token_ids: ArrayView2<usize>) -> Result<Array4<f64>> {
        Ok(self
            .run(token_ids, true)?
            .writer_states
            .expect("recorded when asked for"))
    }

    /// The textbook residual-stream forward: `x += block(x)` layer by layer, optionally recording each writer.
    pub fn run(&self, token_ids: ArrayView2<usize>, record_writers: bool) -> Result<PlainRun> {
        self.validate()?;
        self.check_token_ids(token_ids)?;
        let (batch, seq_len) = token_ids.dim();
        let d = self.d_model();
        let rows = batch * seq_len;
        let mut writer_states =
            record_writers.then(|| Array4::<f64>::zeros((self.num_writers(), batch, seq_len, d)));
        let mut record = |writer: usize, state: &Array2<f64>| {
            if let Some(states) = writer_states.as_mut() {
                let flat = state.view().into_shape_with_order((batch, seq_len, d));
                states
                    .index_axis_mut(Axis(0), writer)
                    .assign(&flat.expect("rows = batch * seq_len"));
            }
        };

        let mut token_state = Array2::<f64>::zeros((rows, d));
        let mut position_state = Array2::<f64>::zeros((rows, d));
        for ((b, s), &id) in token_ids.indexed_iter() {
            token_state
                .row_mut(b * seq_len + s)
                .assign(&self.token_embedding.row(id));
            position_state
                .row_mut(b * seq_len + s)
                .assign(&self.position_embedding.row(s));
        }
        record(0, &token_state);
        record(1, &position_state);
        let mut residual = &token_state + &position_state;

        let mut writer = 2;
        for layer in &self.layers {
            let attention_input = match &layer.ln_attention {
                Some(norm) => norm.apply_rows(residual.view()),
                None => residual.clone(),
            };
            let mut head_outputs = Vec::with_capacity(layer.heads.len());
            for head in &layer.heads {
                let output = self.head_forward(head, attention_input.view(), batch, seq_len);
                record(writer, &output);
                writer += 1;
                head_outputs.push(output);
            }
            for output in &head_outputs {
                residual += output;
            }
            let mlp_input = match &layer.ln_mlp {
                Some(norm) => norm.apply_rows(residual.view()),
                None => residual.clone(),
            };
            let mlp_output = self.mlp_forward(&layer.mlp, mlp_input.view());
            record(writer, &mlp_output);
            writer += 1;
            residual += &mlp_output;
        }

        let final_state = match &self.ln_final {
            Some(norm) => norm.apply_rows(residual.view()),
            None => residual,
        };
        let output = match &self.readout {
            Readout::Categorical { unembedding } => final_state.dot(unembedding),
            Readout::Numerical { dimension } => final_state
                .slice(s![.., *dimension..*dimension + 1])
                .to_owned(),
            Readout::NumericalDirection { .. } => final_state.dot(&self.readout.output_matrix(d)),
        };
        let channels = output.ncols();
        // A product with one inner dimension (a d_model = 1 model) can come back column-major.
        let output = if output.is_standard_layout() {
            output
        } else {
            output.as_standard_layout().into_owned()
        };
        let output = output
            .into_shape_with_order((batch, seq_len, channels))
            .expect("rows = batch * seq_len");
        Ok(PlainRun {
            output,
            writer_states,
        })
    }

    /// One head on `[B·S, d_model]` input rows: `softmax(scale · Q Kᵀ) V W_O + b_O/H`.
    /// `relu(x W_in + b_in) W_out + b_out` over the hidden units that can matter. Tracr pads every
    /// MLP to the widest layer's hidden size (shuffle_dyck2: layer 0 uses 16 of 212 units), and a
    /// unit whose output row is zero, or whose input column and bias are zero (activation(0) = 0 for
    /// relu and gelu), only ever adds exact zeros; skipping them saves most of the products.
    fn mlp_forward(&self, mlp: &Mlp, input: ArrayView2<f64>) -> Array2<f64> {
        let live: Vec<usize> = (0..mlp.b_in.len())
            .filter(|&h| {
                let writes = mlp.w_out.row(h).iter().any(|&w| w != 0.0);
                let reads = mlp.b_in[h] != 0.0 || mlp.w_in.column(h).iter().any(|&w| w != 0.0);
                writes && reads
            })
            .collect();
        let (w_in, b_in, w_out);
        let (w_in, b_in, w_out) = if live.len() == mlp.b_in.len() {
            (mlp.w_in.view(), mlp.b_in.view(), mlp.w_out.view())
        } else {
            w_in = mlp.w_in.select(Axis(1), &live);
            b_in = mlp.b_in.select(Axis(0), &live);
            w_out = mlp.w_out.select(Axis(0), &live);
            (w_in.view(), b_in.view(), w_out.view())
        };
        let mut hidden = input.dot(&w_in) + b_in;
        hidden.mapv_inplace(|x| self.activation.apply(x));
        hidden.dot(&w_out) + &mlp.b_out
    }

    fn head_forward(
        &self,
        head: &AttentionHead,
        input: ArrayView2<f64>,
        batch: usize,
        seq_len: usize,
    ) -> Array2<f64> {
        let query = input.dot(&head.w_query) + &head.b_query;
        let key = input.dot(&head.w_key) + &head.b_key;
        let value = input.dot(&head.w_value) + &head.b_value;
        let mut mixed = Array2::<f64>::zeros((input.nrows(), head.w_value.ncols()));
        for b in 0..batch {
            let rows = s![b * seq_len..(b + 1) * seq_len, ..];
            let mut logits = query.slice(rows).dot(&key.slice(rows).t()) * self.attention_scale;
            for (i, mut row) in logits.outer_iter_mut().enumerate() {
                if self.causal {
                    row.slice_mut(s![i + 1..]).fill(f64::NEG_INFINITY);
                }
                let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                row.mapv_inplace(|v| (v - max).exp());
                let total = row.sum();
                row.mapv_inplace(|v| v / total);
            }
            mixed
                .slice_mut(rows)
                .assign(&logits.dot(&value.slice(rows)));
        }
        mixed.dot(&head.w_output) + &head.b_output
    }
}

fn check_len(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape {
            what: what.to_string(),
            expected: expected.to_string(),
            got: got.to_string(),
        })
    }
}

fn check_norm(what: &str, d_model: usize, norm: &LayerNorm) -> Result<()> {
    check_len(&format!("{what} scale"), d_model, norm.scale.len())?;
    check_len(&format!("{what} shift"), d_model, norm.shift.len())?;
    if norm.epsilon.is_nan() || norm.epsilon <= 0.0 {
        return Err(Error::InvalidOption {
            option: format!("{what} epsilon"),
            message: format!("must be positive, got {}", norm.epsilon),
        });
    }
    Ok(())
}

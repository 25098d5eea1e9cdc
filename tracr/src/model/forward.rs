//! The compiled model's forward pass in f64: embeddings, then per layer attention and MLP added to the residual.

use ndarray::{s, Array2, Array3, Axis};

use super::{CompiledModel, OutputEncoding};
use crate::error::{Error, Result};
use crate::fixes::{self, TracrFix};
use crate::value::Value;

/// The masked-out logit, as in Tracr's attention (`where(mask, logits, -1e30)`).
const MASKED_LOGIT: f64 = -1e30;

/// What one forward pass gives.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// The decoded output, one per position, with the BOS token at position 0 (Tracr's `decoded`).
    pub decoded: Vec<Value>,
    /// The unembedded output: argmax index (categorical) or value (numerical), per position.
    pub unembedded: Vec<f64>,
    /// Intermediate activations, when asked for.
    pub trace: Option<Trace>,
}

/// The residual stream and attention patterns of one forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// `[T, D]` token plus position embeddings.
    pub input_embeddings: Array2<f64>,
    /// `[T, D]` residual after each half-layer: layer 0 attn, layer 0 mlp, layer 1 attn, ...
    pub residuals: Vec<Array2<f64>>,
    /// `[H, T, T]` per layer: logits after the 1/sqrt(key_size) scale and the causal mask.
    pub attn_logits: Vec<Array3<f64>>,
    /// `[H, T, T]` per layer: softmax of the logits over keys.
    pub attn_weights: Vec<Array3<f64>>,
}

impl CompiledModel {
    /// Token ids for an input that starts with BOS, or an error naming the offending token.
    pub fn encode(&self, tokens: &[Value]) -> Result<Vec<usize>> {
        let enc = &self.input_encoding;
        let bos = Value::Str(enc.bos_token.clone());
        if tokens.first() != Some(&bos) {
            return Err(Error::Input(format!(
                "the first input token must be the BOS token '{}', got {:?}",
                enc.bos_token,
                tokens.first().map(Value::py_repr)
            )));
        }
        if tokens.len() > enc.max_seq_len_with_bos {
            return Err(Error::Input(format!(
                "input has {} tokens (BOS included) but the model accepts at most {}",
                tokens.len(),
                enc.max_seq_len_with_bos
            )));
        }
        tokens
            .iter()
            .map(|t| {
                enc.map
                    .iter()
                    .find(|(v, _)| v == t)
                    .map(|(_, i)| *i)
                    .ok_or_else(|| {
                        let vocab: Vec<String> = enc.map.iter().map(|(v, _)| v.py_repr()).collect();
                        Error::Input(format!(
                            "token {} is not in the vocabulary [{}]",
                            t.py_repr(),
                            vocab.join(", ")
                        ))
                    })
            })
            .collect()
    }

    /// Runs the model on `tokens` (BOS first) and decodes the output.
    pub fn apply(&self, tokens: &[Value]) -> Result<ModelOutput> {
        self.run(tokens, false)
    }

    /// Like [`CompiledModel::apply`], also recording the residual after every half-layer.
    pub fn apply_traced(&self, tokens: &[Value]) -> Result<ModelOutput> {
        self.run(tokens, true)
    }

    /// Runs the model on an input without BOS (BOS is prepended), like RASP's evaluator is called.
    pub fn apply_without_bos(&self, input: &[Value]) -> Result<ModelOutput> {
        let mut tokens = vec![Value::Str(self.input_encoding.bos_token.clone())];
        tokens.extend_from_slice(input);
        self.apply(&tokens)
    }

    /// The residual stream at the input: token plus position embeddings.
    pub fn embed(&self, ids: &[usize]) -> Array2<f64> {
        let mut x = self.token_embed.select(Axis(0), ids);
        x += &self.pos_embed.slice(s![..ids.len(), ..]);
        x
    }

    fn run(&self, tokens: &[Value], traced: bool) -> Result<ModelOutput> {
        let ids = self.encode(tokens)?;
        let c = &self.config;
        let t = ids.len();
        let (heads, ks) = (c.num_heads, c.key_size);
        let scale = (ks as f64).sqrt();
        let mut x = self.embed(&ids);
        let mut trace = traced.then(|| Trace {
            input_embeddings: x.clone(),
            residuals: Vec::new(),
            attn_logits: Vec::new(),
            attn_weights: Vec::new(),
        });
        for layer in &self.weights {
            let a = &layer.attn;
            let q = x.dot(&a.query) + &a.query_bias;
            let k = x.dot(&a.key) + &a.key_bias;
            let v = x.dot(&a.value) + &a.value_bias;
            // The per-head logits and weights are kept only for a trace.
            let keep = if traced { (heads, t, t) } else { (0, 0, 0) };
            let mut logits = Array3::zeros(keep);
            let mut weights = Array3::zeros(keep);
            let mut mixed = Array2::zeros((t, heads * ks));
            for h in 0..heads {
                let cols = s![.., h * ks..(h + 1) * ks];
                let (qh, kh, vh) = (q.slice(cols), k.slice(cols), v.slice(cols));
                let mut lh = qh.dot(&kh.t()) / scale;
                if c.causal {
                    for i in 0..t {
                        for j in i + 1..t {
                            lh[[i, j]] = MASKED_LOGIT;
                        }
                    }
                }
                let mut wh = lh.clone();
                for mut row in wh.rows_mut() {
                    let max = row.fold(f64::NEG_INFINITY, |m, &z| m.max(z));
                    row.mapv_inplace(|z| (z - max).exp());
                    let sum = row.sum();
                    row /= sum;
                }
                mixed.slice_mut(cols).assign(&wh.dot(&vh));
                if traced {
                    logits.slice_mut(s![h, .., ..]).assign(&lh);
                    weights.slice_mut(s![h, .., ..]).assign(&wh);
                }
            }
            x = x + mixed.dot(&a.output) + &a.output_bias;
            let m = &layer.mlp;
            if let Some(tr) = trace.as_mut() {
                tr.residuals.push(x.clone());
            }
            let hidden = (x.dot(&m.hidden) + &m.hidden_bias).mapv(|z| z.max(0.0));
            x = x + hidden.dot(&m.output) + &m.output_bias;
            if let Some(tr) = trace.as_mut() {
                tr.residuals.push(x.clone());
                tr.attn_logits.push(logits);
                tr.attn_weights.push(weights);
            }
        }
        let (unembedded, decoded) = self.decode(&x);
        Ok(ModelOutput {
            decoded,
            unembedded,
            trace,
        })
    }

    /// Reads the output dimensions of the final residual `[T, D]`: (argmax index or value, decoded value)
    /// per position, with the BOS token at position 0.
    pub(crate) fn decode(&self, x: &Array2<f64>) -> (Vec<f64>, Vec<Value>) {
        let out = self.read_output(x);
        let none_when_empty = self.tracr_fixes.contains(&TracrFix::AggregateNoneDecodes);
        let (unembedded, mut decoded): (Vec<f64>, Vec<Value>) = match &self.output_encoding {
            OutputEncoding::Categorical(map) => out
                .rows()
                .into_iter()
                .map(|row| {
                    // Ties go to the first index, as with jnp.argmax.
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(0, |b, (i, &z)| if z > row[b] { i } else { b });
                    let value = if none_when_empty
                        && row.iter().all(|&z| z < fixes::NONE_DECODE_THRESHOLD)
                    {
                        // Nothing was written: RASP's None (an Aggregate that selected nothing).
                        Value::None
                    } else {
                        map.iter()
                            .find(|(_, i)| *i == best)
                            .map_or(Value::None, |(v, _)| v.clone())
                    };
                    (best as f64, value)
                })
                .unzip(),
            OutputEncoding::Numerical => {
                out.column(0).iter().map(|&z| (z, Value::Float(z))).unzip()
            }
        };
        decoded[0] = Value::Str(self.input_encoding.bos_token.clone());
        (unembedded, decoded)
    }

    /// The output directions of a residual `[T, D]`: `[T, outputs]` (one column when numerical).
    pub fn read_output(&self, x: &Array2<f64>) -> Array2<f64> {
        match &self.residual_map {
            // Reading compiled dimension i of r' = r · M is r' · M[i, :]ᵀ.
            Some(map) => x.dot(
                &map.matrix
                    .select(Axis(0), &self.output_residual_indices)
                    .t(),
            ),
            None => x.select(Axis(1), &self.output_residual_indices),
        }
    }
}

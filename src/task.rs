//! A pruning task: a model, clean inputs, corrupted inputs, and how its output is compared.
//!
//! Inputs are every sequence `BOS + v^n` over the model's non-special tokens when there are at most
//! [`MAX_ENUMERATED`] of them (Edge Pruning's Tracr datasets: 27 for reverse, 256 for xproportion), else a
//! seeded sample of that many. Corrupted inputs replace every non-BOS token by a different token drawn
//! uniformly (as Edge Pruning's `prepare_*` datasets do; their fixture rows differ from the clean ones at
//! every non-BOS position).

use std::path::Path;

use ndarray::Array2;
use serde_json::Value;
use tracr::craft::json::value_to_json;
use tracr::model::CompiledModel;
use tracr::value::Value as TracrValue;

use crate::error::{Error, Result};
use crate::model::{OutputKind, Transformer};
use crate::objective::metric::Metric;
use crate::rng::Rng;

pub use tracr::transform::compress::MAX_ENUMERATED;

/// The input tokens of a compiled model, from its fixture's `input_encoding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// Non-special tokens as (text, id), in the encoding's order (Tracr's sorted token basis).
    pub tokens: Vec<(String, usize)>,
    /// Id of the BOS token.
    pub bos_id: usize,
}

impl Vocabulary {
    /// Reads `input_encoding` (`map` of [token, id], `bos_token`, `pad_token`) of a Tracr fixture's model.
    pub fn from_tracr_json(model: &Value) -> Result<Self> {
        let bad = |message: String| Error::Json {
            what: "model.input_encoding".into(),
            message,
        };
        let encoding = model
            .get("input_encoding")
            .ok_or_else(|| bad("missing; the task needs the token ids".into()))?;
        let bos = encoding
            .get("bos_token")
            .ok_or_else(|| bad("has no bos_token".into()))?;
        let pad = encoding.get("pad_token");
        let map = encoding
            .get("map")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("has no `map` list of [token, id] pairs".into()))?;
        let mut tokens = Vec::new();
        let mut bos_id = None;
        for pair in map {
            let (token, id) = match pair.as_array().map(Vec::as_slice) {
                Some([token, id]) => (token, id),
                _ => return Err(bad(format!("map entry {pair} is not a [token, id] pair"))),
            };
            let id = id
                .as_u64()
                .ok_or_else(|| bad(format!("id of {token} is not a non-negative integer")))?
                as usize;
            if token == bos {
                bos_id = Some(id);
            } else if Some(token) != pad {
                let text = match token {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                tokens.push((text, id));
            }
        }
        let bos_id = bos_id.ok_or_else(|| bad(format!("bos_token {bos} is not in the map")))?;
        if tokens.is_empty() {
            return Err(bad("has no tokens besides BOS and padding".into()));
        }
        Ok(Self { tokens, bos_id })
    }

    /// The input tokens of a compiled model in memory: the same as [`Vocabulary::from_tracr_json`] of
    /// its JSON (a number token's text is its JSON spelling).
    pub fn from_compiled(model: &CompiledModel) -> Result<Self> {
        let encoding = &model.input_encoding;
        let is = |token: &TracrValue, name: &str| matches!(token, TracrValue::Str(s) if s == name);
        let mut tokens = Vec::new();
        let mut bos_id = None;
        for (token, id) in &encoding.map {
            if is(token, &encoding.bos_token) {
                bos_id = Some(*id);
            } else if !is(token, &encoding.pad_token) {
                let text = match token {
                    TracrValue::Str(s) => s.clone(),
                    other => value_to_json(other).to_string(),
                };
                tokens.push((text, *id));
            }
        }
        let bad = |message: String| Error::Json {
            what: "model.input_encoding".into(),
            message,
        };
        let bos_id = bos_id.ok_or_else(|| {
            bad(format!(
                "bos_token \"{}\" is not in the map",
                encoding.bos_token
            ))
        })?;
        if tokens.is_empty() {
            return Err(bad("has no tokens besides BOS and padding".into()));
        }
        Ok(Self { tokens, bos_id })
    }

    /// Ids of the non-special tokens.
    pub fn ids(&self) -> Vec<usize> {
        self.tokens.iter().map(|(_, id)| *id).collect()
    }

    /// The text of a token id (`BOS` for the BOS id, `#id` when unknown).
    pub fn text(&self, id: usize) -> String {
        if id == self.bos_id {
            return "BOS".into();
        }
        self.tokens
            .iter()
            .find(|(_, i)| *i == id)
            .map_or_else(|| format!("#{id}"), |(t, _)| t.clone())
    }
}

/// Every `BOS + tokens^length` sequence, the last position varying fastest, or a seeded sample of
/// [`MAX_ENUMERATED`] (drawn with replacement) when there are more: tracr's enumeration, which
/// `tracr compile --compress` trains on, so both crates use the same rows.
pub fn input_sequences(vocabulary: &Vocabulary, length: usize, rng: &mut Rng) -> Array2<usize> {
    tracr::transform::compress::input_sequences(&vocabulary.ids(), vocabulary.bos_id, length, rng)
}

/// Corrupted copies: position 0 (BOS) kept, every other token replaced by a different token drawn
/// uniformly from the vocabulary. With a one-token vocabulary the token is kept (there is no other).
pub fn corrupt(clean: &Array2<usize>, vocabulary: &Vocabulary, rng: &mut Rng) -> Array2<usize> {
    let ids = vocabulary.ids();
    let mut corrupted = clean.clone();
    for mut row in corrupted.rows_mut() {
        for token in row.iter_mut().skip(1) {
            let others: Vec<usize> = ids.iter().copied().filter(|id| id != token).collect();
            if !others.is_empty() {
                *token = others[rng.below(others.len() as u64) as usize];
            }
        }
    }
    corrupted
}

/// A model with its clean and corrupted inputs.
#[derive(Debug, Clone)]
pub struct Task {
    /// A short name (`reverse`, `xproportion`, the fixture's name).
    pub name: String,
    /// The model to prune.
    pub model: Transformer,
    /// Its input tokens.
    pub vocabulary: Vocabulary,
    /// `[N, S]` clean token ids, BOS first.
    pub clean: Array2<usize>,
    /// `[N, S]` corrupted token ids, row n pairs with clean row n.
    pub corrupted: Array2<usize>,
    /// Class logits (KL over classes) or one number per position (KL over positions).
    pub output: OutputKind,
    /// The distance to the full model that pruning minimises (Edge Pruning: KL).
    pub metric: Metric,
}

impl Task {
    /// The task of a Tracr fixture file: its model, all inputs of `length` tokens after BOS, corrupted with `seed`.
    pub fn from_tracr_fixture(path: &Path, length: usize, seed: u64) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let document: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            what: path.display().to_string(),
            message: e.to_string(),
        })?;
        let model_json = document.get("model").ok_or_else(|| Error::Json {
            what: path.display().to_string(),
            message: "has no `model` object; is it a Tracr fixture?".into(),
        })?;
        let name = document
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| path.display().to_string(), str::to_string);
        Self::from_tracr_model(&name, model_json, length, seed)
    }

    /// The task of a compiled Tracr model in the fixtures' `model` schema: all inputs of `length` tokens
    /// after BOS (or a seeded sample), corrupted with the same `seed`.
    pub fn from_tracr_model(
        name: &str,
        model_json: &Value,
        length: usize,
        seed: u64,
    ) -> Result<Self> {
        let model = Transformer::from_tracr_json(model_json)?;
        let vocabulary = Vocabulary::from_tracr_json(model_json)?;
        Self::from_parts(name, model, vocabulary, length, seed)
    }

    /// The task of a compiled Tracr model in memory: the same task as [`Task::from_tracr_model`] of
    /// its JSON, without the JSON.
    pub fn from_compiled(
        name: &str,
        model: &CompiledModel,
        length: usize,
        seed: u64,
    ) -> Result<Self> {
        let vocabulary = Vocabulary::from_compiled(model)?;
        Self::from_parts(
            name,
            Transformer::from_compiled(model)?,
            vocabulary,
            length,
            seed,
        )
    }

    /// All inputs of `length` tokens after BOS (or a seeded sample) over `vocabulary`, corrupted with
    /// the same `seed`.
    fn from_parts(
        name: &str,
        model: Transformer,
        vocabulary: Vocabulary,
        length: usize,
        seed: u64,
    ) -> Result<Self> {
        if length == 0 || length + 1 > model.max_positions() {
            return Err(Error::InvalidOption {
                option: "sequence length".into(),
                message: format!(
                    "{length} tokens after BOS; the model has {} positions, so use 1..={}",
                    model.max_positions(),
                    model.max_positions().saturating_sub(1)
                ),
            });
        }
        let mut rng = Rng::new(seed);
        let clean = input_sequences(&vocabulary, length, &mut rng);
        let corrupted = corrupt(&clean, &vocabulary, &mut rng);
        let output = model.output_kind();
        Ok(Self {
            name: name.to_string(),
            model,
            vocabulary,
            clean,
            corrupted,
            output,
            metric: Metric::Kl,
        })
    }

    /// Edge Pruning's reverse task: `fixtures/tracr/reverse_123.json`, all 27 inputs of length 3 (S = 4).
    pub fn reverse(fixtures: &Path) -> Result<Self> {
        let mut task = Self::from_tracr_fixture(&fixtures.join("tracr/reverse_123.json"), 3, 0)?;
        task.name = "reverse".into();
        Ok(task)
    }

    /// Edge Pruning's xproportion task: `fixtures/tracr/xproportion.json`, all 256 inputs of length 4 (S = 5).
    pub fn xproportion(fixtures: &Path) -> Result<Self> {
        let mut task = Self::from_tracr_fixture(&fixtures.join("tracr/xproportion.json"), 4, 0)?;
        task.name = "xproportion".into();
        Ok(task)
    }

    /// Number of examples.
    pub fn num_examples(&self) -> usize {
        self.clean.nrows()
    }

    /// An input row as text, e.g. `BOS 1 2 3`.
    pub fn describe(&self, row: usize) -> String {
        self.clean
            .row(row)
            .iter()
            .map(|&id| self.vocabulary.text(id))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

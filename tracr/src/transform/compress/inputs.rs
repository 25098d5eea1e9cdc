//! The data a compression trains and is scored on: every input of one length over the model's
//! vocabulary (or a seeded sample when there are too many), and the model's own decodings of them.
//! `edgeprune`'s tasks build their clean inputs with these same functions, so both crates train on
//! the same rows in the same order.

use ndarray::{Array2, Axis};

use crate::error::{Error, Result};
use crate::model::CompiledModel;
use crate::rng::Rng;
use crate::value::Value;

/// At most this many inputs are enumerated; beyond it a seeded sample of this many is drawn (with
/// replacement). Edge Pruning's Tracr datasets have 27 (reverse) and 256 (xproportion) inputs.
pub const MAX_ENUMERATED: usize = 10_000;

/// The ids of the model's input tokens other than BOS and padding, in the input encoding's order,
/// and BOS's id.
pub fn input_token_ids(model: &CompiledModel) -> Result<(Vec<usize>, usize)> {
    let encoding = &model.input_encoding;
    let is = |token: &Value, name: &str| matches!(token, Value::Str(s) if s == name);
    let mut ids = Vec::new();
    let mut bos = None;
    for (token, id) in &encoding.map {
        if is(token, &encoding.bos_token) {
            bos = Some(*id);
        } else if !is(token, &encoding.pad_token) {
            ids.push(*id);
        }
    }
    let bos = bos.ok_or_else(|| {
        Error::Input(format!(
            "the model's input encoding has no id for its BOS token \"{}\"",
            encoding.bos_token
        ))
    })?;
    if ids.is_empty() {
        return Err(Error::Input(
            "the model's input encoding has no tokens besides BOS and padding".into(),
        ));
    }
    Ok((ids, bos))
}

/// Every `BOS + tokens^length` row over `ids`, the last position varying fastest, or a sample of
/// [`MAX_ENUMERATED`] rows drawn from `rng` when there are more. `ids` must not be empty.
pub fn input_sequences(ids: &[usize], bos: usize, length: usize, rng: &mut Rng) -> Array2<usize> {
    let count = (ids.len() as f64).powi(length as i32);
    let mut rows = Vec::new();
    if count <= MAX_ENUMERATED as f64 {
        for index in 0..count as usize {
            rows.push(bos);
            let mut digits = vec![0; length];
            let mut rest = index;
            for digit in digits.iter_mut().rev() {
                *digit = rest % ids.len();
                rest /= ids.len();
            }
            rows.extend(digits.into_iter().map(|d| ids[d]));
        }
    } else {
        for _ in 0..MAX_ENUMERATED {
            rows.push(bos);
            rows.extend((0..length).map(|_| ids[rng.below(ids.len() as u64) as usize]));
        }
    }
    let num_rows = rows.len() / (length + 1);
    Array2::from_shape_vec((num_rows, length + 1), rows).expect("rows have length + 1 entries")
}

/// The `[N, length + 1]` token ids (BOS first) of every input of `length` tokens, or a sample drawn
/// with `seed` when there are more than [`MAX_ENUMERATED`]. Errors unless `1 <= length <= max_seq_len`.
pub fn task_inputs(model: &CompiledModel, length: usize, seed: u64) -> Result<Array2<usize>> {
    let longest = model.input_encoding.max_seq_len_with_bos.saturating_sub(1);
    if length == 0 || length > longest {
        return Err(Error::InvalidOption {
            option: "sequence length",
            message: format!(
                "{length} tokens after BOS; the model takes 1..={longest} (max_seq_len {longest})"
            ),
        });
    }
    let (ids, bos) = input_token_ids(model)?;
    Ok(input_sequences(&ids, bos, length, &mut Rng::new(seed)))
}

/// The model's decoded output (without BOS's position) on every `[N, S]` row of token ids.
pub fn decodings(model: &CompiledModel, inputs: &Array2<usize>) -> Result<Vec<Vec<Value>>> {
    let by_id = tokens_by_id(model);
    inputs
        .axis_iter(Axis(0))
        .map(|row| {
            let tokens: Vec<Value> = row.iter().map(|&id| by_id[id].clone()).collect();
            Ok(model.apply(&tokens)?.decoded[1..].to_vec())
        })
        .collect()
}

/// The input tokens (without BOS) of every `[N, S]` row of token ids (BOS first), as the RASP
/// evaluator takes them. Errors on an id the model's input encoding does not use.
pub fn input_values(model: &CompiledModel, inputs: &Array2<usize>) -> Result<Vec<Vec<Value>>> {
    // One id -> token table for every row.
    let by_id = tokens_by_id(model);
    inputs
        .axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .skip(1)
                .map(|&id| match by_id.get(id) {
                    Some(Value::None) | None => Err(Error::Input(format!(
                        "token id {id} is not in the model's input encoding"
                    ))),
                    Some(token) => Ok(token.clone()),
                })
                .collect()
        })
        .collect()
}

/// The input token of every id (`Value::None` for an id the encoding does not use).
pub(super) fn tokens_by_id(model: &CompiledModel) -> Vec<Value> {
    let size = model
        .input_encoding
        .map
        .iter()
        .map(|(_, id)| id + 1)
        .max()
        .unwrap_or(0);
    let mut by_id = vec![Value::None; size];
    for (value, id) in &model.input_encoding.map {
        by_id[*id] = value.clone();
    }
    by_id
}

//! `tracr run`: a user's input checked against the model, run, and written as JSON.
//!
//! The plain output is the decoded list, BOS first, as in the fixtures' `model_decoded`. The traced
//! output is one JSON object using the fixtures' trace field names (`model_input`,
//! `input_embeddings`, `residual_names`, `residuals`) plus `decoded` and `residual_labels`, so
//! every residual row can be read against the name of each of its columns.

use serde_json::{json, Value as Json};

use crate::craft::json::{matrix_to_json, value_to_json};
use crate::error::{Error, Result};
use crate::model::{CompiledModel, ModelOutput};
use crate::value::Value;

/// The model's input for `input`: BOS prepended unless `input` already starts with the model's
/// BOS token (BOS is never in the vocabulary, so this cannot be ambiguous).
///
/// Errors name the first token outside the vocabulary and its position, or say how long an input
/// the model was compiled for.
pub fn model_input(model: &CompiledModel, input: &[Value]) -> Result<Vec<Value>> {
    let enc = &model.input_encoding;
    let bos = Value::Str(enc.bos_token.clone());
    let body = match input.first() {
        Some(first) if *first == bos => &input[1..],
        _ => input,
    };
    let vocab: Vec<&Value> = enc
        .map
        .iter()
        .map(|(v, _)| v)
        .filter(|v| **v != bos && **v != Value::Str(enc.pad_token.clone()))
        .collect();
    if let Some((position, token)) = body.iter().enumerate().find(|(_, t)| !vocab.contains(t)) {
        return Err(Error::TokenNotInVocab {
            token: token.py_str(),
            position,
            vocab: vocab
                .iter()
                .map(|v| v.py_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let max_seq_len = enc.max_seq_len_with_bos.saturating_sub(1);
    if body.len() > max_seq_len {
        return Err(Error::Input(format!(
            "the input has {} tokens but the model was compiled for at most {max_seq_len} \
             (max_seq_len, BOS not counted); recompile with a larger --max-seq-len",
            body.len()
        )));
    }
    let mut tokens = Vec::with_capacity(body.len() + 1);
    tokens.push(bos);
    tokens.extend_from_slice(body);
    Ok(tokens)
}

/// The decoded output as a JSON list, BOS first.
pub fn decoded_json(output: &ModelOutput) -> Json {
    Json::Array(output.decoded.iter().map(value_to_json).collect())
}

/// Runs the model on `input` (see [`model_input`]) and returns the decoded list, or with `traced`
/// the object holding the residual stream after every half-layer.
pub fn run_to_json(model: &CompiledModel, input: &[Value], traced: bool) -> Result<Json> {
    let tokens = model_input(model, input)?;
    if !traced {
        return Ok(decoded_json(&model.apply(&tokens)?));
    }
    let output = model.apply_traced(&tokens)?;
    let trace = output
        .trace
        .as_ref()
        .expect("apply_traced always records a trace");
    let residual_names: Vec<&str> = model.layers.iter().map(|l| l.module.as_str()).collect();
    Ok(json!({
        "model_input": tokens.iter().map(value_to_json).collect::<Vec<_>>(),
        "decoded": decoded_json(&output),
        "residual_labels": model.residual_labels,
        "input_embeddings": matrix_to_json(&trace.input_embeddings),
        "residual_names": residual_names,
        "residuals": trace.residuals.iter().map(matrix_to_json).collect::<Vec<_>>(),
    }))
}

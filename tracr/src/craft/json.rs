//! JSON forms of values and craft blocks, in the oracle fixtures' schema.

use ndarray::Array2;
use serde_json::{json, Value as Json};

use super::bases::{BasisDirection, VectorSpace};
use super::blocks::{AttentionHead, Block, Mlp};
use super::linear::Linear;
use crate::error::{Error, Result};
use crate::value::Value;

/// A RASP value as JSON: tuples become arrays, floats stay floats (`1.0`, not `1`).
pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!(i),
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(crate::value::python_float_repr(*x))),
        Value::Str(s) => Json::String(s.clone()),
        Value::Tuple(items) => Json::Array(items.iter().map(value_to_json).collect()),
    }
}

/// A RASP value from JSON: integers stay integers, arrays become tuples.
pub fn value_from_json(json: &Json) -> Result<Value> {
    Ok(match json {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(
                n.as_f64()
                    .ok_or_else(|| Error::Json(format!("number {n} does not fit an i64 or f64")))?,
            ),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => {
            Value::Tuple(items.iter().map(value_from_json).collect::<Result<_>>()?)
        }
        Json::Object(_) => return Err(Error::Json(format!("expected a value, got {json}"))),
    })
}

/// A direction as `[name, value]`.
pub fn direction_to_json(direction: &BasisDirection) -> Json {
    json!([
        direction.name,
        direction.value.as_ref().map_or(Json::Null, value_to_json)
    ])
}

/// A direction from `[name, value]`.
pub fn direction_from_json(json: &Json) -> Result<BasisDirection> {
    match json.as_array().map(Vec::as_slice) {
        Some([Json::String(name), value]) => {
            Ok(BasisDirection::new(name.clone(), value_from_json(value)?))
        }
        _ => Err(Error::Json(format!(
            "expected a direction [name, value], got {json}"
        ))),
    }
}

/// A space as its list of directions.
pub fn space_to_json(space: &VectorSpace) -> Json {
    Json::Array(space.basis().iter().map(direction_to_json).collect())
}

/// A matrix as nested rows.
pub fn matrix_to_json(matrix: &Array2<f64>) -> Json {
    // Built value by value (what `json!(row.to_vec())` gives, without a copy and a serializer pass per
    // row): compiling a library program converts a quarter-million weights this way.
    Json::Array(
        matrix
            .rows()
            .into_iter()
            .map(|row| Json::Array(row.iter().map(|&x| Json::from(x)).collect()))
            .collect(),
    )
}

/// A linear map as `{input_basis, output_basis, matrix}`.
pub fn linear_to_json(linear: &Linear) -> Json {
    json!({
        "input_basis": space_to_json(&linear.input_space),
        "output_basis": space_to_json(&linear.output_space),
        "matrix": matrix_to_json(&linear.matrix),
    })
}

/// A head as `{kind, w_qk, w_ov, causal}`.
pub fn head_to_json(head: &AttentionHead) -> Json {
    json!({
        "kind": "attention_head",
        "w_qk": {
            "left_basis": space_to_json(&head.w_qk.left_space),
            "right_basis": space_to_json(&head.w_qk.right_space),
            "matrix": matrix_to_json(&head.w_qk.matrix),
        },
        "w_ov": linear_to_json(&head.w_ov),
        "causal": head.causal,
    })
}

/// An MLP as `{kind, fst, snd}`.
pub fn mlp_to_json(mlp: &Mlp) -> Json {
    json!({"kind": "mlp", "fst": linear_to_json(&mlp.fst), "snd": linear_to_json(&mlp.snd)})
}

/// A node's block as the fixtures' `program.nodes[].block`.
pub fn block_to_json(block: &Block) -> Json {
    match block {
        Block::Attention(head) => head_to_json(head),
        Block::Mlp(mlp) => mlp_to_json(mlp),
        Block::AttentionThenMlp(head, mlp) => json!({
            "kind": "series_with_residuals",
            "blocks": [head_to_json(head), mlp_to_json(mlp)],
        }),
    }
}

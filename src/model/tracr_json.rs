//! Reading a compiled Tracr model from the oracle fixture's `model` object (haiku parameter names).

use ndarray::{s, Array1, Array2};
use serde_json::Value;

use tracr::model::{AttentionWeights, CompiledModel, LayerWeights, MlpWeights, ResidualMapKind};
use tracr::value::Value as TracrValue;

use super::{Activation, AttentionHead, Layer, Mlp, Readout, ResidualBasis, Transformer};
use crate::error::{Error, Result};

/// Tracr compiles without layer norm; a model with it is not one we can read as compiled.
fn layer_norm_unsupported() -> Error {
    Error::Unsupported {
        message: "Tracr models with layer_norm = true (Tracr compiles them without; \
                  recompile with layer_norm = false)"
            .into(),
    }
}

/// The MLP activation named in a Tracr config (relu when absent, as Tracr compiles).
fn activation(name: Option<&str>) -> Result<Activation> {
    match name {
        None | Some("relu") => Ok(Activation::Relu),
        Some("gelu") => Ok(Activation::Gelu),
        Some(other) => Err(json_error(
            "model.config.activation",
            format!("`{other}` is not one of relu, gelu"),
        )),
    }
}

/// A residual map whose columns are not this model's residual dimensions.
fn residual_map_width(d_model: usize, columns: usize) -> Error {
    Error::Shape {
        what: "model.residual_map.matrix columns".into(),
        expected: format!("d_model = {d_model}"),
        got: columns.to_string(),
    }
}

impl Transformer {
    /// Builds the model from a fixture's `model` object: `config`, `weights` (haiku names),
    /// `residual_labels`, `output_residual_indices`, `categorical_output`, `input_encoding`.
    ///
    /// A categorical output becomes an unembedding `[d_model, classes]` that copies
    /// `output_residual_indices[c]` into class `c`; a numerical one reads `output_residual_indices[0]`.
    pub fn from_tracr_json(model: &Value) -> Result<Transformer> {
        let config = field(model, "config", "model")?;
        let num_layers = usize_field(config, "num_layers", "model.config")?;
        let num_heads = usize_field(config, "num_heads", "model.config")?;
        let key_size = usize_field(config, "key_size", "model.config")?;
        let d_model = usize_field(config, "d_model", "model.config")?;
        if config.get("layer_norm").and_then(Value::as_bool) == Some(true) {
            return Err(layer_norm_unsupported());
        }
        let activation = activation(config.get("activation").and_then(Value::as_str))?;
        let causal = config
            .get("causal")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let attention_scale = match config.get("attn_logit_scale").and_then(Value::as_f64) {
            Some(scale) => scale,
            None => 1.0 / (key_size as f64).sqrt(),
        };

        let weights = field(model, "weights", "model")?;
        let parameter = |module: &str, name: &str| -> Result<&Value> {
            let owner = format!("model.weights[\"{module}\"]");
            field(field(weights, module, "model.weights")?, name, &owner)
        };
        let token_embedding = matrix(parameter("token_embed", "embeddings")?, "token_embed")?;
        let position_embedding = matrix(parameter("pos_embed", "embeddings")?, "pos_embed")?;

        let mut layers = Vec::with_capacity(num_layers);
        for l in 0..num_layers {
            let attn = format!("transformer/layer_{l}/attn");
            let mlp = format!("transformer/layer_{l}/mlp");
            layers.push(LayerWeights {
                attn: AttentionWeights {
                    query: matrix(parameter(&format!("{attn}/query"), "w")?, "query w")?,
                    query_bias: vector(parameter(&format!("{attn}/query"), "b")?, "query b")?,
                    key: matrix(parameter(&format!("{attn}/key"), "w")?, "key w")?,
                    key_bias: vector(parameter(&format!("{attn}/key"), "b")?, "key b")?,
                    value: matrix(parameter(&format!("{attn}/value"), "w")?, "value w")?,
                    value_bias: vector(parameter(&format!("{attn}/value"), "b")?, "value b")?,
                    output: matrix(parameter(&format!("{attn}/linear"), "w")?, "linear w")?,
                    output_bias: vector(parameter(&format!("{attn}/linear"), "b")?, "linear b")?,
                },
                mlp: MlpWeights {
                    hidden: matrix(parameter(&format!("{mlp}/linear_1"), "w")?, "linear_1 w")?,
                    hidden_bias: vector(parameter(&format!("{mlp}/linear_1"), "b")?, "linear_1 b")?,
                    output: matrix(parameter(&format!("{mlp}/linear_2"), "w")?, "linear_2 w")?,
                    output_bias: vector(parameter(&format!("{mlp}/linear_2"), "b")?, "linear_2 b")?,
                },
            });
        }

        let output_indices: Vec<usize> = field(model, "output_residual_indices", "model")?
            .as_array()
            .ok_or_else(|| json_error("model.output_residual_indices", "not a list".into()))?
            .iter()
            .map(|v| {
                v.as_u64().map(|i| i as usize).ok_or_else(|| {
                    json_error(
                        "model.output_residual_indices",
                        format!("{v} is not an index"),
                    )
                })
            })
            .collect::<Result<_>>()?;
        let categorical = field(model, "categorical_output", "model")?
            .as_bool()
            .ok_or_else(|| json_error("model.categorical_output", "not a boolean".into()))?;
        let residual_map = residual_map(model, d_model)?;
        let residual_labels = match model.get("residual_labels") {
            Some(Value::Array(labels)) => Some(
                labels
                    .iter()
                    .map(|l| {
                        l.as_str().map(str::to_string).ok_or_else(|| {
                            json_error("model.residual_labels", format!("{l} is not a string"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            _ => None,
        };
        let bos_token_id = model.get("input_encoding").and_then(|encoding| {
            let bos = encoding.get("bos_token")?;
            encoding
                .get("map")?
                .as_array()?
                .iter()
                .find(|pair| pair.get(0) == Some(bos))
                .and_then(|pair| pair.get(1)?.as_u64())
                .map(|id| id as usize)
        });
        let compiled_labels = model
            .get("residual_map")
            .and_then(|map| map.get("compiled_labels"))
            .and_then(|labels| serde_json::from_value(labels.clone()).ok());
        assemble(TracrParts {
            shape: Shape {
                num_heads,
                key_size,
                d_model,
            },
            activation,
            causal,
            attention_scale,
            token_embedding,
            position_embedding,
            layers: &layers,
            output_indices,
            categorical,
            residual_map,
            compiled_labels,
            residual_labels,
            bos_token_id,
        })
    }

    /// Builds the model from a compiled Tracr model in memory: the same model as
    /// [`Transformer::from_tracr_json`] of its JSON, bit for bit, without writing the weights out as a
    /// JSON tree and parsing them back (which costs more than the compile for the larger programs).
    pub fn from_compiled(model: &CompiledModel) -> Result<Transformer> {
        let config = &model.config;
        if config.layer_norm {
            return Err(layer_norm_unsupported());
        }
        let activation = activation(Some(config.activation.as_str()))?;
        let encoding = &model.input_encoding;
        let bos_token_id = encoding
            .map
            .iter()
            .find(|(token, _)| matches!(token, TracrValue::Str(s) if *s == encoding.bos_token))
            .map(|&(_, id)| id);
        let residual_map = match &model.residual_map {
            None => None,
            Some(map) => {
                if map.matrix.ncols() != config.d_model {
                    return Err(residual_map_width(config.d_model, map.matrix.ncols()));
                }
                let rotation = matches!(map.kind, ResidualMapKind::Rotation { .. });
                Some((map.matrix.clone(), rotation))
            }
        };
        assemble(TracrParts {
            shape: Shape {
                num_heads: config.num_heads,
                key_size: config.key_size,
                d_model: config.d_model,
            },
            activation,
            causal: config.causal,
            attention_scale: config.attn_logit_scale,
            token_embedding: model.token_embed.clone(),
            position_embedding: model.pos_embed.clone(),
            layers: &model.weights,
            output_indices: model.output_residual_indices.clone(),
            categorical: model.categorical_output,
            residual_map,
            compiled_labels: model
                .residual_map
                .as_ref()
                .map(|map| map.compiled_labels.clone()),
            residual_labels: Some(model.residual_labels.clone()),
            bos_token_id,
        })
    }
}

/// The widths a Tracr model's weights are cut by.
struct Shape {
    num_heads: usize,
    key_size: usize,
    d_model: usize,
}

/// What a [`Transformer`] is built from, read from a JSON tree or taken from a compiled model.
struct TracrParts<'a> {
    shape: Shape,
    activation: Activation,
    causal: bool,
    attention_scale: f64,
    token_embedding: Array2<f64>,
    position_embedding: Array2<f64>,
    layers: &'a [LayerWeights],
    output_indices: Vec<usize>,
    categorical: bool,
    /// The residual map's matrix and whether it is a rotation.
    residual_map: Option<(Array2<f64>, bool)>,
    compiled_labels: Option<Vec<String>>,
    residual_labels: Option<Vec<String>>,
    bos_token_id: Option<usize>,
}

/// Cuts the layers into heads (Edge Pruning's per-head view), builds the readout and checks the model.
fn assemble(parts: TracrParts) -> Result<Transformer> {
    let Shape {
        num_heads,
        key_size,
        d_model,
    } = parts.shape;
    let mut layers = Vec::with_capacity(parts.layers.len());
    for (l, weights) in parts.layers.iter().enumerate() {
        let a = &weights.attn;
        let attn = format!("transformer/layer_{l}/attn");
        let expect_cols = |what: &str, m: &Array2<f64>, cols: usize| {
            if m.ncols() == cols && m.nrows() == d_model {
                Ok(())
            } else {
                Err(Error::Shape {
                    what: format!("{attn}/{what}"),
                    expected: format!("[{d_model}, {cols}]"),
                    got: format!("{:?}", m.shape()),
                })
            }
        };
        expect_cols("query w", &a.query, num_heads * key_size)?;
        expect_cols("key w", &a.key, num_heads * key_size)?;
        let value_size = a.value.ncols().checked_div(num_heads).unwrap_or(0);
        expect_cols("value w", &a.value, num_heads * value_size)?;
        if a.output.nrows() != num_heads * value_size || a.output.ncols() != d_model {
            return Err(Error::Shape {
                what: format!("{attn}/linear w"),
                expected: format!("[{}, {d_model}]", num_heads * value_size),
                got: format!("{:?}", a.output.shape()),
            });
        }
        let heads = (0..num_heads)
            .map(|h| {
                let keys = h * key_size..(h + 1) * key_size;
                let values = h * value_size..(h + 1) * value_size;
                AttentionHead {
                    w_query: a.query.slice(s![.., keys.clone()]).to_owned(),
                    b_query: a.query_bias.slice(s![keys.clone()]).to_owned(),
                    w_key: a.key.slice(s![.., keys.clone()]).to_owned(),
                    b_key: a.key_bias.slice(s![keys]).to_owned(),
                    w_value: a.value.slice(s![.., values.clone()]).to_owned(),
                    b_value: a.value_bias.slice(s![values.clone()]).to_owned(),
                    w_output: a.output.slice(s![values, ..]).to_owned(),
                    // Edge Pruning splits the layer's output bias evenly across its heads.
                    b_output: &a.output_bias / num_heads as f64,
                }
            })
            .collect();
        let m = &weights.mlp;
        layers.push(Layer {
            ln_attention: None,
            heads,
            ln_mlp: None,
            mlp: Mlp {
                w_in: m.hidden.clone(),
                b_in: m.hidden_bias.clone(),
                w_out: m.output.clone(),
                b_out: m.output_bias.clone(),
            },
        });
    }

    let output_indices = parts.output_indices;
    let categorical = parts.categorical;
    if output_indices.is_empty() {
        // Without output dimensions the readout would decode every input to nothing (or garbage).
        return Err(json_error(
            "model.output_residual_indices",
            "is empty: the model has no output dimensions to read; recompile it with `tracr compile`"
                .into(),
        ));
    }
    let residual_map = parts.residual_map;
    // Output indices name compiled dimensions; a rotated or compressed model reads them through
    // its map: compiled dimension i of r' = r · M is r' · M[i, :]ᵀ.
    let compiled_d = residual_map.as_ref().map_or(d_model, |(m, _)| m.nrows());
    if let Some(&bad) = output_indices.iter().find(|&&i| i >= compiled_d) {
        return Err(json_error(
            "model.output_residual_indices",
            format!("{bad} is not below the compiled d_model = {compiled_d}"),
        ));
    }
    let readout = if let Some((map, _)) = &residual_map {
        let unembedding = map.select(ndarray::Axis(0), &output_indices).t().to_owned();
        if categorical {
            Readout::Categorical { unembedding }
        } else {
            Readout::NumericalDirection {
                direction: unembedding.column(0).to_owned(),
            }
        }
    } else if categorical {
        let mut unembedding = Array2::zeros((d_model, output_indices.len()));
        for (class, &dim) in output_indices.iter().enumerate() {
            unembedding[(dim, class)] = 1.0;
        }
        Readout::Categorical { unembedding }
    } else {
        let dimension = *output_indices.first().ok_or_else(|| {
            json_error(
                "model.output_residual_indices",
                "empty for a numerical output".into(),
            )
        })?;
        Readout::Numerical { dimension }
    };

    let transformer = Transformer {
        token_embedding: parts.token_embedding,
        position_embedding: parts.position_embedding,
        layers,
        ln_final: None,
        readout,
        attention_scale: parts.attention_scale,
        causal: parts.causal,
        activation: parts.activation,
        residual_labels: parts.residual_labels,
        bos_token_id: parts.bos_token_id,
        residual_basis: match residual_map {
            None => ResidualBasis::Native,
            Some((rotation, true)) => ResidualBasis::Rotated {
                rotation,
                compiled_labels: parts.compiled_labels,
            },
            Some((_, false)) => ResidualBasis::Compressed,
        },
    };
    transformer.validate()?;
    Ok(transformer)
}

/// The optional `residual_map` written by `tracr compile --rotate` or compression: its matrix
/// `[compiled d_model, d_model]` and whether it is a rotation.
fn residual_map(model: &Value, d_model: usize) -> Result<Option<(Array2<f64>, bool)>> {
    let Some(map) = model.get("residual_map") else {
        return Ok(None);
    };
    let matrix = matrix(
        field(map, "matrix", "model.residual_map")?,
        "residual_map.matrix",
    )?;
    if matrix.ncols() != d_model {
        return Err(residual_map_width(d_model, matrix.ncols()));
    }
    let kind = field(map, "transform", "model.residual_map")?
        .get("kind")
        .and_then(Value::as_str);
    let rotation = match kind {
        Some("rotation") => true,
        Some("compression") => false,
        other => {
            return Err(json_error(
                "model.residual_map.transform.kind",
                format!("{other:?} is not one of rotation, compression"),
            ))
        }
    };
    Ok(Some((matrix, rotation)))
}

fn json_error(what: &str, message: String) -> Error {
    Error::Json {
        what: what.to_string(),
        message,
    }
}

fn field<'a>(object: &'a Value, key: &str, owner: &str) -> Result<&'a Value> {
    object
        .get(key)
        .ok_or_else(|| json_error(owner, format!("missing field `{key}`")))
}

fn usize_field(object: &Value, key: &str, owner: &str) -> Result<usize> {
    field(object, key, owner)?
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| {
            json_error(
                &format!("{owner}.{key}"),
                "not a non-negative integer".into(),
            )
        })
}

fn number(value: &Value, what: &str) -> Result<f64> {
    value
        .as_f64()
        .ok_or_else(|| json_error(what, format!("{value} is not a number")))
}

fn vector(value: &Value, what: &str) -> Result<Array1<f64>> {
    let items = value
        .as_array()
        .ok_or_else(|| json_error(what, "not a list of numbers".into()))?;
    items
        .iter()
        .map(|v| number(v, what))
        .collect::<Result<Vec<_>>>()
        .map(Array1::from)
}

fn matrix(value: &Value, what: &str) -> Result<Array2<f64>> {
    let rows = value
        .as_array()
        .ok_or_else(|| json_error(what, "not a list of rows".into()))?;
    let cols = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
    let mut out = Array2::zeros((rows.len(), cols));
    for (r, row) in rows.iter().enumerate() {
        let row = row
            .as_array()
            .ok_or_else(|| json_error(what, format!("row {r} is not a list")))?;
        if row.len() != cols {
            return Err(json_error(
                what,
                format!("row {r} has {} entries, row 0 has {cols}", row.len()),
            ));
        }
        for (c, v) in row.iter().enumerate() {
            out[(r, c)] = number(v, what)?;
        }
    }
    Ok(out)
}

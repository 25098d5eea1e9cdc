//! `CompiledModel` ↔ the fixtures' `model` JSON schema.

use ndarray::{Array1, Array2};
use serde_json::{json, Map, Value as Json};

use super::{
    AttentionWeights, CompiledModel, InputEncoding, LayerWeights, MlpWeights, ModelConfig,
    ModuleInfo, OutputEncoding, Perturbation, ResidualMap, ResidualMapKind, WEIGHTS_LAYOUT,
};
use crate::craft::json::{matrix_to_json, value_from_json, value_to_json};
use crate::error::{Error, Result};
use crate::fixes::TracrFix;
use crate::value::Value;

/// The field `key` of `obj`, or an error naming it.
fn field<'a>(obj: &'a Json, key: &str) -> Result<&'a Json> {
    obj.get(key)
        .ok_or_else(|| Error::Json(format!("missing field `{key}`")))
}

/// Deserialises a field with serde, naming it on failure.
fn parse<T: serde::de::DeserializeOwned>(obj: &Json, key: &str) -> Result<T> {
    serde_json::from_value(field(obj, key)?.clone())
        .map_err(|e| Error::Json(format!("field `{key}`: {e}")))
}

/// A JSON matrix (nested rows) as an `Array2`.
fn matrix(json: &Json, what: &str) -> Result<Array2<f64>> {
    let rows = json
        .as_array()
        .ok_or_else(|| Error::Json(format!("{what}: expected a matrix")))?;
    let cols = rows.first().and_then(Json::as_array).map_or(0, Vec::len);
    let mut out = Array2::zeros((rows.len(), cols));
    for (i, row) in rows.iter().enumerate() {
        let row = row
            .as_array()
            .filter(|r| r.len() == cols)
            .ok_or_else(|| Error::Json(format!("{what}: row {i} is not {cols} numbers")))?;
        for (j, x) in row.iter().enumerate() {
            out[[i, j]] = x
                .as_f64()
                .ok_or_else(|| Error::Json(format!("{what}[{i}][{j}] is not a number")))?;
        }
    }
    Ok(out)
}

/// A JSON vector as an `Array1`.
fn vector(json: &Json, what: &str) -> Result<Array1<f64>> {
    json.as_array()
        .ok_or_else(|| Error::Json(format!("{what}: expected a vector")))?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| Error::Json(format!("{what}: {x} is not a number")))
        })
        .collect::<Result<Vec<f64>>>()
        .map(Array1::from)
}

/// `[[value, index], ...]` as pairs.
fn value_map(json: &Json, what: &str) -> Result<Vec<(Value, usize)>> {
    json.as_array()
        .ok_or_else(|| Error::Json(format!("{what}: expected [[value, index], ...]")))?
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([v, i]) => Ok((
                value_from_json(v)?,
                i.as_u64()
                    .ok_or_else(|| Error::Json(format!("{what}: bad index {i}")))?
                    as usize,
            )),
            _ => Err(Error::Json(format!("{what}: bad entry {pair}"))),
        })
        .collect()
}

fn value_map_to_json(map: &[(Value, usize)]) -> Json {
    Json::Array(
        map.iter()
            .map(|(v, i)| json!([value_to_json(v), i]))
            .collect(),
    )
}

fn param(w: &Array2<f64>, b: &Array1<f64>) -> Json {
    // Built as a map: `json!` would copy the weights once more through its serializer.
    let mut param = Map::new();
    param.insert(
        "b".into(),
        Json::Array(b.iter().map(|&x| Json::from(x)).collect()),
    );
    param.insert("w".into(), matrix_to_json(w));
    Json::Object(param)
}

/// The names of every weight tensor of a model with `num_layers` layers, as the safetensors format
/// stores them: haiku's parameter names with `/w` or `/b` (`transformer/layer_0/attn/query/w`).
pub fn tensor_names(num_layers: usize) -> Vec<String> {
    let mut names = vec![
        "token_embed/embeddings".to_string(),
        "pos_embed/embeddings".to_string(),
    ];
    for i in 0..num_layers {
        for module in [
            "attn/query",
            "attn/key",
            "attn/value",
            "attn/linear",
            "mlp/linear_1",
            "mlp/linear_2",
        ] {
            names.push(format!("transformer/layer_{i}/{module}/w"));
            names.push(format!("transformer/layer_{i}/{module}/b"));
        }
    }
    names
}

/// Where a reader takes the weights from, by their [`tensor_names`].
pub(crate) trait WeightSource {
    /// The matrix called `name`.
    fn matrix(&self, name: &str) -> Result<Array2<f64>>;
    /// The vector called `name`.
    fn vector(&self, name: &str) -> Result<Array1<f64>>;
}

/// The `weights` object of the JSON schema: `{"transformer/layer_0/attn/query": {"w", "b"}, ...}`.
struct JsonWeights<'a>(&'a Json);

impl JsonWeights<'_> {
    /// The JSON module name and field for a tensor name (`.../query/w` -> `.../query`, `w`).
    fn locate(name: &str) -> (&str, &str) {
        name.rsplit_once('/').unwrap_or((name, ""))
    }
}

impl WeightSource for JsonWeights<'_> {
    fn matrix(&self, name: &str) -> Result<Array2<f64>> {
        let (module, key) = Self::locate(name);
        matrix(field(field(self.0, module)?, key)?, module)
    }

    fn vector(&self, name: &str) -> Result<Array1<f64>> {
        let (module, key) = Self::locate(name);
        vector(field(field(self.0, module)?, key)?, module)
    }
}

impl CompiledModel {
    /// The model in the fixtures' `model` schema (weights as nested lists under haiku names).
    pub fn to_json(&self) -> Json {
        // Maps built by hand, not with `json!`, which would copy every weight again through its
        // serializer (the weights are most of a compiled model).
        let embeddings = |matrix| {
            let mut map = Map::new();
            map.insert("embeddings".into(), matrix_to_json(matrix));
            Json::Object(map)
        };
        let mut weights = Map::new();
        weights.insert("pos_embed".into(), embeddings(&self.pos_embed));
        weights.insert("token_embed".into(), embeddings(&self.token_embed));
        for (i, layer) in self.weights.iter().enumerate() {
            let a = &layer.attn;
            let prefix = format!("transformer/layer_{i}");
            weights.insert(format!("{prefix}/attn/key"), param(&a.key, &a.key_bias));
            weights.insert(
                format!("{prefix}/attn/linear"),
                param(&a.output, &a.output_bias),
            );
            weights.insert(
                format!("{prefix}/attn/query"),
                param(&a.query, &a.query_bias),
            );
            weights.insert(
                format!("{prefix}/attn/value"),
                param(&a.value, &a.value_bias),
            );
            let m = &layer.mlp;
            weights.insert(
                format!("{prefix}/mlp/linear_1"),
                param(&m.hidden, &m.hidden_bias),
            );
            weights.insert(
                format!("{prefix}/mlp/linear_2"),
                param(&m.output, &m.output_bias),
            );
        }
        let output_encoding = match &self.output_encoding {
            OutputEncoding::Categorical(map) => {
                json!({"kind": "categorical", "map": value_map_to_json(map)})
            }
            OutputEncoding::Numerical => json!({"kind": "numerical"}),
        };
        let enc = &self.input_encoding;
        let mut out = json!({
            "config": serde_json::to_value(&self.config).expect("config serialises"),
            "residual_labels": self.residual_labels,
            "tokens_labels": self.tokens_labels,
            "indices_labels": self.indices_labels,
            "output_labels": self.output_labels,
            "output_residual_indices": self.output_residual_indices,
            "categorical_output": self.categorical_output,
            "input_encoding": {
                "map": value_map_to_json(&enc.map),
                "bos_token": enc.bos_token,
                "pad_token": enc.pad_token,
                "max_seq_len_with_bos": enc.max_seq_len_with_bos,
            },
            "output_encoding": output_encoding,
            "layers": serde_json::to_value(&self.layers).expect("layers serialise"),
            "weights_layout": WEIGHTS_LAYOUT,
        });
        out["weights"] = Json::Object(weights);
        if let Some(map) = self.residual_map_json() {
            out["residual_map"] = map;
        }
        if let Some(p) = self.perturbation_json() {
            out["perturbation"] = p;
        }
        if let Some(f) = self.tracr_fixes_json() {
            out["tracr_fixes"] = f;
        }
        out
    }

    /// The `tracr_fixes` entry (models compiled with `--fix-tracr-bugs` that differ from Tracr's).
    pub(crate) fn tracr_fixes_json(&self) -> Option<Json> {
        if self.tracr_fixes.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.tracr_fixes.iter().map(|f| f.name()).collect();
        Some(json!({
            "applied": names,
            "about": "compiled with --fix-tracr-bugs: these Tracr bugs are fixed, so the weights (or the decoding) differ from what Tracr compiles; see docs/tracr-fixes.md",
        }))
    }

    /// The `residual_map` entry (rotated or compressed models), as every writer spells it.
    pub(crate) fn residual_map_json(&self) -> Option<Json> {
        let map = self.residual_map.as_ref()?;
        let kind = match map.kind {
            ResidualMapKind::Rotation { seed } => json!({"kind": "rotation", "seed": seed}),
            ResidualMapKind::Compression => json!({"kind": "compression"}),
        };
        Some(json!({
            "transform": kind,
            "about": "compiled residual r (named by compiled_labels) = this model's residual r' via r' = r · matrix; writers and embeddings were multiplied by matrix, readers' inputs and the unembedding by its transpose",
            "compiled_labels": map.compiled_labels,
            "matrix": matrix_to_json(&map.matrix),
        }))
    }

    /// The `perturbation` entry (noisy models).
    pub(crate) fn perturbation_json(&self) -> Option<Json> {
        let p = self.perturbation.as_ref()?;
        Some(json!({"epsilon": p.epsilon, "seed": p.seed}))
    }

    /// Reads a model from the fixtures' `model` schema, checking every shape against the config.
    pub fn from_json(json: &Json) -> Result<CompiledModel> {
        CompiledModel::from_header(json, &JsonWeights(field(json, "weights")?))
    }

    /// Builds a model from the fixtures' `model` schema less its weights (the `header`), taking the
    /// weights from `source` by their tensor names ([`tensor_names`]); checks every shape and value.
    pub(crate) fn from_header(json: &Json, source: &dyn WeightSource) -> Result<CompiledModel> {
        let config: ModelConfig = parse(json, "config")?;
        let layers: Vec<ModuleInfo> = parse(json, "layers")?;
        let enc = field(json, "input_encoding")?;
        let input_encoding = InputEncoding {
            map: value_map(field(enc, "map")?, "input_encoding.map")?,
            bos_token: parse(enc, "bos_token")?,
            pad_token: parse(enc, "pad_token")?,
            max_seq_len_with_bos: parse(enc, "max_seq_len_with_bos")?,
        };
        let out = field(json, "output_encoding")?;
        let output_encoding = match field(out, "kind")?.as_str() {
            Some("categorical") => {
                OutputEncoding::Categorical(value_map(field(out, "map")?, "output_encoding.map")?)
            }
            Some("numerical") => OutputEncoding::Numerical,
            other => {
                return Err(Error::Json(format!(
                    "output_encoding.kind must be categorical or numerical, got {other:?}"
                )))
            }
        };
        let w = |name: &str| source.matrix(&format!("{name}/w"));
        let b = |name: &str| source.vector(&format!("{name}/b"));
        let mut layer_weights = Vec::new();
        for i in 0..config.num_layers {
            let p = format!("transformer/layer_{i}");
            layer_weights.push(LayerWeights {
                attn: AttentionWeights {
                    query: w(&format!("{p}/attn/query"))?,
                    query_bias: b(&format!("{p}/attn/query"))?,
                    key: w(&format!("{p}/attn/key"))?,
                    key_bias: b(&format!("{p}/attn/key"))?,
                    value: w(&format!("{p}/attn/value"))?,
                    value_bias: b(&format!("{p}/attn/value"))?,
                    output: w(&format!("{p}/attn/linear"))?,
                    output_bias: b(&format!("{p}/attn/linear"))?,
                },
                mlp: MlpWeights {
                    hidden: w(&format!("{p}/mlp/linear_1"))?,
                    hidden_bias: b(&format!("{p}/mlp/linear_1"))?,
                    output: w(&format!("{p}/mlp/linear_2"))?,
                    output_bias: b(&format!("{p}/mlp/linear_2"))?,
                },
            });
        }
        let model = CompiledModel {
            residual_labels: parse(json, "residual_labels")?,
            tokens_labels: parse(json, "tokens_labels")?,
            indices_labels: parse(json, "indices_labels")?,
            output_labels: parse(json, "output_labels")?,
            output_residual_indices: parse(json, "output_residual_indices")?,
            categorical_output: parse(json, "categorical_output")?,
            input_encoding,
            output_encoding,
            layers,
            token_embed: source.matrix("token_embed/embeddings")?,
            pos_embed: source.matrix("pos_embed/embeddings")?,
            weights: layer_weights,
            residual_map: residual_map_from_json(json)?,
            perturbation: perturbation_from_json(json)?,
            tracr_fixes: tracr_fixes_from_json(json)?,
            config,
        };
        model.check_shapes()?;
        Ok(model)
    }

    /// The document [`CompiledModel::to_json`] writes, less its `weights`: everything but the
    /// numbers, which other formats store as tensors.
    pub fn header_json(&self) -> Json {
        let mut json = self.clone_without_weights().to_json();
        if let Json::Object(map) = &mut json {
            map.remove("weights");
        }
        json
    }

    /// The model with no weights, so that `to_json` builds no tree of numbers.
    fn clone_without_weights(&self) -> CompiledModel {
        CompiledModel {
            config: self.config.clone(),
            residual_labels: self.residual_labels.clone(),
            tokens_labels: self.tokens_labels.clone(),
            indices_labels: self.indices_labels.clone(),
            output_labels: self.output_labels.clone(),
            output_residual_indices: self.output_residual_indices.clone(),
            categorical_output: self.categorical_output,
            input_encoding: self.input_encoding.clone(),
            output_encoding: self.output_encoding.clone(),
            layers: self.layers.clone(),
            token_embed: Array2::zeros((0, 0)),
            pos_embed: Array2::zeros((0, 0)),
            weights: Vec::new(),
            residual_map: self.residual_map.clone(),
            perturbation: self.perturbation.clone(),
            tracr_fixes: self.tracr_fixes.clone(),
        }
    }

    /// Errors unless every weight has the shape the config implies.
    pub fn check_shapes(&self) -> Result<()> {
        let c = &self.config;
        let d = c.d_model;
        let hk = c.num_heads * c.key_size;
        let expect = |what: &str, got: &[usize], want: &[usize]| -> Result<()> {
            if got == want {
                Ok(())
            } else {
                Err(Error::Json(format!(
                    "{what} has shape {got:?}, config implies {want:?}"
                )))
            }
        };
        expect("residual_labels", &[self.residual_labels.len()], &[d])?;
        expect(
            "token_embed",
            self.token_embed.shape(),
            &[self.input_encoding.map.len(), d],
        )?;
        expect(
            "pos_embed",
            self.pos_embed.shape(),
            &[self.input_encoding.max_seq_len_with_bos, d],
        )?;
        expect("weights", &[self.weights.len()], &[c.num_layers])?;
        for (i, l) in self.weights.iter().enumerate() {
            let a = &l.attn;
            let m = &l.mlp;
            for (name, got, want) in [
                ("query", a.query.shape(), [d, hk]),
                ("key", a.key.shape(), [d, hk]),
                ("value", a.value.shape(), [d, hk]),
                ("attn linear", a.output.shape(), [hk, d]),
                ("mlp linear_1", m.hidden.shape(), [d, c.mlp_hidden_size]),
                ("mlp linear_2", m.output.shape(), [c.mlp_hidden_size, d]),
            ] {
                expect(&format!("layer {i} {name}"), got, &want)?;
            }
            for (name, got, want) in [
                ("query bias", a.query_bias.len(), hk),
                ("key bias", a.key_bias.len(), hk),
                ("value bias", a.value_bias.len(), hk),
                ("attn linear bias", a.output_bias.len(), d),
                ("mlp linear_1 bias", m.hidden_bias.len(), c.mlp_hidden_size),
                ("mlp linear_2 bias", m.output_bias.len(), d),
            ] {
                expect(&format!("layer {i} {name}"), &[got], &[want])?;
            }
        }
        // Output indices name compiled dimensions, which a residual map may have changed.
        let compiled_d = match &self.residual_map {
            Some(map) => {
                expect(
                    "residual_map.matrix",
                    map.matrix.shape(),
                    &[map.compiled_labels.len(), d],
                )?;
                map.compiled_labels.len()
            }
            None => d,
        };
        if let Some(&bad) = self
            .output_residual_indices
            .iter()
            .find(|&&i| i >= compiled_d)
        {
            return Err(Error::Json(format!(
                "output residual index {bad} is outside the compiled d_model {compiled_d}"
            )));
        }
        Ok(())
    }
}

/// The optional `residual_map` object.
fn residual_map_from_json(json: &Json) -> Result<Option<ResidualMap>> {
    let Some(map) = json.get("residual_map") else {
        return Ok(None);
    };
    let transform = field(map, "transform")?;
    let kind = match field(transform, "kind")?.as_str() {
        Some("rotation") => ResidualMapKind::Rotation {
            seed: field(transform, "seed")?.as_u64().ok_or_else(|| {
                Error::Json("residual_map.transform.seed is not a whole number".into())
            })?,
        },
        Some("compression") => ResidualMapKind::Compression,
        other => {
            return Err(Error::Json(format!(
                "residual_map.transform.kind must be rotation or compression, got {other:?}"
            )))
        }
    };
    Ok(Some(ResidualMap {
        kind,
        matrix: matrix(field(map, "matrix")?, "residual_map.matrix")?,
        compiled_labels: parse(map, "compiled_labels")?,
    }))
}

/// The optional `perturbation` object.
fn perturbation_from_json(json: &Json) -> Result<Option<Perturbation>> {
    let Some(p) = json.get("perturbation") else {
        return Ok(None);
    };
    Ok(Some(Perturbation {
        epsilon: parse(p, "epsilon")?,
        seed: parse(p, "seed")?,
    }))
}

/// The optional `tracr_fixes` object: `{"applied": [name, ...]}`.
fn tracr_fixes_from_json(json: &Json) -> Result<Vec<TracrFix>> {
    let Some(fixes) = json.get("tracr_fixes") else {
        return Ok(Vec::new());
    };
    let applied = fixes
        .get("applied")
        .and_then(Json::as_array)
        .ok_or_else(|| Error::Json("tracr_fixes.applied must be a list of fix names".into()))?;
    let mut out = Vec::new();
    for name in applied {
        let fix = name.as_str().and_then(TracrFix::from_name).ok_or_else(|| {
            let valid: Vec<&str> = TracrFix::ALL.iter().map(|f| f.name()).collect();
            Error::Json(format!(
                "tracr_fixes.applied: unknown fix {name}; expected one of {}",
                valid.join(", ")
            ))
        })?;
        if !out.contains(&fix) {
            out.push(fix);
        }
    }
    out.sort();
    Ok(out)
}

//! The model as JSON in the fixtures' `model` schema, written straight from the model's arrays.
//!
//! [`CompiledModel::to_json`] builds a `serde_json::Value` tree of every weight first; for a 1 MB
//! model that tree is most of the time `tracr compile -o` takes. This writer streams the same
//! document through serde instead, byte for byte what `serde_json::to_string(&model.to_json())`
//! gives (`tests/model_json_writer_matches_value_tree.rs` checks every library program).

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::craft::json::value_to_json;
use crate::error::{Error, Result};
use crate::model::{CompiledModel, OutputEncoding, WeightSource, WEIGHTS_LAYOUT};
use crate::value::Value;

/// The model as JSON bytes, ending in a newline (what `tracr compile -o model.json` writes).
pub fn to_json_bytes(model: &CompiledModel) -> Vec<u8> {
    // About 18 bytes per weight as text; reserving avoids most reallocations.
    let mut bytes = Vec::with_capacity(weight_count(model) * 18 + 64 * 1024);
    serde_json::to_writer(&mut bytes, &ModelDocument(model)).expect("a model always serialises");
    bytes.push(b'\n');
    bytes
}

/// Writes the model as JSON to `path` atomically (`-` is standard output).
pub fn write_json(model: &CompiledModel, path: &Path) -> Result<()> {
    crate::io::write_atomically(path, &to_json_bytes(model))
}

/// Reads a model from JSON bytes in the fixtures' `model` schema.
///
/// The weights are parsed straight into vectors (no `serde_json::Value` per number); a document
/// that does not fit that fast path is read again through [`CompiledModel::from_json`], whose
/// errors name the field, the row and the column.
pub fn from_json_bytes(bytes: &[u8]) -> Result<CompiledModel> {
    if let Ok(model) = from_json_bytes_fast(bytes) {
        return Ok(model);
    }
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::Json(format!(
            "not a JSON document ({e}); write one with `tracr compile ... -o FILE`"
        ))
    })?;
    CompiledModel::from_json(&json)
}

/// One entry of `weights`: `{"w", "b"}` or `{"embeddings"}`.
#[derive(Deserialize)]
struct ParamDocument {
    w: Option<Vec<Vec<f64>>>,
    b: Option<Vec<f64>>,
    embeddings: Option<Vec<Vec<f64>>>,
}

/// The document split into its weights, typed, and everything else as JSON values.
struct SplitDocument {
    header: serde_json::Map<String, serde_json::Value>,
    weights: HashMap<String, ParamDocument>,
}

impl<'de> Deserialize<'de> for SplitDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct SplitVisitor;
        impl<'de> Visitor<'de> for SplitVisitor {
            type Value = SplitDocument;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a compiled model object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<SplitDocument, A::Error> {
                let mut header = serde_json::Map::new();
                let mut weights = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "weights" {
                        weights = Some(map.next_value()?);
                    } else {
                        header.insert(key, map.next_value()?);
                    }
                }
                let weights = weights.ok_or_else(|| serde::de::Error::missing_field("weights"))?;
                Ok(SplitDocument { header, weights })
            }
        }
        deserializer.deserialize_map(SplitVisitor)
    }
}

/// The typed `weights` as a [`WeightSource`].
struct TypedWeights<'a>(&'a HashMap<String, ParamDocument>);

impl TypedWeights<'_> {
    fn rows(&self, name: &str) -> Result<&[Vec<f64>]> {
        let (module, key) = name.rsplit_once('/').unwrap_or((name, ""));
        let param = self
            .0
            .get(module)
            .ok_or_else(|| Error::Json(format!("missing field `{module}`")))?;
        match key {
            "w" => param.w.as_deref(),
            "embeddings" => param.embeddings.as_deref(),
            _ => None,
        }
        .ok_or_else(|| Error::Json(format!("missing field `{key}`")))
    }
}

impl WeightSource for TypedWeights<'_> {
    fn matrix(&self, name: &str) -> Result<Array2<f64>> {
        let rows = self.rows(name)?;
        let cols = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != cols) {
            return Err(Error::Json(format!("{name}: rows of different lengths")));
        }
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        Ok(Array2::from_shape_vec((rows.len(), cols), flat).expect("rows checked"))
    }

    fn vector(&self, name: &str) -> Result<Array1<f64>> {
        let (module, _) = name.rsplit_once('/').unwrap_or((name, ""));
        self.0
            .get(module)
            .and_then(|p| p.b.clone())
            .map(Array1::from)
            .ok_or_else(|| Error::Json(format!("missing field `{module}`")))
    }
}

/// The fast path of [`from_json_bytes`] alone: its errors are terse (serde's), so callers that
/// report to users fall back to the `Value` path on failure.
pub fn from_json_bytes_fast(bytes: &[u8]) -> Result<CompiledModel> {
    let document: SplitDocument =
        serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))?;
    let header = serde_json::Value::Object(document.header);
    CompiledModel::from_header(&header, &TypedWeights(&document.weights))
}

/// Every weight's count, to size buffers.
pub(crate) fn weight_count(model: &CompiledModel) -> usize {
    model.token_embed.len()
        + model.pos_embed.len()
        + model
            .weights
            .iter()
            .map(|l| {
                let (a, m) = (&l.attn, &l.mlp);
                a.query.len()
                    + a.key.len()
                    + a.value.len()
                    + a.output.len()
                    + m.hidden.len()
                    + m.output.len()
            })
            .sum::<usize>()
}

/// The whole document; keys in the order `CompiledModel::to_json` inserts them.
struct ModelDocument<'a>(&'a CompiledModel);

impl Serialize for ModelDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let model = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("config", &model.config)?;
        map.serialize_entry("residual_labels", &model.residual_labels)?;
        map.serialize_entry("tokens_labels", &model.tokens_labels)?;
        map.serialize_entry("indices_labels", &model.indices_labels)?;
        map.serialize_entry("output_labels", &model.output_labels)?;
        map.serialize_entry("output_residual_indices", &model.output_residual_indices)?;
        map.serialize_entry("categorical_output", &model.categorical_output)?;
        map.serialize_entry("input_encoding", &InputEncodingDocument(model))?;
        map.serialize_entry(
            "output_encoding",
            &OutputEncodingDocument(&model.output_encoding),
        )?;
        map.serialize_entry("layers", &model.layers)?;
        map.serialize_entry("weights_layout", WEIGHTS_LAYOUT)?;
        map.serialize_entry("weights", &WeightsDocument(model))?;
        // Rotated, compressed or perturbed models only, after the weights as in `to_json`.
        if let Some(residual_map) = model.residual_map_json() {
            map.serialize_entry("residual_map", &residual_map)?;
        }
        if let Some(perturbation) = model.perturbation_json() {
            map.serialize_entry("perturbation", &perturbation)?;
        }
        if let Some(fixes) = model.tracr_fixes_json() {
            map.serialize_entry("tracr_fixes", &fixes)?;
        }
        map.end()
    }
}

/// `[[value, index], ...]`.
struct ValueMap<'a>(&'a [(Value, usize)]);

impl Serialize for ValueMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (value, index) in self.0 {
            seq.serialize_element(&(value_to_json(value), index))?;
        }
        seq.end()
    }
}

struct InputEncodingDocument<'a>(&'a CompiledModel);

impl Serialize for InputEncodingDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let enc = &self.0.input_encoding;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("map", &ValueMap(&enc.map))?;
        map.serialize_entry("bos_token", &enc.bos_token)?;
        map.serialize_entry("pad_token", &enc.pad_token)?;
        map.serialize_entry("max_seq_len_with_bos", &enc.max_seq_len_with_bos)?;
        map.end()
    }
}

struct OutputEncodingDocument<'a>(&'a OutputEncoding);

impl Serialize for OutputEncodingDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            OutputEncoding::Categorical(values) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("kind", "categorical")?;
                map.serialize_entry("map", &ValueMap(values))?;
                map.end()
            }
            OutputEncoding::Numerical => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("kind", "numerical")?;
                map.end()
            }
        }
    }
}

/// A matrix as a list of rows.
struct Rows<'a>(&'a Array2<f64>);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.nrows()))?;
        for row in self.0.rows() {
            seq.serialize_element(&Row(row.iter()))?;
        }
        seq.end()
    }
}

/// One row (or a bias vector) as a list of numbers.
struct Row<I>(I);

impl<'a, I: Iterator<Item = &'a f64> + Clone> Serialize for Row<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// `{"b": bias, "w": weights}`.
struct Param<'a>(&'a Array2<f64>, &'a Array1<f64>);

impl Serialize for Param<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("b", &Row(self.1.iter()))?;
        map.serialize_entry("w", &Rows(self.0))?;
        map.end()
    }
}

/// `{"embeddings": matrix}`.
struct Embeddings<'a>(&'a Array2<f64>);

impl Serialize for Embeddings<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("embeddings", &Rows(self.0))?;
        map.end()
    }
}

/// The weights under haiku's names, in `to_json`'s insertion order.
struct WeightsDocument<'a>(&'a CompiledModel);

impl Serialize for WeightsDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let model = self.0;
        let mut map = serializer.serialize_map(Some(2 + 6 * model.weights.len()))?;
        map.serialize_entry("pos_embed", &Embeddings(&model.pos_embed))?;
        map.serialize_entry("token_embed", &Embeddings(&model.token_embed))?;
        for (i, layer) in model.weights.iter().enumerate() {
            let (a, m) = (&layer.attn, &layer.mlp);
            let prefix = format!("transformer/layer_{i}");
            map.serialize_entry(&format!("{prefix}/attn/key"), &Param(&a.key, &a.key_bias))?;
            map.serialize_entry(
                &format!("{prefix}/attn/linear"),
                &Param(&a.output, &a.output_bias),
            )?;
            map.serialize_entry(
                &format!("{prefix}/attn/query"),
                &Param(&a.query, &a.query_bias),
            )?;
            map.serialize_entry(
                &format!("{prefix}/attn/value"),
                &Param(&a.value, &a.value_bias),
            )?;
            map.serialize_entry(
                &format!("{prefix}/mlp/linear_1"),
                &Param(&m.hidden, &m.hidden_bias),
            )?;
            map.serialize_entry(
                &format!("{prefix}/mlp/linear_2"),
                &Param(&m.output, &m.output_bias),
            )?;
        }
        map.end()
    }
}

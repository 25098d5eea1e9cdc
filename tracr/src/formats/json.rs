//! The model as JSON in the fixtures' `model` schema, written straight from the model's arrays.
//!
//! [`CompiledModel::to_json`] builds a `serde_json::Value` tree of every weight first; for a 1 MB
//! model that tree is most of the time `tracr compile -o` takes. This writer writes the weights'
//! numbers straight into the buffer and the rest through serde instead, byte for byte what `serde_json::to_string(&model.to_json())`
//! gives (`tests/model_json_writer_matches_value_tree.rs` checks every library program).

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::ser::{CompactFormatter, Formatter};
use serde::{Deserialize, Serialize};

use crate::craft::json::value_to_json;
use crate::error::{Error, Result};
use crate::model::{CompiledModel, OutputEncoding, WeightSource, WEIGHTS_LAYOUT};
use crate::value::Value;

/// The model as JSON bytes, ending in a newline (what `tracr compile -o model.json` writes).
pub fn to_json_bytes(model: &CompiledModel) -> Vec<u8> {
    // About 18 bytes per weight as text; reserving avoids most reallocations.
    let mut bytes = Vec::with_capacity(weight_count(model) * 18 + 64 * 1024);
    write_document(&mut bytes, model);
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

/// Writes the whole document; keys in the order `CompiledModel::to_json` inserts them.
///
/// The top-level object is written by hand, entry by entry, exactly as serde_json's compact
/// serialiser writes a map (`{"key":value,...}`), so that the weights can skip serde: writing their
/// numbers one by one is most of the document, and nearly all of them are `0.0`.
fn write_document(out: &mut Vec<u8>, model: &CompiledModel) {
    let mut first = true;
    // `{"key":` for the first entry, `,"key":` after it; the caller writes the value.
    let mut key = |out: &mut Vec<u8>, key: &str| {
        out.push(if first { b'{' } else { b',' });
        first = false;
        write_serde(out, key);
        out.push(b':');
    };
    key(out, "config");
    write_serde(out, &model.config);
    key(out, "residual_labels");
    write_serde(out, &model.residual_labels);
    key(out, "tokens_labels");
    write_serde(out, &model.tokens_labels);
    key(out, "indices_labels");
    write_serde(out, &model.indices_labels);
    key(out, "output_labels");
    write_serde(out, &model.output_labels);
    key(out, "output_residual_indices");
    write_serde(out, &model.output_residual_indices);
    key(out, "categorical_output");
    write_serde(out, &model.categorical_output);
    key(out, "input_encoding");
    write_serde(out, &InputEncodingDocument(model));
    key(out, "output_encoding");
    write_serde(out, &OutputEncodingDocument(&model.output_encoding));
    key(out, "layers");
    write_serde(out, &model.layers);
    key(out, "weights_layout");
    write_serde(out, WEIGHTS_LAYOUT);
    key(out, "weights");
    write_weights(out, model);
    // Rotated, compressed or perturbed models only, after the weights as in `to_json`.
    if let Some(residual_map) = model.residual_map_json() {
        key(out, "residual_map");
        write_serde(out, &residual_map);
    }
    if let Some(perturbation) = model.perturbation_json() {
        key(out, "perturbation");
        write_serde(out, &perturbation);
    }
    out.push(b'}');
}

/// One serde value, compact, as serde_json writes it inside a document.
fn write_serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(&mut *out, value).expect("model fields always serialise");
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

/// One number as serde_json writes an f64: `0.0` (most weights) directly, `null` for a
/// non-finite value, and anything else through serde_json's own float formatter, so that every
/// byte is what `serde_json::to_string` gives.
fn write_f64(out: &mut Vec<u8>, x: f64) {
    if x.to_bits() == 0 {
        out.extend_from_slice(b"0.0");
    } else if x.is_finite() {
        CompactFormatter
            .write_f64(out, x)
            .expect("writing to a Vec cannot fail");
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A bias vector (or one row) as `[x,y,...]`.
fn write_row<'a>(out: &mut Vec<u8>, values: impl IntoIterator<Item = &'a f64>) {
    out.push(b'[');
    for (j, &x) in values.into_iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        write_f64(out, x);
    }
    out.push(b']');
}

/// A matrix as a list of rows.
fn write_rows(out: &mut Vec<u8>, matrix: &Array2<f64>) {
    out.push(b'[');
    for (i, row) in matrix.rows().into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_row(out, row.iter());
    }
    out.push(b']');
}

/// The weights under haiku's names, in `to_json`'s insertion order: `{"embeddings": matrix}` for
/// the embeddings, `{"b": bias, "w": weights}` for every other module.
fn write_weights(out: &mut Vec<u8>, model: &CompiledModel) {
    out.extend_from_slice(b"{\"pos_embed\":{\"embeddings\":");
    write_rows(out, &model.pos_embed);
    out.extend_from_slice(b"},\"token_embed\":{\"embeddings\":");
    write_rows(out, &model.token_embed);
    out.push(b'}');
    for (i, layer) in model.weights.iter().enumerate() {
        let (a, m) = (&layer.attn, &layer.mlp);
        for (module, w, b) in [
            ("attn/key", &a.key, &a.key_bias),
            ("attn/linear", &a.output, &a.output_bias),
            ("attn/query", &a.query, &a.query_bias),
            ("attn/value", &a.value, &a.value_bias),
            ("mlp/linear_1", &m.hidden, &m.hidden_bias),
            ("mlp/linear_2", &m.output, &m.output_bias),
        ] {
            out.push(b',');
            write_serde(out, &format!("transformer/layer_{i}/{module}"));
            out.extend_from_slice(b":{\"b\":");
            write_row(out, b.iter());
            out.extend_from_slice(b",\"w\":");
            write_rows(out, w);
            out.push(b'}');
        }
    }
    out.push(b'}');
}

//! The model as JSON in the fixtures' `model` schema, written straight from the model's arrays.
//!
//! [`CompiledModel::to_json`] builds a `serde_json::Value` tree of every weight first; for a 1 MB
//! model that tree is most of the time `tracr compile -o` takes. This writer writes the weights'
//! numbers straight into the buffer and the rest through serde instead, byte for byte what
//! `serde_json::to_string(&model.to_json())` gives (`tests/model_json_writer_matches_value_tree.rs`
//! checks every library program). The reader scans the weights by hand the same way
//! (`tests/model_json_fast_reader_matches_value_reader.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ndarray::{Array1, Array2};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

use crate::craft::json::value_to_json;
use crate::error::{Error, Result};
use crate::model::{CompiledModel, OutputEncoding, WeightSource, WEIGHTS_LAYOUT};
use crate::value::Value;

/// The model as JSON bytes, ending in a newline (what `tracr compile -o model.json` writes).
pub fn to_json_bytes(model: &CompiledModel) -> Vec<u8> {
    // About 18 bytes per weight as text; reserving avoids most reallocations.
    let mut bytes = Vec::with_capacity(weight_count(model) * 18 + 64 * 1024);
    write_document(&mut bytes, model, &mut |_| {});
    bytes.push(b'\n');
    bytes
}

/// Writes the model as JSON to `path` atomically (`-` is standard output).
pub fn write_json(model: &CompiledModel, path: &Path) -> Result<()> {
    crate::io::write_atomically_with(path, |file| write_json_to(model, file))
}

/// The text held before it is passed on by [`write_json_to`].
const CHUNK_BYTES: usize = 64 * 1024;

/// Writes [`to_json_bytes`]'s bytes to `sink` in pieces of about 64 KiB, so that the text of a
/// large model (1 MB for shuffle_dyck2) never sits in memory whole: fresh memory costs a page
/// fault per 4 KiB, a large part of a short `tracr compile -o` process.
pub fn write_json_to(model: &CompiledModel, sink: &mut dyn Write) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(2 * CHUNK_BYTES);
    // The writer cannot fail midway, so the first error is kept and the rest of the text dropped.
    let mut error = None;
    write_document(&mut out, model, &mut |out| {
        if error.is_none() {
            error = sink.write_all(out).err();
        }
        out.clear();
    });
    out.push(b'\n');
    match error {
        Some(error) => Err(error),
        None => sink.write_all(&out),
    }
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

/// One entry of `weights`: `{"b", "w"}` or `{"embeddings"}`, each matrix as (rows, cols, values).
#[derive(Default)]
struct ParsedParam {
    w: Option<(usize, usize, Vec<f64>)>,
    b: Option<Vec<f64>>,
    embeddings: Option<(usize, usize, Vec<f64>)>,
}

/// A scanner for the document as [`to_json_bytes`] writes it (any whitespace allowed): object keys
/// without escapes, and in `weights` arrays of numbers; the other entries it hands to serde_json.
/// Anything else (`None`) sends the reader to the `Value` path, so this only has to be right on
/// what it accepts, not to explain what it does not.
struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_whitespace(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    /// The next non-whitespace byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string without escapes (every key this format has).
    fn key(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let length = self.text[start..].iter().position(|&b| b == b'"')?;
        let raw = &self.text[start..start + length];
        if raw.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        self.at = start + length + 1;
        let key = std::str::from_utf8(raw).ok()?;
        self.eat(b':')?;
        Some(key)
    }

    /// Calls `entry` for each key of an object, with the scanner at its value.
    fn object(&mut self, mut entry: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.key()?;
            entry(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// One JSON number, as serde_json reads it into an f64: integers (no `.` or exponent) through
    /// u64/i64 when they fit, everything else correctly rounded (serde_json's `float_roundtrip`
    /// and Rust's `parse` both round correctly, so they give the same bits).
    fn number(&mut self) -> Option<f64> {
        self.skip_whitespace();
        let rest = &self.text[self.at..];
        let length = rest.iter().position(|&b| !is_number_byte(b))?;
        let token = &rest[..length];
        let integer = json_number_shape(token)?;
        let text = std::str::from_utf8(token).ok()?;
        let value = if integer {
            if token == b"-0" {
                // serde_json's sign rule for a negative integer zero is not worth copying here.
                return None;
            }
            match text.parse::<i64>() {
                Ok(i) => i as f64,
                Err(_) => match text.parse::<u64>() {
                    Ok(u) => u as f64,
                    Err(_) => text.parse::<f64>().ok()?,
                },
            }
        } else {
            text.parse::<f64>().ok()?
        };
        // serde_json refuses a number beyond f64's range (`1e400`); Rust's parse makes it infinite.
        if !value.is_finite() {
            return None;
        }
        self.at += length;
        Some(value)
    }

    /// `[x, y, ...]` appended to `out`; the count of numbers.
    fn numbers(&mut self, out: &mut Vec<f64>) -> Option<usize> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(0);
        }
        let start = out.len();
        loop {
            // `0.0,` and `0.0]` as the writer leaves them: nearly every weight, so no whitespace
            // skipping or number parsing for them.
            match self.text.get(self.at..self.at + 4) {
                Some(b"0.0,") => {
                    out.push(0.0);
                    self.at += 4;
                    continue;
                }
                Some(b"0.0]") => {
                    out.push(0.0);
                    self.at += 4;
                    return Some(out.len() - start);
                }
                _ => {}
            }
            out.push(self.number()?);
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(out.len() - start);
                }
                _ => return None,
            }
        }
    }

    /// `[[...], ...]` with rows of one length: (rows, cols, values by row).
    fn matrix(&mut self) -> Option<(usize, usize, Vec<f64>)> {
        self.eat(b'[')?;
        // Not reserved from a guess of the size: finding the matrix's end first cost more than the
        // vector's growth does.
        let mut values = Vec::new();
        if self.eat(b']').is_some() {
            return Some((0, 0, values));
        }
        let cols = self.numbers(&mut values)?;
        let mut rows = 1;
        loop {
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some((rows, cols, values));
                }
                _ => return None,
            }
            if self.numbers(&mut values)? != cols {
                return None;
            }
            rows += 1;
        }
    }

    /// The whole `weights` object.
    fn weights(&mut self) -> Option<HashMap<&'a str, ParsedParam>> {
        let mut weights = HashMap::new();
        self.object(|scanner, module| {
            let mut param = ParsedParam::default();
            scanner.object(|scanner, key| {
                match key {
                    "w" if param.w.is_none() => param.w = Some(scanner.matrix()?),
                    "embeddings" if param.embeddings.is_none() => {
                        param.embeddings = Some(scanner.matrix()?)
                    }
                    "b" if param.b.is_none() => {
                        let mut b = Vec::new();
                        scanner.numbers(&mut b)?;
                        param.b = Some(b);
                    }
                    _ => return None,
                }
                Some(())
            })?;
            weights.insert(module, param).is_none().then_some(())
        })?;
        Some(weights)
    }

    /// The whole document: the weights scanned, every other entry read by serde_json into a
    /// `Value` from where the scanner stands.
    fn document(&mut self) -> Option<(serde_json::Value, HashMap<&'a str, ParsedParam>)> {
        let mut header = serde_json::Map::new();
        let mut weights = None;
        self.object(|scanner, key| {
            if key == "weights" {
                weights = Some(scanner.weights()?);
                return Some(());
            }
            scanner.skip_whitespace();
            let mut values = serde_json::Deserializer::from_slice(&scanner.text[scanner.at..])
                .into_iter::<serde_json::Value>();
            let value = values.next()?.ok()?;
            scanner.at += values.byte_offset();
            // A repeated key is for the `Value` path to judge.
            header
                .insert(key.to_string(), value)
                .is_none()
                .then_some(())
        })?;
        // Nothing but whitespace may follow the document.
        if self.peek().is_some() {
            return None;
        }
        weights.map(|weights| (serde_json::Value::Object(header), weights))
    }
}

/// Bytes that can be part of a JSON number.
fn is_number_byte(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

/// Whether `token` is a JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), and if so
/// whether it is an integer (no fraction, no exponent). Rust's `parse` accepts more (`+1`, `.5`,
/// `1.`, `inf`), so the shape is checked first.
fn json_number_shape(token: &[u8]) -> Option<bool> {
    let mut i = usize::from(token.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while token.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let integer_start = i;
    let integer_digits = digits(&mut i);
    if integer_digits == 0 || (integer_digits > 1 && token[integer_start] == b'0') {
        return None;
    }
    let mut integer = true;
    if token.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
        integer = false;
    }
    if matches!(token.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(token.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
        integer = false;
    }
    (i == token.len()).then_some(integer)
}

/// The scanned `weights` as a [`WeightSource`]; each tensor is moved out when asked for (every
/// one is asked for once).
struct ScannedWeights<'a>(RefCell<HashMap<&'a str, ParsedParam>>);

impl ScannedWeights<'_> {
    fn take<T>(&self, name: &str, field: impl Fn(&mut ParsedParam) -> Option<T>) -> Result<T> {
        let (module, key) = name.rsplit_once('/').unwrap_or((name, ""));
        let mut weights = self.0.borrow_mut();
        let param = weights
            .get_mut(module)
            .ok_or_else(|| Error::Json(format!("missing field `{module}`")))?;
        field(param).ok_or_else(|| Error::Json(format!("missing field `{key}` of `{module}`")))
    }
}

impl WeightSource for ScannedWeights<'_> {
    fn matrix(&self, name: &str) -> Result<Array2<f64>> {
        let (rows, cols, values) = self.take(name, |param| match name.rsplit('/').next() {
            Some("w") => param.w.take(),
            Some("embeddings") => param.embeddings.take(),
            _ => None,
        })?;
        Ok(Array2::from_shape_vec((rows, cols), values).expect("rows checked"))
    }

    fn vector(&self, name: &str) -> Result<Array1<f64>> {
        self.take(name, |param| param.b.take()).map(Array1::from)
    }
}

/// The fast path of [`from_json_bytes`] alone: its errors are terse, so callers that report to
/// users fall back to the `Value` path on failure.
///
/// The weights, nearly all of the bytes, are scanned by hand straight into flat vectors (`0.0`
/// without any float parsing); serde_json reads every other entry.
pub fn from_json_bytes_fast(bytes: &[u8]) -> Result<CompiledModel> {
    let mut scanner = Scanner { text: bytes, at: 0 };
    let (header, weights) = scanner
        .document()
        .ok_or_else(|| Error::Json("not in the layout `tracr compile` writes".into()))?;
    CompiledModel::from_header(&header, &ScannedWeights(RefCell::new(weights)))
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
/// The document into `out`; `flush` is offered `out` between weight rows once it holds
/// [`CHUNK_BYTES`], to pass the text on and clear it (or to keep it).
fn write_document(out: &mut Vec<u8>, model: &CompiledModel, flush: &mut dyn FnMut(&mut Vec<u8>)) {
    write_entries(out, model, Some(flush));
}

/// [`CompiledModel::header_json`]'s text (`header_json().to_string()`: the document less its
/// `weights`), written straight from the model as [`to_json_bytes`] writes the rest, without the
/// `Value` tree and the clone of the model that building it takes. The other formats keep it in
/// their metadata.
pub fn header_json_text(model: &CompiledModel) -> String {
    let mut out = Vec::with_capacity(16 * 1024);
    write_entries(&mut out, model, None);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// What [`write_document`] offers the text to between weight rows.
type Flush<'a> = &'a mut dyn FnMut(&mut Vec<u8>);

/// The document's entries: with the weights when `flush` is given (see [`write_document`]), else
/// without them, in the order `header_json` leaves its entries.
fn write_entries(out: &mut Vec<u8>, model: &CompiledModel, flush: Option<Flush<'_>>) {
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
    // Rotated, compressed or perturbed models only, after the weights as in `to_json`.
    let mut after: Vec<(&str, serde_json::Value)> = Vec::new();
    if let Some(residual_map) = model.residual_map_json() {
        after.push(("residual_map", residual_map));
    }
    if let Some(perturbation) = model.perturbation_json() {
        after.push(("perturbation", perturbation));
    }
    if let Some(fixes) = model.tracr_fixes_json() {
        after.push(("tracr_fixes", fixes));
    }
    match flush {
        Some(flush) => {
            key(out, "weights");
            write_weights(out, model, flush);
        }
        // `header_json` removes `weights` with serde_json's `Map::remove`, which under
        // `preserve_order` is `swap_remove`: the last entry takes the weights' place.
        None => {
            if !after.is_empty() {
                after.rotate_right(1);
            }
        }
    }
    for (name, value) in &after {
        key(out, name);
        write_serde(out, value);
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
    let mut values = values.into_iter();
    if let Some(&first) = values.next() {
        write_f64(out, first);
    }
    // Most weights are exact zeros: runs of them are counted and copied as one slice each.
    let mut zeros = 0;
    for &x in values {
        if x.to_bits() == 0 {
            zeros += 1;
            continue;
        }
        write_zeros(out, zeros);
        zeros = 0;
        out.push(b',');
        write_f64(out, x);
    }
    write_zeros(out, zeros);
    out.push(b']');
}

/// `,0.0` 64 times.
const ZERO_RUN: [u8; 256] = {
    let mut run = [0u8; 256];
    let mut i = 0;
    while i < run.len() {
        run[i] = b",0.0"[i % 4];
        i += 1;
    }
    run
};

/// `,0.0` `count` times: what [`write_f64`] writes for each +0.0, with its comma.
fn write_zeros(out: &mut Vec<u8>, mut count: usize) {
    while count > 0 {
        let n = count.min(ZERO_RUN.len() / 4);
        out.extend_from_slice(&ZERO_RUN[..4 * n]);
        count -= n;
    }
}

/// A matrix as a list of rows.
fn write_rows(out: &mut Vec<u8>, matrix: &Array2<f64>, flush: &mut dyn FnMut(&mut Vec<u8>)) {
    out.push(b'[');
    for (i, row) in matrix.rows().into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_row(out, row.iter());
        if out.len() >= CHUNK_BYTES {
            flush(out);
        }
    }
    out.push(b']');
}

/// The weights under haiku's names, in `to_json`'s insertion order: `{"embeddings": matrix}` for
/// the embeddings, `{"b": bias, "w": weights}` for every other module.
fn write_weights(out: &mut Vec<u8>, model: &CompiledModel, flush: &mut dyn FnMut(&mut Vec<u8>)) {
    out.extend_from_slice(b"{\"pos_embed\":{\"embeddings\":");
    write_rows(out, &model.pos_embed, flush);
    out.extend_from_slice(b"},\"token_embed\":{\"embeddings\":");
    write_rows(out, &model.token_embed, flush);
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
            write_rows(out, w, flush);
            out.push(b'}');
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_runs_of_zeros_are_written_value_by_value() {
        // Runs shorter than, equal to and longer than one copied slice (64), at both ends, and
        // -0.0, which is not an exact zero's bits and keeps its sign.
        let mut row = Vec::new();
        for run in [0usize, 1, 2, 63, 64, 65, 130] {
            row.extend(std::iter::repeat_n(0.0, run));
            row.push(run as f64 + 0.5);
        }
        row.push(-0.0);
        row.extend(std::iter::repeat_n(0.0, 70));
        for start in [0, 1, 3] {
            let values = &row[start..];
            let mut expected = b"[".to_vec();
            for (j, &x) in values.iter().enumerate() {
                if j > 0 {
                    expected.push(b',');
                }
                write_f64(&mut expected, x);
            }
            expected.push(b']');
            let mut got = Vec::new();
            write_row(&mut got, values);
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected).unwrap(),
                "row from {start}"
            );
        }
        let mut empty = Vec::new();
        write_row(&mut empty, &[]);
        assert_eq!(empty, b"[]");
    }
}

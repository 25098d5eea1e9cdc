//! The model as a safetensors file (Hugging Face's format): every weight as a float64 tensor under
//! our own names (haiku's, as in the JSON: `transformer/layer_0/attn/query/w`), and everything else
//! the model needs (config, residual labels, layers, input and output encodings) as the JSON
//! document less its weights, in the file's `__metadata__` under `tracr_model`.
//!
//! float64 by default because the compiled weights are f64 in memory (numerical MLPs hold slopes
//! such as `mlp_exactness / step` that float32 rounds): JSON -> safetensors -> JSON is then the
//! identity, bit for bit. [`TensorDtype::F32`] (`tracr compile --dtype f32`) writes half the bytes,
//! every weight rounded to float32, for users who compute in float32 anyway; a reader takes either
//! (one dtype per file). The TransformerLens export is float32, as TransformerLens computes.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::{IoSlice, Write};
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorInfo, TensorView, View};

use crate::error::{Error, Result};
use crate::model::{tensor_names, CompiledModel, WeightSource};

/// The `__metadata__` key holding the model's JSON document without weights.
pub const METADATA_MODEL_KEY: &str = "tracr_model";
/// The `__metadata__` key naming the format, so that a reader can tell our files from others.
pub const METADATA_FORMAT_KEY: &str = "format";
/// The value of [`METADATA_FORMAT_KEY`] in files this module writes.
pub const FORMAT_NAME: &str = "tracr-compiled-model/1";

/// The largest header safetensors readers accept (the crate's `MAX_HEADER_SIZE`, 100 MB).
const MAX_HEADER_BYTES: usize = 100_000_000;

/// The float type of a safetensors model file's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TensorDtype {
    /// float64: exactly the compiled weights (the default).
    #[default]
    F64,
    /// float32: every weight rounded to the nearest float32; half the bytes.
    F32,
}

impl TensorDtype {
    /// The safetensors dtype.
    fn dtype(self) -> Dtype {
        match self {
            TensorDtype::F64 => Dtype::F64,
            TensorDtype::F32 => Dtype::F32,
        }
    }

    /// Bytes per value.
    fn size(self) -> usize {
        match self {
            TensorDtype::F64 => 8,
            TensorDtype::F32 => 4,
        }
    }
}

/// One of our tensors as the `safetensors` crate takes it: float64 values are lent to the crate as
/// they lie in memory (no copy), float32 ones are rounded when the crate asks for them.
struct LazyTensor<'a> {
    dtype: TensorDtype,
    shape: Vec<usize>,
    values: Cow<'a, [f64]>,
}

impl<'a> LazyTensor<'a> {
    /// The tensor `name`; an error names it if a value does not fit `dtype` (float32 overflows
    /// beyond about 3.4e38).
    fn new(
        name: &str,
        dtype: TensorDtype,
        shape: &[usize],
        values: Cow<'a, [f64]>,
    ) -> Result<LazyTensor<'a>> {
        if dtype == TensorDtype::F32 {
            if let Some(x) = values
                .iter()
                .find(|x| x.is_finite() && !(**x as f32).is_finite())
            {
                return Err(Error::Tensor {
                    name: name.to_string(),
                    reason: format!("holds {x}, beyond float32's range; write it with --dtype f64"),
                });
            }
        }
        Ok(LazyTensor {
            dtype,
            shape: shape.to_vec(),
            values,
        })
    }

    /// The tensor's bytes in the file: little-endian values of its dtype.
    fn bytes(&self) -> Cow<'_, [u8]> {
        match self.dtype {
            TensorDtype::F64 => f64_le_bytes(&self.values),
            TensorDtype::F32 => Cow::Owned(f32_bytes(self.values.iter().copied())),
        }
    }
}

impl View for LazyTensor<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype.dtype()
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        self.bytes()
    }

    fn data_len(&self) -> usize {
        self.values.len() * self.dtype.size()
    }
}

/// An array's values in row-major order, borrowed when it is laid out so (as compiled ones are).
fn row_major<D: ndarray::Dimension>(array: &ndarray::Array<f64, D>) -> Cow<'_, [f64]> {
    match array.as_slice() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(array.iter().copied().collect()),
    }
}

/// The model's tensors under their names, in the order we list them (the crate sorts them).
fn model_tensors(
    model: &CompiledModel,
    dtype: TensorDtype,
) -> Result<Vec<(String, LazyTensor<'_>)>> {
    fn push<'a, D: ndarray::Dimension>(
        tensors: &mut Vec<(String, LazyTensor<'a>)>,
        name: String,
        dtype: TensorDtype,
        array: &'a ndarray::Array<f64, D>,
    ) -> Result<()> {
        let tensor = LazyTensor::new(&name, dtype, array.shape(), row_major(array))?;
        tensors.push((name, tensor));
        Ok(())
    }
    let mut tensors = Vec::new();
    push(
        &mut tensors,
        "token_embed/embeddings".into(),
        dtype,
        &model.token_embed,
    )?;
    push(
        &mut tensors,
        "pos_embed/embeddings".into(),
        dtype,
        &model.pos_embed,
    )?;
    let mut vectors: Vec<(String, &Array1<f64>)> = Vec::new();
    for (i, layer) in model.weights.iter().enumerate() {
        let (a, m) = (&layer.attn, &layer.mlp);
        let p = format!("transformer/layer_{i}");
        for (module, w, b) in [
            ("attn/query", &a.query, &a.query_bias),
            ("attn/key", &a.key, &a.key_bias),
            ("attn/value", &a.value, &a.value_bias),
            ("attn/linear", &a.output, &a.output_bias),
            ("mlp/linear_1", &m.hidden, &m.hidden_bias),
            ("mlp/linear_2", &m.output, &m.output_bias),
        ] {
            push(&mut tensors, format!("{p}/{module}/w"), dtype, w)?;
            vectors.push((format!("{p}/{module}/b"), b));
        }
    }
    for (name, vector) in vectors {
        push(&mut tensors, name, dtype, vector)?;
    }
    Ok(tensors)
}

/// The file's `__metadata__`: the format's name, then the model's JSON document without weights.
fn model_metadata(model: &CompiledModel) -> HashMap<String, String> {
    metadata_in_order([
        (METADATA_FORMAT_KEY.to_string(), FORMAT_NAME.to_string()),
        (
            METADATA_MODEL_KEY.to_string(),
            super::json::header_json_text(model),
        ),
    ])
}

/// The model as safetensors bytes (float64 tensors, the rest in the metadata).
pub fn to_safetensors_bytes(model: &CompiledModel) -> Result<Vec<u8>> {
    to_safetensors_bytes_as(model, TensorDtype::F64)
}

/// The model as safetensors bytes with tensors of `dtype`, the rest in the metadata: the whole file
/// from the crate's `serialize`. [`write_safetensors_to`] writes the same bytes without holding
/// them all.
pub fn to_safetensors_bytes_as(model: &CompiledModel, dtype: TensorDtype) -> Result<Vec<u8>> {
    safetensors::serialize(model_tensors(model, dtype)?, Some(model_metadata(model)))
        .map_err(|e| Error::Safetensors(e.to_string()))
}

/// A safetensors file ready to be written: the crate's header (its length, then the JSON) and the
/// tensors in the order their bytes follow it.
struct SafetensorsFile<'a> {
    header: Vec<u8>,
    tensors: Vec<LazyTensor<'a>>,
}

impl SafetensorsFile<'_> {
    /// The model's file with tensors of `dtype`; the errors of [`to_safetensors_bytes_as`].
    fn new(model: &CompiledModel, dtype: TensorDtype) -> Result<SafetensorsFile<'_>> {
        let mut tensors = model_tensors(model, dtype)?;
        // The layout of the crate's `serialize`: tensors by descending dtype alignment, then by
        // name, each one's bytes right after the previous one's. The header is laid out here
        // with the crate's own `Metadata` rather than taken from `serialize`, because
        // `serialize` reserves room for the whole file (2 MB for shuffle_dyck2) and the heap
        // touched past that room is one more 2 MiB page to zero in a short `tracr compile -o`.
        // `tests/safetensors_streamed_files_equal_the_crates_bytes.rs` holds the two to the same
        // bytes.
        tensors.sort_by(|(a, x), (b, y)| y.dtype().cmp(&x.dtype()).then_with(|| a.cmp(b)));
        let mut offset = 0;
        let infos = tensors
            .iter()
            .map(|(name, tensor)| {
                let end = offset + tensor.data_len();
                let info = TensorInfo {
                    dtype: tensor.dtype(),
                    shape: tensor.shape.clone(),
                    data_offsets: (offset, end),
                };
                offset = end;
                (name.clone(), info)
            })
            .collect();
        let metadata = Metadata::new(Some(model_metadata(model)), infos)
            .map_err(|e| Error::Safetensors(e.to_string()))?;
        // The length goes in the first 8 bytes once known; the JSON is padded with spaces to a
        // multiple of 8 so that the tensors' bytes start aligned.
        let mut header = vec![0u8; 8];
        serde_json::to_writer(&mut header, &metadata)
            .map_err(|e| Error::Safetensors(e.to_string()))?;
        header.resize(8 + (header.len() - 8).next_multiple_of(8), b' ');
        let length = header.len() - 8;
        if length > MAX_HEADER_BYTES {
            return Err(Error::Safetensors(format!(
                "the header would take {length} bytes; safetensors readers refuse more than \
                 {MAX_HEADER_BYTES}"
            )));
        }
        header[..8].copy_from_slice(&(length as u64).to_le_bytes());
        let tensors = tensors.into_iter().map(|(_, tensor)| tensor).collect();
        Ok(SafetensorsFile { header, tensors })
    }

    /// Writes the file to `sink`: the header, then each tensor's bytes straight from the model, all
    /// in one vectored write.
    ///
    /// One `writev` for the whole file, not a write per tensor: given 2 MB at once, the kernel
    /// caches the file in large folios instead of 4 KiB pages, which halves both the write and the
    /// later unlinking of the replaced file (shuffle_dyck2: 0.94 -> 0.53 ms and 0.25 -> 0.13 ms,
    /// measured on ext4 with 44 writes against one).
    fn write_to(&self, sink: &mut dyn Write) -> std::io::Result<()> {
        // float64 bytes are the arrays' own memory; float32 ones are rounded into one buffer per
        // tensor, all alive until the single write.
        let bytes: Vec<Cow<[u8]>> = self.tensors.iter().map(LazyTensor::bytes).collect();
        let mut slices: Vec<IoSlice> = std::iter::once(IoSlice::new(&self.header))
            .chain(bytes.iter().map(|b| IoSlice::new(b)))
            .collect();
        crate::io::write_all_vectored(sink, &mut slices)?;
        sink.flush()
    }
}

/// Writes the model as safetensors with tensors of `dtype` to `sink`: the bytes of
/// [`to_safetensors_bytes_as`], header from the crate, then the tensors from the model's memory,
/// without the whole file in memory (2 MB of fresh pages for shuffle_dyck2, about 1 ms of page
/// faults and unmapping in a short process).
pub fn write_safetensors_to(
    model: &CompiledModel,
    dtype: TensorDtype,
    sink: &mut dyn Write,
) -> Result<()> {
    let file = SafetensorsFile::new(model, dtype)?;
    file.write_to(sink)
        .map_err(|e| Error::Safetensors(e.to_string()))
}

/// Writes the model as safetensors (float64) to `path` atomically (`-` is standard output).
pub fn write_safetensors(model: &CompiledModel, path: &Path) -> Result<()> {
    write_safetensors_as(model, path, TensorDtype::F64)
}

/// Writes the model as safetensors with tensors of `dtype` to `path` atomically, streamed (see
/// [`write_safetensors_to`]).
pub fn write_safetensors_as(model: &CompiledModel, path: &Path, dtype: TensorDtype) -> Result<()> {
    // Laid out before the file is opened: a weight float32 cannot hold leaves no file.
    let file = SafetensorsFile::new(model, dtype)?;
    crate::io::write_atomically_with(path, |sink| file.write_to(sink))
}

/// Reads a model from safetensors bytes written by [`to_safetensors_bytes`].
pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<CompiledModel> {
    let file = TensorFile::parse(bytes)?;
    match file.metadata(METADATA_FORMAT_KEY) {
        Some(FORMAT_NAME) => {}
        Some(other) => {
            return Err(Error::Safetensors(format!(
                "its metadata says format `{other}`, not `{FORMAT_NAME}`; write one with \
                 `tracr compile ... --format safetensors -o FILE.safetensors`"
            )))
        }
        None => {
            return Err(Error::Safetensors(format!(
                "it has no `{METADATA_FORMAT_KEY}: {FORMAT_NAME}` metadata, so it was not written \
                 by `tracr compile --format safetensors` (a TransformerLens export is a folder: \
                 give the folder)"
            )))
        }
    }
    let header = file.header_json()?;
    // The file's dtype is its token embedding's; every other tensor must share it.
    let first = "token_embed/embeddings";
    let dtype = match file.tensors.tensor(first).map(|view| view.dtype()) {
        Ok(dtype @ (Dtype::F64 | Dtype::F32)) => dtype,
        Ok(other) => {
            return Err(Error::Tensor {
                name: first.to_string(),
                reason: format!("dtype is {other:?}; expected F64 or F32"),
            })
        }
        Err(_) => {
            return Err(Error::Tensor {
                name: first.to_string(),
                reason: "missing from the file".into(),
            })
        }
    };
    let model = CompiledModel::from_header(&header, &FileWeights(&file, dtype))?;
    file.check_names(&tensor_names(model.config.num_layers))?;
    Ok(model)
}

/// Reads a model written by `tracr compile --format safetensors`.
pub fn read_safetensors(path: &Path) -> Result<CompiledModel> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_safetensors_bytes(&bytes).map_err(|e| Error::ModelFile {
        path: path.display().to_string(),
        format: "safetensors",
        source: Box::new(e),
    })
}

/// Little-endian bytes of f64 values: on a little-endian machine the values' own memory, lent.
fn f64_le_bytes(values: &[f64]) -> Cow<'_, [u8]> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: the bytes of an initialised `[f64]` are initialised (f64 has no padding), a
        // `u8` has alignment 1, the length is the slice's size in bytes, and the borrow keeps
        // `values` alive and unchanged while the bytes are in use. In memory, on this target,
        // each f64's bytes are its `to_le_bytes()`.
        Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        })
    }
    #[cfg(not(target_endian = "little"))]
    {
        Cow::Owned(values.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
}

/// Little-endian bytes of values rounded to f32.
pub(crate) fn f32_bytes(values: impl ExactSizeIterator<Item = f64>) -> Vec<u8> {
    let mut bytes = vec![0u8; values.len() * 4];
    for (slot, x) in bytes.chunks_exact_mut(4).zip(values) {
        slot.copy_from_slice(&(x as f32).to_le_bytes());
    }
    bytes
}

/// Tries of [`metadata_in_order`]; two entries come out in the wanted order half the time, so
/// missing it 64 times in a row has probability 2^-64.
const ORDER_TRIES: usize = 64;

/// A metadata map that iterates in the order given, so that the same model gives the same bytes.
///
/// The crate takes `__metadata__` as a std `HashMap` and writes it in iteration order, which
/// depends on the map's randomly seeded hasher. Every new map gets new keys, so building the map
/// again until it iterates as wanted gives files whose bytes (and SHA-256) do not depend on the run,
/// with the crate writing them. Meant for the two entries we write; should every try fail, the map
/// of the last try is used (any order is a valid file).
pub(crate) fn metadata_in_order<const N: usize>(
    entries: [(String, String); N],
) -> HashMap<String, String> {
    let mut map = HashMap::from(entries.clone());
    for _ in 1..ORDER_TRIES {
        if map
            .keys()
            .zip(&entries)
            .all(|(key, (wanted, _))| key == wanted)
        {
            break;
        }
        map = HashMap::from(entries.clone());
    }
    map
}

/// Serialises `(name, shape, bytes)` tensors of one dtype with the `safetensors` crate.
pub(crate) fn serialize(
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    dtype: Dtype,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(dtype, shape.clone(), bytes)
                .map(|view| (name.as_str(), view))
                .map_err(|e| Error::Tensor {
                    name: name.clone(),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Safetensors(e.to_string()))
}

/// A parsed safetensors file: tensors decoded to f64 on request, with checks that name the tensor.
pub(crate) struct TensorFile<'a> {
    tensors: SafeTensors<'a>,
    metadata: HashMap<String, String>,
}

impl<'a> TensorFile<'a> {
    /// Parses the header and checks the offsets (truncated and corrupt files fail here).
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<TensorFile<'a>> {
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| {
            Error::Safetensors(format!("{e} (the file is truncated or not safetensors)"))
        })?;
        let tensors =
            SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors(e.to_string()))?;
        Ok(TensorFile {
            tensors,
            metadata: metadata.metadata().clone().unwrap_or_default(),
        })
    }

    /// A `__metadata__` entry.
    pub(crate) fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The model's JSON document without weights, from the metadata.
    pub(crate) fn header_json(&self) -> Result<serde_json::Value> {
        let text = self.metadata(METADATA_MODEL_KEY).ok_or_else(|| {
            Error::Safetensors(format!(
                "no `{METADATA_MODEL_KEY}` entry in its metadata (the residual labels, layers and \
                 encodings of the model are kept there)"
            ))
        })?;
        serde_json::from_str(text).map_err(|e| {
            Error::Json(format!(
                "the metadata's `{METADATA_MODEL_KEY}` is not JSON: {e}"
            ))
        })
    }

    /// The tensor `name` as f64 values and its shape; its dtype must be one of `dtypes` and every
    /// value finite.
    pub(crate) fn values(&self, name: &str, dtypes: &[Dtype]) -> Result<(Vec<f64>, Vec<usize>)> {
        let view = self.tensors.tensor(name).map_err(|_| Error::Tensor {
            name: name.to_string(),
            reason: "missing from the file".into(),
        })?;
        let dtype = view.dtype();
        if !dtypes.contains(&dtype) {
            let valid: Vec<String> = dtypes.iter().map(|d| format!("{d:?}")).collect();
            return Err(Error::Tensor {
                name: name.to_string(),
                reason: format!("dtype is {dtype:?}; expected {}", valid.join(" or ")),
            });
        }
        let values: Vec<f64> = match dtype {
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect(),
            other => unreachable!("only f32 and f64 are ever accepted, not {other:?}"),
        };
        if let Some(index) = values.iter().position(|x| !x.is_finite()) {
            return Err(Error::Tensor {
                name: name.to_string(),
                reason: format!(
                    "holds {} at flat index {index} (shape {:?}); weights must be finite",
                    values[index],
                    view.shape()
                ),
            });
        }
        Ok((values, view.shape().to_vec()))
    }

    /// The tensor `name` as a matrix (it must have two dimensions).
    pub(crate) fn matrix(&self, name: &str, dtypes: &[Dtype]) -> Result<Array2<f64>> {
        let (values, shape) = self.values(name, dtypes)?;
        match shape.as_slice() {
            &[rows, cols] => Ok(Array2::from_shape_vec((rows, cols), values)
                .expect("safetensors checked the data length")),
            _ => Err(Error::Tensor {
                name: name.to_string(),
                reason: format!("has shape {shape:?}; expected a matrix (two dimensions)"),
            }),
        }
    }

    /// The tensor `name` as a vector (it must have one dimension).
    pub(crate) fn vector(&self, name: &str, dtypes: &[Dtype]) -> Result<Array1<f64>> {
        let (values, shape) = self.values(name, dtypes)?;
        if shape.len() != 1 {
            return Err(Error::Tensor {
                name: name.to_string(),
                reason: format!("has shape {shape:?}; expected a vector (one dimension)"),
            });
        }
        Ok(Array1::from(values))
    }

    /// Errors on the first tensor the file holds that `expected` does not list.
    pub(crate) fn check_names(&self, expected: &[String]) -> Result<()> {
        let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        let mut found: Vec<&str> = self.tensors.names();
        found.sort_unstable();
        match found.iter().find(|name| !expected.contains(*name)) {
            Some(extra) => Err(Error::Tensor {
                name: (*extra).to_string(),
                reason: format!(
                    "not part of this model ({} layers): the file should hold exactly {} tensors",
                    expected.len().saturating_sub(2) / 12,
                    expected.len()
                ),
            }),
            None => Ok(()),
        }
    }
}

/// Our own format's tensors, all of the file's one dtype, exactly as written (float32 widened).
struct FileWeights<'f, 'a>(&'f TensorFile<'a>, Dtype);

impl WeightSource for FileWeights<'_, '_> {
    fn matrix(&self, name: &str) -> Result<Array2<f64>> {
        self.0.matrix(name, &[self.1])
    }

    fn vector(&self, name: &str) -> Result<Array1<f64>> {
        self.0.vector(name, &[self.1])
    }
}

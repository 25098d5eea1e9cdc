//! The model as a TransformerLens folder: `model.safetensors` (a `HookedTransformer` state dict in
//! float32), `config.json` (`HookedTransformerConfig` fields chosen so that TransformerLens computes
//! what `tracr run` computes) and `vocab.json` (token ids and output labels).
//!
//! Load it in Python with `HookedTransformer(HookedTransformerConfig(**json.load(open("config.json"))))`
//! then `model.load_state_dict(safetensors.torch.load_file("model.safetensors"), strict=False)`
//! (strict=False because TransformerLens's attention buffers `IGNORE` and `mask` are not weights and
//! differ between its versions). `docs/interop.md` has the full recipe and the reasons for each
//! config field; `scripts/check-transformerlens.py` runs every library program that way.
//!
//! Empty Tracr blocks are zero weights, which add exactly 0. TransformerLens cannot run 0-sized
//! blocks, so `n_heads`, `d_head` and `d_mlp` are at least 1 (the compiler already sizes them so, as
//! Tracr does; the padding is for any model that does not).
//! The file's metadata also keeps the model's JSON document without weights (`tracr_model`, as in
//! our safetensors format), so that `tracr run FOLDER` rebuilds residual labels and provenance.

use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::Dtype;
use serde_json::{json, Map, Value as Json};

use super::safetensors::{f32_bytes, metadata_in_order, serialize, TensorFile, METADATA_MODEL_KEY};
use crate::craft::json::value_to_json;
use crate::error::{Error, Result};
use crate::model::{CompiledModel, OutputEncoding, WeightSource};

/// The weights file of the folder.
pub const MODEL_FILE: &str = "model.safetensors";
/// The `HookedTransformerConfig` file of the folder.
pub const CONFIG_FILE: &str = "config.json";
/// The token and output-label file of the folder.
pub const VOCAB_FILE: &str = "vocab.json";
/// The three files, in the order they are written.
pub const FILES: [&str; 3] = [MODEL_FILE, CONFIG_FILE, VOCAB_FILE];

/// TransformerLens's sizes for a model: empty dimensions padded to 1 (it cannot run 0).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sizes {
    d_model: usize,
    n_heads: usize,
    d_head: usize,
    d_mlp: usize,
    d_vocab_out: usize,
}

impl Sizes {
    fn of(model: &CompiledModel) -> Sizes {
        Sizes {
            d_model: model.config.d_model,
            n_heads: model.config.num_heads.max(1),
            d_head: model.config.key_size.max(1),
            d_mlp: model.config.mlp_hidden_size.max(1),
            d_vocab_out: output_count(model),
        }
    }
}

/// The number of logits: one per output label (categorical) or one (numerical).
fn output_count(model: &CompiledModel) -> usize {
    match &model.output_encoding {
        OutputEncoding::Categorical(map) => map.len(),
        OutputEncoding::Numerical => 1,
    }
}

/// The `HookedTransformerConfig` fields (as `config.json` holds them) that make TransformerLens
/// compute what the model computes; `model_name` is `tracr-{name}`.
pub fn transformerlens_config(model: &CompiledModel, name: &str) -> Json {
    let sizes = Sizes::of(model);
    json!({
        "n_layers": model.config.num_layers,
        "d_model": sizes.d_model,
        "n_ctx": model.input_encoding.max_seq_len_with_bos,
        "d_head": sizes.d_head,
        "n_heads": sizes.n_heads,
        "d_mlp": sizes.d_mlp,
        "d_vocab": model.input_encoding.map.len(),
        "d_vocab_out": sizes.d_vocab_out,
        "act_fn": "relu",
        // TransformerLens defaults to "LN"; Tracr has no layer norm.
        "normalization_type": null,
        // TransformerLens defaults to "causal".
        "attention_dir": if model.config.causal { "causal" } else { "bidirectional" },
        "use_attn_scale": true,
        // TransformerLens divides q·k by attn_scale; Tracr multiplies by 1/sqrt(key_size).
        "attn_scale": (sizes.d_head as f64).sqrt(),
        "positional_embedding_type": "standard",
        // There is no tokenizer: the caller prepends vocab.json's BOS id itself.
        "default_prepend_bos": false,
        "model_name": format!("tracr-{name}"),
        "original_architecture": "tracr",
    })
}

/// `vocab.json`: `{"input": {token: id}, "bos", "pad", "output": [label of logit j]}`, or for
/// numerical outputs `"output": null, "output_numerical_index": 0`.
pub fn transformerlens_vocab(model: &CompiledModel) -> Json {
    let enc = &model.input_encoding;
    // Object keys are strings: a token is keyed as Python's str() spells it, so a loader looks up
    // str(token).
    let input: Map<String, Json> = enc
        .map
        .iter()
        .map(|(token, id)| (token.py_str(), json!(id)))
        .collect();
    let mut vocab = json!({"input": input, "bos": enc.bos_token, "pad": enc.pad_token});
    match &model.output_encoding {
        OutputEncoding::Categorical(map) => {
            let mut labels = vec![Json::Null; map.len()];
            for (value, index) in map {
                labels[*index] = value_to_json(value);
            }
            vocab["output"] = Json::Array(labels);
        }
        OutputEncoding::Numerical => {
            vocab["output"] = Json::Null;
            vocab["output_numerical_index"] = json!(0);
        }
    }
    vocab
}

/// The folder's three files as `(name, bytes)`, in [`FILES`] order; `name` goes into `model_name`.
pub fn transformerlens_files(
    model: &CompiledModel,
    name: &str,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let mut config = serde_json::to_vec_pretty(&transformerlens_config(model, name))
        .expect("JSON values serialise");
    config.push(b'\n');
    let mut vocab =
        serde_json::to_vec_pretty(&transformerlens_vocab(model)).expect("JSON values serialise");
    vocab.push(b'\n');
    Ok(vec![
        (MODEL_FILE, state_dict_bytes(model)?),
        (CONFIG_FILE, config),
        (VOCAB_FILE, vocab),
    ])
}

/// Writes the folder `dir` (created, or replaced if it holds only these three files), all or
/// nothing; `model_name` is `tracr-` and the folder's name.
pub fn write_transformerlens(model: &CompiledModel, dir: &Path) -> Result<()> {
    crate::io::check_directory_writable(dir, &FILES)?;
    let name = dir
        .file_name()
        .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned());
    let files = transformerlens_files(model, &name)?;
    let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    crate::io::write_directory_atomically(dir, &borrowed)
}

/// TransformerLens's state dict as float32 safetensors bytes, with the model's JSON document less
/// its weights in the metadata.
fn state_dict_bytes(model: &CompiledModel) -> Result<Vec<u8>> {
    let sizes = Sizes::of(model);
    let (d, hn, dh, dm) = (sizes.d_model, sizes.n_heads, sizes.d_head, sizes.d_mlp);
    let (heads, ks, mlp) = (
        model.config.num_heads,
        model.config.key_size,
        model.config.mlp_hidden_size,
    );
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut push = |name: String, shape: Vec<usize>, values: Vec<f64>| {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
        tensors.push((name, shape, f32_bytes(values.into_iter())));
    };
    push(
        "embed.W_E".into(),
        model.token_embed.shape().to_vec(),
        model.token_embed.iter().copied().collect(),
    );
    push(
        "pos_embed.W_pos".into(),
        model.pos_embed.shape().to_vec(),
        model.pos_embed.iter().copied().collect(),
    );
    for (l, layer) in model.weights.iter().enumerate() {
        let a = &layer.attn;
        let p = format!("blocks.{l}.attn");
        // [D, H*ks] -> [H, D, dh], head h = columns h*ks..(h+1)*ks; padding stays zero.
        let split_in = |w: &Array2<f64>| {
            let mut out = vec![0.0; hn * d * dh];
            for h in 0..heads {
                for i in 0..d {
                    for k in 0..ks {
                        out[(h * d + i) * dh + k] = w[[i, h * ks + k]];
                    }
                }
            }
            out
        };
        let split_bias = |b: &Array1<f64>| {
            let mut out = vec![0.0; hn * dh];
            for h in 0..heads {
                for k in 0..ks {
                    out[h * dh + k] = b[h * ks + k];
                }
            }
            out
        };
        for (letter, w, b) in [
            ("Q", &a.query, &a.query_bias),
            ("K", &a.key, &a.key_bias),
            ("V", &a.value, &a.value_bias),
        ] {
            push(format!("{p}.W_{letter}"), vec![hn, d, dh], split_in(w));
            push(format!("{p}.b_{letter}"), vec![hn, dh], split_bias(b));
        }
        // [H*ks, D] -> [H, dh, D].
        let mut w_o = vec![0.0; hn * dh * d];
        for h in 0..heads {
            for k in 0..ks {
                for i in 0..d {
                    w_o[(h * dh + k) * d + i] = a.output[[h * ks + k, i]];
                }
            }
        }
        push(format!("{p}.W_O"), vec![hn, dh, d], w_o);
        push(format!("{p}.b_O"), vec![d], a.output_bias.to_vec());
        let m = &layer.mlp;
        let p = format!("blocks.{l}.mlp");
        let mut w_in = vec![0.0; d * dm];
        let mut w_out = vec![0.0; dm * d];
        let mut b_in = vec![0.0; dm];
        for j in 0..mlp {
            for i in 0..d {
                w_in[i * dm + j] = m.hidden[[i, j]];
                w_out[j * d + i] = m.output[[j, i]];
            }
            b_in[j] = m.hidden_bias[j];
        }
        push(format!("{p}.W_in"), vec![d, dm], w_in);
        push(format!("{p}.b_in"), vec![dm], b_in);
        push(format!("{p}.W_out"), vec![dm, d], w_out);
        push(format!("{p}.b_out"), vec![d], m.output_bias.to_vec());
    }
    push(
        "unembed.W_U".into(),
        vec![d, sizes.d_vocab_out],
        unembed(model, &sizes),
    );
    push(
        "unembed.b_U".into(),
        vec![sizes.d_vocab_out],
        vec![0.0; sizes.d_vocab_out],
    );
    let metadata = metadata_in_order([
        // What torch's safetensors writer puts there.
        ("format".to_string(), "pt".to_string()),
        (
            METADATA_MODEL_KEY.to_string(),
            super::json::header_json_text(model),
        ),
    ]);
    serialize(&tensors, Dtype::F32, metadata)
}

/// `W_U` `[D, d_vocab_out]`: logit j reads compiled residual dimension `output_residual_indices[j]`,
/// which in a rotated or compressed model is the residual read through the map's row of it
/// (`r' · M[i, :]ᵀ`, as [`CompiledModel::read_output`] reads it).
fn unembed(model: &CompiledModel, sizes: &Sizes) -> Vec<f64> {
    let mut w_u = vec![0.0; sizes.d_model * sizes.d_vocab_out];
    for (j, &r) in model
        .output_residual_indices
        .iter()
        .take(sizes.d_vocab_out)
        .enumerate()
    {
        match &model.residual_map {
            Some(map) => {
                for (k, &m) in map.matrix.row(r).iter().enumerate() {
                    w_u[k * sizes.d_vocab_out + j] = m;
                }
            }
            None => w_u[r * sizes.d_vocab_out + j] = 1.0,
        }
    }
    w_u
}

/// The TransformerLens state-dict names of a model with `num_layers` layers.
pub fn state_dict_names(num_layers: usize) -> Vec<String> {
    let mut names = vec!["embed.W_E".to_string(), "pos_embed.W_pos".to_string()];
    for l in 0..num_layers {
        for t in ["W_Q", "b_Q", "W_K", "b_K", "W_V", "b_V", "W_O", "b_O"] {
            names.push(format!("blocks.{l}.attn.{t}"));
        }
        for t in ["W_in", "b_in", "W_out", "b_out"] {
            names.push(format!("blocks.{l}.mlp.{t}"));
        }
    }
    names.push("unembed.W_U".into());
    names.push("unembed.b_U".into());
    names
}

/// Reads a folder written by `tracr compile --format transformerlens`, checking `config.json` and
/// `vocab.json` against the tensors and the model kept in the metadata.
pub fn read_transformerlens(dir: &Path) -> Result<CompiledModel> {
    let wrap = |e: Error| Error::ModelFile {
        path: dir.display().to_string(),
        format: "TransformerLens",
        source: Box::new(e),
    };
    if !dir.is_dir() {
        return Err(wrap(Error::Message(
            "not a folder; a TransformerLens export is a folder holding model.safetensors, \
             config.json and vocab.json"
                .into(),
        )));
    }
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let weights = read(MODEL_FILE)?;
    let config = read(CONFIG_FILE)?;
    let vocab = read(VOCAB_FILE)?;
    from_transformerlens_bytes(&weights, &config, &vocab).map_err(wrap)
}

/// Reads a model from the three files' bytes (see [`read_transformerlens`]).
pub fn from_transformerlens_bytes(
    weights: &[u8],
    config: &[u8],
    vocab: &[u8],
) -> Result<CompiledModel> {
    let file = TensorFile::parse(weights)?;
    let header = file.header_json().map_err(|_| {
        Error::Safetensors(format!(
            "{MODEL_FILE} has no `{METADATA_MODEL_KEY}` metadata: only folders written by \
             `tracr compile --format transformerlens` can be read back (it keeps the residual \
             labels and encodings there)"
        ))
    })?;
    let config: Json = serde_json::from_slice(config)
        .map_err(|e| Error::Json(format!("{CONFIG_FILE} is not JSON: {e}")))?;
    let vocab: Json = serde_json::from_slice(vocab)
        .map_err(|e| Error::Json(format!("{VOCAB_FILE} is not JSON: {e}")))?;
    // The sizes the header implies, before any tensor is read.
    let header_config: crate::model::ModelConfig = serde_json::from_value(
        header
            .get("config")
            .cloned()
            .ok_or_else(|| Error::Json("the metadata's model has no `config`".into()))?,
    )
    .map_err(|e| Error::Json(format!("the metadata's model config: {e}")))?;
    let source = TransformerLensWeights {
        file: &file,
        config: &header_config,
    };
    let model = CompiledModel::from_header(&header, &source)?;
    file.check_names(&state_dict_names(model.config.num_layers))?;
    let sizes = Sizes::of(&model);
    // The unembedding must be the selection the decoder applies, or TransformerLens's logits
    // would not be the model's.
    let (w_u, shape) = file.values("unembed.W_U", &[Dtype::F32, Dtype::F64])?;
    expect_shape("unembed.W_U", &shape, &[sizes.d_model, sizes.d_vocab_out])?;
    // A float32 file holds the map's entries rounded to float32; 0 and 1 are exact either way.
    if let Some((i, want)) = w_u
        .iter()
        .zip(unembed(&model, &sizes))
        .enumerate()
        .find(|(_, (a, b))| **a != *b && **a != f64::from(*b as f32))
        .map(|(i, (_, b))| (i, b))
    {
        let rule = match &model.residual_map {
            Some(_) => format!(
                "it must read compiled dimensions {:?} through the residual map (entry {want} here)",
                model.output_residual_indices
            ),
            None => format!(
                "it must select residual dimensions {:?} (1 there, 0 elsewhere)",
                model.output_residual_indices
            ),
        };
        return Err(Error::Tensor {
            name: "unembed.W_U".into(),
            reason: format!(
                "entry [{}, {}] is {}; {rule}",
                i / sizes.d_vocab_out,
                i % sizes.d_vocab_out,
                w_u[i],
            ),
        });
    }
    let (b_u, shape) = file.values("unembed.b_U", &[Dtype::F32, Dtype::F64])?;
    expect_shape("unembed.b_U", &shape, &[sizes.d_vocab_out])?;
    if let Some(x) = b_u.iter().find(|x| **x != 0.0) {
        return Err(Error::Tensor {
            name: "unembed.b_U".into(),
            reason: format!("holds {x}; it must be zero"),
        });
    }
    compare_json(
        CONFIG_FILE,
        &config,
        &transformerlens_config(&model, ""),
        &["model_name"],
    )?;
    compare_json(VOCAB_FILE, &vocab, &transformerlens_vocab(&model), &[])?;
    Ok(model)
}

/// Errors on the first field of `expected` that `found` lacks or holds differently (fields in
/// `ignored` are free); extra fields in `found` are allowed (TransformerLens has many defaults).
fn compare_json(file: &str, found: &Json, expected: &Json, ignored: &[&str]) -> Result<()> {
    let expected = expected.as_object().expect("built as an object");
    for (key, want) in expected {
        if ignored.contains(&key.as_str()) {
            continue;
        }
        let got = found.get(key);
        let same = match (got, want) {
            // attn_scale is a float; compare as numbers.
            (Some(Json::Number(a)), Json::Number(b)) => a.as_f64() == b.as_f64(),
            (Some(a), b) => a == b,
            (None, _) => false,
        };
        if !same {
            return Err(Error::Json(format!(
                "{file}: `{key}` is {}, but the tensors and the model in {MODEL_FILE} need {want}",
                got.map_or_else(|| "missing".to_string(), Json::to_string)
            )));
        }
    }
    Ok(())
}

fn expect_shape(name: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Tensor {
            name: name.to_string(),
            reason: format!("has shape {got:?}; the model needs {want:?}"),
        })
    }
}

/// TransformerLens's tensors seen under our names: heads merged back into columns, padding dropped
/// (it must be zero).
struct TransformerLensWeights<'f, 'a> {
    file: &'f TensorFile<'a>,
    config: &'f crate::model::ModelConfig,
}

const FLOATS: [Dtype; 2] = [Dtype::F32, Dtype::F64];

impl TransformerLensWeights<'_, '_> {
    /// The tensor `name`, which must have shape `want`.
    fn tensor(&self, name: &str, want: &[usize]) -> Result<Vec<f64>> {
        let (values, shape) = self.file.values(name, &FLOATS)?;
        expect_shape(name, &shape, want)?;
        Ok(values)
    }

    /// Errors if the padded (unused) entry `flat` of `name` is not zero.
    fn padding_is_zero(name: &str, values: &[f64], keep: impl Fn(usize) -> bool) -> Result<()> {
        match values
            .iter()
            .enumerate()
            .find(|(i, x)| !keep(*i) && **x != 0.0)
        {
            Some((i, x)) => Err(Error::Tensor {
                name: name.to_string(),
                reason: format!(
                    "holds {x} at flat index {i}, in the padding added for an empty head or MLP; \
                     it must be zero"
                ),
            }),
            None => Ok(()),
        }
    }

    /// `(layer, module, Q/K/V letter for query/key/value)` from
    /// `transformer/layer_{l}/{module}/{w|b}`.
    fn locate(name: &str) -> Result<(usize, &str, Option<&'static str>)> {
        let parsed = (|| {
            let rest = name.strip_prefix("transformer/layer_")?;
            let (layer, rest) = rest.split_once('/')?;
            let (module, _) = rest.rsplit_once('/')?;
            Some((layer.parse().ok()?, module))
        })();
        let (layer, module) = parsed.ok_or_else(|| Error::Tensor {
            name: name.to_string(),
            reason: "not a weight of a compiled model".into(),
        })?;
        let letter = match module {
            "attn/query" => Some("Q"),
            "attn/key" => Some("K"),
            "attn/value" => Some("V"),
            _ => None,
        };
        Ok((layer, module, letter))
    }
}

impl WeightSource for TransformerLensWeights<'_, '_> {
    fn matrix(&self, name: &str) -> Result<Array2<f64>> {
        let c = self.config;
        let d = c.d_model;
        let (heads, ks, mlp) = (c.num_heads, c.key_size, c.mlp_hidden_size);
        let (hn, dh, dm) = (heads.max(1), ks.max(1), mlp.max(1));
        match name {
            "token_embed/embeddings" => return self.file.matrix("embed.W_E", &FLOATS),
            "pos_embed/embeddings" => return self.file.matrix("pos_embed.W_pos", &FLOATS),
            _ => {}
        }
        let (l, module, letter) = Self::locate(name)?;
        if let Some(letter) = letter {
            let tl = format!("blocks.{l}.attn.W_{letter}");
            let v = self.tensor(&tl, &[hn, d, dh])?;
            Self::padding_is_zero(&tl, &v, |i| i / (d * dh) < heads && i % dh < ks)?;
            return Ok(Array2::from_shape_fn((d, heads * ks), |(i, c)| {
                v[((c / ks) * d + i) * dh + c % ks]
            }));
        }
        match module {
            "attn/linear" => {
                let tl = format!("blocks.{l}.attn.W_O");
                let v = self.tensor(&tl, &[hn, dh, d])?;
                Self::padding_is_zero(&tl, &v, |i| i / (dh * d) < heads && (i / d) % dh < ks)?;
                Ok(Array2::from_shape_fn((heads * ks, d), |(r, i)| {
                    v[((r / ks) * dh + r % ks) * d + i]
                }))
            }
            "mlp/linear_1" => {
                let tl = format!("blocks.{l}.mlp.W_in");
                let v = self.tensor(&tl, &[d, dm])?;
                Self::padding_is_zero(&tl, &v, |i| i % dm < mlp)?;
                Ok(Array2::from_shape_fn((d, mlp), |(i, j)| v[i * dm + j]))
            }
            "mlp/linear_2" => {
                let tl = format!("blocks.{l}.mlp.W_out");
                let v = self.tensor(&tl, &[dm, d])?;
                Self::padding_is_zero(&tl, &v, |i| i / d < mlp)?;
                Ok(Array2::from_shape_fn((mlp, d), |(j, i)| v[j * d + i]))
            }
            _ => Err(Error::Tensor {
                name: name.to_string(),
                reason: "not a weight of a compiled model".into(),
            }),
        }
    }

    fn vector(&self, name: &str) -> Result<Array1<f64>> {
        let c = self.config;
        let d = c.d_model;
        let (heads, ks, mlp) = (c.num_heads, c.key_size, c.mlp_hidden_size);
        let (hn, dh, dm) = (heads.max(1), ks.max(1), mlp.max(1));
        let (l, module, letter) = Self::locate(name)?;
        if let Some(letter) = letter {
            let tl = format!("blocks.{l}.attn.b_{letter}");
            let v = self.tensor(&tl, &[hn, dh])?;
            Self::padding_is_zero(&tl, &v, |i| i / dh < heads && i % dh < ks)?;
            return Ok(Array1::from_shape_fn(heads * ks, |c| {
                v[(c / ks) * dh + c % ks]
            }));
        }
        let (tl, len, keep) = match module {
            "attn/linear" => (format!("blocks.{l}.attn.b_O"), d, d),
            "mlp/linear_1" => (format!("blocks.{l}.mlp.b_in"), dm, mlp),
            "mlp/linear_2" => (format!("blocks.{l}.mlp.b_out"), d, d),
            _ => {
                return Err(Error::Tensor {
                    name: name.to_string(),
                    reason: "not a bias of a compiled model".into(),
                })
            }
        };
        let v = self.tensor(&tl, &[len])?;
        Self::padding_is_zero(&tl, &v, |i| i < keep)?;
        Ok(Array1::from(v[..keep].to_vec()))
    }
}

//! GPT-2 from a Hugging Face folder (`config.json` + `model.safetensors`) into the [`Transformer`] type.
//!
//! GPT-2 is pre-LayerNorm with `gelu_new`, learned positions, Conv1D weights stored `[in, out]`
//! (`y = x·W + b`, the layout our row-vector weights already use) and an unembedding tied to `wte`.
//! Both key layouts seen in the wild are read: with the `transformer.` prefix (what
//! `GPT2LMHeadModel.save_pretrained` writes) and without (`openai-community/gpt2`'s own file);
//! `attn.bias` / `attn.masked_bias` (causal-mask buffers, not parameters) are ignored when present;
//! `lm_head.weight` is used when present, else the unembedding is `wteᵀ`.
//!
//! Each head gets its slices of `c_attn` and `c_proj` and `b_O / H` of the output bias, the split
//! Edge Pruning's masked forward makes (docs/gpt2.md says where that differs from a plain GPT-2: it
//! does not, for the unmasked forward, since the H shares sum back to `b_O`).

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{s, Array1, Array2, Axis};
use serde_json::{json, Value};

use super::checkpoint::Checkpoint;
use super::{Activation, AttentionHead, Layer, LayerNorm, Mlp, Readout, Transformer};
use crate::error::{Error, Result};

/// The `config.json` settings GPT-2's forward depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpt2Config {
    /// `n_layer`.
    pub num_layers: usize,
    /// `n_head`.
    pub num_heads: usize,
    /// `n_embd`.
    pub d_model: usize,
    /// `n_inner`, or 4·`n_embd` when null or absent.
    pub mlp_hidden_size: usize,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `n_positions`: the longest sequence the position table covers.
    pub max_positions: usize,
    /// `layer_norm_epsilon` (default 1e-5).
    pub layer_norm_epsilon: f64,
    /// `scale_attn_weights` (default true): scores divided by √head_dim.
    pub scale_attention: bool,
    /// `bos_token_id`, when given.
    pub bos_token_id: Option<usize>,
}

impl Gpt2Config {
    /// Parses and checks `config.json` (model_type gpt2, an activation we compute exactly, no per-layer scaling).
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Gpt2Config> {
        let model_type = checkpoint.model_type()?;
        if model_type != "gpt2" {
            return Err(Error::Unsupported {
                message: format!(
                    "{}: model_type `{model_type}` is not gpt2",
                    checkpoint.dir.display()
                ),
            });
        }
        let config = &checkpoint.config;
        let count = |field: &str| -> Result<usize> {
            match config.get(field).and_then(Value::as_u64) {
                Some(n) if n > 0 => Ok(n as usize),
                _ => Err(checkpoint.config_error(field, "missing or not a positive whole number")),
            }
        };
        let num_layers = count("n_layer")?;
        let num_heads = count("n_head")?;
        let d_model = count("n_embd")?;
        let vocab_size = count("vocab_size")?;
        let max_positions = count("n_positions")?;
        if d_model % num_heads != 0 {
            return Err(checkpoint.config_error(
                "n_embd",
                &format!("{d_model} is not a multiple of n_head = {num_heads}"),
            ));
        }
        let mlp_hidden_size = match config.get("n_inner") {
            None | Some(Value::Null) => 4 * d_model,
            Some(_) => count("n_inner")?,
        };
        let layer_norm_epsilon = match config.get("layer_norm_epsilon") {
            None => 1e-5,
            Some(value) => match value.as_f64() {
                Some(eps) if eps > 0.0 && eps.is_finite() => eps,
                _ => {
                    return Err(
                        checkpoint.config_error("layer_norm_epsilon", "must be a positive number")
                    )
                }
            },
        };
        match config.get("activation_function").and_then(Value::as_str) {
            None | Some("gelu_new") | Some("gelu_pytorch_tanh") => {}
            Some(other) => {
                return Err(Error::Unsupported {
                    message: format!(
                        "{}: activation_function `{other}`; only GPT-2's tanh GELU (gelu_new, gelu_pytorch_tanh) is implemented",
                        checkpoint.dir.display()
                    ),
                })
            }
        }
        let flag = |field: &str, default: bool| -> Result<bool> {
            match config.get(field) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(checkpoint.config_error(field, "must be true or false")),
            }
        };
        if flag("scale_attn_by_inverse_layer_idx", false)? {
            return Err(Error::Unsupported {
                message: format!(
                    "{}: scale_attn_by_inverse_layer_idx = true (a per-layer attention scale) is not implemented",
                    checkpoint.dir.display()
                ),
            });
        }
        Ok(Gpt2Config {
            num_layers,
            num_heads,
            d_model,
            mlp_hidden_size,
            vocab_size,
            max_positions,
            layer_norm_epsilon,
            scale_attention: flag("scale_attn_weights", true)?,
            bos_token_id: config
                .get("bos_token_id")
                .and_then(Value::as_u64)
                .map(|id| id as usize),
        })
    }

    /// Width of one head, `n_embd / n_head`.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.num_heads
    }

    /// The `config.json` Hugging Face writes for these settings (with its defaults for the rest).
    pub fn to_json(&self) -> Value {
        json!({
            "activation_function": "gelu_new",
            "architectures": ["GPT2LMHeadModel"],
            "attn_pdrop": 0.0,
            "bos_token_id": self.bos_token_id.unwrap_or(self.vocab_size - 1),
            "embd_pdrop": 0.0,
            "eos_token_id": self.bos_token_id.unwrap_or(self.vocab_size - 1),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "model_type": "gpt2",
            "n_embd": self.d_model,
            "n_head": self.num_heads,
            "n_inner": self.mlp_hidden_size,
            "n_layer": self.num_layers,
            "n_positions": self.max_positions,
            "resid_pdrop": 0.0,
            "scale_attn_by_inverse_layer_idx": false,
            "scale_attn_weights": self.scale_attention,
            "tie_word_embeddings": true,
            "vocab_size": self.vocab_size,
        })
    }
}

/// Loads the GPT-2 checkpoint in `dir`.
pub fn load(dir: &Path) -> Result<Transformer> {
    from_checkpoint(&Checkpoint::open(dir)?)
}

/// Builds the model from an opened checkpoint (see the module documentation for the layouts read).
pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Transformer> {
    let config = Gpt2Config::from_checkpoint(checkpoint)?;
    let file = &checkpoint.weights;
    let prefix = if file.contains("transformer.wte.weight") {
        "transformer."
    } else if file.contains("wte.weight") {
        ""
    } else {
        return Err(Error::Checkpoint {
            path: file.path().display().to_string(),
            message: format!(
                "missing tensor `transformer.wte.weight` (or `wte.weight`); this is not a GPT-2 weights file (its tensors: {})",
                preview(&file.names())
            ),
        });
    };
    let name = |key: &str| format!("{prefix}{key}");
    let (d, v, hidden) = (config.d_model, config.vocab_size, config.mlp_hidden_size);
    let (heads, hd) = (config.num_heads, config.head_dim());
    let norm = |key: &str| -> Result<LayerNorm> {
        Ok(LayerNorm {
            scale: file.vector(&name(&format!("{key}.weight")), d)?,
            shift: file.vector(&name(&format!("{key}.bias")), d)?,
            epsilon: config.layer_norm_epsilon,
        })
    };
    let token_embedding = file.matrix(&name("wte.weight"), v, d)?;
    let position_embedding = file.matrix(&name("wpe.weight"), config.max_positions, d)?;

    let mut layers = Vec::with_capacity(config.num_layers);
    for l in 0..config.num_layers {
        let block = |key: &str| format!("h.{l}.{key}");
        let c_attn = file.matrix(&name(&block("attn.c_attn.weight")), d, 3 * d)?;
        let c_attn_bias = file.vector(&name(&block("attn.c_attn.bias")), 3 * d)?;
        let c_proj = file.matrix(&name(&block("attn.c_proj.weight")), d, d)?;
        let c_proj_bias = file.vector(&name(&block("attn.c_proj.bias")), d)?;
        let shared_bias = &c_proj_bias / heads as f64;
        let head_list = (0..heads)
            .map(|h| {
                // Columns [0, D) are Q, [D, 2D) K, [2D, 3D) V; head h owns h·hd..(h+1)·hd of each.
                let columns = |part: usize| part * d + h * hd..part * d + (h + 1) * hd;
                AttentionHead {
                    w_query: c_attn.slice(s![.., columns(0)]).to_owned(),
                    b_query: c_attn_bias.slice(s![columns(0)]).to_owned(),
                    w_key: c_attn.slice(s![.., columns(1)]).to_owned(),
                    b_key: c_attn_bias.slice(s![columns(1)]).to_owned(),
                    w_value: c_attn.slice(s![.., columns(2)]).to_owned(),
                    b_value: c_attn_bias.slice(s![columns(2)]).to_owned(),
                    w_output: c_proj.slice(s![h * hd..(h + 1) * hd, ..]).to_owned(),
                    b_output: shared_bias.clone(),
                }
            })
            .collect();
        layers.push(Layer {
            ln_attention: Some(norm(&block("ln_1"))?),
            heads: head_list,
            ln_mlp: Some(norm(&block("ln_2"))?),
            mlp: Mlp {
                w_in: file.matrix(&name(&block("mlp.c_fc.weight")), d, hidden)?,
                b_in: file.vector(&name(&block("mlp.c_fc.bias")), hidden)?,
                w_out: file.matrix(&name(&block("mlp.c_proj.weight")), hidden, d)?,
                b_out: file.vector(&name(&block("mlp.c_proj.bias")), d)?,
            },
        });
    }
    let ln_final = norm("ln_f")?;
    // lm_head sits outside `transformer.`; nn.Linear stores it [out, in] = [V, D].
    let unembedding = if file.contains("lm_head.weight") {
        file.matrix("lm_head.weight", v, d)?.reversed_axes()
    } else {
        token_embedding.t().to_owned()
    };
    let model = Transformer {
        token_embedding,
        position_embedding,
        layers,
        ln_final: Some(ln_final),
        readout: Readout::Categorical { unembedding },
        attention_scale: if config.scale_attention {
            1.0 / (hd as f64).sqrt()
        } else {
            1.0
        },
        causal: true,
        activation: Activation::Gelu,
        residual_labels: None,
        bos_token_id: config.bos_token_id,
        residual_basis: super::ResidualBasis::Native,
    };
    model.validate()?;
    Ok(model)
}

/// The first few tensor names, for a message.
fn preview(names: &[&str]) -> String {
    let shown: Vec<&str> = names.iter().take(5).copied().collect();
    if names.len() > shown.len() {
        format!("{}, ... ({} in all)", shown.join(", "), names.len())
    } else if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ")
    }
}

/// Writes `model` as a GPT-2 checkpoint folder (`config.json` + `model.safetensors` in f32, keys with the
/// `transformer.` prefix, unembedding tied), as `GPT2LMHeadModel.save_pretrained` lays it out.
/// The model must be GPT-2 shaped: LayerNorms everywhere, GELU, causal, equal head widths, the output
/// bias split equally over the heads, and an unembedding equal to `wteᵀ`.
pub fn write_checkpoint(model: &Transformer, dir: &Path) -> Result<()> {
    let not_gpt2 = |why: &str| Error::Unsupported {
        message: format!("cannot write a GPT-2 checkpoint: {why}"),
    };
    model.validate()?;
    let (d, heads) = (model.d_model(), model.num_heads());
    if heads == 0 || model.activation != Activation::Gelu || !model.causal {
        return Err(not_gpt2("GPT-2 needs heads, GELU and causal attention"));
    }
    let hd = d / heads;
    let hidden = model.layers.first().map_or(4 * d, |l| l.mlp.w_in.ncols());
    match &model.readout {
        Readout::Categorical { unembedding } if *unembedding == model.token_embedding.t() => {}
        _ => {
            return Err(not_gpt2(
                "the unembedding must be the token embedding, transposed",
            ))
        }
    }
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
    let mut put = |key: String, shape: Vec<usize>, values: Vec<f64>| {
        tensors.insert(key, (shape, values.into_iter().map(|x| x as f32).collect()));
    };
    let matrix = |m: &Array2<f64>| m.as_standard_layout().iter().copied().collect::<Vec<f64>>();
    let vector = |v: &Array1<f64>| v.to_vec();
    put(
        "transformer.wte.weight".into(),
        vec![model.vocab_size(), d],
        matrix(&model.token_embedding),
    );
    put(
        "transformer.wpe.weight".into(),
        vec![model.max_positions(), d],
        matrix(&model.position_embedding),
    );
    let mut norm = |key: String, n: &Option<LayerNorm>| -> Result<()> {
        let n = n
            .as_ref()
            .ok_or_else(|| not_gpt2(&format!("{key} is missing")))?;
        put(format!("{key}.weight"), vec![d], vector(&n.scale));
        put(format!("{key}.bias"), vec![d], vector(&n.shift));
        Ok(())
    };
    for (l, layer) in model.layers.iter().enumerate() {
        norm(format!("transformer.h.{l}.ln_1"), &layer.ln_attention)?;
        norm(format!("transformer.h.{l}.ln_2"), &layer.ln_mlp)?;
    }
    norm("transformer.ln_f".into(), &model.ln_final)?;
    for (l, layer) in model.layers.iter().enumerate() {
        if layer
            .heads
            .iter()
            .any(|h| h.w_query.ncols() != hd || h.w_value.ncols() != hd)
        {
            return Err(not_gpt2("every head must be d_model / heads wide"));
        }
        let stack = |part: fn(&AttentionHead) -> &Array2<f64>| {
            let views: Vec<_> = layer.heads.iter().map(|h| part(h).view()).collect();
            ndarray::concatenate(Axis(1), &views).expect("same rows")
        };
        let stack_bias = |part: fn(&AttentionHead) -> &Array1<f64>| {
            let views: Vec<_> = layer.heads.iter().map(|h| part(h).view()).collect();
            ndarray::concatenate(Axis(0), &views).expect("vectors")
        };
        let c_attn = ndarray::concatenate(
            Axis(1),
            &[
                stack(|h| &h.w_query).view(),
                stack(|h| &h.w_key).view(),
                stack(|h| &h.w_value).view(),
            ],
        )
        .expect("same rows");
        let c_attn_bias = ndarray::concatenate(
            Axis(0),
            &[
                stack_bias(|h| &h.b_query).view(),
                stack_bias(|h| &h.b_key).view(),
                stack_bias(|h| &h.b_value).view(),
            ],
        )
        .expect("vectors");
        let outputs: Vec<_> = layer.heads.iter().map(|h| h.w_output.view()).collect();
        let c_proj = ndarray::concatenate(Axis(0), &outputs).expect("same columns");
        let c_proj_bias = layer
            .heads
            .iter()
            .fold(Array1::<f64>::zeros(d), |sum, h| sum + &h.b_output);
        let block = |key: &str| format!("transformer.h.{l}.{key}");
        put(block("attn.c_attn.weight"), vec![d, 3 * d], matrix(&c_attn));
        put(block("attn.c_attn.bias"), vec![3 * d], c_attn_bias.to_vec());
        put(block("attn.c_proj.weight"), vec![d, d], matrix(&c_proj));
        put(block("attn.c_proj.bias"), vec![d], c_proj_bias.to_vec());
        put(
            block("mlp.c_fc.weight"),
            vec![d, hidden],
            matrix(&layer.mlp.w_in),
        );
        put(
            block("mlp.c_fc.bias"),
            vec![hidden],
            vector(&layer.mlp.b_in),
        );
        put(
            block("mlp.c_proj.weight"),
            vec![hidden, d],
            matrix(&layer.mlp.w_out),
        );
        put(block("mlp.c_proj.bias"), vec![d], vector(&layer.mlp.b_out));
    }
    let bytes: BTreeMap<String, (Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(k, (shape, values))| {
            (
                k,
                (shape, values.iter().flat_map(|x| x.to_le_bytes()).collect()),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, (shape, data))| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|view| (k.clone(), view))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| not_gpt2(&e.to_string()))?;
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    let serialized =
        safetensors::serialize(views, Some(metadata)).map_err(|e| not_gpt2(&e.to_string()))?;
    let config = Gpt2Config {
        num_layers: model.num_layers(),
        num_heads: heads,
        d_model: d,
        mlp_hidden_size: hidden,
        vocab_size: model.vocab_size(),
        max_positions: model.max_positions(),
        layer_norm_epsilon: model.ln_final.as_ref().map_or(1e-5, |n| n.epsilon),
        scale_attention: true,
        bos_token_id: model.bos_token_id,
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let config_text = crate::atomic::json_text(&config.to_json());
    crate::atomic::write_all(&[
        (&dir.join("config.json"), config_text.as_bytes()),
        (&dir.join("model.safetensors"), &serialized),
    ])
}

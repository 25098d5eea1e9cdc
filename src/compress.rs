//! Tracr's compressed residual (superposition with a known truth): the compiled weights stay frozen and
//! one matrix `W` (`[d_model, D]`, `D < d_model`) is trained so that writing `x · W` and reading
//! `r · Wᵀ` keeps the model's behaviour (../shared/docs/methods.md §7, the public recipe).
//!
//! Loss: output cross-entropy against the compiled model's class (categorical) or MSE against its value
//! (numerical), on every non-BOS position, plus the MSE between each half-layer's read-back residual
//! `r · Wᵀ` and the compiled model's residual there. Adam on `W` alone, candle autograd in **f64** on the
//! CPU. `W` starts as the first `D` columns of a seeded random rotation (a projection onto a random
//! `D`-dimensional subspace), which trains faster than the recipe's `normal(0, 0.02)`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use ndarray::{Array2, Axis};
use tracr::model::{CompiledModel, OutputEncoding, ResidualMapKind};
use tracr::value::Value;

use crate::error::{Error, Result};

/// Training settings of one compression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressOptions {
    /// Adam steps (full batch: every input each step).
    pub steps: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Weight of the per-half-layer residual MSE next to the output loss.
    pub residual_weight: f64,
    /// Seed of `W`'s initial rotation.
    pub seed: u64,
}

impl Default for CompressOptions {
    /// The documented budget: 400 full-batch Adam steps at learning rate 1e-2, residual weight 1.
    fn default() -> Self {
        Self {
            steps: 400,
            learning_rate: 1e-2,
            residual_weight: 1.0,
            seed: 0,
        }
    }
}

/// What one compression gives.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// The compressed model: a plain model with `d_model = D`, its `residual_map` holding `W`.
    pub model: CompiledModel,
    /// Final training loss.
    pub loss: f64,
    /// Wall time of the training, seconds.
    pub seconds: f64,
}

fn candle(error: candle_core::Error) -> Error {
    Error::InvalidOption {
        option: "compression (candle)".into(),
        message: error.to_string(),
    }
}

/// Errors unless `0 < dims < d_model`.
pub fn check_dims(model: &CompiledModel, dims: usize) -> Result<()> {
    let d = model.config.d_model;
    if dims == 0 || dims >= d {
        return Err(Error::InvalidOption {
            option: "--compress".into(),
            message: format!(
                "the compressed width must be between 1 and d_model - 1 = {} for this model (d_model {d}), got {dims}",
                d.saturating_sub(1)
            ),
        });
    }
    Ok(())
}

/// The compiled model's frozen weights as candle tensors.
struct Frozen {
    device: Device,
    token_embed: Tensor,
    pos_embed: Tensor,
    /// Per layer: query, key, value `[d, H·k]`, attention output `[H·k, d]` and its bias, MLP in/out and biases.
    layers: Vec<[Tensor; 9]>,
    /// `[d, outputs]`: selects the output dimensions.
    unembed: Tensor,
    heads: usize,
    key_size: usize,
    scale: f64,
    causal: bool,
}

fn tensor2(a: &Array2<f64>, device: &Device) -> candle_core::Result<Tensor> {
    let a = a.as_standard_layout();
    Tensor::from_slice(a.as_slice().expect("standard layout"), a.dim(), device)
}

fn tensor1(a: &ndarray::Array1<f64>, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(a.as_slice().expect("contiguous"), a.len(), device)
}

impl Frozen {
    fn new(model: &CompiledModel) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let d = model.config.d_model;
        let mut unembed = Array2::zeros((d, model.output_residual_indices.len()));
        for (c, &i) in model.output_residual_indices.iter().enumerate() {
            unembed[(i, c)] = 1.0;
        }
        let layers = model
            .weights
            .iter()
            .map(|l| {
                Ok([
                    tensor2(&l.attn.query, &device)?,
                    tensor2(&l.attn.key, &device)?,
                    tensor2(&l.attn.value, &device)?,
                    tensor2(&l.attn.output, &device)?,
                    tensor1(&l.attn.output_bias, &device)?,
                    tensor2(&l.mlp.hidden, &device)?,
                    tensor1(&l.mlp.hidden_bias, &device)?,
                    tensor2(&l.mlp.output, &device)?,
                    tensor1(&l.mlp.output_bias, &device)?,
                ])
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            token_embed: tensor2(&model.token_embed, &device)?,
            pos_embed: tensor2(&model.pos_embed, &device)?,
            unembed: tensor2(&unembed, &device)?,
            layers,
            heads: model.config.num_heads,
            key_size: model.config.key_size,
            scale: 1.0 / (model.config.key_size as f64).sqrt(),
            causal: model.config.causal,
            device,
        })
    }

    /// The forward on `[N, S]` ids with residual map `w` (`None`: the compiled model itself). Returns
    /// the output values `[N·S, outputs]` and the read-back residual after every half-layer `[N·S, d]`.
    fn forward(
        &self,
        ids: &Array2<usize>,
        w: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let (n, s) = ids.dim();
        let flat: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        let flat = Tensor::from_vec(flat, n * s, &self.device)?;
        let positions: Vec<u32> = (0..n).flat_map(|_| 0..s as u32).collect();
        let positions = Tensor::from_vec(positions, n * s, &self.device)?;
        let embedded = (self.token_embed.index_select(&flat, 0)?
            + self.pos_embed.index_select(&positions, 0)?)?;
        let write = |x: Tensor| -> candle_core::Result<Tensor> {
            match w {
                Some(w) => x.matmul(w),
                None => Ok(x),
            }
        };
        let read = |r: &Tensor| -> candle_core::Result<Tensor> {
            match w {
                Some(w) => r.matmul(&w.t()?),
                None => Ok(r.clone()),
            }
        };
        let mask = if self.causal {
            let mut m = vec![0.0f64; s * s];
            for i in 0..s {
                for j in i + 1..s {
                    m[i * s + j] = -1e30;
                }
            }
            Some(Tensor::from_vec(m, (s, s), &self.device)?)
        } else {
            None
        };
        let (h, k) = (self.heads, self.key_size);
        let mut r = write(embedded)?;
        let mut residuals = Vec::with_capacity(2 * self.layers.len());
        for [wq, wk, wv, wo, bo, wh, bh, wmo, bmo] in &self.layers {
            let x = read(&r)?;
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((n, s, h, k))?.transpose(1, 2)?.contiguous()
            };
            let q = split(x.matmul(wq)?)?;
            let kk = split(x.matmul(wk)?)?;
            let v = split(x.matmul(wv)?)?;
            let mut logits = (q.matmul(&kk.transpose(2, 3)?.contiguous()?)? * self.scale)?;
            if let Some(mask) = &mask {
                logits = logits.broadcast_add(mask)?;
            }
            let max = logits.max_keepdim(D::Minus1)?.detach();
            let e = logits.broadcast_sub(&max)?.exp()?;
            let weights = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
            let mixed = weights
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((n * s, h * k))?;
            let attn = mixed.matmul(wo)?.broadcast_add(bo)?;
            r = (r + write(attn)?)?;
            residuals.push(read(&r)?);
            let x = read(&r)?;
            let hidden = x.matmul(wh)?.broadcast_add(bh)?.relu()?;
            let out = hidden.matmul(wmo)?.broadcast_add(bmo)?;
            r = (r + write(out)?)?;
            residuals.push(read(&r)?);
        }
        let outputs = read(&r)?.matmul(&self.unembed)?;
        Ok((outputs, residuals))
    }
}

/// Trains `W` (`[d_model, dims]`) on the `[N, S]` token ids `inputs` (BOS first) and returns the
/// compressed model. The targets are the compiled model's own outputs and residuals.
pub fn compress(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    dims: usize,
    options: &CompressOptions,
) -> Result<Compressed> {
    check_dims(model, dims)?;
    if model.residual_map.is_some() {
        return Err(Error::InvalidOption {
            option: "--compress".into(),
            message:
                "the model's residual is already rotated or compressed; compress the compiled model"
                    .into(),
        });
    }
    let start = Instant::now();
    let (w, loss) = train(model, inputs, dims, options).map_err(candle)?;
    let seconds = start.elapsed().as_secs_f64();
    let compressed =
        tracr::transform::map_residual(model, &w, ResidualMapKind::Compression, "compressed");
    Ok(Compressed {
        model: compressed,
        loss,
        seconds,
    })
}

fn train(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    dims: usize,
    options: &CompressOptions,
) -> candle_core::Result<(Array2<f64>, f64)> {
    let frozen = Frozen::new(model)?;
    let (n, s) = inputs.dim();
    let (target_out, target_residuals) = frozen.forward(inputs, None)?;
    // Non-BOS rows of the flattened `[N·S, ..]` outputs.
    let keep: Vec<u32> = (0..n * s)
        .filter(|row| row % s != 0)
        .map(|row| row as u32)
        .collect();
    let keep = Tensor::from_vec(keep, n * (s - 1), &frozen.device)?;
    let target_out = target_out.index_select(&keep, 0)?;
    let categorical = matches!(model.output_encoding, OutputEncoding::Categorical(_));
    // The compiled model's class as a one-hot target (ties go to the first index, as decoding does).
    let target_class = if categorical {
        let values = target_out.to_vec2::<f64>()?;
        let classes = values.first().map_or(0, Vec::len);
        let mut onehot = vec![0.0; values.len() * classes];
        for (row, v) in values.iter().enumerate() {
            let best = (0..classes).fold(0, |b, i| if v[i] > v[b] { i } else { b });
            onehot[row * classes + best] = 1.0;
        }
        Some(Tensor::from_vec(
            onehot,
            (values.len(), classes),
            &frozen.device,
        )?)
    } else {
        None
    };

    let rotation = tracr::transform::random_rotation(model.config.d_model, options.seed)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let init = rotation.slice(ndarray::s![.., ..dims]).to_owned();
    let w = Var::from_tensor(&tensor2(&init, &frozen.device)?)?;
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
    let mut m = w.zeros_like()?;
    let mut v = w.zeros_like()?;
    let mut last = f64::NAN;
    for step in 1..=options.steps {
        let (out, residuals) = frozen.forward(inputs, Some(w.as_tensor()))?;
        let out = out.index_select(&keep, 0)?;
        let output_loss = match &target_class {
            Some(onehot) => {
                let max = out.max_keepdim(D::Minus1)?.detach();
                let shifted = out.broadcast_sub(&max)?;
                let log_p =
                    shifted.broadcast_sub(&shifted.exp()?.sum_keepdim(D::Minus1)?.log()?)?;
                (log_p * onehot)?
                    .sum_all()?
                    .affine(-1.0 / out.dim(0)? as f64, 0.0)?
            }
            None => (out - &target_out)?.sqr()?.mean_all()?,
        };
        let mut residual_loss = Tensor::zeros((), DType::F64, &frozen.device)?;
        for (got, want) in residuals.iter().zip(&target_residuals) {
            residual_loss = (residual_loss + (got - want)?.sqr()?.mean_all()?)?;
        }
        let loss = (output_loss + residual_loss.affine(options.residual_weight, 0.0)?)?;
        last = loss.to_scalar::<f64>()?;
        let grads = loss.backward()?;
        let Some(g) = grads.get(w.as_tensor()) else {
            break;
        };
        m = ((&m * beta1)? + (g * (1.0 - beta1))?)?;
        v = ((&v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
        let m_hat = (&m / (1.0 - beta1.powi(step as i32)))?;
        let v_hat = (&v / (1.0 - beta2.powi(step as i32)))?;
        let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
        w.set(&(w.as_tensor() - (update * options.learning_rate)?)?)?;
    }
    let trained = w.as_tensor().to_vec2::<f64>()?;
    let d = model.config.d_model;
    let flat: Vec<f64> = trained.into_iter().flatten().collect();
    let w = Array2::from_shape_vec((d, dims), flat).expect("d x dims entries");
    Ok((w, last))
}

/// Decoded accuracy: the fraction of `inputs` (`[N, S]` ids, BOS first) whose every non-BOS position
/// `model` decodes to `expected` (a RASP evaluation or another model's decoding; `None` positions of
/// `expected` are skipped). Numbers match within Tracr's own test tolerance (atol 1e-7, rtol 0.005:
/// discretising MLPs are approximate by design).
pub fn decoded_accuracy(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    expected: &[Vec<Value>],
) -> Result<f64> {
    let by_id: Vec<Value> = {
        let mut v = vec![Value::None; model.input_encoding.map.len()];
        for (value, id) in &model.input_encoding.map {
            v[*id] = value.clone();
        }
        v
    };
    let mut right = 0usize;
    for (row, want) in inputs.axis_iter(Axis(0)).zip(expected) {
        let tokens: Vec<Value> = row.iter().map(|&id| by_id[id].clone()).collect();
        let got = model.apply(&tokens)?;
        let ok = got.decoded[1..]
            .iter()
            .zip(want)
            .all(|(g, w)| values_match(g, w));
        right += usize::from(ok);
    }
    Ok(right as f64 / inputs.nrows().max(1) as f64)
}

fn values_match(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        _ if *want == Value::None => true,
        (Some(g), Some(w)) if !matches!(want, Value::Str(_)) => {
            (g - w).abs() <= 1e-7 + 0.005 * w.abs()
        }
        _ => got == want,
    }
}

/// The smallest `D` in `1..d_model` whose compression decodes every input as `expected` within the
/// budget `options`, by bisection (assuming, as the search's premise, that a wider residual does no
/// worse). Returns the compression at that `D`, or `None` when even `d_model - 1` does not reach 100 %.
pub fn smallest_exact_compression(
    model: &CompiledModel,
    inputs: &Array2<usize>,
    expected: &[Vec<Value>],
    options: &CompressOptions,
    on_try: &mut dyn FnMut(usize, f64, f64),
) -> Result<Option<(usize, Compressed)>> {
    let d = model.config.d_model;
    if d < 2 {
        return Ok(None);
    }
    let mut attempt = |dims: usize| -> Result<(bool, Compressed)> {
        let c = compress(model, inputs, dims, options)?;
        let accuracy = decoded_accuracy(&c.model, inputs, expected)?;
        on_try(dims, accuracy, c.seconds);
        Ok((accuracy >= 1.0, c))
    };
    let (ok, top) = attempt(d - 1)?;
    if !ok {
        return Ok(None);
    }
    let (mut low, mut best) = (0usize, (d - 1, top));
    while best.0 - low > 1 {
        let mid = (low + best.0) / 2;
        let (ok, c) = attempt(mid)?;
        if ok {
            best = (mid, c);
        } else {
            low = mid;
        }
    }
    Ok(Some(best))
}

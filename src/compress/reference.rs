//! The compression loss through candle's autograd (f64, CPU): the implementation the hand-derived
//! gradient replaced, kept as its check (tests/compression_gradient_matches_autograd.rs) and as the
//! baseline of the step-time ratio (`edgeprune compress --time-steps`).

use candle_core::{DType, Device, Tensor, Var, D};
use ndarray::Array2;
use tracr::model::{CompiledModel, OutputEncoding};

use crate::error::Result;

use super::candle;

/// The compiled model's frozen weights as candle tensors.
struct Frozen {
    device: Device,
    token_embed: Tensor,
    pos_embed: Tensor,
    /// Per layer: query, key, value `[d, H·k]` and their biases, attention output `[H·k, d]` and its
    /// bias, MLP in/out and biases.
    layers: Vec<[Tensor; 12]>,
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
                    tensor1(&l.attn.query_bias, &device)?,
                    tensor2(&l.attn.key, &device)?,
                    tensor1(&l.attn.key_bias, &device)?,
                    tensor2(&l.attn.value, &device)?,
                    tensor1(&l.attn.value_bias, &device)?,
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
        for [wq, bq, wk, bk, wv, bv, wo, bo, wh, bh, wmo, bmo] in &self.layers {
            let x = read(&r)?;
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((n, s, h, k))?.transpose(1, 2)?.contiguous()
            };
            let q = split(x.matmul(wq)?.broadcast_add(bq)?)?;
            let kk = split(x.matmul(wk)?.broadcast_add(bk)?)?;
            let v = split(x.matmul(wv)?.broadcast_add(bv)?)?;
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

/// The compression problem on fixed data with candle tensors: the same loss as [`super::hand::Problem`].
pub struct CandleProblem {
    frozen: Frozen,
    inputs: Array2<usize>,
    keep: Tensor,
    /// One-hot classes (categorical) or values (numerical) on the kept rows.
    target_out: Tensor,
    categorical: bool,
    target_residuals: Vec<Tensor>,
    residual_weight: f64,
}

impl CandleProblem {
    /// The problem of compressing `model` on the `[N, S]` ids `inputs` (BOS first).
    pub fn new(
        model: &CompiledModel,
        inputs: &Array2<usize>,
        residual_weight: f64,
    ) -> Result<Self> {
        Self::build(model, inputs, residual_weight).map_err(candle)
    }

    fn build(
        model: &CompiledModel,
        inputs: &Array2<usize>,
        residual_weight: f64,
    ) -> candle_core::Result<Self> {
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
        let target_out = if categorical {
            let values = target_out.to_vec2::<f64>()?;
            let classes = values.first().map_or(0, Vec::len);
            let mut onehot = vec![0.0; values.len() * classes];
            for (row, v) in values.iter().enumerate() {
                let best = (0..classes).fold(0, |b, i| if v[i] > v[b] { i } else { b });
                onehot[row * classes + best] = 1.0;
            }
            Tensor::from_vec(onehot, (values.len(), classes), &frozen.device)?
        } else {
            target_out
        };
        Ok(Self {
            frozen,
            inputs: inputs.clone(),
            keep,
            target_out,
            categorical,
            target_residuals,
            residual_weight,
        })
    }

    /// The loss at `w` (`[d_model, D]`) and its gradient, by candle's autograd.
    pub fn loss_and_gradient(&self, w: &Array2<f64>) -> Result<(f64, Array2<f64>)> {
        self.autograd(w).map_err(candle)
    }

    fn autograd(&self, w: &Array2<f64>) -> candle_core::Result<(f64, Array2<f64>)> {
        let var = Var::from_tensor(&tensor2(w, &self.frozen.device)?)?;
        let (out, residuals) = self.frozen.forward(&self.inputs, Some(var.as_tensor()))?;
        let out = out.index_select(&self.keep, 0)?;
        let output_loss = if self.categorical {
            let max = out.max_keepdim(D::Minus1)?.detach();
            let shifted = out.broadcast_sub(&max)?;
            let log_p = shifted.broadcast_sub(&shifted.exp()?.sum_keepdim(D::Minus1)?.log()?)?;
            (log_p * &self.target_out)?
                .sum_all()?
                .affine(-1.0 / out.dim(0)? as f64, 0.0)?
        } else {
            (out - &self.target_out)?.sqr()?.mean_all()?
        };
        let mut residual_loss = Tensor::zeros((), DType::F64, &self.frozen.device)?;
        for (got, want) in residuals.iter().zip(&self.target_residuals) {
            residual_loss = (residual_loss + (got - want)?.sqr()?.mean_all()?)?;
        }
        let loss = (output_loss + residual_loss.affine(self.residual_weight, 0.0)?)?;
        let value = loss.to_scalar::<f64>()?;
        let grads = loss.backward()?;
        let gradient = match grads.get(var.as_tensor()) {
            Some(g) => {
                let flat: Vec<f64> = g.to_vec2::<f64>()?.into_iter().flatten().collect();
                Array2::from_shape_vec(w.dim(), flat).expect("d x dims entries")
            }
            None => Array2::zeros(w.dim()),
        };
        Ok((value, gradient))
    }
}

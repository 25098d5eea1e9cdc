//! The compression loss and its hand-derived gradient on ndarray, in f64.
//!
//! Only `W` trains, and the model reads `r · Wᵀ` everywhere it reads the residual, so the forward can
//! run on the read-back residual `y = r · Wᵀ` (width d_model): `y₀ = E · P` and every half-layer
//! `y ← y + f(y) · P`, with `P = W · Wᵀ`. The loss depends on `W` only through `P`; with `G = ∂L/∂P`
//! (one `fᵀ · ∂L/∂y` per write, and `Eᵀ · ∂L/∂y₀`), `∂L/∂W = (G + Gᵀ) · W`. Backpropagating through
//! the frozen blocks is the usual relu-MLP and softmax-attention algebra, written out below; a test
//! checks it against candle's autograd of the same loss ([`super::reference`]).

use ndarray::{Array1, Array2};
use tracr::model::{CompiledModel, OutputEncoding};

/// The frozen weights of one layer.
struct Layer {
    query: Array2<f64>,
    query_bias: Array1<f64>,
    key: Array2<f64>,
    key_bias: Array1<f64>,
    value: Array2<f64>,
    value_bias: Array1<f64>,
    output: Array2<f64>,
    output_bias: Array1<f64>,
    hidden: Array2<f64>,
    hidden_bias: Array1<f64>,
    mlp_output: Array2<f64>,
    mlp_output_bias: Array1<f64>,
}

/// What the compressed outputs are trained towards on the non-BOS rows.
enum Target {
    /// The compiled model's class per kept row (ties to the first index, as decoding does).
    Classes(Vec<usize>),
    /// The compiled model's output values `[kept rows, outputs]`.
    Values(Array2<f64>),
}

/// One half-layer's forward values that the backward needs.
enum Half {
    Attention {
        q: Array2<f64>,
        k: Array2<f64>,
        v: Array2<f64>,
        /// Attention weights, `[N, H, S, S]` flattened.
        weights: Vec<f64>,
        /// The block's output `[N·S, d]`, before `· P`.
        out: Array2<f64>,
    },
    Mlp {
        /// Pre-activation `[N·S, hidden]`.
        pre: Array2<f64>,
        out: Array2<f64>,
    },
}

struct Pass {
    halves: Vec<Half>,
    /// The read-back residual after each half-layer.
    residuals: Vec<Array2<f64>>,
    /// The final read-back residual.
    last: Array2<f64>,
}

/// The compression problem on fixed data: the frozen model, the inputs' embeddings and the compiled
/// model's own outputs and residuals as targets.
pub struct Problem {
    embedded: Array2<f64>,
    n: usize,
    s: usize,
    layers: Vec<Layer>,
    outputs: Vec<usize>,
    heads: usize,
    key_size: usize,
    scale: f64,
    causal: bool,
    residual_weight: f64,
    /// Non-BOS rows of the flattened `[N·S, ..]` arrays.
    keep: Vec<usize>,
    target: Target,
    target_residuals: Vec<Array2<f64>>,
}

impl Problem {
    /// The problem of compressing `model` on the `[N, S]` ids `inputs` (BOS first), the residual MSE
    /// weighted by `residual_weight`.
    pub fn new(model: &CompiledModel, inputs: &Array2<usize>, residual_weight: f64) -> Self {
        let (n, s) = inputs.dim();
        let d = model.config.d_model;
        let mut embedded = Array2::zeros((n * s, d));
        for ((row, pos), &id) in inputs.indexed_iter() {
            let mut e = embedded.row_mut(row * s + pos);
            e += &model.token_embed.row(id);
            e += &model.pos_embed.row(pos);
        }
        let layers = model
            .weights
            .iter()
            .map(|l| Layer {
                query: l.attn.query.clone(),
                query_bias: l.attn.query_bias.clone(),
                key: l.attn.key.clone(),
                key_bias: l.attn.key_bias.clone(),
                value: l.attn.value.clone(),
                value_bias: l.attn.value_bias.clone(),
                output: l.attn.output.clone(),
                output_bias: l.attn.output_bias.clone(),
                hidden: l.mlp.hidden.clone(),
                hidden_bias: l.mlp.hidden_bias.clone(),
                mlp_output: l.mlp.output.clone(),
                mlp_output_bias: l.mlp.output_bias.clone(),
            })
            .collect();
        let keep: Vec<usize> = (0..n * s).filter(|row| row % s != 0).collect();
        let mut problem = Self {
            embedded,
            n,
            s,
            layers,
            outputs: model.output_residual_indices.clone(),
            heads: model.config.num_heads,
            key_size: model.config.key_size,
            scale: 1.0 / (model.config.key_size as f64).sqrt(),
            causal: model.config.causal,
            residual_weight,
            keep,
            target: Target::Values(Array2::zeros((0, 0))),
            target_residuals: Vec::new(),
        };
        let pass = problem.forward(None);
        let last = &pass.last;
        let values =
            Array2::from_shape_fn((problem.keep.len(), problem.outputs.len()), |(r, c)| {
                last[(problem.keep[r], problem.outputs[c])]
            });
        problem.target = match model.output_encoding {
            OutputEncoding::Categorical(_) => Target::Classes(
                values
                    .rows()
                    .into_iter()
                    .map(|v| (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b }))
                    .collect(),
            ),
            _ => Target::Values(values),
        };
        problem.target_residuals = pass.residuals;
        problem
    }

    /// The compiled residual width.
    pub fn d_model(&self) -> usize {
        self.embedded.ncols()
    }

    /// The loss at `w` (`[d_model, D]`) and its gradient with respect to `w`.
    pub fn loss_and_gradient(&self, w: &Array2<f64>) -> (f64, Array2<f64>) {
        let p = w.dot(&w.t());
        let pass = self.forward(Some(&p));
        let (rows, d) = self.embedded.dim();
        // Residual MSE: mean over every row and dimension, summed over half-layers.
        let count = (rows * d) as f64;
        let mut loss = 0.0;
        let mut residual_grads = Vec::with_capacity(pass.residuals.len());
        for (got, want) in pass.residuals.iter().zip(&self.target_residuals) {
            let diff = got - want;
            loss += self.residual_weight * diff.iter().map(|x| x * x).sum::<f64>() / count;
            residual_grads.push(diff * (2.0 * self.residual_weight / count));
        }
        let last = &pass.last;
        let mut gy = Array2::<f64>::zeros((rows, d));
        let kept = self.keep.len() as f64;
        match &self.target {
            Target::Classes(classes) => {
                for (&row, &class) in self.keep.iter().zip(classes) {
                    let logits: Vec<f64> = self.outputs.iter().map(|&c| last[(row, c)]).collect();
                    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = logits.iter().map(|x| (x - max).exp()).sum();
                    let log_sum = max + sum.ln();
                    loss += (log_sum - logits[class]) / kept;
                    for (j, (&c, &x)) in self.outputs.iter().zip(&logits).enumerate() {
                        let softmax = (x - log_sum).exp();
                        let onehot = if j == class { 1.0 } else { 0.0 };
                        gy[(row, c)] += (softmax - onehot) / kept;
                    }
                }
            }
            Target::Values(values) => {
                let cells = kept * self.outputs.len() as f64;
                for (&row, want) in self.keep.iter().zip(values.rows()) {
                    for (&c, &w) in self.outputs.iter().zip(want) {
                        let diff = last[(row, c)] - w;
                        loss += diff * diff / cells;
                        gy[(row, c)] += 2.0 * diff / cells;
                    }
                }
            }
        }
        let mut gp = Array2::<f64>::zeros((d, d));
        for (index, half) in pass.halves.iter().enumerate().rev() {
            gy += &residual_grads[index];
            let layer = &self.layers[index / 2];
            let out = match half {
                Half::Attention { out, .. } | Half::Mlp { out, .. } => out,
            };
            gp += &out.t().dot(&gy);
            let g_out = gy.dot(&p);
            let gx = match half {
                Half::Attention {
                    q, k, v, weights, ..
                } => {
                    let g_mixed = g_out.dot(&layer.output.t());
                    let (gq, gk, gv) = self.attention_backward(q, k, v, weights, &g_mixed);
                    gq.dot(&layer.query.t()) + gk.dot(&layer.key.t()) + gv.dot(&layer.value.t())
                }
                Half::Mlp { pre, .. } => {
                    let mut g_pre = g_out.dot(&layer.mlp_output.t());
                    g_pre.zip_mut_with(pre, |g, &x| {
                        if x <= 0.0 {
                            *g = 0.0;
                        }
                    });
                    g_pre.dot(&layer.hidden.t())
                }
            };
            gy += &gx;
        }
        gp += &self.embedded.t().dot(&gy);
        let grad = (&gp + &gp.t()).dot(w);
        (loss, grad)
    }

    /// The read-back residuals through every half-layer with `p = W·Wᵀ` (`None`: the compiled model).
    fn forward(&self, p: Option<&Array2<f64>>) -> Pass {
        let through = |x: Array2<f64>| match p {
            Some(p) => x.dot(p),
            None => x,
        };
        let mut y = through(self.embedded.clone());
        let mut halves = Vec::with_capacity(2 * self.layers.len());
        let mut residuals = Vec::with_capacity(2 * self.layers.len());
        for layer in &self.layers {
            let q = y.dot(&layer.query) + &layer.query_bias;
            let k = y.dot(&layer.key) + &layer.key_bias;
            let v = y.dot(&layer.value) + &layer.value_bias;
            let (weights, mixed) = self.attention(&q, &k, &v);
            let out = mixed.dot(&layer.output) + &layer.output_bias;
            y = y + through(out.clone());
            residuals.push(y.clone());
            halves.push(Half::Attention {
                q,
                k,
                v,
                weights,
                out,
            });
            let pre = y.dot(&layer.hidden) + &layer.hidden_bias;
            let out = pre.mapv(|x| x.max(0.0)).dot(&layer.mlp_output) + &layer.mlp_output_bias;
            y = y + through(out.clone());
            residuals.push(y.clone());
            halves.push(Half::Mlp { pre, out });
        }
        Pass {
            halves,
            residuals,
            last: y,
        }
    }

    /// Keys visible to query position `i`.
    fn visible(&self, i: usize) -> usize {
        if self.causal {
            i + 1
        } else {
            self.s
        }
    }

    /// Softmax attention of every input and head: the weights `[N, H, S, S]` and the mixed values.
    fn attention(
        &self,
        q: &Array2<f64>,
        k: &Array2<f64>,
        v: &Array2<f64>,
    ) -> (Vec<f64>, Array2<f64>) {
        let (n, s, h, ks) = (self.n, self.s, self.heads, self.key_size);
        let mut weights = vec![0.0; n * h * s * s];
        let mut mixed = Array2::zeros(q.raw_dim());
        let mut logits = vec![0.0; s];
        for b in 0..n {
            for head in 0..h {
                let cols = head * ks..(head + 1) * ks;
                for i in 0..s {
                    let row = b * s + i;
                    let qi = q.row(row);
                    let qi = qi.slice(ndarray::s![cols.clone()]);
                    let visible = self.visible(i);
                    for (j, logit) in logits.iter_mut().enumerate().take(visible) {
                        let kj = k.row(b * s + j);
                        *logit = self.scale * qi.dot(&kj.slice(ndarray::s![cols.clone()]));
                    }
                    let max = logits[..visible]
                        .iter()
                        .copied()
                        .fold(f64::NEG_INFINITY, f64::max);
                    let base = ((b * h + head) * s + i) * s;
                    let a = &mut weights[base..base + s];
                    let mut sum = 0.0;
                    for j in 0..visible {
                        a[j] = (logits[j] - max).exp();
                        sum += a[j];
                    }
                    for x in &mut a[..visible] {
                        *x /= sum;
                    }
                    let mut out = mixed.row_mut(row);
                    let mut out = out.slice_mut(ndarray::s![cols.clone()]);
                    for (j, &weight) in a.iter().enumerate().take(visible) {
                        out.scaled_add(weight, &v.row(b * s + j).slice(ndarray::s![cols.clone()]));
                    }
                }
            }
        }
        (weights, mixed)
    }

    /// Gradients of `q`, `k`, `v` given the gradient of the mixed values.
    fn attention_backward(
        &self,
        q: &Array2<f64>,
        k: &Array2<f64>,
        v: &Array2<f64>,
        weights: &[f64],
        g_mixed: &Array2<f64>,
    ) -> (Array2<f64>, Array2<f64>, Array2<f64>) {
        let (n, s, h, ks) = (self.n, self.s, self.heads, self.key_size);
        let mut gq = Array2::zeros(q.raw_dim());
        let mut gk = Array2::zeros(k.raw_dim());
        let mut gv = Array2::zeros(v.raw_dim());
        let mut g_logits = vec![0.0; s];
        for b in 0..n {
            for head in 0..h {
                let cols = ndarray::s![head * ks..(head + 1) * ks];
                for i in 0..s {
                    let row = b * s + i;
                    let visible = self.visible(i);
                    let base = ((b * h + head) * s + i) * s;
                    let a = &weights[base..base + visible];
                    let go = g_mixed.row(row);
                    let go = go.slice(cols);
                    // ∂L/∂A_ij = ⟨g_out_i, v_j⟩; softmax: ∂L/∂logit_ij = A_ij (∂L/∂A_ij − Σ_j' A_ij' ∂L/∂A_ij').
                    let mut weighted = 0.0;
                    for (j, &weight) in a.iter().enumerate() {
                        let jrow = b * s + j;
                        let ga = go.dot(&v.row(jrow).slice(cols));
                        g_logits[j] = ga;
                        weighted += weight * ga;
                        gv.row_mut(jrow).slice_mut(cols).scaled_add(weight, &go);
                    }
                    for (j, &weight) in a.iter().enumerate() {
                        let gl = self.scale * weight * (g_logits[j] - weighted);
                        if gl == 0.0 {
                            continue;
                        }
                        let jrow = b * s + j;
                        gq.row_mut(row)
                            .slice_mut(cols)
                            .scaled_add(gl, &k.row(jrow).slice(cols));
                        gk.row_mut(jrow)
                            .slice_mut(cols)
                            .scaled_add(gl, &q.row(row).slice(cols));
                    }
                }
            }
        }
        (gq, gk, gv)
    }
}

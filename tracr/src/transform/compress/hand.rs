//! The compression loss and its hand-derived gradient on ndarray, in f64.
//!
//! Only `W` trains, and the model reads `r · Wᵀ` everywhere it reads the residual, so the forward can
//! run on the read-back residual `y = r · Wᵀ` (width d_model): `y₀ = E · P` and every half-layer
//! `y ← y + f(y) · P`, with `P = W · Wᵀ`. The loss depends on `W` only through `P`; with `G = ∂L/∂P`
//! (one `fᵀ · ∂L/∂y` per write, and `Eᵀ · ∂L/∂y₀`), `∂L/∂W = (G + Gᵀ) · W`. Backpropagating through
//! the frozen blocks is the usual relu-MLP and softmax-attention algebra, written out below; a test
//! checks it against candle's autograd of the same loss (`edgeprune::compress::reference` in the root crate).

use crate::model::{AttentionWeights, CompiledModel, MlpWeights, OutputEncoding};
use ndarray::{Array1, Array2, Axis};

/// One half-layer's frozen weights, cut to the residual dimensions it reads (`reads`: the non-zero
/// rows of its input matrices) and writes (`writes`: the non-zero columns of its output matrix and
/// bias). Compiled weights are sparse, so this skips most of every product; a dense (rotated or
/// perturbed) model keeps every dimension and stays exact.
struct Block {
    reads: Vec<usize>,
    writes: Vec<usize>,
    kind: BlockKind,
}

enum BlockKind {
    /// Query, key, value `[reads, H·k]` and their biases; output `[H·k, writes]` and its bias.
    Attention(Box<AttentionWeights>),
    /// Hidden `[reads, hidden]` and its bias; output `[hidden, writes]` and its bias.
    Mlp(Box<MlpWeights>),
}

/// Indices of the rows of `matrices` that are non-zero in any of them.
fn nonzero_rows(matrices: &[&Array2<f64>], rows: usize) -> Vec<usize> {
    (0..rows)
        .filter(|&i| matrices.iter().any(|m| m.row(i).iter().any(|&x| x != 0.0)))
        .collect()
}

/// Indices of the columns of `matrix` or entries of `bias` that are non-zero.
fn nonzero_columns(matrix: &Array2<f64>, bias: &Array1<f64>) -> Vec<usize> {
    (0..matrix.ncols())
        .filter(|&j| bias[j] != 0.0 || matrix.column(j).iter().any(|&x| x != 0.0))
        .collect()
}

impl Block {
    fn attention(l: &AttentionWeights, d: usize) -> Self {
        let reads = nonzero_rows(&[&l.query, &l.key, &l.value], d);
        let writes = nonzero_columns(&l.output, &l.output_bias);
        let rows = |m: &Array2<f64>| m.select(Axis(0), &reads);
        Self {
            kind: BlockKind::Attention(Box::new(AttentionWeights {
                query: rows(&l.query),
                query_bias: l.query_bias.clone(),
                key: rows(&l.key),
                key_bias: l.key_bias.clone(),
                value: rows(&l.value),
                value_bias: l.value_bias.clone(),
                output: l.output.select(Axis(1), &writes),
                output_bias: l.output_bias.select(Axis(0), &writes),
            })),
            reads,
            writes,
        }
    }

    fn mlp(l: &MlpWeights, d: usize) -> Self {
        let reads = nonzero_rows(&[&l.hidden], d);
        let writes = nonzero_columns(&l.output, &l.output_bias);
        Self {
            kind: BlockKind::Mlp(Box::new(MlpWeights {
                hidden: l.hidden.select(Axis(0), &reads),
                hidden_bias: l.hidden_bias.clone(),
                output: l.output.select(Axis(1), &writes),
                output_bias: l.output_bias.select(Axis(0), &writes),
            })),
            reads,
            writes,
        }
    }
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
        /// The block's output on its written dimensions `[N·S, writes]`, before `· P`.
        out: Array2<f64>,
    },
    Mlp {
        /// Pre-activation `[N·S, hidden]`.
        pre: Array2<f64>,
        out: Array2<f64>,
    },
}

impl Half {
    /// The block's output on its written dimensions `[N·S, writes]`.
    fn out(&self) -> &Array2<f64> {
        match self {
            Half::Attention { out, .. } | Half::Mlp { out, .. } => out,
        }
    }
}

struct Pass {
    /// `None` for a block that writes nothing (the residual passes unchanged).
    halves: Vec<Option<Half>>,
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
    /// Attention and MLP of every layer, in order.
    blocks: Vec<Block>,
    outputs: Vec<usize>,
    heads: usize,
    key_size: usize,
    scale: f64,
    causal: bool,
    residual_weight: f64,
    output_weight: f64,
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
        let blocks = model
            .weights
            .iter()
            .flat_map(|l| [Block::attention(&l.attn, d), Block::mlp(&l.mlp, d)])
            .collect();
        let keep: Vec<usize> = (0..n * s).filter(|row| row % s != 0).collect();
        let mut problem = Self {
            embedded,
            n,
            s,
            blocks,
            outputs: model.output_residual_indices.clone(),
            heads: model.config.num_heads,
            key_size: model.config.key_size,
            scale: 1.0 / (model.config.key_size as f64).sqrt(),
            causal: model.config.causal,
            residual_weight,
            output_weight: 1.0,
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

    /// The same problem with the output loss weighted by `weight` (1 by default).
    pub fn with_output_weight(mut self, weight: f64) -> Self {
        self.output_weight = weight;
        self
    }

    /// The loss at `w` (`[d_model, D]`) and its gradient with respect to `w`.
    pub fn loss_and_gradient(&self, w: &Array2<f64>) -> (f64, Array2<f64>) {
        let (loss, gradient, _) = self.evaluate(w);
        (loss, gradient)
    }

    /// The loss, its gradient, and whether every kept output decodes as the compiled model's does
    /// (the same class; a number within [`super::numbers_match`]).
    pub fn evaluate(&self, w: &Array2<f64>) -> (f64, Array2<f64>, bool) {
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
        // Mean over kept rows (and outputs), times the output weight.
        let per_row = self.output_weight / self.keep.len() as f64;
        let mut agrees = true;
        match &self.target {
            Target::Classes(classes) => {
                for (&row, &class) in self.keep.iter().zip(classes) {
                    let logits: Vec<f64> = self.outputs.iter().map(|&c| last[(row, c)]).collect();
                    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = logits.iter().map(|x| (x - max).exp()).sum();
                    let log_sum = max + sum.ln();
                    let best =
                        (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
                    agrees &= best == class;
                    loss += (log_sum - logits[class]) * per_row;
                    for (j, (&c, &x)) in self.outputs.iter().zip(&logits).enumerate() {
                        let softmax = (x - log_sum).exp();
                        let onehot = if j == class { 1.0 } else { 0.0 };
                        gy[(row, c)] += (softmax - onehot) * per_row;
                    }
                }
            }
            Target::Values(values) => {
                let per_cell = per_row / self.outputs.len() as f64;
                for (&row, want) in self.keep.iter().zip(values.rows()) {
                    for (&c, &w) in self.outputs.iter().zip(want) {
                        let diff = last[(row, c)] - w;
                        agrees &= super::numbers_match(last[(row, c)], w);
                        loss += diff * diff * per_cell;
                        gy[(row, c)] += 2.0 * diff * per_cell;
                    }
                }
            }
        }
        let mut gp = Array2::<f64>::zeros((d, d));
        for ((half, block), residual_grad) in pass
            .halves
            .iter()
            .zip(&self.blocks)
            .zip(&residual_grads)
            .rev()
        {
            gy += residual_grad;
            let Some(half) = half else { continue };
            let out = half.out();
            // y ← y + out·P[writes, :]: ∂L/∂P[writes, :] += outᵀ·∂L/∂y, ∂L/∂out = ∂L/∂y·P[:, writes].
            let g_rows = out.t().dot(&gy);
            for (r, &i) in block.writes.iter().enumerate() {
                let mut row = gp.row_mut(i);
                row += &g_rows.row(r);
            }
            let g_out = gy.dot(&p.select(Axis(1), &block.writes));
            let gx = match (half, &block.kind) {
                (
                    Half::Attention {
                        q, k, v, weights, ..
                    },
                    BlockKind::Attention(a),
                ) => {
                    let g_mixed = g_out.dot(&a.output.t());
                    let (gq, gk, gv) = self.attention_backward(q, k, v, weights, &g_mixed);
                    gq.dot(&a.query.t()) + gk.dot(&a.key.t()) + gv.dot(&a.value.t())
                }
                (Half::Mlp { pre, .. }, BlockKind::Mlp(m)) => {
                    let mut g_pre = g_out.dot(&m.output.t());
                    g_pre.zip_mut_with(pre, |g, &x| {
                        if x <= 0.0 {
                            *g = 0.0;
                        }
                    });
                    g_pre.dot(&m.hidden.t())
                }
                _ => unreachable!("each half is cached by its own block's kind"),
            };
            for (c, &j) in block.reads.iter().enumerate() {
                let mut column = gy.column_mut(j);
                column += &gx.column(c);
            }
        }
        gp += &self.embedded.t().dot(&gy);
        let grad = (&gp + &gp.t()).dot(w);
        (loss, grad, agrees)
    }

    /// The read-back residuals through every half-layer with `p = W·Wᵀ` (`None`: the compiled model).
    fn forward(&self, p: Option<&Array2<f64>>) -> Pass {
        let mut y = match p {
            Some(p) => self.embedded.dot(p),
            None => self.embedded.clone(),
        };
        let mut halves = Vec::with_capacity(self.blocks.len());
        let mut residuals = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            if block.writes.is_empty() {
                halves.push(None);
                residuals.push(y.clone());
                continue;
            }
            let x = y.select(Axis(1), &block.reads);
            let half = match &block.kind {
                BlockKind::Attention(a) => {
                    let q = x.dot(&a.query) + &a.query_bias;
                    let k = x.dot(&a.key) + &a.key_bias;
                    let v = x.dot(&a.value) + &a.value_bias;
                    let (weights, mixed) = self.attention(&q, &k, &v);
                    let out = mixed.dot(&a.output) + &a.output_bias;
                    Half::Attention {
                        q,
                        k,
                        v,
                        weights,
                        out,
                    }
                }
                BlockKind::Mlp(m) => {
                    let pre = x.dot(&m.hidden) + &m.hidden_bias;
                    let out = pre.mapv(|x| x.max(0.0)).dot(&m.output) + &m.output_bias;
                    Half::Mlp { pre, out }
                }
            };
            let out = half.out();
            match p {
                Some(p) => y += &out.dot(&p.select(Axis(0), &block.writes)),
                None => {
                    for (c, &j) in block.writes.iter().enumerate() {
                        let mut column = y.column_mut(j);
                        column += &out.column(c);
                    }
                }
            }
            residuals.push(y.clone());
            halves.push(Some(half));
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
        let width = h * ks;
        let (q, k, v) = (
            q.as_standard_layout(),
            k.as_standard_layout(),
            v.as_standard_layout(),
        );
        let (q, k, v) = (flat(&q), flat(&k), flat(&v));
        let mut weights = vec![0.0; n * h * s * s];
        let mut mixed = vec![0.0; n * s * width];
        for b in 0..n {
            for head in 0..h {
                let at = |row: usize| (b * s + row) * width + head * ks;
                for i in 0..s {
                    let visible = self.visible(i);
                    let qi = &q[at(i)..at(i) + ks];
                    let base = ((b * h + head) * s + i) * s;
                    let a = &mut weights[base..base + visible];
                    for (j, logit) in a.iter_mut().enumerate() {
                        let kj = &k[at(j)..at(j) + ks];
                        *logit = self.scale * qi.iter().zip(kj).map(|(x, y)| x * y).sum::<f64>();
                    }
                    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let mut sum = 0.0;
                    for x in a.iter_mut() {
                        *x = (*x - max).exp();
                        sum += *x;
                    }
                    for x in a.iter_mut() {
                        *x /= sum;
                    }
                    let out = &mut mixed[at(i)..at(i) + ks];
                    for (j, &weight) in a.iter().enumerate() {
                        for (o, x) in out.iter_mut().zip(&v[at(j)..at(j) + ks]) {
                            *o += weight * x;
                        }
                    }
                }
            }
        }
        let mixed = Array2::from_shape_vec((n * s, width), mixed).expect("N·S x H·k entries");
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
        let width = h * ks;
        let (q, k, v) = (
            q.as_standard_layout(),
            k.as_standard_layout(),
            v.as_standard_layout(),
        );
        let (q, k, v) = (flat(&q), flat(&k), flat(&v));
        let g_mixed = g_mixed.as_standard_layout();
        let go_all = flat(&g_mixed);
        let mut gq = vec![0.0; q.len()];
        let mut gk = vec![0.0; k.len()];
        let mut gv = vec![0.0; v.len()];
        let mut g_logits = vec![0.0; s];
        for b in 0..n {
            for head in 0..h {
                let at = |row: usize| (b * s + row) * width + head * ks;
                for i in 0..s {
                    let visible = self.visible(i);
                    let base = ((b * h + head) * s + i) * s;
                    let a = &weights[base..base + visible];
                    let go = &go_all[at(i)..at(i) + ks];
                    // ∂L/∂A_ij = ⟨g_out_i, v_j⟩; softmax: ∂L/∂logit_ij = A_ij (∂L/∂A_ij − Σ_j' A_ij' ∂L/∂A_ij').
                    let mut weighted = 0.0;
                    for (j, &weight) in a.iter().enumerate() {
                        let vj = &v[at(j)..at(j) + ks];
                        let ga = go.iter().zip(vj).map(|(x, y)| x * y).sum::<f64>();
                        g_logits[j] = ga;
                        weighted += weight * ga;
                        for (g, x) in gv[at(j)..at(j) + ks].iter_mut().zip(go) {
                            *g += weight * x;
                        }
                    }
                    for (j, &weight) in a.iter().enumerate() {
                        let gl = self.scale * weight * (g_logits[j] - weighted);
                        if gl == 0.0 {
                            continue;
                        }
                        for c in 0..ks {
                            gq[at(i) + c] += gl * k[at(j) + c];
                            gk[at(j) + c] += gl * q[at(i) + c];
                        }
                    }
                }
            }
        }
        let shape = (n * s, width);
        let array = |x: Vec<f64>| Array2::from_shape_vec(shape, x).expect("N·S x H·k entries");
        (array(gq), array(gk), array(gv))
    }
}

/// The entries of a standard-layout matrix, row-major.
fn flat<'a>(a: &'a ndarray::CowArray<'_, f64, ndarray::Ix2>) -> &'a [f64] {
    a.as_slice()
        .expect("as_standard_layout gives a contiguous row-major array")
}

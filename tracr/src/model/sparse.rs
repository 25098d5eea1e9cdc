//! A faster forward for repeated calls: every product restricted to the weights' non-zero rows and columns.
//!
//! A compiled Tracr model is very sparse (a head reads a handful of its residual dimensions, an MLP writes
//! only its node's). Skipped rows and columns contribute exact zeros, so the result differs from the dense
//! forward only by summation order. Preparing costs one scan of the weights; `apply` then reuses it.

use ndarray::{s, Array1, Array2, Axis};

use super::forward::ModelOutput;
use super::CompiledModel;
use crate::error::Result;
use crate::value::Value;

/// One product `x · W + b` restricted to `rows` of the input and `cols` of the output.
#[derive(Debug, Clone)]
struct Restricted {
    rows: Vec<usize>,
    cols: Vec<usize>,
    weight: Array2<f64>,
    bias: Array1<f64>,
}

impl Restricted {
    /// Keeps the non-zero rows, and the columns that are non-zero in the weight or bias (plus `extra_cols`).
    fn new(
        weight: ndarray::ArrayView2<f64>,
        bias: ndarray::ArrayView1<f64>,
        extra_cols: &[usize],
    ) -> Self {
        let rows: Vec<usize> = (0..weight.nrows())
            .filter(|&i| weight.row(i).iter().any(|&v| v != 0.0))
            .collect();
        let mut cols: Vec<usize> = (0..weight.ncols())
            .filter(|&j| bias[j] != 0.0 || weight.column(j).iter().any(|&v| v != 0.0))
            .chain(extra_cols.iter().copied())
            .collect();
        cols.sort_unstable();
        cols.dedup();
        let weight = weight.select(Axis(0), &rows).select(Axis(1), &cols);
        let bias = bias.select(Axis(0), &cols);
        Self {
            rows,
            cols,
            weight,
            bias,
        }
    }

    /// `x[:, rows] · W[rows, cols] + b[cols]`, as `[T, cols]`.
    fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        x.select(Axis(1), &self.rows).dot(&self.weight) + &self.bias
    }

    fn nonzero_cols(weight: ndarray::ArrayView2<f64>) -> Vec<usize> {
        (0..weight.ncols())
            .filter(|&j| weight.column(j).iter().any(|&v| v != 0.0))
            .collect()
    }
}

#[derive(Debug, Clone)]
struct SparseHead {
    query: Restricted,
    key: Restricted,
    value: Restricted,
    /// `W_O` rows at the value columns kept, restricted to its non-zero output columns.
    output: Restricted,
}

#[derive(Debug, Clone)]
struct SparseLayer {
    heads: Vec<SparseHead>,
    attention_bias: Array1<f64>,
    hidden: Restricted,
    output: Restricted,
}

/// A compiled model prepared for fast repeated forwards.
#[derive(Debug, Clone)]
pub struct SparseModel<'a> {
    model: &'a CompiledModel,
    layers: Vec<SparseLayer>,
}

impl CompiledModel {
    /// Prepares the sparse forward (one scan of the weights).
    pub fn sparse(&self) -> SparseModel<'_> {
        let ks = self.config.key_size;
        let layers = self
            .weights
            .iter()
            .map(|layer| {
                let a = &layer.attn;
                let heads = (0..self.config.num_heads)
                    .map(|h| {
                        let cols = s![.., h * ks..(h + 1) * ks];
                        let bias = s![h * ks..(h + 1) * ks];
                        // q and k must keep the same key dimensions for their dot product.
                        let mut shared = Restricted::nonzero_cols(a.query.slice(cols));
                        shared.extend(Restricted::nonzero_cols(a.key.slice(cols)));
                        let query =
                            Restricted::new(a.query.slice(cols), a.query_bias.slice(bias), &shared);
                        let key =
                            Restricted::new(a.key.slice(cols), a.key_bias.slice(bias), &shared);
                        let value =
                            Restricted::new(a.value.slice(cols), a.value_bias.slice(bias), &[]);
                        let w_o = a
                            .output
                            .slice(s![h * ks..(h + 1) * ks, ..])
                            .select(Axis(0), &value.cols);
                        let zero = Array1::zeros(w_o.ncols());
                        let mut output = Restricted::new(w_o.view(), zero.view(), &[]);
                        // Rows of W_O follow the value columns kept, all of them (an all-zero row is harmless).
                        output.rows = (0..value.cols.len()).collect();
                        output.weight = w_o.select(Axis(1), &output.cols);
                        SparseHead {
                            query,
                            key,
                            value,
                            output,
                        }
                    })
                    .collect();
                let m = &layer.mlp;
                let hidden = Restricted::new(m.hidden.view(), m.hidden_bias.view(), &[]);
                let w_out = m.output.select(Axis(0), &hidden.cols);
                let mut output = Restricted::new(w_out.view(), m.output_bias.view(), &[]);
                output.rows = (0..hidden.cols.len()).collect();
                output.weight = w_out.select(Axis(1), &output.cols);
                SparseLayer {
                    heads,
                    attention_bias: a.output_bias.clone(),
                    hidden,
                    output,
                }
            })
            .collect();
        SparseModel {
            model: self,
            layers,
        }
    }
}

impl SparseModel<'_> {
    /// The same as [`CompiledModel::apply`] (up to summation order), faster on repeated calls.
    pub fn apply(&self, tokens: &[Value]) -> Result<ModelOutput> {
        let model = self.model;
        let ids = model.encode(tokens)?;
        let t = ids.len();
        let scale = (model.config.key_size as f64).sqrt();
        let mut x = model.embed(&ids);
        for layer in &self.layers {
            let mut update = Array2::<f64>::zeros(x.raw_dim());
            for head in &layer.heads {
                if head.output.cols.is_empty() {
                    continue;
                }
                let q = head.query.apply(&x);
                let k = head.key.apply(&x);
                let v = head.value.apply(&x);
                let mut weights = q.dot(&k.t()) / scale;
                if model.config.causal {
                    for i in 0..t {
                        for j in i + 1..t {
                            weights[[i, j]] = -1e30;
                        }
                    }
                }
                for mut row in weights.rows_mut() {
                    let max = row.fold(f64::NEG_INFINITY, |m, &z| m.max(z));
                    row.mapv_inplace(|z| (z - max).exp());
                    let sum = row.sum();
                    row /= sum;
                }
                let written = weights.dot(&v).dot(&head.output.weight);
                for (c, &dim) in head.output.cols.iter().enumerate() {
                    let mut column = update.column_mut(dim);
                    column += &written.column(c);
                }
            }
            x = x + update + &layer.attention_bias;
            if !layer.output.cols.is_empty() {
                let hidden = layer.hidden.apply(&x).mapv(|z| z.max(0.0));
                let written = hidden.dot(&layer.output.weight) + &layer.output.bias;
                for (c, &dim) in layer.output.cols.iter().enumerate() {
                    let mut column = x.column_mut(dim);
                    column += &written.column(c);
                }
            }
        }
        let (unembedded, decoded) = model.decode(&x);
        Ok(ModelOutput {
            decoded,
            unembedded,
            trace: None,
        })
    }
}

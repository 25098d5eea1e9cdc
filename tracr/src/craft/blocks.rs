//! Transformer building blocks over named spaces (Tracr's `craft.transformers`).

use ndarray::Array2;

use super::bases::{join_vector_spaces, VectorSpace};
use super::linear::{project, Linear, ScalarBilinear};
use crate::error::{Error, Result};

/// One attention head: logits `q W_qk kᵀ` (no scaling in craft), values written through `W_ov`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionHead {
    /// The query–key form.
    pub w_qk: ScalarBilinear,
    /// The value–output map.
    pub w_ov: Linear,
    /// The residual subspace the head lives in (overwritten with the model's during allocation).
    pub residual_space: VectorSpace,
    /// Whether the head masks future positions.
    pub causal: bool,
}

impl AttentionHead {
    /// A head whose residual space is the join of its four spaces.
    pub fn new(w_qk: ScalarBilinear, w_ov: Linear, causal: bool) -> Self {
        let residual_space = join_vector_spaces(&[
            &w_qk.left_space,
            &w_qk.right_space,
            &w_ov.input_space,
            &w_ov.output_space,
        ]);
        AttentionHead {
            w_qk,
            w_ov,
            residual_space,
            causal,
        }
    }
}

/// Heads applied in parallel and summed.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiAttentionHead {
    /// The heads, in allocation order.
    pub heads: Vec<AttentionHead>,
}

/// An MLP `snd(relu(fst(x)))`; `fst`'s output space is the hidden layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Residual → hidden.
    pub fst: Linear,
    /// Hidden → residual.
    pub snd: Linear,
    /// The residual subspace the MLP lives in.
    pub residual_space: VectorSpace,
}

impl Mlp {
    /// An MLP whose residual space is `fst`'s input joined with `snd`'s output.
    pub fn new(fst: Linear, snd: Linear) -> Result<Self> {
        if fst.output_space != snd.input_space {
            return Err(Error::Craft(format!(
                "MLP hidden spaces differ: fst writes [{}] but snd reads [{}]",
                fst.output_space.labels().join(", "),
                snd.input_space.labels().join(", ")
            )));
        }
        let residual_space = join_vector_spaces(&[&fst.input_space, &snd.output_space]);
        Ok(Mlp {
            fst,
            snd,
            residual_space,
        })
    }

    /// MLPs side by side: both layers combined in parallel (shared hidden directions add up).
    pub fn combine_in_parallel(mlps: &[&Mlp]) -> Mlp {
        let fsts: Vec<&Linear> = mlps.iter().map(|m| &m.fst).collect();
        let snds: Vec<&Linear> = mlps.iter().map(|m| &m.snd).collect();
        let fst = Linear::combine_in_parallel(&fsts);
        let snd = Linear::combine_in_parallel(&snds);
        let residual_space = join_vector_spaces(&[&fst.input_space, &snd.output_space]);
        Mlp {
            fst,
            snd,
            residual_space,
        }
    }

    /// The number of hidden neurons.
    pub fn hidden_size(&self) -> usize {
        self.fst.output_space.num_dims()
    }
}

/// A half-layer of the model: all attention heads or one (combined) MLP.
// A model holds a handful of these, built once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum HalfLayerBlock {
    /// Attention heads run in parallel.
    Attention(MultiAttentionHead),
    /// One MLP.
    Mlp(Mlp),
}

/// Blocks applied in sequence, each adding its output to the residual (`x += block(x)`).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesWithResiduals {
    /// The half-layers in order.
    pub blocks: Vec<HalfLayerBlock>,
}

impl SeriesWithResiduals {
    /// The join of every block's residual space.
    pub fn residual_space(&self) -> VectorSpace {
        let spaces: Vec<&VectorSpace> = self
            .blocks
            .iter()
            .flat_map(|b| match b {
                HalfLayerBlock::Attention(m) => m
                    .heads
                    .iter()
                    .map(|h| &h.residual_space)
                    .collect::<Vec<_>>(),
                HalfLayerBlock::Mlp(m) => vec![&m.residual_space],
            })
            .collect();
        join_vector_spaces(&spaces)
    }
}

/// The craft block compiled for one RASP expression.
// One per RASP node, built once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// An Aggregate.
    Attention(AttentionHead),
    /// A Map or SequenceMap.
    Mlp(Mlp),
    /// A SelectorWidth: an attention head followed by an MLP.
    AttentionThenMlp(AttentionHead, Mlp),
}

/// `x` (rows in `from`'s basis) re-expressed in `to`'s basis, dropping what `to` lacks.
fn reexpress(x: &Array2<f64>, from: &VectorSpace, to: &VectorSpace) -> Array2<f64> {
    x.dot(&project(from, to).matrix)
}

impl AttentionHead {
    /// The head's output for rows `x` in its residual basis: `softmax(q W_qk kᵀ) · v W_ov`, unscaled as in craft.
    pub fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        let res = &self.residual_space;
        let q = reexpress(x, res, &self.w_qk.left_space);
        let k = reexpress(x, res, &self.w_qk.right_space);
        let mut logits = q.dot(&self.w_qk.matrix).dot(&k.t());
        if self.causal {
            for ((i, j), z) in logits.indexed_iter_mut() {
                if j > i {
                    *z = f64::NEG_INFINITY;
                }
            }
        }
        for mut row in logits.rows_mut() {
            let max = row.fold(f64::NEG_INFINITY, |m, &z| m.max(z));
            row.mapv_inplace(|z| (z - max).exp());
            let sum = row.sum();
            row /= sum;
        }
        let values = reexpress(x, res, &self.w_ov.input_space).dot(&self.w_ov.matrix);
        logits.dot(&reexpress(&values, &self.w_ov.output_space, res))
    }
}

impl Mlp {
    /// The MLP's output for rows `x` in its residual basis: `snd(relu(fst(x)))`.
    pub fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        let hidden = reexpress(x, &self.residual_space, &self.fst.input_space)
            .dot(&self.fst.matrix)
            .mapv(|z| z.max(0.0));
        reexpress(
            &hidden.dot(&self.snd.matrix),
            &self.snd.output_space,
            &self.residual_space,
        )
    }
}

impl HalfLayerBlock {
    /// The residual space the block reads and writes.
    pub fn residual_space(&self) -> VectorSpace {
        match self {
            HalfLayerBlock::Attention(m) => {
                let spaces: Vec<&VectorSpace> = m.heads.iter().map(|h| &h.residual_space).collect();
                join_vector_spaces(&spaces)
            }
            HalfLayerBlock::Mlp(m) => m.residual_space.clone(),
        }
    }

    /// The block's output for rows `x` in [`HalfLayerBlock::residual_space`]'s basis.
    pub fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        match self {
            HalfLayerBlock::Mlp(m) => m.apply(x),
            HalfLayerBlock::Attention(m) => {
                let res = self.residual_space();
                let mut out = Array2::zeros(x.raw_dim());
                for head in &m.heads {
                    let head_x = reexpress(x, &res, &head.residual_space);
                    out += &reexpress(&head.apply(&head_x), &head.residual_space, &res);
                }
                out
            }
        }
    }
}

impl SeriesWithResiduals {
    /// Runs the blocks in order on rows `x` in [`SeriesWithResiduals::residual_space`]'s basis, adding each output.
    pub fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        let res = self.residual_space();
        let mut x = x.clone();
        for block in &self.blocks {
            let space = block.residual_space();
            let out = block.apply(&reexpress(&x, &res, &space));
            x += &reexpress(&out, &space, &res);
        }
        x
    }
}

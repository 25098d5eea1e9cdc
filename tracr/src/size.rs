//! How much memory a compile will take, estimated from the value sets alone, so that a program the
//! machine cannot hold is refused with the estimate instead of aborting in a failed allocation.
//!
//! The estimate counts the f64 weights of every craft block (each SOp's MLP or attention head, built
//! one by one before assembly) plus the assembled model's dense weights (one layer per
//! computational depth, padded to the widest MLP and the most heads, over the whole residual
//! stream). It follows the block shapes of `craft::chamber`, so it is exact for the blocks that
//! grow fastest (a categorical SequenceMap's hidden layer is `|fst| × |snd|`); Tracr's merging of
//! layers makes the assembled part approximate (see the test `compile_refuses_what_it_cannot_
//! encode_or_hold` for how close it is on the library programs).

use std::collections::HashMap;

use crate::allocate::computational_depth;
use crate::basis::Bases;
use crate::error::{Error, Result};
use crate::graph::RaspGraph;
use crate::rasp::{Expr, SOpKind};

/// The most memory, in bytes of f64 weights, that a compile may need: 2 GiB. A Tracr model of that
/// size (a quarter billion parameters) is far beyond what the compiler is for, while every library
/// program fits below it up to `max_seq_len` 100 (reverse at 100 needs about 0.2 GiB).
pub const MODEL_BYTES_LIMIT: u64 = 2 << 30;

const F64_BYTES: u64 = 8;

/// The estimated memory of a compile and its largest block.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeEstimate {
    /// Bytes of f64 weights: all craft blocks plus the assembled model.
    pub total_bytes: u64,
    /// The residual stream's width (without MLP hidden dimensions).
    pub d_model: u64,
    /// The biggest single block, described (`MLP of \`opp_idx\` (SequenceMap): 2002 × 1001000 …`).
    pub largest: String,
    /// The biggest single block's bytes.
    pub largest_bytes: u64,
}

/// Pretty bytes: `512 B`, `3.4 MiB`, `14.9 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// One block's shape, as the chamber builds it.
struct BlockShape {
    what: &'static str,
    /// Weights of the block as built (rows × columns summed over its matrices).
    params: u64,
    /// MLP hidden width (0 for attention).
    hidden: u64,
    /// Attention key size (0 for MLPs).
    key_size: u64,
    /// Shown in the message: `in × hidden × out` or `query × key`.
    shape: String,
}

fn mlp(what: &'static str, input: u64, hidden: u64, output: u64) -> BlockShape {
    BlockShape {
        what,
        params: input * hidden + hidden * output,
        hidden,
        key_size: 0,
        shape: format!("{input} inputs × {hidden} hidden × {output} outputs"),
    }
}

fn head(query: u64, key: u64, value: u64, output: u64) -> BlockShape {
    BlockShape {
        what: "attention head",
        params: query * key + value * output,
        hidden: 0,
        key_size: query.max(key),
        shape: format!("{query} queries × {key} keys"),
    }
}

/// Estimates the memory of compiling `graph` with the inferred `bases`.
pub fn estimate(
    graph: &RaspGraph,
    bases: &Bases,
    vocab_len: usize,
    max_seq_len: usize,
) -> SizeEstimate {
    let dims = |label: &str| {
        bases
            .get(label)
            .map_or(1, |b| b.output_space.num_dims() as u64)
    };
    let values = |label: &str| bases.get(label).map_or(1, |b| b.value_set.len() as u64);
    let child = |children: &[String], i: usize| children.get(i).cloned().unwrap_or_default();
    // A selector's children are [keys, queries].
    let select_sides = |selector: &str| {
        graph
            .node(selector)
            .map(|n| (dims(&child(&n.children, 1)), dims(&child(&n.children, 0))))
            .unwrap_or((1, 1))
    };
    let n = max_seq_len as u64;
    // tokens (vocab, BOS, pad), indices, `one`; SOps add theirs below.
    let mut d_model = vocab_len as u64 + 2 + n + 1;
    let mut blocks: Vec<(String, BlockShape)> = Vec::new();
    for node in &graph.nodes {
        let Expr::SOp(sop) = &node.expr else {
            continue;
        };
        let label = node.label.as_str();
        let out = dims(label);
        let shapes: Vec<BlockShape> = match sop.kind() {
            SOpKind::Tokens | SOpKind::Indices => continue,
            SOpKind::Map { inner, .. } => {
                let inner_label = child(&node.children, 0);
                vec![match (inner.is_categorical(), sop.is_categorical()) {
                    (true, true) => mlp("MLP", dims(&inner_label), out, out),
                    (true, false) => mlp("MLP", dims(&inner_label), 1, 1),
                    // Discretising MLPs: two hidden neurons per breakpoint between input values.
                    (false, _) => mlp("MLP", 2, 2 * values(&inner_label) + 1, out),
                }]
            }
            SOpKind::SequenceMap { .. } => {
                let (fst, snd) = (child(&node.children, 0), child(&node.children, 1));
                if fst == snd {
                    vec![mlp("MLP", dims(&fst), out, out)]
                } else {
                    let (a, b) = (dims(&fst), dims(&snd));
                    vec![mlp("MLP", a + b + 1, a * b, out)]
                }
            }
            SOpKind::LinearSequenceMap { .. } => vec![mlp("MLP", 2, 2, 1)],
            SOpKind::Aggregate { .. } => {
                let (query, key) = select_sides(&child(&node.children, 0));
                vec![head(query, key, dims(&child(&node.children, 1)), out)]
            }
            SOpKind::SelectorWidth { .. } => {
                let (query, key) = select_sides(&child(&node.children, 0));
                d_model += 1; // the head's own output direction
                vec![
                    head(query, key + 1, 1, 1),
                    mlp("MLP", 2, 2 * (n + 1) + 1, out),
                ]
            }
            // Not compilable; lowering reports these with Tracr's reason.
            SOpKind::Length | SOpKind::Full { .. } | SOpKind::ConstantSOp { .. } => continue,
        };
        d_model += out;
        for shape in shapes {
            blocks.push((label.to_string(), shape));
        }
    }
    let blocks_bytes: u64 = blocks.iter().map(|(_, b)| b.params * F64_BYTES).sum();
    // Assembled as Tracr does: one layer per computational depth, the blocks of one depth side by
    // side, every layer padded to the widest MLP and the most heads, each matrix over d_model.
    let depths = computational_depth(graph);
    let mut hidden_at: HashMap<i64, u64> = HashMap::new();
    let mut heads_at: HashMap<i64, u64> = HashMap::new();
    for (label, block) in &blocks {
        let depth = depths.get(label).copied().unwrap_or(0);
        *hidden_at.entry(depth).or_default() += block.hidden;
        *heads_at.entry(depth).or_default() += u64::from(block.key_size > 0);
    }
    let layers = depths.values().copied().max().unwrap_or(1).max(1) as u64;
    let mlp_hidden = hidden_at.values().copied().max().unwrap_or(0);
    let heads = heads_at.values().copied().max().unwrap_or(0);
    let key_size = blocks.iter().map(|(_, b)| b.key_size).max().unwrap_or(1);
    let model_params = layers * d_model * (2 * mlp_hidden + 4 * key_size * heads);
    let (largest, largest_bytes) = blocks
        .iter()
        .max_by_key(|(_, b)| b.params)
        .map(|(label, b)| {
            let bytes = b.params * F64_BYTES;
            let kind = graph
                .node(label)
                .and_then(|n| n.expr.as_sop())
                .map_or("SOp", |s| s.type_name());
            (
                format!(
                    "the {} of `{label}` ({kind}), {}, {}",
                    b.what,
                    b.shape,
                    human_bytes(bytes)
                ),
                bytes,
            )
        })
        .unwrap_or_default();
    SizeEstimate {
        total_bytes: blocks_bytes + model_params * F64_BYTES,
        d_model,
        largest,
        largest_bytes,
    }
}

/// Refuses a compile whose estimate is above [`MODEL_BYTES_LIMIT`].
pub fn ensure_fits(
    graph: &RaspGraph,
    bases: &Bases,
    vocab_len: usize,
    max_seq_len: usize,
) -> Result<()> {
    let estimate = estimate(graph, bases, vocab_len, max_seq_len);
    if estimate.total_bytes > MODEL_BYTES_LIMIT {
        return Err(Error::ModelTooLarge {
            estimate_bytes: estimate.total_bytes,
            limit_bytes: MODEL_BYTES_LIMIT,
            largest: estimate.largest,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_a_readable_unit() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_bytes(16_032_016_000), "14.9 GiB");
    }
}

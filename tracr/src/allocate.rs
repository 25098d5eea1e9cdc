//! Tracr's `craft_graph_to_model`: computational depth, layer allocation (with the
//! attention→MLP condensing) and the craft model's half-layers.

use std::collections::{BTreeMap, HashMap};

use crate::craft::bases::{join_vector_spaces, VectorSpace};
use crate::craft::blocks::{
    AttentionHead, Block, HalfLayerBlock, Mlp, MultiAttentionHead, SeriesWithResiduals,
};
use crate::error::{Error, Result};
use crate::graph::RaspGraph;
use crate::lower::{Component, SelectorRoles};

/// Which RASP expression a head or MLP computes.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// The SOp's label.
    pub label: String,
    /// Tracr's expression type name.
    pub expr_type: &'static str,
    /// The selector read (attention only).
    pub roles: Option<SelectorRoles>,
}

/// The contents of one half-layer of the craft model.
// A model holds a handful of these, built once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum HalfLayer {
    /// Heads in allocation order, each with its owner.
    Attention(Vec<(Owner, AttentionHead)>),
    /// The MLPs of this half-layer combined in parallel, and each part with its owner.
    Mlp {
        /// All parts combined (shared hidden neurons add up, as Tracr's `combine_in_parallel` does).
        combined: Mlp,
        /// The parts in allocation order.
        parts: Vec<(Owner, Mlp)>,
    },
}

/// The craft model: non-empty half-layers in order with their allocation numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct CraftModel {
    /// `(allocation half-layer number, contents)`: even numbers are attention, odd are MLPs.
    pub half_layers: Vec<(usize, HalfLayer)>,
    /// The sorted union of every block's residual space.
    pub residual_space: VectorSpace,
}

impl CraftModel {
    /// The half-layers as Tracr's craft model: heads side by side, then combined MLPs, in order.
    pub fn as_series(&self) -> SeriesWithResiduals {
        let blocks = self
            .half_layers
            .iter()
            .map(|(_, half)| match half {
                HalfLayer::Attention(heads) => HalfLayerBlock::Attention(MultiAttentionHead {
                    heads: heads.iter().map(|(_, h)| h.clone()).collect(),
                }),
                HalfLayer::Mlp { combined, .. } => HalfLayerBlock::Mlp(combined.clone()),
            })
            .collect();
        SeriesWithResiduals { blocks }
    }
}

/// The longest path (counting SOps only) from a source to each node; unreachable nodes get -1.
pub fn computational_depth(graph: &RaspGraph) -> HashMap<String, i64> {
    fn depth_of(graph: &RaspGraph, label: &str, memo: &mut HashMap<String, i64>) -> i64 {
        if let Some(&d) = memo.get(label) {
            return d;
        }
        let node = graph.node(label).expect("children are graph nodes");
        let d = if node.children.is_empty() {
            0
        } else {
            let step = i64::from(node.is_sop());
            node.children
                .iter()
                .map(|c| depth_of(graph, c, memo))
                .max()
                .unwrap_or(0)
                + step
        };
        memo.insert(label.to_string(), d);
        d
    }
    let mut memo = HashMap::new();
    for label in graph.labels() {
        depth_of(graph, label, &mut memo);
    }
    memo
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Attention,
    Mlp,
    AttentionThenMlp,
}

fn kind_of(block: &Block) -> Kind {
    match block {
        Block::Attention(_) => Kind::Attention,
        Block::Mlp(_) => Kind::Mlp,
        Block::AttentionThenMlp(..) => Kind::AttentionThenMlp,
    }
}

/// Tracr's `_allocate_modules_to_layers`: half-layer number per component, in allocation order.
///
/// Components at one depth run in that depth's layer: attention at `2(d-1)`, MLPs at
/// `2(d-1)+1`. Where a depth holds only attention and the next only MLPs, the two merge.
pub fn allocate_layers(graph: &RaspGraph, components: &[Component]) -> Result<Vec<(usize, usize)>> {
    if components.is_empty() {
        return Err(Error::Unsupported {
            label: graph.sink.clone(),
            reason: "the program has no operation to compile (only tokens or indices)".into(),
        });
    }
    let depths = computational_depth(graph);
    let mut depth_of: Vec<i64> = components.iter().map(|c| depths[&c.label]).collect();
    let mut by_depth: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &d) in depth_of.iter().enumerate() {
        by_depth.entry(d).or_default().push(i);
    }
    let min_depth = *by_depth.keys().next().expect("non-empty");
    let mut max_depth = *by_depth.keys().last().expect("non-empty");
    // An empty depth counts as "all attention" and "all MLP", as in Tracr.
    let all = |ids: Option<&Vec<usize>>, kind: Kind| {
        ids.is_none_or(|ids| ids.iter().all(|&i| kind_of(&components[i].block) == kind))
    };
    let mut depth = min_depth;
    while depth < max_depth {
        if all(by_depth.get(&depth), Kind::Attention) && all(by_depth.get(&(depth + 1)), Kind::Mlp)
        {
            for update in depth + 1..=max_depth {
                let moved = by_depth.remove(&update).unwrap_or_default();
                for &i in &moved {
                    depth_of[i] = update - 1;
                }
                by_depth.entry(update - 1).or_default().extend(moved);
            }
            max_depth -= 1;
        }
        depth += 1;
    }

    let mut order: Vec<usize> = (0..components.len()).collect();
    order.sort_by_key(|&i| depth_of[i]);
    let mut allocation = Vec::new();
    let (mut current_layer, mut current_depth) = (0usize, 1i64);
    for i in order {
        while depth_of[i] > current_depth {
            current_depth += 1;
            current_layer += 2;
        }
        if depth_of[i] == current_depth {
            let is_mlp = kind_of(&components[i].block) == Kind::Mlp;
            allocation.push((i, current_layer + usize::from(is_mlp)));
        }
    }
    Ok(allocation)
}

/// Builds the craft model from the allocation: heads side by side, MLPs combined in parallel.
pub fn craft_model(graph: &RaspGraph, components: Vec<Component>) -> Result<CraftModel> {
    let allocation = allocate_layers(graph, &components)?;
    // The residual space joins the blocks' spaces in allocation order.
    let mut spaces: Vec<&VectorSpace> = Vec::new();
    for &(i, _) in &allocation {
        match &components[i].block {
            Block::Attention(head) => spaces.push(&head.residual_space),
            Block::Mlp(mlp) => spaces.push(&mlp.residual_space),
            Block::AttentionThenMlp(head, mlp) => {
                spaces.push(&head.residual_space);
                spaces.push(&mlp.residual_space);
            }
        }
    }
    let residual_space = join_vector_spaces(&spaces);
    // The blocks then move into their layers, without copies of their matrices and spaces: the
    // allocation lists each component once.
    let mut slots: Vec<Option<Component>> = components.into_iter().map(Some).collect();
    let mut heads: BTreeMap<usize, Vec<(Owner, AttentionHead)>> = BTreeMap::new();
    let mut mlps: BTreeMap<usize, Vec<(Owner, Mlp)>> = BTreeMap::new();
    for &(i, layer) in &allocation {
        let c = slots[i]
            .take()
            .expect("the allocation places each component once");
        let owner = Owner {
            label: c.label,
            expr_type: c.expr_type,
            roles: c.roles,
        };
        match c.block {
            Block::Attention(head) => heads.entry(layer).or_default().push((owner, head)),
            Block::Mlp(mlp) => mlps.entry(layer).or_default().push((owner, mlp)),
            Block::AttentionThenMlp(head, mlp) => {
                heads.entry(layer).or_default().push((owner.clone(), head));
                mlps.entry(layer + 1).or_default().push((owner, mlp));
            }
        }
    }
    let mut half_layers: Vec<(usize, HalfLayer)> = Vec::new();
    for (layer, mut parts) in heads {
        for (_, head) in &mut parts {
            head.residual_space = residual_space.clone();
        }
        half_layers.push((layer, HalfLayer::Attention(parts)));
    }
    for (layer, mut parts) in mlps {
        for (_, mlp) in &mut parts {
            mlp.residual_space = residual_space.clone();
        }
        let refs: Vec<&Mlp> = parts.iter().map(|(_, m)| m).collect();
        let combined = Mlp::combine_in_parallel(&refs);
        half_layers.push((layer, HalfLayer::Mlp { combined, parts }));
    }
    half_layers.sort_by_key(|(layer, _)| *layer);
    Ok(CraftModel {
        half_layers,
        residual_space,
    })
}

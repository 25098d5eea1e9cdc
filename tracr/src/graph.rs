//! Tracr's `rasp_to_graph`: the program as a graph of labelled nodes, labels numbered as Tracr numbers them.
//!
//! Tracr labels an expression `name_id`, where `id` comes from a counter read lazily the first
//! time the label is needed, which in practice is during this breadth-first walk from the
//! output. Here the counter is per extraction, so the labels are those a fresh Tracr process
//! gives: the output is `x_1`, then every object gets the next number when first met, children
//! in Tracr's `children` order. `tokens`, `indices` and `length` keep their fixed labels.

use crate::error::{Error, Result};
use crate::rasp::{Expr, SOp};
use std::collections::HashMap;
use std::collections::VecDeque;

/// One node of the graph: a labelled expression.
#[derive(Debug, Clone)]
pub struct RaspNode {
    /// Tracr's label, e.g. `reverse_1`, `tokens`.
    pub label: String,
    /// The expression (the first object met with this label).
    pub expr: Expr,
    /// The children's labels in Tracr's `children` order, duplicates kept (`SequenceMap(f, x, x)`).
    pub children: Vec<String>,
    /// The labels of the nodes that use this one, in the order the edges were added.
    pub parents: Vec<String>,
}

impl RaspNode {
    /// Whether the node is an SOp (otherwise a selector).
    pub fn is_sop(&self) -> bool {
        self.expr.as_sop().is_some()
    }
}

/// A RASP program as Tracr's compiler sees it: nodes keyed by label, edges child → parent.
#[derive(Debug, Clone)]
pub struct RaspGraph {
    /// Every node, in the order Tracr inserts them (BFS from the sink); `nodes[0]` is the sink.
    pub nodes: Vec<RaspNode>,
    /// `(child, parent)` pairs without duplicates, in networkx's order: by child node, then by insertion.
    pub edges: Vec<(String, String)>,
    /// Labels of the nodes without children, in the order first visited, each once
    /// (Tracr lists a source once per visit; the duplicates carry no information).
    pub sources: Vec<String>,
    /// The label of the program's output.
    pub sink: String,
    index_by_label: HashMap<String, usize>,
    label_by_object: HashMap<usize, String>,
}

impl RaspGraph {
    /// The node with this label.
    pub fn node(&self, label: &str) -> Option<&RaspNode> {
        self.index_by_label.get(label).map(|&i| &self.nodes[i])
    }

    /// The position of the node with this label in `nodes`.
    pub fn index_of(&self, label: &str) -> Option<usize> {
        self.index_by_label.get(label).copied()
    }

    /// The node with this label, or an error naming the label.
    pub fn require(&self, label: &str) -> Result<&RaspNode> {
        self.node(label).ok_or_else(|| Error::UnknownNode {
            label: label.to_string(),
        })
    }

    /// The sink node (the program's output).
    pub fn sink_node(&self) -> &RaspNode {
        &self.nodes[0]
    }

    /// The label this extraction gave an expression object, if it is part of the program.
    pub fn label_of<'a>(&'a self, expr: &Expr) -> Option<&'a str> {
        if let Some(fixed) = expr.fixed_label() {
            return self.index_by_label.contains_key(fixed).then_some(fixed);
        }
        self.label_by_object
            .get(&expr.object_id())
            .map(String::as_str)
    }

    /// The distinct children of a node in `children` order (networkx's `predecessors`).
    pub fn predecessors(&self, label: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for child in self.node(label).map_or(&[][..], |n| &n.children[..]) {
            if !out.contains(&child.as_str()) {
                out.push(child);
            }
        }
        out
    }

    /// For every SOp node (in node order), the SOps it reads, with selectors contracted to the
    /// SOps they compare: the oracle fixtures' `sop_deps`.
    pub fn sop_deps(&self) -> Vec<(String, Vec<String>)> {
        self.nodes
            .iter()
            .filter(|n| n.is_sop())
            .map(|n| {
                let mut deps: Vec<String> = Vec::new();
                for p in self.predecessors(&n.label) {
                    let through = match self.node(p) {
                        Some(pn) if !pn.is_sop() => self.predecessors(p),
                        _ => vec![p],
                    };
                    for q in through {
                        if !deps.iter().any(|d| d == q) {
                            deps.push(q.to_string());
                        }
                    }
                }
                (n.label.clone(), deps)
            })
            .collect()
    }

    /// Every label, in node order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.label.as_str())
    }
}

/// Labels objects as they are first met, as Tracr's lazy `unique_id` does.
struct Labeller {
    next_id: usize,
    label_by_object: HashMap<usize, String>,
}

impl Labeller {
    fn label(&mut self, expr: &Expr) -> String {
        if let Some(fixed) = expr.fixed_label() {
            return fixed.to_string();
        }
        let next_id = &mut self.next_id;
        self.label_by_object
            .entry(expr.object_id())
            .or_insert_with(|| {
                let label = format!("{}_{}", expr.name(), next_id);
                *next_id += 1;
                label
            })
            .clone()
    }
}

/// Tracr's `extract_rasp_graph`: walks the program breadth-first from `output`.
pub fn extract(output: &SOp) -> Result<RaspGraph> {
    let mut labeller = Labeller {
        next_id: 1,
        label_by_object: HashMap::new(),
    };
    let mut nodes: Vec<RaspNode> = Vec::new();
    let mut index_by_label: HashMap<String, usize> = HashMap::new();
    let mut ensure = |expr: &Expr, labeller: &mut Labeller, nodes: &mut Vec<RaspNode>| {
        let label = labeller.label(expr);
        let index = *index_by_label.entry(label.clone()).or_insert_with(|| {
            nodes.push(RaspNode {
                label: label.clone(),
                expr: expr.clone(),
                children: Vec::new(),
                parents: Vec::new(),
            });
            nodes.len() - 1
        });
        (label, index)
    };

    let sink_expr = Expr::SOp(output.clone());
    let (sink, _) = ensure(&sink_expr, &mut labeller, &mut nodes);
    let mut queue = VecDeque::from([sink_expr]);
    // Tracr re-visits a node each time it is dequeued; visiting once gives the same node order,
    // labels and edges, because every re-visit only meets nodes already met.
    let mut expanded: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut sources = Vec::new();
    while let Some(expr) = queue.pop_front() {
        if !expanded.insert(expr.object_id()) {
            continue;
        }
        let (parent_label, parent_index) = ensure(&expr, &mut labeller, &mut nodes);
        let children = expr.children();
        let mut child_labels = Vec::with_capacity(children.len());
        for child in children {
            let (child_label, child_index) = ensure(&child, &mut labeller, &mut nodes);
            if !nodes[child_index].parents.contains(&parent_label) {
                nodes[child_index].parents.push(parent_label.clone());
            }
            child_labels.push(child_label);
            queue.push_back(child);
        }
        if child_labels.is_empty() && !sources.contains(&parent_label) {
            sources.push(parent_label.clone());
        }
        if nodes[parent_index].children.is_empty() {
            nodes[parent_index].children = child_labels;
        }
    }

    let edges = nodes
        .iter()
        .flat_map(|n| n.parents.iter().map(move |p| (n.label.clone(), p.clone())))
        .collect();
    let index_by_label = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.label.clone(), i))
        .collect();
    Ok(RaspGraph {
        nodes,
        edges,
        sources,
        sink,
        index_by_label,
        label_by_object: labeller.label_by_object,
    })
}

//! `edgeprune graph`: the edge graph of a compiled program, with the paper's edge count.

use clap::Args;

use super::program::ModelArgs;
use crate::error::Result;
use crate::graph::EdgeGraph;
use crate::model::Transformer;
use crate::report::components::{component_labels, component_lines};

/// Arguments of `edgeprune graph` (the graph depends on the model only: no data flags).
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// The program.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Prints the edge count (checked against the paper's formula), every edge, and the RASP node of
/// every component.
pub fn run(args: &GraphArgs) -> Result<()> {
    if let Some(dir) = args.model.source.model.as_ref().filter(|p| p.is_dir()) {
        return checkpoint_graph(dir);
    }
    let compiled = args.model.compile()?;
    let model = Transformer::from_compiled(&compiled.model)?;
    let graph = EdgeGraph::for_model(&model);
    let formula = EdgeGraph::formula_edge_count(model.num_layers(), model.num_heads(), 2);
    super::emit(&format!(
        "{}: {} layers, {} head(s) per layer, {} writers, {} readers, {} edges (paper's formula: {formula})",
        compiled.name,
        model.num_layers(),
        model.num_heads(),
        graph.num_writers(),
        graph.num_readers(),
        graph.num_edges(),
    ))?;
    for name in graph.edge_names() {
        super::emit(name)?;
    }
    let labels = component_labels(&graph, &compiled.model);
    super::emit("components:")?;
    for line in component_lines(&graph, &labels, &vec![true; graph.num_writers()]) {
        super::emit(&format!("  {line}"))?;
    }
    Ok(())
}

/// The edge graph of a checkpoint folder (no RASP labels: its components compute nothing named).
fn checkpoint_graph(dir: &std::path::Path) -> Result<()> {
    let model = crate::model::checkpoint::load(dir)?;
    let graph = EdgeGraph::for_model(&model);
    let formula = EdgeGraph::formula_edge_count(model.num_layers(), model.num_heads(), 2);
    super::emit(&format!(
        "{}: {} layers, {} head(s) per layer, {} writers, {} readers, {} edges (paper's formula: {formula})",
        dir.display(),
        model.num_layers(),
        model.num_heads(),
        graph.num_writers(),
        graph.num_readers(),
        graph.num_edges(),
    ))?;
    for name in graph.edge_names() {
        super::emit(name)?;
    }
    Ok(())
}

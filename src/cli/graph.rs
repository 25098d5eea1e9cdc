//! `edgeprune graph`: the edge graph of a compiled program, with the paper's edge count.

use clap::Args;

use super::program::ProgramArgs;
use crate::error::Result;
use crate::graph::EdgeGraph;

/// Arguments of `edgeprune graph`.
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// The program.
    #[command(flatten)]
    pub program: ProgramArgs,
}

/// Prints the edge count (checked against the paper's formula) and every edge.
pub fn run(args: &GraphArgs) -> Result<()> {
    let loaded = args.program.load()?;
    let model = &loaded.task.model;
    let graph = EdgeGraph::for_model(model);
    let formula = EdgeGraph::formula_edge_count(model.num_layers(), model.num_heads(), 2);
    super::emit(&format!(
        "{}: {} layers, {} head(s) per layer, {} writers, {} readers, {} edges (paper's formula: {formula})",
        loaded.name,
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

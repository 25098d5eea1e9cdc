//! `edgeprune demo`: the README's main job. Compile reverse, prune it, show the circuit against the ground truth.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::program::{parse_seed, ProgramArgs};
use super::prune::{make_backend, train_with_progress, BackendKind, DeviceKind, Precision};
use super::truth::ground_truth;
use crate::error::Result;
use crate::report::{
    classify_edges, precision_recall, svg::to_svg_labelled, EdgeClass, DEFAULT_LEGEND,
};
use crate::train::config::PruneConfig;

/// Arguments of `edgeprune demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Seed of the pruning run (a whole number from 0 to 2^64-1).
    #[arg(long, default_value_t = 42, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: u64,
    /// Where to draw the found circuit against the ground truth.
    #[arg(long, default_value = "reverse_circuit.svg")]
    pub svg: PathBuf,
    /// Where to write the HTML report of the same program and run (see `edgeprune report`).
    #[arg(long, default_value = "reverse_report.html")]
    pub report: PathBuf,
}

/// Runs `edgeprune demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let started = Instant::now();
    crate::atomic::check_writable(&[Some(args.svg.as_path()), Some(args.report.as_path())])?;
    let program = ProgramArgs::edge_pruning_reverse();
    let loaded = program.load()?;
    let model = &loaded.task.model;
    super::emit(&format!(
        "1. Compiled Tracr's reverse (vocab {{1,2,3}}, max_seq_len 5): {} layers, {} named residual dimensions, \
         {} edges in Edge Pruning's graph.",
        model.num_layers(),
        model.d_model(),
        crate::graph::EdgeGraph::for_model(model).num_edges()
    ))?;

    let truth = ground_truth(&loaded)?;
    super::emit(&format!(
        "2. Ground truth on all {} inputs of length 3 (zero ablation): structural {} edges, functional {} edges \
         (certified: outputs unchanged, KL {:.1e}, every edge necessary).",
        loaded.task.num_examples(),
        truth.structural.num_edges(),
        truth.functional.circuit.num_edges(),
        truth.functional.certificate.kl
    ))?;

    let config = PruneConfig {
        seed: args.seed,
        ..PruneConfig::reverse()
    };
    let mut backend = make_backend(
        &loaded,
        BackendKind::Ndarray,
        DeviceKind::Cpu,
        Precision::F64,
    )?;
    let show_progress = std::io::stderr().is_terminal();
    let outcome = train_with_progress(backend.as_mut(), &loaded, &config, show_progress)?;
    super::emit(&format!(
        "3. Edge Pruning with the paper's reverse settings (6000 steps, batch 16, target 1.02, seed {}): \
         {} edges kept in {:.2} s, KL {:.1e}.",
        args.seed,
        outcome.circuit.num_edges(),
        outcome.wall_time.as_secs_f64(),
        outcome.circuit_metric
    ))?;

    let truth_circuit = &truth.functional.circuit;
    let classes = classify_edges(&outcome.circuit, truth_circuit);
    super::emit("")?;
    super::emit(&format!("   {:<22} {:>6} {:>6}", "edge", "truth", "found"))?;
    for (edge, class) in &classes {
        let (in_truth, found) = match class {
            EdgeClass::Both => ("yes", "yes"),
            EdgeClass::FoundOnly => ("-", "yes"),
            EdgeClass::TruthOnly => ("yes", "-"),
        };
        super::emit(&format!(
            "   {:<22} {:>6} {:>6}",
            truth.graph.edge_names()[*edge],
            in_truth,
            found
        ))?;
    }
    let either: Vec<bool> = outcome
        .circuit
        .edges
        .iter()
        .zip(&truth_circuit.edges)
        .map(|(&found, &in_truth)| found || in_truth)
        .collect();
    let used = crate::report::components::used_writers(&truth.graph, &either);
    let labels = loaded.component_labels();
    for line in crate::report::components::component_lines(&truth.graph, &labels, &used) {
        super::emit(&format!("   {line}"))?;
    }
    let (precision, recall) = precision_recall(&outcome.circuit, truth_circuit);
    let verdict = if outcome.circuit.edges == truth_circuit.edges {
        "exact recovery of the ground truth"
    } else {
        "differs from the ground truth"
    };
    super::emit("")?;
    super::emit(&format!(
        "4. Precision {precision:.2}, recall {recall:.2}: {verdict}."
    ))?;
    let title = format!(
        "reverse: Edge Pruning (seed {}) vs certified ground truth",
        args.seed
    );
    let svg = to_svg_labelled(
        &truth.graph,
        &outcome.circuit,
        truth_circuit,
        &title,
        DEFAULT_LEGEND,
        &loaded.component_labels(),
    );
    let report = crate::report::html::build(
        &program,
        &crate::report::html::ReportOptions {
            input: None,
            prune: Some(config),
        },
    )?;
    crate::atomic::write_all(&[
        (args.svg.as_path(), svg.as_bytes()),
        (args.report.as_path(), report.html.as_bytes()),
    ])?;
    super::emit(&format!(
        "   Drew {} and wrote the report {} (open it in a browser; {:.1} s in all).",
        args.svg.display(),
        args.report.display(),
        started.elapsed().as_secs_f64()
    ))?;
    Ok(())
}

//! `edgeprune truth`: the structural and functional ground truths of a compiled program.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value as Json};

use super::program::{LoadedProgram, ProgramArgs};
use crate::error::Result;
use crate::graph::EdgeGraph;
use crate::report::components::{component_lines, components_json, used_writers};
use crate::report::json::circuit_to_json;
use crate::report::{dot::to_dot_labelled, edge_names, svg::to_svg_labelled, TRUTH_LEGEND};
use crate::truth::{functional_on_with_progress, structural, EliminationProgress, FunctionalTruth};

/// Arguments of `edgeprune truth`.
#[derive(Debug, Clone, Args)]
pub struct TruthArgs {
    /// The program and its data.
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Write both ground truths as JSON here (`-`: standard output; a symlink is written through).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the functional truth (structural-only edges marked) as SVG here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Write the same drawing as Graphviz DOT here.
    #[arg(long)]
    pub dot: Option<PathBuf>,
}

/// Both ground truths of a loaded program.
pub struct GroundTruth {
    /// The edge graph.
    pub graph: EdgeGraph,
    /// The structural circuit.
    pub structural: crate::circuit::Circuit,
    /// The functional circuit and its certificate.
    pub functional: FunctionalTruth,
}

/// Computes both ground truths of `loaded` under its ablation.
pub fn ground_truth(loaded: &LoadedProgram) -> Result<GroundTruth> {
    ground_truth_with_progress(loaded, &mut |_| {})
}

/// [`ground_truth`], reporting the certification's progress (see [`EliminationProgress`]).
pub fn ground_truth_with_progress(
    loaded: &LoadedProgram,
    on_progress: &mut dyn FnMut(EliminationProgress),
) -> Result<GroundTruth> {
    let graph = EdgeGraph::for_model(&loaded.task.model);
    let structural = structural(&loaded.task.model);
    let ablations = loaded.ablations();
    let data: Vec<_> = loaded.tasks.iter().zip(&ablations).collect();
    let functional = functional_on_with_progress(&data, &structural, on_progress)?;
    Ok(GroundTruth {
        graph,
        structural,
        functional,
    })
}

/// The task part of every report.
pub fn task_json(loaded: &LoadedProgram) -> Json {
    json!({
        "program": loaded.name,
        // Tokens as the model's JSON holds them: integer vocabularies stay integers.
        "vocab": loaded.vocab.iter().map(tracr::craft::json::value_to_json).collect::<Vec<_>>(),
        "max_seq_len": loaded.max_seq_len,
        "causal": loaded.task.model.causal,
        "lengths": loaded.lengths(),
        "examples": loaded.tasks.iter().map(|t| t.num_examples()).sum::<usize>(),
        "ablation": loaded.ablation_kind.name(),
        "metric": "kl",
    })
}

/// Both truths and their differences as JSON.
pub fn truth_json(loaded: &LoadedProgram, truth: &GroundTruth) -> Json {
    let f = &truth.functional;
    let mut structural = circuit_to_json(&truth.graph, &truth.structural);
    structural["kl"] = json!(f.structural_certificate.kl);
    structural["changed_examples"] = json!(f.structural_certificate.changed_examples);
    structural["note"] = json!(crate::truth::structural::structural_note(
        &loaded.task.model
    ));
    let mut functional = circuit_to_json(&truth.graph, &f.circuit);
    functional["kl"] = json!(f.certificate.kl);
    functional["changed_examples"] = json!(f.certificate.changed_examples);
    functional["certified"] = json!(f.certificate.holds());
    functional["checks"] = json!(f.checks);
    let labels = loaded.component_labels();
    let used = used_writers(&truth.graph, &truth.structural.edges);
    json!({
        "task": task_json(loaded),
        "components": components_json(&truth.graph, &labels, &used),
        "structural": structural,
        "functional": functional,
        "differences": f.differences.iter().map(|d| json!({"edge": d.name, "reason": d.reason.name()})).collect::<Vec<_>>(),
    })
}

/// Runs `edgeprune truth`.
pub fn run(args: &TruthArgs) -> Result<()> {
    let outputs = [
        args.json.as_deref(),
        args.svg.as_deref(),
        args.dot.as_deref(),
    ];
    crate::atomic::check_writable(&outputs)?;
    let loaded = args.program.load()?;
    let bar = super::progress_bar(
        0,
        "{spinner} certifying: {bar:30} {pos}/{len} edges [{elapsed_precise}] {msg}",
    );
    let truth = ground_truth_with_progress(&loaded, &mut |progress| {
        if let Some(bar) = &bar {
            bar.set_length(progress.edges as u64);
            bar.set_position(progress.tried as u64);
            bar.set_message(format!(
                "pass {}, {} checks",
                progress.pass, progress.checks
            ));
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let f = &truth.functional;
    let to_stdout = outputs.iter().flatten().any(|p| tracr::io::is_stdout(p));
    if !to_stdout {
        print_summary(&loaded, &truth)?;
    }
    let title = format!(
        "{}: functional vs structural ground truth ({} ablation)",
        loaded.name,
        loaded.ablation_kind.name()
    );
    let labels = loaded.component_labels();
    let json_text = crate::atomic::json_text(&truth_json(&loaded, &truth));
    let svg = to_svg_labelled(
        &truth.graph,
        &truth.structural,
        &f.circuit,
        &title,
        TRUTH_LEGEND,
        &labels,
    );
    let dot = to_dot_labelled(&truth.graph, &truth.structural, &f.circuit, &title, &labels);
    let mut files: Vec<(&std::path::Path, &[u8])> = Vec::new();
    for (path, bytes) in [
        (&args.json, json_text.as_bytes()),
        (&args.svg, svg.as_bytes()),
        (&args.dot, dot.as_bytes()),
    ] {
        if let Some(path) = path {
            files.push((path.as_path(), bytes));
        }
    }
    crate::atomic::write_all(&files)
}

/// The terminal summary: counts, certificate, the functional edges and what each component computes.
fn print_summary(loaded: &LoadedProgram, truth: &GroundTruth) -> Result<()> {
    let f = &truth.functional;
    super::emit(&format!(
        "{} ({} examples of length {:?}, {} ablation): {} edges in the graph",
        loaded.name,
        loaded.tasks.iter().map(|t| t.num_examples()).sum::<usize>(),
        loaded.lengths(),
        loaded.ablation_kind.name(),
        truth.graph.num_edges()
    ))?;
    if let Some(note) = crate::truth::structural::structural_note(&loaded.task.model) {
        super::emit(note)?;
    }
    super::emit(&format!(
        "structural: {} edges (KL {:.2e}, {} examples changed)",
        truth.structural.num_edges(),
        f.structural_certificate.kl,
        f.structural_certificate.changed_examples
    ))?;
    super::emit(&format!(
        "functional: {} edges (KL {:.2e}, {} examples changed, {}; {} checks)",
        f.circuit.num_edges(),
        f.certificate.kl,
        f.certificate.changed_examples,
        if f.certificate.holds() {
            "certified: sufficient and every edge necessary"
        } else {
            "NOT certified: the structural circuit itself does not reproduce the model"
        },
        f.checks
    ))?;
    for name in edge_names(&truth.graph, &f.circuit) {
        super::emit(&format!("  {name}"))?;
    }
    if !f.differences.is_empty() {
        super::emit("structural but not functional:")?;
        for difference in &f.differences {
            super::emit(&format!(
                "  {} ({})",
                difference.name,
                difference.reason.name()
            ))?;
        }
    }
    let labels = loaded.component_labels();
    let used = used_writers(&truth.graph, &truth.structural.edges);
    super::emit("components:")?;
    for line in component_lines(&truth.graph, &labels, &used) {
        super::emit(&format!("  {line}"))?;
    }
    Ok(())
}

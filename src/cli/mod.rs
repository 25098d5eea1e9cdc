//! The `edgeprune` command line: one module per subcommand.

pub mod bench;
pub mod compare;
pub mod demo;
pub mod export;
pub mod graph;
pub mod harder;
pub mod program;
pub mod prune;
pub mod prune_lm;
pub mod report;
pub mod run;
pub mod truth;

use clap::{Parser, Subcommand};

use crate::error::Result;

/// Edge Pruning circuit discovery on compiled Tracr programs, against their ground truth.
#[derive(Debug, Parser)]
#[command(name = "edgeprune", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile reverse, prune it, and show the circuit against the ground truth (the main job).
    Demo(demo::DemoArgs),
    /// Print a compiled program's edge graph: the edge count and every edge.
    Graph(graph::GraphArgs),
    /// Compute and certify the structural and functional ground truth.
    Truth(truth::TruthArgs),
    /// Find a circuit with Edge Pruning.
    Prune(prune::PruneArgs),
    /// Run every circuit method on a program (or --all) and score them against the known minimal circuits.
    Compare(compare::CompareArgs),
    /// Write one self-contained HTML page: program, model, residual stream, attention, ground truth.
    Report(report::ReportArgs),
    /// Score one circuit file against the known minimal circuits of a program.
    Score(compare::ScoreArgs),
    /// Write a task pack: model, dataset, ablation and metric, ground truth in every circuit format.
    Export(export::ExportArgs),
    /// The plain forward of a model (GPT-2 folder or Tracr model.json) on token ids: its logits.
    Run(run::RunArgs),
    /// Time pruning on every backend (table with ratios to the ndarray baseline).
    Bench(bench::BenchArgs),
    /// Train Tracr's compressed residual (d_model -> D) and re-certify the truth on the compressed model.
    Compress(harder::CompressArgs),
    /// Write docs/harder-truth.md: every program aligned, rotated, compressed, perturbed; truth and Edge Pruning.
    HarderTruth(harder::HarderTruthArgs),
}

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Truth(args) => truth::run(args),
        Command::Prune(args) => prune::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Report(args) => report::run(args),
        Command::Score(args) => compare::run_score(args),
        Command::Export(args) => export::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Run(args) => run::run(args),
        Command::Compress(args) => harder::run_compress(args),
        Command::HarderTruth(args) => harder::run_harder_truth(args),
    }
}

/// Prints `text` and a newline to stdout; a closed pipe (`edgeprune graph | head`) ends the program quietly.
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(source) => Err(crate::error::Error::Io {
            path: "<stdout>".into(),
            source,
        }),
    }
}

/// A progress bar with `template` drawn on stderr when stderr is a terminal; `None` when piped, so
/// scripted runs stay quiet.
pub fn progress_bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Ticks on its own, so the elapsed time moves during a long step between updates.
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    Some(bar)
}

//! `edgeprune report`: one self-contained HTML page of a program, its model, its residual stream on
//! one input and its circuits (the work is [`crate::report::html::build`]).

use std::path::PathBuf;

use clap::Args;

use super::program::{parse_seed, ProgramArgs};
use crate::error::Result;
use crate::report::html::{build, parse_input, ReportOptions};
use crate::train::config::PruneConfig;

/// Arguments of `edgeprune report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The program, and the data its ground truth is certified on (default: every sequence of the
    /// input's length).
    #[command(flatten)]
    pub program: ProgramArgs,
    /// The input shown, comma-separated, without BOS (integers are integers); default: the largest
    /// token then the smallest repeated, up to three tokens.
    #[arg(long, value_name = "a,b,c")]
    pub input: Option<String>,
    /// Also run Edge Pruning (default preset) and show its circuit and training curves.
    #[arg(long)]
    pub prune: bool,
    /// Seed of the pruning run (a whole number from 0 to 2^64-1).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: u64,
    /// Where to write the page.
    #[arg(short = 'o', long = "output", value_name = "report.html")]
    pub output: PathBuf,
    /// Also write the page's ground-truth drawing (other minimal circuits dotted) as SVG here.
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,
}

/// Runs `edgeprune report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    crate::atomic::check_writable(&[Some(args.output.as_path()), args.svg.as_deref()])?;
    let options = ReportOptions {
        input: args.input.as_deref().map(parse_input),
        prune: args.prune.then(|| PruneConfig {
            seed: args.seed,
            ..PruneConfig::default_config()
        }),
    };
    let report = build(&args.program, &options)?;
    let mut files = vec![(args.output.as_path(), report.html.as_bytes())];
    if let Some(svg) = &args.svg {
        files.push((svg.as_path(), report.truth_svg.as_bytes()));
    }
    crate::atomic::write_all(&files)?;
    if std::env::var_os("EDGEPRUNE_REPORT_TIMING").is_some() {
        for (stage, seconds) in &report.stages {
            eprintln!("{stage:>18}: {:8.1} ms", seconds * 1e3);
        }
        eprintln!("{:>18}: {:8}", "certify forwards", report.forwards);
    }
    super::emit(&format!(
        "Wrote {} ({} KB; truth certified on {} sequences of length {:?}).",
        args.output.display(),
        report.html.len().div_ceil(1024),
        report.examples,
        report.lengths
    ))
}

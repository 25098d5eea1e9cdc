//! `edgeprune compare`: every circuit method on one program (or `--all` of them), scored against the
//! known minimal circuits; and `edgeprune score`: one circuit file scored the same way.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::program::{AblationKind, ProgramArgs};
use super::truth::task_json;
use crate::compare::render::{markdown_rows, markdown_summary, table, to_json, MARKDOWN_HEADER};
use crate::compare::run::{compare, Scorer};
use crate::compare::{circuit_file::import_document, Comparison};
use crate::error::{Error, Result};
use crate::formats::CircuitFormat;
use crate::graph::EdgeGraph;
use crate::methods::{by_name, CircuitMethod, MethodOutput, METHOD_NAMES};
use crate::report::curves::{charts_svg, Chart, Curve};
use crate::truth::alternatives::SearchOptions;

/// Arguments of `edgeprune compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The program and its data (not with `--all`).
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Methods to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ep,acdc,eap,eap-ig,eap-ig-masks,sp,random"
    )]
    pub methods: Vec<String>,
    /// Seed of the stochastic methods (Edge Pruning, subnetwork probing, random).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the full report (scores, circuits, curves) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw every method's ROC and faithfulness curves as SVG here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Every library program under zero and interchange ablation; writes the markdown report.
    #[arg(long, conflicts_with_all = ["json", "svg"])]
    pub all: bool,
    /// Where `--all` writes its markdown report.
    #[arg(long, default_value = "docs/method-comparison.md", requires = "all")]
    pub doc: PathBuf,
}

/// Arguments of `edgeprune score`.
#[derive(Debug, Clone, Args)]
pub struct ScoreArgs {
    /// The circuit: ours (`writer->reader` names, or a `prune`/`truth`/`compare` report), Edge Pruning's
    /// `[writer, reader]` pairs or ACDC `{"original": ...}`, an EAP-IG/MIB graph, auto-circuit edge
    /// names or TransformerLens hook pairs (docs/interop.md).
    #[arg(value_name = "CIRCUIT.json")]
    pub circuit: PathBuf,
    /// The program and its data.
    #[command(flatten)]
    pub program: ProgramArgs,
    /// A pack written by `edgeprune export` (one program's folder): its model, ablation and data seed,
    /// and its lengths unless --lengths picks one of them.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["lib", "program", "model", "data_seed"])]
    pub pack: Option<PathBuf>,
    /// The circuit file's format (edgeprune, edge-pruning, ep-acdc, mib, auto-circuit, tl-hooks);
    /// default: detected from its shape and names.
    #[arg(long, value_name = "NAME")]
    pub format: Option<String>,
    /// Write the scores as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The methods named on the command line, each checked before any work starts.
pub(super) fn methods(names: &[String], seed: u64) -> Result<Vec<Box<dyn CircuitMethod>>> {
    if names.is_empty() {
        return Err(Error::InvalidOption {
            option: "--methods".into(),
            message: format!("is empty; choose from {}", METHOD_NAMES.join(",")),
        });
    }
    let mut seen = Vec::new();
    for name in names {
        if seen.contains(name) {
            return Err(Error::InvalidOption {
                option: "--methods".into(),
                message: format!("`{name}` is given twice"),
            });
        }
        seen.push(name.clone());
    }
    names
        .iter()
        .map(|name| by_name(name.trim(), seed))
        .collect()
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}] {msg}")
            .expect("the template is valid"),
    );
    Some(bar)
}

/// The SVG of one comparison: ROC curves (against each method's nearest known minimal circuit) and
/// MIB faithfulness curves.
pub fn comparison_svg(comparison: &Comparison) -> String {
    let curves = |points: fn(&crate::compare::MethodReport) -> &Vec<(f64, f64)>| {
        comparison
            .methods
            .iter()
            .filter(|m| m.error.is_none())
            .map(|m| Curve {
                name: m.name.clone(),
                points: points(m).clone(),
            })
            .collect::<Vec<_>>()
    };
    let roc = Chart {
        title: "ROC against the nearest known minimal circuit".into(),
        x_label: "false positive rate".into(),
        y_label: "true positive rate".into(),
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        curves: curves(|m| &m.roc),
        guide: Some(((0.0, 0.0), (1.0, 1.0))),
    };
    let faithfulness = Chart {
        title: "faithfulness f of the top edges (MIB)".into(),
        x_label: "fraction of edges kept".into(),
        y_label: "f = (m(C) - m(empty)) / (m(N) - m(empty))".into(),
        x_range: (0.0, 1.0),
        y_range: (-0.5, 1.5),
        curves: curves(|m| &m.faithfulness),
        guide: Some(((0.0, 1.0), (1.0, 1.0))),
    };
    let title = format!(
        "{} ({} ablation): circuit methods against the ground truth",
        comparison.task["program"].as_str().unwrap_or("?"),
        comparison.task["ablation"].as_str().unwrap_or("?")
    );
    charts_svg(&title, &[roc, faithfulness])
}

/// Runs `edgeprune compare`.
pub fn run(args: &CompareArgs) -> Result<()> {
    let methods = methods(&args.methods, args.seed)?;
    if args.all {
        if args.program.model.source.is_given() {
            return Err(Error::InvalidOption {
                option: "--all".into(),
                message: "runs every library program itself; drop --lib/--program/--model and the data options".into(),
            });
        }
        return run_all(args, &methods);
    }
    let program = &args.program;
    crate::atomic::check_writable(&[args.json.as_deref(), args.svg.as_deref()])?;
    let loaded = program.load()?;
    loaded.single_length("compare")?;
    let bar = progress_bar(methods.len() as u64 + 1);
    let comparison = compare(
        &loaded.task,
        &loaded.ablation(),
        task_json(&loaded),
        &methods,
        &SearchOptions::default(),
        |name| {
            if let Some(bar) = &bar {
                if name != "ground truth" {
                    bar.inc(1);
                }
                bar.set_message(name.to_string());
            }
        },
    )?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let truth = &comparison.truth;
    super::emit(&format!(
        "{}: {} edges; {} known minimal circuit(s) of {} edges ({}); smallest #{}, intended #{}",
        loaded.name,
        comparison.graph_edges,
        truth.minimal_circuits.len(),
        truth
            .minimal_circuits
            .iter()
            .map(|c| c.len().to_string())
            .collect::<Vec<_>>()
            .join("/"),
        if truth.complete {
            "complete"
        } else {
            "not known to be complete"
        },
        truth.smallest + 1,
        truth.intended + 1
    ))?;
    super::emit(&table(&comparison))?;
    let json_text = crate::atomic::json_text(&to_json(&comparison));
    let svg = comparison_svg(&comparison);
    let mut outputs: Vec<(&Path, &[u8])> = Vec::new();
    if let Some(path) = &args.json {
        outputs.push((path, json_text.as_bytes()));
    }
    if let Some(path) = &args.svg {
        outputs.push((path, svg.as_bytes()));
    }
    crate::atomic::write_all(&outputs)
}

/// `--all`: every library program under zero and interchange ablation, one markdown report.
fn run_all(args: &CompareArgs, methods: &[Box<dyn CircuitMethod>]) -> Result<()> {
    crate::atomic::check_writable(&[Some(args.doc.as_path())])?;
    let started = Instant::now();
    let names = tracr::library::names();
    let ablations = [AblationKind::Zero, AblationKind::Interchange];
    let bar = progress_bar((names.len() * ablations.len() * (methods.len() + 1)) as u64);
    let mut comparisons = Vec::new();
    for name in &names {
        for ablation in ablations {
            let program = ProgramArgs::library(name, ablation);
            let loaded = program.load()?;
            let comparison = compare(
                &loaded.task,
                &loaded.ablation(),
                task_json(&loaded),
                methods,
                &SearchOptions::default(),
                |method| {
                    if let Some(bar) = &bar {
                        bar.inc(1);
                        bar.set_message(format!("{name} {} {method}", ablation.name()));
                    }
                },
            )?;
            comparisons.push(comparison);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    let text = all_markdown(&comparisons, methods, seconds);
    crate::atomic::write(&args.doc, text.as_bytes())?;
    super::emit(&markdown_summary(&comparisons))?;
    super::emit(&format!(
        "{} programs x {} ablations in {seconds:.0} s; written to {}",
        names.len(),
        ablations.len(),
        args.doc.display()
    ))
}

fn all_markdown(
    comparisons: &[Comparison],
    methods: &[Box<dyn CircuitMethod>],
    seconds: f64,
) -> String {
    let mut text = format!(
        "# Circuit methods against compiled ground truth\n\n\
         Generated by `edgeprune compare --all --methods {}` (do not edit by hand; rerun it): every library \
         program at its registry vocabulary and max_seq_len, all sequences of length max_seq_len, under zero \
         and interchange ablation. The whole run took {seconds:.0} s on this machine.\n\n\
         Columns: *truth* lists the sizes of the known minimal faithful circuits (and whether the list is \
         proved complete); *faithful* is the certificate (decoded outputs unchanged, KL < 1e-6); *exact* = \
         the circuit equals a known minimal circuit; F1 and AUC are against the known minimal circuit \
         nearest to the method's circuit; CPR/CMD are MIB's areas under the faithfulness curve of the top \
         edges by score (metric: logit difference, or the numerical analogue; see docs/methods-gradient.md); \
         *passes* = masked forwards + backwards the method ran.\n\n## Summary per method\n\n",
        methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(",")
    );
    text.push_str(&markdown_summary(comparisons));
    text.push_str("\n## Every program, ablation and method\n\n");
    text.push_str(MARKDOWN_HEADER);
    text.push('\n');
    for comparison in comparisons {
        for row in markdown_rows(comparison) {
            text.push_str(&row);
            text.push('\n');
        }
    }
    text
}

/// Runs `edgeprune score`.
pub fn run_score(args: &ScoreArgs) -> Result<()> {
    crate::atomic::check_writable(&[args.json.as_deref()])?;
    let format = args
        .format
        .as_deref()
        .map(CircuitFormat::from_name)
        .transpose()?;
    let text = std::fs::read_to_string(&args.circuit).map_err(|source| Error::Io {
        path: args.circuit.display().to_string(),
        source,
    })?;
    let document: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        what: args.circuit.display().to_string(),
        message: format!("not JSON: {e}"),
    })?;
    let loaded = match &args.pack {
        None => args.program.load()?,
        Some(dir) => {
            let pack = crate::pack::read_pack_task(dir)?;
            let mut program = args.program.clone();
            program.model.source.model = Some(pack.model_path.clone());
            if program.data.lengths.is_empty() {
                program.data.lengths = pack.lengths.clone();
            }
            program.data.data_seed = pack.data_seed;
            program.data.ablation =
                AblationKind::from_str(&pack.ablation, false).map_err(|_| Error::Json {
                    what: dir.join("task.json").display().to_string(),
                    message: format!(
                        "unknown ablation `{}`; expected zero, interchange or mean",
                        pack.ablation
                    ),
                })?;
            let mut loaded = program.load()?;
            loaded.name = pack.program;
            loaded
        }
    };
    loaded.single_length("score")?;
    let graph = EdgeGraph::for_model(&loaded.task.model);
    let mut imported = import_document(&graph, &document, format)?;
    imported.drop_structurally_silent(&crate::truth::structural(&loaded.task.model));
    let circuit = imported.circuit;
    let ablation = loaded.ablation();
    let truth =
        crate::compare::run::known_truth(&loaded.task, &ablation, &SearchOptions::default())?;
    let mut scorer = Scorer::new(&loaded.task, &ablation, &truth)?;
    // Scores rank the edges for the ROC: the file's own (MIB's, by magnitude, as EAP-IG's top-n takes
    // them) when it scored every edge, else its circuit's edges first (1) and the rest after (0).
    let (scores, ranking) = match &imported.scores {
        Some(scores) => (
            scores.iter().map(|s| s.abs()).collect(),
            "the file's scores, by magnitude",
        ),
        None => (
            circuit
                .edges
                .iter()
                .map(|&k| f64::from(u8::from(k)))
                .collect(),
            "kept edges first (the file has no score for every edge)",
        ),
    };
    let output = MethodOutput {
        scores,
        circuit,
        sweep: Vec::new(),
        forwards: 0,
        backwards: 0,
        seconds: 0.0,
        settings: serde_json::json!({
            "file": args.circuit.display().to_string(),
            "format": imported.format.name(),
            "ranking": ranking,
            "notes": imported.notes,
        }),
    };
    let report = scorer.score("file", &output)?;
    let comparison = Comparison {
        task: task_json(&loaded),
        graph_edges: graph.num_edges(),
        truth: crate::compare::run::truth_summary(&graph, &truth),
        methods: vec![report],
        seconds: 0.0,
    };
    super::emit(&table(&comparison))?;
    if let Some(path) = &args.json {
        crate::atomic::write_json(path, &to_json(&comparison))?;
    }
    Ok(())
}

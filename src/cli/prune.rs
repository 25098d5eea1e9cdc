//! `edgeprune prune`: Edge Pruning on a compiled program, with a progress bar or quiet JSON.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value as Json};

use super::program::{parse_seed, LoadedProgram, ProgramArgs};
use super::truth::{ground_truth, task_json};
use crate::backend::candle::{CandleBackend, CandleDevice};
use crate::backend::ndarray::NdarrayBackend;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::extract::ExtractionRule;
use crate::graph::EdgeGraph;
use crate::masks::layout::ParameterLayout;
use crate::refine::refine;
use crate::report::components::{component_lines, components_json, used_writers};
use crate::report::svg::to_svg_labelled;
use crate::report::{classify_edges, edge_names, precision_recall, EdgeClass, DEFAULT_LEGEND};
use crate::train::config::PruneConfig;
use crate::train::trainer::{train, Progress, TrainOutcome};
use crate::truth::{
    equals_any, is_minimal, minimal_circuits, refine_by_swaps, smaller_known, CertifierSet,
    SearchOptions,
};
use candle_core::DType;

/// Arguments of `edgeprune prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// The program and its data.
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Hyper-parameter preset: Edge Pruning's `reverse` or `xproportion` script, or our `default`.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    /// Training steps (at least 1).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_count)]
    pub steps: Option<usize>,
    /// Edge sparsity target, the fraction of edges to remove, from 0 to 1.1 (above 1: as sparse as
    /// possible; Edge Pruning's reverse uses 1.02).
    #[arg(long, allow_negative_numbers = true)]
    pub target: Option<f64>,
    /// Learning rate of the log-alphas (not negative).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Learning rate of the Lagrange multipliers (not negative).
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_lr: Option<f64>,
    /// Batch size (at least 1).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_count)]
    pub batch_size: Option<usize>,
    /// Seed of the masks' initialisation, noise and batch order (a whole number from 0 to 2^64-1).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Independent runs (at least 1); the circuit with the lowest KL (then fewest edges) wins.
    #[arg(long, allow_negative_numbers = true, value_parser = parse_count)]
    pub restarts: Option<usize>,
    /// How to turn trained masks into a binary circuit.
    #[arg(long, value_enum)]
    pub extraction: Option<Extraction>,
    /// Pruning backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Ndarray)]
    pub backend: BackendKind,
    /// Device of the candle backend.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// Floating-point type of the candle backend [default: f64] (the ndarray reference is always f64).
    #[arg(long, value_enum)]
    pub dtype: Option<Precision>,
    /// Write the run's summary and circuit as JSON here (`-`: standard output; a symlink is written
    /// through).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the circuit against the ground truth as SVG here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Repair then minimise the found circuit against the certificate, in log-alpha order
    /// (default: on for `--preset default`, off for Edge Pruning's presets).
    #[arg(long)]
    pub refine: Option<bool>,
    /// Skip computing the functional ground truth (and the comparison with it).
    #[arg(long)]
    pub no_truth: bool,
    /// A language-model task on a checkpoint folder (`--model DIR`): Edge Pruning's GPT-2 experiments.
    #[arg(long, value_enum)]
    pub task: Option<super::prune_lm::LmTaskKind>,
    /// Examples of the task to generate [default: the paper's: IOI 200, GT 150, GP 150].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_count)]
    pub examples: Option<usize>,
}

/// Hyper-parameter presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Edge Pruning's `tracr_reverse.sh` settings.
    Reverse,
    /// Edge Pruning's `tracr_xproportion.sh` settings.
    Xproportion,
    /// Our default: the reverse settings, then certified refinement (see README).
    Default,
}

/// Extraction rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Extraction {
    /// Edge Pruning's per-tensor top-k then soft mask > 0.005.
    EdgePruning,
    /// Ours: log-alpha > 0 for the edge and its writer, then dangling edges removed.
    Positive,
}

/// Backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The f64 CPU reference with hand-derived gradients.
    Ndarray,
    /// candle autograd (f64 on CPU, f32 on CUDA).
    Candle,
}

/// Floating-point types of the candle backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    /// 64-bit (matches the reference to 1e-9).
    F64,
    /// 32-bit (matches the reference to 1e-4; the fast choice on GPUs).
    F32,
}

/// Devices of the candle backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (needs a build with `--features cuda`).
    Cuda,
}

/// The edge sparsity targets `--target` accepts: a fraction of edges to remove, up to a little above 1
/// (Edge Pruning's reverse asks for 1.02: "as sparse as possible"); far above 1 only drives every edge out.
pub const TARGET_RANGE: std::ops::RangeInclusive<f64> = 0.0..=1.1;

/// Parses a count that must be at least 1, with the range in the error.
pub fn parse_count(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a count: give a whole number of at least 1"
        )),
    }
}

/// The extraction rule by its command-line name (`positive`, `edge-pruning`).
pub fn extraction_name(rule: &ExtractionRule) -> &'static str {
    match rule {
        ExtractionRule::EdgePruning { .. } => "edge-pruning",
        ExtractionRule::PositiveLogAlpha => "positive",
    }
}

impl PruneArgs {
    /// The candle floating-point type asked for; `--dtype f32` with the ndarray backend is an error
    /// (the reference computes in f64 only).
    pub fn precision(&self) -> Result<Precision> {
        match (self.backend, self.dtype) {
            (BackendKind::Ndarray, Some(Precision::F32)) => Err(Error::InvalidOption {
                option: "--dtype".into(),
                message: "f32 needs --backend candle: the ndarray backend is the f64 reference"
                    .into(),
            }),
            (_, dtype) => Ok(dtype.unwrap_or(Precision::F64)),
        }
    }

    /// The configuration: the preset with the user's overrides.
    pub fn config(&self) -> Result<PruneConfig> {
        let base = match self.preset {
            Preset::Reverse => PruneConfig::reverse(),
            Preset::Xproportion => PruneConfig::xproportion(),
            Preset::Default => PruneConfig::default_config(),
        };
        self.config_over(base)
    }

    /// `base` with the user's overrides (a new `--steps` scales the warm-ups in proportion).
    pub fn config_over(&self, base: PruneConfig) -> Result<PruneConfig> {
        if let Some(target) = self.target {
            if !TARGET_RANGE.contains(&target) {
                return Err(Error::InvalidOption {
                    option: "--target".into(),
                    message: format!(
                        "{target} is outside {}..={}: the target is the fraction of edges to remove \
                         (1.02 = as sparse as possible, as Edge Pruning's reverse script)",
                        TARGET_RANGE.start(),
                        TARGET_RANGE.end()
                    ),
                });
            }
        }
        let mut config = base;
        if let Some(steps) = self.steps {
            // Keep the presets' warm-up proportions when only the length changes.
            let scale = steps as f64 / config.steps as f64;
            config.steps = steps;
            config.lr_warmup = (config.lr_warmup as f64 * scale).round() as usize;
            config.sparsity_warmup = (config.sparsity_warmup as f64 * scale).round() as usize;
        }
        if let Some(target) = self.target {
            config.edge_target = target;
        }
        if let Some(lr) = self.lr {
            config.log_alpha_lr = lr;
        }
        if let Some(lr) = self.lambda_lr {
            config.lambda_lr = lr;
        }
        if let Some(batch) = self.batch_size {
            config.batch_size = batch;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(restarts) = self.restarts {
            config.restarts = restarts;
        }
        if let Some(extraction) = self.extraction {
            config.extraction = match extraction {
                Extraction::EdgePruning => ExtractionRule::edge_pruning(),
                Extraction::Positive => ExtractionRule::PositiveLogAlpha,
            };
        }
        config.validate()?;
        Ok(config)
    }
}

/// The backend the user asked for, over the loaded task.
pub fn make_backend(
    loaded: &LoadedProgram,
    kind: BackendKind,
    device: DeviceKind,
    precision: Precision,
) -> Result<Box<dyn Backend>> {
    let task = &loaded.task;
    match kind {
        BackendKind::Ndarray => {
            if device != DeviceKind::Cpu {
                return Err(Error::InvalidOption {
                    option: "--device".into(),
                    message:
                        "the ndarray backend runs on the CPU only; use --backend candle for cuda"
                            .into(),
                });
            }
            Ok(Box::new(NdarrayBackend::new(
                &task.model,
                task.clean.view(),
                &loaded.ablation(),
                task.metric,
            )?))
        }
        BackendKind::Candle => Ok(Box::new(CandleBackend::new(
            &task.model,
            task.clean.view(),
            &loaded.ablation(),
            task.metric,
            match precision {
                Precision::F64 => DType::F64,
                Precision::F32 => DType::F32,
            },
            match device {
                DeviceKind::Cpu => CandleDevice::Cpu,
                DeviceKind::Cuda => CandleDevice::Cuda(0),
            },
        )?)),
    }
}

/// Trains the masks with a progress bar when stderr is a terminal.
pub fn train_with_progress(
    backend: &mut dyn Backend,
    loaded: &LoadedProgram,
    config: &PruneConfig,
    show_progress: bool,
) -> Result<TrainOutcome> {
    let model = &loaded.task.model;
    let layout = ParameterLayout::new(model.num_layers(), model.num_heads())?;
    let bar = if show_progress {
        let total = (config.steps * config.restarts) as u64;
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps [{elapsed_precise}] {msg}")
                .expect("the template is valid"),
        );
        Some(bar)
    } else {
        None
    };
    let mut on_progress = |progress: &Progress| {
        if let Some(bar) = &bar {
            bar.set_position((progress.restart * progress.total_steps + progress.step) as u64);
            if progress.step % 16 == 0 || progress.step == progress.total_steps {
                bar.set_message(format!(
                    "run {} KL {:.2e} sparsity {:.3} edges {}",
                    progress.restart + 1,
                    progress.metric,
                    progress.edge_sparsity,
                    progress.edges_kept
                ));
            }
        }
    };
    let outcome = train(
        backend,
        &layout,
        loaded.task.num_examples(),
        config,
        &mut on_progress,
    );
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    outcome
}

/// The run's summary as JSON.
pub fn outcome_json(
    loaded: &LoadedProgram,
    config: &PruneConfig,
    backend_name: &str,
    outcome: &TrainOutcome,
) -> Result<Json> {
    let graph = EdgeGraph::for_model(&loaded.task.model);
    let extraction_threshold = match config.extraction {
        ExtractionRule::EdgePruning { threshold } => json!(threshold),
        ExtractionRule::PositiveLogAlpha => Json::Null,
    };
    let labels = loaded.component_labels();
    let used = used_writers(&graph, &outcome.circuit.edges);
    Ok(json!({
        "task": task_json(loaded),
        "graph": { "edges": graph.num_edges(), "writers": graph.num_writers() },
        "config": {
            "steps": config.steps, "batch_size": config.batch_size,
            "log_alpha_lr": config.log_alpha_lr, "lambda_lr": config.lambda_lr,
            "lr_warmup": config.lr_warmup, "sparsity_warmup": config.sparsity_warmup,
            "edge_target": config.edge_target, "node_target": config.node_target,
            "node_loss": config.node_loss, "seed": config.seed, "restarts": config.restarts,
            "extraction": extraction_name(&config.extraction),
            "extraction_threshold": extraction_threshold,
        },
        "backend": backend_name,
        "seed_used": outcome.seed,
        "circuit": {
            "num_edges": outcome.circuit.num_edges(),
            "edges": edge_names(&graph, &outcome.circuit),
            "kl": outcome.circuit_metric,
            "components": components_json(&graph, &labels, &used),
        },
        "restarts": outcome.restarts.iter().map(|(seed, edges, kl)| json!({"seed": seed, "edges": edges, "kl": kl})).collect::<Vec<_>>(),
        "wall_time_s": outcome.wall_time.as_secs_f64(),
    }))
}

fn graph_of(loaded: &super::program::LoadedProgram) -> EdgeGraph {
    EdgeGraph::for_model(&loaded.task.model)
}

/// Runs `edgeprune prune`.
pub fn run(args: &PruneArgs) -> Result<()> {
    crate::atomic::check_writable(&[args.json.as_deref(), args.svg.as_deref()])?;
    if let Some(task) = args.task {
        return super::prune_lm::run(args, task);
    }
    let config = args.config()?;
    let precision = args.precision()?;
    let loaded = args.program.load()?;
    loaded.single_length("prune")?;
    let mut backend = make_backend(&loaded, args.backend, args.device, precision)?;
    let interactive = std::io::stdout().is_terminal();
    let show_progress = interactive && std::io::stderr().is_terminal();
    let outcome = train_with_progress(backend.as_mut(), &loaded, &config, show_progress)?;
    let mut outcome = outcome;
    let trained_circuit = outcome.circuit.clone();
    let refine_on = args.refine.unwrap_or(args.preset == Preset::Default);
    let mut refinement_json = Json::Null;
    if refine_on {
        let refinement = refine(
            &loaded.task,
            &loaded.ablation(),
            &outcome.circuit,
            &outcome.parameters.edge_log_alpha,
        )?;
        let names = EdgeGraph::for_model(&loaded.task.model)
            .edge_names()
            .to_vec();
        refinement_json = json!({
            "edges_before": outcome.circuit.num_edges(),
            "added": refinement.added.iter().map(|&e| names[e].clone()).collect::<Vec<_>>(),
            "removed": refinement.removed.iter().map(|&e| names[e].clone()).collect::<Vec<_>>(),
            "certified": refinement.certified,
        });
        outcome.circuit = refinement.circuit;
        let all: Vec<usize> = (0..loaded.task.num_examples()).collect();
        outcome.circuit_metric = backend.metric(
            &outcome.circuit.edge_mask(),
            &outcome.circuit.node_mask(),
            &all,
        )?;
    }
    let mut summary = outcome_json(&loaded, &config, &backend.name(), &outcome)?;
    summary["refinement"] = refinement_json;
    let truth = if args.no_truth {
        None
    } else {
        Some(ground_truth(&loaded)?)
    };
    if let Some(truth) = &truth {
        let functional = &truth.functional.circuit;
        // The truth is a set: every minimal faithful circuit the search knows (truth::alternatives).
        let ablation = loaded.ablation();
        let data = [(&loaded.task, &ablation)];
        let known = minimal_circuits(&data, &SearchOptions::default())?;
        let known_circuits = known.as_circuits();
        let mut swap_json = Json::Null;
        if refine_on && smaller_known(&outcome.circuit, &known_circuits) {
            // Edge Pruning's objective prefers fewer edges: look for the smaller known circuit by swaps.
            let swaps = refine_by_swaps(&data, &outcome.circuit, &known_circuits, 2_000)?;
            swap_json = json!({
                "edges_before": swaps.start_size,
                "edges_after": swaps.circuit.num_edges(),
                "swapped": swaps.swapped,
                "improved": swaps.improved,
                "checks": swaps.checks,
            });
            if swaps.faithful && swaps.circuit.num_edges() < outcome.circuit.num_edges() {
                outcome.circuit = swaps.circuit;
                let all: Vec<usize> = (0..loaded.task.num_examples()).collect();
                outcome.circuit_metric = backend.metric(
                    &outcome.circuit.edge_mask(),
                    &outcome.circuit.node_mask(),
                    &all,
                )?;
                summary["circuit"]["num_edges"] = json!(outcome.circuit.num_edges());
                summary["circuit"]["edges"] =
                    json!(edge_names(&graph_of(&loaded), &outcome.circuit));
                summary["circuit"]["kl"] = json!(outcome.circuit_metric);
            }
        }
        let mut certifiers = CertifierSet::new(&data)?;
        let minimality = is_minimal(&mut certifiers, &outcome.circuit)?;
        let equals = equals_any(&outcome.circuit, &known_circuits);
        let (precision, recall) = precision_recall(&outcome.circuit, functional);
        summary["ground_truth"] = json!({
            "functional_edges": edge_names(&truth.graph, functional),
            "structural_edges": truth.structural.num_edges(),
            "certified": truth.functional.certificate.holds(),
            "minimal_circuits": known.circuits.iter().map(|m| edge_names(&truth.graph, &m.circuit)).collect::<Vec<_>>(),
            "minimal_circuits_complete": known.complete,
            "equals_minimal_circuit": equals,
            "found_is_faithful": minimality.certificate.holds(),
            "found_is_minimal": minimality.holds(),
            "smaller_known": smaller_known(&outcome.circuit, &known_circuits),
            "swap_refinement": swap_json,
            "precision": precision,
            "recall": recall,
            "exact": equals.is_some(),
            "equals_functional_truth": outcome.circuit.edges == functional.edges,
            "exact_before_refinement": equals_any(&trained_circuit, &known_circuits).is_some(),
        });
    }
    let json_to_stdout = args.json.as_deref().is_some_and(tracr::io::is_stdout);
    let graph = EdgeGraph::for_model(&loaded.task.model);
    let labels = loaded.component_labels();
    if interactive && !json_to_stdout {
        super::emit(&format!(
            "{}: {} of {} edges kept, KL {:.3e}, {} steps x {} run(s) in {:.2} s ({})",
            loaded.name,
            outcome.circuit.num_edges(),
            summary["graph"]["edges"],
            outcome.circuit_metric,
            config.steps,
            config.restarts,
            outcome.wall_time.as_secs_f64(),
            backend.name()
        ))?;
        match &truth {
            Some(truth) => {
                for (edge, class) in classify_edges(&outcome.circuit, &truth.functional.circuit) {
                    let mark = match class {
                        EdgeClass::Both => "",
                        EdgeClass::FoundOnly => "   (not in the ground truth)",
                        EdgeClass::TruthOnly => "   (ground truth, missed)",
                    };
                    super::emit(&format!("  {}{mark}", truth.graph.edge_names()[edge]))?;
                }
                let verdict = &summary["ground_truth"];
                super::emit(&format!(
                    "ground truth (functional, certified): {} edges; {}",
                    truth.functional.circuit.num_edges(),
                    match verdict["equals_minimal_circuit"].as_u64() {
                        Some(i) if verdict["equals_functional_truth"] == json!(true) =>
                            format!("exact recovery (minimal circuit #{})", i + 1),
                        Some(i) => format!(
                            "equals another known minimal circuit (#{}, {} edges)",
                            i + 1,
                            outcome.circuit.num_edges()
                        ),
                        None if verdict["found_is_minimal"] == json!(true) =>
                            "not exact: faithful and minimal, but not a known minimal circuit"
                                .into(),
                        None if verdict["found_is_faithful"] == json!(true) =>
                            "not exact: faithful but not minimal".into(),
                        None => "not exact: not faithful".into(),
                    }
                ))?;
            }
            None => {
                for name in edge_names(&graph, &outcome.circuit) {
                    super::emit(&format!("  {name}"))?;
                }
            }
        }
        super::emit("components:")?;
        let used = used_writers(&graph, &outcome.circuit.edges);
        for line in component_lines(&graph, &labels, &used) {
            super::emit(&format!("  {line}"))?;
        }
    } else if !json_to_stdout {
        super::emit(&serde_json::to_string_pretty(&summary).expect("JSON values serialise"))?;
    }
    let json_text = crate::atomic::json_text(&summary);
    let reference = truth
        .as_ref()
        .map_or_else(|| outcome.circuit.clone(), |t| t.functional.circuit.clone());
    let title = format!("{}: Edge Pruning vs certified ground truth", loaded.name);
    let svg = to_svg_labelled(
        &graph,
        &outcome.circuit,
        &reference,
        &title,
        DEFAULT_LEGEND,
        &labels,
    );
    let mut files: Vec<(&Path, &[u8])> = Vec::new();
    if let Some(path) = &args.json {
        files.push((path, json_text.as_bytes()));
    }
    if let Some(path) = &args.svg {
        files.push((path, svg.as_bytes()));
    }
    crate::atomic::write_all(&files)
}

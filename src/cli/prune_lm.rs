//! `edgeprune prune --model DIR --task ioi|gt|gp`: Edge Pruning on a GPT-2 checkpoint with the paper's
//! settings; progress bar on a terminal, JSON summary and SVG circuit.

use std::io::IsTerminal;

use candle_core::DType;
use clap::ValueEnum;
use serde_json::json;

use super::prune::{BackendKind, DeviceKind, Precision, PruneArgs};
use crate::backend::candle::CandleDevice;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;
use crate::lm::prune::{paper_config, paper_examples, scores_json, LmBackend};
use crate::lm::tasks::{generate, TaskKind};
use crate::lm::tokenizer::TextTokenizer;
use crate::masks::layout::ParameterLayout;
use crate::report::edge_names;
use crate::report::svg::to_svg_labelled;
use crate::train::trainer::{train, Progress};

/// The tasks `--task` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LmTaskKind {
    /// Indirect object identification (Wang et al. 2022).
    Ioi,
    /// Greater-Than (Hanna et al. 2023).
    Gt,
    /// Gendered Pronoun (Mathwin et al. 2023).
    Gp,
}

impl LmTaskKind {
    fn kind(self) -> TaskKind {
        match self {
            LmTaskKind::Ioi => TaskKind::Ioi,
            LmTaskKind::Gt => TaskKind::GreaterThan,
            LmTaskKind::Gp => TaskKind::GenderedPronoun,
        }
    }
}

/// Runs the pruning of a language-model task.
pub fn run(args: &PruneArgs, task_kind: LmTaskKind) -> Result<()> {
    let kind = task_kind.kind();
    let dir = match (&args.program.model.source.model, &args.program.model.source.lib, &args.program.model.source.program) {
        (Some(dir), None, None) if dir.is_dir() => dir.clone(),
        _ => {
            return Err(Error::InvalidOption {
                option: "--task".into(),
                message: "needs --model DIR, a checkpoint folder with config.json, model.safetensors and a tokenizer".into(),
            })
        }
    };
    let config = args.config_over(paper_config(kind))?;
    let precision = args.precision()?;
    let model = crate::model::checkpoint::load(&dir)?;
    let tokenizer = TextTokenizer::from_dir(&dir)?;
    let pad = tokenizer
        .token_id("<|endoftext|>")
        .or(model.bos_token_id)
        .ok_or_else(|| Error::InvalidOption {
            option: "tokenizer".into(),
            message: "no <|endoftext|> token and no bos_token_id in config.json to pad with".into(),
        })?;
    let examples = args.examples.unwrap_or(paper_examples(kind));
    let task = generate(kind, &tokenizer, examples, args.program.data.data_seed, pad)?;
    let candle = match args.backend {
        BackendKind::Ndarray if args.device != DeviceKind::Cpu => {
            return Err(Error::InvalidOption {
                option: "--device".into(),
                message: "the ndarray backend runs on the CPU only; use --backend candle for cuda"
                    .into(),
            })
        }
        BackendKind::Ndarray => None,
        BackendKind::Candle => Some((
            match precision {
                Precision::F64 => DType::F64,
                Precision::F32 => DType::F32,
            },
            match args.device {
                DeviceKind::Cpu => CandleDevice::Cpu,
                DeviceKind::Cuda => CandleDevice::Cuda(0),
            },
        )),
    };
    let mut backend = LmBackend::new(&model, &task, candle)?;
    let graph = EdgeGraph::for_model(&model);
    let layout = ParameterLayout::new(model.num_layers(), model.num_heads())?;
    let bar = super::progress_bar(
        (config.steps * config.restarts) as u64,
        "{bar:30} {pos}/{len} steps [{elapsed_precise}] {msg}",
    );
    let mut on_progress = |p: &Progress| {
        if let Some(bar) = &bar {
            bar.set_position((p.restart * p.total_steps + p.step) as u64);
            bar.set_message(format!(
                "KL {:.3e} sparsity {:.3} edges {}",
                p.metric, p.edge_sparsity, p.edges_kept
            ));
        }
    };
    let outcome = train(
        backend.backend(),
        &layout,
        task.num_examples(),
        &config,
        &mut on_progress,
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    let full_circuit = crate::circuit::Circuit::full(&graph);
    let full = task.scores(backend.logits(&full_circuit, task.num_examples())?.view())?;
    let found = task.scores(
        backend
            .logits(&outcome.circuit, task.num_examples())?
            .view(),
    )?;
    let summary = json!({
        "task": {
            "name": kind.name(), "model": dir.display().to_string(), "examples": task.num_examples(),
            "seq_len": task.clean.ncols(), "data_seed": args.program.data.data_seed,
            "ablation": "interchange", "first_example": task.texts.first().map(|(c, k)| json!({"clean": c, "corrupted": k})),
        },
        "graph": { "edges": graph.num_edges(), "writers": graph.num_writers() },
        "config": {
            "steps": config.steps, "batch_size": config.batch_size, "log_alpha_lr": config.log_alpha_lr,
            "lambda_lr": config.lambda_lr, "lr_warmup": config.lr_warmup, "sparsity_warmup": config.sparsity_warmup,
            "edge_target": config.edge_target, "node_target": config.node_target, "node_loss": config.node_loss,
            "seed": config.seed, "restarts": config.restarts,
        },
        "backend": backend.backend().name(),
        "scores": scores_json(&full, &found, outcome.circuit_metric, &graph, outcome.circuit.num_edges()),
        "circuit": { "num_edges": outcome.circuit.num_edges(), "edges": edge_names(&graph, &outcome.circuit) },
        "wall_time_s": outcome.wall_time.as_secs_f64(),
    });
    let svg = args.svg.as_ref().map(|_| {
        to_svg_labelled(
            &graph,
            &outcome.circuit,
            &outcome.circuit,
            &format!("{} circuit of {}", kind.name(), dir.display()),
            ["kept edge", "", ""],
            &[],
        )
    });
    let json_text = crate::atomic::json_text(&summary);
    let mut outputs: Vec<(&std::path::Path, &[u8])> = Vec::new();
    if let (Some(path), Some(svg)) = (&args.svg, &svg) {
        outputs.push((path.as_path(), svg.as_bytes()));
    }
    match &args.json {
        Some(path) if path.as_os_str() != "-" => {
            outputs.push((path.as_path(), json_text.as_bytes()))
        }
        _ => {}
    }
    crate::atomic::write_all(&outputs)?;
    if args.json.as_ref().is_none_or(|p| p.as_os_str() == "-") || !std::io::stdout().is_terminal() {
        super::emit(json_text.trim_end())?;
    } else {
        super::emit(&format!(
            "{}: {} of {} edges, KL {:.4e}; answer score {:.3} (full {:.3}), accuracy {:.3} (full {:.3})",
            kind.name(), outcome.circuit.num_edges(), graph.num_edges(), outcome.circuit_metric,
            found.answer_score, full.answer_score, found.accuracy, full.accuracy
        ))?;
    }
    Ok(())
}

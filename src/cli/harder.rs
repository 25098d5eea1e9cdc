//! `edgeprune compress` (Tracr's compressed residual, trained) and `edgeprune harder-truth` (the table
//! of docs/harder-truth.md).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::program::ModelArgs;
use crate::compress::CompressOptions;
use crate::error::{Error, Result};
use crate::harder::{
    compress_and_certify, program_rows, rasp_outputs, render_markdown, HarderOptions,
};

/// Arguments of `edgeprune compress`.
#[derive(Debug, Clone, Args)]
pub struct CompressArgs {
    /// The program (its data: every input of max_seq_len tokens).
    #[command(flatten)]
    pub model: ModelArgs,
    /// The compressed width D (1..d_model-1); default: the smallest with 100 % decoded accuracy within
    /// the training budget, by bisection.
    #[arg(long = "dims", value_name = "D")]
    pub dims: Option<usize>,
    /// Full-batch Adam steps per training (the budget).
    #[arg(long, default_value_t = CompressOptions::default().steps)]
    pub steps: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = CompressOptions::default().learning_rate)]
    pub learning_rate: f64,
    /// Learning rate at the last step (cosine decay from --learning-rate).
    #[arg(long, default_value_t = CompressOptions::default().final_learning_rate)]
    pub final_learning_rate: f64,
    /// Weight of the per-half-layer residual MSE.
    #[arg(long, default_value_t = CompressOptions::default().residual_weight)]
    pub residual_weight: f64,
    /// Weight of the output loss (cross-entropy or MSE).
    #[arg(long, default_value_t = CompressOptions::default().output_weight)]
    pub output_weight: f64,
    /// Run every step even once the compressed model decodes like the compiled one.
    #[arg(long)]
    pub no_early_stop: bool,
    /// Seed of W's initial projection.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Before training, time N loss-and-gradient steps of the candle-autograd baseline and of the
    /// hand-derived gradient at the given --dims (else d_model - 1) and report seconds per step and
    /// their ratio (`step_timing` in the report).
    #[arg(long, value_name = "N")]
    pub time_steps: Option<usize>,
    /// Write the compressed model here (model JSON that every command's `--model` accepts).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the report as JSON here (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Runs `edgeprune compress`.
pub fn run_compress(args: &CompressArgs) -> Result<()> {
    crate::atomic::check_writable(&[args.output.as_deref(), args.json.as_deref()])?;
    let options = CompressOptions {
        steps: args.steps,
        learning_rate: args.learning_rate,
        final_learning_rate: args.final_learning_rate,
        residual_weight: args.residual_weight,
        output_weight: args.output_weight,
        early_stop: !args.no_early_stop,
        seed: args.seed,
    };
    // The budget is checked before compiling (the same check `tracr compile --compress` makes).
    options.validate()?;
    let compiled = args.model.compile()?;
    let model = &compiled.model;
    if let Some(dims) = args.dims {
        crate::compress::check_dims(model, dims)?;
    }
    // The RASP evaluator is the reference for a library program; otherwise the compiled model is.
    let program = args
        .model
        .source
        .lib
        .as_deref()
        .and_then(|name| tracr::library::by_name_for(name, compiled.max_seq_len));
    let expected = match &program {
        Some(p) => {
            let task = crate::task::Task::from_compiled(
                &compiled.name,
                &compiled.model,
                compiled.max_seq_len,
                0,
            )?;
            Some(rasp_outputs(p, &task)?)
        }
        None => None,
    };
    let timing = match args.time_steps {
        Some(0) => {
            return Err(Error::InvalidOption {
                option: "--time-steps".into(),
                message: "need at least one step to time, got 0".into(),
            })
        }
        Some(steps) => {
            let task = crate::task::Task::from_compiled(
                &compiled.name,
                &compiled.model,
                compiled.max_seq_len,
                0,
            )?;
            let dims = args.dims.unwrap_or(model.config.d_model.saturating_sub(1));
            let t = crate::compress::time_steps(model, &task.clean, dims, steps, &options)?;
            eprintln!(
                "one step at D = {dims}: candle autograd {:.2} ms, hand gradient {:.2} ms (wall; ratio {:.1}x)",
                t.candle_wall * 1e3,
                t.ndarray_wall * 1e3,
                t.candle_wall / t.ndarray_wall
            );
            Some((dims, t))
        }
        None => None,
    };
    let report = compress_and_certify(
        &compiled.name,
        model,
        compiled.max_seq_len,
        expected.as_deref(),
        args.dims,
        &options,
        &mut |dims, agreement, seconds| {
            eprintln!(
                "D = {dims}: decodes {agreement:.3} of the inputs as the compiled model after {seconds:.1} s"
            );
        },
    )?;
    let Some(report) = report else {
        return Err(Error::Unsupported {
            message: format!(
                "{}: no width below d_model = {} decoded every input as the compiled model does \
                 within {} steps; raise --steps or give --dims",
                compiled.name, model.config.d_model, args.steps
            ),
        });
    };
    let mut summary = report.to_json();
    summary["program"] = serde_json::json!(compiled.name);
    if let Some((dims, t)) = timing {
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
        summary["step_timing"] = serde_json::json!({
            "dims": dims,
            "steps": t.steps,
            "candle_wall_s": t.candle_wall,
            "ndarray_wall_s": t.ndarray_wall,
            "wall_ratio": t.candle_wall / t.ndarray_wall,
            "candle_cpu_s": t.candle_cpu,
            "ndarray_cpu_s": t.ndarray_cpu,
            "cpu_ratio": ratio(t.candle_cpu, t.ndarray_cpu),
        });
    }
    // `agreement` (the search's target) is always against the compiled model; the accuracies are
    // against the RASP evaluator when there is a program.
    summary["reference"] = serde_json::json!(if expected.is_some() {
        "RASP evaluator"
    } else {
        "the compiled model's decoding"
    });
    let mut outputs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if let Some(path) = &args.output {
        let mut text = serde_json::to_string(&report.model.to_json()).expect("JSON serialises");
        text.push('\n');
        outputs.push((path.clone(), text.into_bytes()));
    }
    let summary_text = serde_json::to_string_pretty(&summary).expect("JSON serialises");
    match &args.json {
        Some(path) if tracr::io::is_stdout(path) => super::emit(&summary_text)?,
        Some(path) => outputs.push((path.clone(), (summary_text.clone() + "\n").into_bytes())),
        None => super::emit(&summary_text)?,
    }
    let refs: Vec<(&std::path::Path, &[u8])> = outputs
        .iter()
        .map(|(p, b)| (p.as_path(), b.as_slice()))
        .collect();
    crate::atomic::write_all(&refs)
}

/// Arguments of `edgeprune harder-truth`.
#[derive(Debug, Clone, Args)]
pub struct HarderTruthArgs {
    /// Library programs, comma-separated (default: every one).
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME..]")]
    pub programs: Vec<String>,
    /// Relative noise of the perturbed form.
    #[arg(long, default_value_t = HarderOptions::default().perturb.0)]
    pub perturb: f64,
    /// Circuit methods to run on every form, comma-separated (those of `edgeprune compare`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ep,acdc,eap,eap-ig,eap-ig-masks,sp,random"
    )]
    pub methods: Vec<String>,
    /// Write the Markdown here (default: standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Programs worked on at once, one thread each (default: the machine's cores). Rows come out
    /// in program order whatever the count: each program's work is seeded and independent.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Seconds one ACDC sweep may take; past it the run fails and is listed under Failures (on
    /// rotated and perturbed models every edge has an effect and the τ grid's passes share nothing).
    #[arg(long, value_name = "SECONDS")]
    pub acdc_time_limit: Option<f64>,
}

/// Runs `edgeprune harder-truth`.
pub fn run_harder_truth(args: &HarderTruthArgs) -> Result<()> {
    crate::atomic::check_writable(&[args.output.as_deref()])?;
    // Every name is checked before any work starts.
    let methods: Vec<String> = super::compare::methods(&args.methods, 0)?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    if let Some(seconds) = args.acdc_time_limit {
        // The same check ACDC makes, before any work.
        crate::methods::acdc::Acdc::new()
            .with_time_limit(seconds)
            .map_err(|_| Error::InvalidOption {
                option: "--acdc-time-limit".into(),
                message: format!("must be a finite number of seconds > 0, got {seconds}"),
            })?;
    }
    let options = HarderOptions {
        perturb: (args.perturb, 0),
        methods,
        acdc_time_limit: args.acdc_time_limit,
        ..HarderOptions::default()
    };
    let registry = tracr::library::registry();
    let programs: Vec<_> = if args.programs.is_empty() {
        registry
    } else {
        args.programs
            .iter()
            .map(|name| {
                tracr::library::by_name(name).ok_or_else(|| Error::InvalidOption {
                    option: "--programs".into(),
                    message: format!(
                        "unknown program `{name}`; available: {}",
                        tracr::library::names().join(", ")
                    ),
                })
            })
            .collect::<Result<_>>()?
    };
    let started = Instant::now();
    let bar = super::progress_bar(
        programs.len() as u64,
        "{bar:30} {pos}/{len} {msg} [{elapsed_precise}]",
    );
    let jobs = match args.jobs {
        Some(0) => {
            return Err(Error::InvalidOption {
                option: "--jobs".into(),
                message: "need at least one job, got 0".into(),
            })
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
    .min(programs.len().max(1));
    // Each program is independent (its own compile, seeds and training), so workers take the next
    // program from a shared counter; results land in program order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<_>>>> = programs
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(program) = programs.get(i) else {
                    break;
                };
                let result = program_rows(program, &options, &mut |stage| {
                    if let Some(bar) = &bar {
                        bar.set_message(format!("{}: {stage}", program.name));
                    }
                });
                let failed = result.is_err();
                *results[i].lock().expect("no worker panics holding it") = Some(result);
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                if failed {
                    // Stop taking programs: the first error (in program order) is reported.
                    next.store(programs.len(), std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut rows = Vec::new();
    let mut compressions = Vec::new();
    for (program, result) in programs.iter().zip(results) {
        // Workers take programs in order and stop only after a failure, so every program before
        // the first failed one has a result, and the `?` returns at that failure.
        let result = result.into_inner().expect("no worker panics holding it");
        let (program_rows, compression) =
            result.expect("every program before the first failure was run")?;
        rows.extend(program_rows);
        compressions.push((program.name.to_string(), compression));
    }
    let mut command = String::from("edgeprune harder-truth");
    if !args.programs.is_empty() {
        command.push_str(&format!(" --programs {}", args.programs.join(",")));
    }
    if options.methods != HarderOptions::default().methods {
        command.push_str(&format!(" --methods {}", options.methods.join(",")));
    }
    if let Some(seconds) = args.acdc_time_limit {
        command.push_str(&format!(" --acdc-time-limit {seconds}"));
    }
    command.push_str(&format!(
        " --perturb {} --jobs {jobs} -o docs/harder-truth.md",
        args.perturb
    ));
    let text = render_markdown(
        &rows,
        &compressions,
        &options,
        &command,
        started.elapsed().as_secs_f64(),
    );
    match &args.output {
        Some(path) if !tracr::io::is_stdout(path) => {
            crate::atomic::write_all(&[(path.as_path(), text.as_bytes())])
        }
        _ => super::emit(text.trim_end()),
    }
}

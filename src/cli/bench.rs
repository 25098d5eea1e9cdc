//! `edgeprune bench`: pruning throughput of every backend, as a table with ratios to the ndarray baseline.

use std::time::Instant;

use clap::Args;
use ndarray::Array2;

use crate::ablation::Ablation;
use crate::backend::candle::{CandleBackend, CandleDevice};
use crate::backend::ndarray::NdarrayBackend;
use crate::backend::{Backend, StepRequest, StepResult};
use crate::error::Result;
use crate::forward::MaskedForward;
use crate::masks::layout::ParameterLayout;
use crate::methods::acdc::{self, AcdcRunner};
use crate::methods::eap::{time_against_forward_backward, EapTiming};
use crate::methods::MethodInput;
use crate::model::TransformerShape;
use crate::model::{Activation, Transformer};
use crate::objective::metric::Metric;
use crate::rng::Rng;
use crate::train::config::PruneConfig;
use crate::train::trainer::train;
use candle_core::DType;

use super::program::ProgramArgs;
use super::prune::parse_count;

/// Arguments of `edgeprune bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Full 6000-step reverse runs to time (the median is reported; at least 1).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = parse_count)]
    pub reverse_runs: usize,
    /// Steps timed on the GPT-2-small-sized random model (at least 1).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = parse_count)]
    pub gpt2_steps: usize,
    /// Sequences in the GPT-2-sized task (each step uses all of them; at least 1).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = parse_count)]
    pub gpt2_batch: usize,
    /// Sequence length of the GPT-2-sized task, BOS included (at least 1).
    #[arg(long, default_value_t = 16, allow_negative_numbers = true, value_parser = parse_count)]
    pub gpt2_seq_len: usize,
    /// Skip the GPT-2-sized model (it needs about a minute on 2 cores).
    #[arg(long)]
    pub skip_gpt2: bool,
    /// Time only this backend (repeatable; default: all). The peak-memory column is the process's peak
    /// since the row started, which includes heap the allocator kept from earlier rows: for one
    /// backend's own peak, run it alone (`--backend candle-f32 --skip-methods`).
    #[arg(long = "backend", value_parser = ["ndarray-f64", "candle-f64", "candle-f32"])]
    pub backends: Vec<String>,
    /// Skip the circuit-method table (ACDC, EAP), which runs the ndarray reference on every model.
    #[arg(long)]
    pub skip_methods: bool,
}

/// One timed workload: a model, its data, and how many steps to run.
struct Workload {
    name: String,
    model: Transformer,
    inputs: Array2<usize>,
    config: PruneConfig,
}

/// A backend constructor, so every backend runs the same workloads.
type MakeBackend = fn(&Transformer, &Array2<usize>) -> Result<Box<dyn Backend>>;

fn ndarray_backend(model: &Transformer, inputs: &Array2<usize>) -> Result<Box<dyn Backend>> {
    Ok(Box::new(NdarrayBackend::new(
        model,
        inputs.view(),
        &Ablation::Zero,
        Metric::Kl,
    )?))
}

fn candle_f64(model: &Transformer, inputs: &Array2<usize>) -> Result<Box<dyn Backend>> {
    candle(model, inputs, DType::F64)
}

fn candle_f32(model: &Transformer, inputs: &Array2<usize>) -> Result<Box<dyn Backend>> {
    candle(model, inputs, DType::F32)
}

/// The candle benchmarks' device: CUDA 0 in a CUDA build with `EDGEPRUNE_BENCH_CUDA` set, else the CPU.
fn bench_device() -> CandleDevice {
    if cfg!(feature = "cuda") && std::env::var("EDGEPRUNE_BENCH_CUDA").is_ok() {
        CandleDevice::Cuda(0)
    } else {
        CandleDevice::Cpu
    }
}

fn candle(model: &Transformer, inputs: &Array2<usize>, dtype: DType) -> Result<Box<dyn Backend>> {
    let device = bench_device();
    Ok(Box::new(CandleBackend::new(
        model,
        inputs.view(),
        &Ablation::Zero,
        Metric::Kl,
        dtype,
        device,
    )?))
}

/// Every backend compiled into this binary, the ndarray reference first (the baseline).
fn backends(chosen: &[String]) -> Vec<(&'static str, MakeBackend)> {
    let all = [
        ("ndarray-f64", ndarray_backend as MakeBackend),
        ("candle-f64", candle_f64 as MakeBackend),
        ("candle-f32", candle_f32 as MakeBackend),
    ];
    all.into_iter()
        .filter(|(name, _)| chosen.is_empty() || chosen.iter().any(|c| c == name))
        .collect()
}

/// A backend whose `step` calls are timed (wall and process CPU seconds), so the rows measure training
/// steps alone: `train` also evaluates the extracted circuit (one masked forward at the last step and one
/// for the outcome), which is not part of a step and, on the GPT-2-sized model, was a fifth of the time
/// the rows used to count as steps.
struct StepTimer<'a> {
    inner: &'a mut dyn Backend,
    wall: f64,
    cpu: Option<f64>,
}

impl Backend for StepTimer<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn num_edges(&self) -> usize {
        self.inner.num_edges()
    }

    fn num_writers(&self) -> usize {
        self.inner.num_writers()
    }

    fn step(&mut self, request: &StepRequest<'_>) -> Result<StepResult> {
        let (started, cpu_started) = (Instant::now(), cpu_seconds());
        let result = self.inner.step(request);
        self.wall += started.elapsed().as_secs_f64();
        let spent = cpu_started.zip(cpu_seconds()).map(|(a, b)| b - a);
        self.cpu = self.cpu.zip(spent).map(|(total, s)| total + s);
        result
    }

    fn metric(&mut self, edge_mask: &[f64], node_mask: &[f64], batch: &[usize]) -> Result<f64> {
        self.inner.metric(edge_mask, node_mask, batch)
    }
}

/// Wall seconds and process CPU seconds (`None` off Linux) per training step (`Backend::step` alone, see
/// [`StepTimer`]) of `config.steps` steps, after one untimed warm-up run of 2 steps.
fn seconds_per_step(backend: &mut dyn Backend, workload: &Workload) -> Result<(f64, Option<f64>)> {
    let layout = ParameterLayout::new(workload.model.num_layers(), workload.model.num_heads())?;
    let examples = workload.inputs.nrows();
    let warm_up = PruneConfig {
        steps: 2,
        lr_warmup: 1,
        sparsity_warmup: 1,
        ..workload.config.clone()
    };
    train(backend, &layout, examples, &warm_up, &mut |_| {})?;
    let mut timer = StepTimer {
        inner: backend,
        wall: 0.0,
        cpu: cpu_seconds().map(|_| 0.0),
    };
    train(&mut timer, &layout, examples, &workload.config, &mut |_| {})?;
    let steps = workload.config.steps as f64;
    Ok((timer.wall / steps, timer.cpu.map(|c| c / steps)))
}

/// User + system CPU seconds of this process, all threads (Linux `/proc/self/stat`, in clock ticks of
/// 1/100 s, the USER_HZ of every mainstream Linux build). On a loaded machine a step's CPU time, unlike
/// its wall time, does not count the time other processes held the cores.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A GPT-2-small-shaped model (12 layers, 12 heads, d_model 768, MLP 3072: 32,936 edges) with random
/// weights, written to disk as a Hugging Face checkpoint and read back (so the loader is on the path).
fn gpt2_workload(args: &BenchArgs) -> Result<Workload> {
    let shape = TransformerShape {
        d_model: 768,
        num_layers: 12,
        num_heads: 12,
        key_size: 64,
        value_size: 64,
        mlp_hidden_size: 3072,
        vocab_size: 64,
        max_positions: args.gpt2_seq_len,
        layer_norm: true,
        causal: true,
        activation: Activation::Gelu,
        classes: Some(64),
    };
    let mut model = Transformer::random(&shape, 7);
    model.readout = crate::model::Readout::Categorical {
        unembedding: model.token_embedding.t().to_owned(),
    };
    let dir = std::env::temp_dir().join(format!("edgeprune-bench-gpt2-{}", std::process::id()));
    crate::model::gpt2::write_checkpoint(&model, &dir)?;
    let loaded = crate::model::checkpoint::load(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let model = loaded?;
    let mut rng = Rng::new(11);
    let inputs = Array2::from_shape_fn((args.gpt2_batch, args.gpt2_seq_len), |_| {
        rng.below(shape.vocab_size as u64) as usize
    });
    let config = PruneConfig {
        steps: args.gpt2_steps,
        batch_size: args.gpt2_batch,
        lr_warmup: 1,
        sparsity_warmup: 1,
        restarts: 1,
        cleanup_tolerance: None,
        ..PruneConfig::reverse()
    };
    Ok(Workload {
        name: format!(
            "gpt2-small-shaped random checkpoint (32,936 edges), batch {} x {} positions",
            args.gpt2_batch, args.gpt2_seq_len
        ),
        model,
        inputs,
        config,
    })
}

/// Multiply-adds x 2 of the useful products of one training step on a `[B, S]` batch: each product
/// with a frozen weight (q, k, v and output projections, MLP, readout) twice (forward, and the gradient of
/// its input: the weights' own gradients are not wanted and the candle backend skips them), and each
/// product of two activations three times (forward and both gradients): the attention scores and mixing,
/// and the readers' mixing of writer outputs (one `d_model` vector per edge and token), whose two
/// gradients are the mask gradients and the writer outputs' gradients.
fn step_flops(model: &Transformer, batch: usize, seq_len: usize) -> f64 {
    let tokens = (batch * seq_len) as f64;
    let d = model.d_model() as f64;
    let (mut weights, mut activations) = (0.0, 0.0);
    for layer in &model.layers {
        for head in &layer.heads {
            let (k, v) = (head.w_query.ncols() as f64, head.w_value.ncols() as f64);
            weights += 2.0 * tokens * d * (2.0 * k + v) + 2.0 * tokens * v * d;
            activations += 2.0 * batch as f64 * (seq_len * seq_len) as f64 * (k + v);
        }
        weights += 4.0 * tokens * d * layer.mlp.w_in.ncols() as f64;
    }
    weights += 2.0 * tokens * d * model.num_outputs() as f64;
    activations += 2.0 * tokens * d * crate::graph::EdgeGraph::for_model(model).num_edges() as f64;
    2.0 * weights + 3.0 * activations
}

/// The f32 matrix-multiply rate in GFLOP/s of the candle benchmarks' device: 1024 x 1024 by 1024 x 1024,
/// best of 5 (the ceiling the candle steps are compared against); and the same 5 products' GFLOP per
/// CPU-second of the process (`None` off Linux), the ceiling for the steps' per-CPU-second rate.
fn f32_matmul_peak() -> Result<(f64, Option<f64>)> {
    let device = crate::backend::candle::device(bench_device())?;
    use crate::error::Error;
    let n = 1024;
    let fail = |e: candle_core::Error| Error::InvalidOption {
        option: "bench".into(),
        message: e.to_string(),
    };
    let a = candle_core::Tensor::randn(0f32, 1.0, (n, n), &device).map_err(fail)?;
    let b = candle_core::Tensor::randn(0f32, 1.0, (n, n), &device).map_err(fail)?;
    let mut best = f64::INFINITY;
    // One untimed product first (kernel load, thread pool start).
    a.matmul(&b).and_then(|c| c.sum_all()).map_err(fail)?;
    let cpu_started = cpu_seconds();
    for _ in 0..5 {
        let started = Instant::now();
        let c = a.matmul(&b).map_err(fail)?;
        c.sum_all()
            .and_then(|x| x.to_scalar::<f32>())
            .map_err(fail)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    let flops = 2.0 * (n * n * n) as f64;
    let cpu = cpu_started
        .zip(cpu_seconds())
        .map(|(a, b)| 5.0 * flops / (b - a) / 1e9);
    Ok((flops / best / 1e9, cpu))
}

/// Resets the process's peak resident memory (Linux: `/proc/self/clear_refs`); false where unsupported.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident memory since the last reset, in MiB (Linux `VmHWM`).
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Seconds the official Edge Pruning code took for the full reverse run, measured once in an earlier
/// session on another 2-core CPU (../shared/docs/edge-pruning.md §8), not on this run's machine.
pub const OFFICIAL_REVERSE_SECONDS: f64 = 128.9;

/// Runs `edgeprune bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let reverse = ProgramArgs::edge_pruning_reverse().load()?;

    // The full reverse run of Edge Pruning's script, as the trainer runs it (progress callback included).
    let config = PruneConfig::reverse();
    let layout = ParameterLayout::new(
        reverse.task.model.num_layers(),
        reverse.task.model.num_heads(),
    )?;
    let workloads_timed = 1 + usize::from(!args.skip_gpt2);
    let total = args.reverse_runs + workloads_timed * backends(&args.backends).len();
    let bar = super::progress_bar(
        total as u64,
        "{bar:30} {pos}/{len} timings [{elapsed_precise}] {msg}",
    );
    let mut walls = Vec::new();
    let mut edges = 0;
    for run in 0..args.reverse_runs {
        if let Some(bar) = &bar {
            bar.set_message(format!("full reverse run {}", run + 1));
        }
        let mut backend = ndarray_backend(&reverse.task.model, &reverse.task.clean)?;
        let outcome = train(
            backend.as_mut(),
            &layout,
            reverse.task.num_examples(),
            &config,
            &mut |_| {},
        )?;
        walls.push(outcome.wall_time.as_secs_f64());
        edges = outcome.circuit.num_edges();
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    let mut lines = vec![format!(
        "Full Edge-Pruning reverse run (6000 steps, batch 16, ndarray-f64): median {:.3} s of {} runs \
         ({:.0} steps/s), {} edges found.",
        median,
        walls.len(),
        6000.0 / median,
        edges,
    )];
    // The official Python code cannot run here; its time is a constant measured once, on another
    // run (see README), so it is quoted for scale and not divided by this run's time.
    lines.push(format!(
        "(For scale, not measured here: the official Edge Pruning code took {OFFICIAL_REVERSE_SECONDS} s \
         for the same run, a constant measured once in an earlier session on another 2-core CPU; see the README.)"
    ));

    let mut workloads = vec![Workload {
        name: "reverse_123 (94 edges), batch 16 x 4 positions".into(),
        model: reverse.task.model.clone(),
        inputs: reverse.task.clean.clone(),
        config: PruneConfig {
            steps: 500,
            ..PruneConfig::reverse()
        },
    }];
    if !args.skip_gpt2 {
        workloads.push(gpt2_workload(args)?);
    }
    let (peak, cpu_peak) = f32_matmul_peak()?;
    lines.push(String::new());
    lines.push(format!(
        "f32 matrix-multiply peak of the candle device ({:?}, 1024^3, best of 5): {peak:.1} GFLOP/s \
         (ndarray-f64 rows are divided by it too, for scale); per CPU-second of this process: {}",
        bench_device(),
        cpu_peak.map_or("n/a".to_string(), |p| format!("{p:.1} GFLOP/s"))
    ));
    lines.push(String::new());
    lines.push(
        "| workload | backend | ms/step | steps/s | speed vs ndarray-f64 | peak RSS MiB | GFLOP/s | % of f32 peak | CPU s/step | % of f32 peak per CPU-second |"
            .into(),
    );
    lines.push("|---|---|---|---|---|---|---|---|---|---|".into());
    for workload in &workloads {
        let mut baseline = None;
        for (backend_name, make) in backends(&args.backends) {
            if let Some(bar) = &bar {
                bar.set_message(format!("{backend_name} on {}", workload.name));
            }
            let reset = reset_peak_memory();
            let mut backend = make(&workload.model, &workload.inputs)?;
            let (seconds, cpu) = seconds_per_step(backend.as_mut(), workload)?;
            let name = backend.name();
            let memory = peak_memory_mib()
                .filter(|_| reset)
                .map_or("n/a".to_string(), |m| format!("{m:.0}"));
            drop(backend);
            if backend_name == "ndarray-f64" {
                baseline = Some(seconds);
            }
            // Without the ndarray row (`--backend`) there is nothing to divide by.
            let speed = baseline.map_or("-".to_string(), |base| format!("{:.2}x", base / seconds));
            let (batch, seq_len) = workload.inputs.dim();
            // Dense FLOPs mean nothing for compiled (sparse, labelled) models, whose products the
            // reference restricts to non-zero dimensions.
            let dense = workload.model.residual_labels.is_none();
            let gflops = step_flops(&workload.model, batch, seq_len) / seconds / 1e9;
            let flops = step_flops(&workload.model, batch, seq_len);
            let cpu_share = match (cpu, cpu_peak) {
                (Some(c), Some(p)) if dense && c > 0.0 => {
                    format!("{:.1}%", 100.0 * flops / c / 1e9 / p)
                }
                _ => "-".to_string(),
            };
            let cpu = cpu.map_or("n/a".to_string(), |c| format!("{c:.2}"));
            let (gflops, share) = if dense {
                (
                    format!("{gflops:.2}"),
                    format!("{:.1}%", 100.0 * gflops / peak),
                )
            } else {
                ("-".to_string(), "-".to_string())
            };
            lines.push(format!(
                "| {} | {} | {:.3} | {:.1} | {} | {} | {} | {} | {} | {} |",
                workload.name,
                name,
                seconds * 1e3,
                1.0 / seconds,
                speed,
                memory,
                gflops,
                share,
                cpu,
                cpu_share
            ));
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
    }
    if let Some(bar) = &bar {
        bar.set_message("circuit methods");
    }
    if !args.skip_methods {
        lines.extend(method_lines(workloads.get(1))?);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for line in lines {
        super::emit(&line)?;
    }
    Ok(())
}

/// Circuit methods against the masked forward they are built on, in this process: one whole ACDC run on
/// reverse_123 (runner set-up and one pass at τ = 1e-9) against one masked forward over its data, and EAP
/// (one forward and backward of the linear metric, scores read off) against one masked forward+backward
/// of the KL, on every library program (zero ablation, all sequences of length max_seq_len) and on the
/// GPT-2-sized model. Fastest of the repeats, so load spikes count less.
fn method_lines(gpt2: Option<&Workload>) -> Result<Vec<String>> {
    let fastest = |times: &[f64]| times.iter().copied().fold(f64::INFINITY, f64::min);
    let mut lines = vec![
        String::new(),
        "| workload | method | ms | baseline | baseline ms | method / baseline |".into(),
        "|---|---|---|---|---|---|".into(),
    ];
    let reverse = ProgramArgs::edge_pruning_reverse().load()?;
    let ablation = Ablation::Zero;
    let input = MethodInput {
        task: &reverse.task,
        ablation: &ablation,
    };
    let all: Vec<usize> = (0..reverse.task.num_examples()).collect();
    let (mut acdc_times, mut forward_times) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        let mut runner = AcdcRunner::new(&input)?;
        runner.run(acdc::DEFAULT_TAU)?;
        acdc_times.push(started.elapsed().as_secs_f64());
        let mut forward =
            MaskedForward::new(&reverse.task.model, reverse.task.clean.view(), &ablation)?;
        let graph = forward.graph().clone();
        let started = Instant::now();
        forward.forward(
            &all,
            &vec![1.0; graph.num_edges()],
            &vec![1.0; graph.num_writers()],
        )?;
        forward_times.push(started.elapsed().as_secs_f64());
    }
    let (acdc_s, forward_s) = (fastest(&acdc_times), fastest(&forward_times));
    lines.push(format!(
        "| reverse_123 (94 edges, 27 inputs) | ACDC, whole run at tau 1e-9 | {:.2} | one masked forward | {:.3} | {:.0}x |",
        acdc_s * 1e3,
        forward_s * 1e3,
        acdc_s / forward_s
    ));
    for name in tracr::library::names() {
        let loaded = ProgramArgs::library(name, super::program::AblationKind::Zero).load()?;
        let timing = time_against_forward_backward(
            &loaded.task.model,
            loaded.task.clean.view(),
            &ablation,
            3,
        )?;
        lines.push(eap_line(name, &timing));
    }
    if let Some(workload) = gpt2 {
        let timing =
            time_against_forward_backward(&workload.model, workload.inputs.view(), &ablation, 1)?;
        lines.push(eap_line(&workload.name, &timing));
    }
    Ok(lines)
}

fn eap_line(workload: &str, timing: &EapTiming) -> String {
    format!(
        "| {workload} | EAP (all edges) | {:.3} | one masked forward+backward | {:.3} | {:.2}x |",
        timing.eap_seconds * 1e3,
        timing.forward_backward_seconds * 1e3,
        timing.ratio()
    )
}

//! The `tracr` command line: evaluate, check and compile RASP programs written as `.rasp` text or
//! taken from the library registry, and run compiled models.
//!
//! Each subcommand is one `Args` struct and one `run_*` function; programs are chosen with the
//! shared [`ProgramArgs`] (`--lib NAME` or `FILE.rasp`), so new subcommands reuse it. What the
//! commands do beyond argument handling lives in the library (`tracr::cli`, `tracr::describe`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tracr::cli::model_file::read_model;
use tracr::cli::program::{
    load_program, parse_tokens, values_json, LoadError, LoadedProgram, ProgramSource,
};
use tracr::cli::run_json::run_to_json;
use tracr::describe::describe;
use tracr::error::{Error, Result};
use tracr::formats::bench::{bench_formats, process_start_ms, render, BenchOptions};
use tracr::formats::{check_dtype, check_output, write_model_as, ModelFormat, TensorDtype};
use tracr::rasp::text::ProgramSettings;

/// Tracr in Rust: evaluate, check and compile RASP programs; run compiled models.
#[derive(Debug, Parser)]
#[command(name = "tracr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate a program on one input and print its output as JSON (NaN and ±infinity as null).
    Eval(EvalArgs),
    /// Will `compile` accept this program? Runs every check compile runs, short of writing weights.
    Check(CheckArgs),
    /// Print a program as canonical .rasp text, led by a header with its settings.
    Print(PrintArgs),
    /// Compile a program to transformer weights (-o model.json) and/or describe the model.
    Compile(CompileArgs),
    /// Run a compiled model on one input and print the decoded output as JSON.
    Run(RunArgs),
    /// Time writing and reading each model file format for every library program (a table).
    Bench(BenchArgs),
}

/// `tracr bench`.
#[derive(Debug, Args)]
struct BenchArgs {
    /// Runs per measurement; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 7)]
    runs: usize,
    /// Only these library programs, comma-separated (default: all).
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    programs: Vec<String>,
    /// Skip timing whole `tracr compile` processes.
    #[arg(long)]
    no_process: bool,
}

/// Which program: a library program by name, or a `.rasp` file.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ProgramArgs {
    /// A library program by name (an unknown name lists them all).
    #[arg(long, value_name = "NAME")]
    lib: Option<String>,
    /// A program written in .rasp text; its header (`# vocab: a,b`, `# max_seq_len: 5`,
    /// `# causal: true`, ...) gives settings that the flags override.
    #[arg(value_name = "FILE.rasp")]
    file: Option<PathBuf>,
}

impl ProgramArgs {
    fn source(&self) -> ProgramSource {
        match (&self.lib, &self.file) {
            (Some(name), _) => ProgramSource::Library(name.clone()),
            (None, Some(path)) => ProgramSource::File(path.clone()),
            (None, None) => unreachable!("clap requires --lib or a file"),
        }
    }
}

/// The settings `eval`, `check` and `compile` share; each overrides the file's header.
#[derive(Debug, Args)]
struct ProgramSettingsArgs {
    /// The vocabulary, comma-separated; an item that parses as an integer is an integer
    /// (a library program brings its own; a .rasp file may give it as `# vocab: a,b,c`).
    /// `eval` checks the input against it.
    #[arg(long, value_name = "a,b,c", allow_hyphen_values = true)]
    vocab: Option<String>,
    /// The longest input (BOS not counted); a library program is built for it (sort and
    /// sort_freq depend on it); a .rasp file may give it as `# max_seq_len: N`. `eval` refuses
    /// longer inputs.
    #[arg(long, value_name = "N")]
    max_seq_len: Option<usize>,
    /// Causal: each position sees only the positions up to itself (implied for library programs
    /// compiled causally and by a `# causal: true` header; `--causal=false` overrides those).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    causal: Option<bool>,
}

/// The compiler's own settings, for `check` and `compile`; each overrides the file's header.
#[derive(Debug, Args)]
struct CompilerArgs {
    #[command(flatten)]
    program: ProgramSettingsArgs,
    /// The BOS token the compiler prepends; it must not be in the vocabulary [default: BOS].
    #[arg(long, value_name = "TOKEN")]
    bos: Option<String>,
    /// The padding token; it must not be in the vocabulary [default: compiler_pad].
    #[arg(long, value_name = "TOKEN")]
    pad: Option<String>,
    /// Slope of the MLPs that discretise numerical values: larger is more exact [default: 100].
    #[arg(long, value_name = "K")]
    mlp_exactness: Option<f64>,
    /// Fix Tracr's known compiler bugs (None outputs of categorical Aggregates, SelectorWidth on long
    /// inputs, key_size narrower than a head's output, negative cat->num Maps, numerical Maps writing
    /// at BOS; docs/tracr-fixes.md).
    /// The model then differs from Tracr's and says so in its file (`tracr_fixes`); also
    /// `# fix_tracr_bugs: true` in a file's header [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    fix_tracr_bugs: Option<bool>,
}

impl ProgramSettingsArgs {
    fn flags(&self) -> ProgramSettings {
        ProgramSettings {
            vocab: self.vocab.as_deref().map(parse_tokens),
            max_seq_len: self.max_seq_len,
            causal: self.causal,
            ..ProgramSettings::default()
        }
    }
}

impl CompilerArgs {
    fn flags(&self) -> ProgramSettings {
        ProgramSettings {
            compiler_bos: self.bos.clone(),
            compiler_pad: self.pad.clone(),
            mlp_exactness: self.mlp_exactness,
            fix_tracr_bugs: self.fix_tracr_bugs,
            ..self.program.flags()
        }
    }
}

/// `tracr eval`.
#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    program: ProgramArgs,
    /// The input tokens, comma-separated; an item that parses as an integer is an integer.
    #[arg(long, value_name = "a,b,c", allow_hyphen_values = true)]
    input: String,
    #[command(flatten)]
    settings: ProgramSettingsArgs,
}

/// `tracr check`.
#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    program: ProgramArgs,
    #[command(flatten)]
    settings: CompilerArgs,
}

/// `tracr print`.
#[derive(Debug, Args)]
struct PrintArgs {
    #[command(flatten)]
    program: ProgramArgs,
}

/// `tracr compile`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("destination").required(true).multiple(true))]
struct CompileArgs {
    #[command(flatten)]
    program: ProgramArgs,
    #[command(flatten)]
    settings: CompilerArgs,
    /// Write the model here (as --format says), atomically; through a symlink to its target; `-` is
    /// standard output (json, safetensors).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        group = "destination"
    )]
    output: Option<PathBuf>,
    /// The model file's format: `json` (the fixtures' `model` schema), `safetensors` (float64, our
    /// names, exact) or `transformerlens` (a folder: model.safetensors, config.json, vocab.json for
    /// HookedTransformer) [default: safetensors for a `.safetensors` name, else json].
    #[arg(long, value_name = "FORMAT", requires = "output")]
    format: Option<ModelFormat>,
    /// The safetensors file's float type: `f64` (the default: exactly the compiled weights; reads
    /// back bit for bit) or `f32` (half the bytes; every weight rounded to float32).
    #[arg(long, value_name = "DTYPE", requires = "output")]
    dtype: Option<TensorDtype>,
    /// Print a table of the model's layers, heads and MLPs and its residual stream.
    #[arg(long, group = "destination")]
    describe: bool,
    /// Rotate the residual stream by a random orthogonal matrix drawn from SEED (exact: every output
    /// is unchanged; labels become `rotated:i`, the JSON keeps the compiled labels and the matrix).
    #[arg(long, value_name = "SEED")]
    rotate: Option<u64>,
    /// Add Gaussian noise of relative size EPS (times each weight tensor's RMS) to every weight.
    #[arg(long, value_name = "EPS", allow_hyphen_values = true)]
    perturb: Option<f64>,
    /// The noise's seed (with --perturb).
    #[arg(long, value_name = "S", default_value_t = 0, requires = "perturb")]
    perturb_seed: u64,
    /// Compress the residual stream to D dimensions (1..d_model-1; Tracr's compressed residual:
    /// the weights stay, one trained matrix W writes x·W and reads r·Wᵀ), or `auto` for the smallest
    /// D whose model decodes every input of max_seq_len tokens as the compiled model does. Trained
    /// on those inputs (a seeded sample of 10,000 when there are more; edgeprune's task data),
    /// f64, full-batch Adam; the agreement on shorter inputs is reported.
    #[arg(long, value_name = "D|auto", value_parser = parse_width, allow_hyphen_values = true)]
    compress: Option<Width>,
    /// Adam steps per compression (the budget; training stops early once every input decodes as
    /// the compiled model's).
    #[arg(long, value_name = "N", requires = "compress",
          default_value_t = tracr::transform::compress::CompressOptions::default().steps)]
    compress_steps: usize,
    /// Seed of W's initial random projection (with --compress).
    #[arg(long, value_name = "S", default_value_t = 0, requires = "compress")]
    compress_seed: u64,
    /// Train (and search D) on every input length from 1 to max_seq_len, not only max_seq_len
    /// (mixed lengths need wider residuals: reverse reaches no width below d_model in the budget).
    #[arg(long, requires = "compress")]
    compress_all_lengths: bool,
}

/// `--compress`'s value: a width, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Width {
    Fixed(usize),
    Auto,
}

fn parse_width(text: &str) -> std::result::Result<Width, String> {
    if text == "auto" {
        return Ok(Width::Auto);
    }
    text.parse().map(Width::Fixed).map_err(|_| {
        format!("`{text}` is neither a width (a whole number 1..d_model-1) nor `auto`")
    })
}

/// `tracr run`.
#[derive(Debug, Args)]
struct RunArgs {
    /// A model written by `tracr compile -o`: a `.json` or `.safetensors` file, or a
    /// TransformerLens folder.
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// The input tokens, comma-separated, without BOS (a leading BOS is accepted and not doubled);
    /// an item that parses as an integer is an integer. Repeat it to run several inputs: one
    /// output line each, in order.
    #[arg(
        long,
        value_name = "a,b,c",
        allow_hyphen_values = true,
        required = true
    )]
    input: Vec<String>,
    /// Print, per input, one JSON object with the residual stream after every half-layer (its
    /// columns named by `residual_labels`) instead of the decoded list.
    #[arg(long)]
    trace: bool,
}

fn run_compile(args: &CompileArgs, program: &LoadedProgram) -> Result<String> {
    if args.describe && args.output.as_deref().is_some_and(tracr::io::is_stdout) {
        return Err(Error::Message(
            "`-o -` and --describe both write to standard output: give -o a file, or drop one"
                .into(),
        ));
    }
    // Before the work: a path that cannot take the model fails now, not after compiling.
    let output = match &args.output {
        Some(path) => {
            let format = ModelFormat::for_output(args.format, path)?;
            check_dtype(format, args.dtype)?;
            check_output(path, format)?;
            Some((path, format))
        }
        None => None,
    };
    let transforms = tracr::transform::TransformOptions {
        rotate: args.rotate,
        perturb: args.perturb.map(|epsilon| (epsilon, args.perturb_seed)),
        compress: args
            .compress
            .map(|width| tracr::transform::CompressRequest {
                dims: match width {
                    Width::Fixed(d) => Some(d),
                    Width::Auto => None,
                },
                options: tracr::transform::compress::CompressOptions {
                    steps: args.compress_steps,
                    seed: args.compress_seed,
                    ..Default::default()
                },
                all_lengths: args.compress_all_lengths,
            }),
    };
    let model = compile_and_transform(program, &transforms)?;
    if let Some((path, format)) = output {
        write_model_as(&model, path, format, args.dtype)?;
        // Formatted first: standard error is unbuffered, and `eprintln!` would write each of the
        // line's nine pieces with its own system call.
        let line = format!(
            "wrote {}: {} layers, {} heads, d_model {}\n",
            path.display(),
            model.config.num_layers,
            model.config.num_heads,
            model.config.d_model
        );
        eprint!("{line}");
    }
    let text = if args.describe {
        describe(&model).trim_end().to_string()
    } else {
        String::new()
    };
    // The process ends right after this: freeing the weights one by one would only cost time
    // (a measurable part of a short `tracr compile -o` process), so the exit frees them.
    std::mem::forget(model);
    Ok(text)
}

/// Compiles `program` and applies `transforms`; a compression is reported on stderr (a spinner on a
/// terminal while it trains, then one summary line with its accuracy against the RASP evaluator).
fn compile_and_transform(
    program: &LoadedProgram,
    transforms: &tracr::transform::TransformOptions,
) -> Result<tracr::CompiledModel> {
    let compiled = program.compile()?;
    if transforms.compress.is_none() {
        return tracr::transform::apply(compiled, transforms);
    }
    // Bad widths and budgets fail before the spinner draws.
    transforms.check(&compiled)?;
    // The heap keeps what the steps free (heap_in_huge_pages, first in main): every Adam step
    // allocates and frees the same activation arrays, and glibc's defaults handed them back to the
    // kernel, so each step paid page faults and zeroing again (more system than user time).
    // indicatif draws only on a terminal: piped, only the summary line below is printed.
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner.set_message(format!("compressing d_model {}", compiled.config.d_model));
    let result =
        tracr::transform::apply_reporting(compiled, transforms, &mut |dims, agreement, seconds| {
            spinner.set_message(format!(
                "compressing: D = {dims} decodes {:.1} % of inputs as compiled ({seconds:.1} s)",
                100.0 * agreement
            ));
        });
    spinner.finish_and_clear();
    let (model, outcome) = result?;
    if let Some(c) = outcome {
        // The RASP evaluator's output on every input: what the model should decode.
        let expected = c
            .inputs
            .iter()
            .map(|block| {
                tracr::transform::compress::input_values(&model, block)?
                    .iter()
                    .map(|tokens| program.eval(tokens))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let accuracy = tracr::transform::compress::pooled_accuracy(&model, &c.inputs, &expected)?;
        let shorter = match c.shorter_agreement {
            Some(share) => format!(
                "; on the shorter inputs, which it was not trained on, {:.1} % as the compiled model \
                 (--compress-all-lengths trains on them too)",
                100.0 * share
            ),
            None => String::new(),
        };
        // Only `auto` tries more than one width.
        let searched = match c.tried.len() {
            1 => String::new(),
            tried => format!(" (smallest of {tried} widths tried)"),
        };
        eprintln!(
            "compressed the residual from d_model {} to {}{searched}: {} Adam steps, loss {:.3e}, \
             {:.1} s of training; on {} it decodes {:.1} % as the compiled model does and {:.1} % \
             as the RASP evaluator does{shorter}",
            c.d_model,
            c.dims,
            c.steps,
            c.loss,
            c.seconds,
            inputs_text(&model, &c.inputs)?,
            100.0 * c.agreement,
            100.0 * accuracy
        );
    }
    Ok(model)
}

/// "all 243 inputs of 5 tokens", or "10,120 inputs of 1 to 5 tokens (a sample of 10,000 of
/// the 15^5 of 5 tokens)".
fn inputs_text(model: &tracr::CompiledModel, inputs: &[ndarray::Array2<usize>]) -> Result<String> {
    let (ids, _) = tracr::transform::compress::input_token_ids(model)?;
    let rows: usize = inputs.iter().map(|b| b.nrows()).sum();
    let sampled: Vec<String> = inputs
        .iter()
        .map(|b| b.ncols() - 1)
        .filter(|&length| {
            (ids.len() as f64).powi(length as i32)
                > tracr::transform::compress::MAX_ENUMERATED as f64
        })
        .map(|length| format!("{}^{length} of {length} tokens", ids.len()))
        .collect();
    Ok(if sampled.is_empty() {
        format!("all {rows} inputs of {} tokens", lengths_text(inputs))
    } else {
        format!(
            "{rows} inputs of {} tokens (a sample of {} of the {})",
            lengths_text(inputs),
            tracr::transform::compress::MAX_ENUMERATED,
            sampled.join(", of the ")
        )
    })
}

/// "5", or "1 to 5": the input lengths of the blocks.
fn lengths_text(inputs: &[ndarray::Array2<usize>]) -> String {
    let first = inputs.first().map_or(0, |b| b.ncols() - 1);
    let last = inputs.last().map_or(0, |b| b.ncols() - 1);
    if first == last {
        first.to_string()
    } else {
        format!("{first} to {last}")
    }
}

/// One JSON line per input; an error says which input when there are several.
fn run_run(args: &RunArgs) -> std::result::Result<String, String> {
    let model = read_model(&args.model).map_err(|e| report(&e, None))?;
    let mut lines = Vec::with_capacity(args.input.len());
    for (number, input) in args.input.iter().enumerate() {
        match run_to_json(&model, &parse_tokens(input), args.trace) {
            Ok(json) => lines.push(json.to_string()),
            Err(e) if args.input.len() > 1 => {
                return Err(format!(
                    "{} (in --input #{} `{input}`)",
                    report(&e, None),
                    number + 1
                ))
            }
            Err(e) => return Err(report(&e, None)),
        }
    }
    Ok(lines.join("\n"))
}

/// Times every format (see [`tracr::formats::bench`]), printing a line per program on stderr.
fn run_bench(args: &BenchArgs) -> Result<String> {
    let options = BenchOptions {
        runs: args.runs,
        programs: args.programs.clone(),
        tracr_binary: if args.no_process {
            None
        } else {
            std::env::current_exe().ok()
        },
        scratch: std::env::temp_dir().join(format!("tracr-bench-{}", std::process::id())),
    };
    let count = if args.programs.is_empty() {
        tracr::library::names().len()
    } else {
        args.programs.len()
    };
    // indicatif draws only on a terminal: piped, bench prints just the table.
    let bar = indicatif::ProgressBar::new(count as u64);
    let rows = bench_formats(&options, |row| {
        bar.set_message(row.program.clone());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let start = match &options.tracr_binary {
        Some(binary) => Some(process_start_ms(binary, args.runs)?),
        None => None,
    };
    Ok(render(&rows?, args.runs.max(1), start))
}

/// The error, and for a parse error the offending line with a caret under the column.
fn report(error: &Error, source: Option<&(String, PathBuf)>) -> String {
    let mut out = format!("error: {error}");
    if let (Error::Parse(e), Some((text, path))) = (error, source) {
        let line_text = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        let gutter = e.line().to_string().len();
        out.push_str(&format!(
            "\n{:gutter$}--> {}:{}:{}\n{:gutter$} |\n{} | {}\n{:gutter$} | {}^",
            "",
            path.display(),
            e.line(),
            e.column(),
            "",
            e.line(),
            line_text,
            "",
            " ".repeat(e.column().saturating_sub(1)),
        ));
    }
    out
}

/// Prints to stdout; a closed pipe (`tracr ... | head`) ends the program quietly instead of panicking.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{text}") {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {error}");
            std::process::exit(1);
        }
    }
}

/// Lets the kernel back this process's heap with 2 MiB pages (transparent huge pages, where it
/// allows them for memory that asks: `madvise` mode, as on this project's machines).
///
/// A short `tracr compile -o` spends much of its time on page faults: every fresh 4 KiB page of
/// the model's weights (2 MB for shuffle_dyck2, nearly all zeros) costs a fault, a zeroing and a
/// memory-cgroup charge. So the heap grows 8 MiB at a time, large allocations come from it rather
/// than from their own mappings, nothing is handed back before the exit, and the heap is moved to
/// start on a 2 MiB boundary whose next 8 MiB are advised to be huge pages: one fault per 2 MiB.
///
/// The move matters because a 2 MiB block can only become a huge page if nothing in it was
/// touched before the advice. The heap starts at a random address, so without the move its first
/// 0-2 MiB (where every early allocation lies) were 4 KiB pages: 300-500 faults in shuffle_dyck2's
/// safetensors process, measured with `perf record -e page-faults`; with it, 150 faults in all,
/// the same as `tracr --version`'s 130, and the process 0.7 ms faster (median of 80 alternating
/// runs). So the break is first moved to one page short of a boundary, and one allocation of
/// the advised size plus a page is made and freed: glibc writes its chunk headers only at the
/// chunk's start (in that last page) and just past its end (beyond the advised blocks), and the
/// freed chunk becomes the top of the heap, which later allocations take from in order. glibc
/// accepts a break moved by someone else (it fences off its old top and continues at the new
/// break). Were any of this to go otherwise, the cost is only pages that stay 4 KiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_in_huge_pages() {
    const HUGE_PAGE: usize = 2 << 20;
    const PAGE: usize = 4 << 10;
    const ADVISED: usize = 8 << 20;
    // SAFETY: called first in main, while this is the only thread. mallopt sets allocator
    // parameters; sbrk moves the break over memory nobody uses yet (glibc handles a foreign
    // break: it continues after it); the malloc/free pair only makes glibc's heap grow by the
    // advised size now; madvise with MADV_HUGEPAGE is advice on pages the heap owns and changes
    // none of their contents.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        libc::mallopt(libc::M_TOP_PAD, 8 << 20);
        let end = libc::sbrk(0) as usize;
        let boundary = (end + PAGE).next_multiple_of(HUGE_PAGE);
        if libc::sbrk((boundary - PAGE - end) as libc::intptr_t) as isize == -1 {
            return;
        }
        let probe = libc::malloc(ADVISED + PAGE);
        if probe.is_null() {
            return;
        }
        let start = probe as usize;
        libc::free(probe);
        let heap_end = libc::sbrk(0) as usize;
        // The probe lies just before the boundary unless glibc placed it elsewhere (a mapping of
        // its own when the heap could not grow): then there is nothing to advise.
        if start < boundary && boundary - start <= PAGE && heap_end >= boundary + ADVISED {
            libc::madvise(boundary as *mut libc::c_void, ADVISED, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_in_huge_pages() {}

// The unwinder linked in rather than loaded: std's unwinding calls (`_Unwind_*`) resolve to GCC's
// static libgcc_eh, which every GCC installation has (it is what `gcc -static-libgcc` links, and
// what Rust links for `+crt-static`), so the dynamic loader no longer maps libgcc_s.so at each
// start. That is 0.2-0.3 ms of a `tracr --version` process (1.80 -> 1.46 ms, median of 100
// alternating runs) and of every `tracr compile -o` (#11's 5 ms target). Listed in the binary
// crate, the archive comes before std's `-lgcc_s` on the link line, so the linker takes the
// unwinder from it and, linking with --as-needed, drops libgcc_s; panics unwind as before.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[link(name = "gcc_eh", kind = "static", modifiers = "-bundle")]
extern "C" {}

fn main() -> ExitCode {
    heap_in_huge_pages();
    let cli = Cli::parse();
    let program_args = match &cli.command {
        Command::Eval(a) => &a.program,
        Command::Check(a) => &a.program,
        Command::Print(a) => &a.program,
        Command::Compile(a) => &a.program,
        Command::Bench(args) => {
            return match run_bench(args) {
                Ok(table) => {
                    print_stdout(&table);
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("{}", report(&error, None));
                    ExitCode::FAILURE
                }
            };
        }
        Command::Run(args) => {
            return match run_run(args) {
                Ok(lines) => {
                    print_stdout(&lines);
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let flags = match &cli.command {
        Command::Eval(a) => a.settings.flags(),
        Command::Check(a) => a.settings.flags(),
        Command::Compile(a) => a.settings.flags(),
        Command::Print(_) | Command::Run(_) | Command::Bench(_) => ProgramSettings::default(),
    };
    let program = match load_program(&program_args.source(), &flags) {
        Ok(p) => p,
        Err(LoadError { error, source }) => {
            eprintln!("{}", report(&error, source.as_ref()));
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        Command::Eval(args) => program
            .eval(&parse_tokens(&args.input))
            .map(|output| (values_json(&output), true)),
        Command::Check(_) => match program.check() {
            Ok(summary) => Ok((summary, true)),
            Err(errors) => {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| report(e, program.source.as_ref()))
                    .collect();
                Ok((lines.join("\n"), false))
            }
        },
        Command::Print(_) => program
            .print()
            .map(|text| (text.trim_end().to_string(), true)),
        Command::Compile(args) => run_compile(args, &program).map(|text| (text, true)),
        Command::Run(_) | Command::Bench(_) => {
            unreachable!("run and bench take no program and returned above")
        }
    };
    match result {
        Ok((text, true)) => {
            if !text.is_empty() {
                print_stdout(&text);
            }
            ExitCode::SUCCESS
        }
        Ok((text, false)) => {
            eprintln!("{text}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("{}", report(&error, program.source.as_ref()));
            ExitCode::FAILURE
        }
    }
}

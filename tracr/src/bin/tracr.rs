//! The `tracr` command line: evaluate, check and compile RASP programs written as `.rasp` text or
//! taken from the library registry, and run compiled models.
//!
//! Each subcommand is one `Args` struct and one `run_*` function; programs are chosen with the
//! shared [`ProgramArgs`] (`--lib NAME` or `FILE.rasp`), so new subcommands reuse it. What the
//! commands do beyond argument handling lives in the library (`tracr::cli`, `tracr::describe`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tracr::cli::model_file::{read_model, write_model};
use tracr::cli::run_json::run_to_json;
use tracr::describe::describe;
use tracr::error::{Error, Result};
use tracr::graph::extract;
use tracr::library;
use tracr::rasp::text::{parse_program, print_program};
use tracr::rasp::validate::{check_vocab, static_validate};
use tracr::rasp::{Evaluator, SOp};
use tracr::value::{python_float_repr, Value};
use tracr::{compile, CompileOptions};

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
    /// Evaluate a program on one input and print its output as JSON.
    Eval(EvalArgs),
    /// Run Tracr's static validation: will the compiler accept this program?
    Check(CheckArgs),
    /// Print a program as canonical .rasp text.
    Print(PrintArgs),
    /// Compile a program to transformer weights (-o model.json) and/or describe the model.
    Compile(CompileArgs),
    /// Run a compiled model on one input and print the decoded output as JSON.
    Run(RunArgs),
}

/// Which program: a library program by name, or a `.rasp` file.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ProgramArgs {
    /// A library program by name (an unknown name lists them all).
    #[arg(long, value_name = "NAME")]
    lib: Option<String>,
    /// A program written in .rasp text.
    #[arg(value_name = "FILE.rasp")]
    file: Option<PathBuf>,
}

/// `tracr eval`.
#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    program: ProgramArgs,
    /// The input tokens, comma-separated; an item that parses as an integer is an integer.
    #[arg(long, value_name = "a,b,c", allow_hyphen_values = true)]
    input: String,
    /// The vocabulary to check the input against (a library program brings its own).
    #[arg(long, value_name = "a,b,c", allow_hyphen_values = true)]
    vocab: Option<String>,
    /// Evaluate causally: each position sees only the positions up to itself
    /// (implied for library programs compiled causally).
    #[arg(long)]
    causal: bool,
}

/// `tracr check`.
#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    program: ProgramArgs,
    /// The vocabulary the program would be compiled for, comma-separated.
    #[arg(long, value_name = "a,b,c", allow_hyphen_values = true)]
    vocab: Option<String>,
    /// The longest input the program would be compiled for.
    #[arg(long, value_name = "N")]
    max_seq_len: Option<usize>,
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
    /// The vocabulary, comma-separated; an item that parses as an integer is an integer
    /// (a library program brings its own).
    #[arg(long, value_name = "a,b,c", allow_hyphen_values = true)]
    vocab: Option<String>,
    /// The longest input (BOS not counted) the model accepts (a library program brings its own).
    #[arg(long, value_name = "N")]
    max_seq_len: Option<usize>,
    /// Mask attention to future positions (implied for library programs compiled causally).
    #[arg(long)]
    causal: bool,
    /// The BOS token the compiler prepends; it must not be in the vocabulary.
    #[arg(long, value_name = "TOKEN", default_value = "BOS")]
    bos: String,
    /// The padding token; it must not be in the vocabulary.
    #[arg(long, value_name = "TOKEN", default_value = "compiler_pad")]
    pad: String,
    /// Slope of the MLPs that discretise numerical values: larger is more exact.
    #[arg(long, value_name = "K", default_value_t = 100.0)]
    mlp_exactness: f64,
    /// Write the model here as JSON (the fixtures' `model` schema), atomically.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        group = "destination"
    )]
    output: Option<PathBuf>,
    /// Print a table of the model's layers, heads and MLPs and its residual stream.
    #[arg(long, group = "destination")]
    describe: bool,
}

/// `tracr run`.
#[derive(Debug, Args)]
struct RunArgs {
    /// A model written by `tracr compile -o`.
    #[arg(value_name = "MODEL.json")]
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

/// A program ready to use, with what the library says about it.
pub struct LoadedProgram {
    /// The program's output.
    pub output: SOp,
    /// The library program's vocabulary, if it came from the library.
    pub vocab: Option<Vec<Value>>,
    /// The library program's maximum sequence length, if it came from the library.
    pub max_seq_len: Option<usize>,
    /// Whether the library compiles it causally.
    pub causal: bool,
    /// The source text and path, for pointing at parse errors.
    source: Option<(String, PathBuf)>,
}

/// Builds the library program or parses the file.
pub fn load_program(
    args: &ProgramArgs,
) -> std::result::Result<LoadedProgram, (Error, Option<(String, PathBuf)>)> {
    if let Some(name) = &args.lib {
        let program = library::by_name(name).ok_or_else(|| {
            (
                Error::UnknownProgram {
                    name: name.clone(),
                    available: library::names().into_iter().map(String::from).collect(),
                },
                None,
            )
        })?;
        return Ok(LoadedProgram {
            output: program.program,
            vocab: Some(program.vocab),
            max_seq_len: Some(program.max_seq_len),
            causal: program.causal,
            source: None,
        });
    }
    let path = args.file.clone().expect("clap requires --lib or a file");
    let text = std::fs::read_to_string(&path).map_err(|source| {
        (
            Error::Io {
                path: path.display().to_string(),
                source,
            },
            None,
        )
    })?;
    match parse_program(&text) {
        Ok(parsed) => Ok(LoadedProgram {
            output: parsed.output,
            vocab: None,
            max_seq_len: None,
            causal: false,
            source: Some((text, path)),
        }),
        Err(e) => Err((e.into(), Some((text, path)))),
    }
}

/// Splits a comma-separated list into tokens (integers where they parse as integers).
pub fn parse_tokens(list: &str) -> Vec<Value> {
    if list.trim().is_empty() {
        return Vec::new();
    }
    list.split(',').map(Value::parse_token).collect()
}

/// The value as JSON with Python's spelling of numbers (`1.0`, `0.5`); tuples become arrays,
/// non-finite floats `NaN`/`Infinity` as Python's `json.dumps` writes them.
pub fn value_json(v: &Value) -> String {
    match v {
        Value::None => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) if x.is_nan() => "NaN".into(),
        Value::Float(x) if x.is_infinite() => {
            if *x > 0.0 { "Infinity" } else { "-Infinity" }.into()
        }
        Value::Float(x) => python_float_repr(*x),
        Value::Str(s) => serde_json::to_string(s).expect("a string always serialises"),
        Value::Tuple(items) => json_array(items),
    }
}

fn json_array(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(value_json).collect();
    format!("[{}]", items.join(", "))
}

fn vocab_text(vocab: &[Value]) -> String {
    vocab
        .iter()
        .map(Value::py_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_eval(args: &EvalArgs, program: &LoadedProgram) -> Result<String> {
    let xs = parse_tokens(&args.input);
    let vocab = match &args.vocab {
        Some(list) => Some(parse_tokens(list)),
        None => program.vocab.clone(),
    };
    if let Some(vocab) = &vocab {
        if let Some((position, token)) = xs.iter().enumerate().find(|(_, x)| !vocab.contains(x)) {
            return Err(Error::TokenNotInVocab {
                token: token.py_str(),
                position,
                vocab: vocab_text(vocab),
            });
        }
    }
    let evaluator = Evaluator::new(args.causal || program.causal);
    let output = evaluator.evaluate(&program.output, &xs)?;
    Ok(json_array(&output))
}

fn run_check(args: &CheckArgs, program: &LoadedProgram) -> Result<(String, bool)> {
    let vocab = match &args.vocab {
        Some(list) => parse_tokens(list),
        None => program.vocab.clone().unwrap_or_default(),
    };
    if vocab.is_empty() {
        return Err(Error::Message(
            "the vocabulary is empty: give it with --vocab a,b,c".into(),
        ));
    }
    let max_seq_len = args.max_seq_len.or(program.max_seq_len).unwrap_or(0);
    if max_seq_len == 0 {
        return Err(Error::Message(
            "the maximum sequence length must be at least 1: give it with --max-seq-len N".into(),
        ));
    }
    check_vocab(&vocab, "compiler_bos", "compiler_pad")?;
    let graph = extract(&program.output)?;
    let issues = static_validate(&graph);
    if issues.is_empty() {
        return Ok((
            format!(
                "OK: `{}` passes Tracr's static validation (vocab {{{}}}, max_seq_len {max_seq_len})",
                graph.sink,
                vocab_text(&vocab)
            ),
            true,
        ));
    }
    let lines: Vec<String> = issues
        .iter()
        .map(|issue| format!("unsupported `{}`: {}", issue.label, issue.reason))
        .collect();
    Ok((lines.join("\n"), false))
}

/// The vocabulary without repeats, in first-seen order (Tracr's vocabulary is a set).
fn distinct(tokens: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(tokens.len());
    for token in tokens {
        if !out.contains(&token) {
            out.push(token);
        }
    }
    out
}

fn run_compile(args: &CompileArgs, program: &LoadedProgram) -> Result<String> {
    let vocab = match &args.vocab {
        Some(list) => distinct(parse_tokens(list)),
        None => program.vocab.clone().ok_or_else(|| {
            Error::Message("a .rasp program needs a vocabulary: give it with --vocab a,b,c".into())
        })?,
    };
    if vocab.is_empty() {
        return Err(Error::Message(
            "the vocabulary is empty: give it with --vocab a,b,c".into(),
        ));
    }
    let max_seq_len = args.max_seq_len.or(program.max_seq_len).ok_or_else(|| {
        Error::Message(
            "a .rasp program needs a maximum input length: give it with --max-seq-len N".into(),
        )
    })?;
    if !(args.mlp_exactness.is_finite() && args.mlp_exactness > 0.0) {
        return Err(Error::Message(format!(
            "--mlp-exactness must be a positive number, got {}",
            args.mlp_exactness
        )));
    }
    let options = CompileOptions {
        causal: args.causal || program.causal,
        bos: args.bos.clone(),
        pad: args.pad.clone(),
        mlp_exactness: args.mlp_exactness,
    };
    let model = compile(&program.output, &vocab, max_seq_len, &options)?;
    if let Some(path) = &args.output {
        write_model(&model, path)?;
        eprintln!(
            "wrote {}: {} layers, {} heads, d_model {}",
            path.display(),
            model.config.num_layers,
            model.config.num_heads,
            model.config.d_model
        );
    }
    Ok(if args.describe {
        describe(&model).trim_end().to_string()
    } else {
        String::new()
    })
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let program_args = match &cli.command {
        Command::Eval(a) => &a.program,
        Command::Check(a) => &a.program,
        Command::Print(a) => &a.program,
        Command::Compile(a) => &a.program,
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
    let program = match load_program(program_args) {
        Ok(p) => p,
        Err((error, source)) => {
            eprintln!("{}", report(&error, source.as_ref()));
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        Command::Eval(args) => run_eval(args, &program).map(|json| (json, true)),
        Command::Check(args) => run_check(args, &program),
        Command::Print(_) => {
            print_program(&program.output).map(|text| (text.trim_end().to_string(), true))
        }
        Command::Compile(args) => run_compile(args, &program).map(|text| (text, true)),
        Command::Run(_) => unreachable!("run takes no program and returned above"),
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

//! The program a subcommand works on: a library program, a `.rasp` file or a compiled `model.json`,
//! compiled for a vocabulary, with its task data.
//!
//! Flags are split by what they mean: [`SourceArgs`] (exactly one of `--lib`, `--program`, `--model`),
//! [`CompileFlags`] (how a program is compiled; an error with `--model`, whose weights are fixed) and
//! [`DataArgs`] (the sequences, the ablation and their seed). `edgeprune graph` takes [`ModelArgs`]
//! (no data); `truth`, `prune` and later commands take [`ProgramArgs`] (model and data).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use tracr::model::CompiledModel;
use tracr::rasp::text::{parse_program, ProgramSettings};
use tracr::value::Value;
use tracr::{compile, CompileOptions};

use crate::ablation::Ablation;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;
use crate::model::Transformer;
use crate::report::components::component_labels;
use crate::task::Task;

/// Where the model comes from: exactly one of a library program, a `.rasp` file, a compiled model.
/// (Not `required` for clap, so that `compare --all` can go without one; loading says when none is given.)
#[derive(Debug, Clone, Default, Args)]
#[group(id = "program_source", required = false, multiple = false)]
pub struct SourceArgs {
    /// Library program (`tracr eval --lib` names; `reverse_123` and `xproportion` are Edge Pruning's).
    #[arg(long = "lib", value_name = "NAME")]
    pub lib: Option<String>,
    /// A program written in .rasp text; its `# vocab:`/`# max_seq_len:`/`# causal:` header is read and
    /// the flags below override it.
    #[arg(long = "program", value_name = "FILE.rasp")]
    pub program: Option<PathBuf>,
    /// A model written by `tracr compile -o` (model.json, model.safetensors or a TransformerLens
    /// folder; the data is every sequence over its vocabulary), or a GPT-2 checkpoint folder
    /// (config.json + model.safetensors).
    #[arg(long = "model", value_name = "model.json|DIR")]
    pub model: Option<PathBuf>,
}

/// How `--lib` or `--program` is compiled (as `tracr compile` takes them); errors with `--model`.
#[derive(Debug, Clone, Default, Args)]
pub struct CompileFlags {
    /// Vocabulary, comma-separated (integers are integers); default: the registry's or the file header's.
    #[arg(long, value_name = "a,b,c")]
    pub vocab: Option<String>,
    /// Maximum sequence length the model is compiled for; default: the registry's or the file header's.
    #[arg(long, value_name = "N")]
    pub max_seq_len: Option<usize>,
    /// Mask attention to future positions (`--causal` or `--causal false`); default: the registry's or
    /// the file header's, else false.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub causal: Option<bool>,
    /// The BOS token the compiler prepends (must not be in the vocabulary) [default: BOS].
    #[arg(long, value_name = "TOKEN")]
    pub compiler_bos: Option<String>,
    /// The padding token (must not be in the vocabulary) [default: compiler_pad].
    #[arg(long, value_name = "TOKEN")]
    pub compiler_pad: Option<String>,
    /// Slope of the MLPs that discretise numerical values: larger is more exact [default: 100].
    #[arg(long, value_name = "K")]
    pub mlp_exactness: Option<f64>,
    /// Compile with Tracr's known bugs fixed (as `tracr compile --fix-tracr-bugs`; see
    /// docs/tracr-fixes.md) [default: the file header's, else false].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub fix_tracr_bugs: Option<bool>,
}

impl CompileFlags {
    /// The flags given, by their command-line names (for "makes no sense with --model").
    fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        for (name, set) in [
            ("--vocab", self.vocab.is_some()),
            ("--max-seq-len", self.max_seq_len.is_some()),
            ("--causal", self.causal.is_some()),
            ("--compiler-bos", self.compiler_bos.is_some()),
            ("--compiler-pad", self.compiler_pad.is_some()),
            ("--mlp-exactness", self.mlp_exactness.is_some()),
            ("--fix-tracr-bugs", self.fix_tracr_bugs.is_some()),
        ] {
            if set {
                given.push(name);
            }
        }
        given
    }
}

/// The model a command works on: where it comes from and how it is compiled.
#[derive(Debug, Clone, Default, Args)]
pub struct ModelArgs {
    /// Exactly one of `--lib`, `--program`, `--model`.
    #[command(flatten)]
    pub source: SourceArgs,
    /// How a program is compiled.
    #[command(flatten)]
    pub compile: CompileFlags,
}

/// The data the model is judged on.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Sequence lengths (tokens after BOS) of the data, e.g. `3` or `1,2,3` (ground truth certifies on
    /// all of them; pruning takes one); default: the maximum sequence length.
    #[arg(
        long = "lengths",
        alias = "length",
        value_name = "L[,L..]",
        value_delimiter = ','
    )]
    pub lengths: Vec<usize>,
    /// How pruned edges are replaced.
    #[arg(long, value_enum, default_value_t = AblationKind::Zero)]
    pub ablation: AblationKind,
    /// Seed of the data sample (when there are more than 10k sequences) and of the corrupted inputs
    /// (a whole number from 0 to 2^64-1).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = parse_seed)]
    pub data_seed: u64,
}

impl Default for DataArgs {
    fn default() -> Self {
        Self {
            lengths: Vec::new(),
            ablation: AblationKind::Zero,
            data_seed: 0,
        }
    }
}

/// A program and the data it is judged on.
#[derive(Debug, Clone, Default, Args)]
pub struct ProgramArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Its data.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Parses a seed: a whole number from 0 to 2^64-1, with the range in the error (clap's own message
/// for `-1` suggests `-- -1`, which does not work for an option's value).
pub fn parse_seed(text: &str) -> std::result::Result<u64, String> {
    text.trim().parse::<u64>().map_err(|_| {
        format!(
            "`{text}` is not a seed: a seed is a whole number from 0 to {} (seeds only pick random \
             numbers, so negative seeds mean nothing)",
            u64::MAX
        )
    })
}

/// The ablations a user can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AblationKind {
    /// A pruned edge carries zeros.
    Zero,
    /// A pruned edge carries the full model's activation on a corrupted input.
    Interchange,
    /// A pruned edge carries the writer's mean activation over the data, per position.
    Mean,
}

impl AblationKind {
    /// This ablation over `task`'s data (its corrupted inputs, or the clean ones to average).
    pub fn over(self, task: &Task) -> Ablation {
        match self {
            AblationKind::Zero => Ablation::Zero,
            AblationKind::Interchange => Ablation::Interchange {
                corrupted_ids: task.corrupted.clone(),
            },
            AblationKind::Mean => Ablation::Mean {
                ids: task.clean.clone(),
            },
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            AblationKind::Zero => "zero",
            AblationKind::Interchange => "interchange",
            AblationKind::Mean => "mean",
        }
    }
}

/// A compiled model and where it came from (no data yet).
#[derive(Debug, Clone)]
pub struct CompiledProgram {
    /// The registry name, or the file's stem.
    pub name: String,
    /// The vocabulary it was compiled with.
    pub vocab: Vec<Value>,
    /// The maximum sequence length it was compiled with.
    pub max_seq_len: usize,
    /// The model, as compiled or read.
    pub model: CompiledModel,
}

/// A compiled program and its task.
#[derive(Debug, Clone)]
pub struct LoadedProgram {
    /// The registry name, or the `.rasp`/`model.json` file's stem.
    pub name: String,
    /// The vocabulary it was compiled with.
    pub vocab: Vec<Value>,
    /// The maximum sequence length it was compiled with.
    pub max_seq_len: usize,
    /// The Tracr model the task's model was built from (residual labels, per-layer metadata).
    pub compiled: CompiledModel,
    /// The model and data the circuit methods run on (the first length asked for).
    pub task: Task,
    /// One task per length asked for (the first is `task`).
    pub tasks: Vec<Task>,
    /// The ablation chosen.
    pub ablation_kind: AblationKind,
}

impl LoadedProgram {
    /// The ablation over the first task's data.
    pub fn ablation(&self) -> Ablation {
        self.ablation_for(&self.task)
    }

    /// The ablation over `task`'s data.
    pub fn ablation_for(&self, task: &Task) -> Ablation {
        self.ablation_kind.over(task)
    }

    /// The ablation of every task, in task order (pair them with `tasks` for the truth searches).
    pub fn ablations(&self) -> Vec<Ablation> {
        self.tasks.iter().map(|t| self.ablation_for(t)).collect()
    }

    /// Rejects several lengths where a command works on one.
    pub fn single_length(&self, command: &str) -> Result<()> {
        if self.tasks.len() > 1 {
            return Err(Error::InvalidOption {
                option: "--lengths".into(),
                message: format!(
                    "`{command}` works on one sequence length at a time (batches need one length); give one, e.g. --lengths {}",
                    self.task.clean.ncols() - 1
                ),
            });
        }
        Ok(())
    }

    /// The sequence lengths of the data (tokens after BOS).
    pub fn lengths(&self) -> Vec<usize> {
        self.tasks.iter().map(|t| t.clean.ncols() - 1).collect()
    }

    /// The RASP node each writer of the edge graph computes (`reverse_1 (Aggregate)`), by writer index;
    /// `None` for a slot the compiler left empty.
    pub fn component_labels(&self) -> Vec<Option<String>> {
        component_labels(&EdgeGraph::for_model(&self.task.model), &self.compiled)
    }
}

/// Parses `a,b,c` the way a Tracr user's Python literal would read: integers are integers.
pub fn parse_vocab(text: &str) -> Result<Vec<Value>> {
    let mut items: Vec<Value> = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let token = Value::parse_token(item);
        // Tracr's vocabulary is a set: a repeat is the same token.
        if !items.contains(&token) {
            items.push(token);
        }
    }
    if items.is_empty() {
        return Err(Error::InvalidOption {
            option: "--vocab".into(),
            message: "is empty; give comma-separated tokens such as a,b,c".into(),
        });
    }
    Ok(items)
}

/// The file's stem, as the program's name in reports.
fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

impl ModelArgs {
    /// A library program by name (for built-in settings such as Edge Pruning's reverse).
    pub fn library(name: &str) -> Self {
        Self {
            source: SourceArgs {
                lib: Some(name.to_string()),
                ..SourceArgs::default()
            },
            compile: CompileFlags::default(),
        }
    }

    /// Compiles the library program or the `.rasp` file, or reads the compiled model.
    pub fn compile(&self) -> Result<CompiledProgram> {
        let flags = &self.compile;
        let source = &self.source;
        match (&source.lib, &source.program, &source.model) {
            (Some(name), None, None) => {
                // sort and sort_freq bake max_seq_len into their programs (Tracr's make_sort takes it).
                let program = match flags.max_seq_len {
                    Some(n) => tracr::library::by_name_for(name, n),
                    None => tracr::library::by_name(name),
                }
                .ok_or_else(|| Error::InvalidOption {
                    option: "--lib".into(),
                    message: format!(
                        "unknown program `{name}`; available: {}",
                        tracr::library::names().join(", ")
                    ),
                })?;
                let settings = ProgramSettings {
                    vocab: Some(program.vocab.clone()),
                    max_seq_len: Some(program.max_seq_len),
                    causal: Some(program.causal),
                    ..ProgramSettings::default()
                };
                compile_with(program.name, &program.program, &settings, flags)
            }
            (None, Some(path), None) => {
                let text = read_text(path)?;
                let located = |error: tracr::rasp::text::ParseError| Error::InvalidOption {
                    option: "--program".into(),
                    message: format!("{}: {error}", path.display()),
                };
                let settings = ProgramSettings::from_source(&text).map_err(located)?;
                let parsed = parse_program(&text).map_err(located)?;
                compile_with(&stem(path), &parsed.output, &settings, flags)
            }
            (None, None, Some(path)) if is_checkpoint_folder(path) => Err(Error::Unsupported {
                message: format!(
                    "`{}` is a checkpoint folder; this command works on compiled Tracr models \
                     (their ground truth is known). `edgeprune run --model DIR` and \
                     `edgeprune graph --model DIR` take checkpoint folders",
                    path.display()
                ),
            }),
            (None, None, Some(path)) => {
                if let Some(flag) = flags.given().first() {
                    return Err(Error::InvalidOption {
                        option: flag.to_string(),
                        message: format!(
                            "makes no sense with --model: `{}` is already compiled (its vocabulary, \
                             length and causality are fixed); recompile with `tracr compile` instead",
                            path.display()
                        ),
                    });
                }
                read_model(path)
            }
            _ => Err(Error::InvalidOption {
                option: "--lib/--program/--model".into(),
                message: "give exactly one of --lib NAME, --program FILE.rasp, --model model.json"
                    .into(),
            }),
        }
    }
}

/// Compiles `program` with the flags over the header (or the registry's settings).
fn compile_with(
    name: &str,
    program: &tracr::rasp::SOp,
    settings: &ProgramSettings,
    flags: &CompileFlags,
) -> Result<CompiledProgram> {
    let vocab = match &flags.vocab {
        Some(text) => parse_vocab(text)?,
        None => settings.vocab.clone().ok_or_else(|| Error::InvalidOption {
            option: "--vocab".into(),
            message: format!(
                "missing: `{name}` declares no vocabulary; give --vocab a,b,c or a `# vocab: a,b,c` header line"
            ),
        })?,
    };
    let max_seq_len = match flags.max_seq_len.or(settings.max_seq_len) {
        Some(0) => {
            return Err(Error::InvalidOption {
                option: "--max-seq-len".into(),
                message: "must be at least 1".into(),
            })
        }
        Some(n) => n,
        None => {
            return Err(Error::InvalidOption {
                option: "--max-seq-len".into(),
                message: format!(
                    "missing: `{name}` declares no maximum sequence length; give --max-seq-len N or a `# max_seq_len: N` header line"
                ),
            })
        }
    };
    let defaults = CompileOptions::default();
    let mlp_exactness = flags
        .mlp_exactness
        .or(settings.mlp_exactness)
        .unwrap_or(defaults.mlp_exactness);
    if !(mlp_exactness.is_finite() && mlp_exactness > 0.0) {
        return Err(Error::InvalidOption {
            option: "--mlp-exactness".into(),
            message: format!("must be a positive number, got {mlp_exactness}"),
        });
    }
    let options = CompileOptions {
        causal: flags.causal.or(settings.causal).unwrap_or(false),
        bos: flags
            .compiler_bos
            .clone()
            .or_else(|| settings.compiler_bos.clone())
            .unwrap_or(defaults.bos),
        pad: flags
            .compiler_pad
            .clone()
            .or_else(|| settings.compiler_pad.clone())
            .unwrap_or(defaults.pad),
        mlp_exactness,
        fix_tracr_bugs: flags
            .fix_tracr_bugs
            .or(settings.fix_tracr_bugs)
            .unwrap_or(false),
    };
    let compiled = compile(program, &vocab, max_seq_len, &options)?;
    Ok(CompiledProgram {
        name: name.to_string(),
        vocab,
        max_seq_len,
        model: compiled,
    })
}

/// The model at `path`: a checkpoint folder ([`crate::model::checkpoint::load`]) or a Tracr model
/// (model.json, model.safetensors or a TransformerLens folder).
pub fn load_transformer(path: &Path) -> Result<Transformer> {
    if is_checkpoint_folder(path) {
        return crate::model::checkpoint::load(path);
    }
    Transformer::from_compiled(&read_model(path)?.model)
}

/// Whether `path` is a Hugging Face checkpoint folder rather than one of our TransformerLens exports:
/// both hold `config.json` and `model.safetensors`, but only Hugging Face's config names a
/// `model_type` (ours names `original_architecture: tracr`). A folder without a readable
/// config.json counts as a checkpoint, so that its loader says what is missing.
fn is_checkpoint_folder(path: &Path) -> bool {
    if !path.is_dir() {
        return false;
    }
    let config = std::fs::read(path.join("config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match config {
        Some(config) => {
            config.get("original_architecture").and_then(|a| a.as_str()) != Some("tracr")
        }
        None => !path.join("vocab.json").exists(),
    }
}

/// Reads a model written by `tracr compile -o` (checked by Tracr's reader, which names the file).
fn read_model(path: &Path) -> Result<CompiledProgram> {
    let model = tracr::cli::model_file::read_model(path)?;
    let encoding = &model.input_encoding;
    let vocab: Vec<Value> = encoding
        .map
        .iter()
        .map(|(token, _)| token)
        .filter(|token| {
            !matches!(token, Value::Str(s) if *s == encoding.bos_token || *s == encoding.pad_token)
        })
        .cloned()
        .collect();
    Ok(CompiledProgram {
        name: stem(path),
        vocab,
        max_seq_len: encoding.max_seq_len_with_bos.saturating_sub(1),
        model,
    })
}

impl DataArgs {
    /// The lengths asked for (default: `max_seq_len`), each once.
    pub fn lengths_or(&self, max_seq_len: usize) -> Result<Vec<usize>> {
        if self.lengths.is_empty() {
            return Ok(vec![max_seq_len]);
        }
        for (index, length) in self.lengths.iter().enumerate() {
            if self.lengths[..index].contains(length) {
                return Err(Error::InvalidOption {
                    option: "--lengths".into(),
                    message: format!(
                        "{length} is given twice (the data would hold every sequence twice); give each length once"
                    ),
                });
            }
        }
        Ok(self.lengths.clone())
    }
}

impl SourceArgs {
    /// Whether a program source was given.
    pub fn is_given(&self) -> bool {
        self.lib.is_some() || self.program.is_some() || self.model.is_some()
    }
}

impl ProgramArgs {
    /// Edge Pruning's reverse setting: `reverse_123` (vocab {1,2,3}, max_seq_len 5) on all 27 inputs of
    /// length 3, zero ablation.
    pub fn edge_pruning_reverse() -> Self {
        Self {
            model: ModelArgs::library("reverse_123"),
            data: DataArgs {
                lengths: vec![3],
                ..DataArgs::default()
            },
        }
    }

    /// A library program at its registry settings, all sequences of length max_seq_len, under `ablation`.
    pub fn library(name: &str, ablation: AblationKind) -> Self {
        Self {
            model: ModelArgs::library(name),
            data: DataArgs {
                ablation,
                ..DataArgs::default()
            },
        }
    }

    /// Compiles the program and builds its task.
    pub fn load(&self) -> Result<LoadedProgram> {
        let compiled = self.model.compile()?;
        let lengths = self.data.lengths_or(compiled.max_seq_len)?;
        let tasks = lengths
            .iter()
            .map(|&length| {
                Task::from_compiled(&compiled.name, &compiled.model, length, self.data.data_seed)
            })
            .collect::<Result<Vec<_>>>()?;
        let task = tasks[0].clone();
        Ok(LoadedProgram {
            name: compiled.name,
            vocab: compiled.vocab,
            max_seq_len: compiled.max_seq_len,
            compiled: compiled.model,
            task,
            tasks,
            ablation_kind: self.data.ablation,
        })
    }
}

/// A program's RASP expression and its text, for reports that show and evaluate the program itself.
#[derive(Debug, Clone)]
pub struct RaspSource {
    /// The program's output SOp.
    pub program: tracr::rasp::SOp,
    /// The `.rasp` text: the file as written, or a library program printed as text.
    pub text: String,
}

impl ModelArgs {
    /// The RASP program behind `--lib` or `--program` (`None` for `--model`: a model file keeps no
    /// program, only its layers' labels).
    pub fn rasp_source(&self) -> Result<Option<RaspSource>> {
        let source = &self.source;
        match (&source.lib, &source.program) {
            (Some(name), None) => {
                let program = match self.compile.max_seq_len {
                    Some(n) => tracr::library::by_name_for(name, n),
                    None => tracr::library::by_name(name),
                }
                .ok_or_else(|| Error::InvalidOption {
                    option: "--lib".into(),
                    message: format!(
                        "unknown program `{name}`; available: {}",
                        tracr::library::names().join(", ")
                    ),
                })?;
                // The registry's programs are built in Rust; their `.rasp` twins are the text to show.
                let text = match tracr::library::rasp_source(name) {
                    Some(text) => text.to_string(),
                    None => tracr::rasp::text::print::print_program(&program.program)?,
                };
                Ok(Some(RaspSource {
                    program: program.program,
                    text,
                }))
            }
            (None, Some(path)) => {
                let text = read_text(path)?;
                let parsed = parse_program(&text).map_err(|error| Error::InvalidOption {
                    option: "--program".into(),
                    message: format!("{}: {error}", path.display()),
                })?;
                Ok(Some(RaspSource {
                    program: parsed.output,
                    text,
                }))
            }
            _ => Ok(None),
        }
    }
}

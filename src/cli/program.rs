//! The program a subcommand works on: a library program, compiled for a vocabulary, with its task data.

use clap::{Args, ValueEnum};
use serde_json::Value as Json;
use tracr::value::Value;
use tracr::{compile, CompileOptions};

use crate::ablation::Ablation;
use crate::error::{Error, Result};
use crate::task::Task;

/// Which library program, compiled how, on which data.
#[derive(Debug, Clone, Args)]
pub struct ProgramArgs {
    /// Library program (`tracr eval --lib` names; `reverse_123` and `xproportion` are Edge Pruning's).
    #[arg(long = "lib", value_name = "NAME")]
    pub lib: String,
    /// Vocabulary, comma-separated (integers are integers); default: the program's registry vocabulary.
    #[arg(long, value_name = "a,b,c")]
    pub vocab: Option<String>,
    /// Maximum sequence length the model is compiled for; default: the registry's.
    #[arg(long, value_name = "N")]
    pub max_seq_len: Option<usize>,
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
    /// Seed of the data sample (when there are more than 10k sequences) and of the corrupted inputs.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
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
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            AblationKind::Zero => "zero",
            AblationKind::Interchange => "interchange",
            AblationKind::Mean => "mean",
        }
    }
}

/// A compiled library program and its task.
#[derive(Debug, Clone)]
pub struct LoadedProgram {
    /// The registry name.
    pub name: String,
    /// The vocabulary it was compiled with.
    pub vocab: Vec<Value>,
    /// The maximum sequence length it was compiled with.
    pub max_seq_len: usize,
    /// The compiled model in the fixtures' `model` schema (labels, layers, weights).
    pub model_json: Json,
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
        match self.ablation_kind {
            AblationKind::Zero => Ablation::Zero,
            AblationKind::Interchange => Ablation::Interchange {
                corrupted_ids: task.corrupted.clone(),
            },
            AblationKind::Mean => Ablation::Mean {
                ids: task.clean.clone(),
            },
        }
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
}

/// Parses `a,b,c` the way a Tracr user's Python literal would read: integers are integers.
pub fn parse_vocab(text: &str) -> Result<Vec<Value>> {
    let items: Vec<Value> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(Value::parse_token)
        .collect();
    if items.is_empty() {
        return Err(Error::InvalidOption {
            option: "--vocab".into(),
            message: "is empty; give comma-separated tokens such as a,b,c".into(),
        });
    }
    Ok(items)
}

impl ProgramArgs {
    /// Edge Pruning's reverse setting: `reverse_123` (vocab {1,2,3}, max_seq_len 5) on all 27 inputs of
    /// length 3, zero ablation.
    pub fn edge_pruning_reverse() -> Self {
        Self {
            lib: "reverse_123".into(),
            vocab: None,
            max_seq_len: None,
            lengths: vec![3],
            ablation: AblationKind::Zero,
            data_seed: 0,
        }
    }

    /// A library program at its registry settings, all sequences of length max_seq_len, under `ablation`.
    pub fn library(name: &str, ablation: AblationKind) -> Self {
        Self {
            lib: name.into(),
            vocab: None,
            max_seq_len: None,
            lengths: Vec::new(),
            ablation,
            data_seed: 0,
        }
    }

    /// Compiles the program and builds its task.
    pub fn load(&self) -> Result<LoadedProgram> {
        let program = tracr::library::by_name(&self.lib).ok_or_else(|| Error::InvalidOption {
            option: "--lib".into(),
            message: format!(
                "unknown program `{}`; available: {}",
                self.lib,
                tracr::library::names().join(", ")
            ),
        })?;
        let vocab = match &self.vocab {
            Some(text) => parse_vocab(text)?,
            None => program.vocab.clone(),
        };
        let max_seq_len = self.max_seq_len.unwrap_or(program.max_seq_len);
        let options = CompileOptions {
            causal: program.causal,
            ..CompileOptions::default()
        };
        let compiled = compile(&program.program, &vocab, max_seq_len, &options)?;
        let model_json = compiled.to_json();
        let lengths = if self.lengths.is_empty() {
            vec![max_seq_len]
        } else {
            self.lengths.clone()
        };
        let tasks = lengths
            .iter()
            .map(|&length| {
                Task::from_tracr_model(program.name, &model_json, length, self.data_seed)
            })
            .collect::<Result<Vec<_>>>()?;
        let task = tasks[0].clone();
        Ok(LoadedProgram {
            name: program.name.to_string(),
            vocab,
            max_seq_len,
            model_json,
            task,
            tasks,
            ablation_kind: self.ablation,
        })
    }
}

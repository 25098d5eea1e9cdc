//! A program as the command line names it (`--lib NAME` or `FILE.rasp`) with its compile settings
//! resolved once, so that `eval`, `check`, `print` and `compile` of one file agree: a library
//! program's defaults, then the file's header (`# vocab: a,b`, see [`ProgramSettings`]), then the
//! flags, each overriding the one before.

use std::path::PathBuf;

use crate::compile::{compile, CompileOptions};
use crate::error::{Error, Result};
use crate::graph::extract;
use crate::library;
use crate::model::CompiledModel;
use crate::rasp::text::header::ProgramSettings;
use crate::rasp::text::{parse_program, print_program};
use crate::rasp::validate::static_validate;
use crate::rasp::{Evaluator, SOp};
use crate::value::{python_float_repr, Value};

/// Where a program comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgramSource {
    /// A library program by registry name.
    Library(String),
    /// A `.rasp` file.
    File(PathBuf),
}

/// A failure to load a program, with the file's text when there is one (to point at a parse error).
#[derive(Debug)]
pub struct LoadError {
    /// What went wrong.
    pub error: Error,
    /// The file's text and path, when the error is in a file that was read.
    pub source: Option<(String, PathBuf)>,
}

impl From<Error> for LoadError {
    fn from(error: Error) -> Self {
        LoadError {
            error,
            source: None,
        }
    }
}

/// A program ready to evaluate, check, print or compile, with its resolved settings.
#[derive(Debug, Clone)]
pub struct LoadedProgram {
    /// The library name or the file's path.
    pub name: String,
    /// The program's output.
    pub output: SOp,
    /// Library defaults, overridden by the file's header, overridden by the flags.
    pub settings: ProgramSettings,
    /// The file's text and path, for pointing at errors; `None` for a library program.
    pub source: Option<(String, PathBuf)>,
    /// The library program's `.rasp` text (`tracr/lib/NAME.rasp`); `None` for a file.
    library_text: Option<&'static str>,
}

/// Splits a comma-separated list into tokens (integers where they parse as integers).
pub fn parse_tokens(list: &str) -> Vec<Value> {
    if list.trim().is_empty() {
        return Vec::new();
    }
    list.split(',').map(Value::parse_token).collect()
}

/// The vocabulary without repeats, in first-seen order (Tracr's vocabulary is a set).
fn distinct(tokens: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(tokens.len());
    for token in tokens {
        if !out.contains(token) {
            out.push(token.clone());
        }
    }
    out
}

/// The vocabulary as `a, b, c`.
pub fn vocab_text(vocab: &[Value]) -> String {
    vocab
        .iter()
        .map(Value::py_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads the program, resolving its settings: library defaults or the file's header, then `flags`.
/// A library program is built for the flags' `max_seq_len` (see [`library::registry_for`]).
pub fn load_program(
    source: &ProgramSource,
    flags: &ProgramSettings,
) -> std::result::Result<LoadedProgram, LoadError> {
    match source {
        ProgramSource::Library(name) => {
            let program = match flags.max_seq_len {
                Some(n) => library::by_name_for(name, n),
                None => library::by_name(name),
            }
            .ok_or_else(|| Error::UnknownProgram {
                name: name.clone(),
                available: library::names().into_iter().map(String::from).collect(),
            })?;
            let defaults = ProgramSettings {
                vocab: Some(program.vocab),
                max_seq_len: Some(program.max_seq_len),
                causal: Some(program.causal),
                ..ProgramSettings::default()
            };
            Ok(LoadedProgram {
                name: name.clone(),
                output: program.program,
                settings: defaults.overridden_by(flags),
                source: None,
                library_text: library::rasp_source(name),
            })
        }
        ProgramSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            let in_file = |error: Error| LoadError {
                error,
                source: Some((text.clone(), path.clone())),
            };
            let header = ProgramSettings::from_source(&text).map_err(|e| in_file(e.into()))?;
            let parsed = parse_program(&text).map_err(|e| in_file(e.into()))?;
            Ok(LoadedProgram {
                name: path.display().to_string(),
                output: parsed.output,
                settings: header.overridden_by(flags),
                source: Some((text, path.clone())),
                library_text: None,
            })
        }
    }
}

impl LoadedProgram {
    /// The vocabulary (without repeats), or which flag or header line is missing.
    pub fn vocab(&self) -> Result<Vec<Value>> {
        let vocab = self
            .settings
            .vocab
            .as_deref()
            .ok_or(Error::MissingSetting {
                flag: "--vocab",
                key: "vocab",
            })?;
        if vocab.is_empty() {
            return Err(Error::Message(
                "the vocabulary is empty: give tokens with --vocab a,b,c".into(),
            ));
        }
        Ok(distinct(vocab))
    }

    /// The maximum input length, or which flag or header line is missing.
    pub fn max_seq_len(&self) -> Result<usize> {
        match self.settings.max_seq_len {
            None => Err(Error::MissingSetting {
                flag: "--max-seq-len",
                key: "max_seq_len",
            }),
            Some(0) => Err(Error::Message(
                "--max-seq-len must be at least 1, got 0".into(),
            )),
            Some(n) => Ok(n),
        }
    }

    /// Whether attention (and evaluation) is causal; false unless a library program, the header or
    /// `--causal` says so.
    pub fn causal(&self) -> bool {
        self.settings.causal.unwrap_or(false)
    }

    /// The compiler options: the settings, else the CLI's defaults (`BOS`, `compiler_pad`, 100).
    pub fn compile_options(&self) -> Result<CompileOptions> {
        let defaults = CompileOptions::default();
        let mlp_exactness = self
            .settings
            .mlp_exactness
            .unwrap_or(defaults.mlp_exactness);
        if !(mlp_exactness.is_finite() && mlp_exactness > 0.0) {
            return Err(Error::Message(format!(
                "--mlp-exactness must be a positive number, got {mlp_exactness}"
            )));
        }
        Ok(CompileOptions {
            causal: self.causal(),
            bos: self.settings.compiler_bos.clone().unwrap_or(defaults.bos),
            pad: self.settings.compiler_pad.clone().unwrap_or(defaults.pad),
            mlp_exactness,
            fix_tracr_bugs: self.settings.fix_tracr_bugs.unwrap_or(false),
        })
    }

    /// Compiles the program with its settings.
    pub fn compile(&self) -> Result<CompiledModel> {
        let vocab = self.vocab()?;
        let max_seq_len = self.max_seq_len()?;
        let options = self.compile_options()?;
        compile(&self.output, &vocab, max_seq_len, &options)
    }

    /// Will `compile` accept this program? Every static issue (all of them, as Tracr's validator
    /// lists them), else whatever the full compile pipeline rejects; the weights are built and
    /// dropped, never written. On success, a one-line summary of the model.
    pub fn check(&self) -> std::result::Result<String, Vec<Error>> {
        let graph = extract(&self.output).map_err(|e| vec![e])?;
        let issues = static_validate(&graph);
        if !issues.is_empty() {
            return Err(issues.into_iter().map(Error::from).collect());
        }
        let model = self.compile().map_err(|e| vec![e])?;
        let vocab = self.vocab().map_err(|e| vec![e])?;
        let max_seq_len = self.max_seq_len().map_err(|e| vec![e])?;
        Ok(format!(
            "OK: `{}` compiles (vocab {{{}}}, max_seq_len {}, {}causal): {} layers, {} heads, d_model {}",
            graph.sink,
            vocab_text(&vocab),
            max_seq_len,
            if self.causal() { "" } else { "not " },
            model.config.num_layers,
            model.config.num_heads,
            model.config.d_model
        ))
    }

    /// Evaluates the program on `input`: checked against the vocabulary and the maximum length when
    /// they are known, causally when the settings say so.
    pub fn eval(&self, input: &[Value]) -> Result<Vec<Value>> {
        if let Some(vocab) = &self.settings.vocab {
            if let Some((position, token)) =
                input.iter().enumerate().find(|(_, x)| !vocab.contains(x))
            {
                return Err(Error::TokenNotInVocab {
                    token: token.py_str(),
                    position,
                    vocab: vocab_text(vocab),
                });
            }
        }
        if let Some(max_seq_len) = self.settings.max_seq_len {
            if input.len() > max_seq_len {
                return Err(Error::Input(format!(
                    "the input has {} tokens but `{}` is set up for at most {max_seq_len}; \
                     give --max-seq-len {} (library programs such as sort depend on it)",
                    input.len(),
                    self.name,
                    input.len()
                )));
            }
        }
        Evaluator::new(self.causal()).evaluate(&self.output, input)
    }

    /// The program as canonical `.rasp` text, led by a header holding its settings, so that the
    /// printed file evaluates and compiles like this program. A library program is printed from
    /// its `tracr/lib/NAME.rasp` text (its builder may hold Rust closures that have no text).
    pub fn print(&self) -> Result<String> {
        let body = match self.library_text {
            Some(text) => print_program(&parse_program(text)?.output)?,
            None => print_program(&self.output)?,
        };
        Ok(format!("{}{}", self.settings.to_header(), body))
    }
}

/// The value as JSON with Python's spelling of numbers (`1.0`, `0.5`); tuples become arrays. NaN
/// and ±infinity, which JSON cannot hold, are written as `null`, so the output always parses.
pub fn value_json(v: &Value) -> String {
    match v {
        Value::None => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) if !x.is_finite() => "null".into(),
        Value::Float(x) => python_float_repr(*x),
        Value::Str(s) => serde_json::to_string(s).expect("a string always serialises"),
        Value::Tuple(items) => values_json(items),
    }
}

/// A list of values as one JSON array (see [`value_json`]).
pub fn values_json(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(value_json).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_are_json_null() {
        let values = [
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Tuple(vec![Value::Float(f64::NEG_INFINITY), Value::Float(0.5)]),
        ];
        let text = values_json(&values);
        let parsed: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("`{text}` is not JSON: {e}"));
        assert_eq!(
            parsed,
            serde_json::json!([null, null, [null, 0.5]]),
            "{text}"
        );
    }
}

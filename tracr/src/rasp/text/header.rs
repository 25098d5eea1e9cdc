//! Compile settings a `.rasp` file declares in its leading comments, so that every command that
//! reads the file (`tracr eval`, `check`, `compile`, `edgeprune truth --program`) agrees on them.
//!
//! ```text
//! # vocab: a,b,c
//! # max_seq_len: 5
//! # causal: true
//! ```
//!
//! Only comment lines before the first statement are read, and only `# key: value` lines whose key is
//! one of [`HEADER_KEYS`]; any other comment is prose. A recognised key with a bad value is a
//! [`ParseError`] at that line. Command-line flags override the header.

use super::error::{ParseError, Position};
use crate::value::Value;

/// The keys a header may set.
pub const HEADER_KEYS: [&str; 7] = [
    "vocab",
    "max_seq_len",
    "causal",
    "compiler_bos",
    "compiler_pad",
    "mlp_exactness",
    "fix_tracr_bugs",
];

/// The settings a header declared; `None` where it said nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgramSettings {
    /// `# vocab: a,b,c` (an item that parses as an integer is an integer, as on the command line).
    pub vocab: Option<Vec<Value>>,
    /// `# max_seq_len: N` (N ≥ 1).
    pub max_seq_len: Option<usize>,
    /// `# causal: true|false`.
    pub causal: Option<bool>,
    /// `# compiler_bos: TOKEN`.
    pub compiler_bos: Option<String>,
    /// `# compiler_pad: TOKEN`.
    pub compiler_pad: Option<String>,
    /// `# mlp_exactness: K` (a positive number).
    pub mlp_exactness: Option<f64>,
    /// `# fix_tracr_bugs: true|false` (compile with Tracr's known bugs fixed, see [`crate::fixes`]).
    pub fix_tracr_bugs: Option<bool>,
}

impl ProgramSettings {
    /// Reads the header of `source`: the `# key: value` comment lines before the first statement.
    pub fn from_source(source: &str) -> Result<ProgramSettings, ParseError> {
        let mut settings = ProgramSettings::default();
        for (index, line) in source.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let Some(comment) = trimmed.strip_prefix('#') else {
                break; // the first statement ends the header
            };
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let key = key.trim();
            if !HEADER_KEYS.contains(&key) {
                continue;
            }
            let column = line.find(':').map_or(1, |c| c + 2);
            let position = Position {
                line: index + 1,
                column,
            };
            settings.set(key, value.trim(), position)?;
        }
        Ok(settings)
    }

    /// These settings with every setting `flags` gives replacing this one (flags override a header,
    /// a header overrides a library program's defaults).
    pub fn overridden_by(&self, flags: &ProgramSettings) -> ProgramSettings {
        ProgramSettings {
            vocab: flags.vocab.clone().or_else(|| self.vocab.clone()),
            max_seq_len: flags.max_seq_len.or(self.max_seq_len),
            causal: flags.causal.or(self.causal),
            compiler_bos: flags
                .compiler_bos
                .clone()
                .or_else(|| self.compiler_bos.clone()),
            compiler_pad: flags
                .compiler_pad
                .clone()
                .or_else(|| self.compiler_pad.clone()),
            mlp_exactness: flags.mlp_exactness.or(self.mlp_exactness),
            fix_tracr_bugs: flags.fix_tracr_bugs.or(self.fix_tracr_bugs),
        }
    }

    /// The settings as header lines (`# key: value`, one per set key, in [`HEADER_KEYS`] order),
    /// which [`ProgramSettings::from_source`] reads back.
    pub fn to_header(&self) -> String {
        let mut lines = Vec::new();
        if let Some(vocab) = &self.vocab {
            let items: Vec<String> = vocab.iter().map(Value::py_str).collect();
            lines.push(format!("# vocab: {}", items.join(",")));
        }
        if let Some(n) = self.max_seq_len {
            lines.push(format!("# max_seq_len: {n}"));
        }
        if let Some(causal) = self.causal {
            lines.push(format!("# causal: {causal}"));
        }
        if let Some(bos) = &self.compiler_bos {
            lines.push(format!("# compiler_bos: {bos}"));
        }
        if let Some(pad) = &self.compiler_pad {
            lines.push(format!("# compiler_pad: {pad}"));
        }
        if let Some(k) = self.mlp_exactness {
            lines.push(format!("# mlp_exactness: {k}"));
        }
        if let Some(fix) = self.fix_tracr_bugs {
            lines.push(format!("# fix_tracr_bugs: {fix}"));
        }
        lines.into_iter().map(|line| line + "\n").collect()
    }

    fn set(&mut self, key: &str, value: &str, position: Position) -> Result<(), ParseError> {
        let error =
            |what: &str| ParseError::new(position, format!("header `# {key}: {value}`: {what}"));
        let repeated = match key {
            "vocab" => self.vocab.is_some(),
            "max_seq_len" => self.max_seq_len.is_some(),
            "causal" => self.causal.is_some(),
            "compiler_bos" => self.compiler_bos.is_some(),
            "compiler_pad" => self.compiler_pad.is_some(),
            "fix_tracr_bugs" => self.fix_tracr_bugs.is_some(),
            _ => self.mlp_exactness.is_some(),
        };
        if repeated {
            return Err(error("set twice; keep one line per key"));
        }
        match key {
            "vocab" => {
                let items: Vec<Value> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(Value::parse_token)
                    .collect();
                if items.is_empty() {
                    return Err(error("the vocabulary is empty; list tokens such as a,b,c"));
                }
                self.vocab = Some(items);
            }
            "max_seq_len" => match value.parse::<usize>() {
                Ok(n) if n >= 1 => self.max_seq_len = Some(n),
                _ => return Err(error("expected a whole number of at least 1")),
            },
            "causal" | "fix_tracr_bugs" => {
                let flag = match value {
                    "true" | "True" => true,
                    "false" | "False" => false,
                    _ => return Err(error("expected true or false")),
                };
                if key == "causal" {
                    self.causal = Some(flag);
                } else {
                    self.fix_tracr_bugs = Some(flag);
                }
            }
            "compiler_bos" | "compiler_pad" => {
                if value.is_empty() || value.contains(',') {
                    return Err(error("expected one token without commas"));
                }
                if key == "compiler_bos" {
                    self.compiler_bos = Some(value.to_string());
                } else {
                    self.compiler_pad = Some(value.to_string());
                }
            }
            _ => match value.parse::<f64>() {
                Ok(k) if k.is_finite() && k > 0.0 => self.mlp_exactness = Some(k),
                _ => return Err(error("expected a positive number")),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_leading_comments_only() {
        let source = "# reverse, as a student writes it\n# vocab: a, b,1\n\n# max_seq_len: 5\n# causal: true\nx = tokens\n# vocab: z\n";
        let settings = ProgramSettings::from_source(source).unwrap();
        assert_eq!(
            settings.vocab,
            Some(vec![
                Value::Str("a".into()),
                Value::Str("b".into()),
                Value::Int(1)
            ])
        );
        assert_eq!(settings.max_seq_len, Some(5));
        assert_eq!(settings.causal, Some(true));
        assert_eq!(settings.compiler_bos, None);
    }

    #[test]
    fn flags_override_the_header_and_the_header_reads_back() {
        let header =
            ProgramSettings::from_source("# vocab: a,b\n# causal: true\n# max_seq_len: 4\n")
                .unwrap();
        let flags = ProgramSettings {
            causal: Some(false),
            max_seq_len: Some(6),
            ..ProgramSettings::default()
        };
        let merged = header.overridden_by(&flags);
        assert_eq!(merged.causal, Some(false), "{merged:?}");
        assert_eq!(merged.max_seq_len, Some(6), "{merged:?}");
        assert_eq!(merged.vocab, header.vocab, "{merged:?}");
        let full = ProgramSettings {
            compiler_bos: Some("B".into()),
            compiler_pad: Some("P".into()),
            mlp_exactness: Some(50.0),
            fix_tracr_bugs: Some(true),
            ..merged.clone()
        };
        let text = full.to_header();
        assert_eq!(
            ProgramSettings::from_source(&text).unwrap(),
            full,
            "header text:\n{text}"
        );
    }

    #[test]
    fn bad_values_name_the_line() {
        let error =
            ProgramSettings::from_source("# note\n# max_seq_len: zero\nx = tokens\n").unwrap_err();
        assert_eq!(error.line(), 2);
        assert!(error.message.contains("at least 1"), "{}", error.message);
        let error = ProgramSettings::from_source("# causal: yes\n").unwrap_err();
        assert!(error.message.contains("true or false"), "{}", error.message);
        let error = ProgramSettings::from_source("# vocab: a\n# vocab: b\n").unwrap_err();
        assert!(error.message.contains("twice"), "{}", error.message);
    }
}

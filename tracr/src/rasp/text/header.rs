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
pub const HEADER_KEYS: [&str; 6] = [
    "vocab",
    "max_seq_len",
    "causal",
    "compiler_bos",
    "compiler_pad",
    "mlp_exactness",
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

    fn set(&mut self, key: &str, value: &str, position: Position) -> Result<(), ParseError> {
        let error =
            |what: &str| ParseError::new(position, format!("header `# {key}: {value}`: {what}"));
        let repeated = match key {
            "vocab" => self.vocab.is_some(),
            "max_seq_len" => self.max_seq_len.is_some(),
            "causal" => self.causal.is_some(),
            "compiler_bos" => self.compiler_bos.is_some(),
            "compiler_pad" => self.compiler_pad.is_some(),
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
            "causal" => match value {
                "true" | "True" => self.causal = Some(true),
                "false" | "False" => self.causal = Some(false),
                _ => return Err(error("expected true or false")),
            },
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

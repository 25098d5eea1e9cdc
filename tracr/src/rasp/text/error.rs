//! The parse error: where in the `.rasp` text, what was expected and what was found.

use std::fmt;

/// A position in the source: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A `.rasp` text that is not a valid program, with the position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {}, column {}: {message}", position.line, position.column)]
pub struct ParseError {
    /// Where the problem starts.
    pub position: Position,
    /// What was expected and what was found, or why the construct is not allowed.
    pub message: String,
}

impl ParseError {
    /// An error at `position`.
    pub fn new(position: Position, message: impl Into<String>) -> Self {
        ParseError {
            position,
            message: message.into(),
        }
    }

    /// The 1-based line.
    pub fn line(&self) -> usize {
        self.position.line
    }

    /// The 1-based column.
    pub fn column(&self) -> usize {
        self.position.column
    }
}

//! The `.rasp` text syntax: parse a program written without Rust, and print one back.
//!
//! A program is a sequence of Python-like statements `name = expression`; the last statement
//! (an assignment or a bare expression) is the program's output. Map, SequenceMap and Select
//! bodies are `lambda` expressions evaluated with Python's semantics. See `docs/rasp-syntax.md`.

pub mod ast;
pub mod build;
pub mod error;
pub mod function;
pub mod header;
pub mod lexer;
pub mod parser;
pub mod print;

pub use build::{parse_program, Binding, ParsedProgram};
pub use error::{ParseError, Position};
pub use header::ProgramSettings;
pub use print::print_program;

/// Parses `.rasp` text into the program's output SOp.
pub fn parse(source: &str) -> crate::error::Result<crate::rasp::SOp> {
    Ok(parse_program(source)?.output)
}

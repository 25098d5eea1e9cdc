//! Splits `.rasp` text into tokens; newlines end statements except inside brackets, as in Python.

use super::error::{ParseError, Position};
use std::fmt;

/// One lexical token.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// A name (variables, primitives, keywords are separate).
    Ident(String),
    /// A keyword: `lambda if else and or not True False None`.
    Keyword(&'static str),
    /// An operator or punctuation mark.
    Op(&'static str),
    /// The end of a statement (a newline outside brackets, or `;`).
    Newline,
    /// The end of the text.
    Eof,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Int(i) => write!(f, "number `{i}`"),
            Token::Float(x) => write!(f, "number `{x}`"),
            Token::Str(s) => write!(f, "string {}", crate::value::python_str_repr(s)),
            Token::Ident(name) => write!(f, "name `{name}`"),
            Token::Keyword(k) => write!(f, "keyword `{k}`"),
            Token::Op(op) => write!(f, "`{op}`"),
            Token::Newline => f.write_str("end of line"),
            Token::Eof => f.write_str("end of input"),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The token.
    pub token: Token,
    /// Its first character's position.
    pub position: Position,
}

const KEYWORDS: [&str; 9] = [
    "lambda", "if", "else", "and", "or", "not", "True", "False", "None",
];

/// Longest operators first, so `//` wins over `/`.
const OPERATORS: [&str; 27] = [
    "**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "=", "(", ")", "[", "]",
    ",", ":", ".", "&", "|", "~", "{", "}", "@",
];

/// Turns the text into tokens, ending with [`Token::Eof`].
pub fn tokenize(source: &str) -> Result<Vec<Spanned>, ParseError> {
    // Editors on Windows may start a UTF-8 file with a byte-order mark.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    Lexer {
        chars: source.chars().collect(),
        index: 0,
        line: 1,
        column: 1,
        depth: 0,
        tokens: Vec::new(),
    }
    .run()
}

struct Lexer {
    chars: Vec<char>,
    index: usize,
    line: usize,
    column: usize,
    depth: usize,
    tokens: Vec<Spanned>,
}

impl Lexer {
    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.index + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.index += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn push(&mut self, token: Token, position: Position) {
        self.tokens.push(Spanned { token, position });
    }

    fn run(mut self) -> Result<Vec<Spanned>, ParseError> {
        while let Some(c) = self.peek(0) {
            let start = self.position();
            match c {
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '\n' | ';' => {
                    self.bump();
                    // Inside brackets a newline is only whitespace, as in Python.
                    if (c == ';' || self.depth == 0)
                        && !matches!(
                            self.tokens.last().map(|t| &t.token),
                            None | Some(Token::Newline)
                        )
                    {
                        self.push(Token::Newline, start);
                    }
                }
                '\\' if self.peek(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                c if c.is_ascii_digit()
                    || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    let token = self.number(start)?;
                    self.push(token, start);
                }
                c if c.is_alphabetic() || c == '_' => {
                    let mut name = String::new();
                    while let Some(c) = self.peek(0).filter(|c| c.is_alphanumeric() || *c == '_') {
                        name.push(c);
                        self.bump();
                    }
                    let token = match KEYWORDS.iter().find(|k| **k == name) {
                        Some(k) => Token::Keyword(k),
                        None => Token::Ident(name),
                    };
                    self.push(token, start);
                }
                '"' | '\'' => {
                    let s = self.string(c, start)?;
                    self.push(Token::Str(s), start);
                }
                _ => {
                    let op = OPERATORS.iter().find(|op| {
                        op.chars()
                            .enumerate()
                            .all(|(i, oc)| self.peek(i) == Some(oc))
                    });
                    let Some(op) = op else {
                        return Err(ParseError::new(
                            start,
                            format!("unexpected character {c:?}"),
                        ));
                    };
                    for _ in 0..op.chars().count() {
                        self.bump();
                    }
                    match *op {
                        "(" | "[" | "{" => self.depth += 1,
                        ")" | "]" | "}" => self.depth = self.depth.saturating_sub(1),
                        _ => {}
                    }
                    self.push(Token::Op(op), start);
                }
            }
        }
        let end = self.position();
        if !matches!(
            self.tokens.last().map(|t| &t.token),
            None | Some(Token::Newline)
        ) {
            self.push(Token::Newline, end);
        }
        self.push(Token::Eof, end);
        Ok(self.tokens)
    }

    fn number(&mut self, start: Position) -> Result<Token, ParseError> {
        let mut text = String::new();
        let mut is_float = false;
        while let Some(c) = self.peek(0) {
            if c.is_ascii_digit() || c == '_' {
                text.push(c);
            } else if c == '.' && !is_float && !text.contains(['e', 'E']) {
                is_float = true;
                text.push(c);
            } else if (c == 'e' || c == 'E')
                && !text.contains(['e', 'E'])
                && (self.peek(1).is_some_and(|d| d.is_ascii_digit())
                    || (matches!(self.peek(1), Some('+' | '-'))
                        && self.peek(2).is_some_and(|d| d.is_ascii_digit())))
            {
                is_float = true;
                text.push(c);
                self.bump();
                let sign = self.peek(0).expect("checked above");
                text.push(sign);
            } else {
                break;
            }
            self.bump();
        }
        if self.peek(0).is_some_and(|c| c.is_alphabetic() || c == '_') {
            return Err(ParseError::new(
                self.position(),
                format!("expected a digit or an operator after number `{text}`"),
            ));
        }
        let digits = text.replace('_', "");
        if is_float {
            digits
                .parse::<f64>()
                .map(Token::Float)
                .map_err(|_| ParseError::new(start, format!("malformed float literal `{text}`")))
        } else {
            if digits.len() > 1 && digits.starts_with('0') && digits.chars().any(|c| c != '0') {
                return Err(ParseError::new(
                    start,
                    format!(
                        "leading zeros in integer literal `{text}` are not allowed (as in Python)"
                    ),
                ));
            }
            digits.parse::<i64>().map(Token::Int).map_err(|_| {
                ParseError::new(
                    start,
                    format!("integer literal `{text}` does not fit in 64 bits"),
                )
            })
        }
    }

    fn string(&mut self, quote: char, start: Position) -> Result<String, ParseError> {
        self.bump();
        let mut out = String::new();
        loop {
            let position = self.position();
            match self.bump() {
                None | Some('\n') => {
                    return Err(ParseError::new(
                        start,
                        format!("unterminated string: expected a closing {quote}"),
                    ))
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('0') => out.push('\0'),
                    Some(c @ ('\\' | '\'' | '"')) => out.push(c),
                    other => {
                        return Err(ParseError::new(
                            position,
                            format!(
                            "unknown escape `\\{}`: expected one of \\n \\t \\r \\0 \\\\ \\' \\\"",
                            other.map(String::from).unwrap_or_default()
                        ),
                        ))
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }
}

//! Parses tokens into statements and expressions with Python's precedence rules.

use super::ast::{BinOp, CmpOp, Node, NodeKind, UnaryOp};
use super::error::{ParseError, Position};
use super::lexer::{tokenize, Spanned, Token};
use crate::value::Value;

/// Nesting deeper than this is refused, so hostile input cannot overflow the stack.
pub const MAX_NESTING: usize = 64;

/// One statement of a `.rasp` program.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `name = expr`.
    Assign {
        /// The variable.
        name: String,
        /// Its value.
        value: Node,
        /// Where the statement starts.
        position: Position,
    },
    /// A bare expression: allowed only as the last statement, where it is the program's output.
    Output(Node),
}

/// Parses a whole program into statements.
pub fn parse_statements(source: &str) -> Result<Vec<Statement>, ParseError> {
    let mut parser = Parser::new(tokenize(source)?);
    let mut statements = Vec::new();
    while !parser.at(&Token::Eof) {
        statements.push(parser.statement()?);
        parser.expect_end_of_statement()?;
    }
    Ok(statements)
}

/// Parses one expression (e.g. a lambda) that must make up the whole text.
pub fn parse_expression(source: &str) -> Result<Node, ParseError> {
    let mut parser = Parser::new(tokenize(source)?);
    let node = parser.expr()?;
    if parser.at(&Token::Newline) {
        parser.advance();
    }
    if !parser.at(&Token::Eof) {
        return Err(parser.unexpected("the end of the expression"));
    }
    Ok(node)
}

/// A call's positional and keyword arguments.
type CallArguments = (Vec<Node>, Vec<(String, Node)>);

struct Parser {
    tokens: Vec<Spanned>,
    index: usize,
    depth: usize,
}

impl Parser {
    fn new(tokens: Vec<Spanned>) -> Self {
        Parser {
            tokens,
            index: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> &Spanned {
        // The lexer always ends with Eof, and `advance` never moves past it.
        &self.tokens[self.index.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, offset: usize) -> &Token {
        &self.tokens[(self.index + offset).min(self.tokens.len() - 1)].token
    }

    fn position(&self) -> Position {
        self.peek().position
    }

    fn at(&self, token: &Token) -> bool {
        &self.peek().token == token
    }

    fn at_op(&self, op: &str) -> bool {
        matches!(&self.peek().token, Token::Op(o) if *o == op)
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().token, Token::Keyword(k) if *k == keyword)
    }

    fn advance(&mut self) -> Spanned {
        let token = self.peek().clone();
        if self.index < self.tokens.len() - 1 {
            self.index += 1;
        }
        token
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        ParseError::new(
            self.position(),
            format!("expected {expected}, found {}", self.peek().token),
        )
    }

    fn expect_op(&mut self, op: &str, expected: &str) -> Result<Position, ParseError> {
        if self.at_op(op) {
            Ok(self.advance().position)
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn expect_end_of_statement(&mut self) -> Result<(), ParseError> {
        match self.peek().token {
            Token::Newline => {
                self.advance();
                Ok(())
            }
            Token::Eof => Ok(()),
            _ => Err(self.unexpected("an operator or the end of the statement")),
        }
    }

    fn ident(&mut self, expected: &str) -> Result<String, ParseError> {
        match &self.peek().token {
            Token::Ident(name) => {
                let name = name.clone();
                self.advance();
                Ok(name)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let position = self.position();
        if matches!(self.peek().token, Token::Ident(_)) && self.peek_at(1) == &Token::Op("=") {
            let name = self.ident("a variable name")?;
            self.advance();
            let value = self.expr()?;
            return Ok(Statement::Assign {
                name,
                value,
                position,
            });
        }
        if let Token::Keyword(k) = self.peek().token {
            if self.peek_at(1) == &Token::Op("=") {
                return Err(ParseError::new(
                    position,
                    format!("cannot assign to keyword `{k}`: expected a variable name"),
                ));
            }
        }
        Ok(Statement::Output(self.expr()?))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(ParseError::new(
                self.position(),
                format!("expression nested more than {MAX_NESTING} levels deep; split it into several assignments"),
            ));
        }
        Ok(())
    }

    /// `expr := lambda | ternary`.
    fn expr(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let result = if self.at_keyword("lambda") {
            self.lambda()
        } else {
            self.ternary()
        };
        self.depth -= 1;
        result
    }

    fn lambda(&mut self) -> Result<Node, ParseError> {
        let position = self.advance().position;
        let mut params = Vec::new();
        if !self.at_op(":") {
            loop {
                let name = self.ident("a parameter name")?;
                if params.contains(&name) {
                    return Err(ParseError::new(
                        self.tokens[self.index - 1].position,
                        format!("duplicate parameter `{name}`"),
                    ));
                }
                params.push(name);
                if self.at_op(",") {
                    self.advance();
                } else {
                    break;
                }
            }
        }
        self.expect_op(":", "`,` or `:` after the lambda parameters")?;
        let body = self.expr()?;
        Ok(Node::new(
            NodeKind::Lambda {
                params,
                body: Box::new(body),
            },
            position,
        ))
    }

    fn ternary(&mut self) -> Result<Node, ParseError> {
        let then = self.or_test()?;
        if !self.at_keyword("if") {
            return Ok(then);
        }
        self.advance();
        let cond = self.or_test()?;
        if !self.at_keyword("else") {
            return Err(self.unexpected("`else` (conditional expressions are `a if cond else b`)"));
        }
        self.advance();
        let otherwise = self.expr()?;
        let position = then.position;
        Ok(Node::new(
            NodeKind::IfElse {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            },
            position,
        ))
    }

    fn or_test(&mut self) -> Result<Node, ParseError> {
        let mut left = self.and_test()?;
        let entered = self.depth;
        while self.at_keyword("or") {
            self.advance();
            self.enter()?;
            let right = self.and_test()?;
            let position = left.position;
            left = Node::new(NodeKind::Or(Box::new(left), Box::new(right)), position);
        }
        self.depth = entered;
        Ok(left)
    }

    fn and_test(&mut self) -> Result<Node, ParseError> {
        let mut left = self.not_test()?;
        let entered = self.depth;
        while self.at_keyword("and") {
            self.advance();
            self.enter()?;
            let right = self.not_test()?;
            let position = left.position;
            left = Node::new(NodeKind::And(Box::new(left), Box::new(right)), position);
        }
        self.depth = entered;
        Ok(left)
    }

    fn not_test(&mut self) -> Result<Node, ParseError> {
        if self.at_keyword("not") {
            let position = self.advance().position;
            self.enter()?;
            let operand = self.not_test();
            self.depth -= 1;
            return Ok(Node::new(
                NodeKind::Unary {
                    op: UnaryOp::Not,
                    operand: Box::new(operand?),
                },
                position,
            ));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, ParseError> {
        let first = self.binary(0)?;
        let mut rest = Vec::new();
        loop {
            let op = match &self.peek().token {
                Token::Op("==") => CmpOp::Eq,
                Token::Op("!=") => CmpOp::Ne,
                Token::Op("<") => CmpOp::Lt,
                Token::Op("<=") => CmpOp::Le,
                Token::Op(">") => CmpOp::Gt,
                Token::Op(">=") => CmpOp::Ge,
                _ => break,
            };
            self.advance();
            self.enter()?;
            rest.push((op, self.binary(0)?));
        }
        self.depth -= rest.len();
        if rest.is_empty() {
            return Ok(first);
        }
        let position = first.position;
        Ok(Node::new(
            NodeKind::Compare {
                first: Box::new(first),
                rest,
            },
            position,
        ))
    }

    /// Left-associative binary levels: `|`, `&`, `+ -`, `* / // %`.
    fn binary(&mut self, level: usize) -> Result<Node, ParseError> {
        const LEVELS: [&[(&str, BinOp)]; 4] = [
            &[("|", BinOp::BitOr)],
            &[("&", BinOp::BitAnd)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[
                ("*", BinOp::Mul),
                ("/", BinOp::Div),
                ("//", BinOp::FloorDiv),
                ("%", BinOp::Mod),
            ],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        let entered = self.depth;
        loop {
            let op = match &self.peek().token {
                Token::Op(o) => ops.iter().find(|(sym, _)| sym == o).map(|(_, op)| *op),
                _ => None,
            };
            let Some(op) = op else { break };
            self.advance();
            self.enter()?;
            let right = self.binary(level + 1)?;
            let position = left.position;
            left = Node::new(
                NodeKind::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                position,
            );
        }
        self.depth = entered;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        let op = match &self.peek().token {
            Token::Op("-") => Some(UnaryOp::Neg),
            Token::Op("+") => Some(UnaryOp::Pos),
            Token::Op("~") => Some(UnaryOp::Invert),
            _ => None,
        };
        let Some(op) = op else {
            return self.power();
        };
        let position = self.advance().position;
        self.enter()?;
        let operand = self.unary();
        self.depth -= 1;
        Ok(Node::new(
            NodeKind::Unary {
                op,
                operand: Box::new(operand?),
            },
            position,
        ))
    }

    fn power(&mut self) -> Result<Node, ParseError> {
        let base = self.postfix()?;
        if !self.at_op("**") {
            return Ok(base);
        }
        self.advance();
        // Right-associative, and the exponent may carry a unary minus: `2 ** -1`.
        self.enter()?;
        let exponent = self.unary();
        self.depth -= 1;
        let position = base.position;
        Ok(Node::new(
            NodeKind::Binary {
                op: BinOp::Pow,
                left: Box::new(base),
                right: Box::new(exponent?),
            },
            position,
        ))
    }

    fn postfix(&mut self) -> Result<Node, ParseError> {
        let mut node = self.atom()?;
        let entered = self.depth;
        loop {
            let position = node.position;
            if self.at_op("(") || self.at_op(".") || self.at_op("[") {
                self.enter()?;
            }
            if self.at_op("(") {
                self.advance();
                let (args, kwargs) = self.call_arguments()?;
                node = Node::new(
                    NodeKind::Call {
                        func: Box::new(node),
                        args,
                        kwargs,
                    },
                    position,
                );
            } else if self.at_op(".") {
                self.advance();
                let attr = self.ident("an attribute name after `.`")?;
                node = Node::new(
                    NodeKind::Attribute {
                        value: Box::new(node),
                        attr,
                    },
                    position,
                );
            } else if self.at_op("[") {
                self.advance();
                let index = self.expr()?;
                self.expect_op("]", "`]` after the index")?;
                node = Node::new(
                    NodeKind::Index {
                        value: Box::new(node),
                        index: Box::new(index),
                    },
                    position,
                );
            } else {
                self.depth = entered;
                return Ok(node);
            }
        }
    }

    fn call_arguments(&mut self) -> Result<CallArguments, ParseError> {
        let mut args = Vec::new();
        let mut kwargs: Vec<(String, Node)> = Vec::new();
        while !self.at_op(")") {
            if let (Token::Ident(name), Token::Op("=")) = (&self.peek().token, self.peek_at(1)) {
                let (name, position) = (name.clone(), self.position());
                if kwargs.iter().any(|(k, _)| *k == name) {
                    return Err(ParseError::new(
                        position,
                        format!("keyword argument `{name}` repeated"),
                    ));
                }
                self.advance();
                self.advance();
                kwargs.push((name, self.expr()?));
            } else {
                if !kwargs.is_empty() {
                    return Err(ParseError::new(
                        self.position(),
                        "positional argument follows keyword argument",
                    ));
                }
                args.push(self.expr()?);
            }
            if self.at_op(",") {
                self.advance();
            } else if !self.at_op(")") {
                return Err(self.unexpected("`,` or `)` in the argument list"));
            }
        }
        self.advance();
        Ok((args, kwargs))
    }

    fn atom(&mut self) -> Result<Node, ParseError> {
        let Spanned { token, position } = self.peek().clone();
        let literal = |v: Value| Ok(Node::new(NodeKind::Literal(v), position));
        match token {
            Token::Int(i) => {
                self.advance();
                literal(Value::Int(i))
            }
            Token::Float(x) => {
                self.advance();
                literal(Value::Float(x))
            }
            Token::Str(s) => {
                self.advance();
                // Adjacent string literals concatenate, as in Python.
                let mut s = s;
                while let Token::Str(more) = &self.peek().token {
                    s.push_str(more);
                    self.advance();
                }
                literal(Value::Str(s))
            }
            Token::Keyword("True") => {
                self.advance();
                literal(Value::Bool(true))
            }
            Token::Keyword("False") => {
                self.advance();
                literal(Value::Bool(false))
            }
            Token::Keyword("None") => {
                self.advance();
                literal(Value::None)
            }
            Token::Ident(name) => {
                self.advance();
                Ok(Node::new(NodeKind::Name(name), position))
            }
            Token::Op("(") => {
                self.advance();
                if self.at_op(")") {
                    self.advance();
                    return Ok(Node::new(NodeKind::Tuple(Vec::new()), position));
                }
                let first = self.expr()?;
                if self.at_op(")") {
                    self.advance();
                    return Ok(first);
                }
                let mut items = vec![first];
                while self.at_op(",") {
                    self.advance();
                    if self.at_op(")") {
                        break;
                    }
                    items.push(self.expr()?);
                }
                self.expect_op(")", "`,` or `)` in the parenthesised expression")?;
                Ok(Node::new(NodeKind::Tuple(items), position))
            }
            Token::Op("[") => {
                self.advance();
                let mut items = Vec::new();
                while !self.at_op("]") {
                    items.push(self.expr()?);
                    if self.at_op(",") {
                        self.advance();
                    } else if !self.at_op("]") {
                        return Err(self.unexpected("`,` or `]` in the list"));
                    }
                }
                self.advance();
                Ok(Node::new(NodeKind::List(items), position))
            }
            _ => {
                Err(self.unexpected("an expression (a name, number, string, `(`, `[` or `lambda`)"))
            }
        }
    }
}

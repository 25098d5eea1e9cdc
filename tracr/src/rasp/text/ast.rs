//! The syntax tree of `.rasp` text, shared by program statements and function bodies,
//! and its canonical printing (which is the text a parsed function carries).

use super::error::Position;
use crate::value::{python_float_repr, python_str_repr, Value};
use std::fmt::Write;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (true division)
    Div,
    /// `//` (floor division)
    FloorDiv,
    /// `%`
    Mod,
    /// `**`
    Pow,
    /// `&` (SOps and selectors only)
    BitAnd,
    /// `|` (SOps and selectors only)
    BitOr,
}

impl BinOp {
    /// The operator's spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
        }
    }

    fn precedence(self) -> u8 {
        match self {
            BinOp::BitOr => PREC_BITOR,
            BinOp::BitAnd => PREC_BITAND,
            BinOp::Add | BinOp::Sub => PREC_ARITH,
            BinOp::Mul | BinOp::Div | BinOp::FloorDiv | BinOp::Mod => PREC_TERM,
            BinOp::Pow => PREC_POWER,
        }
    }
}

/// A comparison operator (chainable, as in Python).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator's spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `+x`
    Pos,
    /// `not x`
    Not,
    /// `~x` (SOps and selectors only)
    Invert,
}

/// An expression node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the expression is.
    pub kind: NodeKind,
    /// Where it starts in the text.
    pub position: Position,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A literal value (number, string, bool, None).
    Literal(Value),
    /// A variable, parameter or built-in name.
    Name(String),
    /// `(a, b)` or `(a,)`.
    Tuple(Vec<Node>),
    /// `[a, b]` (only for ConstantSOp/ConstantSelector arguments).
    List(Vec<Node>),
    /// `lambda x, y: body`.
    Lambda {
        /// Parameter names.
        params: Vec<String>,
        /// The body.
        body: Box<Node>,
    },
    /// `f(args, key=value)`.
    Call {
        /// The called expression.
        func: Box<Node>,
        /// Positional arguments.
        args: Vec<Node>,
        /// Keyword arguments, in order.
        kwargs: Vec<(String, Node)>,
    },
    /// `value.attr`.
    Attribute {
        /// The object.
        value: Box<Node>,
        /// The attribute name.
        attr: String,
    },
    /// `value[index]`.
    Index {
        /// The indexed value.
        value: Box<Node>,
        /// The index.
        index: Box<Node>,
    },
    /// A unary operation.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Node>,
    },
    /// A binary arithmetic or bitwise operation.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        left: Box<Node>,
        /// Right operand.
        right: Box<Node>,
    },
    /// `a < b <= c`: Python's chained comparison.
    Compare {
        /// The first operand.
        first: Box<Node>,
        /// Each operator with its right operand.
        rest: Vec<(CmpOp, Node)>,
    },
    /// `a and b` (short-circuit, returns an operand).
    And(Box<Node>, Box<Node>),
    /// `a or b` (short-circuit, returns an operand).
    Or(Box<Node>, Box<Node>),
    /// `then if cond else otherwise`.
    IfElse {
        /// The condition.
        cond: Box<Node>,
        /// The value when the condition is truthy.
        then: Box<Node>,
        /// The value otherwise.
        otherwise: Box<Node>,
    },
}

// Python's precedence levels, lowest first.
const PREC_LAMBDA: u8 = 0;
const PREC_IF: u8 = 1;
const PREC_OR: u8 = 2;
const PREC_AND: u8 = 3;
const PREC_NOT: u8 = 4;
const PREC_CMP: u8 = 5;
const PREC_BITOR: u8 = 6;
const PREC_BITAND: u8 = 7;
const PREC_ARITH: u8 = 8;
const PREC_TERM: u8 = 9;
const PREC_UNARY: u8 = 10;
const PREC_POWER: u8 = 11;
const PREC_ATOM: u8 = 12;

impl Node {
    /// A node at `position`.
    pub fn new(kind: NodeKind, position: Position) -> Self {
        Node { kind, position }
    }

    fn precedence(&self) -> u8 {
        match &self.kind {
            NodeKind::Literal(v) => literal_precedence(v),
            NodeKind::Lambda { .. } => PREC_LAMBDA,
            NodeKind::IfElse { .. } => PREC_IF,
            NodeKind::Or(..) => PREC_OR,
            NodeKind::And(..) => PREC_AND,
            NodeKind::Unary {
                op: UnaryOp::Not, ..
            } => PREC_NOT,
            NodeKind::Compare { .. } => PREC_CMP,
            NodeKind::Binary { op, .. } => op.precedence(),
            NodeKind::Unary { .. } => PREC_UNARY,
            NodeKind::Name(_)
            | NodeKind::Tuple(_)
            | NodeKind::List(_)
            | NodeKind::Call { .. }
            | NodeKind::Attribute { .. }
            | NodeKind::Index { .. } => PREC_ATOM,
        }
    }

    /// The canonical text: Python spelling, minimal parentheses, single spaces around binary operators.
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write_at(&self, out: &mut String, min_precedence: u8) {
        if self.precedence() < min_precedence {
            out.push('(');
            self.write(out);
            out.push(')');
        } else {
            self.write(out);
        }
    }

    fn write(&self, out: &mut String) {
        match &self.kind {
            NodeKind::Literal(v) => out.push_str(&literal_source(v)),
            NodeKind::Name(name) => out.push_str(name),
            NodeKind::Tuple(items) => {
                out.push('(');
                write_list(out, items);
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            NodeKind::List(items) => {
                out.push('[');
                write_list(out, items);
                out.push(']');
            }
            NodeKind::Lambda { params, body } => {
                out.push_str("lambda");
                if !params.is_empty() {
                    out.push(' ');
                    out.push_str(&params.join(", "));
                }
                out.push_str(": ");
                body.write_at(out, PREC_LAMBDA);
            }
            NodeKind::Call { func, args, kwargs } => {
                func.write_at(out, PREC_ATOM);
                out.push('(');
                write_list(out, args);
                for (i, (key, value)) in kwargs.iter().enumerate() {
                    if i > 0 || !args.is_empty() {
                        out.push_str(", ");
                    }
                    out.push_str(key);
                    out.push('=');
                    value.write_at(out, PREC_IF);
                }
                out.push(')');
            }
            NodeKind::Attribute { value, attr } => {
                // `1.named` would lex as a float, so a number literal gets parentheses.
                if matches!(
                    value.kind,
                    NodeKind::Literal(Value::Int(_) | Value::Float(_))
                ) {
                    out.push('(');
                    value.write(out);
                    out.push(')');
                } else {
                    value.write_at(out, PREC_ATOM);
                }
                out.push('.');
                out.push_str(attr);
            }
            NodeKind::Index { value, index } => {
                value.write_at(out, PREC_ATOM);
                out.push('[');
                index.write_at(out, PREC_IF);
                out.push(']');
            }
            NodeKind::Unary { op, operand } => match op {
                UnaryOp::Not => {
                    out.push_str("not ");
                    operand.write_at(out, PREC_NOT);
                }
                UnaryOp::Neg | UnaryOp::Pos | UnaryOp::Invert => {
                    out.push(match op {
                        UnaryOp::Neg => '-',
                        UnaryOp::Pos => '+',
                        _ => '~',
                    });
                    operand.write_at(out, PREC_UNARY);
                }
            },
            NodeKind::Binary { op, left, right } => {
                let p = op.precedence();
                // `**` is right-associative and binds its left operand tighter than unary minus.
                let (left_min, right_min) = if *op == BinOp::Pow {
                    (PREC_POWER + 1, PREC_UNARY)
                } else {
                    (p, p + 1)
                };
                left.write_at(out, left_min);
                let _ = write!(out, " {} ", op.symbol());
                right.write_at(out, right_min);
            }
            NodeKind::Compare { first, rest } => {
                first.write_at(out, PREC_CMP + 1);
                for (op, operand) in rest {
                    let _ = write!(out, " {} ", op.symbol());
                    operand.write_at(out, PREC_CMP + 1);
                }
            }
            NodeKind::And(a, b) => {
                a.write_at(out, PREC_AND);
                out.push_str(" and ");
                b.write_at(out, PREC_AND + 1);
            }
            NodeKind::Or(a, b) => {
                a.write_at(out, PREC_OR);
                out.push_str(" or ");
                b.write_at(out, PREC_OR + 1);
            }
            NodeKind::IfElse {
                cond,
                then,
                otherwise,
            } => {
                then.write_at(out, PREC_IF + 1);
                out.push_str(" if ");
                cond.write_at(out, PREC_IF + 1);
                out.push_str(" else ");
                otherwise.write_at(out, PREC_IF);
            }
        }
    }
}

fn write_list(out: &mut String, items: &[Node]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.write_at(out, PREC_IF);
    }
}

/// A negative number prints with a leading minus, so it binds like unary minus.
fn literal_precedence(v: &Value) -> u8 {
    match v {
        Value::Int(i) if *i < 0 => PREC_UNARY,
        Value::Float(x) if x.is_sign_negative() => PREC_UNARY,
        _ => PREC_ATOM,
    }
}

/// The `.rasp` text of a value: Python's repr, with `inf`/`nan` spelled as expressions that compute them.
pub fn literal_source(v: &Value) -> String {
    match v {
        Value::Str(s) => python_str_repr(s),
        Value::Float(x) if x.is_nan() => "float('nan')".to_string(),
        Value::Float(x) if x.is_infinite() => if *x > 0.0 {
            "float('inf')"
        } else {
            "-float('inf')"
        }
        .to_string(),
        Value::Float(x) => python_float_repr(*x),
        Value::Tuple(items) => {
            let parts: Vec<String> = items.iter().map(literal_source).collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        }
        other => other.py_str(),
    }
}

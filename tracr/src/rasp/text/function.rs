//! The expression language of Map, SequenceMap and Select bodies: a lambda compiled to an
//! evaluator with Python's semantics (via [`crate::rasp::py_ops`]).

use super::ast::{BinOp, CmpOp, Node, NodeKind, UnaryOp};
use super::error::ParseError;
use crate::rasp::py_ops::{PyError, PyResult};
use crate::value::Value;
use std::sync::Arc;

/// The built-in functions a body may call.
pub const BUILTINS: [&str; 8] = ["abs", "min", "max", "int", "float", "str", "bool", "len"];

/// A compiled lambda: call it with as many values as it has parameters.
#[derive(Clone)]
pub struct Function {
    code: Arc<Code>,
    /// The parameter names.
    pub params: Vec<String>,
    /// The canonical source text, `lambda x: ...`.
    pub text: String,
}

impl Function {
    /// Applies the function; `args` must have one value per parameter.
    pub fn call(&self, args: &[Value]) -> PyResult<Value> {
        self.code.eval(args)
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug)]
enum Code {
    Const(Value),
    Param(usize),
    Tuple(Vec<Code>),
    Unary(UnaryOp, Box<Code>),
    Binary(BinOp, Box<Code>, Box<Code>),
    Compare(Box<Code>, Vec<(CmpOp, Code)>),
    And(Box<Code>, Box<Code>),
    Or(Box<Code>, Box<Code>),
    IfElse(Box<Code>, Box<Code>, Box<Code>),
    Index(Box<Code>, Box<Code>),
    Call(&'static str, Vec<Code>),
}

/// Compiles a `lambda` node with exactly `arity` parameters; `role` names the use in errors.
pub fn compile_lambda(node: &Node, arity: usize, role: &str) -> Result<Function, ParseError> {
    let NodeKind::Lambda { params, body } = &node.kind else {
        return Err(ParseError::new(
            node.position,
            format!("expected a lambda with {arity} parameter(s) as the {role}"),
        ));
    };
    if params.len() != arity {
        return Err(ParseError::new(
            node.position,
            format!(
                "the {role} must take {arity} parameter(s), this lambda takes {}",
                params.len()
            ),
        ));
    }
    Ok(Function {
        code: Arc::new(compile(body, params)?),
        params: params.clone(),
        text: node.to_source(),
    })
}

fn compile(node: &Node, params: &[String]) -> Result<Code, ParseError> {
    let sub = |n: &Node| compile(n, params).map(Box::new);
    let err = |message: String| Err(ParseError::new(node.position, message));
    Ok(match &node.kind {
        NodeKind::Literal(v) => Code::Const(v.clone()),
        NodeKind::Name(name) => match params.iter().position(|p| p == name) {
            Some(i) => Code::Param(i),
            None if BUILTINS.contains(&name.as_str()) => {
                return err(format!("`{name}` is a function: call it, e.g. `{name}(x)`"))
            }
            None => {
                return err(format!(
                    "unknown name `{name}` in a function body: expected a parameter ({}), a literal or a call to one of {}",
                    params.join(", "),
                    BUILTINS.join(", ")
                ))
            }
        },
        NodeKind::Tuple(items) => Code::Tuple(
            items
                .iter()
                .map(|n| compile(n, params))
                .collect::<Result<_, _>>()?,
        ),
        NodeKind::List(_) => return err("lists are not values in function bodies; use a tuple `(a, b)`".into()),
        NodeKind::Lambda { .. } => return err("a lambda inside a function body is not supported".into()),
        NodeKind::Attribute { attr, .. } => {
            return err(format!("attributes (`.{attr}`) are not supported in function bodies"))
        }
        NodeKind::Call { func, args, kwargs } => {
            let NodeKind::Name(name) = &func.kind else {
                return err(format!("expected a call to one of {}", BUILTINS.join(", ")));
            };
            let Some(builtin) = BUILTINS.iter().find(|b| *b == name) else {
                return err(format!(
                    "unknown function `{name}`: expected one of {}",
                    BUILTINS.join(", ")
                ));
            };
            if let Some((key, _)) = kwargs.first() {
                return err(format!("`{name}` takes no keyword argument `{key}`"));
            }
            let arity_ok = match *builtin {
                "min" | "max" => !args.is_empty(),
                "abs" | "len" => args.len() == 1,
                _ => args.len() <= 1,
            };
            if !arity_ok {
                return err(format!(
                    "`{name}` called with {} arguments: expected {}",
                    args.len(),
                    match *builtin {
                        "min" | "max" => "at least one",
                        "abs" | "len" => "exactly one",
                        _ => "at most one",
                    }
                ));
            }
            Code::Call(
                builtin,
                args.iter()
                    .map(|n| compile(n, params))
                    .collect::<Result<_, _>>()?,
            )
        }
        NodeKind::Index { value, index } => Code::Index(sub(value)?, sub(index)?),
        NodeKind::Unary { op, operand } => Code::Unary(*op, sub(operand)?),
        NodeKind::Binary { op, left, right } => Code::Binary(*op, sub(left)?, sub(right)?),
        NodeKind::Compare { first, rest } => Code::Compare(
            sub(first)?,
            rest.iter()
                .map(|(op, n)| Ok((*op, compile(n, params)?)))
                .collect::<Result<_, ParseError>>()?,
        ),
        NodeKind::And(a, b) => Code::And(sub(a)?, sub(b)?),
        NodeKind::Or(a, b) => Code::Or(sub(a)?, sub(b)?),
        NodeKind::IfElse {
            cond,
            then,
            otherwise,
        } => Code::IfElse(sub(cond)?, sub(then)?, sub(otherwise)?),
    })
}

impl Code {
    fn eval(&self, args: &[Value]) -> PyResult<Value> {
        match self {
            Code::Const(v) => Ok(v.clone()),
            Code::Param(i) => args.get(*i).cloned().ok_or_else(|| {
                PyError::Type(format!(
                    "function called with {} arguments, needs parameter {}",
                    args.len(),
                    i + 1
                ))
            }),
            Code::Tuple(items) => Ok(Value::Tuple(
                items
                    .iter()
                    .map(|c| c.eval(args))
                    .collect::<PyResult<_>>()?,
            )),
            Code::Unary(op, operand) => unary(*op, &operand.eval(args)?),
            Code::Binary(op, left, right) => binary(*op, &left.eval(args)?, &right.eval(args)?),
            Code::Compare(first, rest) => {
                let mut left = first.eval(args)?;
                for (op, code) in rest {
                    let right = code.eval(args)?;
                    if !compare(*op, &left, &right)? {
                        return Ok(Value::Bool(false));
                    }
                    left = right;
                }
                Ok(Value::Bool(true))
            }
            Code::And(a, b) => {
                let a = a.eval(args)?;
                if a.py_truthy() {
                    b.eval(args)
                } else {
                    Ok(a)
                }
            }
            Code::Or(a, b) => {
                let a = a.eval(args)?;
                if a.py_truthy() {
                    Ok(a)
                } else {
                    b.eval(args)
                }
            }
            Code::IfElse(cond, then, otherwise) => {
                if cond.eval(args)?.py_truthy() {
                    then.eval(args)
                } else {
                    otherwise.eval(args)
                }
            }
            Code::Index(value, index) => index_value(&value.eval(args)?, &index.eval(args)?),
            Code::Call(name, call_args) => {
                let values: Vec<Value> = call_args
                    .iter()
                    .map(|c| c.eval(args))
                    .collect::<PyResult<_>>()?;
                call_builtin(name, &values)
            }
        }
    }
}

/// Python's comparison operators on two values.
pub fn compare(op: CmpOp, left: &Value, right: &Value) -> PyResult<bool> {
    match op {
        CmpOp::Eq => Ok(left == right),
        CmpOp::Ne => Ok(left != right),
        other => left.py_order(right, other.symbol()),
    }
}

/// Python's unary operators on a value.
pub fn unary(op: UnaryOp, v: &Value) -> PyResult<Value> {
    match op {
        UnaryOp::Neg => v.py_neg(),
        UnaryOp::Pos => match v {
            Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
            Value::Int(_) | Value::Float(_) => Ok(v.clone()),
            _ => Err(PyError::Type(format!(
                "bad operand type for unary +: '{}'",
                v.py_type_name()
            ))),
        },
        UnaryOp::Not => Ok(v.py_not()),
        UnaryOp::Invert => match v {
            Value::Bool(b) => Ok(Value::Int(!i64::from(*b))),
            Value::Int(i) => Ok(Value::Int(!i)),
            _ => Err(PyError::Type(format!(
                "bad operand type for unary ~: '{}'",
                v.py_type_name()
            ))),
        },
    }
}

/// Python's binary operators on two values.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> PyResult<Value> {
    match op {
        BinOp::Add => a.py_add(b),
        BinOp::Sub => a.py_sub(b),
        BinOp::Mul => a.py_mul(b),
        BinOp::Div => a.py_truediv(b),
        BinOp::FloorDiv => a.py_floordiv(b),
        BinOp::Mod => a.py_mod(b),
        BinOp::Pow => a.py_pow(b),
        BinOp::BitAnd | BinOp::BitOr => match (a, b) {
            // Python's `bool & bool` stays a bool; with an int it is an int.
            (Value::Bool(x), Value::Bool(y)) => Ok(Value::Bool(if op == BinOp::BitAnd {
                *x && *y
            } else {
                *x || *y
            })),
            (Value::Bool(_) | Value::Int(_), Value::Bool(_) | Value::Int(_)) => {
                let as_int = |v: &Value| match v {
                    Value::Bool(b) => i64::from(*b),
                    Value::Int(i) => *i,
                    _ => 0,
                };
                let (x, y) = (as_int(a), as_int(b));
                Ok(Value::Int(if op == BinOp::BitAnd { x & y } else { x | y }))
            }
            _ => Err(PyError::Type(format!(
                "unsupported operand type(s) for {}: '{}' and '{}'",
                op.symbol(),
                a.py_type_name(),
                b.py_type_name()
            ))),
        },
    }
}

/// Python's `value[index]` for tuples and strings.
pub fn index_value(value: &Value, index: &Value) -> PyResult<Value> {
    let i = match index {
        Value::Int(i) => *i,
        Value::Bool(b) => i64::from(*b),
        other => {
            return Err(PyError::Type(format!(
                "indices must be integers, not {}",
                other.py_type_name()
            )))
        }
    };
    let pick = |len: usize| -> Option<usize> {
        let len = len as i64;
        let i = if i < 0 { i + len } else { i };
        (0..len).contains(&i).then_some(i as usize)
    };
    match value {
        Value::Tuple(items) => pick(items.len())
            .map(|i| items[i].clone())
            .ok_or_else(|| PyError::Value("IndexError: tuple index out of range".into())),
        Value::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            pick(chars.len())
                .map(|i| Value::Str(chars[i].to_string()))
                .ok_or_else(|| PyError::Value("IndexError: string index out of range".into()))
        }
        other => Err(PyError::Type(format!(
            "'{}' object is not subscriptable",
            other.py_type_name()
        ))),
    }
}

/// Calls a built-in (`abs`, `min`, `max`, `int`, `float`, `str`, `bool`, `len`) as Python does.
pub fn call_builtin(name: &str, args: &[Value]) -> PyResult<Value> {
    match (name, args) {
        ("abs", [v]) => match v {
            Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
            Value::Int(i) => i.checked_abs().map(Value::Int).ok_or_else(|| {
                PyError::Arithmetic("integer result does not fit in 64 bits".into())
            }),
            Value::Float(x) => Ok(Value::Float(x.abs())),
            other => Err(PyError::Type(format!(
                "bad operand type for abs(): '{}'",
                other.py_type_name()
            ))),
        },
        ("min" | "max", _) => {
            let items: Vec<Value> = match args {
                [Value::Tuple(items)] => items.clone(),
                [Value::Str(s)] => s.chars().map(|c| Value::Str(c.to_string())).collect(),
                [single] => {
                    return Err(PyError::Type(format!(
                        "'{}' object is not iterable",
                        single.py_type_name()
                    )))
                }
                many => many.to_vec(),
            };
            let mut items = items.into_iter();
            let mut best = items
                .next()
                .ok_or_else(|| PyError::Value(format!("{name}() arg is an empty sequence")))?;
            // Python keeps the first of equal extremes.
            let better = if name == "min" { "<" } else { ">" };
            for item in items {
                if item.py_order(&best, better)? {
                    best = item;
                }
            }
            Ok(best)
        }
        ("int", []) => Ok(Value::Int(0)),
        ("int", [v]) => to_int(v),
        ("float", []) => Ok(Value::Float(0.0)),
        ("float", [v]) => to_float(v),
        ("str", []) => Ok(Value::Str(String::new())),
        ("str", [v]) => Ok(Value::Str(v.py_str())),
        ("bool", []) => Ok(Value::Bool(false)),
        ("bool", [v]) => Ok(Value::Bool(v.py_truthy())),
        ("len", [v]) => match v {
            Value::Tuple(items) => Ok(Value::Int(items.len() as i64)),
            Value::Str(s) => Ok(Value::Int(s.chars().count() as i64)),
            other => Err(PyError::Type(format!(
                "object of type '{}' has no len()",
                other.py_type_name()
            ))),
        },
        _ => Err(PyError::Type(format!(
            "{name}() does not take {} arguments",
            args.len()
        ))),
    }
}

fn to_int(v: &Value) -> PyResult<Value> {
    match v {
        Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(x) if x.is_nan() => {
            Err(PyError::Value("cannot convert float NaN to integer".into()))
        }
        // Python raises OverflowError, an ArithmeticError.
        Value::Float(x) if x.is_infinite() => Err(PyError::Arithmetic(
            "cannot convert float infinity to integer".into(),
        )),
        Value::Float(x) => {
            let t = x.trunc();
            if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&t) {
                Ok(Value::Int(t as i64))
            } else {
                Err(PyError::Arithmetic(
                    "integer result does not fit in 64 bits".into(),
                ))
            }
        }
        Value::Str(s) => s
            .trim()
            .replace('_', "")
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| {
                PyError::Value(format!(
                    "invalid literal for int() with base 10: {}",
                    v.py_repr()
                ))
            }),
        other => Err(PyError::Type(format!(
            "int() argument must be a string or a number, not '{}'",
            other.py_type_name()
        ))),
    }
}

fn to_float(v: &Value) -> PyResult<Value> {
    match v {
        Value::Str(s) => {
            let t = s.trim();
            let lower = t.to_ascii_lowercase();
            let unsigned = lower.trim_start_matches(['+', '-']);
            // Rust also accepts forms Python rejects; allow digits, one point, exponents and inf/nan words.
            let plausible = matches!(unsigned, "inf" | "infinity" | "nan")
                || (!unsigned.is_empty()
                    && unsigned
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-')));
            match t.parse::<f64>() {
                Ok(x) if plausible => Ok(Value::Float(x)),
                _ => Err(PyError::Value(format!(
                    "could not convert string to float: {}",
                    v.py_repr()
                ))),
            }
        }
        other => other.as_f64().map(Value::Float).ok_or_else(|| {
            PyError::Type(format!(
                "float() argument must be a string or a real number, not '{}'",
                other.py_type_name()
            ))
        }),
    }
}

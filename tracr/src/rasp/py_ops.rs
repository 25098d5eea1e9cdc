//! Python's operators on RASP values, so that library programs and parsed functions compute what Tracr's lambdas compute.

use crate::value::Value;
use std::cmp::Ordering;

/// A Python exception raised inside a RASP function (a Map, SequenceMap or Select predicate).
///
/// Tracr treats the two kinds differently: an `ArithmeticError` (e.g. `ZeroDivisionError`)
/// becomes `None` in evaluation and drops the value in basis inference, while anything else
/// (`TypeError`, `ValueError`) aborts evaluation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyError {
    /// Python's `ArithmeticError` family: division by zero, overflow.
    #[error("ArithmeticError: {0}")]
    Arithmetic(String),
    /// Python's `TypeError`: an operator applied to values it does not support.
    #[error("TypeError: {0}")]
    Type(String),
    /// Python's `ValueError`, e.g. Tracr's `Comparison` called with a `None` key.
    #[error("ValueError: {0}")]
    Value(String),
}

impl PyError {
    /// Whether Tracr swallows this error (it catches `ArithmeticError` only).
    pub fn is_arithmetic(&self) -> bool {
        matches!(self, PyError::Arithmetic(_))
    }
}

/// Shorthand for a fallible Python operation.
pub type PyResult<T> = std::result::Result<T, PyError>;

/// A bool/int/float promoted the way Python's numeric tower does.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(i64::from(*b))),
        Value::Int(i) => Some(Num::Int(*i)),
        Value::Float(x) => Some(Num::Float(*x)),
        _ => None,
    }
}

fn to_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(x) => x,
    }
}

fn overflow() -> PyError {
    // Python ints are unbounded; this port's are i64, so leaving i64 is reported as an overflow.
    PyError::Arithmetic("integer result does not fit in 64 bits".to_string())
}

fn unsupported(op: &str, a: &Value, b: &Value) -> PyError {
    PyError::Type(format!(
        "unsupported operand type(s) for {op}: '{}' and '{}'",
        a.py_type_name(),
        b.py_type_name()
    ))
}

/// Applies an int rule or a float rule after Python's promotion.
fn arith(
    op: &str,
    a: &Value,
    b: &Value,
    int_rule: impl Fn(i64, i64) -> PyResult<Value>,
    float_rule: impl Fn(f64, f64) -> PyResult<Value>,
) -> PyResult<Value> {
    match (num(a), num(b)) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => int_rule(x, y),
        (Some(x), Some(y)) => float_rule(to_f64(x), to_f64(y)),
        _ => Err(unsupported(op, a, b)),
    }
}

fn python_float_mod(x: f64, y: f64) -> f64 {
    let r = x % y;
    if r != 0.0 && ((r < 0.0) != (y < 0.0)) {
        r + y
    } else {
        r
    }
}

impl Value {
    /// Python's name for the value's type, as error messages spell it.
    pub fn py_type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
        }
    }

    /// Python's `bool(value)`.
    pub fn py_truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(x) => *x != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Tuple(items) => !items.is_empty(),
        }
    }

    /// Python's `a < b`, `a <= b`, `a > b`, `a >= b` as one call; `TypeError` where Python raises it.
    pub fn py_order(&self, other: &Value, op: &str) -> PyResult<bool> {
        let ordering = self.py_cmp(other).ok_or_else(|| {
            PyError::Type(format!(
                "'{op}' not supported between instances of '{}' and '{}'",
                self.py_type_name(),
                other.py_type_name()
            ))
        })?;
        Ok(match op {
            "<" => ordering == Ordering::Less,
            "<=" => ordering != Ordering::Greater,
            ">" => ordering == Ordering::Greater,
            ">=" => ordering != Ordering::Less,
            _ => return Err(PyError::Type(format!("unknown comparison operator {op}"))),
        })
    }

    /// Python's `a + b` for numbers, strings and tuples.
    pub fn py_add(&self, other: &Value) -> PyResult<Value> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Ok(Value::Str(format!("{a}{b}"))),
            (Value::Tuple(a), Value::Tuple(b)) => {
                Ok(Value::Tuple(a.iter().chain(b).cloned().collect()))
            }
            _ => arith(
                "+",
                self,
                other,
                |x, y| x.checked_add(y).map(Value::Int).ok_or_else(overflow),
                |x, y| Ok(Value::Float(x + y)),
            ),
        }
    }

    /// Python's `a - b`.
    pub fn py_sub(&self, other: &Value) -> PyResult<Value> {
        arith(
            "-",
            self,
            other,
            |x, y| x.checked_sub(y).map(Value::Int).ok_or_else(overflow),
            |x, y| Ok(Value::Float(x - y)),
        )
    }

    /// Python's `a * b`, including `str * int` repetition.
    pub fn py_mul(&self, other: &Value) -> PyResult<Value> {
        let repeat = |s: &str, n: &Value| -> Option<Value> {
            match num(n) {
                Some(Num::Int(k)) if !matches!(n, Value::Float(_)) => {
                    Some(Value::Str(s.repeat(k.max(0) as usize)))
                }
                _ => None,
            }
        };
        match (self, other) {
            (Value::Str(s), n) | (n, Value::Str(s)) => {
                repeat(s, n).ok_or_else(|| unsupported("*", self, other))
            }
            _ => arith(
                "*",
                self,
                other,
                |x, y| x.checked_mul(y).map(Value::Int).ok_or_else(overflow),
                |x, y| Ok(Value::Float(x * y)),
            ),
        }
    }

    /// Python's `a / b`: always a float; `ZeroDivisionError` on zero.
    pub fn py_truediv(&self, other: &Value) -> PyResult<Value> {
        let divide = |x: f64, y: f64, what: &str| {
            if y == 0.0 {
                Err(PyError::Arithmetic(what.to_string()))
            } else {
                Ok(Value::Float(x / y))
            }
        };
        arith(
            "/",
            self,
            other,
            |x, y| divide(x as f64, y as f64, "division by zero"),
            |x, y| divide(x, y, "float division by zero"),
        )
    }

    /// Python's `a // b`: floor division.
    pub fn py_floordiv(&self, other: &Value) -> PyResult<Value> {
        arith(
            "//",
            self,
            other,
            |x, y| {
                if y == 0 {
                    return Err(PyError::Arithmetic(
                        "integer division or modulo by zero".to_string(),
                    ));
                }
                let q = x.checked_div(y).ok_or_else(overflow)?;
                let floor = if (x % y != 0) && ((x < 0) != (y < 0)) {
                    q - 1
                } else {
                    q
                };
                Ok(Value::Int(floor))
            },
            |x, y| {
                if y == 0.0 {
                    return Err(PyError::Arithmetic(
                        "float floor division by zero".to_string(),
                    ));
                }
                Ok(Value::Float(((x - python_float_mod(x, y)) / y).round()))
            },
        )
    }

    /// Python's `a % b`: the result takes the divisor's sign.
    pub fn py_mod(&self, other: &Value) -> PyResult<Value> {
        arith(
            "%",
            self,
            other,
            |x, y| {
                if y == 0 {
                    return Err(PyError::Arithmetic(
                        "integer division or modulo by zero".to_string(),
                    ));
                }
                let r = x.checked_rem(y).ok_or_else(overflow)?;
                Ok(Value::Int(if r != 0 && ((r < 0) != (y < 0)) {
                    r + y
                } else {
                    r
                }))
            },
            |x, y| {
                if y == 0.0 {
                    return Err(PyError::Arithmetic("float modulo".to_string()));
                }
                Ok(Value::Float(python_float_mod(x, y)))
            },
        )
    }

    /// Python's `a ** b`: an int for a non-negative int exponent, else a float.
    pub fn py_pow(&self, other: &Value) -> PyResult<Value> {
        arith(
            "**",
            self,
            other,
            |x, y| {
                if y >= 0 {
                    let exp = u32::try_from(y).map_err(|_| overflow())?;
                    x.checked_pow(exp).map(Value::Int).ok_or_else(overflow)
                } else if x == 0 {
                    Err(PyError::Arithmetic(
                        "0.0 cannot be raised to a negative power".to_string(),
                    ))
                } else {
                    Ok(Value::Float((x as f64).powf(y as f64)))
                }
            },
            |x, y| {
                if x == 0.0 && y < 0.0 {
                    return Err(PyError::Arithmetic(
                        "0.0 cannot be raised to a negative power".to_string(),
                    ));
                }
                let r = x.powf(y);
                if r.is_infinite() && x.is_finite() && y.is_finite() {
                    Err(PyError::Arithmetic(
                        "(34, 'Numerical result out of range')".into(),
                    ))
                } else {
                    Ok(Value::Float(r))
                }
            },
        )
    }

    /// Python's unary `-a`.
    pub fn py_neg(&self) -> PyResult<Value> {
        match num(self) {
            Some(Num::Int(i)) => i.checked_neg().map(Value::Int).ok_or_else(overflow),
            Some(Num::Float(x)) => Ok(Value::Float(-x)),
            None => Err(PyError::Type(format!(
                "bad operand type for unary -: '{}'",
                self.py_type_name()
            ))),
        }
    }

    /// Python's `not a`.
    pub fn py_not(&self) -> Value {
        Value::Bool(!self.py_truthy())
    }

    /// Python's `a and b`: `a` if it is falsy, else `b` (not necessarily a bool).
    pub fn py_and(&self, other: &Value) -> Value {
        if self.py_truthy() {
            other.clone()
        } else {
            self.clone()
        }
    }

    /// Python's `a or b`: `a` if it is truthy, else `b`.
    pub fn py_or(&self, other: &Value) -> Value {
        if self.py_truthy() {
            self.clone()
        } else {
            other.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_and_modulo_follow_python() {
        let i = Value::Int;
        assert_eq!(i(7).py_truediv(&i(2)).unwrap(), Value::Float(3.5));
        assert_eq!(i(-7).py_floordiv(&i(2)).unwrap(), i(-4));
        assert_eq!(i(-7).py_mod(&i(3)).unwrap(), i(2));
        assert_eq!(i(7).py_mod(&i(-3)).unwrap(), i(-2));
        assert!(i(1).py_truediv(&i(0)).unwrap_err().is_arithmetic());
        assert!(!Value::from("a").py_add(&i(1)).unwrap_err().is_arithmetic());
    }

    #[test]
    fn and_or_return_operands_like_python() {
        assert_eq!(Value::Int(0).py_and(&Value::Int(5)), Value::Int(0));
        assert_eq!(Value::Int(2).py_and(&Value::Int(5)), Value::Int(5));
        assert_eq!(Value::Bool(false).py_or(&Value::Int(5)), Value::Int(5));
    }

    #[test]
    fn bools_add_as_ints() {
        let sum = Value::Bool(true).py_add(&Value::Bool(true)).unwrap();
        assert!(matches!(sum, Value::Int(2)), "True + True gave {sum:?}");
    }
}

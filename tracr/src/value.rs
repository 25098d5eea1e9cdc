//! The values a RASP program computes with, with the Python semantics Tracr relies on.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A RASP value: what one position of an SOp holds.
///
/// Equality and hashing follow Python, because Tracr's basis directions do: `True == 1 == 1.0`.
#[derive(Debug, Clone)]
pub enum Value {
    /// Python's `None`: what a failed Map or an Aggregate with no default gives.
    None,
    /// A boolean; equal to the integers 0 and 1 as in Python.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string token.
    Str(String),
    /// A Python tuple, as built by `make_nary_sequencemap`'s intermediate SOps.
    Tuple(Vec<Value>),
}

impl Value {
    /// The numeric value of a bool, int or float; `None` for strings and `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            Value::None | Value::Str(_) | Value::Tuple(_) => None,
        }
    }

    /// Whether this is a bool, int or float.
    pub fn is_number(&self) -> bool {
        self.as_f64().is_some()
    }

    /// Python's `a < b`, or `None` where Python raises `TypeError` (mixed kinds, `None`).
    pub fn py_lt(&self, other: &Value) -> Option<bool> {
        self.py_cmp(other).map(|o| o == Ordering::Less)
    }

    /// Python's ordering of two values, or `None` where Python raises `TypeError`.
    pub fn py_cmp(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Tuple(a), Value::Tuple(b)) => {
                // Python compares tuples at their first unequal element, then by length.
                match a.iter().zip(b).find(|(x, y)| x != y) {
                    Some((x, y)) => x.py_cmp(y),
                    None => Some(a.len().cmp(&b.len())),
                }
            }
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => None,
            },
        }
    }

    /// Python's `str(value)`, which is how residual labels spell values (`tokens:a`, `x:0.5`).
    pub fn py_str(&self) -> String {
        match self {
            Value::None => "None".to_string(),
            Value::Bool(true) => "True".to_string(),
            Value::Bool(false) => "False".to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => python_float_repr(*x),
            Value::Str(s) => s.clone(),
            Value::Tuple(items) => tuple_repr(items),
        }
    }

    /// Python's `repr(value)`: like `py_str` but strings are quoted, as inside a tuple.
    pub fn py_repr(&self) -> String {
        match self {
            Value::Str(s) => python_str_repr(s),
            other => other.py_str(),
        }
    }

    /// Parses a command-line item as a Tracr user's Python literal would be: an integer if it is one, else a string.
    pub fn parse_token(item: &str) -> Value {
        match item.trim().parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(item.trim().to_string()),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal numbers must hash alike across bool, int and float, as in Python.
        match self {
            Value::None => 0u8.hash(state),
            Value::Str(s) => {
                1u8.hash(state);
                s.hash(state);
            }
            Value::Tuple(items) => {
                3u8.hash(state);
                items.hash(state);
            }
            number => {
                let x = number.as_f64().unwrap_or(f64::NAN);
                2u8.hash(state);
                if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    (x as i64).hash(state);
                } else {
                    x.to_bits().hash(state);
                }
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.py_str())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

/// Python's `repr(tuple)`: `(1, 'a')`, with the trailing comma of a one-element tuple.
fn tuple_repr(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(Value::py_repr).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Python's `repr(str)`: single quotes unless the text holds a single quote and no double quote.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents in [-4, 16).
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "3.333333333333333e-1".
    let sci = format!("{:e}", x);
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let rest = &digits[1..];
        let mantissa = if rest.is_empty() {
            digits[..1].to_string()
        } else {
            format!("{}.{}", &digits[..1], rest)
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (-2.0, "-2.0"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
            (2.5e-7, "2.5e-07"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(x), want, "repr of {x:e}");
        }
    }

    #[test]
    fn bools_equal_their_integers_like_python() {
        assert_eq!(Value::Bool(true), Value::Int(1));
        assert_eq!(Value::Int(1), Value::Float(1.0));
        assert_ne!(Value::Str("1".into()), Value::Int(1));
        assert_eq!(Value::Str("a".into()).py_lt(&Value::Int(1)), None);
    }

    #[test]
    fn tuples_print_compare_and_hash_like_python() {
        let t = |items: Vec<Value>| Value::Tuple(items);
        assert_eq!(
            t(vec![Value::Int(1), Value::from("a")]).py_str(),
            "(1, 'a')"
        );
        assert_eq!(t(vec![Value::Float(0.5)]).py_str(), "(0.5,)");
        assert_eq!(t(vec![]).py_str(), "()");
        assert_eq!(
            t(vec![Value::Int(1), Value::Int(2)]).py_cmp(&t(vec![Value::Int(1), Value::Int(3)])),
            Some(Ordering::Less)
        );
        assert_eq!(
            t(vec![Value::Int(1)]).py_cmp(&t(vec![Value::Int(1), Value::Int(0)])),
            Some(Ordering::Less)
        );
        assert_eq!(t(vec![Value::Bool(true)]), t(vec![Value::Int(1)]));
        let mut set = std::collections::HashSet::new();
        set.insert(t(vec![Value::Bool(true), Value::Float(2.0)]));
        assert!(set.contains(&t(vec![Value::Int(1), Value::Int(2)])));
        assert_eq!(Value::from("it's").py_repr(), "\"it's\"");
    }
}

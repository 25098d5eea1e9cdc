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

    /// Python's `str(value)`, which is how residual labels spell values (`tokens:a`, `x:0.5`):
    /// the text of `Value`'s `Display`.
    pub fn py_str(&self) -> String {
        self.to_string()
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

impl Value {
    /// CPython 3.11's `hash(value)`, which decides where a set keeps the value and so the order in
    /// which Tracr meets it. Strings hash randomly in Python (`PYTHONHASHSEED`); here they get a
    /// fixed stand-in, so only the order among numbers and tuples of numbers is Python's.
    pub fn py_hash(&self) -> i64 {
        match self {
            Value::None => 0x5f3d_1a2b,
            Value::Bool(b) => i64::from(*b),
            Value::Int(i) => int_hash(*i),
            Value::Float(x) => float_hash(*x),
            Value::Str(s) => {
                // FNV-1a: deterministic, unlike Python's.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in s.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                minus_one_is_minus_two(h as i64)
            }
            Value::Tuple(items) => tuple_hash(items),
        }
    }
}

/// Python's modulus for numeric hashes, 2**61 - 1.
const HASH_MODULUS: u64 = (1 << 61) - 1;
/// log2 of the modulus plus one.
const HASH_BITS: u32 = 61;

/// Python never returns -1 from a hash (it means "error" in C); it returns -2 instead.
fn minus_one_is_minus_two(h: i64) -> i64 {
    if h == -1 {
        -2
    } else {
        h
    }
}

/// `hash(int)`: the value modulo 2**61 - 1, with its sign.
fn int_hash(i: i64) -> i64 {
    let reduced = (i.unsigned_abs() % HASH_MODULUS) as i64;
    minus_one_is_minus_two(if i < 0 { -reduced } else { reduced })
}

/// `_Py_HashDouble`: equal to `hash(int)` for integral floats, the same modular reduction otherwise.
fn float_hash(v: f64) -> i64 {
    if v.is_infinite() {
        return if v > 0.0 { 314_159 } else { -314_159 };
    }
    if v.is_nan() {
        // Python hashes NaN by object identity; any fixed value will do here.
        return 0;
    }
    let (mut m, mut e) = frexp(v);
    let sign: i64 = if m < 0.0 {
        m = -m;
        -1
    } else {
        1
    };
    let mut x: u64 = 0;
    while m != 0.0 {
        x = ((x << 28) & HASH_MODULUS) | (x >> (HASH_BITS - 28));
        m *= 268_435_456.0; // 2**28
        e -= 28;
        let y = m as u64;
        m -= y as f64;
        x += y;
        if x >= HASH_MODULUS {
            x -= HASH_MODULUS;
        }
    }
    let bits = HASH_BITS as i32;
    let e = if e >= 0 {
        e % bits
    } else {
        bits - 1 - ((-1 - e) % bits)
    } as u32;
    x = ((x << e) & HASH_MODULUS) | (x >> (HASH_BITS - e));
    minus_one_is_minus_two((x as i64).wrapping_mul(sign))
}

/// C's `frexp`: `v = m * 2**e` with `0.5 <= |m| < 1` (or m = 0).
fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 {
        return (v, 0);
    }
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(v * f64::powi(2.0, 64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, exponent - 1022)
}

/// CPython 3.11's `tuplehash` (an xxHash variant over the items' hashes).
fn tuple_hash(items: &[Value]) -> i64 {
    const PRIME_1: u64 = 11_400_714_785_074_694_791;
    const PRIME_2: u64 = 14_029_467_366_897_019_727;
    const PRIME_5: u64 = 2_870_177_450_012_600_261;
    let mut acc = PRIME_5;
    for item in items {
        let lane = item.py_hash() as u64;
        acc = acc.wrapping_add(lane.wrapping_mul(PRIME_2));
        acc = acc.rotate_left(31);
        acc = acc.wrapping_mul(PRIME_1);
    }
    acc = acc.wrapping_add((items.len() as u64) ^ (PRIME_5 ^ 3_527_539));
    if acc == u64::MAX {
        1_546_275_796
    } else {
        acc as i64
    }
}

/// A CPython 3.11 `set` built by `add` alone (as Tracr builds its value sets): iteration follows
/// the hash table's slots, and of two equal values (`1`, `1.0`, `True`) the first added stays.
#[derive(Debug, Clone)]
pub struct PySet {
    table: Vec<Option<(u64, Value)>>,
    fill: usize,
}

impl Default for PySet {
    fn default() -> Self {
        PySet::new()
    }
}

impl PySet {
    /// Linear probes before CPython jumps elsewhere (`LINEAR_PROBES`).
    const LINEAR_PROBES: usize = 9;
    /// `PERTURB_SHIFT`.
    const PERTURB_SHIFT: u32 = 5;

    /// An empty set (8 slots, as `set()`).
    pub fn new() -> Self {
        PySet {
            table: vec![None; 8],
            fill: 0,
        }
    }

    /// `set.add(value)`: a no-op when an equal value is there.
    pub fn add(&mut self, value: Value) {
        let hash = value.py_hash() as u64;
        let mask = self.table.len() - 1;
        let mut i = (hash as usize) & mask;
        let mut perturb = hash;
        loop {
            let probes = if i + Self::LINEAR_PROBES <= mask {
                Self::LINEAR_PROBES
            } else {
                0
            };
            for slot in i..=i + probes {
                match &self.table[slot] {
                    None => {
                        self.table[slot] = Some((hash, value));
                        self.fill += 1;
                        if self.fill * 5 >= mask * 3 {
                            let used = self.fill;
                            self.resize(if used > 50_000 { used * 2 } else { used * 4 });
                        }
                        return;
                    }
                    Some((h, existing)) if *h == hash && *existing == value => return,
                    Some(_) => {}
                }
            }
            perturb >>= Self::PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    /// `set_table_resize`: the smallest power of two above `min_used`, refilled in slot order.
    fn resize(&mut self, min_used: usize) {
        let mut size = 8;
        while size <= min_used {
            size <<= 1;
        }
        let old = std::mem::replace(&mut self.table, vec![None; size]);
        let mask = size - 1;
        for (hash, value) in old.into_iter().flatten() {
            let mut i = (hash as usize) & mask;
            let mut perturb = hash;
            'probe: loop {
                let probes = if i + Self::LINEAR_PROBES <= mask {
                    Self::LINEAR_PROBES
                } else {
                    0
                };
                for slot in i..=i + probes {
                    if self.table[slot].is_none() {
                        self.table[slot] = Some((hash, value));
                        break 'probe;
                    }
                }
                perturb >>= Self::PERTURB_SHIFT;
                i = (i
                    .wrapping_mul(5)
                    .wrapping_add(1)
                    .wrapping_add(perturb as usize))
                    & mask;
            }
        }
    }

    /// The values in Python's iteration order.
    pub fn into_vec(self) -> Vec<Value> {
        self.table.into_iter().flatten().map(|(_, v)| v).collect()
    }
}

impl FromIterator<Value> for PySet {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        let mut set = PySet::new();
        for v in iter {
            set.add(v);
        }
        set
    }
}

/// Python's `str(value)` ([`Value::py_str`]), written straight into the formatter: the compiler
/// formats a label for every residual and hidden direction, and building each value's text as a
/// `String` first was a tenth of shuffle_dyck2's compile with the rest of the labels.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            // `write!` rather than `Display::fmt(i, f)`: a width or fill given for the value must
            // not pad the number alone (the text is written as a whole, as before).
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&python_float_repr(*x)),
            Value::Str(s) => f.write_str(s),
            Value::Tuple(items) => {
                // Python's `repr(tuple)`: the items' reprs, comma-separated; one item keeps its
                // comma.
                f.write_str("(")?;
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    match item {
                        Value::Str(s) => f.write_str(&python_str_repr(s))?,
                        other => write!(f, "{other}")?,
                    }
                }
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
        }
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
    fn values_print_as_python_str_does() {
        // Each expected text is CPython's `str(value)`.
        let cases = [
            (Value::None, "None"),
            (Value::Bool(true), "True"),
            (Value::Bool(false), "False"),
            (Value::Int(0), "0"),
            (Value::Int(-42), "-42"),
            (Value::Int(i64::MIN), "-9223372036854775808"),
            (Value::Float(0.5), "0.5"),
            (Value::Float(-1e-5), "-1e-05"),
            (Value::Str(String::new()), ""),
            (Value::from("it's"), "it's"),
            (Value::from("a\"b'c"), "a\"b'c"),
            (Value::Tuple(Vec::new()), "()"),
            (Value::Tuple(vec![Value::Int(1)]), "(1,)"),
            (Value::Tuple(vec![Value::Int(1), Value::Int(0)]), "(1, 0)"),
            (
                Value::Tuple(vec![Value::from("x"), Value::Float(2.0), Value::None]),
                "('x', 2.0, None)",
            ),
            (
                Value::Tuple(vec![Value::from("it's"), Value::from("a\"b'c")]),
                "(\"it's\", 'a\"b\\'c')",
            ),
            (
                Value::Tuple(vec![
                    Value::Tuple(vec![Value::from("y")]),
                    Value::Bool(true),
                ]),
                "(('y',), True)",
            ),
        ];
        for (value, python) in cases {
            assert_eq!(value.py_str(), python, "{value:?}");
            assert_eq!(format!("{value}"), python, "{value:?}");
        }
    }

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

    #[test]
    fn sets_iterate_and_keep_equal_values_as_cpython_does() {
        // Each case: values added in order, then the set's iteration order as CPython 3.11.7
        // printed it (`s = set(); s.add(v) ...; list(s)`). Debug output keeps 1, 1.0 and True apart.
        let cases: Vec<(Vec<Value>, Vec<Value>)> = vec![
            (
                vec![Value::Int(-1), Value::Int(0), Value::Int(1), Value::Int(2)],
                vec![Value::Int(0), Value::Int(1), Value::Int(2), Value::Int(-1)],
            ),
            (
                vec![Value::Int(0), Value::Int(1), Value::Int(2), Value::Int(-1)],
                vec![Value::Int(0), Value::Int(1), Value::Int(2), Value::Int(-1)],
            ),
            (
                vec![Value::Float(1.0), Value::Int(1), Value::Bool(true)],
                vec![Value::Float(1.0)],
            ),
            (
                vec![
                    Value::Bool(true),
                    Value::Float(1.0),
                    Value::Int(2),
                    Value::Int(-1),
                ],
                vec![Value::Bool(true), Value::Int(2), Value::Int(-1)],
            ),
            (
                vec![
                    Value::Float(2.0),
                    Value::Float(-2.5e-07),
                    Value::Tuple(vec![Value::Int(1), Value::Int(1), Value::Bool(true)]),
                ],
                vec![
                    Value::Float(-2.5e-07),
                    Value::Float(2.0),
                    Value::Tuple(vec![Value::Int(1), Value::Int(1), Value::Bool(true)]),
                ],
            ),
            (
                vec![
                    Value::Int(-5),
                    Value::Int(9),
                    Value::Int(-31),
                    Value::Int(39),
                    Value::Bool(true),
                    Value::Int(-40),
                    Value::Int(-13),
                    Value::Tuple(vec![Value::Int(3)]),
                ],
                vec![
                    Value::Int(-31),
                    Value::Bool(true),
                    Value::Int(39),
                    Value::Int(9),
                    Value::Int(-13),
                    Value::Int(-40),
                    Value::Int(-5),
                    Value::Tuple(vec![Value::Int(3)]),
                ],
            ),
            (
                vec![
                    Value::Int(-15),
                    Value::Float(-3.0),
                    Value::Tuple(vec![Value::Int(-1), Value::Float(0.5), Value::Int(-2)]),
                    Value::Int(2),
                    Value::Int(37),
                    Value::Float(1e+20),
                    Value::Bool(false),
                    Value::Float(-2.5e-07),
                    Value::Float(1e+20),
                    Value::Int(3114312851643774886),
                    Value::Bool(true),
                    Value::Float(-4.0),
                ],
                vec![
                    Value::Bool(false),
                    Value::Bool(true),
                    Value::Int(2),
                    Value::Int(37),
                    Value::Int(3114312851643774886),
                    Value::Float(1e+20),
                    Value::Int(-15),
                    Value::Float(-2.5e-07),
                    Value::Tuple(vec![Value::Int(-1), Value::Float(0.5), Value::Int(-2)]),
                    Value::Float(-4.0),
                    Value::Float(-3.0),
                ],
            ),
            (
                vec![
                    Value::Tuple(vec![
                        Value::Bool(true),
                        Value::Bool(true),
                        Value::Float(0.5),
                    ]),
                    Value::Int(7),
                    Value::Tuple(vec![]),
                    Value::Bool(true),
                    Value::Int(25),
                    Value::Float(123456789.125),
                    Value::Int(0),
                    Value::Int(-30),
                    Value::Float(-0.14285714285714285),
                    Value::Int(36),
                    Value::Float(123456789.125),
                    Value::Int(-8),
                    Value::Float(2.0),
                    Value::Int(-2203061065086803832),
                    Value::Tuple(vec![Value::Float(0.5)]),
                    Value::Int(15),
                    Value::Bool(true),
                    Value::Int(-2006961276110447555),
                    Value::Float(-2.5e-07),
                    Value::Tuple(vec![Value::Float(0.5), Value::Float(0.5)]),
                ],
                vec![
                    Value::Int(0),
                    Value::Bool(true),
                    Value::Int(-30),
                    Value::Float(-0.14285714285714285),
                    Value::Tuple(vec![
                        Value::Bool(true),
                        Value::Bool(true),
                        Value::Float(0.5),
                    ]),
                    Value::Int(36),
                    Value::Float(2.0),
                    Value::Int(7),
                    Value::Int(-2203061065086803832),
                    Value::Tuple(vec![Value::Float(0.5)]),
                    Value::Tuple(vec![Value::Float(0.5), Value::Float(0.5)]),
                    Value::Int(15),
                    Value::Float(-2.5e-07),
                    Value::Float(123456789.125),
                    Value::Int(-8),
                    Value::Int(25),
                    Value::Tuple(vec![]),
                    Value::Int(-2006961276110447555),
                ],
            ),
            (
                vec![
                    Value::Bool(true),
                    Value::Int(28),
                    Value::Tuple(vec![Value::Float(0.5), Value::Int(-2), Value::Float(0.5)]),
                    Value::Float(1e+20),
                    Value::Float(123456789.125),
                    Value::Float(1e+20),
                    Value::Tuple(vec![Value::Int(2), Value::Int(1)]),
                    Value::Float(1e+20),
                    Value::Float(1e+20),
                    Value::Float(-2.5e-07),
                    Value::Tuple(vec![Value::Int(1), Value::Int(1)]),
                    Value::Int(6),
                    Value::Tuple(vec![
                        Value::Bool(true),
                        Value::Bool(true),
                        Value::Bool(true),
                    ]),
                    Value::Bool(false),
                    Value::Int(30),
                    Value::Int(381959531792019878),
                    Value::Float(123456789.125),
                    Value::Bool(true),
                    Value::Int(-17),
                    Value::Float(-2.0),
                    Value::Int(-23),
                    Value::Int(-17),
                    Value::Float(-2.5e-07),
                    Value::Bool(true),
                ],
                vec![
                    Value::Bool(false),
                    Value::Bool(true),
                    Value::Tuple(vec![Value::Int(2), Value::Int(1)]),
                    Value::Int(6),
                    Value::Int(381959531792019878),
                    Value::Int(-23),
                    Value::Tuple(vec![Value::Int(1), Value::Int(1)]),
                    Value::Float(1e+20),
                    Value::Int(-17),
                    Value::Float(-2.5e-07),
                    Value::Float(123456789.125),
                    Value::Float(-2.0),
                    Value::Tuple(vec![Value::Float(0.5), Value::Int(-2), Value::Float(0.5)]),
                    Value::Int(28),
                    Value::Tuple(vec![
                        Value::Bool(true),
                        Value::Bool(true),
                        Value::Bool(true),
                    ]),
                    Value::Int(30),
                ],
            ),
        ];
        for (added, expected) in cases {
            let got = added.iter().cloned().collect::<PySet>().into_vec();
            assert_eq!(
                format!("{got:?}"),
                format!("{expected:?}"),
                "iterating the set built from {added:?}"
            );
        }
    }

    #[test]
    fn numbers_hash_as_in_cpython() {
        // hash() values printed by CPython 3.11.7.
        let cases = [
            (Value::Int(-1), -2),
            (Value::Int(-2), -2),
            (Value::Bool(true), 1),
            (Value::Float(1.0), 1),
            (Value::Float(0.5), 1152921504606846976),
            (Value::Float(-2.5e-7), -976437270670017967),
            (Value::Float(1e20), 848750603811160107),
            (Value::Int(1 << 62), 2),
            (Value::Int(i64::MIN), -4),
            (
                Value::Tuple(vec![Value::Int(1), Value::Int(2)]),
                -3550055125485641917,
            ),
            (Value::Tuple(vec![]), 5740354900026072187),
        ];
        for (value, expected) in cases {
            assert_eq!(value.py_hash(), expected, "hash({value:?})");
        }
    }
}

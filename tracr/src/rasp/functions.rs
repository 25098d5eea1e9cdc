//! The functions a RASP program carries: Map and SequenceMap bodies and Select predicates.

use super::py_ops::{PyError, PyResult};
use crate::value::Value;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The closure type behind a [`MapFn`].
pub type MapClosure = dyn Fn(&Value) -> PyResult<Value> + Send + Sync;
/// The closure type behind a [`SeqMapFn`].
pub type SeqMapClosure = dyn Fn(&Value, &Value) -> PyResult<Value> + Send + Sync;
/// The closure type behind a custom [`Predicate`], called as `f(key, query)`.
pub type PredicateClosure = dyn Fn(&Value, &Value) -> PyResult<bool> + Send + Sync;

/// The function of a Map: one value in, one value out, possibly raising a Python exception.
#[derive(Clone)]
pub struct MapFn {
    f: Arc<MapClosure>,
    /// The function's source in the `.rasp` expression language, where known (set by the parser).
    pub text: Option<String>,
    /// `(outer, inner)` when this function is Tracr's Map simplification `outer ∘ inner`.
    composed_of: Option<Arc<(MapFn, MapFn)>>,
}

impl MapFn {
    /// Wraps a closure, without source text.
    pub fn new(f: impl Fn(&Value) -> PyResult<Value> + Send + Sync + 'static) -> Self {
        MapFn {
            f: Arc::new(f),
            text: None,
            composed_of: None,
        }
    }

    /// Wraps a closure that cannot fail.
    pub fn infallible(f: impl Fn(&Value) -> Value + Send + Sync + 'static) -> Self {
        MapFn::new(move |x| Ok(f(x)))
    }

    /// The same function with its `.rasp` source text attached.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Applies the function.
    pub fn call(&self, x: &Value) -> PyResult<Value> {
        (self.f)(x)
    }

    /// `outer ∘ inner`, as Tracr's Map simplification builds it (`lambda t: f(inner_f(t))`).
    pub fn compose(outer: &MapFn, inner: &MapFn) -> MapFn {
        let (f, g) = (outer.f.clone(), inner.f.clone());
        MapFn {
            f: Arc::new(move |x| f(&g(x)?)),
            text: None,
            composed_of: Some(Arc::new((outer.clone(), inner.clone()))),
        }
    }

    /// `(outer, inner)` if this function came from a Map simplification.
    pub fn composed_of(&self) -> Option<(&MapFn, &MapFn)> {
        self.composed_of.as_deref().map(|(a, b)| (a, b))
    }
}

impl fmt::Debug for MapFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.text, self.composed_of()) {
            (Some(text), _) => write!(f, "MapFn({text})"),
            (None, Some((outer, inner))) => write!(f, "MapFn({outer:?} ∘ {inner:?})"),
            (None, None) => f.write_str("MapFn(<closure>)"),
        }
    }
}

/// The function of a SequenceMap: two values in, one out.
#[derive(Clone)]
pub struct SeqMapFn {
    f: Arc<SeqMapClosure>,
    /// The function's source in the `.rasp` expression language, where known.
    pub text: Option<String>,
}

impl SeqMapFn {
    /// Wraps a closure, without source text.
    pub fn new(f: impl Fn(&Value, &Value) -> PyResult<Value> + Send + Sync + 'static) -> Self {
        SeqMapFn {
            f: Arc::new(f),
            text: None,
        }
    }

    /// The same function with its `.rasp` source text attached.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Applies the function to `(fst, snd)`.
    pub fn call(&self, x: &Value, y: &Value) -> PyResult<Value> {
        (self.f)(x, y)
    }
}

impl fmt::Debug for SeqMapFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => write!(f, "SeqMapFn({text})"),
            None => f.write_str("SeqMapFn(<closure>)"),
        }
    }
}

/// A custom Select predicate `f(key, query)` (a Python lambda in Tracr).
#[derive(Clone)]
pub struct PredicateFn {
    f: Arc<PredicateClosure>,
    /// The predicate's source in the `.rasp` expression language, where known.
    pub text: Option<String>,
}

impl PredicateFn {
    /// Wraps a closure called as `f(key, query)`.
    pub fn new(f: impl Fn(&Value, &Value) -> PyResult<bool> + Send + Sync + 'static) -> Self {
        PredicateFn {
            f: Arc::new(f),
            text: None,
        }
    }

    /// The same predicate with its `.rasp` source text attached.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Applies the predicate to `(key, query)`.
    pub fn call(&self, key: &Value, query: &Value) -> PyResult<bool> {
        (self.f)(key, query)
    }
}

impl fmt::Debug for PredicateFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => write!(f, "PredicateFn({text})"),
            None => f.write_str("PredicateFn(<closure>)"),
        }
    }
}

/// Tracr's `Comparison`: a predicate evaluated as `key OP query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `key == query`.
    Eq,
    /// `key < query`.
    Lt,
    /// `key <= query`.
    Leq,
    /// `key > query`.
    Gt,
    /// `key >= query`.
    Geq,
    /// `key != query`.
    Neq,
    /// Always true.
    True,
    /// Always false.
    False,
}

impl Comparison {
    /// Every comparison, in Tracr's declaration order.
    pub const ALL: [Comparison; 8] = [
        Comparison::Eq,
        Comparison::Lt,
        Comparison::Leq,
        Comparison::Gt,
        Comparison::Geq,
        Comparison::Neq,
        Comparison::True,
        Comparison::False,
    ];

    /// Tracr's member name: `EQ`, `LT`, `LEQ`, `GT`, `GEQ`, `NEQ`, `TRUE`, `FALSE`.
    pub fn tracr_name(self) -> &'static str {
        match self {
            Comparison::Eq => "EQ",
            Comparison::Lt => "LT",
            Comparison::Leq => "LEQ",
            Comparison::Gt => "GT",
            Comparison::Geq => "GEQ",
            Comparison::Neq => "NEQ",
            Comparison::True => "TRUE",
            Comparison::False => "FALSE",
        }
    }

    /// Tracr's member value: `==`, `<`, `<=`, `>`, `>=`, `!=`, `True`, `False`.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Eq => "==",
            Comparison::Lt => "<",
            Comparison::Leq => "<=",
            Comparison::Gt => ">",
            Comparison::Geq => ">=",
            Comparison::Neq => "!=",
            Comparison::True => "True",
            Comparison::False => "False",
        }
    }

    /// `key OP query`; like Tracr, a `None` key or query is a `ValueError`.
    pub fn apply(self, key: &Value, query: &Value) -> PyResult<bool> {
        if matches!(key, Value::None) {
            return Err(PyError::Value("key is None!".to_string()));
        }
        if matches!(query, Value::None) {
            return Err(PyError::Value("query is None!".to_string()));
        }
        match self {
            Comparison::Eq => Ok(key == query),
            Comparison::Neq => Ok(key != query),
            Comparison::Lt | Comparison::Leq | Comparison::Gt | Comparison::Geq => {
                key.py_order(query, self.symbol())
            }
            Comparison::True => Ok(true),
            Comparison::False => Ok(false),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tracr_name())
    }
}

/// The text was not one of Tracr's comparison names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown comparison `{0}`: expected one of EQ, LT, LEQ, GT, GEQ, NEQ, TRUE, FALSE")]
pub struct UnknownComparison(pub String);

impl FromStr for Comparison {
    type Err = UnknownComparison;

    /// Accepts `EQ` or `Comparison.EQ` (Tracr's spellings).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().strip_prefix("Comparison.").unwrap_or(s.trim());
        Comparison::ALL
            .into_iter()
            .find(|c| c.tracr_name() == name)
            .ok_or_else(|| UnknownComparison(s.to_string()))
    }
}

/// A Select predicate: a Comparison, a custom function, or what Tracr's selector simplification builds from them.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// One of Tracr's comparisons.
    Comparison(Comparison),
    /// A custom `lambda key, query: ...`.
    Custom(PredicateFn),
    /// `not p(key, query)` (from `selector_not` of a Select).
    Not(Box<Predicate>),
    /// `p(key, query) and q(key, query)` (from `selector_and` of two Selects).
    And(Box<Predicate>, Box<Predicate>),
    /// `p(key, query) or q(key, query)` (from `selector_or` of two Selects).
    Or(Box<Predicate>, Box<Predicate>),
    /// `p(fill, query)`: the key side was a `Full(fill)` baked in by selector simplification.
    FixedKey(Box<Predicate>, Value),
    /// `p(key, fill)`: the query side was a `Full(fill)` baked in by selector simplification.
    FixedQuery(Box<Predicate>, Value),
}

impl Predicate {
    /// Evaluates the predicate as Tracr calls it: `predicate(key, query)`.
    pub fn apply(&self, key: &Value, query: &Value) -> PyResult<bool> {
        match self {
            Predicate::Comparison(c) => c.apply(key, query),
            Predicate::Custom(f) => f.call(key, query),
            Predicate::Not(p) => Ok(!p.apply(key, query)?),
            // Tracr's merged predicate is `combine(fst(k, q), snd(k, q))`: both are called (so an
            // error in the second is raised) before `and`/`or` sees their results.
            Predicate::And(p, q) => {
                let (l, r) = (p.apply(key, query)?, q.apply(key, query)?);
                Ok(l && r)
            }
            Predicate::Or(p, q) => {
                let (l, r) = (p.apply(key, query)?, q.apply(key, query)?);
                Ok(l || r)
            }
            Predicate::FixedKey(p, fill) => p.apply(fill, query),
            Predicate::FixedQuery(p, fill) => p.apply(key, fill),
        }
    }

    /// The comparison, if this predicate is a plain one.
    pub fn as_comparison(&self) -> Option<Comparison> {
        match self {
            Predicate::Comparison(c) => Some(*c),
            _ => None,
        }
    }
}

impl From<Comparison> for Predicate {
    fn from(c: Comparison) -> Self {
        Predicate::Comparison(c)
    }
}

impl From<PredicateFn> for Predicate {
    fn from(f: PredicateFn) -> Self {
        Predicate::Custom(f)
    }
}

//! RASP expressions: SOps and Selectors as cheap-clone handles with object identity, built as Tracr builds them.
//!
//! Every constructor creates a new object, and `named`/`numerical`/`categorical` return shallow
//! copies, as in Tracr. Object identity (`ptr_eq`) matters: Tracr's selector simplification
//! tests `is`, and labels are handed out per object when the graph is extracted
//! (see [`crate::graph`]).

use super::functions::{Comparison, MapFn, Predicate, SeqMapFn};
use super::py_ops::PyResult;
use crate::value::Value;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// How an SOp is laid out in the residual stream: one dimension per value, or one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// One-hot over the SOp's value set (Tracr's default).
    #[default]
    Categorical,
    /// The value itself in a single dimension.
    Numerical,
}

impl fmt::Display for Encoding {
    /// Tracr's enum values: `categorical`, `numerical`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Categorical => "categorical",
            Encoding::Numerical => "numerical",
        })
    }
}

/// The text was not `categorical` or `numerical`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown encoding `{0}`: expected categorical or numerical")]
pub struct UnknownEncoding(pub String);

impl FromStr for Encoding {
    type Err = UnknownEncoding;

    /// Accepts `categorical`/`numerical`, any case, optionally prefixed `Encoding.`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        let name = name.strip_prefix("Encoding.").unwrap_or(name);
        match name.to_ascii_lowercase().as_str() {
            "categorical" => Ok(Encoding::Categorical),
            "numerical" => Ok(Encoding::Numerical),
            _ => Err(UnknownEncoding(s.to_string())),
        }
    }
}

/// What an SOp computes; the children are handles, so cloning a kind is cheap.
#[derive(Debug, Clone)]
pub enum SOpKind {
    /// The input tokens (label `tokens`).
    Tokens,
    /// The positions 0..n (label `indices`).
    Indices,
    /// The input length at every position (label `length`); Tracr's compiler does not support it.
    Length,
    /// `f` applied elementwise to `inner`.
    Map {
        /// The elementwise function.
        f: MapFn,
        /// Its input.
        inner: SOp,
    },
    /// `f(fst[i], snd[i])` elementwise.
    SequenceMap {
        /// The elementwise function.
        f: SeqMapFn,
        /// First argument.
        fst: SOp,
        /// Second argument.
        snd: SOp,
    },
    /// `fst_fac * fst[i] + snd_fac * snd[i]`, which the compiler builds without an MLP lookup table.
    LinearSequenceMap {
        /// First argument.
        fst: SOp,
        /// Second argument.
        snd: SOp,
        /// Factor of the first argument.
        fst_fac: f64,
        /// Factor of the second argument.
        snd_fac: f64,
    },
    /// `fill` at every position.
    Full {
        /// The constant value.
        fill: Value,
    },
    /// A fixed sequence (Tracr's testing aid; its length must match the input).
    ConstantSOp {
        /// The sequence.
        values: Vec<Value>,
    },
    /// The mean of the selected values of `sop` at every query position.
    Aggregate {
        /// Which key positions each query position reads.
        selector: Selector,
        /// The values averaged.
        sop: SOp,
        /// The value where nothing is selected.
        default: Value,
    },
    /// The number of selected keys at every query position.
    SelectorWidth {
        /// The selector counted.
        selector: Selector,
    },
}

/// What a Selector computes.
#[derive(Debug, Clone)]
pub enum SelectorKind {
    /// `predicate(keys[k], queries[q])` for every query row q and key column k.
    Select {
        /// The SOp read at key positions.
        keys: SOp,
        /// The SOp read at query positions.
        queries: SOp,
        /// The predicate, called as `predicate(key, query)`.
        predicate: Predicate,
    },
    /// Elementwise `and` (the compiler cannot compile it).
    SelectorAnd {
        /// First operand.
        fst: Selector,
        /// Second operand.
        snd: Selector,
    },
    /// Elementwise `or` (the compiler cannot compile it).
    SelectorOr {
        /// First operand.
        fst: Selector,
        /// Second operand.
        snd: Selector,
    },
    /// Elementwise `not` (the compiler cannot compile it).
    SelectorNot {
        /// The operand.
        inner: Selector,
    },
    /// A fixed matrix, rows are queries (Tracr's testing aid).
    ConstantSelector {
        /// The matrix, `matrix[query][key]`.
        matrix: Vec<Vec<bool>>,
    },
}

#[derive(Debug)]
struct SOpNode {
    kind: SOpKind,
    name: Option<String>,
    encoding: Option<Encoding>,
}

#[derive(Debug)]
struct SelectorNode {
    kind: SelectorKind,
    name: Option<String>,
}

/// A sequence operation: a cheap-clone handle to one RASP object.
#[derive(Clone)]
pub struct SOp(Arc<SOpNode>);

/// A selector (an attention pattern): a cheap-clone handle to one RASP object.
#[derive(Clone)]
pub struct Selector(Arc<SelectorNode>);

/// Either kind of RASP expression, as graph nodes hold them.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A sequence operation.
    SOp(SOp),
    /// A selector.
    Selector(Selector),
}

impl SOp {
    fn from_kind(kind: SOpKind) -> SOp {
        SOp(Arc::new(SOpNode {
            kind,
            name: None,
            encoding: None,
        }))
    }

    /// What this SOp computes.
    pub fn kind(&self) -> &SOpKind {
        &self.0.kind
    }

    /// Whether the two handles are the same object (Python's `is`).
    pub fn ptr_eq(&self, other: &SOp) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// An address identifying the object, stable while any handle lives.
    pub fn object_id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// The name annotation, or Tracr's default name for the kind (`map`, `aggregate`, ...).
    pub fn name(&self) -> &str {
        self.0
            .name
            .as_deref()
            .unwrap_or_else(|| self.default_name())
    }

    /// The name given with `named`, if any.
    pub fn explicit_name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Tracr's default name for this kind of SOp.
    pub fn default_name(&self) -> &'static str {
        match self.kind() {
            SOpKind::Tokens => "tokens",
            SOpKind::Indices => "indices",
            SOpKind::Length => "length",
            SOpKind::Map { .. } => "map",
            SOpKind::SequenceMap { .. } => "sequence_map",
            SOpKind::LinearSequenceMap { .. } => "linear_sequence_map",
            SOpKind::Full { .. } => "full",
            SOpKind::ConstantSOp { .. } => "constant_sop",
            SOpKind::Aggregate { .. } => "aggregate",
            SOpKind::SelectorWidth { .. } => "selector_width",
        }
    }

    /// Tracr's class name of this kind (`Map`, `TokensType`, ...), as the fixtures' `type` spells it.
    pub fn type_name(&self) -> &'static str {
        match self.kind() {
            SOpKind::Tokens => "TokensType",
            SOpKind::Indices => "IndicesType",
            SOpKind::Length => "LengthType",
            SOpKind::Map { .. } => "Map",
            SOpKind::SequenceMap { .. } => "SequenceMap",
            SOpKind::LinearSequenceMap { .. } => "LinearSequenceMap",
            SOpKind::Full { .. } => "Full",
            SOpKind::ConstantSOp { .. } => "ConstantSOp",
            SOpKind::Aggregate { .. } => "Aggregate",
            SOpKind::SelectorWidth { .. } => "SelectorWidth",
        }
    }

    /// The encoding annotation (categorical unless set).
    pub fn encoding(&self) -> Encoding {
        self.0.encoding.unwrap_or_default()
    }

    /// Whether the SOp is numerically encoded.
    pub fn is_numerical(&self) -> bool {
        self.encoding() == Encoding::Numerical
    }

    /// Whether the SOp is categorically encoded.
    pub fn is_categorical(&self) -> bool {
        self.encoding() == Encoding::Categorical
    }

    /// The label Tracr fixes for primitives (`tokens`, `indices`, `length`); others get theirs from the graph.
    pub fn fixed_label(&self) -> Option<&'static str> {
        match self.kind() {
            SOpKind::Tokens => Some("tokens"),
            SOpKind::Indices => Some("indices"),
            SOpKind::Length => Some("length"),
            _ => None,
        }
    }

    /// Direct dependencies in Tracr's `children` order.
    pub fn children(&self) -> Vec<Expr> {
        match self.kind() {
            SOpKind::Tokens
            | SOpKind::Indices
            | SOpKind::Length
            | SOpKind::Full { .. }
            | SOpKind::ConstantSOp { .. } => vec![],
            SOpKind::Map { inner, .. } => vec![Expr::SOp(inner.clone())],
            SOpKind::SequenceMap { fst, snd, .. } | SOpKind::LinearSequenceMap { fst, snd, .. } => {
                vec![Expr::SOp(fst.clone()), Expr::SOp(snd.clone())]
            }
            SOpKind::Aggregate { selector, sop, .. } => {
                vec![Expr::Selector(selector.clone()), Expr::SOp(sop.clone())]
            }
            SOpKind::SelectorWidth { selector } => vec![Expr::Selector(selector.clone())],
        }
    }

    fn annotated(&self, name: Option<String>, encoding: Option<Encoding>) -> SOp {
        SOp(Arc::new(SOpNode {
            kind: self.0.kind.clone(),
            name: name.or_else(|| self.0.name.clone()),
            encoding: encoding.or(self.0.encoding),
        }))
    }

    /// A shallow copy carrying the name (Tracr's `.named`).
    pub fn named(&self, name: impl Into<String>) -> SOp {
        self.annotated(Some(name.into()), None)
    }

    /// A shallow copy annotated numerical (Tracr's `rasp.numerical`).
    pub fn numerical(&self) -> SOp {
        self.annotated(None, Some(Encoding::Numerical))
    }

    /// A shallow copy annotated categorical (Tracr's `rasp.categorical`).
    pub fn categorical(&self) -> SOp {
        self.annotated(None, Some(Encoding::Categorical))
    }

    /// A shallow copy with the given encoding.
    pub fn with_encoding(&self, encoding: Encoding) -> SOp {
        self.annotated(None, Some(encoding))
    }
}

impl fmt::Debug for SOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(name={}, {})",
            self.type_name(),
            self.name(),
            self.encoding()
        )
    }
}

impl Selector {
    fn from_kind(kind: SelectorKind) -> Selector {
        Selector(Arc::new(SelectorNode { kind, name: None }))
    }

    /// What this selector computes.
    pub fn kind(&self) -> &SelectorKind {
        &self.0.kind
    }

    /// Whether the two handles are the same object (Python's `is`).
    pub fn ptr_eq(&self, other: &Selector) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// An address identifying the object, stable while any handle lives.
    pub fn object_id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// The name annotation, or Tracr's default name for the kind (`select`, ...).
    pub fn name(&self) -> &str {
        self.0
            .name
            .as_deref()
            .unwrap_or_else(|| self.default_name())
    }

    /// The name given with `named`, if any.
    pub fn explicit_name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Tracr's default name for this kind of selector.
    pub fn default_name(&self) -> &'static str {
        match self.kind() {
            SelectorKind::Select { .. } => "select",
            SelectorKind::SelectorAnd { .. } => "selector_and",
            SelectorKind::SelectorOr { .. } => "selector_or",
            SelectorKind::SelectorNot { .. } => "selector_not",
            SelectorKind::ConstantSelector { .. } => "constant_selector",
        }
    }

    /// Tracr's class name of this kind (`Select`, `SelectorAnd`, ...).
    pub fn type_name(&self) -> &'static str {
        match self.kind() {
            SelectorKind::Select { .. } => "Select",
            SelectorKind::SelectorAnd { .. } => "SelectorAnd",
            SelectorKind::SelectorOr { .. } => "SelectorOr",
            SelectorKind::SelectorNot { .. } => "SelectorNot",
            SelectorKind::ConstantSelector { .. } => "ConstantSelector",
        }
    }

    /// Direct dependencies in Tracr's `children` order.
    pub fn children(&self) -> Vec<Expr> {
        match self.kind() {
            SelectorKind::Select { keys, queries, .. } => {
                vec![Expr::SOp(keys.clone()), Expr::SOp(queries.clone())]
            }
            SelectorKind::SelectorAnd { fst, snd } | SelectorKind::SelectorOr { fst, snd } => {
                vec![Expr::Selector(fst.clone()), Expr::Selector(snd.clone())]
            }
            SelectorKind::SelectorNot { inner } => vec![Expr::Selector(inner.clone())],
            SelectorKind::ConstantSelector { .. } => vec![],
        }
    }

    /// A shallow copy carrying the name (Tracr's `.named`).
    pub fn named(&self, name: impl Into<String>) -> Selector {
        Selector(Arc::new(SelectorNode {
            kind: self.0.kind.clone(),
            name: Some(name.into()),
        }))
    }

    /// `self & other` (Tracr's `selector_and` with simplification).
    pub fn and(&self, other: &Selector) -> Selector {
        selector_and(self, other)
    }

    /// `self | other` (Tracr's `selector_or` with simplification).
    pub fn or(&self, other: &Selector) -> Selector {
        selector_or(self, other)
    }

    /// `~self` (Tracr's `selector_not` with simplification).
    pub fn invert(&self) -> Selector {
        selector_not(self)
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(name={})", self.type_name(), self.name())
    }
}

impl Expr {
    /// Direct dependencies in Tracr's `children` order.
    pub fn children(&self) -> Vec<Expr> {
        match self {
            Expr::SOp(s) => s.children(),
            Expr::Selector(s) => s.children(),
        }
    }

    /// The name annotation or default name.
    pub fn name(&self) -> &str {
        match self {
            Expr::SOp(s) => s.name(),
            Expr::Selector(s) => s.name(),
        }
    }

    /// Tracr's class name (`Map`, `Select`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Expr::SOp(s) => s.type_name(),
            Expr::Selector(s) => s.type_name(),
        }
    }

    /// Whether both are the same object.
    pub fn ptr_eq(&self, other: &Expr) -> bool {
        match (self, other) {
            (Expr::SOp(a), Expr::SOp(b)) => a.ptr_eq(b),
            (Expr::Selector(a), Expr::Selector(b)) => a.ptr_eq(b),
            _ => false,
        }
    }

    /// An address identifying the object.
    pub fn object_id(&self) -> usize {
        match self {
            Expr::SOp(s) => s.object_id(),
            Expr::Selector(s) => s.object_id(),
        }
    }

    /// The SOp, if this is one.
    pub fn as_sop(&self) -> Option<&SOp> {
        match self {
            Expr::SOp(s) => Some(s),
            Expr::Selector(_) => None,
        }
    }

    /// The selector, if this is one.
    pub fn as_selector(&self) -> Option<&Selector> {
        match self {
            Expr::Selector(s) => Some(s),
            Expr::SOp(_) => None,
        }
    }

    /// The label Tracr fixes for primitives; `None` for everything else.
    pub fn fixed_label(&self) -> Option<&'static str> {
        self.as_sop().and_then(SOp::fixed_label)
    }
}

impl From<SOp> for Expr {
    fn from(s: SOp) -> Self {
        Expr::SOp(s)
    }
}

impl From<Selector> for Expr {
    fn from(s: Selector) -> Self {
        Expr::Selector(s)
    }
}

// ---------- builders ----------

/// Tracr's `rasp.tokens`: one shared object, like the Python module global.
pub fn tokens() -> SOp {
    static TOKENS: OnceLock<SOp> = OnceLock::new();
    TOKENS
        .get_or_init(|| SOp::from_kind(SOpKind::Tokens))
        .clone()
}

/// Tracr's `rasp.indices`: one shared object.
pub fn indices() -> SOp {
    static INDICES: OnceLock<SOp> = OnceLock::new();
    INDICES
        .get_or_init(|| SOp::from_kind(SOpKind::Indices))
        .clone()
}

/// Tracr's `rasp.length` (the primitive, not `lib.make_length`): one shared object.
pub fn length_primitive() -> SOp {
    static LENGTH: OnceLock<SOp> = OnceLock::new();
    LENGTH
        .get_or_init(|| SOp::from_kind(SOpKind::Length))
        .clone()
}

/// `Map(f, inner)` with Tracr's simplification: a Map of a Map (or of a named/encoded copy of one)
/// becomes one Map of the composed function over the inner Map's input, with default annotations.
pub fn map(f: MapFn, inner: &SOp) -> SOp {
    if let SOpKind::Map {
        f: inner_f,
        inner: inner_inner,
    } = inner.kind()
    {
        return SOp::from_kind(SOpKind::Map {
            f: MapFn::compose(&f, inner_f),
            inner: inner_inner.clone(),
        });
    }
    map_no_simplify(f, inner)
}

/// `Map(f, inner, simplify=False)`.
pub fn map_no_simplify(f: MapFn, inner: &SOp) -> SOp {
    SOp::from_kind(SOpKind::Map {
        f,
        inner: inner.clone(),
    })
}

/// `SequenceMap(f, fst, snd)`.
pub fn sequence_map(f: SeqMapFn, fst: &SOp, snd: &SOp) -> SOp {
    SOp::from_kind(SOpKind::SequenceMap {
        f,
        fst: fst.clone(),
        snd: snd.clone(),
    })
}

/// `LinearSequenceMap(fst, snd, fst_fac, snd_fac)`.
pub fn linear_sequence_map(fst: &SOp, snd: &SOp, fst_fac: f64, snd_fac: f64) -> SOp {
    SOp::from_kind(SOpKind::LinearSequenceMap {
        fst: fst.clone(),
        snd: snd.clone(),
        fst_fac,
        snd_fac,
    })
}

/// `Full(fill)`.
pub fn full(fill: impl Into<Value>) -> SOp {
    SOp::from_kind(SOpKind::Full { fill: fill.into() })
}

/// `ConstantSOp(values)`.
pub fn constant_sop(values: Vec<Value>) -> SOp {
    SOp::from_kind(SOpKind::ConstantSOp { values })
}

/// `Aggregate(selector, sop)` with Tracr's default `None`.
pub fn aggregate(selector: &Selector, sop: &SOp) -> SOp {
    aggregate_with_default(selector, sop, Value::None)
}

/// `Aggregate(selector, sop, default=default)`.
pub fn aggregate_with_default(selector: &Selector, sop: &SOp, default: impl Into<Value>) -> SOp {
    SOp::from_kind(SOpKind::Aggregate {
        selector: selector.clone(),
        sop: sop.clone(),
        default: default.into(),
    })
}

/// `SelectorWidth(selector)`.
pub fn selector_width(selector: &Selector) -> SOp {
    SOp::from_kind(SOpKind::SelectorWidth {
        selector: selector.clone(),
    })
}

/// `Select(keys, queries, predicate)`.
pub fn select(keys: &SOp, queries: &SOp, predicate: impl Into<Predicate>) -> Selector {
    Selector::from_kind(SelectorKind::Select {
        keys: keys.clone(),
        queries: queries.clone(),
        predicate: predicate.into(),
    })
}

/// `ConstantSelector(matrix)`, rows are queries.
pub fn constant_selector(matrix: Vec<Vec<bool>>) -> Selector {
    Selector::from_kind(SelectorKind::ConstantSelector { matrix })
}

/// Tracr's `selector_not`: a Select becomes a Select with the negated predicate; anything else a SelectorNot.
pub fn selector_not(inner: &Selector) -> Selector {
    if let SelectorKind::Select {
        keys,
        queries,
        predicate,
    } = inner.kind()
    {
        return select(keys, queries, Predicate::Not(Box::new(predicate.clone())));
    }
    selector_not_no_simplify(inner)
}

/// `SelectorNot(inner)` without simplification.
pub fn selector_not_no_simplify(inner: &Selector) -> Selector {
    Selector::from_kind(SelectorKind::SelectorNot {
        inner: inner.clone(),
    })
}

/// Tracr's `selector_and`: two compatible Selects merge into one Select; otherwise a SelectorAnd.
pub fn selector_and(fst: &Selector, snd: &Selector) -> Selector {
    attempt_simplify(fst, snd, |p, q| Predicate::And(Box::new(p), Box::new(q)))
        .unwrap_or_else(|| selector_and_no_simplify(fst, snd))
}

/// `SelectorAnd(fst, snd)` without simplification.
pub fn selector_and_no_simplify(fst: &Selector, snd: &Selector) -> Selector {
    Selector::from_kind(SelectorKind::SelectorAnd {
        fst: fst.clone(),
        snd: snd.clone(),
    })
}

/// Tracr's `selector_or`: two compatible Selects merge into one Select; otherwise a SelectorOr.
pub fn selector_or(fst: &Selector, snd: &Selector) -> Selector {
    attempt_simplify(fst, snd, |p, q| Predicate::Or(Box::new(p), Box::new(q)))
        .unwrap_or_else(|| selector_or_no_simplify(fst, snd))
}

/// `SelectorOr(fst, snd)` without simplification.
pub fn selector_or_no_simplify(fst: &Selector, snd: &Selector) -> Selector {
    Selector::from_kind(SelectorKind::SelectorOr {
        fst: fst.clone(),
        snd: snd.clone(),
    })
}

/// Tracr's `_attempt_simplify`: merges two Selects whose keys and queries are the same objects,
/// where a `Full` side matches anything and has its fill baked into that Select's predicate.
fn attempt_simplify(
    fst: &Selector,
    snd: &Selector,
    combine: impl Fn(Predicate, Predicate) -> Predicate,
) -> Option<Selector> {
    let (
        SelectorKind::Select {
            keys: fst_keys,
            queries: fst_queries,
            predicate: fst_predicate,
        },
        SelectorKind::Select {
            keys: snd_keys,
            queries: snd_queries,
            predicate: snd_predicate,
        },
    ) = (fst.kind(), snd.kind())
    else {
        return None;
    };
    let mut fst_predicate = fst_predicate.clone();
    let mut snd_predicate = snd_predicate.clone();
    let mut common_keys: Option<SOp> = None;
    let mut common_queries: Option<SOp> = None;
    // The order of these checks is Tracr's: later matches override earlier ones.
    if let SOpKind::Full { fill } = fst_keys.kind() {
        common_keys = Some(snd_keys.clone());
        fst_predicate = Predicate::FixedKey(Box::new(fst_predicate), fill.clone());
    }
    if let SOpKind::Full { fill } = snd_keys.kind() {
        common_keys = Some(fst_keys.clone());
        snd_predicate = Predicate::FixedKey(Box::new(snd_predicate), fill.clone());
    }
    if let SOpKind::Full { fill } = fst_queries.kind() {
        common_queries = Some(snd_queries.clone());
        fst_predicate = Predicate::FixedQuery(Box::new(fst_predicate), fill.clone());
    }
    if let SOpKind::Full { fill } = snd_queries.kind() {
        common_queries = Some(fst_queries.clone());
        snd_predicate = Predicate::FixedQuery(Box::new(snd_predicate), fill.clone());
    }
    if fst_keys.ptr_eq(snd_keys) {
        common_keys = Some(fst_keys.clone());
    }
    if fst_queries.ptr_eq(snd_queries) {
        common_queries = Some(fst_queries.clone());
    }
    // Python's `not common_keys` is always False for an SOp object, so only absence matters.
    let (keys, queries) = (common_keys?, common_queries?);
    Some(select(
        &keys,
        &queries,
        combine(fst_predicate, snd_predicate),
    ))
}

/// Tracr's `rasp.numerical(sop)`.
pub fn numerical(sop: &SOp) -> SOp {
    sop.numerical()
}

/// Tracr's `rasp.categorical(sop)`.
pub fn categorical(sop: &SOp) -> SOp {
    sop.categorical()
}

// ---------- operator overloads (Tracr's SOp dunder methods) ----------

fn value_map(sop: &SOp, f: impl Fn(&Value) -> PyResult<Value> + Send + Sync + 'static) -> SOp {
    map(MapFn::new(f), sop)
}

fn pair_map(
    fst: &SOp,
    snd: &SOp,
    f: impl Fn(&Value, &Value) -> PyResult<Value> + Send + Sync + 'static,
) -> SOp {
    sequence_map(SeqMapFn::new(f), fst, snd)
}

impl SOp {
    /// `self == c`: `Map(lambda x: x == c)`.
    pub fn eq_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| Ok(Value::Bool(*x == c)))
    }

    /// `self != c`: `Map(lambda x: x != c)`.
    pub fn ne_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| Ok(Value::Bool(*x != c)))
    }

    /// `self < c`: `Map(lambda x: x < c)`.
    pub fn lt_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_order(&c, "<").map(Value::Bool))
    }

    /// `self <= c`: `Map(lambda x: x <= c)`.
    pub fn le_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_order(&c, "<=").map(Value::Bool))
    }

    /// `self > c`: `Map(lambda x: x > c)`.
    pub fn gt_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_order(&c, ">").map(Value::Bool))
    }

    /// `self >= c`: `Map(lambda x: x >= c)`.
    pub fn ge_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_order(&c, ">=").map(Value::Bool))
    }

    /// `self + c`: `Map(lambda x: x + c)`.
    pub fn add_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_add(&c))
    }

    /// `c + self`: `Map(lambda x: c + x)`.
    pub fn radd_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| c.py_add(x))
    }

    /// `self - c`: `Map(lambda x: x - c)`.
    pub fn sub_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_sub(&c))
    }

    /// `c - self`: `Map(lambda x: c - x)`.
    pub fn rsub_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| c.py_sub(x))
    }

    /// `self * c`: `Map(lambda x: x * c)`.
    pub fn mul_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_mul(&c))
    }

    /// `c * self`: `Map(lambda x: c * x)`.
    pub fn rmul_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| c.py_mul(x))
    }

    /// `self / c`: `Map(lambda x: x / c)`.
    pub fn div_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| x.py_truediv(&c))
    }

    /// `c / self`: `Map(lambda x: c / x)`.
    pub fn rdiv_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| c.py_truediv(x))
    }

    /// `self & c`: `Map(lambda x: x and c)`.
    pub fn and_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| Ok(x.py_and(&c)))
    }

    /// `c & self`: `Map(lambda x: c and x)`.
    pub fn rand_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| Ok(c.py_and(x)))
    }

    /// `self | c`: `Map(lambda x: x or c)`.
    pub fn or_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| Ok(x.py_or(&c)))
    }

    /// `c | self`: Tracr builds `Map(lambda x: x or c)` here too (its `__ror__` keeps the order).
    pub fn ror_value(&self, c: impl Into<Value>) -> SOp {
        let c = c.into();
        value_map(self, move |x| Ok(x.py_or(&c)))
    }

    /// `~self`: `Map(lambda x: not x)`.
    pub fn invert(&self) -> SOp {
        value_map(self, |x| Ok(x.py_not()))
    }

    /// `self + other`: `SequenceMap(lambda x, y: x + y, self, other)`.
    pub fn add_sop(&self, other: &SOp) -> SOp {
        pair_map(self, other, |x, y| x.py_add(y))
    }

    /// `self - other`: `SequenceMap(lambda x, y: x - y, self, other)`.
    pub fn sub_sop(&self, other: &SOp) -> SOp {
        pair_map(self, other, |x, y| x.py_sub(y))
    }

    /// `self * other`: `SequenceMap(lambda x, y: x * y, self, other)`.
    pub fn mul_sop(&self, other: &SOp) -> SOp {
        pair_map(self, other, |x, y| x.py_mul(y))
    }

    /// `self / other`: `SequenceMap(lambda x, y: x / y, self, other)`.
    pub fn div_sop(&self, other: &SOp) -> SOp {
        pair_map(self, other, |x, y| x.py_truediv(y))
    }

    /// `self & other`: `SequenceMap(lambda x, y: x and y, self, other)`.
    pub fn and_sop(&self, other: &SOp) -> SOp {
        pair_map(self, other, |x, y| Ok(x.py_and(y)))
    }

    /// `self | other`: `SequenceMap(lambda x, y: x or y, self, other)`.
    pub fn or_sop(&self, other: &SOp) -> SOp {
        pair_map(self, other, |x, y| Ok(x.py_or(y)))
    }
}

/// Tracr's `sop_not`: `Map(lambda t: not t, sop)`.
pub fn sop_not(sop: &SOp) -> SOp {
    sop.invert()
}

/// Shorthand for building a [`Comparison`] predicate's Select.
pub fn select_cmp(keys: &SOp, queries: &SOp, comparison: Comparison) -> Selector {
    select(keys, queries, comparison)
}

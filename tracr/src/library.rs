//! Tracr's `compiler/lib.py` programs, built exactly as Tracr builds them, and the fixture registry.

use crate::error::{Error, Result};
use crate::rasp::{
    aggregate, aggregate_with_default, indices, linear_sequence_map, map, map_no_simplify,
    numerical, select, selector_width, sequence_map, tokens, Comparison, MapFn, PredicateFn,
    PyResult, SOp, SeqMapFn,
};
use crate::value::Value;
use std::sync::OnceLock;

/// Tracr's `make_length`: `SelectorWidth(Select(tokens, tokens, TRUE))` named `length`.
pub fn make_length() -> SOp {
    let all_true_selector =
        select(&tokens(), &tokens(), Comparison::True).named("all_true_selector");
    selector_width(&all_true_selector).named("length")
}

/// Tracr's module-level `lib.length`: one shared object, so programs built from it share the node.
pub fn length() -> SOp {
    static LENGTH: OnceLock<SOp> = OnceLock::new();
    LENGTH.get_or_init(make_length).clone()
}

/// Tracr's `make_reverse`: `sop` read at position `length - i - 1`.
pub fn make_reverse(sop: &SOp) -> SOp {
    let opp_idx = length().sub_sop(&indices()).named("opp_idx");
    let opp_idx = opp_idx.sub_value(1).named("opp_idx-1");
    let reverse_selector = select(&indices(), &opp_idx, Comparison::Eq).named("reverse_selector");
    aggregate(&reverse_selector, sop).named("reverse")
}

/// Tracr's `make_pair_balance`: fraction of previous open tokens minus fraction of close tokens.
pub fn make_pair_balance(sop: &SOp, open_token: &str, close_token: &str) -> SOp {
    let bools_open = numerical(&sop.eq_value(open_token)).named("bools_open");
    let opens = numerical(&make_frac_prevs(&bools_open)).named("opens");
    let bools_close = numerical(&sop.eq_value(close_token)).named("bools_close");
    let closes = numerical(&make_frac_prevs(&bools_close)).named("closes");
    let pair_balance = numerical(&linear_sequence_map(&opens, &closes, 1.0, -1.0));
    pair_balance.named("pair_balance")
}

/// Tracr's `make_shuffle_dyck`: 1 where every pair type is balanced (each pair is two characters).
pub fn make_shuffle_dyck(pairs: &[&str]) -> Result<SOp> {
    if pairs.is_empty() {
        return Err(Error::InvalidArgument {
            function: "make_shuffle_dyck",
            reason: "needs at least one pair".into(),
        });
    }
    let mut balances = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let chars: Vec<char> = pair.chars().collect();
        let [open, close] = chars[..] else {
            return Err(Error::InvalidArgument {
                function: "make_shuffle_dyck",
                reason: format!("pair `{pair}` must be exactly two characters, open then close"),
            });
        };
        let balance = make_pair_balance(&tokens(), &open.to_string(), &close.to_string())
            .named(format!("balance_{pair}"));
        balances.push(balance);
    }

    let mut any_negative = balances[0].lt_value(0);
    for balance in &balances[1..] {
        any_negative = any_negative.or_sop(&balance.lt_value(0));
    }
    let any_negative =
        numerical(&map(MapFn::infallible(Value::clone), &any_negative)).named("any_negative");
    let select_all = select(&indices(), &indices(), Comparison::True).named("select_all");
    let has_neg =
        numerical(&aggregate_with_default(&select_all, &any_negative, 0)).named("has_neg");

    let mut all_zero = balances[0].eq_value(0);
    for balance in &balances[1..] {
        all_zero = all_zero.and_sop(&balance.eq_value(0));
    }
    let select_last =
        select(&indices(), &length().sub_value(1), Comparison::Eq).named("select_last");
    let last_zero = aggregate(&select_last, &all_zero).named("last_zero");
    let not_has_neg = has_neg.invert().named("not_has_neg");
    Ok(last_zero.and_sop(&not_has_neg).named("shuffle_dyck"))
}

/// Tracr's `make_shuffle_dyck2`: shuffle-Dyck over `()` and `{}`.
pub fn make_shuffle_dyck2() -> SOp {
    make_shuffle_dyck(&["()", "{}"])
        .expect("two valid pairs")
        .named("shuffle_dyck2")
}

/// Tracr's `make_hist`: how often each position's token occurs.
pub fn make_hist() -> SOp {
    let same_tok = select(&tokens(), &tokens(), Comparison::Eq).named("same_tok");
    selector_width(&same_tok).named("hist")
}

/// Tracr's `make_sort_unique`: `vals` sorted by `keys` (keys must be unique).
pub fn make_sort_unique(vals: &SOp, keys: &SOp) -> SOp {
    let smaller = select(keys, keys, Comparison::Lt).named("smaller");
    let target_pos = selector_width(&smaller).named("target_pos");
    let sel_new = select(&target_pos, &indices(), Comparison::Eq);
    aggregate(&sel_new, vals).named("sort")
}

/// Tracr's `make_sort`: keys made unique as `key + min_key * i / max_seq_len`, then `make_sort_unique`.
pub fn make_sort(vals: &SOp, keys: &SOp, max_seq_len: usize, min_key: impl Into<Value>) -> SOp {
    let min_key = min_key.into();
    let max_seq_len = Value::Int(max_seq_len as i64);
    let keys = sequence_map(
        SeqMapFn::new(move |x, i| x.py_add(&min_key.py_mul(i)?.py_truediv(&max_seq_len)?)),
        keys,
        &indices(),
    );
    make_sort_unique(vals, &keys)
}

/// Tracr's `make_sort_freq`: tokens sorted by descending frequency.
pub fn make_sort_freq(max_seq_len: usize) -> SOp {
    let hist = make_hist().named("hist").rmul_value(-1);
    make_sort(&tokens(), &hist, max_seq_len, 1).named("sort_freq")
}

/// Tracr's `make_frac_prevs`: the fraction of positions up to here where `bools` holds.
pub fn make_frac_prevs(bools: &SOp) -> SOp {
    let bools = numerical(bools);
    let prevs = select(&indices(), &indices(), Comparison::Leq);
    numerical(&aggregate_with_default(&prevs, &bools, 0)).named("frac_prevs")
}

/// Tracr's `shift_by`: `sop` shifted right by `offset`, None-padded.
pub fn shift_by(offset: i64, sop: &SOp) -> SOp {
    let shift = Value::Int(offset);
    let predicate = PredicateFn::new(move |k, q| Ok(*q == k.py_add(&shift)?));
    let select_off_by_offset = select(&indices(), &indices(), predicate);
    let out = aggregate(&select_off_by_offset, sop);
    out.named(format!("shift_by({offset})"))
}

/// Tracr's `detect_pattern` with the pattern given as a Python string: True where `pattern` ends.
pub fn detect_pattern_str(sop: &SOp, pattern: &str) -> Result<SOp> {
    let elements: Vec<Value> = pattern.chars().map(|c| Value::Str(c.to_string())).collect();
    detect_pattern_named(sop, &elements, pattern)
}

/// Tracr's `detect_pattern` with the pattern given as a Python list of values.
pub fn detect_pattern(sop: &SOp, pattern: &[Value]) -> Result<SOp> {
    let listed: Vec<String> = pattern.iter().map(Value::py_repr).collect();
    detect_pattern_named(sop, pattern, &format!("[{}]", listed.join(", ")))
}

/// `detect_pattern` where `pattern_str` is Python's `str(pattern)`, which goes into the name.
fn detect_pattern_named(sop: &SOp, pattern: &[Value], pattern_str: &str) -> Result<SOp> {
    if pattern.is_empty() {
        return Err(Error::InvalidArgument {
            function: "detect_pattern",
            reason: format!("Length of `pattern` must be at least 1. Got {pattern_str}"),
        });
    }
    let mut detectors: Vec<SOp> = pattern
        .iter()
        .rev()
        .enumerate()
        .map(|(i, element)| {
            let detector = sop.eq_value(element.clone());
            if i == 0 {
                detector
            } else {
                shift_by(i as i64, &detector)
            }
        })
        .collect();
    let mut pattern_detected = detectors.pop().expect("pattern is not empty");
    while let Some(detector) = detectors.pop() {
        pattern_detected = pattern_detected.and_sop(&detector);
    }
    Ok(pattern_detected.named(format!("detect_pattern({pattern_str})")))
}

/// Tracr's `make_count_less_freq`: how many positions hold a token occurring at most `n` times.
pub fn make_count_less_freq(n: i64) -> SOp {
    let hist = make_hist().named("hist");
    let bound = Value::Int(n);
    let predicate = PredicateFn::new(move |x, _y| x.py_order(&bound, "<="));
    let select_less = select(&hist, &hist, predicate).named("select_less");
    selector_width(&select_less).named("count_less_freq")
}

/// Tracr's `make_count`: how many positions of `sop` hold `token`.
pub fn make_count(sop: &SOp, token: impl Into<Value>) -> SOp {
    let token = token.into();
    let name = format!("count_{}", token.py_str());
    let predicate = PredicateFn::new(move |k, _q| Ok(*k == token));
    selector_width(&select(sop, sop, predicate)).named(name)
}

/// Tracr's `make_nary_sequencemap`: `f` over several SOps via tuple-valued SequenceMaps and a final Map.
pub fn make_nary_sequencemap(
    f: impl Fn(&[Value]) -> PyResult<Value> + Send + Sync + 'static,
    sops: &[SOp],
) -> Result<SOp> {
    let (first, rest) = sops.split_first().ok_or_else(|| Error::InvalidArgument {
        function: "make_nary_sequencemap",
        reason: "needs at least one SOp".into(),
    })?;
    let mut values = first.clone();
    for sop in rest {
        let pack = SeqMapFn::new(|x, y| {
            Ok(match x {
                Value::Tuple(items) => {
                    let mut items = items.clone();
                    items.push(y.clone());
                    Value::Tuple(items)
                }
                x => Value::Tuple(vec![x.clone(), y.clone()]),
            })
        });
        values = sequence_map(pack, &values, sop);
    }
    let apply = MapFn::new(move |args| match args {
        Value::Tuple(items) => f(items),
        // Python would unpack a lone value with `*args`, which fails unless it is iterable.
        single => f(std::slice::from_ref(single)),
    });
    Ok(map(apply, &values))
}

/// One fixture's program with the arguments it was compiled with.
#[derive(Debug, Clone)]
pub struct LibProgram {
    /// The fixture's name (its file stem in `fixtures/tracr/`).
    pub name: &'static str,
    /// The Python expression that built it (the fixture's `source`).
    pub source: &'static str,
    /// The program's output SOp.
    pub program: SOp,
    /// The vocabulary, in Tracr's basis order.
    pub vocab: Vec<Value>,
    /// The maximum sequence length compiled for.
    pub max_seq_len: usize,
    /// Whether the model is compiled (and RASP evaluated) causally.
    pub causal: bool,
}

impl LibProgram {
    /// Compiles the program at its registry settings (vocabulary, length, causality; defaults else).
    pub fn compile(&self) -> Result<crate::model::CompiledModel> {
        let options = crate::CompileOptions {
            causal: self.causal,
            ..crate::CompileOptions::default()
        };
        crate::compile(&self.program, &self.vocab, self.max_seq_len, &options)
    }
}

fn chars(s: &str) -> Vec<Value> {
    s.chars().map(|c| Value::Str(c.to_string())).collect()
}

fn ints(xs: &[i64]) -> Vec<Value> {
    xs.iter().map(|&i| Value::Int(i)).collect()
}

/// `Map(lambda x: x, tokens)` annotated numerical and named `x`, as two fixtures start.
fn numerical_token_copy() -> SOp {
    numerical(&map(MapFn::infallible(Value::clone), &tokens())).named("x")
}

/// Every fixture program, in the order of `fixtures/tracr/SUMMARY.json`'s generator, built fresh.
pub fn registry() -> Vec<LibProgram> {
    registry_for(None)
}

/// Every fixture program built for `max_seq_len` (each its fixture's own when `None`): Tracr's
/// `make_sort` and `make_sort_freq` bake the length into their key-uniquifying term
/// `key + min_key * i / max_seq_len`, so a model for longer inputs needs the program built for them.
pub fn registry_for(max_seq_len: Option<usize>) -> Vec<LibProgram> {
    build_registry(max_seq_len, None)
}

/// The registry's programs built for `max_seq_len` (see [`registry_for`]), only the one called
/// `only` when given: building every program to pick one out of them was a measurable part of a
/// short `tracr compile --lib NAME` process.
fn build_registry(max_seq_len: Option<usize>, only: Option<&str>) -> Vec<LibProgram> {
    /// name, source, vocab, max_seq_len, causal, builder (given the max_seq_len to build for).
    type Entry = (
        &'static str,
        &'static str,
        Vec<Value>,
        usize,
        bool,
        fn(usize) -> SOp,
    );
    let entries: Vec<Entry> = vec![
        ("length", "lib.make_length()", chars("abc"), 5, false, |_| make_length()),
        ("reverse", "lib.make_reverse(rasp.tokens)", chars("abc"), 5, false, |_| {
            make_reverse(&tokens())
        }),
        ("hist", "lib.make_hist()", chars("abc"), 5, false, |_| make_hist()),
        (
            "sort_unique",
            "lib.make_sort_unique(vals=rasp.tokens, keys=rasp.tokens)",
            ints(&[1, 2, 3, 4, 5]),
            5,
            false,
            |_| make_sort_unique(&tokens(), &tokens()),
        ),
        (
            "sort",
            "lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=5, min_key=1)",
            ints(&[1, 2, 3, 4]),
            5,
            false,
            |n| make_sort(&tokens(), &tokens(), n, 1),
        ),
        (
            "sort_freq",
            "lib.make_sort_freq(max_seq_len=5)",
            ints(&[1, 2, 3, 4]),
            5,
            false,
            make_sort_freq,
        ),
        (
            "frac_prevs",
            "lib.make_frac_prevs(rasp.tokens == \"x\")",
            chars("abx"),
            5,
            false,
            |_| make_frac_prevs(&tokens().eq_value("x")),
        ),
        (
            "frac_prevs_causal",
            "lib.make_frac_prevs(rasp.tokens == \"x\"), compiled with causal=True",
            chars("abx"),
            5,
            true,
            |_| make_frac_prevs(&tokens().eq_value("x")),
        ),
        (
            "pair_balance",
            "lib.make_pair_balance(rasp.tokens, \"(\", \")\")",
            chars("()a"),
            5,
            false,
            |_| make_pair_balance(&tokens(), "(", ")"),
        ),
        (
            "shuffle_dyck",
            "lib.make_shuffle_dyck(pairs=[\"()\"])",
            chars("()"),
            5,
            false,
            |_| make_shuffle_dyck(&["()"]).expect("one valid pair"),
        ),
        (
            "shuffle_dyck2",
            "lib.make_shuffle_dyck2()",
            chars("(){}"),
            5,
            false,
            |_| make_shuffle_dyck2(),
        ),
        (
            "count_less_freq",
            "lib.make_count_less_freq(n=2)",
            chars("abc"),
            5,
            false,
            |_| make_count_less_freq(2),
        ),
        (
            "count_a",
            "lib.make_count(rasp.tokens, \"a\")",
            chars("abc"),
            5,
            false,
            |_| make_count(&tokens(), "a"),
        ),
        (
            "shift_by_1",
            "lib.shift_by(1, rasp.tokens)",
            chars("abc"),
            5,
            false,
            |_| shift_by(1, &tokens()),
        ),
        (
            "detect_pattern_ab",
            "lib.detect_pattern(rasp.tokens, \"ab\")",
            chars("abc"),
            5,
            false,
            |_| detect_pattern_str(&tokens(), "ab").expect("non-empty pattern"),
        ),
        (
            "nary_sequencemap",
            "lib.make_nary_sequencemap(lambda x, y, z: x + y - z, rasp.tokens, rasp.tokens, rasp.indices)",
            ints(&[1, 2, 3]),
            4,
            false,
            |_| {
                make_nary_sequencemap(
                    |args| match args {
                        [x, y, z] => x.py_add(y)?.py_sub(z),
                        _ => Err(crate::rasp::PyError::Type(format!(
                            "<lambda>() takes 3 positional arguments but {} were given",
                            args.len()
                        ))),
                    },
                    &[tokens(), tokens(), indices()],
                )
                .expect("three SOps")
            },
        ),
        (
            "map_cat_to_num",
            "rasp.numerical(rasp.Map(lambda x: x * x - 1, rasp.tokens)).named(\"sq_minus_1\")",
            ints(&[1, 2, 3]),
            5,
            false,
            |_| {
                let f = MapFn::new(|x| x.py_mul(x)?.py_sub(&Value::Int(1)));
                numerical(&map(f, &tokens())).named("sq_minus_1")
            },
        ),
        (
            "map_num_to_num",
            "x = rasp.numerical(rasp.Map(lambda t: t, rasp.tokens)).named(\"x\"); \
             rasp.numerical(rasp.Map(lambda v: v * v - 2 * v + 3, x, simplify=False)).named(\"poly\")",
            ints(&[0, 1, 2, 3]),
            5,
            false,
            |_| {
                let f = MapFn::new(|v| {
                    v.py_mul(v)?
                        .py_sub(&Value::Int(2).py_mul(v)?)?
                        .py_add(&Value::Int(3))
                });
                numerical(&map_no_simplify(f, &numerical_token_copy())).named("poly")
            },
        ),
        (
            "map_num_to_cat",
            "x = rasp.numerical(rasp.Map(lambda t: t, rasp.tokens)).named(\"x\"); \
             rasp.Map(lambda v: v >= 2, x, simplify=False).named(\"ge2\")  # categorical",
            ints(&[0, 1, 2, 3]),
            5,
            false,
            |_| {
                let f = MapFn::new(|v| v.py_order(&Value::Int(2), ">=").map(Value::Bool));
                map_no_simplify(f, &numerical_token_copy()).named("ge2")
            },
        ),
        (
            "numerical_mean",
            "is_a = rasp.numerical(rasp.Map(lambda t: 1 if t == \"a\" else 0, rasp.tokens)).named(\"is_a\"); \
             rasp.numerical(rasp.Aggregate(rasp.Select(rasp.tokens, rasp.tokens, \
             rasp.Comparison.TRUE).named(\"all\"), is_a, default=0)).named(\"frac_a\")",
            chars("abc"),
            5,
            false,
            |_| {
                let is_a_fn = MapFn::infallible(|t| Value::Int(i64::from(*t == Value::from("a"))));
                let is_a = numerical(&map(is_a_fn, &tokens())).named("is_a");
                let sel = select(&tokens(), &tokens(), Comparison::True).named("all");
                numerical(&aggregate_with_default(&sel, &is_a, 0)).named("frac_a")
            },
        ),
        (
            "seqmap_cat",
            "rasp.SequenceMap(lambda t, i: (t + i) % 3, rasp.tokens, rasp.indices).named(\"tok_plus_idx_mod3\")",
            ints(&[0, 1, 2]),
            5,
            false,
            |_| {
                let f = SeqMapFn::new(|t, i| t.py_add(i)?.py_mod(&Value::Int(3)));
                sequence_map(f, &tokens(), &indices()).named("tok_plus_idx_mod3")
            },
        ),
        (
            "numerical_length",
            "rasp.numerical(lib.make_length())  # numerical SelectorWidth",
            chars("abc"),
            5,
            false,
            |_| numerical(&make_length()),
        ),
        (
            "known_bug_cat_to_num_negative",
            "rasp.numerical(rasp.Map(lambda x: -x, rasp.tokens)).named(\"neg\")",
            ints(&[1, 2, 3]),
            5,
            false,
            |_| numerical(&map(MapFn::new(Value::py_neg), &tokens())).named("neg"),
        ),
        (
            "known_limit_map_after_mean",
            "rasp.numerical(rasp.Map(lambda v: 10 * v, lib.make_frac_prevs(rasp.tokens == \"x\"), \
             simplify=False)).named(\"ten_x\")",
            chars("ax"),
            5,
            false,
            |_| {
                let fp = make_frac_prevs(&tokens().eq_value("x"));
                let f = MapFn::new(|v| Value::Int(10).py_mul(v));
                numerical(&map_no_simplify(f, &fp)).named("ten_x")
            },
        ),
        (
            "reverse_123",
            "lib.make_reverse(rasp.tokens), Edge Pruning's reverse setting (vocab {1,2,3})",
            ints(&[1, 2, 3]),
            5,
            false,
            |_| make_reverse(&tokens()),
        ),
        (
            "xproportion",
            "lib.make_frac_prevs(rasp.tokens == \"x\"), Edge Pruning's xproportion setting (vocab {a,b,c,x})",
            chars("abcx"),
            5,
            false,
            |_| make_frac_prevs(&tokens().eq_value("x")),
        ),
    ];
    entries
        .into_iter()
        .filter(|entry| only.is_none_or(|name| entry.0 == name))
        .map(
            |(name, source, vocab, fixture_max_seq_len, causal, build)| {
                let max_seq_len = max_seq_len.unwrap_or(fixture_max_seq_len);
                LibProgram {
                    name,
                    source,
                    program: build(max_seq_len),
                    vocab,
                    max_seq_len,
                    causal,
                }
            },
        )
        .collect()
}

/// The fixture program with this name, built fresh.
pub fn by_name(name: &str) -> Option<LibProgram> {
    build_registry(None, Some(name)).pop()
}

/// The program with this name built for `max_seq_len` (see [`registry_for`]); its `max_seq_len`
/// field is that length.
pub fn by_name_for(name: &str, max_seq_len: usize) -> Option<LibProgram> {
    build_registry(Some(max_seq_len), Some(name)).pop()
}

/// Every registry program's `tracr/lib/NAME.rasp` text, built into the binary so that
/// `tracr print --lib NAME` works wherever the binary is.
const RASP_SOURCES: [(&str, &str); 26] = [
    ("count_a", include_str!("../lib/count_a.rasp")),
    (
        "count_less_freq",
        include_str!("../lib/count_less_freq.rasp"),
    ),
    (
        "detect_pattern_ab",
        include_str!("../lib/detect_pattern_ab.rasp"),
    ),
    ("frac_prevs", include_str!("../lib/frac_prevs.rasp")),
    (
        "frac_prevs_causal",
        include_str!("../lib/frac_prevs_causal.rasp"),
    ),
    ("hist", include_str!("../lib/hist.rasp")),
    (
        "known_bug_cat_to_num_negative",
        include_str!("../lib/known_bug_cat_to_num_negative.rasp"),
    ),
    (
        "known_limit_map_after_mean",
        include_str!("../lib/known_limit_map_after_mean.rasp"),
    ),
    ("length", include_str!("../lib/length.rasp")),
    ("map_cat_to_num", include_str!("../lib/map_cat_to_num.rasp")),
    ("map_num_to_cat", include_str!("../lib/map_num_to_cat.rasp")),
    ("map_num_to_num", include_str!("../lib/map_num_to_num.rasp")),
    (
        "nary_sequencemap",
        include_str!("../lib/nary_sequencemap.rasp"),
    ),
    (
        "numerical_length",
        include_str!("../lib/numerical_length.rasp"),
    ),
    ("numerical_mean", include_str!("../lib/numerical_mean.rasp")),
    ("pair_balance", include_str!("../lib/pair_balance.rasp")),
    ("reverse", include_str!("../lib/reverse.rasp")),
    ("reverse_123", include_str!("../lib/reverse_123.rasp")),
    ("seqmap_cat", include_str!("../lib/seqmap_cat.rasp")),
    ("shift_by_1", include_str!("../lib/shift_by_1.rasp")),
    ("shuffle_dyck", include_str!("../lib/shuffle_dyck.rasp")),
    ("shuffle_dyck2", include_str!("../lib/shuffle_dyck2.rasp")),
    ("sort", include_str!("../lib/sort.rasp")),
    ("sort_freq", include_str!("../lib/sort_freq.rasp")),
    ("sort_unique", include_str!("../lib/sort_unique.rasp")),
    ("xproportion", include_str!("../lib/xproportion.rasp")),
];

/// The `.rasp` text of the library program `name` (`tracr/lib/NAME.rasp`), if it has one.
pub fn rasp_source(name: &str) -> Option<&'static str> {
    RASP_SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The names of all registry programs.
pub fn names() -> Vec<&'static str> {
    registry().into_iter().map(|p| p.name).collect()
}

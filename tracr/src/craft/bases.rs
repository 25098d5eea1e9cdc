//! Named basis directions and the vector spaces they span, ordered exactly as Tracr orders them.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use crate::value::Value;

/// One named dimension: `tokens:a`, `indices:3`, `one`, `frac_prevs`.
///
/// Equality follows Python's `(name, value)` equality, so `x:True` equals `x:1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BasisDirection {
    /// The name of the space this direction belongs to (usually an SOp label).
    pub name: String,
    /// The value this direction one-hot encodes; `None` for numerical and auxiliary directions.
    pub value: Option<Value>,
}

impl BasisDirection {
    /// A direction with a value, as categorical SOps use; `Value::None` means no value, as in Python.
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        let value = match value {
            Value::None => None,
            v => Some(v),
        };
        BasisDirection {
            name: name.into(),
            value,
        }
    }

    /// A direction without a value (`one`, a numerical SOp).
    pub fn named(name: impl Into<String>) -> Self {
        BasisDirection {
            name: name.into(),
            value: None,
        }
    }

    /// Tracr's `BasisDirection.__lt__`: compare `(name, value)`, or `str(dir)` where Python raises TypeError.
    pub fn py_lt(&self, other: &Self) -> bool {
        if self.name != other.name {
            return self.name < other.name;
        }
        match (&self.value, &other.value) {
            (None, None) => false,
            (Some(a), Some(b)) if a == b => false,
            (Some(a), Some(b)) => match a.py_lt(b) {
                Some(less) => less,
                None => self.to_string() < other.to_string(),
            },
            // `None < value` raises TypeError in Python, so the strings decide.
            _ => self.to_string() < other.to_string(),
        }
    }
}

impl fmt::Display for BasisDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            None => f.write_str(&self.name),
            Some(v) => write!(f, "{}:{v}", self.name),
        }
    }
}

/// Sorts like CPython's `sorted()` on lists shorter than 64 items, using only `less`.
///
/// Tracr's direction order is not a total order on mixed int/str values, so the result depends
/// on the algorithm: CPython finds the leading run (reversing a strictly descending one) and
/// binary-insertion-sorts the rest, stably. Longer lists get the same binary insertion sort,
/// which agrees with CPython whenever the order is total.
pub fn python_sorted<T: Clone>(items: &[T], less: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut out: Vec<T> = items.to_vec();
    python_sort(&mut out, less);
    out
}

/// [`python_sorted`] in place: the same order, without cloning the items.
pub fn python_sort<T>(out: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = out.len();
    if n < 2 {
        return;
    }
    let mut run = 2;
    if less(&out[1], &out[0]) {
        while run < n && less(&out[run], &out[run - 1]) {
            run += 1;
        }
        out[..run].reverse();
    } else {
        while run < n && !less(&out[run], &out[run - 1]) {
            run += 1;
        }
    }
    for start in run..n {
        // The pivot stays at `start` until the rotation, so it is compared in place.
        let (mut lo, mut hi) = (0, start);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if less(&out[start], &out[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        out[lo..=start].rotate_right(1);
    }
}

/// Sorts directions in Tracr's order.
pub fn sort_directions(directions: &[BasisDirection]) -> Vec<BasisDirection> {
    python_sorted(directions, BasisDirection::py_lt)
}

/// Sorts values as Tracr sorts them: through `BasisDirection("v", value)` (the oracle's `sorted_values`).
pub fn sort_values(values: &[Value]) -> Vec<Value> {
    let dirs: Vec<BasisDirection> = values
        .iter()
        .map(|v| BasisDirection::new("v", v.clone()))
        .collect();
    sort_directions(&dirs)
        .into_iter()
        .map(|d| d.value.unwrap_or(Value::None))
        .collect()
}

/// A vector space spanned by named directions, kept in Tracr's sorted order.
#[derive(Clone, Default)]
pub struct VectorSpace {
    /// Shared, not copied, by clones: a space never changes once built, and the compiler hands the
    /// same spaces to many blocks (a 200-neuron hidden space was copied direction by direction,
    /// name and value, each time).
    basis: Arc<[BasisDirection]>,
    /// `(hash, position)` of every direction, sorted: built on the first lookup in a space of
    /// [`INDEXED_DIMS`] or more, where the compiler looks up thousands of directions (a sequence
    /// map's hidden pairs) and a scan made compiling quadratic. Clones made after it is built
    /// share it: the basis of a space never changes.
    index: OnceLock<Arc<Vec<(u64, usize)>>>,
}

/// Spaces this large get a hash index for [`VectorSpace::index_of`]; in smaller ones a scan is as fast.
const INDEXED_DIMS: usize = 16;

/// A direction's hash for the index.
fn direction_hash(direction: &BasisDirection) -> u64 {
    let mut hasher = FxHasher::default();
    direction.hash(&mut hasher);
    hasher.finish()
}

/// rustc's FxHash: one rotate, xor and multiply per word, several times faster than the standard
/// SipHash on short keys such as directions. Every lookup compares the directions its hash finds,
/// so a weaker hash costs at most a few comparisons, never a wrong answer.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A set of directions hashed with [`FxHasher`].
type DirectionSet<'a> = HashSet<&'a BasisDirection, BuildHasherDefault<FxHasher>>;

impl PartialEq for VectorSpace {
    fn eq(&self, other: &Self) -> bool {
        self.basis == other.basis
    }
}

impl Eq for VectorSpace {}

impl fmt::Debug for VectorSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VectorSpace")
            .field("basis", &self.basis)
            .finish()
    }
}

impl VectorSpace {
    /// The space spanned by `directions`, sorted as Tracr sorts them.
    pub fn new(mut directions: Vec<BasisDirection>) -> Self {
        python_sort(&mut directions, BasisDirection::py_lt);
        Self::from_sorted(directions)
    }

    /// The space of directions already in Tracr's order.
    fn from_sorted(basis: Vec<BasisDirection>) -> Self {
        VectorSpace {
            basis: basis.into(),
            index: OnceLock::new(),
        }
    }

    /// The space `{name:v for v in values}` (a categorical SOp's space).
    pub fn from_values(name: &str, values: &[Value]) -> Self {
        Self::new(
            values
                .iter()
                .map(|v| BasisDirection::new(name, v.clone()))
                .collect(),
        )
    }

    /// The space spanned by value-less directions with these names.
    pub fn from_names(names: &[&str]) -> Self {
        Self::new(names.iter().map(|n| BasisDirection::named(*n)).collect())
    }

    /// The sorted directions.
    pub fn basis(&self) -> &[BasisDirection] {
        &self.basis
    }

    /// The number of dimensions.
    pub fn num_dims(&self) -> usize {
        self.basis.len()
    }

    /// The position of a direction in the sorted basis; the last one if it repeats, like Tracr's `index_by_direction`.
    pub fn index_of(&self, direction: &BasisDirection) -> Option<usize> {
        if self.basis.len() < INDEXED_DIMS {
            return self.basis.iter().rposition(|d| d == direction);
        }
        let index = self.index.get_or_init(|| {
            let mut index: Vec<(u64, usize)> = self
                .basis
                .iter()
                .enumerate()
                .map(|(i, d)| (direction_hash(d), i))
                .collect();
            index.sort_unstable();
            Arc::new(index)
        });
        let hash = direction_hash(direction);
        let first = index.partition_point(|&(h, _)| h < hash);
        // Equal directions hash alike, and a run of equal hashes is in position order: its last
        // equal direction is Tracr's (the last); an unequal one with the same hash is passed over.
        index[first..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .filter(|&&(_, i)| self.basis[i] == *direction)
            .map(|&(_, i)| i)
            .last()
    }

    /// Whether the direction is part of this space.
    pub fn contains(&self, direction: &BasisDirection) -> bool {
        self.index_of(direction).is_some()
    }

    /// Whether every direction of `self` is in `other`.
    pub fn is_subspace_of(&self, other: &VectorSpace) -> bool {
        self.basis.iter().all(|d| other.contains(d))
    }

    /// The residual labels (`str(dir)`) of the basis.
    pub fn labels(&self) -> Vec<String> {
        self.basis.iter().map(|d| d.to_string()).collect()
    }

    /// Errors unless the space has exactly `num_dims` dimensions (Tracr's `ensure_dims`).
    pub fn ensure_dims(&self, num_dims: usize, what: &str) -> Result<()> {
        if self.num_dims() != num_dims {
            return Err(Error::Craft(format!(
                "{what} must have {num_dims} dimension(s) but has {}: [{}]",
                self.num_dims(),
                self.labels().join(", ")
            )));
        }
        Ok(())
    }
}

/// The direct sum of spaces; errors when they share a direction (Tracr's `direct_sum`).
pub fn direct_sum(spaces: &[&VectorSpace]) -> Result<VectorSpace> {
    let mut all = Vec::new();
    let mut seen = DirectionSet::default();
    for space in spaces {
        for d in space.basis() {
            if !seen.insert(d) {
                return Err(Error::Craft(format!(
                    "direct sum of overlapping spaces: {d} appears twice"
                )));
            }
            all.push(d.clone());
        }
    }
    Ok(VectorSpace::new(all))
}

/// The sorted union of spaces, which may overlap (Tracr's `join_vector_spaces`).
pub fn join_vector_spaces(spaces: &[&VectorSpace]) -> VectorSpace {
    // The union holds at least the largest space: sized for that, the set does not rehash while
    // it takes the largest in (sizing for the sum would overshoot where spaces overlap, as the
    // blocks' residual spaces do).
    let largest = spaces.iter().map(|s| s.num_dims()).max().unwrap_or(0);
    let mut all: Vec<&BasisDirection> = Vec::with_capacity(largest);
    let mut seen = DirectionSet::with_capacity_and_hasher(largest, Default::default());
    for space in spaces {
        for d in space.basis() {
            if seen.insert(d) {
                all.push(d);
            }
        }
    }
    // Tracr sorts twice (once in join, once in the constructor); with a total order that is once.
    // Sorting references and cloning the result once gives the same order without the copies.
    for _ in 0..2 {
        python_sort(&mut all, |a, b| a.py_lt(b));
    }
    VectorSpace::from_sorted(all.into_iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(values: &[Value]) -> Vec<BasisDirection> {
        values
            .iter()
            .map(|v| BasisDirection::new("t", v.clone()))
            .collect()
    }

    #[test]
    fn mixed_int_and_str_values_sort_exactly_as_cpython_sorted() {
        // Expected orders printed by CPython 3.11.7 `sorted()` on directions with Tracr's `__lt__`;
        // the order is not total on these values, so they pin the algorithm too.
        let cases: Vec<(Vec<Value>, Vec<Value>)> = vec![
            (
                vec![
                    Value::Int(10),
                    Value::from("BOS"),
                    Value::Int(9),
                    Value::Int(2),
                ],
                vec![
                    Value::Int(2),
                    Value::Int(9),
                    Value::Int(10),
                    Value::from("BOS"),
                ],
            ),
            (
                vec![
                    Value::from("10a"),
                    Value::Int(-1),
                    Value::from("("),
                    Value::Int(2),
                    Value::Int(10),
                    Value::Int(9),
                    Value::from("BOS"),
                    Value::Int(100),
                    Value::from("5"),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::Int(9),
                    Value::Int(10),
                    Value::from("10a"),
                    Value::Int(2),
                    Value::Int(100),
                    Value::from("5"),
                    Value::from("BOS"),
                ],
            ),
            (
                vec![
                    Value::Int(9),
                    Value::from("10a"),
                    Value::from("5"),
                    Value::from("("),
                    Value::Int(10),
                    Value::Int(-1),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::Int(10),
                    Value::from("10a"),
                    Value::from("5"),
                    Value::Int(9),
                ],
            ),
            (
                vec![
                    Value::Int(9),
                    Value::Int(-1),
                    Value::from("10a"),
                    Value::from("("),
                    Value::from("BOS"),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::from("10a"),
                    Value::Int(9),
                    Value::from("BOS"),
                ],
            ),
            (
                vec![Value::Int(100), Value::Int(2), Value::from("10a")],
                vec![Value::from("10a"), Value::Int(2), Value::Int(100)],
            ),
            (
                vec![
                    Value::Int(9),
                    Value::Int(2),
                    Value::Int(100),
                    Value::from("10a"),
                    Value::from("("),
                    Value::Int(10),
                    Value::from("BOS"),
                    Value::Int(-1),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::from("10a"),
                    Value::Int(2),
                    Value::Int(9),
                    Value::Int(10),
                    Value::Int(100),
                    Value::from("BOS"),
                ],
            ),
            (
                vec![
                    Value::Int(2),
                    Value::from("10a"),
                    Value::from("5"),
                    Value::Int(9),
                    Value::Int(-1),
                    Value::from("("),
                    Value::from("BOS"),
                    Value::Int(10),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::from("10a"),
                    Value::Int(2),
                    Value::from("5"),
                    Value::Int(9),
                    Value::Int(10),
                    Value::from("BOS"),
                ],
            ),
            (
                vec![Value::from("("), Value::Int(100), Value::from("BOS")],
                vec![Value::from("("), Value::Int(100), Value::from("BOS")],
            ),
            (
                vec![
                    Value::Int(2),
                    Value::from("BOS"),
                    Value::from("5"),
                    Value::from("10a"),
                    Value::Int(-1),
                    Value::from("("),
                    Value::Int(100),
                    Value::Int(9),
                    Value::Int(10),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::Int(10),
                    Value::from("10a"),
                    Value::Int(2),
                    Value::Int(100),
                    Value::from("5"),
                    Value::Int(9),
                    Value::from("BOS"),
                ],
            ),
            (
                vec![
                    Value::Int(100),
                    Value::Int(-1),
                    Value::from("("),
                    Value::Int(10),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::Int(10),
                    Value::Int(100),
                ],
            ),
            (
                vec![
                    Value::Int(-1),
                    Value::from("("),
                    Value::Int(9),
                    Value::Int(2),
                    Value::from("BOS"),
                ],
                vec![
                    Value::from("("),
                    Value::Int(-1),
                    Value::Int(2),
                    Value::Int(9),
                    Value::from("BOS"),
                ],
            ),
            (
                vec![Value::from("5"), Value::Int(100), Value::Int(-1)],
                vec![Value::Int(-1), Value::Int(100), Value::from("5")],
            ),
        ];
        for (input, expected) in cases {
            let got: Vec<Value> = sort_directions(&dirs(&input))
                .into_iter()
                .map(|d| d.value.unwrap())
                .collect();
            assert_eq!(got, expected, "sorting {input:?}");
        }
    }

    #[test]
    fn integers_sort_numerically_before_bos_and_pad() {
        let tokens = [11, 9, 1, 10, 2].map(Value::Int).to_vec();
        let mut values = tokens.clone();
        values.extend([Value::from("compiler_pad"), Value::from("BOS")]);
        let space = VectorSpace::from_values("tokens", &values);
        assert_eq!(
            space.labels(),
            [
                "tokens:1",
                "tokens:2",
                "tokens:9",
                "tokens:10",
                "tokens:11",
                "tokens:BOS",
                "tokens:compiler_pad"
            ]
        );
    }

    #[test]
    fn a_valueless_direction_sorts_before_valued_ones_of_its_name() {
        let space = VectorSpace::new(vec![
            BasisDirection::new("x", Value::Int(1)),
            BasisDirection::named("x"),
            BasisDirection::named("one"),
        ]);
        assert_eq!(space.labels(), ["one", "x", "x:1"]);
    }

    #[test]
    fn direct_sum_rejects_overlap_and_join_merges_it() {
        let a = VectorSpace::from_names(&["a", "b"]);
        let b = VectorSpace::from_names(&["b", "c"]);
        assert!(matches!(direct_sum(&[&a, &b]), Err(Error::Craft(_))));
        assert_eq!(join_vector_spaces(&[&b, &a]).labels(), ["a", "b", "c"]);
        assert_eq!(
            direct_sum(&[&a, &VectorSpace::from_names(&["c"])])
                .unwrap()
                .labels(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn index_of_in_an_indexed_space_finds_what_a_scan_finds() {
        // Large enough for the hash index, with a repeated direction (LinearSequenceMap(x, x)
        // builds such spaces) and True, which equals 1 as in Python.
        let mut directions: Vec<BasisDirection> = (0..40)
            .map(|i| BasisDirection::new("t", Value::Int(i)))
            .chain((0..5).map(|i| BasisDirection::new("s", Value::from(format!("v{i}").as_str()))))
            .collect();
        directions.push(BasisDirection::named("x"));
        directions.push(BasisDirection::named("x"));
        let space = VectorSpace::new(directions);
        assert!(
            space.num_dims() >= INDEXED_DIMS,
            "{} dims",
            space.num_dims()
        );
        let mut probes: Vec<BasisDirection> = space.basis().to_vec();
        probes.extend([
            BasisDirection::new("t", Value::Bool(true)),
            BasisDirection::new("t", Value::Int(40)),
            BasisDirection::new("u", Value::Int(1)),
            BasisDirection::named("t"),
        ]);
        for probe in &probes {
            let scanned = space.basis().iter().rposition(|d| d == probe);
            assert_eq!(
                space.index_of(probe),
                scanned,
                "index of {probe} in {space:?}"
            );
            // A clone shares the index built above and answers alike.
            assert_eq!(space.clone().index_of(probe), scanned, "clone, {probe}");
        }
    }

    #[test]
    fn true_and_one_are_the_same_direction_as_in_python() {
        assert_eq!(
            BasisDirection::new("x", Value::Bool(true)),
            BasisDirection::new("x", Value::Int(1))
        );
        let joined = join_vector_spaces(&[
            &VectorSpace::from_values("x", &[Value::Bool(true)]),
            &VectorSpace::from_values("x", &[Value::Int(1)]),
        ]);
        assert_eq!(joined.labels(), ["x:True"]);
    }
}

//! Tracr's known compiler bugs, fixed when compiling with `--fix-tracr-bugs`
//! ([`crate::CompileOptions::fix_tracr_bugs`]); the default output stays identical to Tracr's.
//!
//! A model records which fixes changed it ([`crate::CompiledModel::tracr_fixes`], written to every
//! model file), so that a reader knows it is not the model Tracr would compile. The bugs and what each
//! fix changes in the weights are described in `docs/tracr-fixes.md`.

use std::fmt;

/// One fixed Tracr bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TracrFix {
    /// google-deepmind/tracr issue 25: a categorical Aggregate that selects nothing gives RASP's
    /// `None`, which the model carries as an all-zero output vector; Tracr's argmax decodes that as
    /// the first output value. Fixed: an output row with no direction above
    /// [`NONE_DECODE_THRESHOLD`] decodes as `None`.
    AggregateNoneDecodes,
    /// google-deepmind/tracr PR 14: SelectorWidth decodes `1/(w+1)` with steps of slope
    /// `mlp_exactness`, too shallow once adjacent widths are closer than `1/mlp_exactness`
    /// (w = 10 reads as 9 at the default 100). Fixed: the slope grows with `max_seq_len`
    /// ([`selector_width_slope`]).
    SelectorWidthSlope,
    /// `key_size` counted only the W_qk widths, so a head whose W_ov is wider did not fit (Tracr
    /// crashes; the port gave a typed error). Fixed: `key_size` = max over heads of
    /// max(W_qk widths, W_ov width).
    KeySizeFitsOv,
    /// A categorical-to-numerical Map wrote `f(x)` through one ReLU neuron, which clips negative
    /// values to 0. Fixed: two neurons carry `max(f(x), 0)` and `max(-f(x), 0)`, subtracted on output.
    CatToNumNegative,
    /// Needed for issue 25's fix to hold: the MLP of a Map with a numerical input has a bias (through
    /// `one`) and so writes a value at the BOS position too; an Aggregate that selects nothing
    /// attends to BOS and reads that value instead of None (or, numerical, instead of 0). Fixed:
    /// that MLP takes the negated `one` weights from `tokens:BOS`, so it writes nothing at BOS.
    BosSilentMaps,
}

impl TracrFix {
    /// Every fix, in the order the docs list them.
    pub const ALL: [TracrFix; 5] = [
        TracrFix::AggregateNoneDecodes,
        TracrFix::SelectorWidthSlope,
        TracrFix::KeySizeFitsOv,
        TracrFix::CatToNumNegative,
        TracrFix::BosSilentMaps,
    ];

    /// The name model files use.
    pub fn name(self) -> &'static str {
        match self {
            TracrFix::AggregateNoneDecodes => "aggregate_none_decodes",
            TracrFix::SelectorWidthSlope => "selector_width_slope",
            TracrFix::KeySizeFitsOv => "key_size_fits_ov",
            TracrFix::CatToNumNegative => "cat_to_num_negative",
            TracrFix::BosSilentMaps => "bos_silent_maps",
        }
    }

    /// The fix a model file names, if any.
    pub fn from_name(name: &str) -> Option<TracrFix> {
        TracrFix::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for TracrFix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// With [`TracrFix::AggregateNoneDecodes`], a categorical output row whose every direction is below
/// this decodes as `None`: a value is written as a one-hot 1 and None as all zeros, so 0.5 is the
/// midpoint between the two.
pub const NONE_DECODE_THRESHOLD: f64 = 0.5;

/// The step slope of a SelectorWidth's decoding MLP under [`TracrFix::SelectorWidthSlope`].
///
/// The MLP reads `x = 1/(w+1)` for widths `w` in `0..=max_seq_len`; the closest two points are
/// `1/max_seq_len` and `1/(max_seq_len+1)`, a gap `g = 1/(max_seq_len·(max_seq_len+1))`. Each step
/// rises from 0 to 1 over `1/L` just below its threshold, the midpoint between two points, so the
/// point below is read exactly only when `1/L ≤ g/2`. The slope `4/g` leaves half of that half-gap
/// free as a margin for the attention's softmax error; it never lowers the user's `mlp_exactness`.
pub fn selector_width_slope(mlp_exactness: f64, max_width: usize) -> f64 {
    let n = max_width.max(1) as f64;
    mlp_exactness.max(4.0 * n * (n + 1.0))
}

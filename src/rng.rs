//! The seeded PRNG, shared with the tracr crate (which uses it to rotate and perturb models).

pub use tracr::rng::{Rng, SplitMix64};

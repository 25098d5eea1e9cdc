//! The craft layer: named vector spaces and the transformer blocks built on them. Knows nothing of RASP.

pub mod bases;
pub mod blocks;
pub mod chamber;
pub mod json;
pub mod linear;

//! Edge Pruning circuit discovery on transformers, checked against compiled Tracr ground truth.

pub mod backend;
pub mod error;
pub mod extract;
pub mod masks;
pub mod objective;
pub mod rng;
pub mod train;

//! Edge Pruning circuit discovery on transformers, checked against compiled Tracr ground truth.

pub mod ablation;
pub mod atomic;
pub mod backend;
pub mod circuit;
pub mod cli;
pub mod compare;
pub mod compress;
pub mod error;
pub mod extract;
pub mod formats;
pub mod forward;
pub mod graph;
pub mod harder;
pub mod lm;
pub mod masks;
pub mod methods;
pub mod model;
pub mod objective;
pub mod pack;
pub mod refine;
pub mod report;
pub mod rng;
pub mod scores;
pub mod task;
pub mod train;
pub mod truth;

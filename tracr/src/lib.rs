//! A Rust port of DeepMind's Tracr: RASP programs evaluated and compiled to transformer weights.

pub mod craft;
pub mod error;
pub mod graph;
pub mod library;
pub mod model;
pub mod rasp;
pub mod value;

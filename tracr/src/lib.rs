//! A Rust port of DeepMind's Tracr: RASP programs evaluated and compiled to transformer weights.

pub mod craft;
pub mod error;
pub mod model;
pub mod value;

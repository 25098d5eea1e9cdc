//! A Rust port of DeepMind's Tracr: RASP programs evaluated and compiled to transformer weights.

pub mod allocate;
pub mod assemble;
pub mod basis;
pub mod cli;
pub mod compile;
pub mod craft;
pub mod describe;
pub mod error;
pub mod fixes;
pub mod formats;
pub mod graph;
pub mod io;
pub mod library;
pub mod lower;
pub mod model;
pub mod rasp;
pub mod rng;
pub mod size;
pub mod transform;
pub mod value;

pub use compile::{compile, CompileOptions};
pub use model::CompiledModel;

/// This crate's version (written into task packs' manifests).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

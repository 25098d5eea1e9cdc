//! The RASP language: expressions, Python-semantics functions, evaluation and Tracr's validation.

pub mod eval;
pub mod expr;
pub mod functions;
pub mod py_ops;
pub mod text;
pub mod validate;

pub use eval::{evaluate, evaluate_all, evaluate_selector, Evaluator, NodeValue};
pub use expr::*;
pub use functions::{Comparison, MapFn, Predicate, PredicateFn, SeqMapFn};
pub use py_ops::{PyError, PyResult};

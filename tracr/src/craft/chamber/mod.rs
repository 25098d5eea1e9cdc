//! Tracr's library of hand-built blocks: MLPs for Maps and SequenceMaps, attention for Aggregates, SelectorWidth.

pub mod categorical_attn;
pub mod categorical_mlp;
pub mod numerical_mlp;
pub mod selector_width;

use crate::value::Value;

/// A function of one RASP value; `None` where the Python function raises an ArithmeticError.
pub type ValueFn<'a> = &'a dyn Fn(&Value) -> Option<Value>;

//! What the pruning optimises: the output metric against the full model (the regulariser lives with the masks).

pub mod metric;

pub use metric::Metric;

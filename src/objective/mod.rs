//! What the pruning optimises: the output metric against the full model, plus the sparsity regulariser.

pub mod metric;
pub mod positions;
pub mod regulariser;

pub use metric::Metric;

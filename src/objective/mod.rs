//! The pruning objective: output metric plus sparsity regulariser.

pub mod regulariser;

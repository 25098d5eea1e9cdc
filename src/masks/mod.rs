//! Trainable masks: the hard-concrete distribution and Edge Pruning's grouping of log-alphas into tensors.

pub mod hard_concrete;
pub mod layout;

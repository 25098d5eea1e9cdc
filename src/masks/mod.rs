//! Trainable masks: the hard-concrete distribution, Edge Pruning's grouping of log-alphas into tensors,
//! and the trained parameters themselves.

pub mod hard_concrete;
pub mod layout;
pub mod parameters;
pub mod sampled;

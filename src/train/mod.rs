//! Training the masks: AdamW, the schedules, gradient clipping and the loop over a [`crate::backend::Backend`].

pub mod adamw;
pub mod clip;
pub mod config;
pub mod sampler;
pub mod schedule;
pub mod trainer;

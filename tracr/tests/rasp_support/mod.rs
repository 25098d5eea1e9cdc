//! Helpers shared by the RASP integration tests.
#![allow(dead_code)]

pub mod fixtures;

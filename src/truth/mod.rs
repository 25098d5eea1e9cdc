//! Ground-truth circuits of compiled programs: structural (from the weights) and functional (certified on data).

pub mod alternatives;
pub mod functional;
pub mod structural;

pub use alternatives::{
    equals_any, is_minimal, minimal_circuits, nearest, refine_by_swaps, smaller_known,
    MinimalCircuit, MinimalCircuits, SearchOptions,
};
pub use functional::{
    functional, functional_on, Certificate, CertifierSet, Difference, DifferenceReason,
    FunctionalTruth,
};
pub use structural::structural;

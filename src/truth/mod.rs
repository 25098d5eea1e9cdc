//! Ground-truth circuits of compiled programs: structural (from the weights) and functional (certified on data).

pub mod alternatives;
pub mod functional;
pub mod structural;

pub use alternatives::{
    equals_any, is_minimal, minimal_circuits, minimal_circuits_with, nearest, refine_by_swaps,
    smaller_known, MinimalCircuit, MinimalCircuits, SearchOptions,
};
pub use functional::{
    functional, functional_on, functional_on_with_progress, functional_with, Certificate,
    CertifierSet, Difference, DifferenceReason, EliminationProgress, FunctionalTruth,
};
pub use structural::structural;

//! Ground-truth circuits of compiled programs: structural (from the weights) and functional (certified on data).

pub mod functional;
pub mod structural;

pub use functional::{
    functional, functional_on, functional_on_with_progress, Certificate, Difference,
    DifferenceReason, EliminationProgress, FunctionalTruth,
};
pub use structural::structural;

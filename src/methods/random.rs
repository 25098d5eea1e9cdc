//! Random scores, the floor every method should beat: one uniform number in [0, 1) per edge from a seed.
//!
//! Its curve is the top-k of the scores; its operating point is the smallest faithful top-k
//! ([`smallest_faithful_top_k`]).

use std::time::Instant;

use serde_json::json;

use crate::error::Result;
use crate::graph::EdgeGraph;
use crate::methods::operating_point::smallest_faithful_top_k;
use crate::methods::{CircuitMethod, MethodInput, MethodOutput};
use crate::rng::Rng;

/// Seed of [`Random::default`].
pub const DEFAULT_SEED: u64 = 0;

/// Seeded uniform edge scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Random {
    /// The seed: equal seeds give equal scores on equal graphs.
    pub seed: u64,
}

impl Default for Random {
    fn default() -> Self {
        Self { seed: DEFAULT_SEED }
    }
}

impl Random {
    /// Random scores from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The scores of every edge of `graph`, in graph order.
    pub fn scores(&self, graph: &EdgeGraph) -> Vec<f64> {
        let mut rng = Rng::new(self.seed);
        (0..graph.num_edges()).map(|_| rng.uniform()).collect()
    }
}

impl CircuitMethod for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn run(&self, input: &MethodInput<'_>) -> Result<MethodOutput> {
        let started = Instant::now();
        let graph = EdgeGraph::for_model(&input.task.model);
        let scores = self.scores(&graph);
        let operating = smallest_faithful_top_k(input, &scores)?;
        Ok(MethodOutput {
            scores,
            circuit: operating.circuit,
            sweep: Vec::new(),
            forwards: operating.forwards,
            backwards: 0,
            seconds: started.elapsed().as_secs_f64(),
            settings: json!({
                "seed": self.seed,
                "operating_point": "smallest faithful top-k",
                "k": operating.k,
                "faithful": operating.faithful,
            }),
        })
    }
}

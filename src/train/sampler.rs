//! Batches drawn as HF's `RandomSampler` does: a fresh shuffle per epoch, consecutive chunks, last one short.

use crate::rng::Rng;

/// Hands out batches of example indices, reshuffling (Fisher–Yates, seeded) at each epoch start.
#[derive(Debug, Clone)]
pub struct EpochSampler {
    order: Vec<usize>,
    position: usize,
    rng: Rng,
}

impl EpochSampler {
    /// A sampler over `num_examples` examples whose shuffles come from `rng`.
    pub fn new(num_examples: usize, rng: Rng) -> Self {
        Self {
            order: (0..num_examples).collect(),
            position: num_examples,
            rng,
        }
    }

    /// The next batch of at most `batch_size` indices; the last batch of an epoch holds the remainder.
    pub fn next_batch(&mut self, batch_size: usize) -> &[usize] {
        if self.position >= self.order.len() {
            self.order.sort_unstable();
            for i in (1..self.order.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                self.order.swap(i, j);
            }
            self.position = 0;
        }
        let start = self.position;
        self.position = (start + batch_size).min(self.order.len());
        &self.order[start..self.position]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_permutation_with_a_short_last_batch() {
        // 27 reverse examples at batch 16: batches of 16 and 11, each epoch covering all 27 once.
        let mut sampler = EpochSampler::new(27, Rng::new(42));
        for epoch in 0..3 {
            let first = sampler.next_batch(16).to_vec();
            let second = sampler.next_batch(16).to_vec();
            assert_eq!((first.len(), second.len()), (16, 11), "epoch {epoch}");
            let mut all: Vec<usize> = first.into_iter().chain(second).collect();
            all.sort_unstable();
            assert_eq!(all, (0..27).collect::<Vec<_>>(), "epoch {epoch}");
        }
    }

    #[test]
    fn epochs_are_shuffled_differently() {
        let mut sampler = EpochSampler::new(256, Rng::new(1));
        let a = sampler.next_batch(256).to_vec();
        let b = sampler.next_batch(256).to_vec();
        assert_ne!(a, b, "two epochs gave the same order");
        assert_ne!(a, (0..256).collect::<Vec<_>>(), "first epoch unshuffled");
    }
}

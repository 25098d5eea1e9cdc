//! Random models, datasets and ablations for the property tests.

use ndarray::Array2;
use proptest::prelude::*;

use edgeprune::ablation::Ablation;
use edgeprune::model::{Activation, Transformer, TransformerShape};
use edgeprune::rng::Rng;

/// Which ablation a random setup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AblationKind {
    Zero,
    Interchange,
    Mean,
}

/// A random model shape, its seed, a dataset size and an ablation.
#[derive(Debug, Clone)]
pub struct Setup {
    pub shape: TransformerShape,
    pub seed: u64,
    pub seq_len: usize,
    pub examples: usize,
    pub ablation: AblationKind,
}

/// A built setup: the model, clean ids, corrupted ids and the ablation.
pub struct Built {
    pub model: Transformer,
    pub inputs: Array2<usize>,
    pub corrupted: Array2<usize>,
    pub ablation: Ablation,
}

impl Setup {
    /// Builds the model and data (BOS = id 0 at position 0; other tokens uniform).
    pub fn build(&self) -> Built {
        let model = Transformer::random(&self.shape, self.seed);
        let mut rng = Rng::new(self.seed ^ 0x5eed);
        let random_ids = |rng: &mut Rng| {
            Array2::from_shape_fn((self.examples, self.seq_len), |(_, s)| {
                if s == 0 {
                    0
                } else {
                    rng.below(self.shape.vocab_size as u64) as usize
                }
            })
        };
        let inputs = random_ids(&mut rng);
        let corrupted = random_ids(&mut rng);
        let ablation = match self.ablation {
            AblationKind::Zero => Ablation::Zero,
            AblationKind::Interchange => Ablation::Interchange {
                corrupted_ids: corrupted.clone(),
            },
            AblationKind::Mean => Ablation::Mean {
                ids: inputs.clone(),
            },
        };
        Built {
            model,
            inputs,
            corrupted,
            ablation,
        }
    }
}

/// Random shapes: several heads, LayerNorm on and off, causal or not, both readouts.
pub fn setup_strategy(activations: Vec<Activation>) -> impl Strategy<Value = Setup> {
    (
        (
            1usize..=7,
            1usize..=3,
            1usize..=3,
            1usize..=4,
            1usize..=4,
            1usize..=6,
            2usize..=5,
        ),
        (
            any::<bool>(),
            any::<bool>(),
            proptest::sample::select(activations),
            proptest::option::of(1usize..=4),
        ),
        (
            any::<u64>(),
            1usize..=4,
            1usize..=3,
            prop_oneof![
                Just(AblationKind::Zero),
                Just(AblationKind::Interchange),
                Just(AblationKind::Mean)
            ],
        ),
    )
        .prop_map(
            |(
                (d_model, num_layers, num_heads, key_size, value_size, mlp_hidden_size, vocab_size),
                (layer_norm, causal, activation, classes),
                (seed, seq_len, examples, ablation),
            )| Setup {
                shape: TransformerShape {
                    d_model,
                    num_layers,
                    num_heads,
                    key_size,
                    value_size,
                    mlp_hidden_size,
                    vocab_size,
                    max_positions: seq_len + 1,
                    layer_norm,
                    causal,
                    activation,
                    classes,
                },
                seed,
                seq_len,
                examples,
                ablation,
            },
        )
}

/// Proptest cases: `PROPTEST_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Masks uniform in [low, high) from a seed.
pub fn random_masks(count: usize, seed: u64, low: f64, high: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| rng.uniform_in(low, high)).collect()
}

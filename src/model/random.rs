//! Random transformers of a chosen shape, for property tests.

use ndarray::{Array1, Array2};

use super::{Activation, AttentionHead, Layer, LayerNorm, Mlp, Readout, Transformer};
use crate::rng::Rng;

/// Everything that fixes a transformer's shape; `Transformer::random` fills in the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerShape {
    /// Residual width.
    pub d_model: usize,
    /// Number of layers.
    pub num_layers: usize,
    /// Heads per layer.
    pub num_heads: usize,
    /// Query/key width per head.
    pub key_size: usize,
    /// Value width per head.
    pub value_size: usize,
    /// MLP hidden width.
    pub mlp_hidden_size: usize,
    /// Number of token ids.
    pub vocab_size: usize,
    /// Rows of the position embedding (longest sequence, BOS included).
    pub max_positions: usize,
    /// Pre-LN GPT-2 style LayerNorms (ln_1, ln_2, ln_f) when true; none when false (Tracr).
    pub layer_norm: bool,
    /// Causal attention.
    pub causal: bool,
    /// MLP non-linearity.
    pub activation: Activation,
    /// `Some(classes)` for a categorical readout, `None` for a numerical one (a random dimension).
    pub classes: Option<usize>,
}

impl Transformer {
    /// A transformer of the given shape with weights ~ N(0, 1/fan_in) and small non-zero biases,
    /// so activations stay of order one; the same seed gives the same model.
    pub fn random(shape: &TransformerShape, seed: u64) -> Transformer {
        let mut weights = RandomWeights(Rng::new(seed));
        let d = shape.d_model;
        let fan = |n: usize| 1.0 / (n.max(1) as f64).sqrt();
        let token_embedding = weights.matrix(shape.vocab_size, d, 1.0);
        let position_embedding = weights.matrix(shape.max_positions, d, 1.0);
        let mut layers = Vec::with_capacity(shape.num_layers);
        for _ in 0..shape.num_layers {
            let (key, value) = (shape.key_size, shape.value_size);
            let heads = (0..shape.num_heads)
                .map(|_| AttentionHead {
                    w_query: weights.matrix(d, key, fan(d)),
                    b_query: weights.vector(key, BIAS_STD),
                    w_key: weights.matrix(d, key, fan(d)),
                    b_key: weights.vector(key, BIAS_STD),
                    w_value: weights.matrix(d, value, fan(d)),
                    b_value: weights.vector(value, BIAS_STD),
                    w_output: weights.matrix(value, d, fan(value * shape.num_heads)),
                    b_output: weights.vector(d, BIAS_STD),
                })
                .collect();
            let hidden = shape.mlp_hidden_size;
            let mlp = Mlp {
                w_in: weights.matrix(d, hidden, fan(d)),
                b_in: weights.vector(hidden, BIAS_STD),
                w_out: weights.matrix(hidden, d, fan(hidden)),
                b_out: weights.vector(d, BIAS_STD),
            };
            let (ln_attention, ln_mlp) = if shape.layer_norm {
                (Some(weights.layer_norm(d)), Some(weights.layer_norm(d)))
            } else {
                (None, None)
            };
            layers.push(Layer {
                ln_attention,
                heads,
                ln_mlp,
                mlp,
            });
        }
        let ln_final = shape.layer_norm.then(|| weights.layer_norm(d));
        let readout = match shape.classes {
            Some(classes) => Readout::Categorical {
                unembedding: weights.matrix(d, classes, fan(d)),
            },
            None => Readout::Numerical {
                dimension: weights.0.below(d.max(1) as u64) as usize,
            },
        };
        Transformer {
            token_embedding,
            position_embedding,
            layers,
            ln_final,
            readout,
            attention_scale: 1.0 / (shape.key_size.max(1) as f64).sqrt(),
            causal: shape.causal,
            activation: shape.activation,
            residual_labels: None,
            bos_token_id: Some(0),
            residual_basis: super::ResidualBasis::Native,
        }
    }
}

/// Standard deviation of random biases: non-zero, so that their placement is tested, but small.
const BIAS_STD: f64 = 0.1;

/// Draws weights from one seeded stream.
struct RandomWeights(Rng);

impl RandomWeights {
    fn matrix(&mut self, rows: usize, cols: usize, std_dev: f64) -> Array2<f64> {
        Array2::from_shape_simple_fn((rows, cols), || self.0.normal_with(0.0, std_dev))
    }

    fn vector(&mut self, len: usize, std_dev: f64) -> Array1<f64> {
        Array1::from_shape_simple_fn(len, || self.0.normal_with(0.0, std_dev))
    }

    /// Gain near 1 and shift near 0, both perturbed so that LayerNorm's parameters matter.
    fn layer_norm(&mut self, d: usize) -> LayerNorm {
        LayerNorm {
            scale: self.vector(d, 0.1) + 1.0,
            shift: self.vector(d, 0.1),
            epsilon: 1e-5,
        }
    }
}

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
        let mut rng = Rng::new(seed);
        let d = shape.d_model;
        let mut matrix = |rows: usize, cols: usize, std_dev: f64| {
            Array2::from_shape_simple_fn((rows, cols), || rng.normal_with(0.0, std_dev))
        };
        let token_embedding = matrix(shape.vocab_size, d, 1.0);
        let position_embedding = matrix(shape.max_positions, d, 1.0);
        let fan = |n: usize| 1.0 / (n.max(1) as f64).sqrt();
        let mut layers = Vec::with_capacity(shape.num_layers);
        for _ in 0..shape.num_layers {
            let heads = (0..shape.num_heads)
                .map(|_| AttentionHead {
                    w_query: matrix(d, shape.key_size, fan(d)),
                    b_query: matrix(1, shape.key_size, 0.1)
                        .into_shape_with_order(shape.key_size)
                        .unwrap(),
                    w_key: matrix(d, shape.key_size, fan(d)),
                    b_key: matrix(1, shape.key_size, 0.1)
                        .into_shape_with_order(shape.key_size)
                        .unwrap(),
                    w_value: matrix(d, shape.value_size, fan(d)),
                    b_value: matrix(1, shape.value_size, 0.1)
                        .into_shape_with_order(shape.value_size)
                        .unwrap(),
                    w_output: matrix(shape.value_size, d, fan(shape.value_size * shape.num_heads)),
                    b_output: matrix(1, d, 0.1).into_shape_with_order(d).unwrap(),
                })
                .collect();
            let mlp = Mlp {
                w_in: matrix(d, shape.mlp_hidden_size, fan(d)),
                b_in: matrix(1, shape.mlp_hidden_size, 0.1)
                    .into_shape_with_order(shape.mlp_hidden_size)
                    .unwrap(),
                w_out: matrix(shape.mlp_hidden_size, d, fan(shape.mlp_hidden_size)),
                b_out: matrix(1, d, 0.1).into_shape_with_order(d).unwrap(),
            };
            let (ln_attention, ln_mlp) = if shape.layer_norm {
                (
                    Some(random_norm(&mut matrix, d)),
                    Some(random_norm(&mut matrix, d)),
                )
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
        let ln_final = shape.layer_norm.then(|| random_norm(&mut matrix, d));
        let readout = match shape.classes {
            Some(classes) => Readout::Categorical {
                unembedding: matrix(d, classes, fan(d)),
            },
            None => Readout::Numerical {
                dimension: (seed as usize).wrapping_mul(7919) % d.max(1),
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
        }
    }
}

fn random_norm(matrix: &mut impl FnMut(usize, usize, f64) -> Array2<f64>, d: usize) -> LayerNorm {
    let scale: Array1<f64> = matrix(1, d, 0.1).into_shape_with_order(d).unwrap() + 1.0;
    LayerNorm {
        scale,
        shift: matrix(1, d, 0.1).into_shape_with_order(d).unwrap(),
        epsilon: 1e-5,
    }
}

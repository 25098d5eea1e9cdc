//! Changes to a compiled model after compiling, each recorded in the model so it can be explained:
//! a rotation of the residual stream (exact), a general change of residual basis (what compression
//! trains), and Gaussian noise on the weights.

pub mod compress;
mod perturb;
mod rotate;

pub use perturb::{check_epsilon, perturb};
pub use rotate::{random_rotation, rotate};

use ndarray::{Array2, Axis};

use crate::model::{CompiledModel, ResidualMap, ResidualMapKind};

/// Maps the residual stream through `matrix` (`[d_model, d_new]`): the residual `r` becomes `r · matrix`.
///
/// Every writer (embeddings, attention output, MLP output, and their biases) is multiplied by `matrix`
/// on the right and every reader (query, key, value, MLP input) by `matrixᵀ` on the left, so each
/// reader sees `r · matrix · matrixᵀ`; the output is read through `matrixᵀ` too. Residual labels become
/// `{label_prefix}:i`; the compiled labels and the accumulated matrix are kept in
/// [`CompiledModel::residual_map`] (a second map composes with the first).
pub fn map_residual(
    model: &CompiledModel,
    matrix: &Array2<f64>,
    kind: ResidualMapKind,
    label_prefix: &str,
) -> CompiledModel {
    let d_new = matrix.ncols();
    let write = |w: &Array2<f64>| written(w, matrix);
    let read = |w: &Array2<f64>| read_through(matrix, w);
    let mut out = model.clone();
    out.token_embed = write(&model.token_embed);
    out.pos_embed = write(&model.pos_embed);
    for layer in &mut out.weights {
        let a = &mut layer.attn;
        a.query = read(&a.query);
        a.key = read(&a.key);
        a.value = read(&a.value);
        a.output = write(&a.output);
        a.output_bias = a.output_bias.dot(matrix);
        let m = &mut layer.mlp;
        m.hidden = read(&m.hidden);
        m.output = write(&m.output);
        m.output_bias = m.output_bias.dot(matrix);
    }
    out.config.d_model = d_new;
    out.residual_labels = (0..d_new).map(|i| format!("{label_prefix}:{i}")).collect();
    out.residual_map = Some(match &model.residual_map {
        Some(previous) => ResidualMap {
            // Two maps in a row: r → r·M1 → r·M1·M2. A compression after a rotation stays a compression.
            kind: match (&previous.kind, &kind) {
                (ResidualMapKind::Rotation { .. }, ResidualMapKind::Rotation { .. }) => kind,
                _ => ResidualMapKind::Compression,
            },
            matrix: previous.matrix.dot(matrix),
            compiled_labels: previous.compiled_labels.clone(),
        },
        None => ResidualMap {
            kind,
            matrix: matrix.clone(),
            compiled_labels: model.residual_labels.clone(),
        },
    });
    out
}

/// `w · matrix` for a writer `w` (`[rows, d]`), multiplying only through the dimensions `w` writes:
/// compiled writers touch a few dimensions, and the MLPs have thousands of rows (shuffle_dyck2), so
/// this keeps `--rotate` within a millisecond. Skipped terms are exact zeros: the result is the same.
fn written(w: &Array2<f64>, matrix: &Array2<f64>) -> Array2<f64> {
    let used: Vec<usize> = (0..w.ncols())
        .filter(|&j| w.column(j).iter().any(|&x| x != 0.0))
        .collect();
    w.select(Axis(1), &used).dot(&matrix.select(Axis(0), &used))
}

/// `matrixᵀ · w` for a reader `w` (`[d, cols]`), through the dimensions `w` reads only (as [`written`]).
fn read_through(matrix: &Array2<f64>, w: &Array2<f64>) -> Array2<f64> {
    let used: Vec<usize> = (0..w.nrows())
        .filter(|&i| w.row(i).iter().any(|&x| x != 0.0))
        .collect();
    matrix
        .select(Axis(0), &used)
        .t()
        .dot(&w.select(Axis(0), &used))
}

/// The post-compile transforms `tracr compile` offers, applied in a fixed order: noise, compression,
/// rotation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransformOptions {
    /// Rotate the residual stream with this seed.
    pub rotate: Option<u64>,
    /// Add noise of this relative size, with the seed.
    pub perturb: Option<(f64, u64)>,
    /// Compress the residual stream (Tracr's compressed residual, trained).
    pub compress: Option<CompressRequest>,
}

impl TransformOptions {
    /// Errors on settings that cannot apply to `model` (a noise size, compression budget or width
    /// out of range), before any work; [`apply_reporting`] calls it first.
    pub fn check(&self, model: &CompiledModel) -> crate::error::Result<()> {
        if let Some((epsilon, _)) = self.perturb {
            check_epsilon(epsilon)?;
        }
        if let Some(request) = &self.compress {
            request.options.validate()?;
            if let Some(dims) = request.dims {
                compress::check_dims(model, dims)?;
            }
        }
        Ok(())
    }
}

/// A compression `tracr compile` trains: on every input of max_seq_len tokens (the data of
/// `edgeprune`'s tasks, on which the ground truth is certified), or of every length from 1 to
/// max_seq_len; seed 0 draws a sample of [`compress::MAX_ENUMERATED`] of one length when it has more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressRequest {
    /// The width D; `None` searches the smallest width whose compression decodes every input as the
    /// uncompressed model does ([`compress::smallest_exact_compression`]).
    pub dims: Option<usize>,
    /// The training budget and `W`'s seed.
    pub options: compress::CompressOptions,
    /// Train on every length from 1 to max_seq_len, not only on max_seq_len.
    pub all_lengths: bool,
}

/// What a compression in [`apply_reporting`] did.
#[derive(Debug, Clone)]
pub struct CompressionOutcome {
    /// The residual width before compressing.
    pub d_model: usize,
    /// The compressed width.
    pub dims: usize,
    /// Adam steps of the kept training.
    pub steps: usize,
    /// Final loss of the kept training.
    pub loss: f64,
    /// Wall seconds of every training run (the search's included).
    pub seconds: f64,
    /// The token ids trained and scored on (BOS first): one `[N, S]` block per length, 1 to max_seq_len.
    pub inputs: Vec<Array2<usize>>,
    /// Share of all `inputs` rows the compressed model decodes as the uncompressed one does.
    pub agreement: f64,
    /// When trained on max_seq_len only: the same share on every shorter input (lengths 1 to
    /// max_seq_len - 1), which training never saw; `None` when those were trained on or are none.
    pub shorter_agreement: Option<f64>,
    /// Every width trained: (width, agreement, seconds), in order.
    pub tried: Vec<(usize, f64, f64)>,
}

/// Applies `options` to a compiled model: noise first (relative to the compiled weights), then the
/// compression (trained towards the noisy model), then the rotation (so a rotated model computes
/// exactly what the unrotated one does).
pub fn apply(
    model: CompiledModel,
    options: &TransformOptions,
) -> crate::error::Result<CompiledModel> {
    Ok(apply_reporting(model, options, &mut |_, _, _| {})?.0)
}

/// Like [`apply`], also returning what the compression did; `on_try` sees every width as it is
/// trained (width, agreement, seconds). Bad settings fail before any work.
pub fn apply_reporting(
    model: CompiledModel,
    options: &TransformOptions,
    on_try: &mut dyn FnMut(usize, f64, f64),
) -> crate::error::Result<(CompiledModel, Option<CompressionOutcome>)> {
    options.check(&model)?;
    let mut model = model;
    if let Some((epsilon, seed)) = options.perturb {
        model = perturb(&model, epsilon, seed)?;
    }
    let mut outcome = None;
    if let Some(request) = &options.compress {
        let (compressed, report) = compress_model(&model, request, on_try)?;
        model = compressed;
        outcome = Some(report);
    }
    if let Some(seed) = options.rotate {
        model = rotate(&model, seed)?;
    }
    Ok((model, outcome))
}

fn compress_model(
    model: &CompiledModel,
    request: &CompressRequest,
    on_try: &mut dyn FnMut(usize, f64, f64),
) -> crate::error::Result<(CompiledModel, CompressionOutcome)> {
    let longest = model.input_encoding.max_seq_len_with_bos.saturating_sub(1);
    let blocks = |lengths: std::ops::RangeInclusive<usize>| -> crate::error::Result<_> {
        let inputs = lengths
            .map(|length| compress::task_inputs(model, length, 0))
            .collect::<crate::error::Result<Vec<_>>>()?;
        let own = inputs
            .iter()
            .map(|block| compress::decodings(model, block))
            .collect::<crate::error::Result<Vec<_>>>()?;
        Ok((inputs, own))
    };
    let first = if request.all_lengths { 1 } else { longest };
    let (inputs, own) = blocks(first..=longest)?;
    let mut tried = Vec::new();
    let mut record = |dims: usize, agreement: f64, seconds: f64| {
        tried.push((dims, agreement, seconds));
        on_try(dims, agreement, seconds);
    };
    let (dims, compressed) = match request.dims {
        Some(dims) => {
            let c = compress::compress(model, &inputs, dims, &request.options)?;
            record(
                dims,
                compress::pooled_accuracy(&c.model, &inputs, &own)?,
                c.seconds,
            );
            (dims, c)
        }
        None => {
            match compress::smallest_exact_compression(
                model,
                &inputs,
                &own,
                &request.options,
                &mut record,
            )? {
                Some(found) => found,
                None => {
                    return Err(crate::error::Error::InvalidOption {
                        option: "--compress auto",
                        message: format!(
                            "no width below d_model {} decodes all {} inputs as the compiled model \
                             does within {} training steps; give a width (--compress D) to get the \
                             best compression at it anyway, or raise --compress-steps",
                            model.config.d_model,
                            inputs.iter().map(Array2::nrows).sum::<usize>(),
                            request.options.steps
                        ),
                    })
                }
            }
        }
    };
    let agreement = compress::pooled_accuracy(&compressed.model, &inputs, &own)?;
    let shorter_agreement = match first {
        1 => None,
        _ => {
            let (shorter, own) = blocks(1..=first - 1)?;
            Some(compress::pooled_accuracy(
                &compressed.model,
                &shorter,
                &own,
            )?)
        }
    };
    let outcome = CompressionOutcome {
        d_model: model.config.d_model,
        dims,
        steps: compressed.steps,
        loss: compressed.loss,
        seconds: tried.iter().map(|t| t.2).sum(),
        inputs,
        agreement,
        shorter_agreement,
        tried,
    };
    Ok((compressed.model, outcome))
}

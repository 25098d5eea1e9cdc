//! Harder ground truth: each library program as compiled (aligned), rotated, compressed and perturbed,
//! with its truth re-certified on the transformed model and Edge Pruning scored against it. Behind
//! `edgeprune compress` and `edgeprune harder-truth` (which writes docs/harder-truth.md).

use ndarray::Array2;
use serde_json::{json, Value as Json};
use tracr::library::LibProgram;
use tracr::model::CompiledModel;
use tracr::rasp::eval::Evaluator;
use tracr::value::Value;

use crate::ablation::Ablation;
use crate::circuit::Circuit;
use crate::compare::run::compare;
use crate::compress::{
    compress, decoded_accuracy, smallest_exact_compression, CompressOptions, Compressed,
};
use crate::error::Result;
use crate::graph::EdgeGraph;
use crate::task::Task;
use crate::truth::alternatives::SearchOptions;
use crate::truth::{functional, structural};

/// Compiles a library program at its registry settings.
pub fn compile_library(program: &LibProgram) -> Result<CompiledModel> {
    Ok(program.compile()?)
}

/// The RASP evaluator's output (no BOS) on every `[N, S]` input row of `task` (BOS first).
pub fn rasp_outputs(program: &LibProgram, task: &Task) -> Result<Vec<Vec<Value>>> {
    let evaluator = Evaluator::new(program.causal);
    let by_text: Vec<(String, Value)> = program
        .vocab
        .iter()
        .map(|v| (v.py_str(), v.clone()))
        .collect();
    task.clean
        .rows()
        .into_iter()
        .map(|row| {
            let input: Vec<Value> = row
                .iter()
                .skip(1)
                .map(|&id| {
                    let text = task.vocabulary.text(id);
                    by_text
                        .iter()
                        .find(|(t, _)| *t == text)
                        .map_or(Value::Str(text.to_string()), |(_, v)| v.clone())
                })
                .collect();
            Ok(evaluator.evaluate(&program.program, &input)?)
        })
        .collect()
}

/// One program's compression: the width, time, accuracies and how the functional truth moved.
#[derive(Debug, Clone)]
pub struct CompressionReport {
    /// The compiled residual width.
    pub d_model: usize,
    /// The compressed width.
    pub dims: usize,
    /// Whether `dims` was searched (the smallest with 100 % accuracy) rather than given.
    pub searched: bool,
    /// Training time at `dims`, seconds.
    pub seconds: f64,
    /// Final training loss.
    pub loss: f64,
    /// Decoded accuracy of the compiled model (all non-BOS positions right, per input).
    pub compiled_accuracy: f64,
    /// Decoded accuracy of the compressed model.
    pub accuracy: f64,
    /// Functional truth (zero ablation, from the structural circuit) of the compiled model.
    pub compiled_truth: Vec<String>,
    /// Functional truth of the compressed model (from every edge: no structural truth applies).
    pub truth: Vec<String>,
    /// In the compressed truth only.
    pub gained: Vec<String>,
    /// In the compiled truth only.
    pub lost: Vec<String>,
    /// The compressed model.
    pub model: CompiledModel,
}

impl CompressionReport {
    /// The report as JSON (without the model).
    pub fn to_json(&self) -> Json {
        json!({
            "d_model": self.d_model,
            "dims": self.dims,
            "searched": self.searched,
            "seconds": self.seconds,
            "loss": self.loss,
            "compiled_accuracy": self.compiled_accuracy,
            "accuracy": self.accuracy,
            "compiled_truth": self.compiled_truth,
            "truth": self.truth,
            "gained": self.gained,
            "lost": self.lost,
        })
    }
}

fn task_of(name: &str, model: &CompiledModel, length: usize) -> Result<Task> {
    Task::from_tracr_model(name, &model.to_json(), length, 0)
}

fn truth_names(task: &Task) -> Result<(Circuit, Vec<String>)> {
    let truth = functional(task, &Ablation::Zero, &structural(&task.model))?.circuit;
    let graph = EdgeGraph::for_model(&task.model);
    let names = truth
        .kept_edge_names(&graph)
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok((truth, names))
}

/// Compresses `model` on all inputs of `length`, judged against `expected` (one output per input, no
/// BOS): to `dims` when given, else to the smallest width with 100 % decoded accuracy
/// ([`smallest_exact_compression`]); `None` when no width below d_model reaches it. `on_try` sees every
/// width tried (width, accuracy, seconds).
pub fn compress_and_certify(
    name: &str,
    model: &CompiledModel,
    length: usize,
    expected: Option<&[Vec<Value>]>,
    dims: Option<usize>,
    options: &CompressOptions,
    on_try: &mut dyn FnMut(usize, f64, f64),
) -> Result<Option<CompressionReport>> {
    let task = task_of(name, model, length)?;
    let inputs: Array2<usize> = task.clean.clone();
    // Without a program, the compiled model's own decoding is the reference.
    let own: Vec<Vec<Value>>;
    let expected = match expected {
        Some(e) => e,
        None => {
            own = decodings(model, &inputs)?;
            &own
        }
    };
    let compiled_accuracy = decoded_accuracy(model, &inputs, expected)?;
    let (dims, compressed, searched): (usize, Compressed, bool) = match dims {
        Some(d) => {
            let c = compress(model, &inputs, d, options)?;
            on_try(d, decoded_accuracy(&c.model, &inputs, expected)?, c.seconds);
            (d, c, false)
        }
        None => match smallest_exact_compression(model, &inputs, expected, options, on_try)? {
            Some((d, c)) => (d, c, true),
            None => return Ok(None),
        },
    };
    let accuracy = decoded_accuracy(&compressed.model, &inputs, expected)?;
    let (_, compiled_truth) = truth_names(&task)?;
    let (_, truth) = truth_names(&task_of(name, &compressed.model, length)?)?;
    let gained = truth
        .iter()
        .filter(|e| !compiled_truth.contains(e))
        .cloned()
        .collect();
    let lost = compiled_truth
        .iter()
        .filter(|e| !truth.contains(e))
        .cloned()
        .collect();
    Ok(Some(CompressionReport {
        d_model: model.config.d_model,
        dims,
        searched,
        seconds: compressed.seconds,
        loss: compressed.loss,
        compiled_accuracy,
        accuracy,
        compiled_truth,
        truth,
        gained,
        lost,
        model: compressed.model,
    }))
}

/// The model's own decoding (no BOS) of every input row.
pub fn decodings(model: &CompiledModel, inputs: &Array2<usize>) -> Result<Vec<Vec<Value>>> {
    let mut by_id = vec![Value::None; model.input_encoding.map.len()];
    for (value, id) in &model.input_encoding.map {
        by_id[*id] = value.clone();
    }
    inputs
        .rows()
        .into_iter()
        .map(|row| {
            let tokens: Vec<Value> = row.iter().map(|&id| by_id[id].clone()).collect();
            Ok(model.apply(&tokens)?.decoded[1..].to_vec())
        })
        .collect()
}

/// One row of docs/harder-truth.md: one program in one form.
#[derive(Debug, Clone)]
pub struct VariantRow {
    /// The library program.
    pub program: String,
    /// `aligned`, `rotated (seed S)`, `compressed (D of d)`, `perturbed (eps E)`.
    pub variant: String,
    /// Decoded accuracy against the RASP evaluator.
    pub accuracy: f64,
    /// Size of the smallest known minimal circuit (the re-certified truth).
    pub truth_edges: usize,
    /// Whether the list of minimal circuits is complete.
    pub truth_complete: bool,
    /// Edge Pruning's circuit equals a known minimal circuit.
    pub ep_exact: bool,
    /// Edge Pruning's F1 against the nearest minimal circuit.
    pub ep_f1: Option<f64>,
    /// Edge Pruning's ROC AUC against it.
    pub ep_auc: Option<f64>,
    /// Edge Pruning's circuit size.
    pub ep_edges: usize,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Settings of the harder-truth table.
#[derive(Debug, Clone)]
pub struct HarderOptions {
    /// Rotation seed.
    pub rotate_seed: u64,
    /// Relative noise of the perturbed form, and its seed.
    pub perturb: (f64, u64),
    /// Compression training budget.
    pub compress: CompressOptions,
    /// Edge Pruning's seed.
    pub ep_seed: u64,
}

impl Default for HarderOptions {
    /// Rotation seed 1, noise 1e-3 with seed 0, the default compression budget, Edge Pruning seed 0.
    fn default() -> Self {
        Self {
            rotate_seed: 1,
            perturb: (1e-3, 0),
            compress: CompressOptions::default(),
            ep_seed: 0,
        }
    }
}

/// The four rows of one program (aligned, rotated, compressed at its searched width, perturbed).
pub fn program_rows(
    program: &LibProgram,
    options: &HarderOptions,
    on_stage: &mut dyn FnMut(&str),
) -> Result<(Vec<VariantRow>, Option<CompressionReport>)> {
    let compiled = compile_library(program)?;
    let length = program.max_seq_len;
    let aligned_task = task_of(program.name, &compiled, length)?;
    let expected = rasp_outputs(program, &aligned_task)?;
    let mut variants: Vec<(String, CompiledModel)> = vec![
        ("aligned".into(), compiled.clone()),
        (
            format!("rotated (seed {})", options.rotate_seed),
            tracr::transform::rotate(&compiled, options.rotate_seed)?,
        ),
    ];
    on_stage("compress");
    let compression = compress_and_certify(
        program.name,
        &compiled,
        length,
        Some(&expected),
        None,
        &options.compress,
        &mut |dims, accuracy, seconds| {
            on_stage(&format!(
                "compress: D = {dims} accuracy {accuracy:.3} ({seconds:.0} s)"
            ))
        },
    )?;
    if let Some(c) = &compression {
        variants.push((
            format!("compressed ({} of {})", c.dims, c.d_model),
            c.model.clone(),
        ));
    }
    let (epsilon, seed) = options.perturb;
    variants.push((
        format!("perturbed (eps {epsilon})"),
        tracr::transform::perturb(&compiled, epsilon, seed)?,
    ));
    let mut rows = Vec::new();
    for (variant, model) in variants {
        on_stage(&variant);
        rows.push(variant_row(program, &variant, &model, &expected, options)?);
    }
    if compression.is_none() {
        rows.insert(
            2,
            VariantRow {
                program: program.name.to_string(),
                variant: "compressed".into(),
                accuracy: 0.0,
                truth_edges: 0,
                truth_complete: false,
                ep_exact: false,
                ep_f1: None,
                ep_auc: None,
                ep_edges: 0,
                error: Some("no width below d_model reached 100 % within the budget".into()),
            },
        );
    }
    Ok((rows, compression))
}

fn variant_row(
    program: &LibProgram,
    variant: &str,
    model: &CompiledModel,
    expected: &[Vec<Value>],
    options: &HarderOptions,
) -> Result<VariantRow> {
    let task = task_of(program.name, model, program.max_seq_len)?;
    let accuracy = decoded_accuracy(model, &task.clean, expected)?;
    let methods = vec![crate::methods::by_name("ep", options.ep_seed)?];
    let comparison = compare(
        &task,
        &Ablation::Zero,
        json!({}),
        &methods,
        &SearchOptions::default(),
        |_| {},
    )?;
    let ep = &comparison.methods[0];
    Ok(VariantRow {
        program: program.name.to_string(),
        variant: variant.to_string(),
        accuracy,
        truth_edges: comparison
            .truth
            .minimal_circuits
            .get(comparison.truth.smallest)
            .map_or(0, Vec::len),
        truth_complete: comparison.truth.complete,
        ep_exact: ep.exact,
        ep_f1: ep.f1,
        ep_auc: ep.auc,
        ep_edges: ep.num_edges,
        error: ep.error.clone(),
    })
}

/// docs/harder-truth.md: the table, the compressions, and how the file was made.
pub fn render_markdown(
    rows: &[VariantRow],
    compressions: &[(String, Option<CompressionReport>)],
    options: &HarderOptions,
    command: &str,
    seconds: f64,
) -> String {
    let mut out =
        String::from("# Harder ground truth: aligned, rotated, compressed, perturbed\n\n");
    out.push_str(&format!(
        "Generated by `{command}` ({seconds:.0} s on this machine); do not edit by hand.\n\n\
         Every row re-certifies the truth on the model it describes (zero ablation, all inputs of \
         length max_seq_len): **truth** is the smallest known minimal circuit's size (`*`: the list \
         of minimal circuits is complete). **accuracy**: inputs whose every non-BOS position decodes \
         as the RASP evaluator says. Edge Pruning: default preset, seed {}, no refinement, scored as \
         `edgeprune compare` scores it (exact = equals a known minimal circuit; F1 and AUC against \
         the nearest). Rotation seed {}; noise {} x each weight tensor's RMS (seed {}); compression \
         budget: at most {} full-batch Adam steps (stopping early once the compressed model decodes every \
         input as the compiled one does), lr {} decaying along a cosine to {}, residual-MSE weight {}, \
         output-loss weight {}, f64 with hand-derived gradients, W initialised as a random \
         projection (seed {}); width = the smallest with 100 % accuracy by bisection from d_model - 1 \
         (a program where even d_model - 1 misses 100 % is listed as such). A numerical output counts \
         as right within {} + {} x |value| (the programs' numerical outputs are fractions with \
         denominators <= 5 or small integers, at least 1/20 apart).\n\n",
        options.ep_seed,
        options.rotate_seed,
        options.perturb.0,
        options.perturb.1,
        options.compress.steps,
        options.compress.learning_rate,
        options.compress.final_learning_rate,
        options.compress.residual_weight,
        options.compress.output_weight,
        options.compress.seed,
        crate::compress::NUMERIC_ATOL,
        crate::compress::NUMERIC_RTOL,
    ));
    out.push_str("| program | form | accuracy | truth | EP edges | EP exact | EP F1 | EP AUC |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    let opt =
        |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    for r in rows {
        if let Some(error) = &r.error {
            out.push_str(&format!(
                "| {} | {} | - | - | - | - | - | {} |\n",
                r.program, r.variant, error
            ));
            continue;
        }
        out.push_str(&format!(
            "| {} | {} | {:.3} | {}{} | {} | {} | {} | {} |\n",
            r.program,
            r.variant,
            r.accuracy,
            r.truth_edges,
            if r.truth_complete { "*" } else { "" },
            r.ep_edges,
            if r.ep_exact { "yes" } else { "no" },
            opt(r.ep_f1, 2),
            opt(r.ep_auc, 3),
        ));
    }
    out.push_str("\n## Compressions\n\n");
    out.push_str("| program | D of d_model | training s | accuracy (compiled) | accuracy (compressed) | functional truth compiled -> compressed | gained | lost |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for (name, c) in compressions {
        match c {
            Some(c) => out.push_str(&format!(
                "| {name} | {} of {} | {:.1} | {:.3} | {:.3} | {} -> {} | {} | {} |\n",
                c.dims,
                c.d_model,
                c.seconds,
                c.compiled_accuracy,
                c.accuracy,
                c.compiled_truth.len(),
                c.truth.len(),
                list(&c.gained),
                list(&c.lost),
            )),
            None => out.push_str(&format!(
                "| {name} | none below d_model reached 100 % | - | - | - | - | - | - |\n"
            )),
        }
    }
    out
}

fn list(edges: &[String]) -> String {
    if edges.is_empty() {
        "-".into()
    } else {
        edges.join(", ")
    }
}

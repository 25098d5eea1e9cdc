//! Harder ground truth: each library program as compiled (aligned), rotated, compressed and perturbed,
//! with its truth re-certified on the transformed model and the circuit methods of `edgeprune compare`
//! scored against it. Behind `edgeprune compress` and `edgeprune harder-truth` (which writes
//! docs/harder-truth.md).

use ndarray::Array2;
use serde_json::{json, Value as Json};
use tracr::library::LibProgram;
use tracr::model::CompiledModel;
use tracr::rasp::eval::Evaluator;
use tracr::value::Value;

use crate::ablation::Ablation;
use crate::circuit::Circuit;
use crate::compare::run::compare;
pub use crate::compress::decodings;
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
    /// Decoded accuracy of the compiled model against the RASP evaluator (all non-BOS positions
    /// right, per input); 1 when there is no program to evaluate.
    pub compiled_accuracy: f64,
    /// Decoded accuracy of the compressed model against the RASP evaluator (against the compiled
    /// model when there is no program).
    pub accuracy: f64,
    /// Share of inputs the compressed model decodes as the compiled model does: the search's target
    /// (1 at a searched width), since a compiled model that is itself wrong makes 100 % against
    /// RASP unreachable.
    pub agreement: f64,
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
            "agreement": self.agreement,
            "compiled_truth": self.compiled_truth,
            "truth": self.truth,
            "gained": self.gained,
            "lost": self.lost,
        })
    }
}

fn task_of(name: &str, model: &CompiledModel, length: usize) -> Result<Task> {
    Task::from_compiled(name, model, length, 0)
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

/// Compresses `model` on all inputs of `length`: to `dims` when given, else to the smallest width
/// whose compression decodes every input as the compiled model does ([`smallest_exact_compression`]
/// against the model's own decodings; the same criterion as training's early stop); `None` when no
/// width below d_model reaches it. Accuracies are reported against `rasp` (one output per input, no
/// BOS) when given, and the agreement with the compiled model separately. `on_try` sees every width
/// tried (width, agreement with the compiled model, seconds).
pub fn compress_and_certify(
    name: &str,
    model: &CompiledModel,
    length: usize,
    rasp: Option<&[Vec<Value>]>,
    dims: Option<usize>,
    options: &CompressOptions,
    on_try: &mut dyn FnMut(usize, f64, f64),
) -> Result<Option<CompressionReport>> {
    let task = task_of(name, model, length)?;
    let inputs: Array2<usize> = task.clean.clone();
    let own = decodings(model, &inputs)?;
    let compiled_accuracy = match rasp {
        Some(rasp) => decoded_accuracy(model, &inputs, rasp)?,
        None => 1.0,
    };
    let (dims, compressed, searched): (usize, Compressed, bool) = match dims {
        Some(d) => {
            let c = compress(model, std::slice::from_ref(&inputs), d, options)?;
            on_try(d, decoded_accuracy(&c.model, &inputs, &own)?, c.seconds);
            (d, c, false)
        }
        None => match smallest_exact_compression(
            model,
            std::slice::from_ref(&inputs),
            std::slice::from_ref(&own),
            options,
            on_try,
        )? {
            Some((d, c)) => (d, c, true),
            None => return Ok(None),
        },
    };
    let agreement = decoded_accuracy(&compressed.model, &inputs, &own)?;
    let accuracy = match rasp {
        Some(rasp) => decoded_accuracy(&compressed.model, &inputs, rasp)?,
        None => agreement,
    };
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
        agreement,
        compiled_truth,
        truth,
        gained,
        lost,
        model: compressed.model,
    }))
}

/// One method's result on one program in one form, scored as `edgeprune compare` scores it.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCell {
    /// The method's name (`ep`, `acdc`, …).
    pub method: String,
    /// Why it failed, when it did (a failure is a result, reported as such).
    pub error: Option<String>,
    /// Its circuit's size.
    pub edges: usize,
    /// Its circuit equals a known minimal circuit.
    pub exact: bool,
    /// F1 against the nearest known minimal circuit.
    pub f1: Option<f64>,
    /// ROC AUC against it.
    pub auc: Option<f64>,
    /// Wall time of the method itself, seconds.
    pub seconds: f64,
}

/// One row of docs/harder-truth.md: one program in one form, every method's result.
#[derive(Debug, Clone)]
pub struct VariantRow {
    /// The library program.
    pub program: String,
    /// The form: `aligned`, `rotated`, `compressed` or `perturbed` (the key of the summary).
    pub form: &'static str,
    /// The form with its setting: `aligned`, `rotated (seed S)`, `compressed (D of d)`,
    /// `perturbed (eps E)`.
    pub variant: String,
    /// Decoded accuracy against the RASP evaluator.
    pub accuracy: f64,
    /// Size of the smallest known minimal circuit (the re-certified truth).
    pub truth_edges: usize,
    /// Whether the list of minimal circuits is complete.
    pub truth_complete: bool,
    /// One cell per method, in the order asked for (empty when the form has no model).
    pub methods: Vec<MethodCell>,
    /// Why the form has no model (a compression that reached no width), if so.
    pub error: Option<String>,
}

/// The forms of each program, in table order.
pub const FORMS: [&str; 4] = ["aligned", "rotated", "compressed", "perturbed"];

/// The methods `edgeprune harder-truth` runs unless told otherwise: every one `edgeprune compare`
/// knows.
pub const DEFAULT_METHODS: [&str; 7] = crate::methods::METHOD_NAMES;

/// Settings of the harder-truth table.
#[derive(Debug, Clone)]
pub struct HarderOptions {
    /// Rotation seed.
    pub rotate_seed: u64,
    /// Relative noise of the perturbed form, and its seed.
    pub perturb: (f64, u64),
    /// Compression training budget.
    pub compress: CompressOptions,
    /// Methods to run on every form (names [`crate::methods::by_name`] accepts), in column order.
    pub methods: Vec<String>,
    /// Seed of the stochastic methods (Edge Pruning, subnetwork probing, random).
    pub method_seed: u64,
    /// Seconds each ACDC sweep may take before it fails with a time-limit error (reported as a
    /// failed run); `None`: no limit.
    pub acdc_time_limit: Option<f64>,
}

impl Default for HarderOptions {
    /// Rotation seed 1, noise 1e-3 with seed 0, the default compression budget, every method with
    /// seed 0, no time limit.
    fn default() -> Self {
        Self {
            rotate_seed: 1,
            perturb: (1e-3, 0),
            compress: CompressOptions::default(),
            methods: DEFAULT_METHODS.iter().map(|m| m.to_string()).collect(),
            method_seed: 0,
            acdc_time_limit: None,
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
    let mut variants: Vec<(&'static str, String, CompiledModel)> = vec![
        ("aligned", "aligned".into(), compiled.clone()),
        (
            "rotated",
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
        &mut |dims, agreement, seconds| {
            on_stage(&format!(
                "compress: D = {dims} agrees with the compiled model on {agreement:.3} ({seconds:.0} s)"
            ))
        },
    )?;
    if let Some(c) = &compression {
        variants.push((
            "compressed",
            format!("compressed ({} of {})", c.dims, c.d_model),
            c.model.clone(),
        ));
    }
    let (epsilon, seed) = options.perturb;
    variants.push((
        "perturbed",
        format!("perturbed (eps {epsilon})"),
        tracr::transform::perturb(&compiled, epsilon, seed)?,
    ));
    let mut rows = Vec::new();
    for (form, variant, model) in variants {
        let mut on_method = |method: &str| on_stage(&format!("{variant}: {method}"));
        rows.push(variant_row(
            program,
            form,
            &variant,
            &model,
            &expected,
            options,
            &mut on_method,
        )?);
    }
    if compression.is_none() {
        rows.insert(
            2,
            VariantRow {
                program: program.name.to_string(),
                form: "compressed",
                variant: "compressed".into(),
                accuracy: 0.0,
                truth_edges: 0,
                truth_complete: false,
                methods: Vec::new(),
                error: Some(
                    "no width below d_model decoded every input as the compiled model within the budget"
                        .into(),
                ),
            },
        );
    }
    Ok((rows, compression))
}

fn variant_row(
    program: &LibProgram,
    form: &'static str,
    variant: &str,
    model: &CompiledModel,
    expected: &[Vec<Value>],
    options: &HarderOptions,
    on_method: &mut dyn FnMut(&str),
) -> Result<VariantRow> {
    let task = task_of(program.name, model, program.max_seq_len)?;
    let accuracy = decoded_accuracy(model, &task.clean, expected)?;
    let methods = options
        .methods
        .iter()
        .map(|name| match (name.as_str(), options.acdc_time_limit) {
            ("acdc", Some(seconds)) => crate::methods::acdc::Acdc::new()
                .with_time_limit(seconds)
                .map(|m| Box::new(m) as Box<dyn crate::methods::CircuitMethod>),
            _ => crate::methods::by_name(name, options.method_seed),
        })
        .collect::<Result<Vec<_>>>()?;
    // The same truth search, runs and scoring as `edgeprune compare` (a failing method is a
    // reported cell, not an error).
    let comparison = compare(
        &task,
        &Ablation::Zero,
        json!({}),
        &methods,
        &SearchOptions::default(),
        on_method,
    )?;
    Ok(VariantRow {
        program: program.name.to_string(),
        form,
        variant: variant.to_string(),
        accuracy,
        truth_edges: comparison
            .truth
            .minimal_circuits
            .get(comparison.truth.smallest)
            .map_or(0, Vec::len),
        truth_complete: comparison.truth.complete,
        methods: comparison
            .methods
            .iter()
            .map(|m| MethodCell {
                method: m.name.clone(),
                error: m.error.clone(),
                edges: m.num_edges,
                exact: m.exact,
                f1: m.f1,
                auc: m.auc,
                seconds: m.seconds,
            })
            .collect(),
        error: None,
    })
}

/// One line of the summary: a method on every program in one form.
#[derive(Debug, Clone, PartialEq)]
pub struct FormSummary {
    /// The method.
    pub method: String,
    /// The form (one of [`FORMS`]).
    pub form: &'static str,
    /// Models it ran on (a compression that reached no width gives none).
    pub runs: usize,
    /// Runs that failed with an error.
    pub failed: usize,
    /// Runs whose circuit equals a known minimal circuit.
    pub exact: usize,
    /// Mean F1 over the runs that have one.
    pub mean_f1: Option<f64>,
    /// Mean AUC over the runs that have one.
    pub mean_auc: Option<f64>,
    /// Its total wall time, seconds.
    pub seconds: f64,
}

/// Per method (in `methods` order) and form (in [`FORMS`] order): the counts and means of `rows`.
pub fn summarise(rows: &[VariantRow], methods: &[String]) -> Vec<FormSummary> {
    let mean = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let mut out = Vec::new();
    for method in methods {
        for form in FORMS {
            let cells: Vec<&MethodCell> = rows
                .iter()
                .filter(|r| r.form == form)
                .flat_map(|r| r.methods.iter().filter(|c| &c.method == method))
                .collect();
            out.push(FormSummary {
                method: method.clone(),
                form,
                runs: cells.len(),
                failed: cells.iter().filter(|c| c.error.is_some()).count(),
                exact: cells.iter().filter(|c| c.exact).count(),
                mean_f1: mean(cells.iter().filter_map(|c| c.f1).collect()),
                mean_auc: mean(cells.iter().filter_map(|c| c.auc).collect()),
                seconds: cells.iter().map(|c| c.seconds).sum(),
            });
        }
    }
    out
}

/// One method's cell of the per-program table: `exact F1 AUC (edges)`, or `failed`.
fn cell(c: &MethodCell) -> String {
    if c.error.is_some() {
        return "failed".into();
    }
    let opt =
        |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    format!(
        "{} {} {} ({})",
        if c.exact { "yes" } else { "no" },
        opt(c.f1, 2),
        opt(c.auc, 3),
        c.edges
    )
}

/// docs/harder-truth.md: the summary per method and form, the per-program table, the failures, the
/// compressions, and how the file was made.
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
         as the RASP evaluator says. Methods ({}): default presets, seed {}, run and scored as \
         `edgeprune compare` runs and scores them (exact = equals a known minimal circuit; F1 and \
         AUC against the nearest). Rotation seed {}; noise {} x each weight tensor's RMS (seed {}); \
         compression budget: at most {} full-batch Adam steps (stopping early once the compressed \
         model decodes every input as the compiled one does), lr {} decaying along a cosine to {}, \
         residual-MSE weight {}, output-loss weight {}, f64 with hand-derived gradients, W \
         initialised as a random projection (seed {}); width = the smallest whose compressed model \
         decodes every input as the compiled model does (the early stop's criterion; a compiled \
         model that is itself wrong is matched, not corrected), by bisection from d_model - 1 (a \
         program where even d_model - 1 misses it is listed as such). A numerical output counts as \
         right within {} + {} x |value| (the programs' numerical outputs are fractions with \
         denominators <= 5 or small integers, at least 1/20 apart).\n\n",
        options.methods.join(", "),
        options.method_seed,
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
    let opt =
        |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    out.push_str("## Summary per method and form\n\n");
    out.push_str(
        "*runs*: models the method ran on (a compression that reached no width gives none); \
         *failed*: runs that ended in an error (listed under Failures); means are over the runs \
         with a score.\n\n",
    );
    out.push_str("| method | form | runs | failed | exact | mean F1 | mean AUC | total s |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for s in summarise(rows, &options.methods) {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} |\n",
            s.method,
            s.form,
            s.runs,
            s.failed,
            s.exact,
            opt(s.mean_f1, 2),
            opt(s.mean_auc, 3),
            s.seconds,
        ));
    }
    out.push_str(
        "\n## Every program and form\n\n\
         Each method's cell: exact (yes/no), F1, AUC, and its circuit's size in parentheses.\n\n",
    );
    out.push_str("| program | form | accuracy | truth |");
    for m in &options.methods {
        out.push_str(&format!(" {m} |"));
    }
    out.push('\n');
    out.push_str(&"|---".repeat(4 + options.methods.len()));
    out.push_str("|\n");
    for r in rows {
        if let Some(error) = &r.error {
            out.push_str(&format!(
                "| {} | {} | {} | - |{}\n",
                r.program,
                r.variant,
                error,
                " - |".repeat(options.methods.len())
            ));
            continue;
        }
        out.push_str(&format!(
            "| {} | {} | {:.3} | {}{} |",
            r.program,
            r.variant,
            r.accuracy,
            r.truth_edges,
            if r.truth_complete { "*" } else { "" },
        ));
        for c in &r.methods {
            out.push_str(&format!(" {} |", cell(c)));
        }
        out.push('\n');
    }
    let failures: Vec<(&VariantRow, &MethodCell)> = rows
        .iter()
        .flat_map(|r| r.methods.iter().map(move |c| (r, c)))
        .filter(|(_, c)| c.error.is_some())
        .collect();
    out.push_str("\n## Failures\n\n");
    if failures.is_empty() {
        out.push_str("No method failed on any model.\n");
    } else {
        out.push_str("| program | form | method | error |\n|---|---|---|---|\n");
        for (r, c) in failures {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.program,
                r.variant,
                c.method,
                c.error
                    .as_deref()
                    .unwrap_or_default()
                    .replace('|', "\\|")
                    .replace('\n', " ")
            ));
        }
    }
    out.push_str("\n## Compressions\n\n");
    out.push_str(
        "*agreement*: inputs the compressed model decodes as the compiled model does (the \
         search's target); the two accuracies are against the RASP evaluator.\n\n",
    );
    out.push_str("| program | D of d_model | training s | accuracy (compiled) | accuracy (compressed) | agreement | functional truth compiled -> compressed | gained | lost |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (name, c) in compressions {
        match c {
            Some(c) => out.push_str(&format!(
                "| {name} | {} of {} | {:.1} | {:.3} | {:.3} | {:.3} | {} -> {} | {} | {} |\n",
                c.dims,
                c.d_model,
                c.seconds,
                c.compiled_accuracy,
                c.accuracy,
                c.agreement,
                c.compiled_truth.len(),
                c.truth.len(),
                list(&c.gained),
                list(&c.lost),
            )),
            None => out.push_str(&format!(
                "| {name} | none below d_model matched the compiled model | - | - | - | - | - | - | - |\n"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(method: &str, error: Option<&str>, exact: bool, f1: f64) -> MethodCell {
        MethodCell {
            method: method.into(),
            error: error.map(str::to_string),
            edges: 3,
            exact,
            f1: error.is_none().then_some(f1),
            auc: error.is_none().then_some(f1),
            seconds: 1.0,
        }
    }

    fn row(form: &'static str, methods: Vec<MethodCell>) -> VariantRow {
        VariantRow {
            program: "p".into(),
            form,
            variant: form.into(),
            accuracy: 1.0,
            truth_edges: 3,
            truth_complete: true,
            methods,
            error: None,
        }
    }

    #[test]
    fn a_failed_method_is_counted_and_listed_not_dropped() {
        let rows = vec![
            row(
                "aligned",
                vec![cell("ep", None, true, 1.0), cell("acdc", None, true, 1.0)],
            ),
            row(
                "compressed",
                vec![
                    cell("ep", None, false, 0.5),
                    cell("acdc", Some("went | wrong\nhere"), false, 0.0),
                ],
            ),
        ];
        let options = HarderOptions {
            methods: vec!["ep".into(), "acdc".into()],
            ..HarderOptions::default()
        };
        let summary = summarise(&rows, &options.methods);
        let acdc_compressed = summary
            .iter()
            .find(|s| s.method == "acdc" && s.form == "compressed")
            .expect("a line per method and form");
        assert_eq!(
            (
                acdc_compressed.runs,
                acdc_compressed.failed,
                acdc_compressed.exact
            ),
            (1, 1, 0),
            "{acdc_compressed:?}"
        );
        assert_eq!(acdc_compressed.mean_f1, None, "{acdc_compressed:?}");
        let ep_compressed = summary
            .iter()
            .find(|s| s.method == "ep" && s.form == "compressed")
            .expect("a line per method and form");
        assert_eq!(ep_compressed.mean_f1, Some(0.5), "{ep_compressed:?}");
        let markdown = render_markdown(&rows, &[], &options, "cmd", 0.0);
        assert!(
            markdown.contains("| p | compressed | 1.000 | 3* | no 0.50 0.500 (3) | failed |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| p | compressed | acdc | went \\| wrong here |"),
            "{markdown}"
        );
    }
}

//! `edgeprune report`: one self-contained HTML page (inline SVG and CSS, a few lines of JS, nothing
//! fetched) that shows a program end to end: its RASP text and computation graph, the compiled model,
//! the residual stream and attention on one input, the decoded output beside the RASP evaluator's, the
//! certified ground truth with its alternatives, and optionally Edge Pruning's circuit and training curves.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use ndarray::Array2;
use tracr::model::{CompiledModel, ModuleContents};
use tracr::value::Value;

use crate::backend::ndarray::NdarrayBackend;
use crate::circuit::Circuit;
use crate::cli::program::{LoadedProgram, ProgramArgs, RaspSource};
use crate::cli::truth::GroundTruth;
use crate::error::{Error, Result};
use crate::graph::EdgeGraph;
use crate::masks::layout::ParameterLayout;
use crate::report::curves::{charts_svg, Chart, Curve};
use crate::report::layout::{caption, render, Drawing};
use crate::report::{DEFAULT_LEGEND, TRUTH_LEGEND};
use crate::task::Task;
use crate::train::config::PruneConfig;
use crate::train::trainer::{train, Progress};
use crate::truth::alternatives::{minimal_circuits_with, MinimalCircuits, SearchOptions};
use crate::truth::functional::{functional_with, CertifierSet};
use crate::truth::structural::structural;

/// The ids of the page's sections, in page order (`edge-pruning` only with `--prune`).
pub const SECTIONS: [&str; 8] = [
    "program",
    "computation-graph",
    "model",
    "residual-stream",
    "attention",
    "output",
    "ground-truth",
    "edge-pruning",
];

/// Longest default input (tokens after BOS): the report certifies the truth on every sequence of the
/// input's length, and three keeps that to at most a hundred-odd sequences for every library program
/// (Edge Pruning's own reverse setting uses length 3 too).
pub const DEFAULT_INPUT_LENGTH: usize = 3;

/// The alternatives search of a report: exhaustive on small circuits, otherwise one reverse-order
/// elimination and no swap moves, so a page stays quick; `edgeprune compare` searches deeper.
pub fn report_search() -> SearchOptions {
    SearchOptions {
        exhaustive_limit: 256,
        exhaustive_work: 256 * 256,
        random_orders: 0,
        swaps: false,
        max_checks: 60,
        ..SearchOptions::default()
    }
}

/// What the page is about besides the program: the input, and whether to run Edge Pruning.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The input without BOS; `None`: [`default_input`].
    pub input: Option<Vec<Value>>,
    /// Run Edge Pruning with this configuration and show its circuit and training curves.
    pub prune: Option<PruneConfig>,
}

/// The page and what a caller may print about it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The HTML document.
    pub html: String,
    /// The input shown (without BOS).
    pub input: Vec<Value>,
    /// The lengths the truth was certified on.
    pub lengths: Vec<usize>,
    /// Sequences in that data.
    pub examples: usize,
    /// The page's ground-truth drawing (functional against structural, alternatives dotted) as an SVG file.
    pub truth_svg: String,
    /// Wall-clock seconds of each stage of [`build`], in order (for `EDGEPRUNE_REPORT_TIMING`).
    pub stages: Vec<(&'static str, f64)>,
    /// Forwards over the data the truth certification ran (circuits certified more than once count once).
    pub forwards: usize,
}

/// Times the stages of [`build`].
struct Stages {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Stages {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    /// Ends the stage `name` (begun at the previous lap).
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps
            .push((name, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }
}

/// A sensible input: `min(max_seq_len, 3)` tokens, the largest token of the vocabulary first and
/// then the smallest repeated (`3,1,1` over {1,2,3}), so that reversing, sorting and counting programs
/// all visibly move or count something.
pub fn default_input(vocab: &[Value], max_seq_len: usize) -> Vec<Value> {
    let mut sorted = vocab.to_vec();
    sorted.sort_by(|a, b| a.py_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let length = max_seq_len.clamp(1, DEFAULT_INPUT_LENGTH);
    (0..length)
        .map(|i| {
            if i == 0 {
                sorted[sorted.len() - 1].clone()
            } else {
                sorted[(i - 1) / 2 % sorted.len()].clone()
            }
        })
        .collect()
}

/// Parses `--input a,b,c` (integers are integers, as in `--vocab`).
pub fn parse_input(text: &str) -> Vec<Value> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Value::parse_token)
        .collect()
}

fn check_input(input: &[Value], vocab: &[Value], max_seq_len: usize) -> Result<()> {
    let invalid = |message: String| Error::InvalidOption {
        option: "--input".into(),
        message,
    };
    if input.is_empty() {
        return Err(invalid(
            "is empty; give comma-separated tokens of the vocabulary, e.g. --input a,b,c".into(),
        ));
    }
    if input.len() > max_seq_len {
        return Err(invalid(format!(
            "has {} tokens but the model was compiled for at most {max_seq_len}",
            input.len()
        )));
    }
    let names: Vec<String> = vocab.iter().map(Value::py_repr).collect();
    for (position, token) in input.iter().enumerate() {
        if !vocab.contains(token) {
            return Err(invalid(format!(
                "token {} at position {position} is not in the vocabulary [{}]",
                token.py_repr(),
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Everything the page shows, computed.
struct Contents {
    loaded: LoadedProgram,
    source: Option<RaspSource>,
    input: Vec<Value>,
    /// `[T, D]` embeddings, then the residual after every sublayer.
    residuals: Vec<Array2<f64>>,
    /// `[H, T, T]` attention weights per layer.
    attention: Vec<ndarray::Array3<f64>>,
    decoded: Vec<Value>,
    evaluated: Option<std::result::Result<Vec<Value>, String>>,
    truth: GroundTruth,
    alternatives: MinimalCircuits,
    pruned: Option<Pruned>,
}

/// Edge Pruning's run: its circuit and the per-step curves of the kept restart.
struct Pruned {
    circuit: Circuit,
    config: PruneConfig,
    steps: Vec<Progress>,
    metric: f64,
}

/// Builds the report of `args`' program on `options.input`; the truth is certified on every sequence of
/// the input's length unless `args` gives `--lengths`.
pub fn build(args: &ProgramArgs, options: &ReportOptions) -> Result<Report> {
    let mut stages = Stages::start();
    let compiled = args.model.compile()?;
    stages.lap("compile");
    let source = args.model.rasp_source()?;
    let input = match &options.input {
        Some(input) => input.clone(),
        None => default_input(&compiled.vocab, compiled.max_seq_len),
    };
    check_input(&input, &compiled.vocab, compiled.max_seq_len)?;
    let lengths = if args.data.lengths.is_empty() {
        vec![input.len()]
    } else {
        args.data.lengths_or(compiled.max_seq_len)?
    };
    // The page's model view (the traced forward on the input) does not depend on the truth, so it
    // runs on a second thread while the truth is certified (the longest stage).
    let model = &compiled.model;
    let (model_side, truth_side) = std::thread::scope(|scope| {
        let model_side = scope.spawn(|| -> Result<_> {
            let started = Instant::now();
            let mut tokens = vec![Value::Str(model.input_encoding.bos_token.clone())];
            tokens.extend(input.iter().cloned());
            let output = model.apply_traced(&tokens)?;
            Ok((output, started.elapsed().as_secs_f64()))
        });
        let truth_side = (|| -> Result<_> {
            let tasks = lengths
                .iter()
                .map(|&length| {
                    Task::from_compiled(&compiled.name, model, length, args.data.data_seed)
                })
                .collect::<Result<Vec<_>>>()?;
            stages.lap("tasks");
            let ablations: Vec<_> = tasks.iter().map(|t| args.data.ablation.over(t)).collect();
            let data: Vec<_> = tasks.iter().zip(&ablations).collect();
            // One set of certifiers for both searches: the alternatives search revisits many of the
            // functional truth's circuits (its graph-order elimination is the same walk), and gets
            // their certificates back.
            let mut certifiers = CertifierSet::new(&data)?;
            stages.lap("certifier setup");
            let structural = structural(&tasks[0].model);
            let truth = GroundTruth {
                graph: EdgeGraph::for_model(&tasks[0].model),
                functional: functional_with(&mut certifiers, &data, &structural, &mut |_| {})?,
                structural,
            };
            stages.lap("functional truth");
            let alternatives = minimal_circuits_with(&mut certifiers, &data, &report_search())?;
            stages.lap("alternatives");
            let forwards = certifiers.forwards();
            Ok((tasks, truth, alternatives, forwards))
        })();
        let model_side = model_side
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (model_side, truth_side)
    });
    let (tasks, truth, alternatives, forwards) = truth_side?;
    let loaded = LoadedProgram {
        name: compiled.name,
        vocab: compiled.vocab,
        max_seq_len: compiled.max_seq_len,
        compiled: compiled.model,
        task: tasks[0].clone(),
        tasks,
        ablation_kind: args.data.ablation,
    };
    let (output, model_seconds) = model_side?;
    stages
        .laps
        .push(("model and trace (2nd thread)", model_seconds));
    let trace = output.trace.ok_or_else(|| Error::Unsupported {
        message: "the traced forward returned no trace".into(),
    })?;
    let evaluated = source.as_ref().map(|s| {
        tracr::rasp::eval::evaluate(&s.program, &input, loaded.task.model.causal)
            .map_err(|e| e.to_string())
    });
    stages.lap("evaluate");
    let pruned = match &options.prune {
        Some(config) => Some(prune(&loaded, config)?),
        None => None,
    };
    stages.lap("pruning");
    let examples = loaded.tasks.iter().map(Task::num_examples).sum();
    let contents = Contents {
        loaded,
        source,
        input: input.clone(),
        residuals: std::iter::once(trace.input_embeddings)
            .chain(trace.residuals)
            .collect(),
        attention: trace.attn_weights,
        decoded: output.decoded,
        evaluated,
        truth,
        alternatives,
        pruned,
    };
    let html = page(&contents);
    let truth_svg = truth_drawing(&contents);
    stages.lap("page");
    Ok(Report {
        html,
        truth_svg,
        input,
        lengths,
        examples,
        stages: stages.laps,
        forwards,
    })
}

/// Edge Pruning on the first task, every step's report kept.
fn prune(loaded: &LoadedProgram, config: &PruneConfig) -> Result<Pruned> {
    let config = config.clone();
    let task = &loaded.task;
    let mut backend = NdarrayBackend::new(
        &task.model,
        task.clean.view(),
        &loaded.ablation(),
        task.metric,
    )?;
    let layout = ParameterLayout::new(task.model.num_layers(), task.model.num_heads())?;
    let mut steps: Vec<Progress> = Vec::with_capacity(config.steps * config.restarts);
    let outcome = train(
        &mut backend,
        &layout,
        task.num_examples(),
        &config,
        &mut |progress| steps.push(progress.clone()),
    )?;
    let kept = outcome
        .restarts
        .iter()
        .position(|(s, _, _)| *s == outcome.seed)
        .unwrap_or(0);
    steps.retain(|p| p.restart == kept);
    Ok(Pruned {
        circuit: outcome.circuit,
        config,
        steps,
        metric: outcome.circuit_metric,
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with as few digits as it needs (values in Tracr models are mostly 0 and 1).
fn number(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// White to red for positive, white to blue for negative values, `value / scale` clamped to [-1, 1].
fn diverging(value: f64, scale: f64) -> String {
    let t = if scale > 0.0 {
        (value / scale).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let (r, g, b) = if t >= 0.0 {
        (178, 24, 43)
    } else {
        (33, 102, 172)
    };
    let mix = |c: u8| (255.0 + (f64::from(c) - 255.0) * t.abs()).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(r), mix(g), mix(b))
}

const CELL_W: f64 = 30.0;
const CELL_H: f64 = 13.0;

/// A heatmap of `values[row][col]` with labelled rows and columns, each cell's value in its tooltip.
/// Cells where `changed(row, col)` holds get a black outline (what the sublayer wrote).
fn heatmap(
    title: &str,
    rows: &[String],
    cols: &[String],
    value: &dyn Fn(usize, usize) -> f64,
    changed: &dyn Fn(usize, usize) -> bool,
    scale: f64,
) -> String {
    let label_w = 8.0 + 6.2 * rows.iter().map(|r| r.chars().count()).max().unwrap_or(1) as f64;
    let top = 34.0;
    let width =
        (label_w + CELL_W * cols.len() as f64 + 8.0).max(7.0 * title.chars().count() as f64);
    let height = top + CELL_H * rows.len() as f64 + 6.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"{width:.0}\" height=\"{height:.0}\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"10\"><text x=\"0\" y=\"11\" font-weight=\"bold\" font-size=\"11\">{}</text>",
        escape(title)
    );
    for (c, col) in cols.iter().enumerate() {
        let x = label_w + CELL_W * (c as f64 + 0.5);
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
            top - 6.0,
            escape(col)
        );
    }
    // Formatted once per row and column rather than per cell: a large model's page has tens of
    // thousands of cells, and float formatting and escaping were most of the page's time.
    let cell_x: Vec<String> = (0..cols.len())
        .map(|c| format!("{:.0}", label_w + CELL_W * c as f64))
        .collect();
    let cols_escaped: Vec<String> = cols.iter().map(|col| escape(col)).collect();
    let white = diverging(0.0, scale);
    for (r, row) in rows.iter().enumerate() {
        let y = top + CELL_H * r as f64;
        let row_escaped = escape(row);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{row_escaped}</text>",
            label_w - 4.0,
            y + CELL_H - 3.0,
        );
        let y_text = format!("{y:.0}");
        for (c, (x_text, col_escaped)) in cell_x.iter().zip(&cols_escaped).enumerate() {
            let v = value(r, c);
            let outline = if changed(r, c) {
                " stroke=\"#000\" stroke-width=\"1.2\""
            } else {
                ""
            };
            let nonzero_fill;
            let fill = if v == 0.0 {
                &white
            } else {
                nonzero_fill = diverging(v, scale);
                &nonzero_fill
            };
            let _ = write!(
                svg,
                "<rect x=\"{x_text}\" y=\"{y_text}\" width=\"{CELL_W}\" height=\"{CELL_H}\" fill=\"{fill}\"{outline}><title>{row_escaped} @ {col_escaped}: {}</title></rect>",
                number(v)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Writer name of each RASP label a component computes (`reverse_1` → `a3.h0`).
fn components_by_label(model: &CompiledModel) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for module in &model.layers {
        let layer: usize = module
            .module
            .trim_start_matches("layer_")
            .split('/')
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        match &module.contents {
            ModuleContents::Attention { heads, .. } => {
                for head in heads {
                    map.insert(head.label.clone(), format!("a{layer}.h{}", head.head));
                }
            }
            ModuleContents::Mlp { mlps, .. } => {
                for mlp in mlps {
                    map.insert(mlp.label.clone(), format!("m{layer}"));
                }
            }
        }
    }
    map
}

/// The RASP computation graph, sources left, output right, each node named with its type and the
/// component that computes it.
fn computation_graph(source: &RaspSource, model: &CompiledModel) -> Result<String> {
    let graph = tracr::graph::extract(&source.program)?;
    let components = components_by_label(model);
    // Column = longest path from a source; nodes are in BFS order from the sink, so resolve by
    // repeated relaxation (the graph is a DAG of at most a few dozen nodes).
    let mut depth: HashMap<&str, usize> = HashMap::new();
    let mut changed = true;
    while changed {
        changed = false;
        for node in &graph.nodes {
            let d = node
                .children
                .iter()
                .map(|c| depth.get(c.as_str()).map_or(0, |d| d + 1))
                .max()
                .unwrap_or(0);
            if depth.get(node.label.as_str()) != Some(&d) {
                depth.insert(&node.label, d);
                changed = true;
            }
        }
    }
    let columns = depth.values().max().map_or(1, |d| d + 1);
    let mut per_column: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for (i, node) in graph.nodes.iter().enumerate().rev() {
        per_column[depth[node.label.as_str()]].push(i);
    }
    // Order each column by the mean row of the node's children (the barycentre heuristic), so edges
    // run mostly straight and rarely pass behind unrelated boxes; ties keep the graph's order.
    let mut row_of: HashMap<&str, f64> = HashMap::new();
    for column in &mut per_column {
        let mean_child_row = |i: &usize| {
            let rows: Vec<f64> = graph.nodes[*i]
                .children
                .iter()
                .filter_map(|c| row_of.get(c.as_str()).copied())
                .collect();
            if rows.is_empty() {
                f64::INFINITY
            } else {
                rows.iter().sum::<f64>() / rows.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = column.iter().map(|i| (mean_child_row(i), *i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        *column = keyed.into_iter().map(|(_, i)| i).collect();
        let offset = (column.len() as f64 - 1.0) / 2.0;
        for (r, &i) in column.iter().enumerate() {
            row_of.insert(&graph.nodes[i].label, r as f64 - offset);
        }
    }
    let (box_w, box_h, gap_x, gap_y, margin) = (150.0, 40.0, 60.0, 16.0, 12.0);
    let tallest = per_column.iter().map(Vec::len).max().unwrap_or(1);
    let width = 2.0 * margin + columns as f64 * (box_w + gap_x) - gap_x;
    let height = 2.0 * margin + tallest as f64 * (box_h + gap_y) - gap_y;
    let mut place: HashMap<&str, (f64, f64)> = HashMap::new();
    for (c, nodes) in per_column.iter().enumerate() {
        let offset = (tallest - nodes.len()) as f64 * (box_h + gap_y) / 2.0;
        for (r, &i) in nodes.iter().enumerate() {
            place.insert(
                &graph.nodes[i].label,
                (
                    margin + c as f64 * (box_w + gap_x),
                    margin + offset + r as f64 * (box_h + gap_y),
                ),
            );
        }
    }
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"rasp-graph\" width=\"{width:.0}\" height=\"{height:.0}\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">"
    );
    for (child, parent) in &graph.edges {
        let (cx, cy) = place[child.as_str()];
        let (px, py) = place[parent.as_str()];
        let (x1, y1, x2, y2) = (cx + box_w, cy + box_h / 2.0, px, py + box_h / 2.0);
        let _ = write!(
            svg,
            "<path d=\"M {x1:.1} {y1:.1} C {:.1} {y1:.1} {:.1} {y2:.1} {x2:.1} {y2:.1}\" fill=\"none\" stroke=\"#777\" stroke-width=\"1.3\"/>",
            x1 + gap_x / 2.0,
            x2 - gap_x / 2.0
        );
    }
    for node in &graph.nodes {
        let (x, y) = place[node.label.as_str()];
        let kind = node.expr.type_name();
        let component = components.get(&node.label);
        let fill = match (node.is_sop(), component) {
            (false, _) => "#fff7e6",
            (true, Some(_)) => "#e8f1fa",
            (true, None) => "#f4f4f4",
        };
        let second = match component {
            Some(c) => format!("{kind} · {c}"),
            None => kind.to_string(),
        };
        let _ = write!(
            svg,
            "<g><title>{} = {kind}{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"5\" fill=\"{fill}\" stroke=\"#555\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text></g>",
            escape(&node.label),
            component.map_or(String::new(), |c| format!(", computed by {c}")),
            x + box_w / 2.0,
            y + 16.0,
            escape(&shorten(&node.label, 24)),
            x + box_w / 2.0,
            y + 31.0,
            escape(&second)
        );
    }
    svg.push_str("</svg>");
    Ok(svg)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    } else {
        text.to_string()
    }
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:0 auto;max-width:1500px;padding:0 20px 60px;color:#222}\
h1{margin:18px 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}\
nav a{margin-right:12px}pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:13px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}.scroll{overflow-x:auto;border:1px solid #eee;padding:6px}.maps{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}\
.ok{color:#1b7837;font-weight:bold}.bad{color:#b2182b;font-weight:bold}.note{color:#555;font-size:13px}\
#readout{position:fixed;bottom:8px;right:8px;background:#222;color:#fff;padding:4px 9px;border-radius:4px;font-size:12px;display:none}\
code{background:#f3f3f3;padding:0 3px}";

/// Shows the hovered cell's tooltip in a fixed corner box too (SVG tooltips appear slowly).
const SCRIPT: &str = "document.addEventListener('mouseover',function(e){var t=e.target;var r=document.getElementById('readout');\
if(t&&t.tagName==='rect'&&t.firstChild&&t.firstChild.tagName==='title'){r.textContent=t.firstChild.textContent;r.style.display='block';}});";

fn page(c: &Contents) -> String {
    let loaded = &c.loaded;
    let mut html = String::with_capacity(256 * 1024);
    let title = format!(
        "{}: program, model, residual stream and circuit",
        loaded.name
    );
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n\
         <p class=\"note\">Compiled with vocabulary {{{}}}, max_seq_len {}, causal {}; input <code>{}</code>. Written by <code>edgeprune report</code>; \
         this page loads nothing from the network.</p>\n<nav>",
        escape(&title),
        escape(&title),
        escape(&loaded.vocab.iter().map(Value::py_repr).collect::<Vec<_>>().join(", ")),
        loaded.max_seq_len,
        loaded.task.model.causal,
        escape(&c.input.iter().map(Value::py_str).collect::<Vec<_>>().join(", "))
    );
    for id in SECTIONS {
        if id == "edge-pruning" && c.pruned.is_none() {
            continue;
        }
        let _ = write!(html, "<a href=\"#{id}\">{}</a>", id.replace('-', " "));
    }
    html.push_str("</nav>\n");
    program_section(&mut html, c);
    model_section(&mut html, c);
    residual_section(&mut html, c);
    attention_section(&mut html, c);
    output_section(&mut html, c);
    truth_section(&mut html, c);
    if let Some(pruned) = &c.pruned {
        pruning_section(&mut html, c, pruned);
    }
    let _ = write!(
        html,
        "<div id=\"readout\"></div><script>{SCRIPT}</script>\n</body></html>\n"
    );
    // Inline SVG needs no namespace URL, and without it the page holds no http reference at all.
    html.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
}

fn program_section(html: &mut String, c: &Contents) {
    html.push_str("<section id=\"program\"><h2>1. The RASP program</h2>\n");
    match &c.source {
        Some(source) => {
            let _ = write!(html, "<pre>{}</pre>", escape(&source.text));
        }
        None => html.push_str(
            "<p class=\"note\">A compiled model file keeps no program text, only each layer's labels \
             (see the model below); report on the <code>.rasp</code> file to see it.</p>",
        ),
    }
    html.push_str(
        "</section>\n<section id=\"computation-graph\"><h2>2. Its computation graph</h2>\n",
    );
    match c
        .source
        .as_ref()
        .map(|s| computation_graph(s, &c.loaded.compiled))
    {
        Some(Ok(svg)) => {
            html.push_str(
                "<p class=\"note\">Inputs on the left, the output on the right; yellow boxes are selectors \
                 (they become attention patterns), blue ones name the model component that computes them.</p><div class=\"scroll\">",
            );
            html.push_str(&svg);
            html.push_str("</div>");
        }
        Some(Err(error)) => {
            let _ = write!(
                html,
                "<p class=\"bad\">The graph could not be built: {}</p>",
                escape(&error.to_string())
            );
        }
        None => html.push_str("<p class=\"note\">Not available for a compiled model file.</p>"),
    }
    html.push_str("</section>\n");
}

fn model_section(html: &mut String, c: &Contents) {
    let m = &c.loaded.compiled;
    let _ = write!(
        html,
        "<section id=\"model\"><h2>3. The compiled model</h2>\n<p>{} layers of {} head{} (key size {}) and an MLP (hidden size {}); \
         residual stream of {} named dimensions; {} edges in Edge Pruning's graph.</p>\n\
         <table><tr><th>component</th><th>RASP node</th><th>type</th><th>reads</th><th>writes</th><th>size</th></tr>",
        m.config.num_layers,
        m.config.num_heads,
        if m.config.num_heads == 1 { "" } else { "s" },
        m.config.key_size,
        m.config.mlp_hidden_size,
        m.residual_labels.len(),
        c.truth.graph.num_edges()
    );
    let list = |dims: &[String]| {
        let shown: Vec<&str> = dims.iter().take(6).map(String::as_str).collect();
        let more = dims.len().saturating_sub(6);
        let mut text = shown.join(", ");
        if more > 0 {
            let _ = write!(text, " … (+{more})");
        }
        escape(&text)
    };
    for module in &m.layers {
        let layer = module
            .module
            .trim_start_matches("layer_")
            .split('/')
            .next()
            .unwrap_or("?");
        match &module.contents {
            ModuleContents::Attention { heads, .. } => {
                if heads.is_empty() {
                    let _ = write!(
                        html,
                        "<tr><td>a{layer}.*</td><td colspan=\"5\" class=\"note\">empty attention slot (all-zero weights)</td></tr>"
                    );
                }
                for head in heads {
                    let _ = write!(
                        html,
                        "<tr><td>a{layer}.h{}</td><td>{}</td><td>{}</td><td>q: {}<br>k: {}<br>v: {}</td><td>{}</td><td>W_QK {:?}, W_OV {:?}</td></tr>",
                        head.head,
                        escape(&head.label),
                        escape(&head.expr_type),
                        list(&head.reads_query),
                        list(&head.reads_key),
                        list(&head.reads_value),
                        list(&head.writes),
                        head.qk_dims,
                        head.ov_dims
                    );
                }
            }
            ModuleContents::Mlp { mlps, .. } => {
                if mlps.is_empty() {
                    let _ = write!(
                        html,
                        "<tr><td>m{layer}</td><td colspan=\"5\" class=\"note\">empty MLP slot</td></tr>"
                    );
                }
                for mlp in mlps {
                    let _ = write!(
                        html,
                        "<tr><td>m{layer}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} hidden neurons</td></tr>",
                        escape(&mlp.label),
                        escape(&mlp.expr_type),
                        list(&mlp.reads),
                        list(&mlp.writes),
                        mlp.hidden_size
                    );
                }
            }
        }
    }
    html.push_str("</table></section>\n");
}

/// Position labels: the tokens, BOS first (positions read left to right, or top to bottom).
fn position_labels(c: &Contents) -> Vec<String> {
    std::iter::once(c.loaded.compiled.input_encoding.bos_token.clone())
        .chain(c.input.iter().map(|t| shorten(&t.py_str(), 5)))
        .collect()
}

fn residual_section(html: &mut String, c: &Contents) {
    let positions = position_labels(c);
    let labels = &c.loaded.compiled.residual_labels;
    let mut stages: Vec<(String, &Array2<f64>)> = Vec::new();
    for (i, residual) in c.residuals.iter().enumerate() {
        let layer = i.saturating_sub(1) / 2;
        let name = if i == 0 {
            "embeddings (tok + pos)".into()
        } else if i % 2 == 1 {
            format!("after a{layer} (attention)")
        } else {
            format!("after m{layer} (MLP)")
        };
        stages.push((name, residual));
    }
    let scale = stages
        .iter()
        .flat_map(|(_, r)| r.iter())
        .fold(0.0_f64, |m, v| m.max(v.abs()));
    let _ = write!(
        html,
        "<section id=\"residual-stream\"><h2>4. The residual stream on this input</h2>\n<p class=\"note\">One map per sublayer: \
         rows are the named residual dimensions, columns the positions (BOS first); red is positive, blue negative (full colour at \
         |value| = {}); a black outline marks what that sublayer changed; hover a cell for its value.</p><div class=\"maps\">",
        number(scale)
    );
    for (i, (name, residual)) in stages.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| stages[p].1);
        html.push_str(&heatmap(
            name,
            labels,
            &positions,
            &|r, col| residual[[col, r]],
            &|r, col| previous.is_some_and(|p| (p[[col, r]] - residual[[col, r]]).abs() > 1e-9),
            scale,
        ));
    }
    html.push_str("</div></section>\n");
}

fn attention_section(html: &mut String, c: &Contents) {
    let positions = position_labels(c);
    html.push_str(
        "<section id=\"attention\"><h2>5. Attention patterns</h2>\n<p class=\"note\">Rows are queries, columns keys; \
         a cell is the softmax weight (red = 1). Tracr heads attend to BOS when no key matches, which is why BOS \
         often holds weight.</p><div class=\"maps\">",
    );
    let mut any = false;
    for module in &c.loaded.compiled.layers {
        let ModuleContents::Attention { heads, .. } = &module.contents else {
            continue;
        };
        let layer: usize = module
            .module
            .trim_start_matches("layer_")
            .split('/')
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        for head in heads {
            let Some(weights) = c.attention.get(layer) else {
                continue;
            };
            any = true;
            let title = format!(
                "a{layer}.h{} · {}",
                head.head,
                caption(&format!("{} ({})", head.label, head.expr_type))
            );
            html.push_str(&heatmap(
                &title,
                &positions,
                &positions,
                &|q, k| weights[[head.head, q, k]],
                &|_, _| false,
                1.0,
            ));
        }
    }
    if !any {
        html.push_str("<p class=\"note\">This model has no attention heads in use.</p>");
    }
    html.push_str("</div></section>\n");
}

/// Whether the model's decoded value matches the evaluator's: equal, or numbers within Tracr's own
/// tolerance (atol 1e-7, rtol 0.005: its discretising MLPs are approximate by design).
fn agrees(model: &Value, rasp: &Value) -> bool {
    match (model.as_f64(), rasp.as_f64()) {
        (Some(a), Some(b)) if model.is_number() && rasp.is_number() => {
            (a - b).abs() <= 1e-7 + 0.005 * b.abs()
        }
        _ => model == rasp,
    }
}

fn output_section(html: &mut String, c: &Contents) {
    html.push_str(
        "<section id=\"output\"><h2>6. The output: model against RASP</h2>\n<table><tr><th>position</th><th>input</th>\
         <th>model (decoded)</th><th>RASP evaluator</th><th></th></tr>",
    );
    let evaluated = match &c.evaluated {
        Some(Ok(values)) => Some(values),
        _ => None,
    };
    let mut all_agree = true;
    for (i, token) in c.input.iter().enumerate() {
        let model = c.decoded.get(i + 1);
        let rasp = evaluated.and_then(|v| v.get(i));
        let verdict = match (model, rasp) {
            (Some(m), Some(r)) if agrees(m, r) => "<span class=\"ok\">same</span>",
            (Some(_), Some(_)) => {
                all_agree = false;
                "<span class=\"bad\">differs</span>"
            }
            _ => "",
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            i + 1,
            escape(&token.py_str()),
            escape(&model.map_or("-".into(), Value::py_repr)),
            escape(&rasp.map_or("-".into(), |v| v.py_repr()))
        );
    }
    html.push_str("</table>");
    match &c.evaluated {
        None => html.push_str(
            "<p class=\"note\">No RASP program to evaluate: a compiled model file keeps none.</p>",
        ),
        Some(Err(error)) => {
            let _ = write!(
                html,
                "<p class=\"bad\">The RASP evaluator failed: {}</p>",
                escape(error)
            );
        }
        Some(Ok(_)) if all_agree => html.push_str(
            "<p class=\"note\">The compiled model computes what the program says on this input \
             (numbers within Tracr's own tolerance, atol 1e-7 and rtol 0.005). Position 0 (BOS) is left out: its value is not part of the output.</p>",
        ),
        Some(Ok(_)) => html.push_str(
            "<p class=\"bad\">The model and the program disagree on this input (see the rows marked).</p>",
        ),
    }
    html.push_str("</section>\n");
}

fn edge_list(graph: &crate::graph::EdgeGraph, circuit: &Circuit) -> String {
    escape(&circuit.kept_edge_names(graph).join(", "))
}

/// The minimal circuits other than the functional truth.
fn other_minimal_circuits(c: &Contents) -> Vec<Circuit> {
    c.alternatives
        .circuits
        .iter()
        .map(|m| m.circuit.clone())
        .filter(|circuit| circuit.edges != c.truth.functional.circuit.edges)
        .collect()
}

/// Functional against structural truth, the other minimal circuits dotted.
fn truth_drawing(c: &Contents) -> String {
    let loaded = &c.loaded;
    let title = format!(
        "{}: functional vs structural ground truth ({} ablation)",
        loaded.name,
        loaded.ablation_kind.name()
    );
    render(&Drawing {
        graph: &c.truth.graph,
        found: &c.truth.structural,
        truth: &c.truth.functional.circuit,
        alternatives: &other_minimal_circuits(c),
        title: &title,
        legend: TRUTH_LEGEND,
        labels: &loaded.component_labels(),
    })
}

fn truth_section(html: &mut String, c: &Contents) {
    let t = &c.truth;
    let f = &t.functional;
    let loaded = &c.loaded;
    let examples: usize = loaded.tasks.iter().map(Task::num_examples).sum();
    let others = other_minimal_circuits(c);
    let svg = truth_drawing(c);
    let _ = write!(
        html,
        "<section id=\"ground-truth\"><h2>7. The ground truth</h2>\n<p><b>Structural</b> (from the weights: a writer can influence a reader \
         when they share a residual dimension, on a path to the output): {} of {} edges. <b>Functional</b> (certified on all {} sequences of \
         length {:?}, {} ablation: keeping only these edges leaves every decoded output unchanged with KL {:.1e}, and removing any one breaks \
         that): {} edges, {}.</p>\n<div class=\"scroll\">{svg}</div>\n",
        t.structural.num_edges(),
        t.graph.num_edges(),
        examples,
        loaded.lengths(),
        loaded.ablation_kind.name(),
        f.certificate.kl,
        f.circuit.num_edges(),
        if f.certificate.holds() {
            "<span class=\"ok\">certified</span>"
        } else {
            "<span class=\"bad\">NOT certified: the structural circuit itself does not reproduce the model</span>"
        }
    );
    if f.differences.is_empty() {
        html.push_str("<p>Structural and functional truth are the same circuit.</p>");
    } else {
        html.push_str(
            "<p>Structural edges the data does not need, and why (<code>bos-default</code>: a head's attend-to-BOS default \
             that no sequence of this data uses; <code>ablation-invariant</code>: clean and ablated activations agree; \
             <code>dead-end</code>; <code>unused-on-data</code>):</p><table><tr><th>reason</th><th>edges</th></tr>",
        );
        let mut reasons: Vec<&str> = Vec::new();
        for d in &f.differences {
            if !reasons.contains(&d.reason.name()) {
                reasons.push(d.reason.name());
            }
        }
        for reason in reasons {
            let edges: Vec<&str> = f
                .differences
                .iter()
                .filter(|d| d.reason.name() == reason)
                .map(|d| d.name.as_str())
                .collect();
            let _ = write!(
                html,
                "<tr><td>{reason}</td><td>{}</td></tr>",
                escape(&edges.join(", "))
            );
        }
        html.push_str("</table>");
    }
    let a = &c.alternatives;
    let _ = write!(
        html,
        "<p><b>Minimal faithful circuits</b> ({}, {} checks): {} found{}.</p><table><tr><th>#</th><th>edges</th><th>BOS-default edges</th>\
         <th>found by</th><th>the edges</th></tr>",
        if a.complete {
            "exhaustive search: the list is complete"
        } else {
            "heuristic search: the list may be incomplete"
        },
        a.checks,
        a.circuits.len(),
        if others.is_empty() {
            ""
        } else {
            "; edges only in another one are drawn dotted purple above"
        }
    );
    for (i, m) in a.circuits.iter().enumerate() {
        let mut notes = Vec::new();
        if Some(i) == a.smallest {
            notes.push("smallest");
        }
        if Some(i) == a.intended {
            notes.push("follows the program's data flow");
        }
        if m.circuit.edges == f.circuit.edges {
            notes.push("= the functional truth");
        }
        let _ = write!(
            html,
            "<tr><td>{i}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            },
            m.size(),
            m.bos_default_edges.len(),
            escape(&m.found_by),
            edge_list(&t.graph, &m.circuit)
        );
    }
    html.push_str("</table></section>\n");
}

/// At most `keep` points of a per-step series, evenly spaced, the last step always kept.
fn thin(points: Vec<(f64, f64)>, keep: usize) -> Vec<(f64, f64)> {
    if points.len() <= keep {
        return points;
    }
    let stride = points.len().div_ceil(keep);
    let last = *points.last().expect("non-empty: longer than keep");
    let mut thinned: Vec<(f64, f64)> = points.into_iter().step_by(stride).collect();
    if thinned.last() != Some(&last) {
        thinned.push(last);
    }
    thinned
}

fn pruning_section(html: &mut String, c: &Contents, pruned: &Pruned) {
    let t = &c.truth;
    let loaded = &c.loaded;
    let others = other_minimal_circuits(c);
    let title = format!(
        "{}: Edge Pruning (seed {}) vs certified ground truth",
        loaded.name, pruned.config.seed
    );
    let svg = render(&Drawing {
        graph: &t.graph,
        found: &pruned.circuit,
        truth: &t.functional.circuit,
        alternatives: &others,
        title: &title,
        legend: DEFAULT_LEGEND,
        labels: &loaded.component_labels(),
    });
    let verdict = match c
        .alternatives
        .circuits
        .iter()
        .position(|m| m.circuit.edges == pruned.circuit.edges)
    {
        Some(i) => format!("<span class=\"ok\">equal to minimal circuit #{i}</span>"),
        None => "<span class=\"bad\">not equal to any known minimal circuit</span>".into(),
    };
    let _ = write!(
        html,
        "<section id=\"edge-pruning\"><h2>8. Edge Pruning</h2>\n<p>{} steps, batch {}, seed {}, training alone \
         (no refinement), on the {} sequences of length {}: {} edges kept, KL {:.1e}; {verdict}.</p>\n<div class=\"scroll\">{svg}</div>\n",
        pruned.config.steps,
        pruned.config.batch_size,
        pruned.config.seed,
        loaded.task.num_examples(),
        loaded.task.clean.ncols() - 1,
        pruned.circuit.num_edges(),
        pruned.metric
    );
    let steps = &pruned.steps;
    let last_step = steps.last().map_or(1, |p| p.step) as f64;
    // The sampled KL jumps by orders of magnitude from step to step; a running mean over 1% of the
    // run shows the trend.
    let window = (steps.len() / 100).max(1);
    let mut sum = 0.0;
    let kl: Vec<(f64, f64)> = steps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            sum += p.metric;
            if i >= window {
                sum -= steps[i - window].metric;
            }
            let mean = sum / (i + 1).min(window) as f64;
            (p.step as f64, mean.max(1e-12).log10())
        })
        .collect();
    let sparsity: Vec<(f64, f64)> = steps
        .iter()
        .map(|p| (p.step as f64, p.edge_sparsity))
        .collect();
    let target: Vec<(f64, f64)> = steps
        .iter()
        .map(|p| (p.step as f64, p.edge_target))
        .collect();
    let kept: Vec<(f64, f64)> = steps
        .iter()
        .map(|p| (p.step as f64, p.edges_kept as f64))
        .collect();
    let kl_range = kl
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, y)| {
            (lo.min(y), hi.max(y))
        });
    let kl_range = if kl_range.0.is_finite() && kl_range.1 > kl_range.0 {
        (kl_range.0.floor(), kl_range.1.ceil())
    } else {
        (-12.0, 1.0)
    };
    let max_kept = kept.iter().fold(1.0_f64, |m, &(_, y)| m.max(y));
    let keep = 400;
    let charts = [
        Chart {
            title: format!("KL of the sampled circuit (mean of {window} steps)"),
            x_label: "step".into(),
            y_label: "log10 KL".into(),
            x_range: (0.0, last_step),
            y_range: kl_range,
            curves: vec![Curve {
                name: "KL".into(),
                points: thin(kl, keep),
            }],
            guide: None,
        },
        Chart {
            title: "Edge sparsity".into(),
            x_label: "step".into(),
            y_label: "sparsity".into(),
            x_range: (0.0, last_step),
            y_range: (0.0, 1.05),
            curves: vec![
                Curve {
                    name: "sampled sparsity".into(),
                    points: thin(sparsity, keep),
                },
                Curve {
                    name: "target".into(),
                    points: thin(target, keep),
                },
            ],
            guide: None,
        },
        Chart {
            title: "Edges kept (extracted)".into(),
            x_label: "step".into(),
            y_label: "edges".into(),
            x_range: (0.0, last_step),
            y_range: (0.0, max_kept * 1.05),
            curves: vec![Curve {
                name: "edges kept".into(),
                points: thin(kept, keep),
            }],
            guide: Some((
                (0.0, t.functional.circuit.num_edges() as f64),
                (last_step, t.functional.circuit.num_edges() as f64),
            )),
        },
    ];
    let _ = writeln!(
        html,
        "<p class=\"note\">Training curves (the dashed line in the last chart is the functional truth's size).</p><div class=\"scroll\">{}</div></section>",
        charts_svg("Edge Pruning training", &charts)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_input_is_the_largest_token_then_the_smallest_repeated() {
        let vocab = vec![Value::Int(2), Value::Int(1), Value::Int(3)];
        assert_eq!(
            default_input(&vocab, 5),
            vec![Value::Int(3), Value::Int(1), Value::Int(1)]
        );
        assert_eq!(default_input(&vocab, 1), vec![Value::Int(3)]);
    }

    #[test]
    fn inputs_outside_the_vocabulary_or_too_long_are_rejected() {
        let vocab = vec![Value::Str("a".into()), Value::Str("b".into())];
        let error = check_input(&parse_input("a,z"), &vocab, 3).unwrap_err();
        assert!(
            error.to_string().contains("'z' at position 1"),
            "got {error}"
        );
        let error = check_input(&parse_input("a,a,a,a"), &vocab, 3).unwrap_err();
        assert!(error.to_string().contains("at most 3"), "got {error}");
        assert!(check_input(&[], &vocab, 3).is_err());
    }

    #[test]
    fn thinning_keeps_the_last_point() {
        let points: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let thinned = thin(points, 300);
        assert!(thinned.len() <= 301, "{} points", thinned.len());
        assert_eq!(thinned.last(), Some(&(999.0, 0.0)));
    }
}

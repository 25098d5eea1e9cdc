//! A comparison as a terminal table, as JSON, and the rows of docs/method-comparison.md.

use serde_json::{json, Value as Json};

use super::{Comparison, MethodReport};

fn number(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        Some(v) if v.is_nan() => "nan".into(),
        Some(v) => format!("{v}"),
        None => "-".into(),
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// How a method's circuit relates to the known minimal circuits, in a few words.
pub fn verdict(report: &MethodReport) -> String {
    if let Some(error) = &report.error {
        return format!("failed: {error}");
    }
    match (report.equals_known, report.faithful, report.minimal) {
        (Some(index), _, _) => format!("= minimal circuit #{}", index + 1),
        (None, false, _) => "not faithful".into(),
        (None, true, Some(true)) if report.smaller_known => {
            "faithful, minimal, larger than a known one".into()
        }
        (None, true, Some(true)) => "faithful, minimal, new".into(),
        (None, true, _) => "faithful, not minimal".into(),
    }
}

/// The terminal table: one row per method.
pub fn table(comparison: &Comparison) -> String {
    let mut rows = vec![[
        "method", "edges", "faithful", "exact", "P", "R", "F1", "AUC", "CPR", "CMD", "s", "fwd",
        "bwd", "verdict",
    ]
    .map(String::from)
    .to_vec()];
    for m in &comparison.methods {
        rows.push(vec![
            m.name.clone(),
            m.num_edges.to_string(),
            yes_no(m.faithful).into(),
            yes_no(m.exact).into(),
            number(m.precision, 2),
            number(m.recall, 2),
            number(m.f1, 2),
            number(m.auc, 3),
            number(m.cpr, 3),
            number(m.cmd, 3),
            format!("{:.2}", m.seconds),
            m.forwards.to_string(),
            m.backwards.to_string(),
            verdict(m),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            row.iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON report: task, truth (every known minimal circuit, whether the list is complete) and methods.
pub fn to_json(comparison: &Comparison) -> Json {
    json!({
        "task": comparison.task,
        "graph_edges": comparison.graph_edges,
        "truth": {
            "minimal_circuits": comparison.truth.minimal_circuits,
            "complete": comparison.truth.complete,
            "smallest": comparison.truth.smallest,
            "intended": comparison.truth.intended,
            "search": comparison.truth.search,
        },
        "methods": comparison.methods.iter().map(method_json).collect::<Vec<_>>(),
        "seconds": comparison.seconds,
    })
}

fn method_json(m: &MethodReport) -> Json {
    json!({
        "name": m.name,
        "error": m.error,
        "scores": m.scores,
        "circuit": m.circuit,
        "num_edges": m.num_edges,
        "faithful": m.faithful,
        "kl": m.kl,
        "accuracy": m.accuracy,
        "minimal": m.minimal,
        "equals_minimal_circuit": m.equals_known,
        "nearest_minimal_circuit": m.nearest,
        "smaller_known": m.smaller_known,
        "exact": m.exact,
        "precision": m.precision,
        "recall": m.recall,
        "f1": m.f1,
        "auc": m.auc,
        "auc_rule": m.auc_rule,
        "roc": m.roc,
        "cpr": m.cpr,
        "cmd": m.cmd,
        "faithfulness": m.faithfulness,
        "seconds": m.seconds,
        "forwards": m.forwards,
        "backwards": m.backwards,
        "settings": m.settings,
    })
}

/// One markdown row per method of `comparison`: program, ablation, truth, method and its scores.
pub fn markdown_rows(comparison: &Comparison) -> Vec<String> {
    let program = comparison.task["program"].as_str().unwrap_or("?");
    let ablation = comparison.task["ablation"].as_str().unwrap_or("?");
    let truth = format!(
        "{} ({}{})",
        comparison
            .truth
            .minimal_circuits
            .iter()
            .map(|c| c.len().to_string())
            .collect::<Vec<_>>()
            .join("/"),
        comparison.truth.minimal_circuits.len(),
        if comparison.truth.complete {
            ", complete"
        } else {
            ""
        }
    );
    comparison
        .methods
        .iter()
        .map(|m| {
            format!(
                "| {program} | {ablation} | {truth} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                m.name,
                m.num_edges,
                yes_no(m.faithful),
                yes_no(m.exact),
                number(m.f1, 2),
                number(m.auc, 3),
                number(m.cpr, 3),
                number(m.cmd, 3),
                m.forwards + m.backwards,
                m.seconds,
                verdict(m),
            )
        })
        .collect()
}

/// The header of the per-row markdown table.
pub const MARKDOWN_HEADER: &str = "| program | ablation | truth: sizes (count) | method | edges | faithful | exact | F1 | AUC | CPR | CMD | passes | s | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

/// Per method over every comparison: runs, exact, faithful, and the means of F1, AUC, CPR and CMD.
pub fn markdown_summary(comparisons: &[Comparison]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for c in comparisons {
        for m in &c.methods {
            if !names.contains(&m.name.as_str()) {
                names.push(&m.name);
            }
        }
    }
    let mean = |values: Vec<f64>| -> Option<f64> {
        let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64)
    };
    let mut text = String::from(
        "| method | runs | failed | faithful | exact | = a known minimal circuit | mean F1 | mean AUC | mean CPR | mean CMD | total s |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for name in names {
        let reports: Vec<&MethodReport> = comparisons
            .iter()
            .flat_map(|c| c.methods.iter().filter(|m| m.name == name))
            .collect();
        let count = |f: &dyn Fn(&MethodReport) -> bool| reports.iter().filter(|m| f(m)).count();
        text.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |\n",
            reports.len(),
            count(&|m| m.error.is_some()),
            count(&|m| m.faithful),
            count(&|m| m.exact),
            count(&|m| m.equals_known.is_some()),
            number(mean(reports.iter().filter_map(|m| m.f1).collect()), 2),
            number(mean(reports.iter().filter_map(|m| m.auc).collect()), 3),
            number(mean(reports.iter().filter_map(|m| m.cpr).collect()), 3),
            number(mean(reports.iter().filter_map(|m| m.cmd).collect()), 3),
            reports.iter().map(|m| m.seconds).sum::<f64>(),
        ));
    }
    text
}

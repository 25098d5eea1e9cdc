//! `edgeprune harder-truth --methods` runs each named method of `edgeprune compare` on every form of
//! every program: a summary line per method and form, a column per method in the per-program table,
//! and unknown or repeated names refused before any work.

mod cli_common;

use cli_common::{edgeprune, rejected, text};

/// The rows of the table whose header starts with `header`.
fn table(markdown: &str, header: &str) -> (String, Vec<String>) {
    let mut lines = markdown.lines().skip_while(|l| !l.starts_with(header));
    let head = lines.next().unwrap_or_default().to_string();
    let rows = lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect();
    (head, rows)
}

fn cells(row: &str) -> Vec<String> {
    row.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn each_named_method_gets_a_summary_line_per_form_and_a_column() {
    let output = edgeprune(&[
        "harder-truth",
        "--programs",
        "length",
        "--methods",
        "eap,acdc",
        "--jobs",
        "1",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let markdown = text(&output.stdout);
    let (_, summary) = table(&markdown, "| method | form |");
    let keys: Vec<(String, String)> = summary
        .iter()
        .map(|r| {
            let c = cells(r);
            (c[0].clone(), c[1].clone())
        })
        .collect();
    let want: Vec<(String, String)> = ["eap", "acdc"]
        .iter()
        .flat_map(|m| {
            ["aligned", "rotated", "compressed", "perturbed"]
                .iter()
                .map(move |f| (m.to_string(), f.to_string()))
        })
        .collect();
    assert_eq!(keys, want, "summary lines:\n{}", summary.join("\n"));
    for row in &summary {
        // One run per form of one program, none failed, exact at most the runs.
        let c = cells(row);
        assert_eq!(
            (c[2].as_str(), c[3].as_str()),
            ("1", "0"),
            "summary line {row}"
        );
        assert!(c[4] == "0" || c[4] == "1", "exact count in {row}");
    }
    let (head, rows) = table(&markdown, "| program | form |");
    assert_eq!(
        cells(&head),
        ["program", "form", "accuracy", "truth", "eap", "acdc"],
        "header {head}"
    );
    assert_eq!(rows.len(), 4, "rows: {rows:#?}");
    for row in &rows {
        let c = cells(row);
        assert_eq!(c.len(), 6, "cells of {row}");
        for cell in &c[4..] {
            // `exact F1 AUC (edges)`.
            let parts: Vec<&str> = cell.split_whitespace().collect();
            assert!(
                parts.len() == 4
                    && (parts[0] == "yes" || parts[0] == "no")
                    && parts[1].parse::<f64>().is_ok()
                    && parts[2].parse::<f64>().is_ok()
                    && parts[3].starts_with('('),
                "cell `{cell}` of {row}"
            );
        }
    }
    // On the compiled (aligned) model both methods find length's only minimal circuit.
    assert!(
        rows[0].starts_with("| length | aligned |")
            && cells(&rows[0])[4..]
                .iter()
                .all(|c| c.starts_with("yes 1.00")),
        "aligned row {}",
        rows[0]
    );
}

#[test]
fn unknown_or_repeated_methods_are_refused() {
    rejected(
        &[
            "harder-truth",
            "--programs",
            "length",
            "--methods",
            "ep,nope",
        ],
        &["nope", "acdc", "eap-ig"],
    );
    rejected(
        &[
            "harder-truth",
            "--programs",
            "length",
            "--methods",
            "eap,eap",
        ],
        &["--methods", "twice"],
    );
}

//! `edgeprune report` pages are self-contained (nothing fetched: no http(s) reference, no external
//! script, style or image) and hold every section, for every library program.

use edgeprune::cli::program::{AblationKind, ProgramArgs};
use edgeprune::report::html::{build, ReportOptions, SECTIONS};
use edgeprune::train::config::PruneConfig;

/// The first reference to something outside the page, or `None`.
fn external_reference(html: &str) -> Option<String> {
    let lower = html.to_lowercase();
    for needle in [
        "http:", "https:", "src=", "<link", "@import", "url(http", "//cdn",
    ] {
        if let Some(at) = lower.find(needle) {
            let start = at.saturating_sub(60);
            let end = (at + 60).min(html.len());
            return Some(format!("`{needle}` in …{}…", &html[start..end]));
        }
    }
    None
}

#[test]
fn every_library_program_gives_a_self_contained_page_with_every_section() {
    for name in tracr::library::names() {
        let report = build(
            &ProgramArgs::library(name, AblationKind::Zero),
            &ReportOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let html = &report.html;
        assert!(
            html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"),
            "{name}: not a whole HTML document"
        );
        if let Some(found) = external_reference(html) {
            panic!("{name}: the page refers outside itself: {found}");
        }
        for section in &SECTIONS[..SECTIONS.len() - 1] {
            assert!(
                html.contains(&format!("<section id=\"{section}\">")),
                "{name}: section `{section}` missing"
            );
        }
        assert!(
            !html.contains("<section id=\"edge-pruning\">"),
            "{name}: an Edge Pruning section without --prune"
        );
        assert!(
            html.len() <= 2 * 1024 * 1024,
            "{name}: {} bytes, over 2 MB",
            html.len()
        );
    }
}

#[test]
fn with_prune_the_page_adds_edge_pruning_and_its_curves() {
    let options = ReportOptions {
        prune: Some(PruneConfig::xproportion()),
        ..ReportOptions::default()
    };
    let report = build(
        &ProgramArgs::library("xproportion", AblationKind::Zero),
        &options,
    )
    .expect("xproportion report");
    assert!(report.html.contains("<section id=\"edge-pruning\">"));
    assert_eq!(
        report.html.matches("class=\"curve\"").count(),
        4,
        "KL, sparsity, target and edges kept"
    );
    assert!(external_reference(&report.html).is_none());
}

#[test]
fn the_check_sees_an_external_reference() {
    assert!(external_reference("<img src=\"x.png\">").is_some());
    assert!(external_reference("<script>fetch('https://example.org')</script>").is_some());
    assert!(external_reference("<p>plain</p>").is_none());
}

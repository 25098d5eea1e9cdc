//! Prints the minimal faithful circuits of library programs as the tables of docs/ground-truth.md.
//!
//! ```console
//! $ cargo run --release --example minimal_circuits                # every program, zero and interchange
//! $ cargo run --release --example minimal_circuits -- --lib shuffle_dyck --vocab '(,),x' --max-seq-len 6 --lengths 6
//! ```
//!
//! With `--lib` it lists every circuit found; without, one markdown row per program and ablation.

use clap::Parser;

use edgeprune::cli::program::{AblationKind, LoadedProgram, ProgramArgs};
use edgeprune::error::Result;
use edgeprune::graph::EdgeGraph;
use edgeprune::truth::alternatives::SearchKind;
use edgeprune::truth::{
    equals_any, functional_on, minimal_circuits, structural, MinimalCircuits, SearchOptions,
};

#[derive(Parser)]
struct Single {
    #[command(flatten)]
    program: ProgramArgs,
}

struct Row {
    graph: EdgeGraph,
    structural: usize,
    functional: edgeprune::circuit::Circuit,
    set: MinimalCircuits,
    seconds: f64,
}

fn search(loaded: &LoadedProgram) -> Result<Row> {
    let started = std::time::Instant::now();
    let ablations = loaded.ablations();
    let data: Vec<_> = loaded.tasks.iter().zip(&ablations).collect();
    let start = structural(&loaded.task.model);
    let functional = functional_on(&data, &start)?.circuit;
    let set = minimal_circuits(&data, &table_options())?;
    Ok(Row {
        graph: EdgeGraph::for_model(&loaded.task.model),
        structural: start.num_edges(),
        functional,
        set,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The search the tables use: exhaustive up to 2048 closed subsets, else graph and reverse order,
/// 2 seeded random orders and swap moves within 400 certifications (bounded so that the largest
/// programs, at up to ~1 s per certification on a busy 2-core machine, still finish).
fn table_options() -> SearchOptions {
    SearchOptions {
        exhaustive_limit: 2048,
        random_orders: 2,
        max_checks: 400,
        ..SearchOptions::default()
    }
}

fn search_name(kind: SearchKind) -> String {
    match kind {
        SearchKind::Exhaustive { closed_subsets } => {
            format!("exhaustive ({closed_subsets} closed subsets)")
        }
        SearchKind::Heuristic {
            closed_subsets_over,
        } => format!("heuristic (> {closed_subsets_over} closed subsets)"),
    }
}

/// `+added −removed` edge names of `other` against `base`.
fn difference(graph: &EdgeGraph, base: &[bool], other: &[bool]) -> String {
    let names = graph.edge_names();
    let mut parts = Vec::new();
    for e in 0..base.len() {
        if other[e] && !base[e] {
            parts.push(format!("+{}", names[e]));
        }
    }
    for e in 0..base.len() {
        if base[e] && !other[e] {
            parts.push(format!("−{}", names[e]));
        }
    }
    parts.join(" ")
}

fn main() -> Result<()> {
    if std::env::args().len() > 1 {
        let loaded = Single::parse().program.load()?;
        let row = search(&loaded)?;
        println!(
            "{} ({} ablation, lengths {:?}): structural {} edges; {}; {} minimal circuit(s), list {}; {} checks, {:.1} s",
            loaded.name,
            loaded.ablation_kind.name(),
            loaded.lengths(),
            row.structural,
            search_name(row.set.search),
            row.set.circuits.len(),
            if row.set.complete { "complete" } else { "not known to be complete" },
            row.set.checks,
            row.seconds
        );
        for (i, m) in row.set.circuits.iter().enumerate() {
            let mut marks = Vec::new();
            if row.set.smallest == Some(i) {
                marks.push("smallest");
            }
            if row.set.intended == Some(i) {
                marks.push("intended");
            }
            if m.circuit.edges == row.functional.edges {
                marks.push("functional truth");
            }
            println!(
                "#{i}: {} edges, {} BOS-default, KL {:.2e}, found by {} [{}]",
                m.size(),
                m.bos_default_edges.len(),
                m.certificate.kl,
                m.found_by,
                marks.join(", ")
            );
            println!("    {}", m.circuit.kept_edge_names(&row.graph).join(" "));
        }
        return Ok(());
    }
    println!("| program | ablation | structural | search | minimal circuits (sizes) | complete | functional truth | smallest | intended | others vs functional truth |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for name in tracr::library::names() {
        for ablation in [AblationKind::Zero, AblationKind::Interchange] {
            let args = ProgramArgs::library(name, ablation);
            let loaded = args.load()?;
            let row = search(&loaded)?;
            let set = &row.set;
            eprintln!(
                "{name} {}: {} checks, {:.1} s",
                ablation.name(),
                set.checks,
                row.seconds
            );
            let known = set.as_circuits();
            let index = |i: Option<usize>| i.map_or("-".to_string(), |i| format!("#{i}"));
            let sizes: Vec<String> = set.circuits.iter().map(|m| m.size().to_string()).collect();
            let others: Vec<String> = set
                .circuits
                .iter()
                .enumerate()
                .filter(|(_, m)| m.circuit.edges != row.functional.edges)
                .map(|(i, m)| {
                    format!(
                        "#{i}: {}",
                        difference(&row.graph, &row.functional.edges, &m.circuit.edges)
                    )
                })
                .collect();
            println!(
                "| {name} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |",
                ablation.name(),
                row.structural,
                search_name(set.search),
                set.circuits.len(),
                sizes.join(", "),
                if set.complete { "yes" } else { "no" },
                index(equals_any(&row.functional, &known)),
                index(set.smallest),
                index(set.intended),
                if others.is_empty() {
                    "-".to_string()
                } else {
                    others.join("; ")
                }
            );
        }
    }
    Ok(())
}

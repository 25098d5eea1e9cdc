//! `edgeprune harder-truth` works on several programs at once (`--jobs`); its rows must come out in
//! program order and equal a one-job run's, and `--jobs 0` is refused naming the flag.

mod cli_common;

use cli_common::{edgeprune, rejected, text};

/// The rows of the first table (program, form, accuracy, truth, Edge Pruning's scores): no timings,
/// so two runs of the same seeded work must print them identically.
fn variant_rows(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .skip_while(|l| !l.starts_with("| program | form"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

#[test]
fn two_jobs_give_the_one_job_rows_in_program_order() {
    let programs = "shift_by_1,length";
    let run = |jobs: &str| {
        let output = edgeprune(&["harder-truth", "--programs", programs, "--jobs", jobs]);
        assert!(
            output.status.success(),
            "--jobs {jobs} failed: {}",
            text(&output.stderr)
        );
        variant_rows(&text(&output.stdout))
    };
    let one = run("1");
    let two = run("2");
    assert_eq!(one, two, "rows differ between --jobs 1 and --jobs 2");
    // Four forms per program (aligned, rotated, compressed, perturbed), in the order given.
    assert_eq!(one.len(), 8, "rows: {one:#?}");
    assert!(
        one[..4].iter().all(|r| r.starts_with("| shift_by_1 |"))
            && one[4..].iter().all(|r| r.starts_with("| length |")),
        "rows out of program order: {one:#?}"
    );
}

#[test]
fn zero_jobs_are_refused() {
    rejected(
        &["harder-truth", "--programs", "length", "--jobs", "0"],
        &["--jobs", "at least one"],
    );
}

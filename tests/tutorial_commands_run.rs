//! Every command in docs/tutorial.md runs, in order, in one fresh directory, and prints every output
//! line the page shows under it, so the tutorial cannot drift from the code.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `$ command` of a console block: the command (with its here-document, if any) and the output
/// lines shown under it.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The steps of every ```console block, in page order.
fn steps(markdown: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    let mut heredoc: Option<String> = None;
    for line in markdown.lines() {
        if !in_console {
            in_console = line.trim() == "```console";
            continue;
        }
        if let Some(end) = &heredoc {
            let step = steps
                .last_mut()
                .expect("a here-document follows its command");
            step.command.push('\n');
            step.command.push_str(line);
            if line == end {
                heredoc = None;
            }
            continue;
        }
        if line.trim() == "```" {
            in_console = false;
        } else if let Some(command) = line.strip_prefix("$ ") {
            heredoc = command
                .split("<<'")
                .nth(1)
                .map(|rest| rest.trim_end_matches('\'').to_string());
            steps.push(Step {
                command: command.to_string(),
                expected: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.trim().to_string());
        }
    }
    steps
}

/// A directory whose `tracr` and `edgeprune` are this build's binaries.
fn bin_dir(root: &Path) -> PathBuf {
    let edgeprune = PathBuf::from(env!("CARGO_BIN_EXE_edgeprune"));
    // `tracr` is the workspace's other package; its binary lands beside ours when the workspace is built.
    let tracr = edgeprune.with_file_name(format!("tracr{}", std::env::consts::EXE_SUFFIX));
    assert!(
        tracr.exists(),
        "{} is missing: build the workspace first (`cargo build --release --workspace`, which \
         `cargo test --release --workspace` does)",
        tracr.display()
    );
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, target) in [("edgeprune", &edgeprune), ("tracr", &tracr)] {
        let link = bin.join(name);
        std::fs::remove_file(&link).ok();
        std::os::unix::fs::symlink(target, &link).unwrap();
    }
    bin
}

#[test]
fn every_tutorial_command_runs_and_prints_what_the_page_shows() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tutorial.md");
    let markdown = std::fs::read_to_string(&page).unwrap();
    let steps = steps(&markdown);
    assert!(
        steps.len() >= 10,
        "only {} commands found in {}",
        steps.len(),
        page.display()
    );
    let root = std::env::temp_dir().join(format!("edgeprune-tutorial-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let bin = bin_dir(&root);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for step in &steps {
        let output = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &step.command])
            .current_dir(&work)
            .env("PATH", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "`{}` failed:\n{}\n{}",
            step.command,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: Vec<&str> = stdout.lines().map(str::trim).collect();
        for line in &step.expected {
            assert!(
                printed.contains(&line.as_str()),
                "`{}` did not print the line the tutorial shows:\n  {line}\nit printed:\n{stdout}",
                step.command
            );
        }
    }
    for page in [
        "prev_token.html",
        "prev_token_pruned.html",
        "first_token.html",
    ] {
        let html = std::fs::read_to_string(work.join(page)).unwrap();
        assert!(html.contains("<section id=\"ground-truth\">"), "{page}");
    }
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn the_parser_reads_commands_heredocs_and_outputs() {
    let markdown = "text\n```console\n$ cat > f <<'EOF'\n$ not a command\nEOF\n$ echo hi\nhi\n```\n$ outside\n";
    let parsed = steps(markdown);
    assert_eq!(parsed.len(), 2, "{parsed:?}");
    assert_eq!(parsed[0].command, "cat > f <<'EOF'\n$ not a command\nEOF");
    assert!(parsed[0].expected.is_empty(), "{parsed:?}");
    assert_eq!(parsed[1].command, "echo hi");
    assert_eq!(parsed[1].expected, vec!["hi".to_string()]);
}

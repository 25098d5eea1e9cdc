//! `tracr compile -o PATH`: a path that cannot take the model fails with "cannot write" and the
//! reason, before any compiling; a symlink stays a link and its target gets the model; `-` is
//! standard output; a link to a pipe (what `/dev/stdout` is) is written in place, never replaced.

mod cli_support;

use cli_support::{assert_fails_with, scratch_dir, stderr, stdout, tracr, tracr_in, write_file};
use std::path::Path;

fn is_model_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|json| json["config"]["d_model"].is_u64())
}

fn compile_reverse_to(path: &str) -> std::process::Output {
    tracr(&["compile", "--lib", "reverse", "-o", path])
}

#[test]
fn unwritable_paths_say_cannot_write_with_the_reason() {
    let dir = scratch_dir("unwritable");
    let missing_dir = dir.join("nodir").join("x.json").display().to_string();
    assert_fails_with(
        "missing directory",
        &compile_reverse_to(&missing_dir),
        &["error: cannot write", "nodir/x.json", "does not exist"],
    );
    let file = write_file(&dir, "afile", "");
    let under_a_file = format!("{file}/x.json");
    assert_fails_with(
        "parent is a file",
        &compile_reverse_to(&under_a_file),
        &["cannot write", "is not a directory"],
    );
    assert_fails_with(
        "a directory",
        &compile_reverse_to(&dir.display().to_string()),
        &["cannot write", "it is a directory"],
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["afile"], "failed writes left files behind");
}

#[test]
fn the_output_path_is_checked_before_compiling() {
    // Compiling reverse at 1000 would be refused as too large after inferring its value sets
    // (seconds); the bad path must be reported first.
    let dir = scratch_dir("checked-first");
    let path = dir.join("nodir").join("m.json").display().to_string();
    let output = tracr(&[
        "compile",
        "--lib",
        "reverse",
        "--max-seq-len",
        "1000",
        "-o",
        &path,
    ]);
    assert_fails_with(
        "bad path and a huge model",
        &output,
        &["cannot write", "does not exist"],
    );
    assert!(
        !stderr(&output).contains("would need"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_read_only_directory_fails_with_the_systems_reason_unless_the_user_may_write_anyway() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("read-only");
    let locked = dir.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores the mode: then the honest answer is that the write succeeds.
    let probe = locked.join("probe");
    let may_write = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    let target = locked.join("m.json");
    let output = compile_reverse_to(&target.display().to_string());
    if may_write {
        assert!(
            output.status.success(),
            "writable for this user: {}",
            stderr(&output)
        );
        assert!(is_model_json(&std::fs::read_to_string(&target).unwrap()));
    } else {
        assert_fails_with(
            "read-only directory",
            &output,
            &["cannot write", "Permission denied"],
        );
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_symlink_stays_a_link_and_its_target_gets_the_model() {
    let dir = scratch_dir("symlink");
    let target = dir.join("target.json");
    std::fs::write(&target, "old").unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink("target.json", &link).unwrap();
    let output = compile_reverse_to(&link.display().to_string());
    assert!(output.status.success(), "{}", stderr(&output));
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(
        meta.file_type().is_symlink(),
        "link.json was replaced by a {:?}",
        meta.file_type()
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("target.json"));
    assert!(
        is_model_json(&std::fs::read_to_string(&target).unwrap()),
        "target.json holds no model"
    );
}

#[test]
fn dash_writes_the_model_to_standard_output_and_creates_no_file() {
    let dir = scratch_dir("dash");
    let output = tracr_in(&dir, &["compile", "--lib", "reverse", "-o", "-"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        is_model_json(&stdout(&output)),
        "stdout: {}",
        stdout(&output)
    );
    assert!(!dir.join("-").exists(), "a file named `-` was created");
    // The table and the model would be interleaved on one stream.
    let both = tracr_in(
        &dir,
        &["compile", "--lib", "reverse", "-o", "-", "--describe"],
    );
    assert_fails_with(
        "-o - with --describe",
        &both,
        &["both write to standard output"],
    );
}

#[test]
fn a_link_to_this_process_stdout_is_written_in_place() {
    // `/dev/stdout` links to `/proc/self/fd/1`; a link to that in a scratch dir behaves the same
    // without touching the system's /dev.
    let dir = scratch_dir("proc-stdout");
    let link = dir.join("stdout-link");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    let output = compile_reverse_to(&link.display().to_string());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        is_model_json(&stdout(&output)),
        "stdout: {}",
        stdout(&output)
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["stdout-link"], "files left behind");
}

#[test]
fn a_fifo_is_written_in_place() {
    let dir = scratch_dir("fifo");
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracr"))
        .args(["compile", "--lib", "reverse", "-o"])
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the tracr binary runs");
    // A writer that waits on the FIFO forever is the failure this guards against: give up after
    // a minute (compiling reverse takes well under a second) instead of hanging the suite.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // If tracr never opened the FIFO, the reader still waits: open it once to release it.
    if !reader.is_finished() {
        drop(std::fs::OpenOptions::new().write(true).open(&fifo));
    }
    let received = reader.join().unwrap();
    let status = status.expect("tracr compile -o FIFO was still running after 60 s");
    assert!(status.success(), "tracr compile -o FIFO failed: {status}");
    assert!(
        is_model_json(&received),
        "the reader got no model: {received:.200}"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO was replaced"
    );
}

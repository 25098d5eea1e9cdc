//! Writing output files so that a reader never sees a half-written one (shared with the tracr CLI):
//! symlinks are written through, `-` is standard output, and every output path is checked before work.

use std::path::Path;

use crate::error::Result;

/// Writes `bytes` to `path` all at once (see [`tracr::io::write_atomically`]).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(tracr::io::write_atomically(path, bytes)?)
}

/// Pretty-printed JSON with a final newline.
pub fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    text
}

/// Writes pretty-printed JSON atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    write(path, json_text(value).as_bytes())
}

/// Checks that every given output path can be written, before any long work starts.
pub fn check_writable(paths: &[Option<&Path>]) -> Result<()> {
    let paths: Vec<&Path> = paths.iter().flatten().copied().collect();
    Ok(tracr::io::check_all_writable(&paths)?)
}

/// Writes every `(path, bytes)` pair or none of them (see [`tracr::io::write_all_or_none`]).
pub fn write_all(outputs: &[(&Path, &[u8])]) -> Result<()> {
    Ok(tracr::io::write_all_or_none(outputs)?)
}

/// Checks, before long work, that `dir` can become a new folder: it does not exist (or is an empty
/// folder) and its parent is a writable folder. Nothing is left behind.
pub fn check_new_directory(dir: &Path) -> Result<()> {
    let refuse = |message: String| crate::error::Error::InvalidOption {
        option: "-o".into(),
        message: format!("`{}` {message}", dir.display()),
    };
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if !meta.is_dir() {
            return Err(refuse(
                "exists and is not a folder; give a new folder name".into(),
            ));
        }
        let mut entries = std::fs::read_dir(dir).map_err(|source| crate::error::Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        if entries.next().is_some() {
            return Err(refuse(
                "is a folder that is not empty; give a new folder (a pack is written whole or not at all)"
                    .into(),
            ));
        }
    }
    let probe = staging_directory(dir, "probe");
    let parent = probe.parent().map(Path::to_path_buf).unwrap_or_default();
    if !parent.is_dir() {
        return Err(refuse(format!(
            "cannot be created: its parent folder `{}` does not exist; create it first",
            parent.display()
        )));
    }
    std::fs::create_dir(&probe).map_err(|source| crate::error::Error::Io {
        path: probe.display().to_string(),
        source,
    })?;
    let _ = std::fs::remove_dir(&probe);
    Ok(())
}

fn staging_directory(dir: &Path, purpose: &str) -> std::path::PathBuf {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pack".into());
    parent.join(format!(".{name}.{}.{purpose}", std::process::id()))
}

/// Writes `files` (paths relative to `dir`) as the new folder `dir`, all or nothing: into a hidden
/// sibling folder first, renamed to `dir` only when every file is written (an empty `dir` is replaced).
pub fn write_directory(dir: &Path, files: &[(std::path::PathBuf, Vec<u8>)]) -> Result<()> {
    check_new_directory(dir)?;
    let staging = staging_directory(dir, "tmp");
    let io = |path: &Path, source: std::io::Error| crate::error::Error::Io {
        path: path.display().to_string(),
        source,
    };
    let result = (|| -> Result<()> {
        std::fs::create_dir(&staging).map_err(|e| io(&staging, e))?;
        for (relative, bytes) in files {
            let path = staging.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::write(&path, bytes).map_err(|e| io(&dir.join(relative), e))?;
        }
        if std::fs::symlink_metadata(dir).is_ok() {
            std::fs::remove_dir(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::rename(&staging, dir).map_err(|e| io(dir, e))
    })();
    if result.is_err() {
        // Never leave a half-written pack behind.
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

//! Writing output files: all or nothing, through symlinks, `-` for standard output.
//!
//! A regular file is written to a temporary beside its final place and renamed over it, so a reader never
//! sees half a file. A symlink is followed and its *target* is replaced (the link stays a link). A path that
//! names something other than a regular file (`/dev/stdout`, a FIFO) is written in place, since renaming
//! over a device would replace it. `-` is standard output.
//!
//! No fsync: the guarantee is against *our* failures (an error, a kill, a full disk part way): the
//! bytes go to a temporary that is renamed over the target only once every write succeeded, and
//! rename is atomic for every other process, so none ever sees half a file. An fsync would only add
//! durability across a power loss or kernel crash (where the file could be the old one or empty),
//! which no caller needs: every output here can be written again by rerunning the command, and the
//! fsync cost more than the rest of `tracr compile -o` together (3-10 ms per file, more under load).
//! (Local file systems report a full disk from `write`; one that reports it only at writeback, such
//! as NFS, is the one case an fsync would have caught.)

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether `path` means standard output (`-`).
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn write_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Write {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Where the bytes for `path` really go: the final target of a chain of symlinks (relative links
/// resolved against their own directory). A missing target is fine (it will be created).
fn resolve_symlinks(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current).map_err(|e| write_error(path, e))?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(write_error(path, "too many levels of symbolic links"))
}

/// The directory a new file at `path` would be created in.
fn parent_directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether `path` is written in place rather than replaced: anything that exists and is not a regular
/// file once the kernel follows its links (`/dev/stdout` on a pipe or terminal, a FIFO), and anything
/// under `/dev/` or `/proc/` (`/dev/stdout` when the shell redirected it to a file, whose `/proc`
/// "link" must not be resolved and renamed over).
fn written_in_place(path: &Path) -> bool {
    let special = path.starts_with("/dev") || path.starts_with("/proc");
    match std::fs::metadata(path) {
        Ok(meta) => !meta.is_dir() && (special || !meta.is_file()),
        Err(_) => false,
    }
}

/// Checks, before any long work, that `path` can be written: `-`, an existing non-directory, or a new
/// file in an existing, writable directory. Nothing is left behind.
pub fn check_writable(path: &Path) -> Result<()> {
    if is_stdout(path) {
        return Ok(());
    }
    if written_in_place(path) {
        // Not opened to test it: opening a FIFO for writing waits for a reader.
        return Ok(());
    }
    let target = resolve_symlinks(path)?;
    if let Ok(meta) = std::fs::metadata(&target) {
        if meta.is_dir() {
            return Err(write_error(path, "it is a directory; give a file name"));
        }
        if !meta.is_file() {
            return Ok(()); // a device or FIFO: written in place
        }
    }
    if target.file_name().is_none() {
        return Err(write_error(path, "the path names no file"));
    }
    let directory = parent_directory(&target);
    match std::fs::metadata(&directory) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(write_error(
                path,
                format!("`{}` is not a directory", directory.display()),
            ))
        }
        Err(_) => {
            return Err(write_error(
                path,
                format!(
                    "the directory `{}` does not exist; create it first",
                    directory.display()
                ),
            ))
        }
    }
    // The honest test of permission: create (and remove) a file where the temporary will go.
    let probe = temporary_path(&target, "probe");
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(error) => Err(write_error(path, error)),
    }
}

/// Checks every path with [`check_writable`], and that no two name the same file.
pub fn check_all_writable(paths: &[&Path]) -> Result<()> {
    for (index, path) in paths.iter().enumerate() {
        check_writable(path)?;
        if !is_stdout(path) && paths[..index].contains(path) {
            return Err(write_error(
                path,
                "given for two outputs; give each its own file",
            ));
        }
    }
    Ok(())
}

fn temporary_path(target: &Path, purpose: &str) -> PathBuf {
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_directory(target).join(format!(".{file_name}.{}.{purpose}", std::process::id()))
}

/// Writes `bytes` to `path` all at once: atomically for regular files (through symlinks), in place
/// for devices, to standard output for `-`. On failure nothing is left.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// [`write_atomically`] with the bytes that `write` writes as it makes them, so that a large file
/// need not be held in memory first; the same guarantees (nothing is left if `write` fails).
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    if is_stdout(path) {
        let mut stdout = std::io::stdout().lock();
        return write(&mut stdout)
            .and_then(|()| stdout.flush())
            .map_err(|e| write_error(path, e));
    }
    if written_in_place(path) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| write(&mut file))
            .map_err(|e| write_error(path, e));
    }
    let target = resolve_symlinks(path)?;
    if let Ok(meta) = std::fs::metadata(&target) {
        if meta.is_dir() {
            return Err(write_error(path, "it is a directory; give a file name"));
        }
        if !meta.is_file() {
            return std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .and_then(|mut file| write(&mut file))
                .map_err(|e| write_error(path, e));
        }
    }
    if target.file_name().is_none() {
        return Err(write_error(path, "the path names no file"));
    }
    let temporary = temporary_path(&target, "tmp");
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        write(&mut file)?;
        // No sync_all: see the module's doc (the rename alone keeps readers from half a file).
        replace(&temporary, &target)
    })();
    if result.is_err() {
        // Never leave the temporary behind when the write or the rename failed.
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(|e| write_error(path, e))
}

/// Writes every byte of `slices` to `sink`, in order, with as few vectored writes as the sink
/// takes (a file: one `writev` per 1024 slices, unless the kernel writes less); `Write`'s own
/// `write_all_vectored` is not stable yet.
pub fn write_all_vectored(
    sink: &mut dyn Write,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0); // drops leading empty slices
    while !slices.is_empty() {
        match sink.write_vectored(slices) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "failed to write whole buffer",
                ))
            }
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Puts the file `temporary` in the place of `target` atomically: a reader of `target` sees the old
/// file or the new one, never neither.
///
/// On Linux an existing `target` is swapped with `temporary` (`renameat2` with `RENAME_EXCHANGE`)
/// and then unlinked under the temporary's name, instead of renamed over. The result is the same,
/// but a plain rename over an existing file makes ext4 allocate and start writing the new file's
/// blocks at once (`auto_da_alloc`), and when the old file is freed inside the rename, a filesystem
/// mounted with `discard` (as this project's machines are) waits for the device to discard its
/// blocks: 0.3 ms for a 20 KB file, 1.8 ms for 2 MB, measured, and a short `tracr compile -o`
/// process is only a few ms. After the swap the new file is written back like any other, and
/// unlinking an old file that was never written back (one replaced again within seconds, as
/// recompiling does) frees no blocks. What `auto_da_alloc` adds is a better chance, after a power
/// loss, of finding the old or new file rather than an empty one; the module's doc says why no
/// caller needs that. Without the swap (another system, a filesystem without it, no `target`) it
/// is a plain rename.
fn replace(temporary: &Path, target: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c_path = |path: &Path| std::ffi::CString::new(path.as_os_str().as_bytes());
        if let (Ok(from), Ok(to)) = (c_path(temporary), c_path(target)) {
            // SAFETY: both are NUL-terminated paths that live across the call; renameat2 reads
            // them and keeps no pointer.
            let swapped = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    from.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            } == 0;
            if swapped {
                // `temporary` now names the old file. Should removing it fail, the new file is
                // in place all the same; only a stale temporary is left.
                let _ = std::fs::remove_file(temporary);
                return Ok(());
            }
        }
    }
    std::fs::rename(temporary, target)
}

/// Writes every `(path, bytes)` pair, or none: all are checked first, and if a later write still fails
/// the files this call created are removed (files it replaced cannot be restored, so they are checked
/// hardest: before anything is written).
pub fn write_all_or_none(outputs: &[(&Path, &[u8])]) -> Result<()> {
    let paths: Vec<&Path> = outputs.iter().map(|(p, _)| *p).collect();
    check_all_writable(&paths)?;
    let mut created = Vec::new();
    for (path, bytes) in outputs {
        let existed = is_stdout(path) || std::fs::symlink_metadata(path).is_ok();
        if let Err(error) = write_atomically(path, bytes) {
            for earlier in created {
                let _ = std::fs::remove_file(earlier);
            }
            return Err(error);
        }
        if !existed {
            created.push(*path);
        }
    }
    Ok(())
}

/// Checks, before any long work, that the folder `dir` can be written by
/// [`write_directory_atomically`] with files named `names`: not `-`, not an existing file, its parent
/// an existing writable directory, and if it exists it holds nothing but files called `names` (which
/// will be replaced), so that no one's other files are lost.
pub fn check_directory_writable(dir: &Path, names: &[&str]) -> Result<()> {
    if is_stdout(dir) {
        return Err(write_error(
            dir,
            "this format is a folder of files; give a folder name, not `-`",
        ));
    }
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let entries = std::fs::read_dir(dir).map_err(|e| write_error(dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| write_error(dir, e))?;
                let name = entry.file_name();
                if !names.iter().any(|n| name == std::ffi::OsStr::new(n)) {
                    return Err(write_error(
                        dir,
                        format!(
                            "the folder exists and holds `{}`, which is not one of the files                              written here ({}); give a new or empty folder",
                            name.to_string_lossy(),
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(_) => {
            return Err(write_error(
                dir,
                "it exists and is not a folder; this format writes a folder of files",
            ))
        }
        Err(_) => {}
    }
    if dir.file_name().is_none() {
        return Err(write_error(dir, "the path names no folder"));
    }
    let parent = parent_directory(dir);
    if !parent.is_dir() {
        return Err(write_error(
            dir,
            format!(
                "the directory `{}` does not exist; create it first",
                parent.display()
            ),
        ));
    }
    let probe = temporary_path(dir, "probe");
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            Ok(())
        }
        Err(error) => Err(write_error(dir, error)),
    }
}

/// Writes the folder `dir` holding exactly `files` (`(name, bytes)`), all or nothing: the files go
/// to a temporary folder beside it, which then replaces `dir` by renames. On failure `dir` is left
/// as it was and nothing else is left behind.
pub fn write_directory_atomically(dir: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    check_directory_writable(dir, &names)?;
    let temporary = temporary_path(dir, "tmp");
    let old = temporary_path(dir, "old");
    let written = (|| {
        std::fs::create_dir(&temporary)?;
        for (name, bytes) in files {
            let mut file = std::fs::File::create(temporary.join(name))?;
            file.write_all(bytes)?;
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&temporary);
        return Err(write_error(dir, error));
    }
    let existed = dir.is_dir();
    if existed {
        if let Err(error) = std::fs::rename(dir, &old) {
            let _ = std::fs::remove_dir_all(&temporary);
            return Err(write_error(dir, error));
        }
    }
    if let Err(error) = std::fs::rename(&temporary, dir) {
        if existed {
            let _ = std::fs::rename(&old, dir);
        }
        let _ = std::fs::remove_dir_all(&temporary);
        return Err(write_error(dir, error));
    }
    if existed {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tracr-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A sink that takes at most 7 bytes per call and is interrupted every third call, as a
    /// pipe or a signal can make a real `writev` do.
    struct Trickle {
        bytes: Vec<u8>,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let mut taken = 0;
            for buf in bufs {
                let n = buf.len().min(7 - taken);
                self.bytes.extend_from_slice(&buf[..n]);
                taken += n;
                if taken == 7 {
                    break;
                }
            }
            Ok(taken)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn vectored_writes_resume_after_short_and_interrupted_writes() {
        let parts: [&[u8]; 5] = [b"", b"header:", b"", b"0123456789abcdef", b"end"];
        let mut slices: Vec<IoSlice> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut sink = Trickle {
            bytes: Vec::new(),
            calls: 0,
        };
        write_all_vectored(&mut sink, &mut slices).unwrap();
        assert_eq!(sink.bytes, b"header:0123456789abcdefend");
    }

    /// A sink that accepts nothing: the writer must report it, not loop.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Ok(0)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_sink_that_takes_nothing_is_an_error() {
        let mut slices = [IoSlice::new(b"abc")];
        let error = write_all_vectored(&mut Full, &mut slices).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::WriteZero);
    }

    #[test]
    fn writes_through_a_symlink_to_its_target() {
        let dir = scratch("symlink");
        let target = dir.join("target.json");
        let link = dir.join("link.json");
        std::fs::write(&target, "old").unwrap();
        std::os::unix::fs::symlink("target.json", &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_a_write_error_before_any_work() {
        let error = check_writable(Path::new("no-such-dir-for-tracr/x.json")).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("cannot write"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
        assert!(check_writable(Path::new("-")).is_ok());
    }

    #[test]
    fn all_or_none_leaves_nothing_when_one_path_is_bad() {
        let dir = scratch("all-or-none");
        let good = dir.join("good.json");
        let bad = dir.join("missing").join("bad.svg");
        let error = write_all_or_none(&[(&good, b"a"), (&bad, b"b")]).unwrap_err();
        assert!(error.to_string().contains("cannot write"), "{error}");
        assert!(!good.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

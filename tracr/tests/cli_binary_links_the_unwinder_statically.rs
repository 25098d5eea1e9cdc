//! The `tracr` binary takes GCC's unwinder from the static libgcc_eh (see the `#[link]` in
//! `src/bin/tracr.rs`), so that the dynamic loader does not map libgcc_s.so at every start: a
//! fifth of a bare process's time, and part of #11's `tracr compile -o` budget. This test keeps
//! that from being lost silently: a link-order change would bring libgcc_s back with no error.

/// The shared libraries the binary asks the loader for: the strings its dynamic section names
/// (`DT_NEEDED`), found as NUL-terminated library names in the file.
fn mentions(binary: &[u8], library: &str) -> bool {
    let needle = format!("{library}\0");
    binary
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binary_does_not_load_libgcc_s() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_tracr")).expect("the test binary's sibling");
    // The check can see a NEEDED name: the binary does name libc.
    assert!(mentions(&binary, "libc.so.6"), "libc.so.6 is named");
    assert!(
        !mentions(&binary, "libgcc_s.so.1"),
        "the tracr binary names libgcc_s.so.1: the static unwinder was not linked first"
    );
}

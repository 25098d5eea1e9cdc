//! The `edgeprune` command line.

use clap::Parser;

/// Keeps freed tensor memory in glibc's heap for reuse. By default glibc serves each allocation above a
/// (sliding) threshold with a fresh `mmap` and returns the heap's free top to the system, so every one of
/// the candle backend's per-step tensors (megabytes each, thousands per GPT-2 step) costs page faults
/// and kernel page zeroing: a third of a GPT-2-small step's CPU time, measured single-threaded
/// (docs/scaling.md). Tensors up to 32 MiB (glibc's ceiling for this setting) now come from the heap,
/// which is trimmed only above 2 GiB of free top and grows 256 MiB at a time.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; called first in main, while this is the only thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() {
    keep_freed_memory();
    // candle asks for its thread count before every matrix product and, unless RAYON_NUM_THREADS is set,
    // answers by parsing /proc/cpuinfo each time (5 % of a GPT-2 step's CPU time in a profile): set it to
    // the count candle would compute, parsed once. CANDLE_NUM_THREADS sizes candle's second pool, the
    // spin-waiting one that splits element-wise ops: beside the matrix products' threads it
    // over-subscribes the cores (a GPT-2-small step took 2.7x the wall time and 1.9x the CPU time with
    // it on this 2-core machine, docs/scaling.md), so element-wise ops stay on the calling thread unless
    // the user sets it. Both are set first, while this is the only thread.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let cli = edgeprune::cli::Cli::parse();
    if let Err(error) = edgeprune::cli::run(&cli) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

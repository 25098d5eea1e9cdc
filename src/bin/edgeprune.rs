//! The `edgeprune` command line.

use clap::Parser;

fn main() {
    // candle asks for its thread count before every matrix product and, unless RAYON_NUM_THREADS is set,
    // answers by parsing /proc/cpuinfo each time (5 % of a GPT-2 step's CPU time in a profile). Setting the
    // variable to the count candle would compute keeps its choice and parses once. Done first, while this
    // is the only thread.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    let cli = edgeprune::cli::Cli::parse();
    if let Err(error) = edgeprune::cli::run(&cli) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

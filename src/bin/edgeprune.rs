//! The `edgeprune` command line.

use clap::Parser;

fn main() {
    let cli = edgeprune::cli::Cli::parse();
    if let Err(error) = edgeprune::cli::run(&cli) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

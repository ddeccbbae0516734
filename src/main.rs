//! The `vchip` command line; the parser and the subcommands live in the library (`vchip::cmd`) so
//! the Python package runs the same code in process.

use std::process::ExitCode;

use clap::Parser;

/// Tracing and costing allocate many small names and vectors; mimalloc halves their cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = vchip::cmd::Cli::parse();
    match vchip::cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

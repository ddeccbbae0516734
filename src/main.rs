//! The `vchip` command line: parses arguments and dispatches, one module per subcommand under
//! `cmd/`.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "vchip",
    version,
    about = "Hardware simulator and co-design modeling tool"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a network's operator trace: shapes, dtypes, MACs, parameters, bytes.
    Trace(cmd::trace::TraceCmdArgs),
    /// List the built-in models.
    ///
    /// Examples: `vchip zoo`, `vchip zoo --format json`
    Zoo {
        /// `table` (default) or `json`: an array of {name, description}.
        #[arg(long, value_enum, default_value = "table")]
        format: vchip::report::Format,
    },
    /// Simulate a network on a hardware model: per-layer cycles, stalls, traffic, energy.
    Simulate(cmd::simulate::SimulateArgs),
    /// Sweep hardware parameters over one or more models, in parallel; resumable and shardable.
    Sweep(cmd::sweep::SweepArgs),
    /// Per-op cost tables of a NAS search space for a device (OFA LUT YAML, HW-NAS-Bench JSON,
    /// DyNAS-T CSV, rich Parquet).
    Table(cmd::table::TableArgs),
    /// Join the part files of a (sharded) sweep into one table.
    Merge(cmd::merge::MergeArgs),
    /// Time real kernels on this machine and report how far the models' predictions are.
    Validate(cmd::validate::ValidateArgs),
    /// Hardware presets.
    Hw {
        #[command(subcommand)]
        cmd: cmd::hw::HwCmd,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Trace(a) => cmd::trace::run(a),
        Cmd::Zoo { format } => cmd::trace::zoo(format),
        Cmd::Simulate(a) => cmd::simulate::run(a),
        Cmd::Sweep(a) => cmd::sweep::run(a),
        Cmd::Table(a) => cmd::table::run(a),
        Cmd::Merge(a) => cmd::merge::run(a),
        Cmd::Validate(a) => cmd::validate::run(a),
        Cmd::Hw { cmd } => cmd::hw::run(cmd),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

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
    #[command(
        after_help = "Examples:\n  vchip trace resnet50\n  vchip trace model.onnx --batch 8 --precision w8a8 --format csv -o trace.csv\n  vchip trace llama-2-70b --seq 2048 --context 4096 --phase decode --tp 8"
    )]
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
    #[command(
        after_help = "Examples:\n  vchip simulate resnet50 --hw tpu-v1 --batch 8 --plot roofline.svg\n  vchip simulate topo.csv --hw scale.cfg --compat scalesim --format csv\n  vchip simulate resnet8 --hw nucleo-l4r5zi --lib cmsis-nn\n  vchip simulate llama-2-70b --hw dgx-h100 --tp 8 --prompt 2048 --gen 128 --format json"
    )]
    Simulate(cmd::simulate::SimulateArgs),
    /// Sweep hardware parameters over one or more models, in parallel; resumable and shardable.
    #[command(
        after_help = "Examples:\n  vchip sweep resnet50 --hw systolic --set systolic.rows=16..256:x2 --set dram.bandwidth_gb_s=25..400:x2 --pareto latency,energy,area --plot front.svg -o sweep.parquet\n  vchip sweep resnet50 mobilenet_v2 --hw tpu-v1 --set clock_mhz=500..1000:100 --shard 0/4 --parts parts/"
    )]
    Sweep(cmd::sweep::SweepArgs),
    /// Per-op cost tables of a NAS search space for a device (OFA LUT YAML, HW-NAS-Bench JSON,
    /// DyNAS-T CSV, rich Parquet).
    #[command(
        after_help = "Examples:\n  vchip table ofa-mbv3 --hw edge-tpu-like -o tables/\n  vchip table ofa-mbv3 --hw nucleo-h7a3zi-q --subnets 1000 -o mcu-tables/\n  vchip table models --models resnet50,mobilenet_v2 --hw tpu-v1"
    )]
    Table(cmd::table::TableArgs),
    /// Join the part files of a (sharded) sweep into one table.
    #[command(
        after_help = "Examples:\n  vchip merge parts/ -o sweep.parquet\n  vchip merge parts/ --allow-partial --pareto latency,energy -o partial.parquet"
    )]
    Merge(cmd::merge::MergeArgs),
    /// Time real kernels on this machine and report how far the models' predictions are.
    #[command(
        after_help = "Examples:\n  vchip validate --device cpu --quick -o report/\n  vchip validate --device cpu --from report/measurements.json -o refit/\n  vchip validate --device gpu --quick -o report/"
    )]
    Validate(cmd::validate::ValidateArgs),
    /// Hardware presets.
    #[command(
        after_help = "Examples:\n  vchip hw list --format json\n  vchip hw show tpu-v1 > my.yaml\n  vchip hw show scale.cfg"
    )]
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

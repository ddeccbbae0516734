//! The `vchip` command line: the parser, and one module per subcommand; `args` holds what several
//! share, with the one loader of hardware and models (`crate::session`).

pub mod args;
pub mod coe;
pub mod hw;
pub mod merge;
pub mod simulate;
pub mod sweep;
pub mod table;
pub mod trace;
pub mod validate;

use std::ffi::OsString;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vchip",
    version,
    about = "Hardware simulator and co-design modeling tool"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a network's operator trace: shapes, dtypes, MACs, parameters, bytes.
    #[command(
        after_help = "Examples:\n  vchip trace resnet50\n  vchip trace model.onnx --batch 8 --precision w8a8 --format csv -o trace.csv\n  vchip trace llama-2-70b --seq 2048 --context 4096 --phase decode --tp 8"
    )]
    Trace(self::trace::TraceCmdArgs),
    /// List the built-in models.
    ///
    /// Examples: `vchip zoo`, `vchip zoo --format json`
    Zoo {
        /// `table` (default) or `json`: an array of {name, description}.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::report::Format,
    },
    /// Simulate a network on a hardware model: per-layer cycles, stalls, traffic, energy.
    #[command(
        after_help = "Examples:\n  vchip simulate resnet50 --hw tpu-v1 --batch 8 --plot roofline.svg\n  vchip simulate topo.csv --hw scale.cfg --compat scalesim --format csv\n  vchip simulate resnet8 --hw nucleo-l4r5zi --lib cmsis-nn\n  vchip simulate llama-2-70b --hw dgx-h100 --tp 8 --prompt 2048 --gen 128 --format json"
    )]
    Simulate(self::simulate::SimulateArgs),
    /// Sweep hardware parameters over one or more models, in parallel; resumable and shardable.
    #[command(
        after_help = "Examples:\n  vchip sweep resnet50 --hw systolic --set systolic.rows=16..256:x2 --set dram.bandwidth_gb_s=25..400:x2 --pareto latency,energy,area --plot front.svg -o sweep.parquet\n  vchip sweep resnet50 mobilenet_v2 --hw tpu-v1 --set clock_mhz=500..1000:100 --shard 0/4 --parts parts/"
    )]
    Sweep(self::sweep::SweepArgs),
    /// Per-op cost tables of a NAS search space for a device (OFA LUT YAML, HW-NAS-Bench JSON,
    /// DyNAS-T CSV, rich Parquet).
    #[command(
        after_help = "Examples:\n  vchip table ofa-mbv3 --hw edge-tpu-like -o tables/\n  vchip table ofa-mbv3 --hw nucleo-h7a3zi-q --subnets 1000 -o mcu-tables/\n  vchip table models --models resnet50,mobilenet_v2 --hw tpu-v1"
    )]
    Table(self::table::TableArgs),
    /// Join the part files of a (sharded) sweep into one table.
    #[command(
        after_help = "Examples:\n  vchip merge parts/ -o sweep.parquet\n  vchip merge parts/ --allow-partial --pareto latency,energy -o partial.parquet"
    )]
    Merge(self::merge::MergeArgs),
    /// Time real kernels on this machine and report how far the models' predictions are.
    #[command(
        after_help = "Examples:\n  vchip validate --device cpu --quick -o report/\n  vchip validate --device cpu --from report/measurements.json -o refit/\n  vchip validate --device gpu --quick -o report/"
    )]
    Validate(self::validate::ValidateArgs),
    /// Composition of Experts: many expert LLMs served from one node's memory tiers, model
    /// switching included, against the same scenario on a baseline node.
    #[command(
        after_help = "Examples:\n  vchip coe --experts 150 --expert-model llama-2-7b --hw sn40l-8 --zipf 1.0 --prompt 512 --gen 20\n  vchip coe --experts 150 --expert-model llama-2-7b --hw sn40l-8 --requests requests.csv --format json"
    )]
    Coe(self::coe::CoeArgs),
    /// Hardware presets.
    #[command(
        after_help = "Examples:\n  vchip hw list --format json\n  vchip hw show tpu-v1 > my.yaml\n  vchip hw show scale.cfg"
    )]
    Hw {
        #[command(subcommand)]
        cmd: self::hw::HwCmd,
    },
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Trace(a) => self::trace::run(a),
        Cmd::Zoo { format } => self::trace::zoo(format),
        Cmd::Simulate(a) => self::simulate::run(a),
        Cmd::Sweep(a) => self::sweep::run(a),
        Cmd::Table(a) => self::table::run(a),
        Cmd::Merge(a) => self::merge::run(a),
        Cmd::Validate(a) => self::validate::run(a),
        Cmd::Coe(a) => self::coe::run(a),
        Cmd::Hw { cmd } => self::hw::run(cmd),
    }
}

/// Runs the command line `args` (program name first) in this process: what `vchip` does, for
/// front-ends that embed it (the Python package). A usage error comes back as an error holding
/// clap's message; `--help`/`--version` print and succeed.
pub fn run_args<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => {
            ARGV.with(|a| {
                *a.borrow_mut() = Some(
                    args.iter()
                        .map(|x| x.to_string_lossy().into_owned())
                        .collect(),
                )
            });
            let r = run(cli);
            ARGV.with(|a| *a.borrow_mut() = None);
            r
        }
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Ok(())
        }
        Err(e) => {
            // clap's message without its `error: ` (the caller's front-end adds its own) and
            // without the usage of flags the caller never typed.
            let text = e.render().to_string();
            let text = text.split("\n\nUsage:").next().unwrap_or(&text);
            let text = text.strip_prefix("error: ").unwrap_or(text);
            Err(anyhow::anyhow!("{}", text.trim_end()))
        }
    }
}

thread_local! {
    /// The command line being run in process by [`run_args`] (the process's own otherwise).
    static ARGV: std::cell::RefCell<Option<Vec<String>>> = const { std::cell::RefCell::new(None) };
}

/// The command line of the run: what [`run_args`] was given, else the process's arguments.
pub(crate) fn command_line() -> Vec<String> {
    ARGV.with(|a| a.borrow().clone())
        .unwrap_or_else(|| std::env::args().collect())
}

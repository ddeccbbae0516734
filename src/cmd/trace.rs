//! `vchip trace` and `vchip zoo`: a network's operator trace as imported, and the built-in models.

use anyhow::Result;
use clap::Args;
use vchip::report;
use vchip_workloads::zoo;

use super::args::{ModelArgs, OutArgs};

#[derive(Args)]
pub struct TraceCmdArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: TraceCmdArgs) -> Result<()> {
    let trace = a.model.load(None)?;
    a.out.emit(&report::render_trace(&trace, a.out.format))
}

pub fn zoo() -> Result<()> {
    for e in zoo::ZOO {
        println!("{:<22} {}", e.name, e.description);
    }
    Ok(())
}

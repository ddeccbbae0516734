//! `vchip trace` and `vchip zoo`: a network's operator trace as imported, and the built-in models.

use crate::report;
use anyhow::Result;
use clap::Args;
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
    a.out.emit(&report::render_trace_with(
        &trace,
        a.out.format,
        a.out.totals,
    ))
}

pub fn zoo(format: crate::report::Format) -> Result<()> {
    let text = match format {
        crate::report::Format::Json => {
            let v: Vec<serde_json::Value> = zoo::ZOO
                .iter()
                .map(|e| serde_json::json!({"name": e.name, "description": e.description}))
                .collect();
            serde_json::to_string_pretty(&v)? + "\n"
        }
        _ => zoo::ZOO
            .iter()
            .map(|e| format!("{:<22} {}\n", e.name, e.description))
            .collect(),
    };
    super::args::OutArgs::stdout().emit(&text)
}

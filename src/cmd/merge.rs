//! `vchip merge`: joins the part files of a (sharded) sweep into one table.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::args::parse_objectives;
use super::sweep::finish_table;

#[derive(Args)]
pub struct MergeArgs {
    /// The parts directory.
    pub parts: PathBuf,
    #[arg(long)]
    pub pareto: Option<String>,
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[arg(short = 'o', long = "output", default_value = "sweep.parquet")]
    pub output: PathBuf,
    /// Write the parts that are there when some are missing; the table gets a `partial` column
    /// (true on every row) so nobody mistakes it for the whole sweep.
    #[arg(long)]
    pub allow_partial: bool,
}

pub fn run(a: MergeArgs) -> Result<()> {
    let objectives = parse_objectives(a.pareto.as_deref())?;
    if a.plot.is_some() && objectives.len() < 2 {
        bail!("--plot needs at least two --pareto objectives");
    }
    // Checked before the table is written, so a bad plot name costs nothing.
    if let Some(p) = &a.plot {
        crate::plot::check_path(p)?;
    }
    super::sweep::check_table_path(&a.output)?;
    finish_table(
        &a.parts,
        &objectives,
        a.plot.as_deref(),
        &a.output,
        a.allow_partial,
    )
}

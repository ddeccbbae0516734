//! `vchip sweep`: hardware parameters over one or more models, in parallel, resumable, shardable.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::args::{load, parse_objectives, EngineArgs, TraceArgs};

#[derive(Args)]
pub struct SweepArgs {
    /// Zoo names or model files.
    #[arg(required = true)]
    pub models: Vec<String>,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Base hardware: preset, YAML file or SCALE-Sim .cfg.
    #[arg(long)]
    pub hw: String,
    /// KEY=VALUES: a numeric YAML key and its values: `32,64,128`, `16..128:16`, `16..256:x2`.
    #[arg(long = "set", required = true)]
    pub set: Vec<String>,
    /// grid, random:N or lhs:N (Latin hypercube).
    #[arg(long, default_value = "grid")]
    pub sample: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Objectives of the Pareto front: latency, energy, area, edp, power (comma-separated).
    #[arg(long)]
    pub pareto: Option<String>,
    /// Draw the front over the first two objectives as SVG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Evaluate slice i of N (0-based), e.g. 0/4; merge the parts later with `vchip merge`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Directory for part files (default: OUTPUT.parts).
    #[arg(long)]
    pub parts: Option<PathBuf>,
    /// Result table: .parquet (default) or .csv.
    #[arg(short = 'o', long = "output", default_value = "sweep.parquet")]
    pub output: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Discard the parts of a different earlier sweep in the parts directory and start afresh.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let SweepArgs {
        models,
        trace,
        hw,
        set,
        sample,
        seed,
        pareto,
        plot,
        shard,
        parts,
        output,
        engine,
        force,
    } = a;
    use vchip_explore::{run_sweep, sweep};
    // Everything is checked before any work starts.
    let loaded = load(&hw, &models, &trace, &Default::default())?;
    let base = loaded.spec;
    let axes = set
        .iter()
        .map(|s| sweep::parse_axis(s))
        .collect::<Result<Vec<_>, _>>()?;
    sweep::check_axes(&base, &axes)?;
    let sampling = sweep::Sampling::parse(&sample)?;
    let shard = shard
        .as_deref()
        .map(sweep::Shard::parse)
        .transpose()?
        .unwrap_or(sweep::Shard { index: 0, count: 1 });
    let objectives = parse_objectives(pareto.as_deref())?;
    if plot.is_some() && objectives.len() < 2 {
        bail!("--plot needs at least two --pareto objectives");
    }
    // A kind that does not model energy or area reports zeros: they would win every front.
    for o in &objectives {
        let (needs, modelled) = match o.as_str() {
            "energy_j" | "edp" | "power_w" => ("energy", loaded.model.models_energy()),
            "area_mm2" => ("area", loaded.model.models_area()),
            _ => ("", true),
        };
        if !modelled {
            bail!(
                "--pareto {o}: hardware kind `{:?}` of `{}` does not model {needs}; use latency (and the other objectives it models)",
                base.kind,
                base.name
            );
        }
    }
    let points = sweep::points(&axes, sampling, seed)?;
    let traces = loaded.traces;
    let parts = parts.unwrap_or_else(|| output.with_extension("parts"));
    let manifest = run_sweep::Manifest {
        models: models.clone(),
        hardware: hw.clone(),
        base_yaml_digest: run_sweep::digest(&base.to_yaml()),
        keys: set.clone(),
        points: points.len(),
        sampling: sample.clone(),
        seed,
        engine: format!(
            "vchip {} {:?} fusion {:?}",
            env!("CARGO_PKG_VERSION"),
            engine.opts().compat,
            engine.opts().fusion
        ),
        trace_digests: traces
            .iter()
            .map(|t| run_sweep::digest(&serde_json::to_string(t).unwrap_or_default()))
            .collect(),
    };
    let _lock = run_sweep::open_parts(&parts, &manifest, force, shard)?;
    let graphs = traces
        .iter()
        .map(|t| vchip_sim::prepare(t, &engine.opts()))
        .collect::<Result<Vec<_>, _>>()?;
    let job = run_sweep::SweepJob {
        models: &graphs,
        base: &base,
        axes: &axes,
        points: &points,
        opts: engine.opts(),
    };
    let owned = points.len().div_ceil(run_sweep::CHUNK);
    let owned_points = (0..owned)
        .filter(|c| shard.owns(*c))
        .map(|c| (points.len() - c * run_sweep::CHUNK).min(run_sweep::CHUNK))
        .sum::<usize>();
    let bar = indicatif::ProgressBar::new(owned_points as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} points  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = std::time::Instant::now();
    run_sweep::run(&job, &parts, shard, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} points x {} model(s) in {:.2} s ({:.0} points/s)",
        owned_points,
        traces.len(),
        secs,
        owned_points as f64 / secs.max(1e-9)
    );
    if shard.count > 1 {
        eprintln!(
            "shard {}/{} done; join all shards with `vchip merge {}`",
            shard.index,
            shard.count,
            parts.display()
        );
        return Ok(());
    }
    finish_table(&parts, &objectives, plot.as_deref(), &output, false)
}

/// Joins a sweep's parts into its table (and plot): the end of `sweep` and all of `merge`.
pub fn finish_table(
    parts: &std::path::Path,
    objectives: &[String],
    plot: Option<&std::path::Path>,
    output: &std::path::Path,
    allow_partial: bool,
) -> Result<()> {
    let (mut df, partial) = vchip_explore::run_sweep::merge(parts, objectives, allow_partial)?;
    vchip_explore::run_sweep::write_table(&mut df, output)?;
    eprintln!(
        "wrote {} rows to {}{}",
        df.height(),
        output.display(),
        if partial {
            " (PARTIAL: some part files were missing; the table lacks their points)"
        } else {
            ""
        }
    );
    if let Some(p) = plot {
        let pts = vchip_explore::run_sweep::scatter(&df, &objectives[0], &objectives[1])?;
        vchip::plot::pareto_svg(p, &pts, &objectives[0], &objectives[1])?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

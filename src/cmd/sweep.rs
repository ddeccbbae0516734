//! `vchip sweep`: hardware parameters over one or more models, in parallel, resumable, shardable.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::args::{load, parse_objectives, EngineArgs, TraceArgs};

#[derive(Args)]
pub struct SweepArgs {
    /// Zoo names or model files.
    #[arg(required = true)]
    pub models: Vec<String>,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Base hardware: preset, YAML file or SCALE-Sim .cfg; several presets (`tpu-v1,systolic`)
    /// make a preset axis (the `hardware` column), every --set applying to each.
    #[arg(long)]
    pub hw: String,
    /// KEY=VALUES: a YAML key and its values: numbers `32,64,128`, ranges `16..128:16`,
    /// `16..256:x2`, or words for text keys (`systolic.dataflow=os,ws,is`, `precision=int8,bf16`).
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
    let objectives = parse_objectives(pareto.as_deref())?;
    if plot.is_some() && objectives.len() < 2 {
        bail!("--plot needs at least two --pareto objectives");
    }
    if let Some(p) = &plot {
        crate::plot::check_path(p)?;
    }
    // `--hw a,b` is the preset axis (a file that exists is one description, whatever its name).
    let hw_names: Vec<String> = if std::path::Path::new(&hw).exists() {
        vec![hw.clone()]
    } else {
        hw.split(',').map(|h| h.trim().to_string()).collect()
    };
    let mut bases: Vec<vchip_hwmodels::HardwareSpec> = Vec::new();
    for (i, h) in hw_names.iter().enumerate() {
        if hw_names[..i].contains(h) {
            bail!("--hw: `{h}` is given twice");
        }
        let l = load(h, &[], &trace, &Default::default()).with_context(|| {
            if hw_names.len() > 1 {
                format!("--hw `{h}` (one of the comma-separated presets or files)")
            } else {
                format!("--hw `{h}`")
            }
        })?;
        // A kind that does not model energy or area would win every front with nulls.
        for o in &objectives {
            let (needs, modelled) = match o.as_str() {
                "energy_j" | "edp" | "power_w" => ("energy", l.model.models_energy()),
                "area_mm2" => ("area", l.model.models_area()),
                _ => ("", true),
            };
            if !modelled {
                bail!(
                    "--pareto {o}: hardware kind `{}` of `{}` does not model {needs}; use latency (and the other objectives it models)",
                    format!("{:?}", l.spec.kind).to_lowercase(),
                    l.spec.name
                );
            }
        }
        bases.push(l.spec);
    }
    let mut axes = set
        .iter()
        .map(|s| sweep::parse_axis(s))
        .collect::<Result<Vec<_>, _>>()?;
    if axes.iter().any(|a| a.key == sweep::HW_AXIS) {
        bail!("--set hw=...: sweep presets with --hw a,b");
    }
    if trace.precision.is_some() && axes.iter().any(|a| a.key == "precision") {
        bail!("--precision and --set precision=... both set the precision; keep one");
    }
    for a in axes.iter().filter(|a| a.key == "precision") {
        for l in &a.labels {
            vchip_workloads::precision::PrecisionPolicy::parse(l)
                .with_context(|| format!("--set precision: `{l}`"))?;
        }
    }
    check_table_path(&output)?;
    if hw_names.len() > 1 {
        axes.insert(
            0,
            sweep::Axis::categorical(sweep::HW_AXIS, hw_names.clone()),
        );
    }
    sweep::check_axes(&bases, &axes)?;
    // Things that would pass silently and mislead.
    if trace.precision.is_none()
        && !axes.iter().any(|a| a.key == "precision")
        && bases.iter().any(|b| b.precision != bases[0].precision)
    {
        eprintln!(
                "warning: the presets run at different precisions ({}); fronts are taken per precision, so they are not compared on one front. Pass --precision to run them all at one.",
                bases
                    .iter()
                    .map(|b| format!("{} {}", b.name, b.precision.as_deref().unwrap_or("native")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
    }
    if axes.iter().any(|a| a.key == "dram.technology")
        && bases.iter().any(|b| {
            b.dram
                .as_ref()
                .is_some_and(|d| d.energy_pj_per_bit.is_some())
        })
    {
        eprintln!(
            "warning: --set dram.technology changes the interface's pins and area; the energy per bit stays what `dram.energy_pj_per_bit` says. Sweep that key as well to change it."
        );
    }

    let sampling = sweep::Sampling::parse(&sample)?;
    let shard = shard
        .as_deref()
        .map(sweep::Shard::parse)
        .transpose()?
        .unwrap_or(sweep::Shard { index: 0, count: 1 });
    if plot.is_some() && shard.count > 1 {
        eprintln!("warning: --plot is drawn when the shards are merged: pass it to `vchip merge`");
    }
    // Every precision a point can run at is traced once, up front: --precision, else each
    // description's own and each value of a `precision` axis.
    let mut precisions: Vec<Option<String>> = match &trace.precision {
        Some(p) => vec![Some(p.clone())],
        None => bases
            .iter()
            .map(|b| b.precision.clone())
            .chain(
                axes.iter()
                    .filter(|a| a.key == "precision")
                    .flat_map(|a| a.labels.iter().map(|l| Some(l.clone()))),
            )
            .collect(),
    };
    precisions.sort();
    precisions.dedup();
    let mut workloads = Vec::new();
    for p in &precisions {
        let traces = models
            .iter()
            .map(|m| trace.load(m, p.as_deref()))
            .collect::<Result<Vec<_>>>()?;
        workloads.push((p.clone(), traces));
    }
    let points = sweep::points(&axes, sampling, seed)?;
    let all_traces: Vec<&vchip_workloads::Trace> =
        workloads.iter().flat_map(|(_, t)| t.iter()).collect();
    let parts = parts.unwrap_or_else(|| output.with_extension("parts"));
    let manifest = run_sweep::Manifest {
        models: models.clone(),
        hardware: hw.clone(),
        base_yaml_digest: run_sweep::digest(
            &bases
                .iter()
                .map(|b| b.to_yaml())
                .collect::<Vec<_>>()
                .join("\n---\n"),
        ),
        keys: set.clone(),
        points: points.len(),
        sampling: sample.clone(),
        seed,
        // The part layout too: parts cut into other chunks are not these parts.
        engine: format!(
            "vchip {} {:?} fusion {:?} chunks of {} rows by model_index",
            env!("CARGO_PKG_VERSION"),
            engine.opts().compat,
            engine.opts().fusion,
            run_sweep::chunk_size(points.len())
        ),
        trace_digests: all_traces
            .iter()
            .map(|t| run_sweep::digest(&serde_json::to_string(t).unwrap_or_default()))
            .collect(),
    };
    let _lock = run_sweep::open_parts(&parts, &manifest, force, shard)?;
    let prepared = workloads
        .iter()
        .map(|(p, traces)| {
            Ok(run_sweep::Workload {
                precision: p.clone(),
                graphs: traces
                    .iter()
                    .map(|t| vchip_sim::prepare(t, &engine.opts()))
                    .collect::<Result<Vec<_>, _>>()?,
                labels: models.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let job = run_sweep::SweepJob {
        workloads: &prepared,
        forced_precision: trace.precision.as_deref(),
        bases: &bases,
        axes: &axes,
        points: &points,
        opts: engine.opts(),
    };
    let chunk = run_sweep::chunk_size(points.len());
    let owned = points.len().div_ceil(chunk);
    let owned_points = (0..owned)
        .filter(|c| shard.owns(*c))
        .map(|c| (points.len() - c * chunk).min(chunk))
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
        models.len(),
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

/// A sweep table is Parquet or CSV, named so.
pub fn check_table_path(output: &std::path::Path) -> Result<()> {
    match output.extension().and_then(|e| e.to_str()) {
        Some("parquet") | Some("csv") => Ok(()),
        _ => bail!(
            "-o {}: a sweep table is written as .parquet or .csv; name the file with one of those",
            output.display()
        ),
    }
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
        let pts = vchip_explore::run_sweep::scatter(&df, objectives)?;
        crate::plot::pareto_plot(p, &pts, objectives)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

//! `vchip table`: per-op cost tables of NAS search spaces and of models' distinct ops.

use std::path::{Path, PathBuf};

use polars::prelude::Column;

use anyhow::{bail, Context, Result};
use vchip_explore::nas_table;
use vchip_hwmodels::{Boundary, CostOptions, HardwareModel, HardwareSpec};
use vchip_workloads::precision::PrecisionPolicy;
use vchip_workloads::Trace;

use super::args::{load, parse_resolutions, HwArgs, TraceArgs, DEFAULT_RESOLUTIONS};

#[derive(clap::Args)]
pub struct TableArgs {
    /// The search space: `ofa-mbv3`, `ofa-resnet50`, `fbnet`, `nasbench201` (all 15,625 cells on
    /// CIFAR-10/100 and ImageNet16-120), or `models` (every distinct op of --models, and one row
    /// per model).
    space: String,
    /// With `models`: comma-separated zoo names or model files.
    #[arg(long)]
    models: Option<String>,
    #[arg(long)]
    hw: String,
    /// Output directory.
    #[arg(short = 'o', long = "output", default_value = "nas-table")]
    output: PathBuf,
    /// Input resolutions (comma-separated).
    #[arg(long, default_value = DEFAULT_RESOLUTIONS)]
    resolutions: String,
    /// Also simulate N random whole subnets for a DyNAS-T-style CSV (at most 1,000,000: about a
    /// millisecond each, so the largest table takes minutes, not a day).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    subnets: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Precision policy (default: the hardware's own).
    #[arg(long)]
    precision: Option<String>,
    #[command(flatten)]
    mcu: HwArgs,
}

/// The chip a table is built for: its description, model and precision policy.
struct Device {
    spec: HardwareSpec,
    model: Box<dyn HardwareModel>,
    policy: Option<PrecisionPolicy>,
}

impl Device {
    /// Writes the distinct-op table (one row per op, this chip's costs) to `path`.
    fn write_ops(&self, ops: &[nas_table::DistinctOp], path: &std::path::Path) -> Result<()> {
        let mut df = nas_table::distinct_frame(
            ops,
            &self.spec.name,
            self.spec.clock_hz(),
            self.model.models_energy(),
        )?;
        vchip_explore::run_sweep::write_table(&mut df, path)?;
        Ok(())
    }
}

/// The chip, and the listed models traced for it, through the loader every command uses.
fn device(
    hw: &str,
    precision: Option<&str>,
    models: &[String],
    mcu: &HwArgs,
) -> Result<(Device, Vec<Trace>)> {
    let args = TraceArgs {
        batch: 1,
        seq: None,
        context: None,
        phase: None,
        precision: precision.map(str::to_string),
        allow_unknown: false,
        tp: 1,
        expert_load: None,
        expert_parallel: false,
        dims: Vec::new(),
    };
    let loaded = load(hw, models, &args, mcu)?;
    let policy = precision
        .or(loaded.spec.precision.as_deref())
        .map(PrecisionPolicy::parse)
        .transpose()?;
    let device = Device {
        spec: loaded.spec,
        model: loaded.model,
        policy,
    };
    Ok((device, loaded.traces))
}

/// Costs keyed ops of a space and writes the HW-NAS-Bench JSON, the Parquet table and (with
/// resolutions) OFA-style LUTs.
fn keyed_space(
    dev: &Device,
    space: &str,
    ops: Vec<(u64, String, vchip_workloads::Trace, Boundary)>,
    output: &std::path::Path,
    json_name: &str,
    luts: bool,
) -> Result<()> {
    let res_of: Vec<u64> = ops.iter().map(|o| o.0).collect();
    let rows = nas_table::keyed_ops(
        space,
        ops.into_iter().map(|(_, k, t, b)| (k, t, b)).collect(),
        dev.model.as_ref(),
        dev.policy.as_ref(),
        &CostOptions::default(),
    )?;
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let mut written = vec![json_name.to_string(), format!("{space}.parquet")];
    if luts {
        let entries: Vec<(u64, String, f64)> = rows
            .iter()
            .zip(&res_of)
            .map(|((d, t), r)| (*r, d.key.clone(), t.latency_s))
            .collect();
        let yamls = nas_table::write_ofa_yaml(space, &entries, output)?;
        written.push(format!("{} LUTs", yamls.len()));
        nas_table::write_hwnasbench_json(
            rows.iter()
                .zip(&res_of)
                .map(|((d, t), r)| (format!("r{r}:{}", d.key), t)),
            &dev.spec.name,
            &output.join(json_name),
        )?;
    } else {
        nas_table::write_hwnasbench_json(
            rows.iter().map(|(d, t)| (d.key.clone(), t)),
            &dev.spec.name,
            &output.join(json_name),
        )?;
    }
    let ops: Vec<_> = rows.into_iter().map(|(d, _)| d).collect();
    dev.write_ops(&ops, &output.join(format!("{space}.parquet")))?;
    eprintln!("{} {space} ops: {}", ops.len(), written.join(", "));
    Ok(())
}

/// The file that marks a directory as a table vchip wrote (and may replace).
const TABLE_MANIFEST: &str = "vchip-table.json";

/// Builds the table in a staging directory beside `-o` and puts it in place whole: `-o` must be
/// absent, empty, or a table vchip wrote before (its manifest names what it was built for); any
/// other directory is refused rather than mixed with. A failed build leaves `-o` as it was.
pub fn run(a: TableArgs) -> Result<()> {
    // A symlink names the directory to write: replace the table it points at, not the link.
    let target = match std::fs::canonicalize(&a.output) {
        Ok(real) if a.output.exists() => real,
        _ => a.output.clone(),
    };
    // The directory being replaced cannot hold the process (or be `.`).
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) {
        if cwd.starts_with(&target) {
            bail!(
                "{} is the current directory or holds it: name a directory below it with -o",
                a.output.display()
            );
        }
    }
    if target.exists() {
        let owned = target.join(TABLE_MANIFEST).is_file();
        let empty = std::fs::read_dir(&target)
            .with_context(|| format!("{} exists and is not a directory", target.display()))?
            .next()
            .is_none();
        if !owned && !empty {
            bail!(
                "{} holds files that are not a vchip table (no {TABLE_MANIFEST}): name a fresh or empty directory with -o",
                target.display()
            );
        }
    }
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("nas-table");
    // What killed runs left beside it (their process gone, idle for an hour) goes first.
    vchip_explore::run_sweep::remove_stale(parent, &format!(".{name}.staging-"));
    vchip_explore::run_sweep::remove_stale(parent, &format!(".{name}.old-"));
    let staging = parent.join(format!(
        ".{name}.staging-{}",
        vchip_explore::run_sweep::unique_suffix()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    let manifest = serde_json::json!({
        "vchip_version": env!("CARGO_PKG_VERSION"),
        "space": a.space,
        "models": a.models,
        "hardware": a.hw,
        "precision": a.precision,
        "resolutions": a.resolutions,
        "subnets": a.subnets,
        "seed": a.seed,
        "command": super::command_line(),
        // The description as resolved: `hardware` may name a file that is gone (a temporary one
        // the Python package wrote for a dict of overrides).
        "hardware_yaml": crate::session::load_spec(&a.hw, &a.mcu.options()).ok().map(|s| s.to_yaml()),
    });
    let built = build(TableArgs {
        output: staging.clone(),
        ..a
    })
    .and_then(|()| {
        std::fs::create_dir_all(&staging)?;
        std::fs::write(
            staging.join(TABLE_MANIFEST),
            serde_json::to_string_pretty(&manifest)?,
        )?;
        Ok(())
    });
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    // Swap: the old table aside, the new one in, the old one gone.
    let old = parent.join(format!(
        ".{name}.old-{}",
        vchip_explore::run_sweep::unique_suffix()
    ));
    if target.exists() {
        if let Err(e) = std::fs::rename(&target, &old) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e).with_context(|| format!("cannot replace {}", target.display()));
        }
    }
    if let Err(e) = std::fs::rename(&staging, &target) {
        let _ = std::fs::rename(&old, &target);
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot write {}", target.display()));
    }
    let _ = std::fs::remove_dir_all(&old);
    eprintln!(
        "table in {} ({TABLE_MANIFEST} names what it was built for)",
        target.display()
    );
    Ok(())
}

fn build(a: TableArgs) -> Result<()> {
    let TableArgs {
        space,
        models,
        hw,
        output,
        resolutions,
        subnets,
        seed,
        precision,
        mcu,
    } = a;
    if space != "nasbench201" {
        let kind = crate::session::load_spec(&hw, &mcu.options()).map(|s| s.kind);
        if matches!(kind, Ok(vchip_hwmodels::spec::HwKind::Dataflow)) {
            eprintln!(
                "warning: `{hw}` pipelines many ops in one section; its per-op entries cost each op alone (with a launch) and do not add up to a network's latency: use the whole-network rows (networks.parquet, the subnets in dynast.csv, or vchip.simulate_many)"
            );
        }
    }
    match space.as_str() {
        "models" => {
            let list = models.context("`vchip table models` needs --models NAME[,NAME...]")?;
            let names: Vec<String> = list.split(',').map(|m| m.trim().to_string()).collect();
            let (dev, traces) = device(&hw, precision.as_deref(), &names, &mcu)?;
            let ops =
                nas_table::distinct_ops(&traces, dev.model.as_ref(), &CostOptions::default())?;
            std::fs::create_dir_all(&output)
                .with_context(|| format!("cannot create {}", output.display()))?;
            dev.write_ops(&ops, &output.join("models.parquet"))?;
            // And one row per model as given (its spec string, its position), whole-network
            // totals: the row a search maps back to its candidate.
            let request = crate::session::TraceRequest {
                precision: precision.clone(),
                ..Default::default()
            };
            let sim = crate::session::SimRequest {
                allow_no_fit: true,
                ..Default::default()
            };
            let rows = crate::batch::run(&dev.spec, dev.model.as_ref(), &names, &request, &sim)?;
            let mut networks = crate::batch::frame(&rows)?;
            vchip_explore::run_sweep::write_table(&mut networks, &output.join("networks.parquet"))?;
            eprintln!(
                "{} distinct ops of {} model(s): models.parquet; one row per model: networks.parquet",
                ops.len(),
                traces.len()
            );
            Ok(())
        }
        "ofa-resnet50" => {
            use vchip_workloads::nas::ofa_resnet50;
            let (dev, _) = device(&hw, precision.as_deref(), &[], &mcu)?;
            let mut ops = Vec::new();
            for r in parse_resolutions(&resolutions)? {
                for op in ofa_resnet50::space_ops(r) {
                    let b = Boundary::of_op(op.reads_network_input(), op.writes_network_output());
                    ops.push((r, op.key(), op.trace(1)?, b));
                }
            }
            keyed_space(&dev, "ofa-resnet50", ops, &output, "hwnasbench.json", true)
        }
        "fbnet" => {
            let (dev, _) = device(&hw, precision.as_deref(), &[], &mcu)?;
            // HW-NAS-Bench's FBNet keys are for one resolution; 224 unless asked otherwise.
            let res = if resolutions == DEFAULT_RESOLUTIONS {
                vec![224]
            } else {
                parse_resolutions(&resolutions)?
            };
            let mut ops = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for r in res {
                for op in vchip_workloads::nas::fbnet::space_ops(r) {
                    if seen.insert(op.key()) {
                        let b =
                            Boundary::of_op(op.reads_network_input(), op.writes_network_output());
                        ops.push((r, op.key(), op.trace(1)?, b));
                    }
                }
            }
            keyed_space(&dev, "fbnet", ops, &output, "fbnet_hwnasbench.json", false)
        }
        "ofa-mbv3" => {
            let res = parse_resolutions(&resolutions)?;
            let (dev, _) = device(&hw, precision.as_deref(), &[], &mcu)?;
            let opts = CostOptions::default();
            let rows = nas_table::ofa_mbv3(dev.model.as_ref(), &res, dev.policy.as_ref(), &opts)?;
            std::fs::create_dir_all(&output)
                .with_context(|| format!("cannot create {}", output.display()))?;
            let entries: Vec<(u64, String, f64)> = rows
                .iter()
                .map(|r| (r.resolution, r.op.ofa_key(), r.totals.latency_s))
                .collect();
            let yamls = nas_table::write_ofa_yaml("OFA MobileNetV3", &entries, &output)?;
            nas_table::write_hwnasbench_json(
                rows.iter()
                    .map(|r| (format!("r{}:{}", r.resolution, r.op.ofa_key()), &r.totals)),
                &dev.spec.name,
                &output.join("hwnasbench.json"),
            )?;
            let mut df = nas_table::rich_frame(&rows, &dev.spec.name, dev.model.as_ref())?;
            vchip_explore::run_sweep::write_table(&mut df, &output.join("ofa-mbv3.parquet"))?;
            eprintln!(
                "{} ops x {} resolutions: {} OFA tables, hwnasbench.json, ofa-mbv3.parquet",
                rows.len() / res.len(),
                res.len(),
                yamls.len()
            );
            if subnets > 0 {
                let costed = nas_table::random_subnets(subnets as usize, seed, &res)
                    .into_iter()
                    .map(|n| {
                        let c = nas_table::subnet_latency_ms(
                            &n,
                            dev.model.as_ref(),
                            dev.policy.as_ref(),
                            &opts,
                        )?;
                        let params = c.trace.totals().params;
                        Ok((n, c.totals, params, c.mcu_memory))
                    })
                    .collect::<Result<Vec<_>, vchip_explore::ExploreError>>()?;
                nas_table::write_dynast_csv(&costed, &output.join("dynast.csv"))?;
                eprintln!("{subnets} subnets in dynast.csv");
            }
            Ok(())
        }
        "nasbench201" => {
            if resolutions != DEFAULT_RESOLUTIONS || subnets > 0 {
                bail!("--resolutions and --subnets do not apply to nasbench201: its data sets fix the input (32x32 CIFAR-10/100, 16x16 ImageNet16-120) and it costs all 15,625 cells; drop them");
            }
            let (dev, _) = device(&hw, precision.as_deref(), &[], &mcu)?;
            nasbench201(&dev, precision, &output)
        }
        other => {
            bail!("unknown search space `{other}`: use ofa-mbv3, ofa-resnet50, fbnet, nasbench201 or models")
        }
    }
}

/// Every NAS-Bench-201 architecture on each of its data sets, costed whole (one network per
/// cell and data set, in parallel): `nasbench201.parquet` (the batch table with `dataset`,
/// `arch_index` and `arch_str` in front) and HW-NAS-Bench's layout, `hwnasbench201.json` =
/// `{"nasbench201": {dataset: {"<device>_latency": [ms by index], ...}}, "arch_str": [...]}`.
fn nasbench201(dev: &Device, precision: Option<String>, output: &Path) -> Result<()> {
    use vchip_workloads::nas::nasbench201::{Cell, DATASETS, SPACE_SIZE};
    let specs: Vec<String> = DATASETS
        .iter()
        .flat_map(|(ds, _, _)| (0..SPACE_SIZE).map(move |i| format!("nasbench201:{ds}:{i}")))
        .collect();
    let request = crate::session::TraceRequest {
        precision,
        ..Default::default()
    };
    let sim = crate::session::SimRequest {
        allow_no_fit: true,
        ..Default::default()
    };
    let rows = crate::batch::run(&dev.spec, dev.model.as_ref(), &specs, &request, &sim)?;
    let arch_str: Vec<String> = Cell::all().map(|c| c.arch_str()).collect();
    let device = &dev.spec.name;
    let mut datasets = serde_json::Map::new();
    for (part, (ds, _, _)) in rows.chunks(SPACE_SIZE).zip(DATASETS) {
        let mut metrics = serde_json::Map::new();
        let ms: Vec<f64> = part.iter().map(|r| r.latency_s * 1e3).collect();
        metrics.insert(format!("{device}_latency"), ms.into());
        // A kind without an energy model has no `_energy` list (never one of zeros).
        if dev.model.models_energy() {
            let mj: Vec<Option<f64>> = part.iter().map(|r| r.energy_j.map(|e| e * 1e3)).collect();
            metrics.insert(format!("{device}_energy"), mj.into());
        }
        datasets.insert(ds.to_string(), metrics.into());
    }
    let doc = serde_json::json!({
        "nasbench201": datasets,
        "arch_str": arch_str,
        "index": "vchip's numbering: base 5 over the 6 edges in arch-string order, ops none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3; map to NAS-Bench-201's index with api.query_index_by_arch(arch_str[i])",
        "units": {"latency": "ms", "energy": "mJ"},
        "device": device,
    });
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    vchip_explore::run_sweep::write_atomic(
        &output.join("hwnasbench201.json"),
        serde_json::to_string(&doc)?.as_bytes(),
    )?;
    let n = rows.len();
    let mut df = crate::batch::frame(&rows)?;
    let front = [
        Column::new(
            "dataset".into(),
            (0..n)
                .map(|i| DATASETS[i / SPACE_SIZE].0)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "arch_index".into(),
            (0..n).map(|i| (i % SPACE_SIZE) as u64).collect::<Vec<_>>(),
        ),
        Column::new(
            "arch_str".into(),
            (0..n)
                .map(|i| arch_str[i % SPACE_SIZE].as_str())
                .collect::<Vec<_>>(),
        ),
    ];
    for (at, c) in front.into_iter().enumerate() {
        df.insert_column(at, c)?;
    }
    vchip_explore::run_sweep::write_table(&mut df, &output.join("nasbench201.parquet"))?;
    eprintln!(
        "{SPACE_SIZE} NAS-Bench-201 cells x {} data sets: nasbench201.parquet, hwnasbench201.json",
        DATASETS.len()
    );
    Ok(())
}

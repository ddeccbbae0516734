//! Runs sweeps: evaluates points in parallel, writes them as atomic Parquet part files (so an
//! interrupted sweep resumes where it stopped and shards on many machines never collide), and
//! merges parts into one table with the Pareto front marked.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vchip_hwmodels::{build_model, CostOptions, HardwareSpec};

use crate::sweep::{apply_point, pareto_front, Axis, Shard, HW_AXIS};
use crate::ExploreError;

/// Most points per part file: small enough that a kill loses little, large enough to keep files
/// few.
pub const CHUNK: usize = 1000;

/// Points per part file for a sweep of `points`: at most [`CHUNK`], and small enough that a
/// sweep has at least 64 chunks, so shards split a small sweep too. It depends on the point count
/// alone, so every shard of a sweep agrees on it.
pub fn chunk_size(points: usize) -> usize {
    points.div_ceil(64).clamp(1, CHUNK)
}

/// Everything that defines a sweep; stored next to its parts so a restart cannot mix sweeps.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub models: Vec<String>,
    pub hardware: String,
    pub base_yaml_digest: String,
    pub keys: Vec<String>,
    pub points: usize,
    pub sampling: String,
    pub seed: u64,
    /// vchip version, conventions and fusion: parts written under other engine settings (or by
    /// another version, whose models may differ) are never mixed in.
    #[serde(default)]
    pub engine: String,
    /// Digest of each model's trace as costed: its file's contents, batch, sequence lengths, phase
    /// and precision all change it.
    #[serde(default)]
    pub trace_digests: Vec<String>,
}

impl Manifest {
    /// The fields in which `other` differs from `self`, in words, for the error that refuses to
    /// mix two sweeps' parts.
    pub fn differences(&self, other: &Manifest) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.models != other.models {
            d.push("the models");
        }
        if self.trace_digests != other.trace_digests {
            d.push("the models' traces (a model file's contents, --batch, --seq, --context, --phase or --precision)");
        }
        if self.hardware != other.hardware || self.base_yaml_digest != other.base_yaml_digest {
            d.push("the base hardware (--hw or its file's contents)");
        }
        if self.keys != other.keys {
            d.push("the swept keys (--set)");
        }
        if self.points != other.points || self.sampling != other.sampling || self.seed != other.seed
        {
            d.push("the points (--sample or --seed)");
        }
        if self.engine != other.engine {
            d.push("the engine (vchip version, --compat or --fusion)");
        }
        d
    }
}

/// Exclusive ownership of one shard of a parts directory for the length of a run (the whole
/// directory when there is one shard): a second sweep on the same slice is refused instead of
/// mixing rows or deleting the first one's temporary files. Shards of one sweep run side by side.
pub struct PartsLock {
    _file: fs::File,
}

fn lock_file(dir: &Path, name: &str) -> Result<fs::File, ExploreError> {
    let path = dir.join(name);
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))
}

/// Takes `name` in `dir` without waiting; `None` when another process holds it.
fn try_lock(dir: &Path, name: &str) -> Result<Option<fs::File>, ExploreError> {
    let file = lock_file(dir, name)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(io(&dir.join(name))(e)),
    }
}

fn shard_lock_name(shard: Shard) -> String {
    format!(".lock-shard-{}-of-{}", shard.index, shard.count)
}

fn in_use(dir: &Path) -> ExploreError {
    ExploreError::Sweep(format!(
        "{} is in use by another vchip sweep; wait for it to finish or pass another --parts/-o",
        dir.display()
    ))
}

/// The models traced at one precision, analysed once (`vchip_sim::prepare`) and shared by every
/// point that runs at it.
pub struct Workload {
    /// The precision policy the traces carry (`None`: the models' own dtypes).
    pub precision: Option<String>,
    pub graphs: Vec<vchip_workloads::graph::Graph>,
    /// Each graph's model as the user gave it (zoo name, file, subnet spec), in the order given:
    /// a row's identity. Many subnets trace to one network name; their specs differ.
    pub labels: Vec<String>,
}

pub struct SweepJob<'a> {
    /// One entry per precision a point can run at: the user's --precision, else each
    /// description's own (presets and a `precision` axis differ).
    pub workloads: &'a [Workload],
    /// The user's --precision, which overrides every description's.
    pub forced_precision: Option<&'a str>,
    /// The base description, or one per label of the preset axis.
    pub bases: &'a [HardwareSpec],
    pub axes: &'a [Axis],
    pub points: &'a [Vec<f64>],
    pub opts: CostOptions,
}

impl SweepJob<'_> {
    /// The precision a point's description runs the models at.
    pub fn precision_of<'s>(&'s self, spec: &'s HardwareSpec) -> Option<&'s str> {
        self.forced_precision.or(spec.precision.as_deref())
    }
}

/// The objectives a Pareto front can be taken over (all minimised).
pub const OBJECTIVES: &[&str] = &["latency_s", "energy_j", "area_mm2", "edp", "power_w"];

fn io(path: &Path) -> impl Fn(std::io::Error) -> ExploreError + '_ {
    move |e| ExploreError::Io(format!("{}: {e}", path.display()))
}

fn pl(e: PolarsError) -> ExploreError {
    ExploreError::Io(format!("table: {e}"))
}

/// Stable FNV-1a digest of a text (to recognise a sweep's parts and inputs).
pub fn digest(text: &str) -> String {
    digest_bytes(text.as_bytes())
}

/// Writes bytes to `path` the way a careful Unix tool does: `-` is standard output; a character
/// device, FIFO or socket (`/dev/null`, `/dev/stdout`, a pipe) is written through; a directory is
/// refused; a regular file is replaced atomically (a temporary file in the same directory, then a
/// rename), through a symlink to its target, so readers never see half a file and the link stays.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExploreError> {
    use std::io::Write as _;
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|_| out.flush())
            .map_err(io(path));
    }
    if let Ok(meta) = fs::metadata(path) {
        if meta.is_dir() {
            return Err(ExploreError::Io(format!(
                "{}: is a directory; name a file to write",
                path.display()
            )));
        }
        if !meta.is_file() {
            return fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut f| f.write_all(bytes))
                .map_err(io(path));
        }
    }
    // Replace a symlink's target, not the link (a dangling link names the file to create).
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(t) => t,
            Err(_) => {
                let link = fs::read_link(path).map_err(io(path))?;
                path.parent().unwrap_or(Path::new(".")).join(link)
            }
        },
        _ => path.to_path_buf(),
    };
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target.file_name().and_then(|s| s.to_str()).unwrap_or("out");
    remove_stale(dir, &format!(".{name}.tmp-"));
    let tmp = dir.join(format!(".{name}.tmp-{}", unique_suffix()));
    let r = fs::write(&tmp, bytes)
        .and_then(|_| fs::File::open(&tmp)?.sync_all())
        .and_then(|_| fs::rename(&tmp, &target));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map_err(io(path))
}

/// `PID.N`: this process and a count of its writes, so writers in several threads of one process
/// (the Python package runs the command line in process) never share a temporary name.
pub fn unique_suffix() -> String {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes what earlier runs left in `dir` under `prefix` followed by their PID (and the
/// write's count: [`unique_suffix`]) (a temp file or a staging directory of a write killed
/// before its rename): only names vchip writes (a PID in canonical decimal), only when that
/// process is gone, and only when untouched for an hour (a writer in another PID namespace
/// sharing the volume looks gone but has not been idle that long).
pub fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let hour = std::time::Duration::from_secs(3600);
    for e in entries.flatten() {
        let file = e.file_name();
        let pid = file
            .to_str()
            .and_then(|f| f.strip_prefix(prefix))
            .filter(|p| {
                let (pid, count) = p.split_once('.').unwrap_or((p, "0"));
                let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
                !pid.starts_with('0') && digits(pid) && digits(count)
            })
            .map(|p| p.split_once('.').map_or(p, |(pid, _)| pid))
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let idle = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= hour);
        if pid != std::process::id() && idle && !process_alive(pid) {
            let path = e.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// Whether process `pid` still runs; where the OS cannot tell us cheaply, assume it does.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// Prepares the parts directory and locks this shard of it for the run: creates it with the
/// manifest, or checks that an existing one belongs to the same sweep (naming what differs
/// otherwise); with `force` the parts of another sweep are discarded (when no shard of it is
/// running) and the sweep starts afresh. Keep the returned lock until the run ends.
pub fn open_parts(
    dir: &Path,
    manifest: &Manifest,
    force: bool,
    shard: Shard,
) -> Result<PartsLock, ExploreError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    // The directory lock is held only while the manifest is checked or written, so that two
    // sweeps starting together cannot both write theirs.
    let dir_lock = lock_file(dir, ".lock")?;
    dir_lock.lock().map_err(io(&dir.join(".lock")))?;
    let mine = try_lock(dir, &shard_lock_name(shard))?.ok_or_else(|| in_use(dir))?;
    let mpath = dir.join("sweep.json");
    if mpath.exists() {
        let text = fs::read_to_string(&mpath).map_err(io(&mpath))?;
        let differs = match serde_json::from_str::<Manifest>(&text) {
            Ok(old) => old.differences(manifest),
            Err(_) => vec!["an unreadable record (sweep.json)"],
        };
        if !differs.is_empty() && !force {
            return Err(ExploreError::Sweep(format!(
                "{} holds parts of a different sweep: {} differ. Pass --force to discard them and start afresh, or another --parts/-o",
                dir.display(),
                differs.join(", ")
            )));
        }
        if !differs.is_empty() {
            // Discard only when no other shard is running.
            let mut held = Vec::new();
            for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".lock-shard-") && name != shard_lock_name(shard) {
                    held.push(try_lock(dir, &name)?.ok_or_else(|| in_use(dir))?);
                }
            }
            for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("part-") || name == "sweep.json" || name.contains(".tmp-") {
                    fs::remove_file(e.path()).map_err(io(&e.path()))?;
                }
            }
        } else {
            // Holding this shard's lock, a temporary file of one of its chunks was left by a run
            // that died: it never became a part, so drop it.
            for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let chunk = name
                    .strip_prefix(".part-")
                    .and_then(|r| r.split('.').next())
                    .and_then(|n| n.parse::<usize>().ok());
                if chunk.is_some_and(|c| shard.owns(c)) && name.contains(".tmp-") {
                    let _ = fs::remove_file(e.path());
                }
            }
            return Ok(PartsLock { _file: mine });
        }
    }
    let json =
        serde_json::to_string_pretty(manifest).map_err(|e| ExploreError::Sweep(e.to_string()))?;
    write_atomic(&mpath, json.as_bytes())?;
    Ok(PartsLock { _file: mine })
}

fn part_path(dir: &Path, chunk: usize) -> PathBuf {
    dir.join(format!("part-{chunk:08}.parquet"))
}

/// The checksum written beside a part.
fn sum_path(part: &Path) -> PathBuf {
    part.with_extension("parquet.sum")
}

fn digest_bytes(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A part's bytes when its checksum file is there and matches them; else what is wrong.
fn verify_part(part: &Path) -> Result<Vec<u8>, String> {
    let bytes = fs::read(part).map_err(|e| format!("cannot read it ({e})"))?;
    let sum = fs::read_to_string(sum_path(part))
        .map_err(|_| "its checksum file is missing (written by a run that died?)".to_string())?;
    if sum.trim() != digest_bytes(&bytes) {
        return Err(format!(
            "its contents do not match its checksum ({} bytes)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Evaluates every chunk this shard owns that has no part file yet. `progress` is called with the
/// number of points finished so far (including those found on disk).
pub fn run(
    job: &SweepJob,
    dir: &Path,
    shard: Shard,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<usize, ExploreError> {
    let chunk = chunk_size(job.points.len());
    let chunks = job.points.len().div_ceil(chunk);
    let done = AtomicU64::new(0);
    let mut written = 0;
    for c in (0..chunks).filter(|c| shard.owns(*c)) {
        let range = c * chunk..((c + 1) * chunk).min(job.points.len());
        let path = part_path(dir, c);
        // A part counts only when its checksum matches (a part cut short, or written without
        // its checksum by a run that died between the two, is evaluated again).
        if verify_part(&path).is_ok() {
            done.fetch_add(range.len() as u64, Ordering::Relaxed);
            progress(done.load(Ordering::Relaxed));
            continue;
        }
        let rows: Vec<Vec<Row>> = range
            .clone()
            .into_par_iter()
            .map(|i| {
                let r = evaluate(job, i);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                r
            })
            .collect::<Result<_, _>>()?;
        let integer: Vec<bool> = job
            .axes
            .iter()
            .map(|a| !a.is_categorical() && crate::sweep::integer_key(&job.bases[0], &a.key))
            .collect();
        let mut df = to_frame(
            job.axes,
            &integer,
            &rows.into_iter().flatten().collect::<Vec<_>>(),
        )?;
        let mut buf = Vec::new();
        ParquetWriter::new(&mut buf).finish(&mut df).map_err(pl)?;
        write_atomic(&path, &buf)?;
        write_atomic(&sum_path(&path), digest_bytes(&buf).as_bytes())?;
        written += 1;
    }
    Ok(written)
}

struct Row {
    point: u64,
    /// Position of the model in the list given (the identity of a row with `point`).
    model_index: u64,
    model: String,
    precision: Option<String>,
    /// Weights and live tensors fit every memory level that declares a capacity.
    fits: bool,
    values: Vec<f64>,
    latency_s: f64,
    cycles: u64,
    energy_j: Option<f64>,
    power_w: Option<f64>,
    tops_per_watt: Option<f64>,
    utilization: f64,
    dram_bytes: u64,
    area_mm2: Option<f64>,
    macs: u64,
}

fn evaluate(job: &SweepJob, i: usize) -> Result<Vec<Row>, ExploreError> {
    let spec = apply_point(job.bases, job.axes, &job.points[i])?;
    let precision = job.precision_of(&spec).map(str::to_string);
    let workload = job
        .workloads
        .iter()
        .find(|w| w.precision == precision)
        .ok_or_else(|| {
            ExploreError::Sweep(format!(
                "point {i}: no traces at precision {precision:?} (a bug: every precision is traced before the sweep)"
            ))
        })?;
    let model = build_model(spec)?;
    // Kinds that do not model area or energy leave those columns null, never 0.
    let area = model.models_area().then(|| model.area().total_mm2);
    workload
        .graphs
        .iter()
        .zip(&workload.labels)
        .enumerate()
        .map(|(k, (t, label))| {
            let r = vchip_sim::simulate_graph(t, model.as_ref(), &job.opts)?;
            let tot = &r.totals;
            Ok(Row {
                point: i as u64,
                model_index: k as u64,
                model: label.clone(),
                precision: precision.clone(),
                fits: r.memory.iter().all(|m| m.fits),
                values: job.points[i].clone(),
                latency_s: tot.latency_s,
                cycles: tot.cycles,
                energy_j: tot.energy_j,
                power_w: tot.average_power_w,
                tops_per_watt: tot.tops_per_watt,
                utilization: tot.utilization,
                dram_bytes: tot.dram_read_bytes.saturating_add(tot.dram_write_bytes),
                area_mm2: area,
                macs: tot.macs,
            })
        })
        .collect()
}

/// `integer[j]`: axis j is an integer key of the description (an `Int64` column).
fn to_frame(axes: &[Axis], integer: &[bool], rows: &[Row]) -> Result<DataFrame, ExploreError> {
    let f = |g: &dyn Fn(&Row) -> f64| rows.iter().map(g).collect::<Vec<f64>>();
    let u = |g: &dyn Fn(&Row) -> u64| rows.iter().map(g).collect::<Vec<u64>>();
    let opt = |g: &dyn Fn(&Row) -> Option<f64>| rows.iter().map(g).collect::<Vec<Option<f64>>>();
    let mut cols = vec![
        Column::new("point".into(), u(&|r| r.point)),
        Column::new("model_index".into(), u(&|r| r.model_index)),
        Column::new(
            "model".into(),
            rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "precision".into(),
            rows.iter()
                .map(|r| r.precision.as_deref())
                .collect::<Vec<_>>(),
        ),
    ];
    for (j, a) in axes.iter().enumerate() {
        // A `precision` axis is the `precision` column above: the precision the models ran at.
        if a.key == "precision" {
            continue;
        }
        cols.push(if a.is_categorical() {
            // The preset axis is the `hardware` column; other categorical keys keep their name.
            let name = if a.key == HW_AXIS {
                "hardware"
            } else {
                a.key.as_str()
            };
            Column::new(
                name.into(),
                rows.iter()
                    .map(|r| a.label(r.values[j]))
                    .collect::<Vec<_>>(),
            )
        } else if integer.get(j).copied().unwrap_or(false) {
            // Sweep values of an integer key are whole numbers (`apply` stores them so).
            Column::new(
                a.key.as_str().into(),
                rows.iter()
                    .map(|r| r.values[j].round() as i64)
                    .collect::<Vec<i64>>(),
            )
        } else {
            Column::new(a.key.as_str().into(), f(&|r| r.values[j]))
        });
    }
    cols.extend([
        Column::new("latency_s".into(), f(&|r| r.latency_s)),
        Column::new("cycles".into(), u(&|r| r.cycles)),
        Column::new("energy_j".into(), opt(&|r| r.energy_j)),
        Column::new("edp".into(), opt(&|r| r.energy_j.map(|e| e * r.latency_s))),
        Column::new("power_w".into(), opt(&|r| r.power_w)),
        Column::new("tops_per_watt".into(), opt(&|r| r.tops_per_watt)),
        Column::new("utilization".into(), f(&|r| r.utilization)),
        Column::new("dram_bytes".into(), u(&|r| r.dram_bytes)),
        Column::new("area_mm2".into(), opt(&|r| r.area_mm2)),
        Column::new("macs".into(), u(&|r| r.macs)),
        Column::new(
            "fits".into(),
            rows.iter().map(|r| r.fits).collect::<Vec<bool>>(),
        ),
    ]);
    DataFrame::new(rows.len(), cols).map_err(pl)
}

/// Joins the part files of the sweep recorded in `dir`, sorted by point and model, with a
/// `pareto` column marking the front of each model over `objectives` (all `false` when none are
/// given). It verifies what it joins: every part's checksum, every chunk of the recorded sweep
/// present, and every (point, model) exactly once; a missing or corrupt part is named. With
/// `allow_partial` the parts that are there are joined (the caller says so), and the returned
/// flag is true when some were missing.
pub fn merge(
    dir: &Path,
    objectives: &[String],
    allow_partial: bool,
) -> Result<(DataFrame, bool), ExploreError> {
    let mpath = dir.join("sweep.json");
    let manifest: Manifest = fs::read_to_string(&mpath)
        .map_err(|e| {
            ExploreError::Sweep(format!(
                "{}: {e} (not a sweep's parts directory?)",
                mpath.display()
            ))
        })
        .and_then(|t| {
            serde_json::from_str(&t)
                .map_err(|e| ExploreError::Sweep(format!("{}: {e}", mpath.display())))
        })?;
    let chunks = manifest.points.div_ceil(chunk_size(manifest.points));
    let mut missing = Vec::new();
    let mut df: Option<DataFrame> = None;
    for c in 0..chunks {
        let p = part_path(dir, c);
        if !p.exists() {
            missing.push(
                p.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            );
            continue;
        }
        let bytes = verify_part(&p).map_err(|why| {
            ExploreError::Sweep(format!(
                "{}: {why}; delete it and re-run the shard that owns chunk {c} (`--shard i/N` evaluates the chunks c with c mod N = i)",
                p.display()
            ))
        })?;
        let part = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|e| {
                ExploreError::Sweep(format!("{}: not a readable part ({e})", p.display()))
            })?;
        match df.as_mut() {
            None => df = Some(part),
            Some(d) => {
                d.vstack_mut_owned(part).map_err(pl)?;
            }
        }
    }
    if !missing.is_empty() && !allow_partial {
        let shown: Vec<&str> = missing.iter().take(8).map(String::as_str).collect();
        return Err(ExploreError::Sweep(format!(
            "{}: {} of {chunks} part files are missing ({}{}); run the shards that own them, or pass --allow-partial to write the rest",
            dir.display(),
            missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() { ", ..." } else { "" }
        )));
    }
    let Some(df) = df else {
        return Err(ExploreError::Sweep(format!(
            "{}: no part files to merge",
            dir.display()
        )));
    };
    let mut df = df
        .sort(["point", "model_index"], SortMultipleOptions::default())
        .map_err(pl)?;
    df.rechunk_mut();
    check_rows(&df, &manifest, dir)?;
    mark_pareto(&mut df, objectives)?;
    let partial = !missing.is_empty();
    if partial {
        let n = df.height();
        df.with_column(Column::new("partial".into(), vec![true; n]))
            .map_err(pl)?;
    }
    Ok((df, partial))
}

/// Every (point, model) at most once, only points of the recorded sweep, and each row's model
/// the one the manifest lists at its `model_index`.
fn check_rows(df: &DataFrame, manifest: &Manifest, dir: &Path) -> Result<(), ExploreError> {
    let points = df.column("point").map_err(pl)?.u64().map_err(pl)?;
    let index = df.column("model_index").map_err(pl)?.u64().map_err(pl)?;
    let models = df.column("model").map_err(pl)?.str().map_err(pl)?;
    let mut last: Option<(u64, u64)> = None;
    for ((p, k), m) in points.iter().zip(index.iter()).zip(models.iter()) {
        let (p, k, m) = (
            p.unwrap_or(u64::MAX),
            k.unwrap_or(u64::MAX),
            m.unwrap_or(""),
        );
        if manifest.models.get(k as usize).map(String::as_str) != Some(m) {
            return Err(ExploreError::Sweep(format!(
                "{}: a row of point {p} names model `{m}` at position {k}, which the recorded sweep does not list there; the parts are not all of one sweep",
                dir.display()
            )));
        }
        if p >= manifest.points as u64 {
            return Err(ExploreError::Sweep(format!(
                "{}: point {p} is beyond the {} points of the recorded sweep; the parts are not all of one sweep",
                dir.display(),
                manifest.points
            )));
        }
        if last == Some((p, k)) {
            return Err(ExploreError::Sweep(format!(
                "{}: point {p} of {m} appears twice; the parts are not all of one sweep",
                dir.display()
            )));
        }
        last = Some((p, k));
    }
    Ok(())
}

fn mark_pareto(df: &mut DataFrame, objectives: &[String]) -> Result<(), ExploreError> {
    for o in objectives {
        if !OBJECTIVES.contains(&o.as_str()) {
            return Err(ExploreError::Sweep(format!(
                "--pareto: unknown objective `{o}`; use {}",
                OBJECTIVES.join(", ")
            )));
        }
    }
    let groups = front_groups(df)?;
    let fits: Vec<bool> = df
        .column("fits")
        .map_err(pl)?
        .bool()
        .map_err(pl)?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let cols: Vec<Vec<f64>> = objectives
        .iter()
        .map(|o| {
            Ok(df
                .column(o)
                .map_err(pl)?
                .f64()
                .map_err(pl)?
                .iter()
                .map(|v| v.unwrap_or(f64::INFINITY))
                .collect())
        })
        .collect::<Result<_, ExploreError>>()?;
    let mut mark = vec![false; groups.len()];
    if !objectives.is_empty() {
        let mut names: Vec<&String> = groups.iter().collect();
        names.sort();
        names.dedup();
        for m in names {
            // A point whose model does not fit its memory is no design: it joins no front.
            let idx: Vec<usize> = (0..groups.len())
                .filter(|&i| &groups[i] == m && fits[i])
                .collect();
            let sub: Vec<Vec<f64>> = cols
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect();
            for (k, on) in pareto_front(&sub).into_iter().enumerate() {
                mark[idx[k]] = on;
            }
        }
    }
    df.with_column(Column::new("pareto".into(), mark))
        .map_err(pl)?;
    Ok(())
}

/// The workload each row belongs to: a Pareto front compares designs running the same model at
/// the same precision, never one model's optimum with another's. Rows of one model at one
/// precision share a label (`resnet50`, `resnet50 @ int8` when precisions differ in the table).
pub fn front_groups(df: &DataFrame) -> Result<Vec<String>, ExploreError> {
    let models = df.column("model").map_err(pl)?.str().map_err(pl)?;
    let precision: Vec<Option<String>> = match df.column("precision") {
        Ok(c) => c
            .str()
            .map_err(pl)?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        Err(_) => vec![None; df.height()],
    };
    let mut distinct = precision.clone();
    distinct.sort();
    distinct.dedup();
    let show_precision = distinct.len() > 1;
    Ok(models
        .iter()
        .zip(&precision)
        .map(|(m, p)| match p {
            Some(p) if show_precision => format!("{} @ {p}", m.unwrap_or("")),
            _ => m.unwrap_or("").to_string(),
        })
        .collect())
}

/// Writes a table atomically as Parquet, or CSV when the path ends in `.csv`.
pub fn write_table(df: &mut DataFrame, path: &Path) -> Result<(), ExploreError> {
    let mut buf = Vec::new();
    if path.extension().and_then(|e| e.to_str()) == Some("csv") {
        CsvWriter::new(&mut buf).finish(df).map_err(pl)?;
    } else {
        ParquetWriter::new(&mut buf).finish(df).map_err(pl)?;
    }
    write_atomic(path, &buf)
}

/// One row of a sweep as a plot draws it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotPoint {
    pub x: f64,
    pub y: f64,
    /// The third objective of a 3-objective front (drawn as colour), if any.
    pub z: Option<f64>,
    pub pareto: bool,
    /// The front it belongs to (`front_groups`).
    pub group: String,
    /// The design point, `key=value` for each swept key (the SVG tooltip).
    pub config: String,
}

/// Every row over two (or three) objectives, for plotting.
pub fn scatter(df: &DataFrame, objectives: &[String]) -> Result<Vec<PlotPoint>, ExploreError> {
    // Axes may be integer columns; plot them as numbers like the rest.
    let col = |n: &str| -> Result<Vec<f64>, ExploreError> {
        let c = df
            .column(n)
            .map_err(pl)?
            .cast(&DataType::Float64)
            .map_err(pl)?;
        Ok(c.f64()
            .map_err(pl)?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    let xs = col(&objectives[0])?;
    let ys = col(&objectives[1])?;
    let zs = objectives.get(2).map(|z| col(z)).transpose()?;
    let p: Vec<bool> = df
        .column("pareto")
        .map_err(pl)?
        .bool()
        .map_err(pl)?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let groups = front_groups(df)?;
    // The swept keys are the columns between the workload columns and the results.
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let first = names
        .iter()
        .position(|n| n == "precision")
        .map_or(2, |i| i + 1);
    let last = names.iter().position(|n| n == "latency_s").unwrap_or(first);
    let keys: Vec<Column> = names[first..last.max(first)]
        .iter()
        .map(|n| {
            df.column(n)
                .map_err(pl)?
                .cast(&DataType::String)
                .map_err(pl)
        })
        .collect::<Result<_, _>>()?;
    Ok((0..df.height())
        .map(|i| {
            let config = keys
                .iter()
                .map(|c| {
                    let v = c
                        .str()
                        .ok()
                        .and_then(|s| s.get(i).map(str::to_string))
                        .unwrap_or_default();
                    format!("{}={v}", c.name())
                })
                .collect::<Vec<_>>()
                .join(" ");
            PlotPoint {
                x: xs[i],
                y: ys[i],
                z: zs.as_ref().map(|z| z[i]),
                pareto: p[i],
                group: groups[i].clone(),
                config,
            }
        })
        .collect())
}

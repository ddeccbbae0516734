//! `vchip._vchip`: the native half of the Python package. Thin over the library: hardware and
//! networks load through `vchip::session` (the command line's loader, so the same numbers and the
//! same messages), tables leave as Arrow C streams (`__arrow_c_stream__`, read by pyarrow,
//! polars, pandas through pyarrow), and the GIL is released while anything is costed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use polars::prelude::{CompatLevel, DataFrame};
use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi::{export_iterator, ArrowArrayStream};
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyCapsule, PyDict, PyInt, PyList};
use vchip::report::Format;
use vchip::session::{self, HwOptions, SimRequest, TraceRequest};
use vchip_hwmodels::{Compat, CostOptions, Fusion, HardwareModel, HardwareSpec};

/// Rust allocations of the extension (traces, schedules, results) go through mimalloc: half the
/// time of a query was glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

create_exception!(
    _vchip,
    VchipError,
    PyValueError,
    "Bad input vchip rejects (the command line's message: file, place and fix)."
);

/// The error as the command line prints it after `error: `.
fn err(e: anyhow::Error) -> PyErr {
    VchipError::new_err(format!("{e:#}"))
}

/// A table (one Arrow record batch) for Python; `__arrow_c_stream__` hands it over without a copy
/// through text.
#[pyclass(frozen, module = "vchip._vchip")]
struct Table {
    df: DataFrame,
}

/// The frame as one Arrow struct array (LargeUtf8 strings: readable by every Arrow consumer).
fn to_stream(df: &DataFrame) -> ArrowArrayStream {
    let level = CompatLevel::oldest();
    let mut fields = Vec::with_capacity(df.width());
    let mut arrays: Vec<Box<dyn Array>> = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series().rechunk();
        let field = s.dtype().to_arrow_field(s.name().clone(), level);
        arrays.push(if s.n_chunks() == 0 {
            polars_arrow::array::new_empty_array(field.dtype().clone())
        } else {
            s.to_arrow(0, level)
        });
        fields.push(field);
    }
    let dtype = ArrowDataType::Struct(fields);
    let batch = StructArray::new(dtype.clone(), df.height(), arrays, None);
    export_iterator(
        Box::new(std::iter::once(Ok(Box::new(batch) as Box<dyn Array>))),
        Field::new("".into(), dtype, false),
    )
}

#[pymethods]
impl Table {
    /// The Arrow PyCapsule stream protocol (pyarrow.table(t), polars.DataFrame(t)).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The schema is fixed; a consumer that asked for another one casts what it gets.
        let _ = requested_schema;
        // A consumer moves the stream out (release set to null); a capsule never consumed
        // releases it when dropped (`ArrowArrayStream`'s Drop).
        PyCapsule::new_with_value_and_destructor(
            py,
            to_stream(&self.df),
            c"arrow_array_stream",
            |stream, _| drop(stream),
        )
    }

    fn __len__(&self) -> usize {
        self.df.height()
    }

    #[getter]
    fn columns(&self) -> Vec<String> {
        self.df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect()
    }
}

fn table(df: polars::prelude::PolarsResult<DataFrame>) -> PyResult<Table> {
    df.map(|df| Table { df }).map_err(|e| err(e.into()))
}

/// Options of `trace`, `simulate` and `simulate_many`, the command line's flags by their long
/// names with `_` for `-`.
const TRACE_KEYS: &[&str] = &[
    "batch",
    "seq",
    "prompt",
    "context",
    "phase",
    "precision",
    "allow_unknown",
    "tp",
    "expert_load",
    "expert_parallel",
    "dims",
];
const SIM_KEYS: &[&str] = &[
    "lib",
    "npu",
    "cuda_graphs",
    "fusion",
    "compat",
    "gen",
    "allow_no_fit",
];

struct Options {
    trace: TraceRequest,
    hw: HwOptions,
    sim: SimRequest,
}

fn opt<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<T>> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract::<T>().map(Some).map_err(|e| {
            let e: PyErr = e.into();
            PyTypeError::new_err(format!("option `{key}`: {e}"))
        }),
        _ => Ok(None),
    }
}

/// A whole number option: an int (or anything with `__index__`, numpy's too), never a bool
/// (`batch=True` would otherwise run at batch 1), checked against the command line's range.
fn count(d: &Bound<'_, PyDict>, key: &str, flag: &str, range: (u64, u64)) -> PyResult<Option<u64>> {
    match d.get_item(key)?.filter(|v| !v.is_none()) {
        Some(v) => count_of(&v, key, flag, range).map(Some),
        None => Ok(None),
    }
}

fn count_of(v: &Bound<'_, PyAny>, key: &str, flag: &str, (min, max): (u64, u64)) -> PyResult<u64> {
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "option `{key}`: expected an integer, got a bool"
        )));
    }
    let n: i128 = v.extract().map_err(|e| {
        let e: PyErr = e;
        PyTypeError::new_err(format!("option `{key}`: expected an integer ({e})"))
    })?;
    if n < min as i128 || n as u128 > max as u128 {
        // The command line's (clap's) words for the same mistake.
        return Err(VchipError::new_err(format!(
            "invalid value '{n}' for '{flag}': {n} is not in {min}..={max}"
        )));
    }
    Ok(n as u64)
}

/// No range of the command line's own (zero is refused with its message later, as there).
const ANY: (u64, u64) = (0, u64::MAX);

fn on_off(d: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<bool>> {
    let Some(v) = d.get_item(key)?.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if v.is_instance_of::<PyBool>() {
        return Ok(Some(v.extract::<bool>()?));
    }
    let Ok(text) = v.extract::<String>() else {
        return Err(PyTypeError::new_err(format!(
            "option `{key}`: use True/False or \"on\"/\"off\", not {}",
            v.get_type().name()?
        )));
    };
    match text.as_str() {
        "on" => Ok(Some(true)),
        "off" => Ok(Some(false)),
        other => Err(VchipError::new_err(format!(
            "{key}=`{other}`: use True/False or \"on\"/\"off\""
        ))),
    }
}

fn options(d: Option<&Bound<'_, PyDict>>, sim: bool) -> PyResult<Options> {
    let mut o = Options {
        trace: TraceRequest::default(),
        hw: HwOptions::default(),
        sim: SimRequest::default(),
    };
    let Some(d) = d else { return Ok(o) };
    for k in d.keys() {
        let k: String = k.extract()?;
        let known = TRACE_KEYS.contains(&k.as_str()) || (sim && SIM_KEYS.contains(&k.as_str()));
        if !known {
            let known: Vec<&str> = TRACE_KEYS
                .iter()
                .chain(if sim { SIM_KEYS } else { &[] })
                .copied()
                .collect();
            return Err(PyTypeError::new_err(format!(
                "unknown option `{k}`; the options are {}",
                known.join(", ")
            )));
        }
    }
    let t = &mut o.trace;
    t.batch = count(d, "batch", "--batch <BATCH>", ANY)?.unwrap_or(1);
    t.seq = match (
        count(d, "seq", "--seq <SEQ>", ANY)?,
        count(d, "prompt", "--seq <SEQ>", ANY)?,
    ) {
        (Some(_), Some(_)) => {
            return Err(VchipError::new_err(
                "seq and prompt name the same length; give one",
            ))
        }
        (a, b) => a.or(b),
    };
    t.context = count(d, "context", "--context <CONTEXT>", ANY)?;
    t.phase = opt(d, "phase")?;
    t.precision = opt(d, "precision")?;
    t.allow_unknown = opt(d, "allow_unknown")?.unwrap_or(false);
    t.tp = count(d, "tp", "--tp <TP>", (1, 1024))?.unwrap_or(1);
    t.expert_load = opt(d, "expert_load")?;
    t.expert_parallel = opt(d, "expert_parallel")?.unwrap_or(false);
    if let Some(dims) = opt::<HashMap<String, Bound<'_, PyAny>>>(d, "dims")? {
        let mut named = dims
            .into_iter()
            .map(|(k, v)| Ok((k, count_of(&v, "dims", "--dim", ANY)?)))
            .collect::<PyResult<Vec<(String, u64)>>>()?;
        named.sort();
        t.dims = named.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    }
    if !sim {
        return Ok(o);
    }
    o.hw = HwOptions {
        lib: opt(d, "lib")?,
        npu: on_off(d, "npu")?,
        cuda_graphs: on_off(d, "cuda_graphs")?,
    };
    let fusion = match on_off(d, "fusion")? {
        Some(false) => Fusion::Off,
        _ => Fusion::On,
    };
    let compat = match opt::<String>(d, "compat")?.as_deref() {
        None | Some("native") => Compat::Native,
        Some("scalesim") => Compat::Scalesim,
        Some(other) => {
            return Err(VchipError::new_err(format!(
                "invalid value '{other}' for '--compat <COMPAT>'\n  [possible values: native, scalesim]"
            )))
        }
    };
    o.sim = SimRequest {
        engine: CostOptions {
            compat,
            fusion,
            ..CostOptions::default()
        },
        gen: count(d, "gen", "--gen <GEN>", (1, 10_000_000))?,
        allow_no_fit: opt(d, "allow_no_fit")?.unwrap_or(false),
        detail: vchip_sim::Detail::Full,
    };
    Ok(o)
}

/// A loaded chip: its description and its model.
struct Hw {
    spec: HardwareSpec,
    model: Box<dyn HardwareModel>,
}

type HwKey = (
    String,
    Vec<String>,
    Option<String>,
    Option<bool>,
    Option<bool>,
);

/// A loaded chip under the key it was asked for.
type Cached = (HwKey, Arc<Hw>);

/// Presets with their overrides load once per process: a query then costs the network only.
/// Files are read each time (they may change between calls).
fn hardware(hw: &str, overrides: &[String], opts: &HwOptions) -> anyhow::Result<Arc<Hw>> {
    // A list, compared field by field: a query looks its chip up without building a key.
    static CACHE: OnceLock<Mutex<Vec<Cached>>> = OnceLock::new();
    let load = || -> anyhow::Result<Arc<Hw>> {
        let spec = session::load_spec_with(hw, overrides, opts)?;
        let model = vchip_hwmodels::build_model(spec.clone())?;
        Ok(Arc::new(Hw { spec, model }))
    };
    let is_key = |k: &HwKey| {
        k.0 == hw
            && k.1 == overrides
            && k.2 == opts.lib
            && k.3 == opts.npu
            && k.4 == opts.cuda_graphs
    };
    // Only presets are cached (a file is read again each call), so a cached name is a preset:
    // looked up before the file check, which would be a system call per query.
    let cache = CACHE.get_or_init(Default::default);
    if let Some(h) = cache
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|(k, _)| is_key(k)).map(|(_, h)| h.clone()))
    {
        return Ok(h);
    }
    if std::path::Path::new(hw).exists() {
        return load();
    }
    let h = load()?;
    if let Ok(mut c) = cache.lock() {
        if !c.iter().any(|(k, _)| is_key(k)) {
            let key: HwKey = (
                hw.to_string(),
                overrides.to_vec(),
                opts.lib.clone(),
                opts.npu,
                opts.cuda_graphs,
            );
            c.push((key, h.clone()));
        }
    }
    Ok(h)
}

/// A network's operator trace.
#[pyclass(frozen, module = "vchip._vchip")]
struct Trace {
    inner: vchip_workloads::Trace,
    totals: vchip_workloads::ir::Totals,
}

#[pymethods]
impl Trace {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn ops(&self) -> u64 {
        self.totals.ops
    }
    #[getter]
    fn macs(&self) -> u64 {
        self.totals.macs
    }
    #[getter]
    fn flops(&self) -> u64 {
        self.totals.flops
    }
    #[getter]
    fn params(&self) -> u64 {
        self.totals.params
    }
    #[getter]
    fn active_params(&self) -> u64 {
        self.totals.active_params
    }
    #[getter]
    fn weight_bytes(&self) -> u64 {
        self.totals.weight_bytes
    }
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.totals.bytes_read
    }
    #[getter]
    fn bytes_written(&self) -> u64 {
        self.totals.bytes_written
    }
    /// One row per op.
    fn _ops(&self) -> PyResult<Table> {
        table(vchip::frames::trace_frame(&self.inner))
    }
    /// `vchip trace --format json`.
    fn json(&self) -> String {
        vchip::report::render_trace(&self.inner, Format::Json)
    }
    fn __repr__(&self) -> String {
        format!(
            "Trace({:?}, ops={}, macs={}, params={})",
            self.inner.name, self.totals.ops, self.totals.macs, self.totals.params
        )
    }
}

/// One network simulated on one chip. The query computes the totals, peaks and fit; the
/// per-step and per-layer rows are built on first use (`_steps`, `_layers`, `json`) from the
/// same analysed graph, so a query that reads totals pays for totals only.
#[pyclass(frozen, module = "vchip._vchip")]
struct SimResult {
    r: vchip_sim::SimResult,
    graph: vchip_workloads::graph::Graph,
    hw: Arc<Hw>,
    engine: CostOptions,
    /// The model as given and how it was traced: a graph built without names (a search-space
    /// query) is traced again, named, for the per-step and per-layer rows.
    model: String,
    trace: session::TraceRequest,
    full: OnceLock<vchip_sim::SimResult>,
    json: OnceLock<String>,
}

impl SimResult {
    fn full(&self, py: Python<'_>) -> PyResult<&vchip_sim::SimResult> {
        if let Some(f) = self.full.get() {
            return Ok(f);
        }
        let mut f = py
            .detach(|| -> anyhow::Result<_> {
                let named;
                let precision = self.hw.spec.precision.as_deref();
                let graph = if self.trace.loads_unnamed(&self.model, precision) {
                    let t = self.trace.load(&self.model, precision)?;
                    named = vchip_sim::prepare_owned(t, &self.engine)?;
                    &named
                } else {
                    &self.graph
                };
                Ok(vchip_sim::simulate_graph_with(
                    graph,
                    self.hw.model.as_ref(),
                    &self.engine,
                    vchip_sim::Detail::Full,
                )?)
            })
            .map_err(err)?;
        f.serving = self.r.serving.clone();
        Ok(self.full.get_or_init(|| f))
    }
}

#[pymethods]
impl SimResult {
    #[getter]
    fn model(&self) -> &str {
        &self.r.model
    }
    #[getter]
    fn hardware(&self) -> &str {
        &self.r.hardware
    }
    #[getter]
    fn latency_s(&self) -> f64 {
        self.r.totals.latency_s
    }
    #[getter]
    fn cycles(&self) -> u64 {
        self.r.totals.cycles
    }
    #[getter]
    fn compute_cycles(&self) -> u64 {
        self.r.totals.compute_cycles
    }
    #[getter]
    fn stall_cycles(&self) -> u64 {
        self.r.totals.stall_cycles
    }
    /// None for kinds that do not model energy (never 0).
    #[getter]
    fn energy_j(&self) -> Option<f64> {
        self.r.totals.energy_j
    }
    #[getter]
    fn power_w(&self) -> Option<f64> {
        self.r.totals.average_power_w
    }
    #[getter]
    fn tops_per_watt(&self) -> Option<f64> {
        self.r.totals.tops_per_watt
    }
    #[getter]
    fn utilization(&self) -> f64 {
        self.r.totals.utilization
    }
    #[getter]
    fn macs(&self) -> u64 {
        self.r.totals.macs
    }
    #[getter]
    fn dram_read_bytes(&self) -> u64 {
        self.r.totals.dram_read_bytes
    }
    #[getter]
    fn dram_write_bytes(&self) -> u64 {
        self.r.totals.dram_write_bytes
    }
    #[getter]
    fn samples_per_s(&self) -> f64 {
        self.r.totals.samples_per_s
    }
    #[getter]
    fn clock_hz(&self) -> f64 {
        self.r.clock_hz
    }
    /// Whether the network fits every memory level that declares a capacity.
    #[getter]
    fn fits(&self) -> bool {
        self.r.memory.iter().all(|m| m.fits) && self.r.mcu.as_ref().is_none_or(|m| m.fits)
    }
    fn _steps(&self, py: Python<'_>) -> PyResult<Table> {
        table(vchip::frames::steps_frame(self.full(py)?))
    }
    fn _layers(&self, py: Python<'_>) -> PyResult<Table> {
        table(vchip::frames::layers_frame(self.full(py)?))
    }
    /// `vchip simulate --format json` (serving, memory, levels, passes, area, MCU figures),
    /// rendered once, without the GIL.
    fn json(&self, py: Python<'_>) -> PyResult<String> {
        if let Some(j) = self.json.get() {
            return Ok(j.clone());
        }
        let full = self.full(py)?;
        let text = py.detach(|| vchip::report::render_sim(full, Format::Json));
        Ok(self.json.get_or_init(|| text).clone())
    }
    /// The serving figures alone as JSON (`None` without `gen`).
    fn serving_json(&self) -> Option<String> {
        self.r
            .serving
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok())
    }
    fn __repr__(&self) -> String {
        format!(
            "SimResult({:?} on {:?}, latency_s={:.6e}, energy_j={})",
            self.r.model,
            self.r.hardware,
            self.r.totals.latency_s,
            self.r
                .totals
                .energy_j
                .map_or("None".to_string(), |e| format!("{e:.6e}"))
        )
    }
}

/// The command line's warning about options a model has no use for, as a Python `UserWarning`.
fn warn_inapplicable(py: Python<'_>, req: &TraceRequest, model: &str) -> PyResult<()> {
    if let Some(w) = req.inapplicable(model) {
        let text = std::ffi::CString::new(w.replace('\0', " ")).map_err(|e| err(e.into()))?;
        let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
        PyErr::warn(py, category.as_any(), &text, 2)?;
    }
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (model, opts=None))]
fn trace(py: Python<'_>, model: &str, opts: Option<&Bound<'_, PyDict>>) -> PyResult<Trace> {
    let o = options(opts, false)?;
    warn_inapplicable(py, &o.trace, model)?;
    let inner = py.detach(|| o.trace.load(model, None)).map_err(err)?;
    let totals = inner.totals();
    Ok(Trace { inner, totals })
}

/// Digits of a list of plain ints 0-9 appended to `out`; `None` for anything else (the
/// Python `arch_spec` then checks it and words the error).
fn push_digits(v: &Bound<'_, PyAny>, out: &mut String) -> Option<()> {
    let list = v.cast::<PyList>().ok()?;
    for x in list.iter() {
        if !x.is_exact_instance_of::<PyInt>() {
            return None;
        }
        let d: u8 = x.extract().ok()?;
        if d > 9 {
            return None;
        }
        out.push(char::from(b'0' + d));
    }
    Some(())
}

/// The spec string of an OFA-MobileNetV3 arch dict of plain ints (`{"ks": [...], "e": [...],
/// "d": [...], "r": [224]}`, what OFA's samplers give), or `None` for any other dict: the
/// common query's conversion without the Python loop.
#[pyfunction]
fn ofa_spec(arch: &Bound<'_, PyDict>) -> Option<String> {
    if arch.len() != 4 {
        return None;
    }
    let r = arch.get_item("r").ok()??;
    let r = match r.cast::<PyList>() {
        Ok(l) if l.len() == 1 => l.get_item(0).ok()?,
        Ok(_) => return None,
        Err(_) => r,
    };
    if !r.is_exact_instance_of::<PyInt>() {
        return None;
    }
    let r: u32 = r.extract().ok()?;
    let mut s = format!("ofa-mbv3:r={r}:d=");
    push_digits(&arch.get_item("d").ok()??, &mut s)?;
    s.push_str(":ks=");
    push_digits(&arch.get_item("ks").ok()??, &mut s)?;
    s.push_str(":e=");
    push_digits(&arch.get_item("e").ok()??, &mut s)?;
    Some(s)
}

#[pyfunction]
#[pyo3(signature = (model, hw, overrides, opts=None))]
fn simulate(
    py: Python<'_>,
    model: &str,
    hw: &str,
    overrides: Vec<String>,
    opts: Option<&Bound<'_, PyDict>>,
) -> PyResult<SimResult> {
    let o = options(opts, true)?;
    warn_inapplicable(py, &o.trace, model)?;
    let sim = SimRequest {
        detail: vchip_sim::Detail::Totals,
        ..o.sim.clone()
    };
    let (r, graph, hw) = py
        .detach(|| -> anyhow::Result<_> {
            let h = hardware(hw, &overrides, &o.hw)?;
            session::check_tp(&h.spec, &o.trace)?;
            let precision = h.spec.precision.as_deref();
            let run = |named: bool| -> anyhow::Result<_> {
                let t = if named {
                    o.trace.load(model, precision)?
                } else {
                    o.trace
                        .load_unnamed(model, precision, vchip_sim::passes_for(&sim.engine))?
                };
                let g = vchip_sim::prepare_owned(t, &sim.engine)?;
                let r =
                    session::simulate_graph(model, &g, &h.spec, h.model.as_ref(), &o.trace, &sim)?;
                Ok((r, g))
            };
            // Totals need no names; an error does (it names an op, or what does not fit): then
            // again, named.
            let (r, g) = match run(false) {
                Ok(rg) => rg,
                Err(_) if o.trace.loads_unnamed(model, precision) => run(true)?,
                Err(e) => return Err(e),
            };
            Ok((r, g, h))
        })
        .map_err(err)?;
    Ok(SimResult {
        r,
        graph,
        hw,
        engine: o.sim.engine,
        model: model.to_string(),
        trace: o.trace.clone(),
        full: OnceLock::new(),
        json: OnceLock::new(),
    })
}

#[pyfunction]
#[pyo3(signature = (models, hw, overrides, opts=None))]
fn simulate_many(
    py: Python<'_>,
    models: Vec<String>,
    hw: &str,
    overrides: Vec<String>,
    opts: Option<&Bound<'_, PyDict>>,
) -> PyResult<Table> {
    let o = options(opts, true)?;
    // One warning for the batch: the first model the options do not apply to.
    if let Some(m) = models.iter().find(|m| o.trace.inapplicable(m).is_some()) {
        warn_inapplicable(py, &o.trace, m)?;
    }
    let rows = py
        .detach(|| -> anyhow::Result<Vec<vchip::batch::BatchRow>> {
            let h = hardware(hw, &overrides, &o.hw)?;
            vchip::batch::run(&h.spec, h.model.as_ref(), &models, &o.trace, &o.sim)
        })
        .map_err(err)?;
    table(vchip::batch::frame(&rows))
}

/// Runs a `vchip` command line in this process (sweep, table, merge write their files as the
/// command line does); its errors carry the command line's message.
#[pyfunction]
fn run_cli(py: Python<'_>, args: Vec<String>) -> PyResult<()> {
    let argv = std::iter::once("vchip".to_string()).chain(args);
    py.detach(|| vchip::cmd::run_args(argv)).map_err(err)
}

/// The resolved hardware description as YAML (`vchip hw show`), overrides applied.
#[pyfunction]
#[pyo3(signature = (hw, overrides))]
fn hardware_yaml(py: Python<'_>, hw: &str, overrides: Vec<String>) -> PyResult<String> {
    py.detach(|| session::load_spec_with(hw, &overrides, &HwOptions::default()))
        .map(|s| s.to_yaml())
        .map_err(err)
}

/// Zoo models as (name, description).
#[pyfunction]
fn zoo() -> Vec<(String, String)> {
    vchip_workloads::zoo::ZOO
        .iter()
        .map(|e| (e.name.to_string(), e.description.to_string()))
        .collect()
}

/// Hardware presets by name.
#[pyfunction]
fn presets() -> Vec<String> {
    vchip_hwmodels::presets::PRESETS
        .iter()
        .map(|p| p.name.to_string())
        .collect()
}

#[pymodule]
fn _vchip(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("VchipError", m.py().get_type::<VchipError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Table>()?;
    m.add_class::<Trace>()?;
    m.add_class::<SimResult>()?;
    m.add_function(wrap_pyfunction!(trace, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(ofa_spec, m)?)?;
    m.add_function(wrap_pyfunction!(simulate_many, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(hardware_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(zoo, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    Ok(())
}

//! vchip-workloads: networks to operator traces.
//!
//! For: the trace IR ([`ir`]), shape inference ([`builder`]), the front-ends (DSL, SCALE-Sim
//! topology CSV, Hugging Face `config.json`, ONNX) and the built-in model zoo.
//! Not for: anything about hardware. This crate never names a chip, a cycle or a joule.

pub mod builder;
pub mod dsl;
pub mod error;
pub mod graph;
pub mod ir;
pub mod nas;
pub mod onnx;

pub use error::{Result, WorkloadError};
pub use ir::*;
pub mod hf;
pub mod precision;
pub mod scalesim_csv;
pub mod zoo;

pub use zoo::TraceOptions;

use std::path::Path;

/// [`load_model`] for a query that reads totals only: a search-space spec (`ofa-mbv3:...`,
/// `ofa-resnet50:...`, `nasbench201:...`) comes with empty op and tensor names and, where
/// `passes` (those the graph will get) fold BatchNorms, with its conv-BN pairs folded as built;
/// everything else as `load_model` gives it. Costs after `passes` are the same; the names are
/// what reports need.
pub fn load_model_unnamed(
    spec: &str,
    opts: &TraceOptions,
    passes: &[graph::Pass],
) -> Result<Trace> {
    let fold = passes.contains(&graph::Pass::FoldBatchnorm);
    let _unnamed = drops_names(spec).then(|| builder::Unnamed::folding(fold));
    load_model(spec, opts)
}

/// Whether [`load_model_unnamed`] gives `spec`'s ops and tensors empty names.
pub fn drops_names(spec: &str) -> bool {
    ["ofa-mbv3:", "ofa-resnet50:", "nasbench201:"]
        .iter()
        .any(|p| spec.starts_with(p))
}

/// Loads a model by zoo name or file path, dispatching on the file type:
/// `.onnx` → ONNX, `.csv` → SCALE-Sim topology, `.json` → Hugging Face config, anything else → DSL.
pub fn load_model(spec: &str, opts: &TraceOptions) -> Result<Trace> {
    let path = Path::new(spec);
    if (opts.tp > 1 || opts.expert_load.is_some() || opts.expert_parallel) && !is_llm_config(spec) {
        return Err(WorkloadError::Option(format!(
            "--tp, --expert-load and --expert-parallel apply to LLMs (a Hugging Face config.json or an LLM of the zoo); `{spec}` is not one"
        )));
    }
    // A search-space spec (`ofa-mbv3:r=224:...`) names no file: checking for one would be a
    // system call per query of a NAS search. A bare prefix may still be a file.
    let space = |prefix: &str| {
        spec.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(':') || !path.exists())
    };
    if space("ofa-mbv3") {
        return nas::OfaSubnet::parse(spec)?.trace(opts.batch);
    }
    if space("nasbench201") {
        let (cell, dataset) = nas::nasbench201::parse_spec(spec)?;
        return nas::nasbench201::trace(cell, &dataset, opts.batch);
    }
    if space("ofa-resnet50") {
        return nas::ofa_resnet50::ResSubnet::parse(spec)?.trace(opts.batch);
    }
    if !path.exists() {
        return zoo::load_by_name(spec, opts);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = std::fs::read(path).map_err(|source| WorkloadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = || {
        String::from_utf8(bytes.clone()).map_err(|e| WorkloadError::Invalid {
            file: spec.to_string(),
            place: format!("byte {}", e.utf8_error().valid_up_to()),
            msg: "not valid UTF-8 text".into(),
            hint: "pass a text file (DSL, CSV, JSON) or an .onnx model".into(),
        })
    };
    match ext.as_str() {
        "onnx" => onnx::load_onnx(spec, &bytes, opts),
        "csv" => scalesim_csv::parse_topology(spec, &text()?, opts.batch),
        "json" => {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("llm");
            let name = if stem == "config" {
                path.parent()
                    .and_then(|p| p.file_name())
                    .and_then(|s| s.to_str())
                    .unwrap_or(stem)
            } else {
                stem
            };
            opts.llm_config(hf::HfConfig::from_json(spec, &text()?)?)?
                .trace(name, &opts.llm_shape())
        }
        _ => dsl::parse_dsl(spec, &text()?, opts.dsl_vars()),
    }
}

/// Whether `spec` names an LLM config: a `.json` file or a zoo entry built from one.
fn is_llm_config(spec: &str) -> bool {
    spec.to_ascii_lowercase().ends_with(".json")
        || zoo::find(spec).is_some_and(|e| matches!(e.source, zoo::Source::HfConfig(_)))
}

/// The Hugging Face config behind `spec` (a zoo LLM or a `.json` file), with its display name;
/// `None` when `spec` is not an LLM config.
pub fn llm_config(spec: &str) -> Option<Result<(String, hf::HfConfig)>> {
    if let Some(e) = zoo::find(spec) {
        if let zoo::Source::HfConfig(json) = e.source {
            let file = format!("zoo:{}", e.name);
            return Some(hf::HfConfig::from_json(&file, json).map(|c| (e.name.to_string(), c)));
        }
        return None;
    }
    if !spec.to_ascii_lowercase().ends_with(".json") {
        return None;
    }
    let path = Path::new(spec);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(source) => {
            return Some(Err(WorkloadError::Io {
                path: path.to_path_buf(),
                source,
            }))
        }
    };
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("llm")
        .to_string();
    Some(hf::HfConfig::from_json(spec, &text).map(|c| (name, c)))
}

/// The candidate closest to `name` when it is close enough to be a misspelling (`resnt50` →
/// `resnet50`, `tpuv1` → `tpu-v1`): separators and case ignored, Damerau-Levenshtein similarity
/// of at least 0.6.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let n = norm(name);
    candidates
        .into_iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(&n, &norm(c)), c))
        .filter(|(s, _)| *s >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

//! `vchip coe`: a Composition of Experts served on a node, model switching included, against the
//! same scenario on a baseline node.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use vchip_sim::coe::Requests;

use super::args::OutArgs;
use crate::report;

#[derive(Args)]
#[command(group(clap::ArgGroup::new("popularity").required(true).args(["requests", "zipf"])))]
pub struct CoeArgs {
    /// Number of experts (ids 0 to N-1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub experts: u64,
    /// The architecture every expert shares: a zoo LLM or a Hugging Face config.json.
    #[arg(long)]
    pub expert_model: String,
    /// The node serving them: a dataflow node (sn40l-8) or a GPU node with host memory.
    #[arg(long)]
    pub hw: String,
    /// Override a key of --hw's description, as `vchip sweep --set` names it (repeatable), e.g.
    /// `--set dataflow.tiers.ddr.bandwidth_gb_s=100`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The node to compare with, experts beyond its HBM in host memory.
    #[arg(long, default_value = "dgx-h100")]
    pub baseline: String,
    /// The requests in order: a CSV file with an `expert` column of expert ids.
    #[arg(long, value_name = "FILE.csv")]
    pub requests: Option<PathBuf>,
    /// Requests drawn from a Zipf popularity with this exponent (0: uniform); expert 0 the most
    /// asked. The switching reported is the exact steady-state expectation.
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub zipf: Option<f64>,
    /// Requests in the stream, with --zipf.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub count: u64,
    /// Prompt tokens of each request.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub prompt: u64,
    /// Tokens generated per request.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub gen: u64,
    /// A router LLM that prefills every prompt to pick its expert, kept in HBM (the SN40L
    /// paper's Samba-CoE routes with a Llama-2-7B derivative). Default: none.
    #[arg(long, value_name = "MODEL")]
    pub router: Option<String>,
    /// Precision policy (default: each hardware's own).
    #[arg(long)]
    pub precision: Option<String>,
    #[command(flatten)]
    pub out: OutArgs,
}

/// Reads a request list: one expert id (below `experts`) per row, in the `expert` column (or the
/// only column).
pub fn read_requests(path: &std::path::Path, experts: u64) -> Result<Vec<u64>> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    // Spreadsheets write a byte-order mark first.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        bail!("{name}: no requests; give a CSV with an `expert` column, one request per row");
    };
    let cells = |l: &str| {
        l.split(',')
            .map(|c| {
                let c = c.trim();
                c.strip_prefix('"')
                    .and_then(|c| c.strip_suffix('"'))
                    .unwrap_or(c)
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    let head = cells(header);
    let (column, mut ids) = match head.iter().position(|c| c.eq_ignore_ascii_case("expert")) {
        Some(c) => (c, Vec::new()),
        None if head.len() == 1 && head[0].parse::<u64>().is_ok() => (0, vec![header]),
        None => bail!(
            "{name}:1: no `expert` column (columns: {}); name the column of expert ids `expert`",
            head.join(", ")
        ),
    };
    let mut out = Vec::new();
    for (i, line) in ids.drain(..).map(|l| (0usize, l)).chain(lines) {
        let row = cells(line);
        let cell = row.get(column).map(String::as_str).unwrap_or("");
        let id = cell.parse::<u64>().map_err(|_| {
            anyhow::anyhow!(
                "{name}:{}: `{cell}` is not an expert id; give a whole number from 0",
                i + 1
            )
        })?;
        if id >= experts {
            bail!(
                "{name}:{}: expert {id} is beyond the {experts} experts (ids 0 to {}); raise --experts or fix the list",
                i + 1,
                experts - 1
            );
        }
        out.push(id);
    }
    if out.is_empty() {
        bail!("{name}: the header has no requests under it; add one row per request");
    }
    Ok(out)
}

pub fn run(a: CoeArgs) -> Result<()> {
    if a.out.totals {
        bail!("--totals adds a total row to a per-step CSV; `vchip coe` writes one row per figure (drop it)");
    }
    let (req, label) = match (&a.requests, a.zipf) {
        (Some(p), _) => (
            Requests::List(read_requests(p, a.experts)?),
            p.display().to_string(),
        ),
        (None, Some(s)) => (
            Requests::Zipf { s, count: a.count },
            format!("zipf:{s} x {}", a.count),
        ),
        (None, None) => bail!("give --requests FILE.csv or --zipf S"),
    };
    let llm = |flag: &str, model: &str| {
        vchip_workloads::llm_config(model).with_context(|| {
            format!(
                "--{flag} applies to LLMs (a zoo LLM or a Hugging Face config.json); `{model}` is not one"
            )
        })
    };
    let (name, cfg) = llm("expert-model", &a.expert_model)??;
    let router = a
        .router
        .as_deref()
        .map(|r| llm("router", r))
        .transpose()?
        .transpose()?;
    let load = |hw: &str, set: &[String]| -> Result<_> {
        let spec = crate::session::load_spec_with(hw, set, &Default::default())?;
        let model = vchip_hwmodels::build_model(spec.clone())?;
        let policy = a
            .precision
            .as_deref()
            .or(spec.precision.as_deref())
            .map(vchip_workloads::precision::PrecisionPolicy::parse)
            .transpose()?;
        let devices = vchip_sim::coe::devices(&spec);
        Ok((spec, model, policy, devices))
    };
    let (spec, model, policy, devices) = load(&a.hw, &a.set)?;
    let (bspec, bmodel, _, bdevices) = load(&a.baseline, &[])?;
    vchip_sim::coe::check_node(&spec)?;
    vchip_sim::coe::check_node(&bspec)?;
    if a.precision.is_none() && spec.precision != bspec.precision {
        let p = |s: &vchip_hwmodels::HardwareSpec| s.precision.clone().unwrap_or("f32".into());
        bail!(
            "`{}` and `{}` compute in different precisions ({} and {}); give --precision so both run the experts alike",
            spec.name,
            bspec.name,
            p(&spec),
            p(&bspec)
        );
    }
    let scenario = vchip_sim::coe::Scenario {
        name,
        cfg,
        experts: a.experts,
        requests: req,
        request_source: label,
        prompt: a.prompt,
        gen: a.gen,
        precision: policy,
        router,
    };
    let coe = vchip_sim::coe::compare(
        &scenario,
        (&spec, model.as_ref(), devices),
        (&bspec, bmodel.as_ref(), bdevices),
    )?;
    a.out.emit(&report::render_coe(&coe, a.out.format))
}

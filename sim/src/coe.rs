//! Composition of Experts serving: many expert LLMs of one architecture behind a router, most of
//! them kept in a large slow store, each request served by one expert that must be in the fast
//! tier (HBM) first. What the SN40L paper measures on a dataflow node against DGX baselines
//! (Prabhakar et al., MICRO 2024, §V–VI-C).
//!
//! The model: experts are placed by popularity (largest benefit per byte first; experts are the
//! same size, so the most requested first) in HBM beside one request's KV cache and
//! activations; one HBM slot stays free as the swap slot. A request for an expert neither pinned
//! nor in the swap slot pays the copy into HBM (model switching), then runs prompt + generation.
//! Requests are served one at a time. With a Zipf popularity the switching is the exact
//! expectation in steady state (the swap slot holds the last unpinned expert requested); with a
//! request list it is counted request by request.

use serde::Serialize;
use vchip_hwmodels::spec::HwKind;
use vchip_hwmodels::{CostOptions, HardwareModel, HardwareSpec};
use vchip_workloads::hf::HfConfig;
use vchip_workloads::precision::PrecisionPolicy;
use vchip_workloads::WorkloadError;

use crate::serving::{serve, Serving};
use crate::SimError;

/// Which experts the requests ask for.
#[derive(Clone, Debug)]
pub enum Requests {
    /// `count` requests drawn from a Zipf popularity with exponent `s` over the experts (expert
    /// `i`, 0-based, asked with probability ∝ 1/(i+1)^s).
    Zipf { s: f64, count: u64 },
    /// The experts asked, in order (0-based).
    List(Vec<u64>),
}

/// What is served: `experts` experts of one LLM architecture answering `requests`, each with a
/// `prompt` and `gen` generated tokens, optionally behind a router LLM that reads every prompt.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The expert architecture's name and configuration.
    pub name: String,
    pub cfg: HfConfig,
    pub experts: u64,
    pub requests: Requests,
    /// Where the requests come from, as reported: `zipf:S x COUNT` or the request file.
    pub request_source: String,
    pub prompt: u64,
    pub gen: u64,
    pub precision: Option<PrecisionPolicy>,
    /// A router (name, configuration) that prefills every prompt to pick the expert; it stays in
    /// HBM (the SN40L paper's Samba-CoE, §V).
    pub router: Option<(String, HfConfig)>,
}

/// One system serving the scenario.
#[derive(Clone, Debug, Serialize)]
pub struct CoeRun {
    pub hardware: String,
    pub devices: u64,
    /// One request's prompt and generation on one expert (batch 1).
    pub serving: Serving,
    /// Weights of one expert over all its devices.
    pub expert_bytes: u64,
    /// Where experts live: the fast tier that serves them, the store that holds the rest.
    pub fast_tier: String,
    pub slow_tier: String,
    /// Experts HBM holds for good (the most requested), besides the swap slot.
    pub experts_pinned: u64,
    /// The router's prefill of one prompt (0 without a router).
    pub router_s: f64,
    /// The router's weights per device, held in the fast tier (0 without a router).
    pub router_bytes: u64,
    /// Seconds to copy one expert into the fast tier from the nearest store (all devices at once).
    pub switch_s: f64,
    pub requests: u64,
    /// Copies the requests cause (an expectation for a Zipf popularity).
    pub switches: f64,
    pub exec_s_total: f64,
    pub switch_s_total: f64,
    pub total_s: f64,
    /// Generated tokens per second over the whole request stream.
    pub tokens_per_s: f64,
    /// Share of the time spent switching.
    pub switch_share: f64,
}

/// The scenario on a system and on its baseline, with the ratios.
#[derive(Clone, Debug, Serialize)]
pub struct Coe {
    pub experts: u64,
    pub expert_model: String,
    /// The router model, if any.
    pub router: Option<String>,
    pub prompt: u64,
    pub gen: u64,
    /// Where the requests come from: `zipf:S x COUNT`, or the request file as given.
    pub request_source: String,
    #[serde(flatten)]
    pub run: CoeRun,
    pub baseline: CoeRun,
    /// Baseline total time over this system's.
    pub speedup: f64,
    /// Baseline switch time over this system's.
    pub switch_speedup: f64,
}

/// A store the experts HBM cannot hold live in, per device, and the time to copy one expert
/// (all its devices' shards) from it into the fast tier.
struct SlowTier {
    name: String,
    bytes: u64,
    copy_s: f64,
}

/// Where a node keeps experts: the fast tier that serves them and, in order, the stores behind it.
struct ExpertStore {
    fast_tier: String,
    fast_bytes: u64,
    slow: Vec<SlowTier>,
}

/// The expert store of `spec` for an expert of `expert_bytes_per_device` on each of `devices`.
fn expert_store(
    spec: &HardwareSpec,
    expert_bytes_per_device: u64,
    devices: u64,
) -> Result<ExpertStore, SimError> {
    let gib = |g: f64| (g * (1u64 << 30) as f64) as u64;
    let no = |msg: String| SimError::Workload(WorkloadError::Option(msg));
    match (spec.kind, &spec.dataflow, &spec.gpu) {
        (HwKind::Dataflow, Some(d), _) => {
            let (fast, rest) = d
                .tiers
                .split_first()
                .ok_or_else(|| no(format!("`{}` lists no memory tiers", spec.name)))?;
            if rest.is_empty() {
                return Err(no(format!(
                    "`{}` has one memory tier ({}): a Composition of Experts needs a second to hold the experts it cannot (add a `ddr` tier)",
                    spec.name, fast.name
                )));
            }
            Ok(ExpertStore {
                fast_tier: fast.name.clone(),
                fast_bytes: gib(fast.capacity_gib.0),
                // Every socket copies its own shard from its own tier at once, at the speed the
                // tier streams.
                slow: rest
                    .iter()
                    .map(|t| SlowTier {
                        name: t.name.clone(),
                        bytes: gib(t.capacity_gib.0),
                        copy_s: expert_bytes_per_device as f64
                            / (t.bandwidth_gb_s.0 * 1e9 * t.efficiency.0),
                    })
                    .collect(),
            })
        }
        (HwKind::Gpu, _, Some(g)) => {
            let host = g.host.as_ref().ok_or_else(|| {
                no(format!(
                    "`{}` describes no host memory (`gpu.host`): a Composition of Experts keeps the experts HBM cannot hold there; use dgx-h100 or dgx-a100, or add `host: {{ capacity_gib, gb_s }}`",
                    spec.name
                ))
            })?;
            let hbm = spec.dram_or_err()?;
            let count = g.count.0.max(1);
            // The node's one host-to-GPU path carries every device's shard.
            let bytes = expert_bytes_per_device.saturating_mul(devices) as f64;
            Ok(ExpertStore {
                fast_tier: "hbm".into(),
                fast_bytes: gib(hbm.capacity_gib.0),
                slow: vec![SlowTier {
                    name: "host".into(),
                    bytes: gib(host.capacity_gib.0) / count,
                    copy_s: bytes / (host.gb_s.0 * 1e9),
                }],
            })
        }
        _ => Err(no(format!(
            "`{}` is neither a dataflow node nor a GPU node; vchip coe runs on kind: dataflow (sn40l-8) or kind: gpu with host memory (dgx-h100, dgx-a100)",
            spec.name
        ))),
    }
}

/// Whether `spec` can serve a Composition of Experts (a dataflow node with a second tier, or a
/// GPU node with host memory); the error says what is missing.
pub fn check_node(spec: &HardwareSpec) -> Result<(), SimError> {
    expert_store(spec, 1, 1).map(|_| ())
}

/// Popularity of each expert (sums to 1) from the requests.
fn popularity(experts: u64, req: &Requests) -> Vec<f64> {
    let mut p: Vec<f64> = match req {
        Requests::Zipf { s, .. } => (0..experts)
            .map(|i| 1.0 / ((i + 1) as f64).powf(*s))
            .collect(),
        Requests::List(list) => {
            let mut n = vec![0.0; experts as usize];
            for &e in list {
                n[e as usize] += 1.0;
            }
            n
        }
    };
    let total: f64 = p.iter().sum();
    if total > 0.0 {
        p.iter_mut().for_each(|x| *x /= total);
    }
    p
}

/// Runs the scenario on one system: `hw` with `spec`, each model split over `devices`.
fn run_one(
    sc: &Scenario,
    spec: &HardwareSpec,
    hw: &dyn HardwareModel,
    devices: u64,
) -> Result<CoeRun, SimError> {
    let Scenario {
        name,
        experts,
        prompt,
        gen,
        ..
    } = sc;
    let (experts, prompt, gen) = (*experts, *prompt, *gen);
    let serve_one = |name: &str, cfg: &HfConfig, gen: u64| {
        serve(
            name,
            &cfg.tensor_parallel(devices)?,
            1,
            prompt,
            gen,
            sc.precision.as_ref(),
            hw,
            &CostOptions::default(),
        )
    };
    let s = serve_one(name, &sc.cfg, gen)?;
    // The router reads the prompt (its prefill picks the expert) and keeps its weights in HBM.
    let (router_s, router_bytes) = match &sc.router {
        Some((rname, rcfg)) => {
            let r = serve_one(rname, rcfg, 1).map_err(|e| {
                SimError::Workload(WorkloadError::Option(format!("--router `{rname}`: {e}")))
            })?;
            (r.ttft_s, r.weight_bytes_per_gpu)
        }
        None => (0.0, 0),
    };
    let w = s.weight_bytes_per_gpu.max(1);
    let store = expert_store(spec, w, devices)?;
    let gb = |b: u64| b as f64 / 1e9;
    let no = |msg: String| Err(SimError::Workload(WorkloadError::Option(msg)));
    // HBM beside one request's KV cache and activations, and the router.
    let kv = s.hbm_needed_bytes.saturating_sub(s.weight_bytes_per_gpu);
    let reserve = kv.saturating_add(router_bytes);
    // What else HBM holds, as the messages say it.
    let beside = match &sc.router {
        Some((rname, _)) => format!(
            "one request's {:.2} GB of KV cache and activations and the `{rname}` router's {:.2} GB",
            gb(kv),
            gb(router_bytes)
        ),
        None => format!("one request's {:.2} GB of KV cache and activations", gb(kv)),
    };
    let slots = store.fast_bytes.saturating_sub(reserve) / w;
    if slots == 0 {
        return no(format!(
            "one expert of `{name}` ({:.2} GB per device) does not fit the {} of `{}` ({:.2} GB) beside {beside}. Fix: more devices per expert (a node preset), a narrower --precision,{} or a larger {} tier",
            gb(w),
            store.fast_tier,
            spec.name,
            gb(store.fast_bytes),
            if sc.router.is_some() { " a smaller --router," } else { "" },
            store.fast_tier
        ));
    }
    let p = popularity(experts, &sc.requests);
    // The most requested experts pinned, one slot left to swap into (none when all fit); the
    // others fill the slower stores in order, most requested first.
    let mut order: Vec<usize> = (0..experts as usize).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let pinned_n = if slots >= experts { experts } else { slots - 1 };
    // Copy time of each expert (None: pinned).
    let mut copy_s: Vec<Option<f64>> = vec![None; experts as usize];
    let mut unplaced = order.iter().skip(pinned_n as usize).peekable();
    for tier in &store.slow {
        for _ in 0..tier.bytes / w {
            let Some(&i) = unplaced.next() else { break };
            copy_s[i] = Some(tier.copy_s);
        }
    }
    let left = unplaced.count();
    if left > 0 {
        let tiers: Vec<String> = store
            .slow
            .iter()
            .map(|t| format!("{} {:.1} GB holds {}", t.name, gb(t.bytes), t.bytes / w))
            .collect();
        return no(format!(
            "{experts} experts of `{name}` do not fit `{}`: each takes {:.2} GB per device, {:.1} GB in all per device; {} holds {pinned_n} of them ({:.1} GB beside {beside}, one slot kept to swap into), {}; {left} have nowhere to go. Fix: fewer --experts, a narrower --precision, or hardware with more memory",
            spec.name,
            gb(w),
            gb(w.saturating_mul(experts)),
            store.fast_tier,
            gb(store.fast_bytes),
            tiers.join(", ")
        ));
    }
    let (requests, switches, switch_s_total) = match &sc.requests {
        Requests::Zipf { count, .. } => {
            // Steady state: the swap slot holds unpinned expert j with probability p_j / U, so a
            // request for unpinned i copies with probability 1 - p_i / U.
            let u: f64 = (0..experts as usize)
                .filter(|&i| copy_s[i].is_some())
                .map(|i| p[i])
                .sum();
            let (mut n, mut t) = (0.0, 0.0);
            if u > 0.0 {
                for (i, c) in copy_s.iter().enumerate() {
                    if let Some(c) = c {
                        let per_request = p[i] * (1.0 - p[i] / u);
                        n += per_request;
                        t += per_request * c;
                    }
                }
            }
            let k = *count as f64;
            (*count, n * k, t * k)
        }
        Requests::List(list) => {
            let mut slot = None;
            let (mut n, mut t) = (0u64, 0.0);
            for &e in list {
                if let Some(c) = copy_s[e as usize].filter(|_| slot != Some(e)) {
                    n += 1;
                    t += c;
                    slot = Some(e);
                }
            }
            (list.len() as u64, n as f64, t)
        }
    };
    let exec_s_total = (s.e2e_s + router_s) * requests as f64;
    let total_s = exec_s_total + switch_s_total;
    if !total_s.is_finite() {
        return no(format!(
            "the scenario on `{}` takes no finite time (a tier's bandwidth or the clock is too small to cost); check its description",
            spec.name
        ));
    }
    Ok(CoeRun {
        hardware: spec.name.clone(),
        devices,
        expert_bytes: w.saturating_mul(devices),
        slow_tier: store
            .slow
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        switch_s: store.slow[0].copy_s,
        fast_tier: store.fast_tier,
        experts_pinned: pinned_n,
        router_s,
        router_bytes,
        requests,
        switches,
        exec_s_total,
        switch_s_total,
        total_s,
        tokens_per_s: if total_s > 0.0 {
            (requests * gen) as f64 / total_s
        } else {
            0.0
        },
        switch_share: if total_s > 0.0 {
            switch_s_total / total_s
        } else {
            0.0
        },
        serving: s,
    })
}

/// Devices an expert is split over on `spec` by default: the node's sockets or GPUs.
pub fn devices(spec: &HardwareSpec) -> u64 {
    spec.dataflow
        .as_ref()
        .map(|d| d.sockets.0)
        .or(spec.gpu.as_ref().map(|g| g.count.0))
        .unwrap_or(1)
}

/// Checks the request list against the expert count (0-based ids).
pub fn check_requests(experts: u64, req: &Requests) -> Result<(), SimError> {
    let bad = |m: String| Err(SimError::Workload(WorkloadError::Option(m)));
    if experts == 0 {
        return bad("--experts must be at least 1".into());
    }
    match req {
        Requests::Zipf { s, count } => {
            if !(s.is_finite() && *s >= 0.0) {
                return bad(format!(
                    "--zipf {s}: give an exponent of 0 (uniform) or more"
                ));
            }
            if *count == 0 {
                return bad("--count must be at least 1".into());
            }
        }
        Requests::List(list) => {
            if list.is_empty() {
                return bad("the request list is empty; give at least one request".into());
            }
            if let Some((i, e)) = list.iter().enumerate().find(|(_, &e)| e >= experts) {
                return bad(format!(
                    "request {} asks for expert {e}, but there are {experts} (ids 0 to {}); raise --experts or fix the list",
                    i + 1,
                    experts - 1
                ));
            }
        }
    }
    Ok(())
}

/// The scenario on `system` and on `baseline`, each (description, model, devices per model).
pub fn compare(
    sc: &Scenario,
    system: (&HardwareSpec, &dyn HardwareModel, u64),
    baseline: (&HardwareSpec, &dyn HardwareModel, u64),
) -> Result<Coe, SimError> {
    check_requests(sc.experts, &sc.requests)?;
    let ours = run_one(sc, system.0, system.1, system.2)?;
    let base = run_one(sc, baseline.0, baseline.1, baseline.2)?;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(Coe {
        experts: sc.experts,
        expert_model: sc.name.clone(),
        router: sc.router.as_ref().map(|r| r.0.clone()),
        prompt: sc.prompt,
        gen: sc.gen,
        request_source: sc.request_source.clone(),
        speedup: ratio(base.total_s, ours.total_s),
        switch_speedup: ratio(base.switch_s, ours.switch_s),
        run: ours,
        baseline: base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_popularity_is_normalised_and_ranked() {
        let p = popularity(4, &Requests::Zipf { s: 1.0, count: 1 });
        let h = 1.0 + 0.5 + 1.0 / 3.0 + 0.25;
        assert!((p[0] - 1.0 / h).abs() < 1e-12);
        assert!((p[3] - 0.25 / h).abs() < 1e-12);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let u = popularity(3, &Requests::Zipf { s: 0.0, count: 1 });
        assert!(u.iter().all(|&x| (x - 1.0 / 3.0).abs() < 1e-12));
    }

    #[test]
    fn a_request_for_an_expert_outside_the_list_is_refused() {
        let e = check_requests(3, &Requests::List(vec![0, 2, 3])).unwrap_err();
        assert!(e.to_string().contains("request 3 asks for expert 3"), "{e}");
        assert!(check_requests(3, &Requests::List(vec![0, 1, 2])).is_ok());
        assert!(check_requests(3, &Requests::Zipf { s: -1.0, count: 5 }).is_err());
    }
}

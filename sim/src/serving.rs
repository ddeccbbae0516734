//! LLM serving predictions: time to first token, time per output token over a growing context,
//! throughput, and whether weights and KV cache fit, from a handful of engine runs.
//!
//! A decode step's cost is affine in the context length (the KV-cache read and the attention
//! FLOPs grow linearly, everything else is fixed), so the mean over contexts P..P+G-1 is the mean
//! of its two ends: two decode simulations stand for all G steps. And a decoder's layers are
//! identical, so every figure is affine in the layer count too: each run costs the network with
//! one and with two layers and extends the difference to all of them (exact, since the engine
//! costs each layer's steps the same wherever the layer sits).

use serde::Serialize;
use vchip_hwmodels::{CostOptions, HardwareModel};
use vchip_workloads::hf::{HfConfig, LlmPhase, LlmShape};
use vchip_workloads::precision::PrecisionPolicy;
use vchip_workloads::TensorRole;

use crate::{simulate, SimError};

#[derive(Clone, Debug, Serialize)]
pub struct Serving {
    pub batch: u64,
    pub prompt: u64,
    pub gen: u64,
    pub tp: u64,
    /// Prefill of the prompt, which yields the first token.
    pub ttft_s: f64,
    /// Mean time per output token over the decode steps.
    pub tpot_s: f64,
    pub decode_tokens_per_s_per_user: f64,
    /// All users together.
    pub tokens_per_s: f64,
    /// First token, then `gen - 1` decode steps.
    pub e2e_s: f64,
    /// KV cache per GPU at the full context (prompt + generated), all sequences.
    pub kv_cache_bytes: u64,
    pub weight_bytes_per_gpu: u64,
    /// Weights + KV cache + the largest live activations, per GPU.
    pub hbm_needed_bytes: u64,
    pub hbm_capacity_bytes: Option<u64>,
    pub fits: bool,
}

/// A run that does not fit: the numbers, for the error message.
pub fn no_fit_message(model: &str, hw: &str, s: &Serving) -> String {
    let gb = |b: u64| b as f64 / 1e9;
    format!(
        "`{model}` does not fit `{hw}` at batch {} and {} tokens: it needs {:.1} GB per GPU (weights {:.1} GB + KV cache {:.1} GB + activations) of {:.1} GB. Fix: --tp N on a node preset (dgx-a100, dgx-h100), a narrower --precision (int8, w4a16), or a smaller --batch/--prompt/--gen",
        s.batch,
        s.prompt + s.gen,
        gb(s.hbm_needed_bytes),
        gb(s.weight_bytes_per_gpu),
        gb(s.kv_cache_bytes),
        gb(s.hbm_capacity_bytes.unwrap_or(0)),
    )
}

/// Serving figures of `cfg` (one GPU's tensor-parallel share already applied) on `hw`.
#[allow(clippy::too_many_arguments)]
pub fn serve(
    name: &str,
    cfg: &HfConfig,
    batch: u64,
    prompt: u64,
    gen: u64,
    precision: Option<&PrecisionPolicy>,
    hw: &dyn HardwareModel,
    opts: &CostOptions,
) -> Result<Serving, SimError> {
    if batch == 0 || prompt == 0 || gen == 0 {
        return Err(SimError::Workload(vchip_workloads::WorkloadError::Option(
            "--batch, --prompt and --gen must be at least 1".into(),
        )));
    }
    if prompt.saturating_add(gen) > cfg.max_positions {
        return Err(SimError::Workload(vchip_workloads::WorkloadError::Option(format!(
            "{prompt} prompt + {gen} generated tokens exceed `{name}`'s {} positions (max_position_embeddings); shorten --prompt/--gen",
            cfg.max_positions
        ))));
    }
    // The layer shortcut needs identical layers costed alike: a precision override that may name
    // some of them, or a chip whose sections span layers, costs the whole network instead.
    let uniform = precision.is_none_or(|p| p.overrides.is_empty()) && hw.layers_cost_alike();
    let layers = if uniform { cfg.layers } else { 1 };
    let with_layers = |n: u64| {
        let mut c = cfg.clone();
        if uniform {
            c.layers = n.min(cfg.layers);
        }
        c
    };
    let (one, two) = (with_layers(1), with_layers(2));
    // A figure of the whole network from its one- and two-layer values.
    let extend = |a: f64, b: f64| a + (layers.saturating_sub(1)) as f64 * (b - a);
    /// One run: the result, and the weight and KV-cache bytes of its trace.
    struct Run {
        result: crate::SimResult,
        weights: u64,
        kv: u64,
    }
    let run = |c: &HfConfig, phase: LlmPhase, context: u64| -> Result<Run, SimError> {
        let mut t = c.trace(
            name,
            &LlmShape {
                batch,
                prompt,
                context,
                phase,
            },
        )?;
        if let Some(p) = precision {
            p.apply(&mut t);
        }
        let kv: u64 = t
            .tensors
            .iter()
            .filter(|x| x.role == TensorRole::KvCache)
            .map(|x| x.bytes())
            .sum();
        let weights = t.totals().weight_bytes;
        Ok(Run {
            result: simulate(&t, hw, opts)?,
            weights,
            kv,
        })
    };
    /// The whole network's (latency, weights, KV) at one point, and the one-layer run.
    type Point = (f64, u64, u64, Run);
    let point = |phase: LlmPhase, context: u64| -> Result<Point, SimError> {
        let a = run(&one, phase, context)?;
        let b = if layers > 1 {
            let b = run(&two, phase, context)?;
            (b.result.totals.latency_s, b.weights, b.kv)
        } else {
            (a.result.totals.latency_s, a.weights, a.kv)
        };
        let ext = |x: u64, y: u64| extend(x as f64, y as f64).round() as u64;
        Ok((
            extend(a.result.totals.latency_s, b.0),
            ext(a.weights, b.1),
            ext(a.kv, b.2),
            a,
        ))
    };
    let (ttft, _, _, prefill) = point(LlmPhase::Prefill, 0)?;
    // G tokens: the first from the prefill, then G-1 decode steps reading P .. P+G-2 cached
    // tokens. A step is affine in the context between breakpoints (a sliding window caps it), so
    // each piece's mean is the mean of its ends. (An eager launch floor bends it slightly; the
    // trapezoid then errs high, by well under 1 %.) With G = 1 the next step stands for TPOT.
    let (lo, hi) = (prompt, prompt.saturating_add(gen.saturating_sub(2)));
    let mut points = vec![lo];
    if let Some(w) = cfg.sliding_window {
        // Past the window the cache read stops growing: kv_len = min(ctx + 1, w).
        let knee = w.saturating_sub(1);
        if lo < knee && knee < hi {
            points.push(knee);
        }
    }
    if hi > lo {
        points.push(hi);
    }
    let mut at = Vec::with_capacity(points.len());
    // Weights, and the KV cache after the last step (P+G-1 tokens; with G = 1 the P+1 the next
    // step would hold), from the last point's traces.
    let (mut weights, mut kv) = (0, 0);
    for &c in &points {
        let (t, w, k, _) = point(LlmPhase::Decode, c)?;
        at.push(t);
        (weights, kv) = (w, k);
    }
    let tpot = if points.len() == 1 {
        at[0]
    } else {
        let span = (hi - lo) as f64;
        points
            .windows(2)
            .zip(at.windows(2))
            .map(|(p, t)| (p[1] - p[0]) as f64 * (t[0] + t[1]) / 2.0)
            .sum::<f64>()
            / span
    };
    // Everything off chip that holds data: a GPU's HBM; a dataflow chip's HBM and DDR tiers
    // (where the schedule placed weights in the slower tier, the latency shows it).
    let capacity = hw
        .levels()
        .iter()
        .filter(|l| !l.on_chip)
        .filter_map(|l| l.capacity_bytes)
        .reduce(u64::saturating_add);
    // The largest activation set alive in prefill (one layer's worth is the whole network's).
    let w1 = prefill.weights;
    let act_peak = prefill
        .result
        .memory
        .iter()
        .filter(|m| !m.on_chip)
        .map(|m| m.peak_bytes.saturating_sub(w1))
        .max()
        .unwrap_or(0);
    let needed = weights.saturating_add(kv).saturating_add(act_peak);
    Ok(Serving {
        batch,
        prompt,
        gen,
        tp: cfg.tp,
        ttft_s: ttft,
        tpot_s: tpot,
        decode_tokens_per_s_per_user: if tpot > 0.0 { 1.0 / tpot } else { 0.0 },
        tokens_per_s: if tpot > 0.0 { batch as f64 / tpot } else { 0.0 },
        e2e_s: ttft + (gen - 1) as f64 * tpot,
        kv_cache_bytes: kv,
        weight_bytes_per_gpu: weights,
        hbm_needed_bytes: needed,
        hbm_capacity_bytes: capacity,
        fits: capacity.is_none_or(|c| needed <= c),
    })
}

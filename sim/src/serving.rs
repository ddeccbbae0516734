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
    let layers = cfg.layers;
    let with_layers = |n: u64| {
        let mut c = cfg.clone();
        c.layers = n.min(layers);
        c
    };
    let (one, two) = (with_layers(1), with_layers(2));
    // A figure of the whole network from its one- and two-layer values.
    let extend = |a: f64, b: f64| a + (layers.saturating_sub(1)) as f64 * (b - a);
    let run = |c: &HfConfig, phase: LlmPhase, context: u64| -> Result<crate::SimResult, SimError> {
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
        simulate(&t, hw, opts)
    };
    let latency = |phase: LlmPhase, context: u64| -> Result<(f64, crate::SimResult), SimError> {
        let a = run(&one, phase, context)?;
        let b = if layers > 1 {
            run(&two, phase, context)?.totals.latency_s
        } else {
            a.totals.latency_s
        };
        Ok((extend(a.totals.latency_s, b), a))
    };
    let (ttft, prefill) = latency(LlmPhase::Prefill, 0)?;
    let (first, _) = latency(LlmPhase::Decode, prompt)?;
    let last = if gen > 1 {
        latency(LlmPhase::Decode, prompt.saturating_add(gen - 1))?.0
    } else {
        first
    };
    let tpot = (first + last) / 2.0;
    // Weights once, and the KV cache at the full context, from the decode traces' tensors.
    let stored = |c: &HfConfig| -> Result<(u64, u64), SimError> {
        let mut t = c.trace(
            name,
            &LlmShape {
                batch,
                prompt,
                // The last step reads P+G-1 cached tokens and writes one: P+G in the cache.
                context: prompt.saturating_add(gen - 1),
                phase: LlmPhase::Decode,
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
        Ok((t.totals().weight_bytes, kv))
    };
    let (w1, kv1) = stored(&one)?;
    let (w2, kv2) = if layers > 1 { stored(&two)? } else { (w1, kv1) };
    let weights = extend(w1 as f64, w2 as f64).round() as u64;
    let kv = extend(kv1 as f64, kv2 as f64).round() as u64;
    let hbm = hw.levels().into_iter().find(|l| !l.on_chip);
    let capacity = hbm.as_ref().and_then(|l| l.capacity_bytes);
    // The largest activation set alive in prefill (one layer's worth is the whole network's).
    let act_peak = prefill
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

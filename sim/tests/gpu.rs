//! The GPU kind: published LLM measurements (shared/reference/gpus.md, copied into docs/gpu.md),
//! the kernel model's shape effects, serving's shortcuts checked against brute force, and the
//! tensor-parallel transform.

use vchip_hwmodels::gpu::kernels::Gpu;
use vchip_hwmodels::{build_model, load_hardware, CostOptions, HardwareModel, HardwareSpec};
use vchip_sim::serving::{serve, Serving};
use vchip_sim::simulate;
use vchip_workloads::hf::{HfConfig, LlmPhase, LlmShape};
use vchip_workloads::precision::PrecisionPolicy;
use vchip_workloads::MoveKind;

fn llama(name: &str) -> HfConfig {
    vchip_workloads::llm_config(name).unwrap().unwrap().1
}

fn gpu(name: &str, graphs: bool) -> Box<dyn HardwareModel> {
    let mut s: HardwareSpec = load_hardware(name).unwrap();
    s.gpu.as_mut().unwrap().cuda_graphs = graphs;
    build_model(s).unwrap()
}

fn latency(cfg: &HfConfig, shape: LlmShape, precision: &str, hw: &dyn HardwareModel) -> f64 {
    let mut t = cfg.trace("llm", &shape).unwrap();
    PrecisionPolicy::parse(precision).unwrap().apply(&mut t);
    simulate(&t, hw, &CostOptions::default())
        .unwrap()
        .totals
        .latency_s
}

/// Brute force: the mean of the G - 1 decode steps after the prefill (P .. P+G-2 cached tokens),
/// each simulated on its own.
fn mean_decode_step(
    cfg: &HfConfig,
    batch: u64,
    prompt: u64,
    gen: u64,
    hw: &dyn HardwareModel,
) -> f64 {
    let step = |ctx: u64| {
        let shape = LlmShape {
            batch,
            prompt,
            context: ctx,
            phase: LlmPhase::Decode,
        };
        latency(cfg, shape, "f16", hw)
    };
    (prompt..prompt + gen - 1).map(step).sum::<f64>() / (gen - 1) as f64
}

/// Serving on `hw` with the default options.
fn serve_on(
    cfg: &HfConfig,
    batch: u64,
    prompt: u64,
    gen: u64,
    policy: Option<&PrecisionPolicy>,
    hw: &dyn HardwareModel,
) -> Result<Serving, vchip_sim::SimError> {
    serve(
        "llm",
        cfg,
        batch,
        prompt,
        gen,
        policy,
        hw,
        &CostOptions::default(),
    )
}

/// Serving's TPOT against the brute-force mean decode step, within `tolerance`.
fn assert_tpot_is_the_mean_step(
    cfg: &HfConfig,
    batch: u64,
    prompt: u64,
    gen: u64,
    hw: &dyn HardwareModel,
    tolerance: f64,
) {
    let s = serve_on(cfg, batch, prompt, gen, None, hw).unwrap();
    let brute = mean_decode_step(cfg, batch, prompt, gen, hw);
    assert!(
        (s.tpot_s - brute).abs() <= tolerance * brute,
        "{} vs {brute}",
        s.tpot_s
    );
}

fn prefill(prompt: u64) -> LlmShape {
    LlmShape {
        batch: 1,
        prompt,
        context: 0,
        phase: LlmPhase::Prefill,
    }
}

fn error(predicted: f64, measured: f64) -> f64 {
    predicted / measured - 1.0
}

/// gpt-fast's README (pytorch-labs/gpt-fast, "Tensor Parallelism"): bf16 decode at batch 1 after a
/// 5-token prompt, torch.compile with CUDA graphs, on A100-80GB SXM power-limited to 330 W:
/// (model, GPUs, tokens/s).
const GPT_FAST: [(&str, u64, f64); 7] = [
    ("llama-2-7b", 1, 104.9),
    ("llama-2-7b", 2, 168.84),
    ("llama-2-7b", 4, 254.02),
    ("llama-2-7b", 8, 328.43),
    ("llama-2-70b", 2, 21.32),
    ("llama-2-70b", 4, 38.01),
    ("llama-2-70b", 8, 62.50),
];

/// gpt-fast's decode rate on A100s whose per-kernel GPU-side gap is `gap_us` (None: the preset's).
fn gpt_fast_rate(model: &str, gpus: u64, gap_us: Option<f64>) -> f64 {
    let mut spec: HardwareSpec = load_hardware(if gpus == 1 {
        "a100-sxm-80gb"
    } else {
        "dgx-a100"
    })
    .unwrap();
    let g = spec.gpu.as_mut().unwrap();
    g.cuda_graphs = true;
    if let Some(us) = gap_us {
        g.graph_launch_us = vchip_hwmodels::spec::Positive(us);
    }
    let hw = build_model(spec).unwrap();
    let cfg = llama(model).tensor_parallel(gpus).unwrap();
    let bf16 = PrecisionPolicy::parse("bf16").unwrap();
    // generate.py's defaults: 200 new tokens.
    serve_on(&cfg, 1, 5, 200, Some(&bf16), hw.as_ref())
        .unwrap()
        .decode_tokens_per_s_per_user
}

/// The A100's per-kernel GPU-side gap is a calibration: the value (on a 0.25 µs grid) whose
/// predictions are closest, in mean absolute error, to gpt-fast's tensor-parallel rows (2-8 GPUs).
/// The one-GPU row, the GPU issue's target, is held out and must land within 15 %. (gpt-fast's
/// node links its A100s in a hybrid cube mesh, not the DGX's NVSwitch; the all-reduces of a
/// batch-1 decode are latency-bound, and the preset's latency is kept.)
#[test]
fn a100_kernel_gap_is_calibrated_on_gpt_fast_tensor_parallel_rows() {
    let fit_rows = &GPT_FAST[1..];
    let mean_error = |gap: f64| {
        fit_rows
            .iter()
            .map(|&(m, n, tok_s)| (gpt_fast_rate(m, n, Some(gap)) / tok_s - 1.0).abs())
            .sum::<f64>()
            / fit_rows.len() as f64
    };
    let (best, err) = (4..=32)
        .map(|q| q as f64 * 0.25)
        .map(|gap| (gap, mean_error(gap)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    eprintln!(
        "calibrated gap {best} us, mean |error| {:.1} %",
        err * 100.0
    );
    for preset in ["a100-sxm-80gb", "dgx-a100"] {
        let spec: HardwareSpec = load_hardware(preset).unwrap();
        assert_eq!(spec.gpu.unwrap().graph_launch_us.0, best, "{preset}");
    }
    for &(m, n, tok_s) in &GPT_FAST {
        let e = gpt_fast_rate(m, n, None) / tok_s - 1.0;
        eprintln!("{m} on {n} GPU(s): {:+.1} %", e * 100.0);
        assert!(e.abs() <= 0.15, "{m} on {n}: {e}");
    }
}

/// gpt-fast (pytorch-labs README): Llama-2-7B, one A100-80GB, batch 1, bf16, a 5-token prompt,
/// torch.compile with CUDA graphs: 104.9 tokens/s; held out of the gap's calibration above.
#[test]
fn llama_2_7b_decode_on_a100_against_gpt_fast() {
    let rate = gpt_fast_rate("llama-2-7b", 1, None);
    let e = error(rate, 104.9);
    eprintln!("decode: {rate:.1} tok/s vs 104.9 ({:+.1} %)", e * 100.0);
    assert!(e.abs() <= 0.15, "{e}");
    // Memory-bound: the weights cross HBM once per token, at no more than the datasheet rate.
    assert!(1.0 / rate > 13.48e9 / 2039e9);
}

/// TensorRT-LLM v0.5 performance doc: Llama-2-7B on one A100, FP16, batch 1, 2048-token prompt:
/// first token in 133 ms (the context phase of a one-token generation).
#[test]
fn llama_2_7b_long_prefill_on_a100_within_15_percent() {
    let hw = gpu("a100-sxm-80gb", false);
    let t = latency(&llama("llama-2-7b"), prefill(2048), "f16", hw.as_ref());
    let e = error(t * 1e3, 133.0);
    eprintln!("TTFT 2048: {:.1} ms vs 133 ({:+.1} %)", t * 1e3, e * 100.0);
    assert!(e.abs() <= 0.15, "{e}");
    // Compute-bound: never faster than the FLOPs at the tensor-core peak.
    let flops = 2.0 * 6.74e9 * 2048.0;
    assert!(t > flops / 312e12);
}

/// Efficiency comes out of the shape: a 128-token prefill runs far below the tensor-core peak
/// (weights stream once for few tokens), a 2048-token one far closer to it.
#[test]
fn prefill_efficiency_grows_with_the_prompt() {
    let hw = gpu("a100-sxm-80gb", false);
    let cfg = llama("llama-2-7b");
    let util = |p: u64| {
        let t = latency(&cfg, prefill(p), "f16", hw.as_ref());
        2.0 * 6.74e9 * p as f64 / t / 312e12
    };
    let (short, long) = (util(128), util(2048));
    eprintln!("MFU 128: {short:.2}, 2048: {long:.2}");
    // 128 tokens: bound by streaming 13.5 GB of weights at 83 % of 2039 GB/s, so at most
    // 2 x 6.74e9 x 128 FLOP per 7.97 ms = 0.69 of the peak; 2048 tokens: bound by the tensor
    // cores at the tuned GEMM share (0.88) less wave and attention losses.
    let ceiling = 2.0 * 6.74e9 * 128.0 / (13.48e9 / (2039e9 * 0.83)) / 312e12;
    assert!(
        short < ceiling && short > 0.5 * ceiling,
        "{short} vs {ceiling}"
    );
    assert!(long > short && long > 0.6 && long < 0.88, "{long}");
}

/// Wave quantisation: one more tile than the GPU has SMs costs a second wave.
#[test]
fn one_tile_past_a_full_wave_costs_a_second_wave() {
    let spec = load_hardware("a100-sxm-80gb").unwrap();
    let g = spec.gpu.as_ref().unwrap();
    let k = Gpu {
        g,
        hbm_bytes_per_s: 2039e9,
    };
    // 108 SMs; 256x128 tiles: an M of 27*256 and N of 4*128 make exactly 108 tiles.
    let full = k.gemm(1, 27 * 256, 4 * 128, 8192, 2.0, 2.0, 2.0, 312e12, false);
    let over = k.gemm(1, 27 * 256 + 1, 4 * 128, 8192, 2.0, 2.0, 2.0, 312e12, false);
    eprintln!("{:?} {:?}", full, over);
    assert!(over.seconds > 1.3 * full.seconds, "{full:?} {over:?}");
    // The full wave runs near the tuned peak.
    let flops = 2.0 * (27.0 * 256.0) * 512.0 * 8192.0;
    assert!(flops / full.seconds > 0.8 * 312e12 * g.mma_efficiency.0);
}

/// Every kernel pays the GPU-side gap on top of its body; an eager launch only adds when the host
/// is slower than both, and a fused Q/K/V step costs the one GEMM of its concatenated weights.
#[test]
fn kernels_pay_the_gap_and_eager_launches_only_the_excess() {
    use vchip_workloads::builder::TraceBuilder;
    use vchip_workloads::DType;
    let spec = load_hardware("a100-sxm-80gb").unwrap();
    let g = spec.gpu.clone().unwrap();
    let k = Gpu {
        g: &g,
        hbm_bytes_per_s: 2039e9,
    };
    let gap = g.graph_launch_us.0 * 1e-6;
    let one_gemm = |m: u64, graphs: bool| {
        let mut b = TraceBuilder::new("t");
        (b.act_dtype, b.weight_dtype) = (DType::F16, DType::F16);
        let x = b.input("x", vec![m, 4096], DType::F16).unwrap();
        b.linear("fc", x, 4096, false).unwrap();
        latency_of(b.finish(), graphs)
    };
    let body = |m: u64| {
        k.gemm(1, m, 4096, 4096, 2.0, 2.0, 2.0, 312e12, true)
            .seconds
    };
    for m in [1, 2048] {
        let graphs = one_gemm(m, true);
        assert!(
            (graphs - (body(m) + gap)).abs() < 1e-9,
            "M={m}: {graphs} vs {}",
            body(m) + gap
        );
        let eager = one_gemm(m, false);
        let expect = (body(m) + gap).max(g.launch_us.0 * 1e-6);
        assert!((eager - expect).abs() < 1e-9, "M={m}: {eager} vs {expect}");
    }
    // Q, K and V reading one input and feeding attention: one kernel of N = 3 × 4096.
    let mut b = TraceBuilder::new("t");
    (b.act_dtype, b.weight_dtype) = (DType::F16, DType::F16);
    let x = b.input("x", vec![1, 2048, 4096], DType::F16).unwrap();
    let q = b.linear("q", x, 4096, false).unwrap();
    let kk = b.linear("k", x, 4096, false).unwrap();
    let v = b.linear("v", x, 4096, false).unwrap();
    b.attention("attn", q, kk, v, 32, 32, true).unwrap();
    let r = simulate(
        &b.finish(),
        gpu("a100-sxm-80gb", true).as_ref(),
        &CostOptions::default(),
    )
    .unwrap();
    let qkv = &r.steps[0];
    assert_eq!(qkv.ops.len(), 3);
    assert_eq!(qkv.detail, "2048x12288x4096");
    let fused = k
        .gemm(1, 2048, 3 * 4096, 4096, 2.0, 2.0, 2.0, 312e12, true)
        .seconds
        + gap;
    let secs = qkv.cost.cycles as f64 / (spec.clock_mhz.0 * 1e6);
    assert!((secs / fused - 1.0).abs() < 1e-6, "{secs} vs {fused}");
}

fn latency_of(t: vchip_workloads::Trace, graphs: bool) -> f64 {
    simulate(
        &t,
        gpu("a100-sxm-80gb", graphs).as_ref(),
        &CostOptions::default(),
    )
    .unwrap()
    .totals
    .latency_s
}

/// Serving's two shortcuts against brute force: the mean decode step over a growing context from
/// its two ends, and the whole network from one and two layers.
#[test]
fn serving_shortcuts_equal_brute_force() {
    let hw = gpu("h100-sxm", false);
    let cfg = llama("llama-2-7b");
    let (prompt, gen) = (100, 9);
    assert_tpot_is_the_mean_step(&cfg, 2, prompt, gen, hw.as_ref(), 1e-3);
    let s = serve_on(&cfg, 2, prompt, gen, None, hw.as_ref()).unwrap();
    let whole = latency(
        &cfg,
        LlmShape {
            batch: 2,
            prompt,
            context: 0,
            phase: LlmPhase::Prefill,
        },
        "f16",
        hw.as_ref(),
    );
    assert!(
        (s.ttft_s - whole).abs() <= 1e-9 * whole,
        "{} vs {whole}",
        s.ttft_s
    );
    assert!((s.e2e_s - (s.ttft_s + 8.0 * s.tpot_s)).abs() < 1e-12);
    assert!((s.tokens_per_s - 2.0 / s.tpot_s).abs() < 1e-9);
    // KV cache after the last step: 2 (K, V) x 32 layers x 32 heads x 128 x 108 tokens
    // (P + G - 1) x 2 sequences x 2 bytes.
    assert_eq!(s.kv_cache_bytes, 2 * 32 * 32 * 128 * 108 * 2 * 2);
}

#[test]
fn narrow_weights_make_decode_faster_and_fp8_needs_hopper() {
    let a100 = gpu("a100-sxm-80gb", true);
    let cfg = llama("llama-2-7b");
    let decode = LlmShape {
        batch: 1,
        prompt: 5,
        context: 5,
        phase: LlmPhase::Decode,
    };
    let bf16 = latency(&cfg, decode, "bf16", a100.as_ref());
    let w4 = latency(&cfg, decode, "w4a16", a100.as_ref());
    // Weight-only int4 streams a quarter of the bytes; launches and the KV read stay.
    assert!(w4 < 0.4 * bf16 && w4 > 0.2 * bf16, "{w4} vs {bf16}");
    let mut t = cfg.trace("llm", &decode).unwrap();
    PrecisionPolicy::parse("fp8").unwrap().apply(&mut t);
    let err = simulate(&t, a100.as_ref(), &CostOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no tensor-core path for fp8"), "{err}");
    let h100 = gpu("h100-sxm", true);
    assert!(simulate(&t, h100.as_ref(), &CostOptions::default()).is_ok());
}

#[test]
fn tensor_parallelism_splits_the_layers_and_all_reduces_over_the_link() {
    let cfg = llama("llama-2-70b");
    let tp = cfg.tensor_parallel(8).unwrap();
    assert_eq!((tp.heads, tp.kv_heads, tp.intermediate), (8, 1, 3584));
    assert!(cfg.tensor_parallel(3).is_err());
    let shape = LlmShape {
        batch: 1,
        prompt: 128,
        context: 128,
        phase: LlmPhase::Decode,
    };
    let t = tp.trace("llama-2-70b", &shape).unwrap();
    let reduces = t
        .ops
        .iter()
        .filter(|o| {
            matches!(
                o.kind,
                vchip_workloads::OpKind::DataMovement {
                    kind: MoveKind::AllReduce { group: 8 },
                    ..
                }
            )
        })
        .count();
    assert_eq!(reduces, 2 * 80);
    let full = cfg.trace("llama-2-70b", &shape).unwrap().totals();
    let share = t.totals();
    // Everything but the norms splits eight ways.
    let ratio = share.weight_bytes as f64 / full.weight_bytes as f64;
    assert!((ratio - 0.125).abs() < 0.002, "{ratio}");
    let dgx = gpu("dgx-h100", false);
    let r = simulate(&t, dgx.as_ref(), &CostOptions::default()).unwrap();
    let link = r
        .steps
        .iter()
        .filter(|s| s.cost.bound.label() == "interconnect");
    assert!(link.count() > 0);
    // One GPU cannot run a TP=8 trace.
    let one = gpu("h100-sxm", false);
    let err = simulate(&t, one.as_ref(), &CostOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("tensor parallelism over 8 GPUs"), "{err}");
}

#[test]
fn a_model_that_does_not_fit_one_gpu_says_by_how_much() {
    let hw = gpu("a100-sxm-80gb", false);
    let s = serve_on(&llama("llama-2-70b"), 1, 2048, 128, None, hw.as_ref()).unwrap();
    assert!(!s.fits);
    assert!(s.weight_bytes_per_gpu > 137_000_000_000 && s.weight_bytes_per_gpu < 139_000_000_000);
    let msg = vchip_sim::serving::no_fit_message("llama-2-70b", "a100-sxm-80gb", &s);
    assert!(msg.contains("138.0 GB") && msg.contains("--tp"), "{msg}");
}

/// A sliding window caps the cache a step reads: the mean step splits at the window's knee.
#[test]
fn a_sliding_window_bends_the_decode_cost_and_serving_follows_it() {
    let mut cfg = llama("llama-2-7b");
    cfg.sliding_window = Some(256);
    cfg.max_positions = 8192;
    let hw = gpu("h100-sxm", true);
    let (prompt, gen) = (100, 401);
    assert_tpot_is_the_mean_step(&cfg, 8, prompt, gen, hw.as_ref(), 5e-3);
}

#[test]
fn prompts_beyond_the_model_positions_and_layer_specific_precisions() {
    let hw = gpu("a100-sxm-80gb", true);
    let cfg = llama("llama-2-7b");
    let err = serve_on(&cfg, 1, 4000, 200, None, hw.as_ref())
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_position_embeddings"), "{err}");
    // An override naming one layer: the whole network is costed, matching a full simulation.
    let policy = PrecisionPolicy::parse("bf16;*layers.1.*=f32").unwrap();
    let s = serve_on(&cfg, 1, 77, 2, Some(&policy), hw.as_ref()).unwrap();
    let mut t = cfg.trace("l", &prefill(77)).unwrap();
    policy.apply(&mut t);
    let whole = simulate(&t, hw.as_ref(), &CostOptions::default())
        .unwrap()
        .totals
        .latency_s;
    assert!(
        (s.ttft_s - whole).abs() <= 1e-9 * whole,
        "{} vs {whole}",
        s.ttft_s
    );
}

#[test]
fn utilisation_never_exceeds_the_peak() {
    for hw in ["a100-sxm-80gb", "h100-sxm", "rtx-4090", "mi300x"] {
        let m = gpu(hw, false);
        for prec in ["bf16", "int8"] {
            let mut t = llama("llama-2-7b")
                .trace(
                    "l",
                    &LlmShape {
                        batch: 8,
                        prompt: 2048,
                        context: 0,
                        phase: LlmPhase::Prefill,
                    },
                )
                .unwrap();
            PrecisionPolicy::parse(prec).unwrap().apply(&mut t);
            let r = simulate(&t, m.as_ref(), &CostOptions::default()).unwrap();
            for s in &r.steps {
                assert!(
                    s.cost.utilization <= 1.0,
                    "{hw} {prec} {}: {}",
                    s.ops[0],
                    s.cost.utilization
                );
            }
            assert!(r.totals.utilization <= 1.0);
        }
    }
}

/// Rows (tokens) of every MoE dispatch op whose name contains `name`, in trace order.
fn dispatch_rows(t: &vchip_workloads::Trace, name: &str) -> Vec<u64> {
    t.ops
        .iter()
        .filter(|o| o.name.contains(name))
        .map(|o| t.tensor(o.outputs[0]).shape[0])
        .collect()
}

/// MoE routing: a skewed load keeps the work (MACs) and moves it between experts; every token
/// routed to the same two experts (top-2: a token's experts are distinct) reads two experts'
/// weights instead of all eight.
#[test]
fn expert_load_moves_work_between_experts() {
    let cfg = llama("mixtral-8x7b");
    let shape = LlmShape {
        batch: 16,
        prompt: 64,
        context: 64,
        phase: LlmPhase::Decode,
    };
    let trace = |c: &HfConfig| c.trace("m", &shape).unwrap();
    let balanced = trace(&cfg);
    let zipf = trace(&cfg.clone().with_expert_load("zipf:1.2").unwrap());
    let one = trace(&cfg.clone().with_expert_load("1,1,0,0,0,0,0,0").unwrap());
    // 16 tokens x top-2 = 32 assignments per layer (32 layers), whatever the spread.
    let dispatched = |t: &vchip_workloads::Trace| -> u64 {
        dispatch_rows(t, "dispatch").iter().sum::<u64>() / 32
    };
    assert_eq!(dispatched(&balanced), 32);
    assert_eq!(dispatched(&zipf), 32);
    assert_eq!(dispatched(&one), 32);
    assert_eq!(balanced.totals().macs, one.totals().macs);
    let experts_run = |t: &vchip_workloads::Trace| {
        t.ops.iter().filter(|o| o.name.contains("dispatch")).count() / 32
    };
    assert_eq!(experts_run(&one), 2);
    // All of it on one expert is more than its tokens: each token's second choice goes elsewhere.
    let all_on_one = trace(&cfg.clone().with_expert_load("1,0,0,0,0,0,0,0").unwrap());
    assert_eq!(dispatched(&all_on_one), 32);
    let first = dispatch_rows(&all_on_one, "dispatch.0");
    assert!(first.iter().all(|&r| r == 16), "{first:?}");
    let hw = gpu("h100-sxm", true);
    let lat = |t: &vchip_workloads::Trace| {
        simulate(t, hw.as_ref(), &CostOptions::default())
            .unwrap()
            .totals
            .latency_s
    };
    assert!(
        lat(&one) < 0.5 * lat(&balanced),
        "{} vs {}",
        lat(&one),
        lat(&balanced)
    );
    assert!(cfg.clone().with_expert_load("1,2").is_err());
    assert!(llama("llama-2-7b").with_expert_load("zipf:1").is_err());
}

/// Expert parallelism (Mixtral on eight GPUs, one whole expert each, attention still split
/// eight ways) against splitting every expert eight ways: the same weights per GPU; a balanced
/// prefill does the same MACs in taller GEMMs and runs faster; a skewed one is paced by the
/// busiest GPU (expert 0 under zipf); a batch-1 decode step reads a whole expert on the busiest
/// GPU where the split reads two eighths, and is slower.
#[test]
fn expert_parallelism_places_experts_whole_and_the_busiest_gpu_sets_the_pace() {
    let cfg = llama("mixtral-8x7b");
    let split = cfg.tensor_parallel(8).unwrap();
    let whole = cfg
        .clone()
        .with_expert_parallel(8)
        .unwrap()
        .tensor_parallel(8)
        .unwrap();
    let shape = |batch, phase| LlmShape {
        batch,
        prompt: 2048,
        context: 2048,
        phase,
    };
    assert_eq!(whole.expert_group(&shape(1, LlmPhase::Prefill)), 0..1);
    let (ts, tw) = (
        split.trace("s", &shape(1, LlmPhase::Prefill)).unwrap(),
        whole.trace("w", &shape(1, LlmPhase::Prefill)).unwrap(),
    );
    assert_eq!(ts.totals().weight_bytes, tw.totals().weight_bytes);
    assert_eq!(ts.totals().macs, tw.totals().macs);
    // One expert per GPU and layer, fed its share of the 2 x 2048 routed tokens, at full width.
    let dispatch: Vec<_> = tw
        .ops
        .iter()
        .filter(|o| o.name.contains("dispatch"))
        .collect();
    assert_eq!(dispatch.len(), 32);
    assert_eq!(
        tw.tensor(dispatch[0].outputs[0]).shape.as_slice(),
        &[512, 4096]
    );
    let hw = gpu("dgx-h100", false);
    let lat = |t: &vchip_workloads::Trace| {
        simulate(t, hw.as_ref(), &CostOptions::default())
            .unwrap()
            .totals
            .latency_s
    };
    assert!(lat(&tw) < lat(&ts), "{} vs {}", lat(&tw), lat(&ts));
    // Skewed routing: the split is indifferent, the busiest whole-expert GPU is not.
    let skew = |c: &HfConfig| {
        c.clone()
            .with_expert_load("zipf:1.2")
            .unwrap()
            .trace("z", &shape(1, LlmPhase::Prefill))
            .unwrap()
    };
    let (zs, zw) = (skew(&split), skew(&whole));
    assert!(zw.totals().macs as f64 > 1.5 * ts.totals().macs as f64);
    assert!(lat(&zw) > 1.5 * lat(&tw), "{} vs {}", lat(&zw), lat(&tw));
    assert!((lat(&zs) / lat(&ts) - 1.0).abs() < 0.05);
    // Batch-1 decode: two experts touched, on two GPUs; each reads a whole expert.
    let (ds, dw) = (
        split.trace("s", &shape(1, LlmPhase::Decode)).unwrap(),
        whole.trace("w", &shape(1, LlmPhase::Decode)).unwrap(),
    );
    assert!(lat(&dw) > lat(&ds), "{} vs {}", lat(&dw), lat(&ds));
    // The busiest GPU is the one whose experts cost most for the traced tokens: in a batch-2
    // decode on four GPUs with these shares, GPU 0 runs expert 0 (both tokens' first choice) and
    // GPU 1 experts 2 and 3 (one token each): GPU 1 reads two experts' weights and sets the pace.
    let four = cfg
        .clone()
        .with_expert_parallel(4)
        .unwrap()
        .tensor_parallel(4)
        .unwrap();
    let shares = four.with_expert_load("0.55,0,0.225,0.225,0,0,0,0").unwrap();
    let decode2 = LlmShape {
        batch: 2,
        prompt: 128,
        context: 128,
        phase: LlmPhase::Decode,
    };
    assert_eq!(shares.expert_group(&decode2), 2..4);
    // A token's experts are distinct: under a steep skew the hottest expert still sees at most
    // every token once (2048 of the 4096 assignments), the rest going to the others.
    let steep = whole.clone().with_expert_load("zipf:3").unwrap();
    let t = steep.trace("z", &shape(1, LlmPhase::Prefill)).unwrap();
    let rows = dispatch_rows(&t, "dispatch");
    assert!(rows.iter().all(|&r| r == 2048), "{rows:?}");
    // Clear errors: experts that do not spread evenly, no experts, no GPUs to spread over, or
    // expert parallelism chosen after the tensor-parallel split.
    assert!(split.clone().with_expert_parallel(8).is_err());
    let e = cfg.clone().with_expert_parallel(3).unwrap_err().to_string();
    assert!(e.contains("do not spread evenly"), "{e}");
    assert!(llama("llama-2-7b").with_expert_parallel(8).is_err());
    assert!(cfg.clone().with_expert_parallel(1).is_err());
}

/// The project's own H200 recording (docs/runs/2026-11-27-h200/reference.json: PyTorch 2.11 /
/// cuBLAS / cuDNN, f32 with TF32 off, CUDA events): the GPU model on the vendor kernels long
/// enough to be the kernel and not PyTorch's ~20-30 us dispatch floor (those under 50 us are
/// left out).
#[test]
fn h200_vendor_kernels_from_the_recording() {
    use vchip_workloads::builder::{ConvSpec, TraceBuilder};
    use vchip_workloads::{DType, EltOp};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/runs/2026-11-27-h200/reference.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hw = gpu("h200", false);
    let mut errors = Vec::new();
    for k in v["kernels"].as_array().unwrap() {
        let measured = k["vendor_s"].as_f64().unwrap();
        if measured < 50e-6 {
            continue;
        }
        let d = &k["kernel"];
        let u = |key: &str| d[key].as_u64().unwrap();
        let mut b = TraceBuilder::new("k");
        b.act_dtype = DType::F32;
        b.weight_dtype = DType::F32;
        match d["kind"].as_str().unwrap() {
            "gemm" => {
                let a = b.input("a", vec![u("m"), u("k")], DType::F32).unwrap();
                let w = b.input("b", vec![u("k"), u("n")], DType::F32).unwrap();
                b.matmul("mm", a, w).unwrap();
            }
            "conv" => {
                let x = b
                    .input("x", vec![1, u("c"), u("h"), u("h")], DType::F32)
                    .unwrap();
                b.conv2d(
                    "conv",
                    x,
                    ConvSpec::square(u("oc"), u("k"), u("stride"), u("k") / 2),
                )
                .unwrap();
            }
            "add" => {
                let x = b.input("x", vec![u("n")], DType::F32).unwrap();
                let y = b.input("y", vec![u("n")], DType::F32).unwrap();
                b.eltwise("add", EltOp::Add, &[x, y]).unwrap();
            }
            "relu" => {
                let x = b.input("x", vec![u("n")], DType::F32).unwrap();
                b.eltwise("relu", EltOp::Relu, &[x]).unwrap();
            }
            other => panic!("unknown kernel kind {other}"),
        }
        let t = b.finish();
        let predicted = simulate(&t, hw.as_ref(), &CostOptions::default())
            .unwrap()
            .totals
            .latency_s;
        let e = error(predicted, measured);
        eprintln!(
            "{}: {:.1} us vs {:.1} us ({:+.1} %)",
            k["name"].as_str().unwrap(),
            predicted * 1e6,
            measured * 1e6,
            e * 100.0
        );
        errors.push((k["name"].as_str().unwrap().to_string(), e));
    }
    assert_eq!(errors.len(), 5);
    // The large GEMMs and the bandwidth-bound add hold to 15 %; cuBLAS's 1024^3 SGEMM (a grid of
    // 64 tiles on 132 SMs, no split-K) and cuDNN's f32 3x3 convolution run at less than half the
    // rate vchip's best tile gives them (docs/gpu.md lists both).
    for (name, e) in &errors {
        if [
            "gemm 2048^3",
            "llama-7b mlp up 512x11008x4096",
            "residual add 16M",
        ]
        .contains(&name.as_str())
        {
            assert!(e.abs() <= 0.15, "{name}: {e}");
        } else {
            assert!(*e < 0.0, "{name}: {e}");
        }
    }
}

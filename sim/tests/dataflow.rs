//! The dataflow kind against the SN40L paper (Prabhakar et al., arXiv 2405.07518 / MICRO 2024;
//! docs/dataflow.md): fusion's speedups over the unfused baseline, model switching and the
//! Composition-of-Experts speedup over a DGX H100, what depends on DDR bandwidth, and the errors.

use vchip_hwmodels::{
    build_model, load_hardware, CostOptions, Fusion, HardwareModel, HardwareSpec, StepKind,
};
use vchip_sim::coe::{compare, devices, Coe, Requests, Scenario};
use vchip_sim::simulate;
use vchip_workloads::hf::{HfConfig, LlmPhase, LlmShape};
use vchip_workloads::precision::PrecisionPolicy;

fn llama(name: &str) -> HfConfig {
    vchip_workloads::llm_config(name).unwrap().unwrap().1
}

fn bf16() -> PrecisionPolicy {
    PrecisionPolicy::parse("bf16").unwrap()
}

/// Latency of one phase of `name` split over the 8 sockets of an SN40L node.
fn sn40l_latency(name: &str, phase: LlmPhase, tokens: u64, fusion: Fusion) -> f64 {
    let cfg = llama(name).tensor_parallel(8).unwrap();
    let shape = match phase {
        LlmPhase::Prefill => LlmShape {
            batch: 1,
            prompt: tokens,
            context: 0,
            phase,
        },
        _ => LlmShape {
            batch: 1,
            prompt: 1,
            context: tokens,
            phase,
        },
    };
    let mut t = cfg.trace(name, &shape).unwrap();
    bf16().apply(&mut t);
    let hw = build_model(load_hardware("sn40l-8").unwrap()).unwrap();
    let opts = CostOptions {
        fusion,
        ..CostOptions::default()
    };
    simulate(&t, hw.as_ref(), &opts).unwrap().totals.latency_s
}

/// §VI-A: fusion speeds decode up 1x-13x (2x-13x in the abstract) and prefill 1.5x-3x over the
/// unfused baseline on eight sockets; the paper's benchmarks run Llama 2 at 4K tokens.
#[test]
fn fusion_speeds_llama_up_within_the_papers_ranges() {
    for name in ["llama-2-7b", "llama-2-70b"] {
        let decode = |f| sn40l_latency(name, LlmPhase::Decode, 4095, f);
        let d = decode(Fusion::Off) / decode(Fusion::On);
        assert!((2.0..=13.0).contains(&d), "{name} decode: {d:.2}x");
        let prefill = |f| sn40l_latency(name, LlmPhase::Prefill, 4096, f);
        let p = prefill(Fusion::Off) / prefill(Fusion::On);
        assert!((1.5..=3.0).contains(&p), "{name} prefill: {p:.2}x");
    }
}

/// A fused decode streams the weights: its time is set by HBM at the paper's ~85 % of peak
/// (§VI-C), within the collectives' latency.
#[test]
fn fused_decode_is_bound_by_hbm_near_its_sustained_bandwidth() {
    let t = sn40l_latency("llama-2-7b", LlmPhase::Decode, 511, Fusion::On);
    // 6.74 G parameters in bf16 over 8 sockets at 1.8 TB/s x 0.85.
    let stream = 6.74e9 * 2.0 / 8.0 / (1.8e12 * 0.85);
    assert!(
        t >= stream && t < 1.25 * stream,
        "{:.3} ms against {:.3} ms of streaming",
        t * 1e3,
        stream * 1e3
    );
}

#[test]
fn sections_pack_stages_into_the_chips_units() {
    let cfg = llama("llama-2-7b").tensor_parallel(8).unwrap();
    let shape = LlmShape {
        batch: 1,
        prompt: 1,
        context: 511,
        phase: LlmPhase::Decode,
    };
    let t = cfg.trace("llama", &shape).unwrap();
    let hw = build_model(load_hardware("sn40l-8").unwrap()).unwrap();
    let r = simulate(&t, hw.as_ref(), &CostOptions::default()).unwrap();
    let sections: Vec<_> = r
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Section)
        .collect();
    // 611 ops do not fit 1040 PMUs of stage buffers in one section, and fit in two.
    assert_eq!(sections.len(), 2, "{}", r.steps.len());
    assert_eq!(sections.iter().map(|s| s.ops.len()).sum::<usize>(), 611);
    for s in &sections {
        assert!(
            s.cost.stage.is_some(),
            "every section names its slowest stage"
        );
        assert!(s.cost.traffic.iter().any(|t| &*t.level == "hbm"));
    }
    let sram = &r.memory[0];
    assert_eq!(sram.level, "sram");
    assert!(sram.fits && sram.arena_bytes.unwrap() <= sram.capacity_bytes.unwrap());
}

/// A preset with its DDR tier's bandwidth set (GB/s), where given.
fn node(name: &str, ddr_gb_s: Option<f64>) -> (HardwareSpec, Box<dyn HardwareModel>, u64) {
    let mut spec = load_hardware(name).unwrap();
    if let Some(v) = ddr_gb_s {
        let tiers = &mut spec.dataflow.as_mut().unwrap().tiers;
        let ddr = tiers.iter_mut().find(|t| t.name == "ddr").unwrap();
        ddr.bandwidth_gb_s = vchip_hwmodels::spec::Positive(v);
    }
    let model = build_model(spec.clone()).unwrap();
    let d = devices(&spec);
    (spec, model, d)
}

/// The scenario of docs/dataflow.md: 150 Llama-2-7B experts, Zipf(1) popularity, 512-token
/// prompts, 20 generated tokens (the paper's chatbot case), one request at a time.
fn coe(experts: u64, model: &str, ddr_gb_s: Option<f64>, baseline: &str) -> Result<Coe, String> {
    coe_routed(experts, model, ddr_gb_s, baseline, None)
}

fn coe_routed(
    experts: u64,
    model: &str,
    ddr_gb_s: Option<f64>,
    baseline: &str,
    router: Option<&str>,
) -> Result<Coe, String> {
    let (spec, hw, d) = node("sn40l-8", ddr_gb_s);
    let (bspec, bhw, bd) = node(baseline, None);
    let scenario = Scenario {
        name: model.into(),
        cfg: llama(model),
        experts,
        requests: Requests::Zipf {
            s: 1.0,
            count: 1000,
        },
        request_source: "zipf:1".into(),
        prompt: 512,
        gen: 20,
        precision: Some(bf16()),
        router: router.map(|r| (r.to_string(), llama(r))),
    };
    compare(
        &scenario,
        (&spec, hw.as_ref(), d),
        (&bspec, bhw.as_ref(), bd),
    )
    .map_err(|e| e.to_string())
}

/// The paper's total latency includes the router (§VI-C); with one the speedup stays in range,
/// the router's prefill adds to every request and its weights take an expert's place in HBM.
#[test]
fn a_router_adds_its_prefill_to_every_request_and_holds_hbm() {
    let plain = coe(150, "llama-2-7b", None, "dgx-h100").unwrap();
    let routed = coe_routed(150, "llama-2-7b", None, "dgx-h100", Some("llama-2-7b")).unwrap();
    for (a, b) in [
        (&plain.run, &routed.run),
        (&plain.baseline, &routed.baseline),
    ] {
        assert_eq!(a.router_s, 0.0);
        // The router prefills the same prompt as the expert does.
        assert!((b.router_s - b.serving.ttft_s).abs() < 1e-12);
        let per_request = (b.exec_s_total - a.exec_s_total) / b.requests as f64;
        assert!((per_request - b.router_s).abs() < 1e-9);
        assert_eq!(b.experts_pinned, a.experts_pinned - 1, "{}", b.hardware);
    }
    assert!(
        (3.7 * 0.7..=3.7 * 1.3).contains(&routed.speedup),
        "{:.2}x",
        routed.speedup
    );
}

/// Table V: model switching 15x faster than a DGX H100 (31x than a DGX A100), the CoE overall
/// 3.7x faster than a DGX H100 (batch 8, 20 tokens; 2.8x at batch 1).
#[test]
fn composition_of_experts_against_dgx_h100_matches_the_paper() {
    let c = coe(150, "llama-2-7b", None, "dgx-h100").unwrap();
    assert!(
        (15.0..=31.0).contains(&c.switch_speedup),
        "switching {:.1}x",
        c.switch_speedup
    );
    assert!(
        (3.7 * 0.7..=3.7 * 1.3).contains(&c.speedup),
        "overall {:.2}x",
        c.speedup
    );
    // Consistency of the figures reported.
    let r = &c.run;
    assert!((r.total_s - r.exec_s_total - r.switch_s_total).abs() < 1e-9);
    assert!((r.switch_share - r.switch_s_total / r.total_s).abs() < 1e-12);
    assert!((r.tokens_per_s - 20_000.0 / r.total_s).abs() < 1e-6);
    assert!(r.experts_pinned > 0 && r.experts_pinned < 150);
    // The SN40L node switches by DDR bandwidth: 13.5 GB over 8 x 200 GB/s x 0.7.
    assert!((r.switch_s - r.expert_bytes as f64 / (8.0 * 200e9 * 0.7)).abs() < 1e-9);
}

/// Halving DDR bandwidth changes only what depends on switching.
#[test]
fn halving_ddr_bandwidth_changes_only_switching() {
    let full = coe(150, "llama-2-7b", None, "dgx-h100").unwrap();
    let half = coe(150, "llama-2-7b", Some(100.0), "dgx-h100").unwrap();
    let (a, b) = (&full.run, &half.run);
    assert_eq!(a.serving.ttft_s, b.serving.ttft_s);
    assert_eq!(a.serving.tpot_s, b.serving.tpot_s);
    assert_eq!(a.exec_s_total, b.exec_s_total);
    assert_eq!(a.switches, b.switches);
    assert!((b.switch_s / a.switch_s - 2.0).abs() < 1e-12);
    assert!((b.switch_s_total / a.switch_s_total - 2.0).abs() < 1e-12);
    assert!(b.switch_share > a.switch_share && b.tokens_per_s < a.tokens_per_s);
    assert_eq!(
        serde_json::to_string(&full.baseline).unwrap(),
        serde_json::to_string(&half.baseline).unwrap()
    );
}

#[test]
fn a_router_that_leaves_no_room_is_named_in_the_error() {
    let (spec, hw, d) = node("sn40l", None);
    let (bspec, bhw, bd) = node("dgx-h100", None);
    let scenario = Scenario {
        name: "llama-2-7b".into(),
        cfg: llama("llama-2-7b"),
        experts: 10,
        requests: Requests::Zipf { s: 1.0, count: 10 },
        request_source: "zipf:1".into(),
        prompt: 512,
        gen: 20,
        precision: Some(bf16()),
        router: Some(("llama-2-70b".into(), llama("llama-2-70b"))),
    };
    let e = compare(
        &scenario,
        (&spec, hw.as_ref(), d),
        (&bspec, bhw.as_ref(), bd),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("one expert of `llama-2-7b`") && e.contains("the `llama-2-70b` router's"),
        "{e}"
    );
    assert!(e.contains("a smaller --router"), "{e}");
}

#[test]
fn an_expert_set_larger_than_every_tier_is_refused_with_the_numbers() {
    // 600 x 140 GB of Llama-2-70B: 10.5 TB per socket against 64 GB of HBM and 1.5 TiB of DDR.
    let e = coe(600, "llama-2-70b", None, "dgx-h100").unwrap_err();
    assert!(
        e.contains("600 experts of `llama-2-70b` do not fit `sn40l-8`"),
        "{e}"
    );
    assert!(
        e.contains("17.25 GB per device") && e.contains("ddr 1649.3 GB"),
        "{e}"
    );
    // The paper's DGX A100 runs out of memory at 150 experts (§VI-C); so does ours (1 TB host).
    let e = coe(150, "llama-2-7b", None, "dgx-a100").unwrap_err();
    assert!(e.contains("do not fit `dgx-a100`"), "{e}");
}

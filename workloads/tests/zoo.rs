//! Zoo models against published MACs and parameter counts (within 1%).
use vchip_workloads::{zoo, TraceOptions};

fn totals(name: &str) -> vchip_workloads::Totals {
    zoo::load_by_name(name, &TraceOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .totals()
}

fn within(actual: u64, expected: f64, tol: f64, what: &str) {
    let rel = (actual as f64 - expected).abs() / expected;
    assert!(
        rel <= tol,
        "{what}: got {actual}, expected {expected} (off by {:.3}%)",
        rel * 100.0
    );
}

// torchvision weight metadata (`num_params`, `_ops` in GMACs) for the CNNs and ViT.
#[test]
fn torchvision_models_match_published_params_exactly_and_macs_within_1pct() {
    let table = [
        ("resnet18", 11_689_512u64, 1.814e9),
        ("resnet50", 25_557_032, 4.089e9),
        ("mobilenet_v2", 3_504_872, 0.301e9),
        ("mobilenet_v3_large", 5_483_032, 0.217e9),
        ("efficientnet_b0", 5_288_548, 0.386e9),
        ("vit_b_16", 86_567_656, 17.564e9),
    ];
    for (name, params, macs) in table {
        let t = totals(name);
        assert_eq!(t.params, params, "{name} params");
        within(t.macs, macs, 0.01, &format!("{name} MACs"));
    }
}

#[test]
fn bert_base_params() {
    // HF bert-base-uncased BertModel (with pooler): 109,482,240 parameters.
    assert_eq!(totals("bert-base").params, 109_482_240);
}

#[test]
fn llms_match_model_cards() {
    within(
        totals("llama-2-7b").params,
        6.738e9,
        0.01,
        "llama-2-7b params",
    );
    within(
        totals("llama-2-70b").params,
        68.98e9,
        0.01,
        "llama-2-70b params",
    );
    let m = totals("mixtral-8x7b");
    within(m.params, 46.7e9, 0.01, "mixtral total params");
    // Active parameters per token: decode touches 2 of 8 experts in each layer.
    let decode = zoo::load_by_name(
        "mixtral-8x7b",
        &TraceOptions {
            llm_phase: vchip_workloads::hf::LlmPhase::Decode,
            ..Default::default()
        },
    )
    .unwrap()
    .totals();
    within(decode.active_params, 12.9e9, 0.01, "mixtral active params");
}

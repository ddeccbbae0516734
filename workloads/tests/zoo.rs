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
    // The experts a decode step does not route to are still stored at the policy's precision:
    // 46.7 G int4 parameters are 23.35 GB, whichever 2 of 8 run.
    let mut t = zoo::load_by_name(
        "mixtral-8x7b",
        &TraceOptions {
            llm_phase: vchip_workloads::hf::LlmPhase::Decode,
            ..Default::default()
        },
    )
    .unwrap();
    vchip_workloads::precision::PrecisionPolicy::parse("w4a16")
        .unwrap()
        .apply(&mut t);
    let tot = t.totals();
    within(
        tot.weight_bytes,
        tot.params as f64 / 2.0,
        0.001,
        "mixtral w4a16 weight bytes",
    );
}

fn hf(json: &str, shape: vchip_workloads::hf::LlmShape) -> vchip_workloads::Trace {
    vchip_workloads::hf::HfConfig::from_json("config.json", json)
        .unwrap()
        .trace("t", &shape)
        .unwrap()
}

const PREFILL_128: vchip_workloads::hf::LlmShape = vchip_workloads::hf::LlmShape {
    batch: 1,
    prompt: 128,
    context: 128,
    phase: vchip_workloads::hf::LlmPhase::Prefill,
};

#[test]
fn gpt2_params_exact_with_tied_embeddings() {
    // HF `gpt2`: 124,439,808 parameters (lm_head tied to wte).
    let t = hf(
        r#"{"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 50257}"#,
        PREFILL_128,
    );
    assert_eq!(t.totals().params, 124_439_808);
}

/// tiiuae/falcon-7b's config.json (multi-query, one LayerNorm shared by the parallel attention
/// and MLP, no biases, tied head).
const FALCON_7B: &str = r#"{"model_type": "falcon", "hidden_size": 4544, "n_head": 71, "n_layer": 32, "multi_query": true, "parallel_attn": true, "bias": false, "vocab_size": 65024, "alibi": false, "new_decoder_architecture": false}"#;

/// EleutherAI/gpt-j-6b's config.json.
const GPT_J_6B: &str = r#"{"model_type": "gptj", "n_embd": 4096, "n_head": 16, "n_layer": 28, "n_positions": 2048, "rotary_dim": 64, "n_inner": null, "vocab_size": 50400, "tie_word_embeddings": false}"#;

#[test]
fn falcon_7b_params_exact() {
    // tiiuae/falcon-7b: 6,921,720,704 parameters (model card).
    assert_eq!(hf(FALCON_7B, PREFILL_128).totals().params, 6_921_720_704);
}

#[test]
fn gpt_j_params_from_its_structure() {
    // Per layer: LayerNorm 2·4096, Q/K/V/O 4·4096² (no biases), fc_in and fc_out 2·4096·16384
    // plus their biases 16384 + 4096; embeddings and the biased head 2·50400·4096 + 50400; final
    // LayerNorm 2·4096: 6,050,882,784. EleutherAI's card gives 6,053,381,344 (0.04 % more).
    let p = hf(GPT_J_6B, PREFILL_128).totals().params;
    assert_eq!(p, 6_050_882_784);
    assert!((p as f64 / 6_053_381_344.0 - 1.0).abs() < 5e-4);
}

#[test]
fn parallel_blocks_share_one_norm_and_one_all_reduce() {
    let per_layer = |json: &str, tp: u64, needle: &str| {
        let cfg = vchip_workloads::hf::HfConfig::from_json("config.json", json)
            .unwrap()
            .tensor_parallel(tp)
            .unwrap();
        let t = cfg.trace("t", &PREFILL_128).unwrap();
        t.ops
            .iter()
            .filter(|o| o.name.starts_with("prefill.layers.0.") && o.name.contains(needle))
            .count()
    };
    // GPT-J: one LayerNorm; the attention and MLP partial sums are reduced together.
    assert_eq!(per_layer(GPT_J_6B, 1, "layernorm"), 1);
    assert_eq!(per_layer(GPT_J_6B, 2, "all_reduce"), 1);
    // Falcon-7B (one KV head, replicated under TP): one norm too; the new decoder architecture
    // (Falcon-40B/180B) gives the MLP its own.
    assert_eq!(per_layer(FALCON_7B, 1, "layernorm"), 1);
    let falcon_new = r#"{"model_type": "falcon", "hidden_size": 1024, "num_attention_heads": 16, "num_kv_heads": 4, "num_hidden_layers": 2, "new_decoder_architecture": true, "vocab_size": 1000}"#;
    assert_eq!(per_layer(falcon_new, 1, "layernorm"), 2);
    assert_eq!(per_layer(falcon_new, 4, "all_reduce"), 1);
    // Llama stays sequential: two norms, two all-reduces.
    let llama = r#"{"model_type": "llama", "hidden_size": 1024, "intermediate_size": 2048, "num_attention_heads": 16, "num_hidden_layers": 2, "vocab_size": 1000}"#;
    assert_eq!(per_layer(llama, 1, "layernorm"), 2);
    assert_eq!(per_layer(llama, 2, "all_reduce"), 2);
}

#[test]
fn falcon_configs_of_every_era() {
    let parse = |json: &str| vchip_workloads::hf::HfConfig::from_json("config.json", json);
    // RefinedWeb-era Falcon-40B: `n_head_kv` without the flag means the new architecture (HF's
    // converter reads it so): 8 KV heads and a norm of the MLP's own.
    let old = parse(r#"{"model_type": "RefinedWeb", "n_embed": 8192, "n_head": 128, "n_head_kv": 8, "n_layer": 60, "vocab_size": 65024, "parallel_attn": true, "bias": false, "alibi": false}"#).unwrap();
    assert_eq!((old.kv_heads, old.mlp_norm), (8, true));
    // Falcon2-11B: the new architecture with one norm for both branches.
    let one_ln = parse(r#"{"model_type": "falcon", "hidden_size": 4096, "num_attention_heads": 32, "num_kv_heads": 8, "num_hidden_layers": 2, "new_decoder_architecture": true, "num_ln_in_parallel_attn": 1, "vocab_size": 1000}"#).unwrap();
    assert!(!one_ln.mlp_norm);
    // Falcon's context defaults to 2,048 positions (HF FalconConfig).
    assert_eq!(one_ln.max_positions, 2048);
    // A flag that is not a boolean is refused by name.
    let err = parse(r#"{"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 10, "new_decoder_architecture": "true"}"#).unwrap_err().to_string();
    assert!(
        err.contains("new_decoder_architecture") && err.contains("true or false"),
        "{err}"
    );
    // KV heads that do not divide the heads are refused naming Falcon's own key.
    let err = parse(r#"{"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4, "num_kv_heads": 3, "num_hidden_layers": 1, "vocab_size": 10, "new_decoder_architecture": true}"#).unwrap_err().to_string();
    assert!(err.contains("num_kv_heads"), "{err}");
}

#[test]
fn mistral_and_qwen2_params_exact() {
    // mistralai/Mistral-7B-v0.1: 7,241,732,096; Qwen/Qwen2-7B: 7,615,616,512 (qkv biases).
    let mistral = hf(
        r#"{"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000, "sliding_window": 4096, "tie_word_embeddings": false}"#,
        PREFILL_128,
    );
    assert_eq!(mistral.totals().params, 7_241_732_096);
    let qwen = hf(
        r#"{"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": false}"#,
        PREFILL_128,
    );
    assert_eq!(qwen.totals().params, 7_615_616_512);
}

#[test]
fn sliding_window_caps_the_attended_context() {
    let cfg = r#"{"model_type": "mistral", "hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 4, "num_hidden_layers": 1, "num_key_value_heads": 2, "vocab_size": 1000, "sliding_window": 4096}"#;
    let decode = |context| {
        let t = hf(
            cfg,
            vchip_workloads::hf::LlmShape {
                batch: 1,
                prompt: 1,
                context,
                phase: vchip_workloads::hf::LlmPhase::Decode,
            },
        );
        t.ops
            .iter()
            .find_map(|o| match o.kind {
                vchip_workloads::OpKind::Attention { kv_len, .. } => Some(kv_len),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(decode(1000), 1001);
    assert_eq!(decode(10_000), 4096);
}

#[test]
fn decode_reads_the_kv_cache_and_gqa_shrinks_it() {
    // Llama-2-70B decode step at 4096 cached tokens: K and V caches are
    // 2 (K,V) x 4096 x 8 kv-heads x 128 x 2 bytes = 16 MiB per layer.
    let t = zoo::load_by_name(
        "llama-2-70b",
        &TraceOptions {
            seq: Some(1),
            context: Some(4095),
            llm_phase: vchip_workloads::hf::LlmPhase::Decode,
            ..Default::default()
        },
    )
    .unwrap();
    let kv: u64 = t
        .tensors
        .iter()
        .filter(|x| x.role == vchip_workloads::TensorRole::KvCache)
        .map(|x| x.bytes())
        .sum();
    assert_eq!(kv, 80 * 2 * 4096 * 8 * 128 * 2);
}

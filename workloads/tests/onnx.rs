//! ONNX fixtures exported by `scripts/export_onnx_fixtures.py` (both PyTorch exporters, without
//! weights) reproduce the zoo's MACs and parameters.
use std::path::Path;

use vchip_workloads::{load_model, zoo, TensorRole, TraceOptions};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/onnx")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Batch-norm channels of a zoo model: folding BN into the preceding convolution removes its
/// scale and shift (2 per channel) and adds a conv bias (1 per channel).
fn bn_channels(t: &vchip_workloads::Trace) -> u64 {
    t.ops
        .iter()
        .filter(|op| {
            matches!(
                op.kind,
                vchip_workloads::OpKind::Norm {
                    kind: vchip_workloads::NormKind::Batch,
                    ..
                }
            )
        })
        .map(|op| t.tensor(op.weights[0]).numel())
        .sum()
}

#[test]
fn both_exporter_flavours_reproduce_the_zoo() {
    let opts = TraceOptions::default();
    for model in ["resnet18", "mobilenet_v2", "efficientnet_b0", "vit_b_16"] {
        let z = zoo::load_by_name(model, &opts).unwrap();
        let zt = z.totals();
        let ts = load_model(&fixture(&format!("{model}.torchscript.onnx")), &opts)
            .unwrap()
            .totals();
        assert_eq!(ts.macs, zt.macs, "{model} torchscript MACs");
        assert_eq!(ts.params, zt.params, "{model} torchscript params");
        let dy = load_model(&fixture(&format!("{model}.dynamo.onnx")), &opts)
            .unwrap()
            .totals();
        assert_eq!(dy.macs, zt.macs, "{model} dynamo MACs");
        // The dynamo exporter's optimizer folds batch norms into the convolutions.
        assert_eq!(
            dy.params,
            zt.params - bn_channels(&z),
            "{model} dynamo params (BN folded)"
        );
    }
}

/// Swin-T's TorchScript export pads each window with pads computed by a Shape/Mod/Concat/
/// Reshape/Slice(step -1)/Transpose subgraph; vchip folds it. References from torchvision 0.29:
/// `torch.utils.flop_counter` gives 8,981,133,312 FLOPs (4,490,566,656 MACs); the model has
/// 28,288,354 parameters and 28,812 int64 buffers (relative position indices), which the
/// TorchScript exporter writes as initializers.
#[test]
fn swin_t_torchscript_export_traces_with_folded_pads() {
    let opts = TraceOptions::default();
    let ts = load_model(&fixture("swin_t.torchscript.onnx"), &opts).unwrap();
    let t = ts.totals();
    assert_eq!(t.macs, 4_490_566_656);
    assert_eq!(t.params, 28_288_354 + 28_812);
    assert_eq!(t.weight_bytes, 28_288_354 * 4 + 28_812 * 8);
    let pads: Vec<_> = ts
        .ops
        .iter()
        .filter(|op| op.name.ends_with("attn.Pad"))
        .collect();
    assert_eq!(pads.len(), 12, "one window pad per block");
    let dy = load_model(&fixture("swin_t.dynamo.onnx"), &opts).unwrap();
    assert_eq!(dy.totals().macs, 4_490_566_656);
}

#[test]
fn torchscript_weights_are_parameters_not_inputs() {
    let t = load_model(
        &fixture("resnet18.torchscript.onnx"),
        &TraceOptions::default(),
    )
    .unwrap();
    let inputs: Vec<_> = t
        .tensors
        .iter()
        .filter(|x| x.role == TensorRole::Input)
        .collect();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].shape[..], [1, 3, 224, 224]);
}

#[test]
fn truncated_protobuf_is_a_clear_error() {
    let bytes = std::fs::read(fixture("resnet18.torchscript.onnx")).unwrap();
    let dir = std::env::temp_dir().join(format!("vchip-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("truncated.onnx");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_model(path.to_str().unwrap(), &TraceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("truncated.onnx") && err.contains("not a valid ONNX model"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn llm(name: &str) -> String {
    fixture(&format!("llm/{name}"))
}

fn decode_at(context: u64) -> TraceOptions {
    TraceOptions {
        llm_phase: vchip_workloads::hf::LlmPhase::Decode,
        context: Some(context),
        ..TraceOptions::default()
    }
}

/// Shape of the tensor the file calls `name` (exporter names are kept).
fn shape_of(t: &vchip_workloads::Trace, name: &str) -> Vec<u64> {
    let x = t.tensors.iter().find(|x| x.name == name);
    x.unwrap_or_else(|| panic!("no tensor `{name}`"))
        .shape
        .to_vec()
}

/// optimum's `text-generation-with-past` export and onnxruntime-genai's int4 build of one small
/// Llama (scripts/export_llm_fixtures.py) decode one token against a 2,048-token KV cache with
/// the MACs of the same config.json (the exports add only RoPE's 32-MAC inverse-frequency
/// product), and their KV caches come out as long as the context plus the new token.
#[test]
fn llm_exports_decode_against_the_context_with_the_configs_macs() {
    let opts = decode_at(2048);
    let config = load_model(&llm("llama-tiny.config.json"), &opts).unwrap();
    let want = config.totals().macs;
    assert_eq!(want, 11_044_864);
    for file in ["llama-tiny.optimum.onnx", "llama-tiny.genai-int4.onnx"] {
        let t = load_model(&llm(file), &opts).unwrap();
        let macs = t.totals().macs;
        let off = (macs as f64 - want as f64).abs() / want as f64;
        assert!(off < 0.02, "{file}: {macs} MACs vs {want} from config.json");
        assert_eq!(shape_of(&t, "present.1.value"), [1, 4, 2049, 64], "{file}");
        assert_eq!(shape_of(&t, "logits"), [1, 1, 2048], "{file}");
    }
    // The context moves the attention MACs and nothing else: 2 layers x 8 heads x 64 x 2
    // (scores and values) per extra cached token.
    let short = load_model(&llm("llama-tiny.optimum.onnx"), &decode_at(1024)).unwrap();
    let long = load_model(&llm("llama-tiny.optimum.onnx"), &opts).unwrap();
    assert_eq!(
        long.totals().macs - short.totals().macs,
        1024 * 2 * 8 * 64 * 2
    );
}

/// onnxruntime-genai's int4 build: every linear layer is a MatMulNBits read at int4, and the
/// weight bytes are its initializers' (4,194,304 bytes of f32 embedding table, 4-bit weights with
/// f32 block scales, f32 norms: 8,484,864 bytes; the 1 MiB rotary cos/sin caches are constants).
#[test]
fn genai_int4_export_reads_narrow_weights() {
    let t = load_model(&llm("llama-tiny.genai-int4.onnx"), &decode_at(2048)).unwrap();
    let products: Vec<_> = t
        .ops
        .iter()
        .filter(|op| op.name.contains("MatMul"))
        .collect();
    // Per layer: packed QKV, output, gate, up and down projections; then the LM head.
    assert_eq!(products.len(), 2 * 5 + 1);
    for op in products {
        let w = t.tensor(op.weights[0]);
        assert_eq!(w.dtype, vchip_workloads::DType::Int4, "{}", op.name);
    }
    assert_eq!(t.totals().weight_bytes, 8_484_864);
}

/// A BERT exported by optimum and the same file after ONNX Runtime's transformer optimizer
/// (EmbedLayerNormalization, packed Attention, SkipLayerNormalization, BiasGelu) cost the same
/// MACs: per layer S(4H^2 + 2HI) + 2 S^2 H at S = 128, H = 256, I = 1,024, 2 layers.
#[test]
fn bert_export_and_its_ort_fused_form_agree() {
    let opts = TraceOptions {
        seq: Some(128),
        ..TraceOptions::default()
    };
    let (s, h, i) = (128u64, 256u64, 1024u64);
    let want = 2 * (s * (4 * h * h + 2 * h * i) + 2 * s * s * h);
    let plain = load_model(&llm("bert-tiny.optimum.onnx"), &opts).unwrap();
    let fused = load_model(&llm("bert-tiny.ort-fused.onnx"), &opts).unwrap();
    assert_eq!(plain.totals().macs, want);
    assert_eq!(fused.totals().macs, want);
    // BertModel's parameters without the pooler (the export's output is last_hidden_state).
    assert_eq!(plain.totals().params, 1_973_760);
    // The fused file's float initializers, counted with onnx: the QKV weights packed.
    assert_eq!(fused.totals().params, 1_969_664);
    assert_eq!(shape_of(&fused, "last_hidden_state"), [1, 128, 256]);
}

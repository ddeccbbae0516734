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

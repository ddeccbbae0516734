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

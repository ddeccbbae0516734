#!/usr/bin/env python3
"""Regenerate the ONNX test fixtures under tests/fixtures/onnx/.

Exports torchvision models without weights (`export_params=False`, a few KiB each) with both PyTorch
exporters: the TorchScript exporter (`dynamo=False`) and the `dynamo=True` exporter. vchip must load
both and reproduce the zoo's MACs and parameter counts.

Swin-T's TorchScript export computes its window pads with Shape/Mod/Concat/Reshape/Slice/Transpose
subgraphs on constants, which vchip folds (the fixture checks it).

usage: python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch torchvision onnx onnxscript
       /tmp/torchvenv/bin/python scripts/export_onnx_fixtures.py [MODEL ...]
Last made with torch 2.15.0 / torchvision 0.29.2 (swin_t) and earlier versions (the others).
"""
import os
import sys
import warnings

import onnx
import torch
import torchvision

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")
MODELS = sys.argv[1:] or ["resnet18", "mobilenet_v2", "efficientnet_b0", "vit_b_16", "swin_t"]

os.makedirs(OUT, exist_ok=True)
for name in MODELS:
    model = getattr(torchvision.models, name)(weights=None).eval()
    # Distinct random values: default inits (LayerNorm ones, zero biases) are identical tensors,
    # and the dynamo exporter's optimizer would merge them into one initializer.
    torch.manual_seed(0)
    with torch.no_grad():
        for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            t.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 224, 224)
    for flavour, dynamo in (("torchscript", False), ("dynamo", True)):
        path = os.path.join(OUT, f"{name}.{flavour}.onnx")
        kwargs = dict(export_params=False, dynamo=dynamo, input_names=["input"], output_names=["logits"])
        if not dynamo:
            kwargs["opset_version"] = 17
            # Keep BatchNormalization nodes (EVAL mode would fold them into the convolutions).
            kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
            kwargs["do_constant_folding"] = False
        torch.onnx.export(model, (x,), path, **kwargs)
        # Drop per-node provenance (stack traces) so fixtures stay small; the graph is unchanged.
        m = onnx.load(path, load_external_data=False)
        for node in m.graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
        del m.metadata_props[:]
        onnx.save(m, path)
        data = path + ".data"
        if os.path.exists(data) and os.path.getsize(data) == 0:
            os.remove(data)  # the dynamo exporter writes an empty external-data file
        print(f"{path}: {os.path.getsize(path)} bytes")
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")

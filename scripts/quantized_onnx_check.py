#!/usr/bin/env python3
"""A QDQ int8 ResNet-18 made with ONNX Runtime's quantizer, traced by vchip (CI runs this).

Builds ResNet-18 (He et al. 2016; torchvision's layout with BatchNorm folded into the
convolutions, as ONNX Runtime's pre-processing does before quantizing) with random weights using
`onnx.helper`, quantizes it with `onnxruntime.quantization.quantize_static` (QDQ format, int8
weights per channel, uint8 activations, two random calibration images), and checks what vchip
makes of both files:

- every convolution and the classifier run at int8 in the QDQ model, at f32 in the float one;
- the MACs are the float model's (1,814,073,344, torchvision's ResNet-18 at 224x224);
- the weight bytes are within 1 % of the quantized model's initializers (int8 weights, int32
  biases, scales and zero points);
- no QuantizeLinear/DequantizeLinear pair inside the network is left as an op.

Then the LLM side: a token embedding and two Llama-style decoder layers (d_model 512, SwiGLU MLP
1,408; the Q/K/V/O and gate/up/down projections as MatMuls, RMSNorm, residuals) quantized to int4
with ONNX Runtime's `MatMulNBitsQuantizer` (blocks of 32, asymmetric, MatMuls and the Gather):
every projection must trace as a MatMulNBits product over int4 weights with the float model's
MACs, the embedding as a GatherBlockQuantized lookup in an int4 table, and the weight bytes (packed weights,
block scales, zero points) within 1 % of the file's initializers.

usage: python scripts/quantized_onnx_check.py path/to/vchip WORKDIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

RESNET18_MACS = 1_814_073_344


def resnet18(path: str) -> None:
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    count = [0]

    def fresh(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}_{count[0]}"

    def conv(x: str, c_in: int, c_out: int, k: int, stride: int, relu: bool) -> str:
        w, b, y = fresh("w"), fresh("b"), fresh("conv")
        fan_in = c_in * k * k
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((c_out, c_in, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32), w))
        inits.append(numpy_helper.from_array((rng.standard_normal(c_out) * 0.01).astype(np.float32), b))
        nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4, name=y))
        if not relu:
            return y
        r = fresh("relu")
        nodes.append(helper.make_node("Relu", [y], [r], name=r))
        return r

    x = conv("input", 3, 64, 7, 2, True)
    p = fresh("pool")
    nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4, name=p))
    x, c = p, 64
    for stage, width in enumerate([64, 128, 256, 512]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            y = conv(conv(x, c, width, 3, stride, True), width, width, 3, 1, False)
            short = conv(x, c, width, 1, stride, False) if (stride != 1 or c != width) else x
            a, r = fresh("add"), fresh("relu")
            nodes.append(helper.make_node("Add", [y, short], [a], name=a))
            nodes.append(helper.make_node("Relu", [a], [r], name=r))
            x, c = r, width
    g, f = fresh("gap"), fresh("flat")
    nodes.append(helper.make_node("GlobalAveragePool", [x], [g], name=g))
    nodes.append(helper.make_node("Flatten", [g], [f], axis=1, name=f))
    inits.append(numpy_helper.from_array((rng.standard_normal((1000, 512)) * 0.04).astype(np.float32), "fc_w"))
    inits.append(numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b"))
    nodes.append(helper.make_node("Gemm", [f, "fc_w", "fc_b"], ["logits"], transB=1, name="fc"))
    graph = helper.make_graph(
        nodes, "resnet18",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


class Images(CalibrationDataReader):
    def __init__(self):
        rng = np.random.default_rng(1)
        self.batches = iter([{"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
                             for _ in range(2)])

    def get_next(self):
        return next(self.batches, None)


def llama_layers(path: str, layers: int = 2, d: int = 512, ffn: int = 1408, seq: int = 16, vocab: int = 2048) -> None:
    rng = np.random.default_rng(2)
    nodes, inits = [], []

    def weight(name: str, rows: int, cols: int) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(np.float32), name))
        return name

    def op(kind: str, inputs: list, name: str, **attrs) -> str:
        nodes.append(helper.make_node(kind, inputs, [name], name=name, **attrs))
        return name

    # The token embedding as a Gather, which the quantizer turns into GatherBlockQuantized.
    x = op("Gather", [weight("embed_tokens", vocab, d), "input_ids"], "hidden", axis=0)
    for i in range(layers):
        p = f"layers.{i}"
        inits.append(numpy_helper.from_array(np.ones(d, np.float32), f"{p}.attn_norm"))
        inits.append(numpy_helper.from_array(np.ones(d, np.float32), f"{p}.mlp_norm"))
        h = op("SimplifiedLayerNormalization", [x, f"{p}.attn_norm"], f"{p}.attn_norm_out", axis=-1, epsilon=1e-5)
        q = op("MatMul", [h, weight(f"{p}.q_proj", d, d)], f"{p}.q")
        k = op("MatMul", [h, weight(f"{p}.k_proj", d, d)], f"{p}.k")
        v = op("MatMul", [h, weight(f"{p}.v_proj", d, d)], f"{p}.v")
        # The attention core's stand-in (the projections are what int4 quantization changes).
        mix = op("Add", [op("Mul", [q, k], f"{p}.qk"), v], f"{p}.mix")
        o = op("MatMul", [mix, weight(f"{p}.o_proj", d, d)], f"{p}.o")
        x = op("Add", [x, o], f"{p}.residual1")
        h = op("SimplifiedLayerNormalization", [x, f"{p}.mlp_norm"], f"{p}.mlp_norm_out", axis=-1, epsilon=1e-5)
        gate = op("MatMul", [h, weight(f"{p}.gate_proj", d, ffn)], f"{p}.gate")
        up = op("MatMul", [h, weight(f"{p}.up_proj", d, ffn)], f"{p}.up")
        act = op("Mul", [op("Mul", [gate, op("Sigmoid", [gate], f"{p}.sig")], f"{p}.silu"), up], f"{p}.act")
        down = op("MatMul", [act, weight(f"{p}.down_proj", ffn, d)], f"{p}.down")
        x = op("Add", [x, down], f"{p}.residual2")
    nodes.append(helper.make_node("Identity", [x], ["out"], name="out"))
    graph = helper.make_graph(
        nodes, "llama_layers",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, seq, d])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def stored_bytes(t: TensorProto) -> int:
    """Bytes an initializer holds: 4-bit types pack two values a byte (numpy unpacks them)."""
    if t.data_type in (TensorProto.INT4, TensorProto.UINT4):
        return (int(np.prod(t.dims)) + 1) // 2
    return numpy_helper.to_array(t).nbytes


def trace(vchip: str, path: str) -> dict:
    out = subprocess.run([vchip, "trace", path, "--format", "json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    vchip, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    fp32, qdq = os.path.join(work, "resnet18.onnx"), os.path.join(work, "resnet18.qdq.onnx")
    resnet18(fp32)
    quantize_static(fp32, qdq, Images(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    model = onnx.load(qdq)
    stored = sum(stored_bytes(t) for t in model.graph.initializer)
    kinds = sorted({n.op_type for n in model.graph.node})
    print(f"quantized model: {len(model.graph.node)} nodes ({', '.join(kinds)}), initializers {stored:,} bytes")

    failures = []
    f, q = trace(vchip, fp32), trace(vchip, qdq)
    for name, t, want in (("float", f, "f32"), ("QDQ", q, "int8")):
        products = [o for o in t["ops"] if o["type"] in ("conv2d", "dwconv2d", "matmul")]
        wrong = [o["name"] for o in products if o["dtype"] != want]
        print(f"{name}: {len(t['ops'])} ops, {len(products)} products, MACs {t['totals']['macs']:,}, "
              f"weight bytes {t['totals']['weight_bytes']:,}")
        if len(products) != 21:
            failures.append(f"{name}: {len(products)} convolutions/products, ResNet-18 has 21")
        if wrong:
            failures.append(f"{name}: products not at {want}: {wrong[:5]}")
        if t["totals"]["macs"] != RESNET18_MACS:
            failures.append(f"{name}: MACs {t['totals']['macs']:,}, want {RESNET18_MACS:,}")
    qdq_ops = [o["name"] for o in q["ops"] if o["name"].split(".")[-1].startswith(("QuantizeLinear", "DequantizeLinear"))
               or "QuantizeLinear" in o["name"]]
    # The network input's QuantizeLinear is the one pair member an engine runs.
    if len(qdq_ops) > 1:
        failures.append(f"QDQ: {len(qdq_ops)} quantize/dequantize ops left, want the input's only: {qdq_ops[:5]}")
    err = abs(q["totals"]["weight_bytes"] - stored) / stored
    print(f"weight bytes vs initializers: {q['totals']['weight_bytes']:,} vs {stored:,} ({err * 100:.2f} %)")
    if err > 0.01:
        failures.append(f"QDQ: weight bytes {q['totals']['weight_bytes']:,} are {err * 100:.2f} % off the "
                        f"initializers' {stored:,} (limit 1 %)")
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    fp_llm, int4 = os.path.join(work, "llama_layers.onnx"), os.path.join(work, "llama_layers.int4.onnx")
    llama_layers(fp_llm)
    quantizer = MatMulNBitsQuantizer(onnx.load(fp_llm), bits=4, block_size=32, is_symmetric=False,
                                     op_types_to_quantize=("MatMul", "Gather"),
                                     quant_axes=(("MatMul", 0), ("Gather", 1)))
    quantizer.process()
    quantizer.model.save_model_to_file(int4)
    model = onnx.load(int4)
    stored = sum(stored_bytes(t) for t in model.graph.initializer)
    kinds = sorted({n.op_type for n in model.graph.node})
    print(f"int4 model: {len(model.graph.node)} nodes ({', '.join(kinds)}), initializers {stored:,} bytes")
    f, q = trace(vchip, fp_llm), trace(vchip, int4)
    products = [o for o in q["ops"] if o["type"] == "matmul"]
    narrow = [o for o in products if o["weights"] and o["weights"][0]["dtype"] == "int4"]
    print(f"int4: {len(products)} products, {len(narrow)} over int4 weights, MACs {q['totals']['macs']:,} "
          f"(float {f['totals']['macs']:,}), weight bytes {q['totals']['weight_bytes']:,}")
    if len(narrow) != 14 or len(products) != 14:
        failures.append(f"int4: {len(narrow)} of {len(products)} products over int4 weights, want 14 of 14")
    lookups = [o for o in q["ops"] if o["type"] == "embedding"]
    print(f"int4: embedding lookups {[(o['name'], o['weights'][0]['dtype']) for o in lookups]}")
    if "GatherBlockQuantized" not in kinds or [o["weights"][0]["dtype"] for o in lookups] != ["int4"]:
        failures.append(f"int4: the embedding must be one GatherBlockQuantized lookup in an int4 table, got {lookups}")
    if q["totals"]["macs"] != f["totals"]["macs"]:
        failures.append(f"int4: MACs {q['totals']['macs']:,} differ from the float model's {f['totals']['macs']:,}")
    err = abs(q["totals"]["weight_bytes"] - stored) / stored
    print(f"weight bytes vs initializers: {q['totals']['weight_bytes']:,} vs {stored:,} ({err * 100:.2f} %)")
    if err > 0.01:
        failures.append(f"int4: weight bytes {err * 100:.2f} % off the initializers' {stored:,} (limit 1 %)")
    for msg in failures:
        print("FAIL", msg)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Times the kernels of a `vchip validate --device gpu` report with the vendor libraries (PyTorch:
cuBLAS, cuDNN, its element-wise kernels) on the same GPU, in f32 with TF32 off so the arithmetic
matches the WGSL kernels. Writes reference.json and reference.md next to the report: how far the
portable WGSL kernels are from the vendor's, which a GPU model needs to know before it predicts them.

usage: gpu_reference.py path/to/gpu-report.json OUT_DIR
"""
import json
import statistics
import sys
from pathlib import Path

import torch

WARMUP, SAMPLES = 3, 25


def timed(fn):
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(SAMPLES):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1e-3)
    return statistics.median(times)


def case(k):
    dev = torch.device("cuda")
    kind = k["kind"]
    if kind == "gemm":
        a = torch.rand(k["m"], k["k"], device=dev) - 0.5
        b = torch.rand(k["k"], k["n"], device=dev) - 0.5
        c = torch.empty(k["m"], k["n"], device=dev)
        return lambda: torch.matmul(a, b, out=c)
    if kind == "conv":
        x = torch.rand(1, k["c"], k["h"], k["h"], device=dev) - 0.5
        w = torch.rand(k["oc"], k["c"], k["k"], k["k"], device=dev) - 0.5
        return lambda: torch.nn.functional.conv2d(x, w, stride=k["stride"], padding=k["k"] // 2)
    a = torch.rand(k["n"], device=dev) - 0.5
    b = torch.rand(k["n"], device=dev) - 0.5
    c = torch.empty(k["n"], device=dev)
    if kind == "add":
        return lambda: torch.add(a, b, out=c)
    if kind == "relu":
        return lambda: torch.clamp_min(a, 0.0, out=c)
    raise ValueError(f"unknown kernel kind {kind!r}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    report = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    rows = []
    for k in report["kernels"]:
        vendor_s = timed(case(k["kernel"]))
        wgpu_s = k["measured"]["median_s"]
        flops = k["gflops"] * wgpu_s * 1e9
        rows.append(
            {
                "name": k["name"],
                "kernel": k["kernel"],
                "wgpu_s": wgpu_s,
                "vendor_s": vendor_s,
                "wgpu_over_vendor": wgpu_s / vendor_s,
                "vendor_gflops": flops / vendor_s / 1e9,
            }
        )
    meta = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "timing": f"CUDA events, median of {SAMPLES} after {WARMUP} warm-ups, f32, TF32 off",
    }
    (out / "reference.json").write_text(json.dumps({"meta": meta, "kernels": rows}, indent=2))
    lines = [
        "# Vendor-library reference on the same GPU",
        "",
        f"{meta['device']}; PyTorch {meta['torch']}, CUDA {meta['cuda']}, cuDNN {meta['cudnn']}; "
        f"{meta['timing']}.",
        "",
        "| kernel | wgpu (WGSL) | vendor | wgpu / vendor | vendor GFLOP/s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['wgpu_s'] * 1e6:.1f} us | {r['vendor_s'] * 1e6:.1f} us | "
            f"{r['wgpu_over_vendor']:.2f} | {r['vendor_gflops']:.0f} |"
        )
    (out / "reference.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

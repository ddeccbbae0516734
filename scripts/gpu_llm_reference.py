#!/usr/bin/env python3
"""Times, on the GPU at hand, what vchip's GPU model predicts for LLM serving: the device's own
ceilings (HBM and L2 streaming, launch costs eager and in CUDA graphs), GEMMs at Llama-2-7B's
shapes over the token count (f16, and fp8 where the GPU has it), FlashAttention prefill and
decode attention, and a whole Llama-2-7B (random weights, gpt-fast style: static KV cache,
CUDA graphs) for prefill and decode. Writes llm-reference.json into OUT_DIR; the numbers in
docs/gpu.md and the H200 tests of sim/tests/gpu.rs come from such a run.

Weights rotate over several buffers so that L2 never holds what a real model streams from HBM.
Each kernel is timed in a CUDA graph (`graph_s`: the kernel plus the GPU's gap between graph
nodes) and eagerly (`eager_s`: what a framework without graphs sees, launch-bound when short).

usage: gpu_llm_reference.py OUT_DIR          (needs PyTorch with CUDA)
       gpu_llm_reference.py --dry OUT_DIR    (CPU, tiny shapes: checks the script itself)
"""
import json
import math
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

DRY = "--dry" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--dry"]
DEV = torch.device("cpu" if DRY else "cuda")
REPS = 3 if DRY else 15
# Llama-2-7B (Hugging Face config.json); --dry shrinks it to check the script on a CPU.
DIM, LAYERS, HEADS, HEAD_DIM, FFN, VOCAB = (
    (64, 2, 4, 16, 176, 320) if DRY else (4096, 32, 32, 128, 11008, 32000)
)
# Bytes of weights to rotate over: several times the largest L2 (H200: 60 MB as PyTorch reports).
ROTATE_BYTES = 1 << 20 if DRY else 512 << 20

RESULTS = {"meta": {}, "errors": []}


def save(out):
    (out / "llm-reference.json").write_text(json.dumps(RESULTS, indent=1))


def sync():
    if not DRY:
        torch.cuda.synchronize()


def time_region(fn):
    """Seconds for fn(), device events on a GPU, the wall clock on the CPU."""
    if DRY:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e-3


def bench(calls, graph=True):
    """Median seconds per call of the list of closures `calls`, run back to back: replayed from
    one captured CUDA graph (graph=True), or launched eagerly."""
    def run_all():
        for c in calls:
            c()

    for _ in range(2):
        run_all()
    sync()
    if graph and not DRY:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            run_all()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            run_all()
        g.replay()
        sync()
        times = [time_region(g.replay) for _ in range(REPS)]
        del g
    else:
        times = [time_region(run_all) for _ in range(REPS)]
    return statistics.median(times) / len(calls)


def copies(make, nbytes):
    """Enough distinct buffers from make() to rotate over ROTATE_BYTES (2 to 8)."""
    n = max(2, min(8, math.ceil(ROTATE_BYTES / max(nbytes, 1))))
    return [make() for _ in range(n)]


def section(name):
    def wrap(fn):
        def run(out):
            t = time.time()
            try:
                fn()
            except Exception:  # one section failing must not lose the others
                RESULTS["errors"].append({"section": name, "error": traceback.format_exc()})
                print(f"[{name}] FAILED:\n{traceback.format_exc()}", flush=True)
            print(f"[{name}] {time.time() - t:.1f} s", flush=True)
            sync()
            if not DRY:
                torch.cuda.empty_cache()
            save(out)

        return run

    return wrap


@section("meta")
def meta():
    m = RESULTS["meta"]
    m["torch"] = torch.__version__
    m["dry"] = DRY
    m["timing"] = f"median of {REPS} replays after 2 warm-ups (+1 capture); per call"
    if not DRY:
        p = torch.cuda.get_device_properties(0)
        m["device"] = p.name
        m["sms"] = p.multi_processor_count
        m["l2_bytes"] = getattr(p, "L2_cache_size", None)
        m["memory_bytes"] = p.total_memory
        m["cuda"] = torch.version.cuda
        m["cudnn"] = torch.backends.cudnn.version()
        try:
            m["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,power.limit,clocks.max.sm,"
                 "clocks.max.mem", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip()
        except Exception as e:  # informational only
            m["nvidia_smi"] = f"unavailable: {e}"


@section("launch")
def launch():
    """Per-kernel cost of a tiny kernel: eager (host launch rate) and inside a CUDA graph (the
    GPU-side gap between nodes)."""
    x = torch.zeros(256, device=DEV)
    calls = [lambda: x.add_(1.0)] * (50 if DRY else 500)
    RESULTS["launch"] = {
        "tiny_kernel_eager_s": bench(calls, graph=False),
        "tiny_kernel_graph_s": bench(calls, graph=True),
    }


@section("stream")
def stream():
    """Device-to-device copies: time = gap + bytes / bandwidth, fitted over sizes, in HBM (sizes
    far beyond L2) and in L2 (a buffer pair re-copied while it stays resident)."""
    rows = []
    hbm_sizes = [1 << 20, 4 << 20] if DRY else [256 << 20, 512 << 20, 1 << 30, 2 << 30]
    for size in hbm_sizes:
        src = torch.empty(size // 2, dtype=torch.float16, device=DEV).normal_()
        dst = torch.empty_like(src)
        t = bench([lambda: dst.copy_(src)] * 4)
        rows.append({"level": "hbm", "bytes_moved": 2 * size, "graph_s": t})
        del src, dst
    l2_sizes = [1 << 16, 1 << 18] if DRY else [1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20]
    for size in l2_sizes:
        src = torch.empty(size // 2, dtype=torch.float16, device=DEV).normal_()
        dst = torch.empty_like(src)
        t = bench([lambda: dst.copy_(src)] * 50)
        rows.append({"level": "l2", "bytes_moved": 2 * size, "graph_s": t})
    # Element-wise f16 kernels as a decoder layer runs them (2048 tokens x 4096).
    a = torch.empty(2048, DIM, dtype=torch.float16, device=DEV).normal_()
    b = torch.empty_like(a)
    c = torch.empty_like(a)
    n = a.numel() * 2
    rows.append({"level": "kernel", "name": "add f16 2048xdim", "bytes_moved": 3 * n,
                 "graph_s": bench([lambda: torch.add(a, b, out=c)] * 4)})
    w = torch.ones(DIM, dtype=torch.float16, device=DEV)
    rows.append({"level": "kernel", "name": "rms_norm f16 2048xdim", "bytes_moved": 2 * n,
                 "graph_s": bench([lambda: F.rms_norm(a, (DIM,), w, 1e-5)] * 4)})
    RESULTS["stream"] = rows


def linear_shapes():
    """(name, N, K) of Llama-2-7B's projections, separate (HF) and fused (gpt-fast, TRT-LLM)."""
    return [
        ("q|k|v|o", DIM, DIM),
        ("qkv fused", 3 * DIM, DIM),
        ("gate|up", FFN, DIM),
        ("gate_up fused", 2 * FFN, DIM),
        ("down", DIM, FFN),
        ("lm_head", VOCAB, DIM),
    ]


@section("gemm")
def gemm():
    rows = []
    ms = [1, 16, 128, 2048] if DRY else [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    dt = torch.float32 if DRY else torch.float16
    for name, n, k in linear_shapes():
        ws = copies(lambda: torch.empty(n, k, dtype=dt, device=DEV).normal_(0, 0.02), n * k * 2)
        for m in ms:
            x = torch.empty(m, k, dtype=dt, device=DEV).normal_()
            calls = [lambda w=w: F.linear(x, w) for w in ws]
            rows.append({"dtype": "f16", "name": name, "m": m, "n": n, "k": k,
                         "graph_s": bench(calls), "eager_s": bench(calls, graph=False)})
        del ws
    # Square GEMMs: the sustained tensor-core rate (the model's mma_efficiency).
    for s in ([64] if DRY else [1024, 2048, 4096, 8192]):
        for dname, d in ([("f16", dt)] if DRY else [("f16", torch.float16), ("bf16", torch.bfloat16)]):
            a = torch.empty(s, s, dtype=d, device=DEV).uniform_(-1, 1)
            bs = copies(lambda: torch.empty(s, s, dtype=d, device=DEV).uniform_(-1, 1), s * s * 2)
            calls = [lambda b=b: torch.matmul(a, b) for b in bs]
            rows.append({"dtype": dname, "name": "square", "m": s, "n": s, "k": s,
                         "graph_s": bench(calls)})
    # f32 with TF32 off (CUDA cores), as the project's vendor-library recording ran.
    torch.backends.cuda.matmul.allow_tf32 = False
    for s in ([64] if DRY else [512, 1024, 2048, 4096]):
        a = torch.empty(s, s, device=DEV).uniform_(-1, 1)
        bs = copies(lambda: torch.empty(s, s, device=DEV).uniform_(-1, 1), s * s * 4)
        calls = [lambda b=b: torch.matmul(a, b) for b in bs]
        rows.append({"dtype": "f32", "name": "square", "m": s, "n": s, "k": s,
                     "graph_s": bench(calls)})
    RESULTS["gemm"] = rows


@section("gemm_fp8")
def gemm_fp8():
    """FP8 (e4m3) GEMMs through torch._scaled_mm, bf16 out, per-tensor scales (TensorRT-LLM's
    FP8 recipe): the weights column-major as cuBLASLt wants them."""
    if DRY or not hasattr(torch, "float8_e4m3fn"):
        RESULTS["gemm_fp8"] = []
        return
    rows = []
    one = torch.tensor(1.0, device=DEV)
    for name, n, k in linear_shapes() + [("square", 8192, 8192)]:
        ws = copies(lambda: torch.empty(n, k, device=DEV).uniform_(-1, 1)
                    .to(torch.float8_e4m3fn), n * k)
        for m in ([8192] if name == "square" else [16, 128, 512, 2048, 4096]):
            x = torch.empty(m, k, device=DEV).uniform_(-1, 1).to(torch.float8_e4m3fn)
            calls = [lambda w=w: torch._scaled_mm(x, w.t(), scale_a=one, scale_b=one,
                                                  out_dtype=torch.bfloat16) for w in ws]
            rows.append({"dtype": "fp8", "name": name, "m": m, "n": n, "k": k,
                         "graph_s": bench(calls)})
        del ws
    RESULTS["gemm_fp8"] = rows


@section("attention")
def attention():
    """FlashAttention prefill (causal, batch 1) and decode attention (one query over the cache)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dt = torch.float32 if DRY else torch.float16
    rows = []
    backends = [SDPBackend.MATH] if DRY else [SDPBackend.FLASH_ATTENTION]
    with sdpa_kernel(backends):
        for s in ([32] if DRY else [128, 512, 2048, 4096]):
            qkv = copies(lambda: torch.empty(3, 1, HEADS, s, HEAD_DIM, dtype=dt, device=DEV)
                         .normal_(), 3 * HEADS * s * HEAD_DIM * 2)
            calls = [lambda t=t: F.scaled_dot_product_attention(t[0], t[1], t[2], is_causal=True)
                     for t in qkv]
            rows.append({"phase": "prefill", "batch": 1, "q_len": s, "kv_len": s,
                         "graph_s": bench(calls)})
    for batch in [1, 8]:
        for ctx in ([32] if DRY else [128, 1024, 2048, 4096]):
            q = torch.empty(batch, HEADS, 1, HEAD_DIM, dtype=dt, device=DEV).normal_()
            kv = copies(lambda: torch.empty(2, batch, HEADS, ctx, HEAD_DIM, dtype=dt,
                                            device=DEV).normal_(),
                        2 * batch * HEADS * ctx * HEAD_DIM * 2)
            calls = [lambda t=t: F.scaled_dot_product_attention(q, t[0], t[1]) for t in kv]
            rows.append({"phase": "decode", "batch": batch, "q_len": 1, "kv_len": ctx,
                         "graph_s": bench(calls)})
    RESULTS["attention"] = rows


class Llama:
    """Llama-2-7B in plain PyTorch, gpt-fast style, random weights. `fused` packs Q/K/V and
    gate/up into one GEMM each (gpt-fast, TensorRT-LLM); else the Hugging Face layout."""

    def __init__(self, fused, batch, max_len):
        dt = torch.float32 if DRY else torch.float16
        self.fused = fused

        def w(*shape):
            return torch.empty(*shape, dtype=dt, device=DEV).normal_(0, 0.02)

        self.emb = w(VOCAB, DIM)
        self.out = w(VOCAB, DIM)
        self.norm = torch.ones(DIM, dtype=dt, device=DEV)
        self.layers = []
        for _ in range(LAYERS):
            lay = {"an": torch.ones(DIM, dtype=dt, device=DEV),
                   "fn": torch.ones(DIM, dtype=dt, device=DEV),
                   "wo": w(DIM, DIM), "w2": w(DIM, FFN),
                   "kc": torch.zeros(batch, HEADS, max_len, HEAD_DIM, dtype=dt, device=DEV),
                   "vc": torch.zeros(batch, HEADS, max_len, HEAD_DIM, dtype=dt, device=DEV)}
            if fused:
                lay["wqkv"], lay["w13"] = w(3 * DIM, DIM), w(2 * FFN, DIM)
            else:
                lay["wq"], lay["wk"], lay["wv"] = w(DIM, DIM), w(DIM, DIM), w(DIM, DIM)
                lay["w1"], lay["w3"] = w(FFN, DIM), w(FFN, DIM)
            self.layers.append(lay)
        freqs = 1.0 / (10000.0 ** (torch.arange(0, HEAD_DIM, 2, device=DEV).float() / HEAD_DIM))
        angles = torch.outer(torch.arange(max_len, device=DEV).float(), freqs)
        self.cos, self.sin = angles.cos(), angles.sin()

    def rope(self, x, pos):
        b, s, h, d = x.shape
        cos = self.cos[pos:pos + s].view(1, s, 1, d // 2)
        sin = self.sin[pos:pos + s].view(1, s, 1, d // 2)
        xf = x.float().view(b, s, h, d // 2, 2)
        x0, x1 = xf[..., 0], xf[..., 1]
        return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(3).type_as(x)

    def block(self, x, lay, pos):
        b, s, _ = x.shape
        h = F.rms_norm(x, (DIM,), lay["an"], 1e-5)
        if self.fused:
            q, k, v = F.linear(h, lay["wqkv"]).split([DIM, DIM, DIM], -1)
        else:
            q, k, v = F.linear(h, lay["wq"]), F.linear(h, lay["wk"]), F.linear(h, lay["wv"])
        q = self.rope(q.view(b, s, HEADS, HEAD_DIM), pos).transpose(1, 2)
        k = self.rope(k.view(b, s, HEADS, HEAD_DIM), pos).transpose(1, 2)
        v = v.view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        lay["kc"][:, :, pos:pos + s] = k
        lay["vc"][:, :, pos:pos + s] = v
        if s > 1 and pos == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, lay["kc"][:, :, :pos + s],
                                               lay["vc"][:, :, :pos + s])
        x = x + F.linear(y.transpose(1, 2).reshape(b, s, DIM), lay["wo"])
        h = F.rms_norm(x, (DIM,), lay["fn"], 1e-5)
        if self.fused:
            g, u = F.linear(h, lay["w13"]).chunk(2, -1)
        else:
            g, u = F.linear(h, lay["w1"]), F.linear(h, lay["w3"])
        return x + F.linear(F.silu(g) * u, lay["w2"])

    def forward(self, tokens, pos, block=None):
        block = block or self.block
        x = self.emb[tokens]
        for lay in self.layers:
            x = block(x, lay, pos)
        x = F.rms_norm(x[:, -1:], (DIM,), self.norm, 1e-5)
        return F.linear(x, self.out)


def model_rows(model, layout, batch, compiled):
    rows = []
    block = None
    if compiled:
        block = torch.compile(model.block, dynamic=False)
    prompts = [16] if DRY else [128, 2048]
    contexts = [16, 40] if DRY else [128, 1024, 2048]
    with torch.no_grad():
        if batch == 1:
            for p in prompts:
                tokens = torch.randint(0, VOCAB, (batch, p), device=DEV)
                call = [lambda: model.forward(tokens, 0, block)]
                row = {"layout": layout, "compiled": compiled, "batch": batch, "phase": "prefill",
                       "tokens": p, "graph_s": bench(call)}
                if not compiled:
                    row["eager_s"] = bench(call, graph=False)
                rows.append(row)
        for ctx in contexts:
            tokens = torch.randint(0, VOCAB, (batch, 1), device=DEV)
            call = [lambda: model.forward(tokens, ctx, block)]
            row = {"layout": layout, "compiled": compiled, "batch": batch, "phase": "decode",
                   "context": ctx, "graph_s": bench(call)}
            if not compiled:
                row["eager_s"] = bench(call, graph=False)
            rows.append(row)
    return rows


@section("model")
def model():
    """Whole Llama-2-7B, f16: prefill (TTFT without sampling) and one decode step at a context."""
    if not DRY:
        torch._dynamo.config.cache_size_limit = 64
    rows = RESULTS.setdefault("model", [])
    max_len = 64 if DRY else 4096
    # One model on the GPU at a time (13.5 GB of weights each; batch 8 adds 17 GB of cache).
    for layout, batch in [("fused", 1), ("fused", 8), ("hf", 1)]:
        m = Llama(layout == "fused", batch, max_len)
        rows += model_rows(m, layout, batch, compiled=False)
        del m
        sync()
        if not DRY:
            torch.cuda.empty_cache()
        save(OUT)


@section("model_compiled")
def model_compiled():
    """The same with torch.compile on each block (Inductor fuses norms, RoPE and SwiGLU the way
    inference engines do; GEMMs stay cuBLAS), replayed from a CUDA graph: gpt-fast's set-up."""
    rows = RESULTS.setdefault("model", [])
    m = Llama(True, 1, 64 if DRY else 4096)
    rows += model_rows(m, "fused", 1, compiled=True)


if __name__ == "__main__":
    if len(ARGS) != 1:
        sys.exit(__doc__)
    OUT = Path(ARGS[0])
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for step in [meta, launch, stream, gemm, gemm_fp8, attention, model, model_compiled]:
        step(OUT)
    RESULTS["meta"]["seconds"] = time.time() - t0
    save(OUT)
    print(f"done in {time.time() - t0:.0f} s; errors: {len(RESULTS['errors'])}")

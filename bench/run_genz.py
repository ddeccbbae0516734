"""GenZ (genz-llm) on the published LLM targets of docs/gpu.md: prints one JSON line per case
with GenZ's prediction (ms, or tokens/s for decode) and its best time per prediction.
Run by bench/vs_genz.sh inside its venv; GenZ's code is installed from PyPI, never committed."""
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
from GenZ import decode_moddeling, prefill_moddeling  # noqa: E402

CASES = [
    # name, kind, system, bits, batch, prompt, measured
    ("llama-2-7b decode a100 bf16 (gpt-fast)", "decode", "A100_80GB_GPU", "bf16", 1, 5, 104.9),
    ("llama-2-7b ttft a100 fp16 128 (trt-llm)", "prefill", "A100_80GB_GPU", "bf16", 1, 128, 16.0),
    ("llama-2-7b ttft a100 fp16 2048 (trt-llm)", "prefill", "A100_80GB_GPU", "bf16", 1, 2048, 133.0),
    ("llama-2-7b ttft h100 fp8 128 (trt-llm)", "prefill", "H100_GPU", "fp8", 1, 128, 7.0),
    ("llama-2-7b ttft h100 fp8 2048 (trt-llm)", "prefill", "H100_GPU", "fp8", 1, 2048, 36.0),
]


def predict(kind, system, bits, batch, prompt):
    if kind == "decode":
        out = decode_moddeling(model="llama2_7b", batch_size=batch, input_tokens=prompt,
                               output_tokens=1, system_name=system, bits=bits)
        return out["Throughput"] / batch  # tokens/s per user (ModdelingOutput is a dict)
    out = prefill_moddeling(model="llama2_7b", batch_size=batch, input_tokens=prompt,
                            system_name=system, bits=bits)
    return out["Latency"]  # ms


for name, kind, system, bits, batch, prompt, measured in CASES:
    best = float("inf")
    value = None
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
        t0 = time.perf_counter()
        value = predict(kind, system, bits, batch, prompt)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"case": name, "genz": value, "measured": measured,
                      "unit": "tok/s" if kind == "decode" else "ms", "genz_s": best}))

# The acceptance case for speed: a full Llama-2-70B prediction (prefill 2048 + decode, TP 8).
if len(sys.argv) > 2 and sys.argv[2] == "--full-70b":
    best = float("inf")
    for _ in range(int(sys.argv[1])):
        t0 = time.perf_counter()
        p = prefill_moddeling(model="llama2_70b", batch_size=1, input_tokens=2048,
                              system_name="H100_GPU", bits="bf16", tensor_parallel=8)
        d = decode_moddeling(model="llama2_70b", batch_size=1, input_tokens=2048,
                             output_tokens=128, system_name="H100_GPU", bits="bf16",
                             tensor_parallel=8)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"case": "llama-2-70b 2048+128 tp8 (full prediction)",
                      "genz_ttft_ms": p["Latency"], "genz_tpot_ms": 1000 / d["Throughput"],
                      "genz_s": best}))

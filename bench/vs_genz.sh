#!/usr/bin/env bash
# Side by side with GenZ (genz-llm, installed from PyPI into target/genz-venv): both tools on the
# published LLM targets of docs/gpu.md (same model, GPU, batch, lengths, precision), the measured
# figure beside them, and the time per prediction of each, measured in this run. Not part of the
# test suite. usage: bench/vs_genz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/genz-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import GenZ" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q genz-llm==0.0.16
fi
cargo build --release -q
VCHIP=${CARGO_TARGET_DIR:-target}/release/vchip
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# vchip's predictions, the cases in the order of bench/run_genz.py.
v=()
v+=("$("$VCHIP" simulate llama-2-7b --hw a100-sxm-80gb --prompt 5 --gen 200 --cuda-graphs on \
  --phase prefill --precision bf16 --format json | json "d['serving']['decode_tokens_per_s_per_user']")")
for hw_p in "a100-sxm-80gb 128 f16" "a100-sxm-80gb 2048 f16" "h100-sxm 128 fp8;*.attn=f16" \
            "h100-sxm 2048 fp8;*.attn=f16"; do
  read -r hw p prec <<<"$hw_p"
  v+=("$("$VCHIP" simulate llama-2-7b --hw "$hw" --seq "$p" --phase prefill --precision "$prec" \
    --format json | json "d['totals']['latency_s'] * 1e3")")
done

echo "GenZ (genz-llm 0.0.16, efficiency 1.0 as shipped) ..."
mapfile -t g < <("$VENV/bin/python" bench/run_genz.py 5 --full-70b)

printf '\n%-44s %10s %12s %8s %12s %8s\n' case measured vchip err GenZ err
for i in 0 1 2 3 4; do
  python3 - "${g[$i]}" "${v[$i]}" <<'PY'
import json, sys
g = json.loads(sys.argv[1]); v = float(sys.argv[2]); m = g["measured"]
err = lambda x: f"{100 * (x / m - 1):+.1f}%"
print(f"{g['case']:<44} {m:>7.1f} {g['unit']:<3}{v:>11.2f} {err(v):>8} {g['genz']:>12.2f} {err(g['genz']):>8}")
PY
done

# Time per prediction: GenZ in-process (best of 5), vchip in-process (criterion, same run).
echo
echo "time per full Llama-2-70B prediction (prefill 2048 + 128 decode steps, TP 8):"
genz_s=$(echo "${g[5]}" | json "d['genz_s']")
bench_out=$(cargo bench -q --bench simulate -- serve --warm-up-time 1 --measurement-time 3 2>/dev/null)
vchip_line=$(grep 'time:' <<<"$bench_out" | head -1)
vchip_ms=$(echo "$vchip_line" | python3 -c "
import re, sys
v = re.findall(r'([0-9.]+) (ns|µs|us|ms|s)\b', sys.stdin.read())[1]
scale = {'ns': 1e-6, 'µs': 1e-3, 'us': 1e-3, 'ms': 1.0, 's': 1e3}[v[1]]
print(float(v[0]) * scale)")
python3 -c "
g = $genz_s * 1e3; v = $vchip_ms
print(f'  GenZ  {g:8.2f} ms\n  vchip {v:8.3f} ms   ({g / v:.0f}x faster)')"

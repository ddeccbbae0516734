#!/usr/bin/env bash
# Side-by-side with SCALE-Sim v3: runs both on the same topology and config, checks that every
# layer's compute cycles and SRAM access counts agree (vchip --compat scalesim), and prints the
# wall-time ratio measured in this run. Not part of the test suite (SCALE-Sim needs minutes).
#
# usage: bench/vs_scalesim.sh [TOPOLOGY.csv [CONFIG.cfg [--gemm]]]
#   default: ResNet-18 on SCALE-Sim's 32x32 output-stationary config (takes SCALE-Sim 5-15 min here)
set -euo pipefail
cd "$(dirname "$0")/.."
FIX=tests/fixtures/scalesim/inputs
TOPO=${1:-$FIX/topologies/Resnet18.csv}
CFG=${2:-$FIX/configs/sa32_os.cfg}
GEMM=${3:-}
VENV=target/scalesim-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import scalesim" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scalesim==3.0.0 'numpy<2.4'
fi
cargo build --release -q
VCHIP=${CARGO_TARGET_DIR:-target}/release/vchip
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "SCALE-Sim: $TOPO on $CFG ..."
ss_wall=$("$VENV/bin/python" bench/run_scalesim.py "$TOPO" "$CFG" "$OUT/ss" $GEMM | sed -n 's/^wall_s=//p')

"$VCHIP" simulate "$TOPO" --hw "$CFG" --compat scalesim --format csv -o "$OUT/vchip.csv"
# Best of 20 whole-process runs (start-up, parsing, simulation, output).
best=""
for _ in $(seq 20); do
  t0=$(date +%s%N); "$VCHIP" simulate "$TOPO" --hw "$CFG" --compat scalesim --format csv >/dev/null; t1=$(date +%s%N)
  d=$(( t1 - t0 )); if [ -z "$best" ] || [ "$d" -lt "$best" ]; then best=$d; fi
done

python3 - "$OUT" "$ss_wall" "$best" <<'PY'
import csv, glob, os, sys
out, ss_wall, vchip_ns = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
run = glob.glob(os.path.join(out, "ss", "*", "COMPUTE_REPORT.csv"))[0]
rows = lambda p: [[c.strip() for c in r] for r in csv.reader(open(p))][1:]
ss_c = rows(run)
ss_a = rows(os.path.join(os.path.dirname(run), "DETAILED_ACCESS_REPORT.csv"))
vc = list(csv.DictReader(open(os.path.join(out, "vchip.csv"))))
assert len(vc) == len(ss_c), f"layer count: vchip {len(vc)}, SCALE-Sim {len(ss_c)}"
bad = 0
for i, (v, c, a) in enumerate(zip(vc, ss_c, ss_a)):
    ours = (int(v["cycles"]), int(v["ifmap_sram_reads"]), int(v["filter_sram_reads"]), int(v["ofmap_sram_writes"]))
    theirs = (int(float(c[2])), int(float(a[3])), int(float(a[6])), int(float(a[9])))
    if ours != theirs:
        bad += 1
        print(f"layer {i} {v['name']}: vchip {ours} != SCALE-Sim {theirs}")
vchip_s = vchip_ns / 1e9
print(f"{len(vc)} layers compared, {len(vc) - bad} identical (cycles, ifmap/filter SRAM reads, ofmap SRAM writes)")
print(f"wall time: SCALE-Sim {ss_wall:.2f} s, vchip {vchip_s * 1e3:.2f} ms (whole process, best of 20)")
print(f"speed-up: {ss_wall / vchip_s:,.0f}x")
sys.exit(1 if bad else 0)
PY

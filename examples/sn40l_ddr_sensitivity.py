#!/usr/bin/env python3
"""Sensitivity of a Composition of Experts on an SN40L node to its DDR bandwidth.

Runs `vchip coe` (150 Llama-2-7B experts, Zipf popularity, 20 generated tokens per request) with
the DDR tier's bandwidth per socket from 50 to 400 GB/s, and prints what changes. DDR holds the
experts HBM cannot, so its bandwidth sets the model-switching time and nothing else: the run
checks that TTFT, TPOT and the execution total stay exactly the same while one switch scales as
1/bandwidth, and exits non-zero otherwise.

    python examples/sn40l_ddr_sensitivity.py [path/to/vchip]
"""
import json
import subprocess
import sys

VCHIP = sys.argv[1] if len(sys.argv) > 1 else "vchip"
BASE = ["coe", "--experts", "150", "--expert-model", "llama-2-7b", "--hw", "sn40l-8",
        "--zipf", "1", "--prompt", "512", "--gen", "20", "--format", "json"]


def run(ddr_gb_s):
    out = subprocess.run(
        [VCHIP, *BASE, "--set", f"dataflow.tiers.ddr.bandwidth_gb_s={ddr_gb_s}"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["coe"]


rows = {bw: run(bw) for bw in (400, 200, 100, 50)}
print(f"{'DDR GB/s':>9} {'TTFT ms':>8} {'TPOT ms':>8} {'switch ms':>10} {'switch %':>9} "
      f"{'tok/s':>7} {'vs DGX H100':>12}")
for bw, c in rows.items():
    s = c["serving"]
    print(f"{bw:>9} {s['ttft_s'] * 1e3:>8.3f} {s['tpot_s'] * 1e3:>8.3f} {c['switch_s'] * 1e3:>10.2f} "
          f"{c['switch_share'] * 100:>9.1f} {c['tokens_per_s']:>7.0f} {c['speedup']:>11.2f}x")

ref = rows[200]
for bw, c in rows.items():
    same = (c["serving"]["ttft_s"], c["serving"]["tpot_s"], c["exec_s_total"], c["switches"])
    if same != (ref["serving"]["ttft_s"], ref["serving"]["tpot_s"], ref["exec_s_total"],
                ref["switches"]):
        sys.exit(f"DDR at {bw} GB/s changed execution, not only switching: {c}")
    expected = ref["switch_s"] * 200 / bw
    if abs(c["switch_s"] - expected) > 1e-9 * expected:
        sys.exit(f"DDR at {bw} GB/s: one switch takes {c['switch_s']} s, expected {expected} s")
print("DDR bandwidth changed only switching: execution identical, one switch ~ 1/bandwidth")

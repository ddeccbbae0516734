#!/usr/bin/env python3
"""Run SCALE-Sim v3 (PyPI `scalesim`) on one topology and config without writing per-cycle traces.

usage: run_scalesim.py TOPOLOGY.csv CONFIG.cfg OUTDIR [--gemm]
Prints the wall time in seconds on the last line as `wall_s=<float>`.
"""
import os
import sys
import time

from scalesim.scale_sim import scalesim

topo, cfg, outdir = sys.argv[1:4]
is_gemm = "--gemm" in sys.argv
layout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "header_only_layout.csv")
os.makedirs(outdir, exist_ok=True)
t0 = time.perf_counter()
sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
               input_type_gemm=is_gemm)
sim.run_scale(top_path=outdir)
print(f"wall_s={time.perf_counter() - t0:.3f}")

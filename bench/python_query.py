#!/usr/bin/env python3
"""Side by side: what a NAS search pays per cost query with vchip's Python package, against the
two paths it replaces, measured in the same run: a subprocess of the CLI per query, and a read
of an OFA latency LUT (a dict lookup per layer, summed: what OFA's own predictor does).

Prints the mean time of each path, the ratios, and the time of a 10,000-subnet
`simulate_many` batch. Figures go to docs/performance.md.

usage: python bench/python_query.py [--cli PATH/TO/vchip] [--hw edge-tpu-like] [--batch 10000]
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import vchip
import yaml

KS, ES, DS, RS = [3, 5, 7], [3, 4, 6], [2, 3, 4], [160, 176, 192, 208, 224]


def random_arch(rng):
    return {"ks": [rng.choice(KS) for _ in range(20)], "e": [rng.choice(ES) for _ in range(20)],
            "d": [rng.choice(DS) for _ in range(5)], "r": [rng.choice(RS)]}


def per_call(fn, items, repeat=3):
    """Best of `repeat` passes over items, per item, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, (time.perf_counter() - t) / len(items))
    return best


def spread_passes(paths, items, passes=7, pause=0.3):
    """Per item, in seconds, for each of `paths` (functions over the same items): the best and
    the median of `passes` passes, the paths' passes interleaved and spaced `pause` seconds apart.
    This shared 2-core VM has slow spells of seconds (a query then takes ~1.5x as long for every
    path at once); passes spread over a few seconds let the best one show the code's own cost,
    and the median shows what the spells did to this run."""
    times = [[] for _ in paths]
    for _ in range(passes):
        for k, fn in enumerate(paths):
            t = time.perf_counter()
            for x in items:
                fn(x)
            times[k].append((time.perf_counter() - t) / len(items))
            time.sleep(pause)
    return [(min(ts), statistics.median(ts)) for ts in times]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=None, help="the vchip binary for the subprocess path")
    ap.add_argument("--hw", default="edge-tpu-like")
    ap.add_argument("--batch", type=int, default=10_000)
    a = ap.parse_args()
    rng = random.Random(0)
    archs = [random_arch(rng) for _ in range(300)]
    specs = [vchip.arch_spec(x) for x in archs]

    vchip.simulate(specs[0], a.hw)  # loads the preset once (cached by the package)
    (query, query_med), (query_dict, dict_med) = spread_passes(
        [lambda i: vchip.simulate(specs[i], a.hw), lambda i: vchip.simulate(archs[i], a.hw)],
        range(len(specs)))
    lines = [f"in-process query, OFA-MBv3 subnet on {a.hw}: {query * 1e6:8.1f} us (spec string), "
             f"{query_dict * 1e6:.1f} us (arch dict); best of 7 passes spread over ~5 s "
             f"(medians {query_med * 1e6:.1f} and {dict_med * 1e6:.1f} us)"]

    with tempfile.TemporaryDirectory() as tmp:
        vchip.table("ofa-mbv3", a.hw, output_dir=os.path.join(tmp, "t"))
        luts = {r: yaml.safe_load(open(os.path.join(tmp, "t", f"{r}_lookup_table.yaml"))) for r in RS}
    # The same keys OFA's predictor sums, built per query as OFA does (the example's builder).
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    from nas_search import ofa_keys

    lut = per_call(lambda n: sum(luts[n["r"][0]][k]["mean"] for k in ofa_keys(n)), archs)
    lines.append(f"OFA LUT read (keys built and summed in Python):     {lut * 1e6:8.1f} us  "
                 f"(query / LUT = {query / lut:.1f}x)")

    if a.cli:
        runs = specs[:20]
        sub = per_call(lambda s: subprocess.run([a.cli, "simulate", s, "--hw", a.hw, "--format", "json"],
                                                check=True, capture_output=True), runs, repeat=1)
        lines.append(f"subprocess per query (vchip simulate --format json): {sub * 1e6:8.1f} us  "
                     f"(subprocess / query = {sub / query:.0f}x)")

    many = [random_arch(rng) for _ in range(a.batch)]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        df = vchip.simulate_many(many, a.hw)
        times.append(time.perf_counter() - t)
    assert len(df) == a.batch
    lines.append(f"simulate_many of {a.batch} subnets on {os.cpu_count()} CPUs: {min(times):.2f} s "
                 f"(median {statistics.median(times):.2f} s, {min(times) / a.batch * 1e6:.0f} us per subnet)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

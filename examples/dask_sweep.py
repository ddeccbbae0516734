#!/usr/bin/env python3
"""A distributed cost table with Dask: thousands of OFA-MobileNetV3 subnets split over the
workers of a cluster (here a local one), each worker costing its share with
`vchip.simulate_many`, the shares joined in the order given. The path for users who outgrow one
machine: point `Client` at a real scheduler and nothing else changes.

Checks that the distributed table equals a one-process `simulate_many` of the same subnets, row
by row, identities included.

usage: pip install ./python -r examples/requirements.txt; python examples/dask_sweep.py [N] [WORKERS]
"""
import random
import sys

import pandas as pd
import vchip
from dask.distributed import Client, LocalCluster

N = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
WORKERS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
CHIP = "edge-tpu-like"


def random_arch(rng):
    return {
        "ks": [rng.choice([3, 5, 7]) for _ in range(20)],
        "e": [rng.choice([3, 4, 6]) for _ in range(20)],
        "d": [rng.choice([2, 3, 4]) for _ in range(5)],
        "r": [rng.choice([160, 176, 192, 208, 224])],
    }


def cost_share(specs, ids, chip):
    # Runs on a worker: the package is imported there and costs the share in parallel.
    import vchip as v

    return v.simulate_many(specs, chip, ids=ids)


def main():
    rng = random.Random(0)
    specs = [vchip.arch_spec(random_arch(rng)) for _ in range(N)]
    ids = [f"subnet-{i}" for i in range(N)]
    shares = max(1, 4 * WORKERS)
    bounds = [(k * N // shares, (k + 1) * N // shares) for k in range(shares)]
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            futures = [client.submit(cost_share, specs[a:b], ids[a:b], CHIP) for a, b in bounds]
            parts = client.gather(futures)
    table = pd.concat(parts, ignore_index=True)
    local = vchip.simulate_many(specs, CHIP, ids=ids)
    assert list(table["id"]) == ids and list(table["model"]) == specs
    assert (table["latency_s"].to_numpy() == local["latency_s"].to_numpy()).all()
    print(f"{N} subnets on {WORKERS} Dask workers: identical to one process, row by row "
          f"(latency {table['latency_s'].min() * 1e3:.3f}..{table['latency_s'].max() * 1e3:.3f} ms on {CHIP})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Hardware-aware NAS with vchip in process: an evolutionary search over Once-for-All
MobileNetV3 subnets under a latency budget, on two different virtual chips.

1. `vchip.table("ofa-mbv3", CHIP)` writes OFA latency LUTs (YAML) and a rich table (a DataFrame).
2. The OFA LUT is read with OFA's own loader logic (yaml.safe_load, then lut[key]["mean"]) and the
   summed per-layer latency of sample subnets is checked against `vchip.simulate` of the whole
   network.
3. An evolutionary search maximises a capacity proxy (MACs; OFA's accuracy predictor is not
   bundled) under a latency budget on each chip: each generation's children are costed whole
   with one `vchip.simulate_many` call, rows mapped back to the children by their ids.

usage: pip install ./python -r examples/requirements.txt; python examples/nas_search.py [WORKDIR]
"""
import json
import os
import random
import sys

import vchip
import yaml

WORK = sys.argv[1] if len(sys.argv) > 1 else "nas-work"
CHIPS = ["edge-tpu-like", "tpu-v1"]
KS, ES, DS, RS = [3, 5, 7], [3, 4, 6], [2, 3, 4], [160, 176, 192, 208, 224]
STAGES = [(24, 2, 0, 0), (40, 2, 0, 1), (80, 2, 1, 0), (112, 1, 1, 1), (160, 2, 1, 1)]  # out, stride, hs, se


def make_divisible(v, d=8):
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


def ofa_keys(net):
    """The keys OFA's MBv3LatencyTable.predict_network_latency queries, for an arch dict."""
    r = net["r"][0]
    keys = [f"Conv-input:{r}x{r}x3-output:{(r + 1) // 2}x{(r + 1) // 2}x16"]
    fs = (r + 1) // 2
    keys.append(f"expanded_conv-input:{fs}x{fs}x16-output:{fs}x{fs}x16-expand:16-kernel:3-stride:1-idskip:1-se:0-hs:0")
    cin = 16
    for s, (cout, stride, hs, se) in enumerate(STAGES):
        for i in range(net["d"][s]):
            slot, st = s * 4 + i, (stride if i == 0 else 1)
            mid = make_divisible(cin * net["e"][slot])
            out = (fs - 1) // st + 1
            keys.append(f"expanded_conv-input:{fs}x{fs}x{cin}-output:{out}x{out}x{cout}-expand:{mid}"
                        f"-kernel:{net['ks'][slot]}-stride:{st}-idskip:{int(i > 0)}-se:{se}-hs:{hs}")
            fs, cin = out, cout
    keys += [f"Conv_1-input:{fs}x{fs}x160-output:{fs}x{fs}x960", f"AvgPool2D-input:{fs}x{fs}x960-output:1x1x960",
             "Conv_2-input:1x1x960-output:1x1x1280", "Logits-input:1x1x1280-output:1000"]
    return keys


def spec(net):
    return "ofa-mbv3:r=%d:d=%s:ks=%s:e=%s" % (net["r"][0], "".join(map(str, net["d"])),
                                             "".join(map(str, net["ks"])), "".join(map(str, net["e"])))


def random_net(rng):
    return {"ks": [rng.choice(KS) for _ in range(20)], "e": [rng.choice(ES) for _ in range(20)],
            "d": [rng.choice(DS) for _ in range(5)], "r": [rng.choice(RS)]}


def mutate(net, rng, p=0.2):
    n = json.loads(json.dumps(net))
    for k, choices in (("ks", KS), ("e", ES), ("d", DS)):
        n[k] = [rng.choice(choices) if rng.random() < p else v for v in n[k]]
    if rng.random() < p:
        n["r"] = [rng.choice(RS)]
    return n


def search(chip, budget_ms, seed=0, population=64, generations=12):
    """Keeps the largest subnets (MACs) within the budget; children costed whole in one batch."""
    rng = random.Random(seed)

    def cost(nets):
        # ids: each row comes back under its candidate's own number.
        df = vchip.simulate_many(nets, chip, ids=list(range(len(nets))))
        assert list(df["id"]) == list(range(len(nets)))
        return [(n, ms, m) for n, ms, m in zip(nets, df["latency_s"] * 1e3, df["macs"]) if ms <= budget_ms]

    pop = cost([random_net(rng) for _ in range(8 * population)])[:population]
    for _ in range(generations):
        pop.sort(key=lambda c: c[2], reverse=True)
        parents = pop[: population // 4]
        children = cost([mutate(rng.choice(parents)[0], rng) for _ in range(4 * population)])
        pop = parents + children[: population - len(parents)]
    return max(pop, key=lambda c: c[2])


def main():
    os.makedirs(WORK, exist_ok=True)
    best = {}
    for chip in CHIPS:
        out = os.path.join(WORK, chip)
        rich = vchip.table("ofa-mbv3", chip, output_dir=out)
        # OFA's loader: yaml.safe_load, then lut[key]["mean"], summed over the network's layers.
        luts = {r: yaml.safe_load(open(os.path.join(out, f"{r}_lookup_table.yaml"))) for r in RS}
        rng = random.Random(1)
        for _ in range(5):
            net = random_net(rng)
            lut_ms = sum(luts[net["r"][0]][k]["mean"] for k in ofa_keys(net))
            sim_ms = vchip.simulate(net, chip).latency_s * 1e3
            assert abs(lut_ms - sim_ms) <= 0.01 * sim_ms, f"{chip}: LUT {lut_ms} ms vs simulated {sim_ms} ms"
        print(f"{chip}: OFA LUT sums match whole-network simulation within 1% on 5 subnets ({len(rich)} table rows)")

        biggest = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": [224]}
        budget = 0.5 * vchip.simulate(biggest, chip).latency_s * 1e3
        net, ms, macs = search(chip, budget)
        best[chip] = net
        print(f"{chip}: budget {budget:.3f} ms -> best subnet {spec(net)}: {ms:.3f} ms, {macs / 1e6:.1f} MMACs")
    a, b = (best[c] for c in CHIPS)
    assert a != b, "the two chips chose the same subnet"
    print("the chosen subnets differ between chips")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Multi-objective NAS with Optuna on vchip's latency and energy: NSGA-II over OFA-MobileNetV3
subnets on a virtual chip, each trial costed in process by `vchip.simulate`.

Objectives: maximise MACs (a capacity proxy; OFA's accuracy predictor is not bundled), minimise
latency and energy on the chip. Prints the Pareto front and checks it is one: no front member is
dominated by another trial.

usage: pip install ./python -r examples/requirements.txt; python examples/optuna_search.py [CHIP] [TRIALS]
"""
import sys

import optuna
import vchip

CHIP = sys.argv[1] if len(sys.argv) > 1 else "edge-tpu-like"
TRIALS = int(sys.argv[2]) if len(sys.argv) > 2 else 300


def objective(trial):
    arch = {
        "ks": [trial.suggest_categorical(f"ks{i}", [3, 5, 7]) for i in range(20)],
        "e": [trial.suggest_categorical(f"e{i}", [3, 4, 6]) for i in range(20)],
        "d": [trial.suggest_categorical(f"d{i}", [2, 3, 4]) for i in range(5)],
        "r": [trial.suggest_categorical("r", [160, 176, 192, 208, 224])],
    }
    r = vchip.simulate(arch, CHIP)
    trial.set_user_attr("spec", vchip.arch_spec(arch))
    return r.macs / 1e6, r.latency_s * 1e3, r.energy_j * 1e3


def dominates(a, b):
    """a dominates b: no worse in every objective (max MACs, min latency, min energy), better in one."""
    no_worse = a[0] >= b[0] and a[1] <= b[1] and a[2] <= b[2]
    return no_worse and (a[0] > b[0] or a[1] < b[1] or a[2] < b[2])


def main():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize", "minimize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(seed=0),
    )
    study.optimize(objective, n_trials=TRIALS)
    front = study.best_trials
    every = [t.values for t in study.trials]
    for t in front:
        assert not any(dominates(v, t.values) for v in every), t.number
    print(f"{CHIP}: {TRIALS} trials, {len(front)} on the Pareto front (MMACs, ms, mJ):")
    for t in sorted(front, key=lambda t: t.values[1])[:10]:
        m, ms, mj = t.values
        print(f"  {m:8.1f} MMACs  {ms:8.3f} ms  {mj:8.3f} mJ  {t.user_attrs['spec']}")


if __name__ == "__main__":
    main()

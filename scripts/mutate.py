#!/usr/bin/env python3
"""Random byte mutations of every input format vchip reads, each run through the CLI with a 10 s
limit: the count of clean errors (exit 1 with an `error:` line), accepted inputs (exit 0), panics,
aborts (killed by a signal) and time-outs per format. Any panic, abort or time-out makes the exit
status 1 and its input is kept under OUT_DIR/failures/ to replay. Deterministic for a seed.

Mutations: flip a byte, overwrite a byte with 0x00/0xff/0x7f, insert or delete a run of bytes,
duplicate or drop a chunk, and the strategies that found crashes before: text numbers replaced by
huge, negative or zero ones (`99999999999999999999`, `-1`, `0`), protobuf varints set to the
largest values, and truncation.

usage: scripts/mutate.py VCHIP_BINARY OUT_DIR [--onnx N] [--text N] [--seed S] [--jobs J]
       (defaults: 10000 ONNX cases over the ONNX fixtures, 2000 per text format, seed 1)
"""
import argparse
import collections
import concurrent.futures
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each format: its fixtures, the file name a case is written as, and the command (FILE replaced).
FORMATS = {
    "onnx": (sorted((ROOT / "tests/fixtures/onnx").glob("*.onnx")), "m.onnx", ["trace", "FILE"]),
    "dsl": (sorted((ROOT / "workloads/zoo").glob("*.vnet")), "m.vnet", ["trace", "FILE"]),
    "hf": (sorted((ROOT / "workloads/zoo").glob("*.json")), "config.json", ["trace", "FILE"]),
    "csv": (
        sorted((ROOT / "tests/fixtures/scalesim/inputs/topologies").glob("*.csv")),
        "t.csv",
        ["trace", "FILE"],
    ),
    "cfg": (
        sorted((ROOT / "tests/fixtures/scalesim/inputs/configs").glob("*.cfg")),
        "a.cfg",
        ["hw", "show", "FILE"],
    ),
    "yaml": (
        sorted((ROOT / "hwmodels/presets").glob("*.yaml")),
        "h.yaml",
        ["simulate", "resnet18", "--hw", "FILE"],
    ),
}
HUGE = [b"99999999999999999999", b"18446744073709551615", b"-1", b"0", b"1e308", b"nan"]


def mutate(data: bytes, rng: random.Random, text: bool) -> bytes:
    """Text formats get printable bytes (a stray non-UTF-8 byte only tests the reader's first
    check); ONNX gets any byte and varints at their largest."""
    b = bytearray(data)
    byte = (lambda: rng.choice(b"0123456789-.,:[]{} \n\"#=eE_abxyz")) if text else (lambda: rng.randrange(256))
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        if not b:
            b = bytearray(b"\x00")
        i = rng.randrange(len(b))
        kind = rng.randrange(9)
        if kind == 0:
            b[i] = byte() if text else b[i] ^ (1 << rng.randrange(8))
        elif kind == 1:
            b[i] = byte() if text else rng.choice([0x00, 0xFF, 0x7F, 0x80])
        elif kind == 2:
            b[i:i] = bytes(byte() for _ in range(rng.randrange(1, 9)))
        elif kind == 3:
            del b[i : i + rng.randrange(1, 17)]
        elif kind == 4:
            n = rng.randrange(1, 257)
            b[i:i] = b[i : i + n]
        elif kind == 5:
            del b[i : i + rng.randrange(1, 513)]
        elif kind == 6:
            del b[rng.randrange(len(b) + 1) :]
        elif kind == 7 and not text:
            # Protobuf varints (and any byte run) at their largest: 10 bytes of 0xff ... 0x01.
            b[i : i + 1] = b"\xff" * 9 + b"\x01"
        else:
            nums = [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?", bytes(b))]
            if nums:
                s, e = rng.choice(nums)
                b[s:e] = rng.choice(HUGE)
    return bytes(b)


def run_case(binary, fmt, name, cmd, data, workdir):
    d = Path(tempfile.mkdtemp(dir=workdir))
    path = d / name
    path.write_bytes(data)
    args = [binary] + [str(path) if a == "FILE" else a for a in cmd]
    start = time.monotonic()
    try:
        p = subprocess.run(args, capture_output=True, timeout=10, cwd=d)
        secs = time.monotonic() - start
        err = p.stderr.decode("utf-8", "replace")
        if "panicked" in err or p.returncode == 101:
            verdict = "panic"
        elif p.returncode < 0:
            verdict = "abort"
        elif p.returncode == 0:
            verdict = "accepted"
        elif p.returncode == 1 and err.startswith("error:"):
            verdict = "clean error"
        else:
            verdict = f"exit {p.returncode}"
    except subprocess.TimeoutExpired:
        secs, verdict = 10.0, "timeout"
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    return fmt, verdict, secs, data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--onnx", type=int, default=10000)
    ap.add_argument("--text", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    out = Path(a.out)
    (out / "failures").mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)
    cases = []
    for fmt, (fixtures, name, cmd) in FORMATS.items():
        if not fixtures:
            sys.exit(f"no fixtures for {fmt}")
        n = a.onnx if fmt == "onnx" else a.text
        blobs = [f.read_bytes() for f in fixtures]
        for _ in range(n):
            cases.append((fmt, name, cmd, mutate(rng.choice(blobs), rng, fmt != "onnx")))
    counts = collections.defaultdict(collections.Counter)
    slowest = collections.defaultdict(float)
    bad = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as work, concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(run_case, a.binary, fmt, name, cmd, data, work) for fmt, name, cmd, data in cases]
        for f in concurrent.futures.as_completed(futs):
            fmt, verdict, secs, data = f.result()
            counts[fmt][verdict] += 1
            slowest[fmt] = max(slowest[fmt], secs)
            if verdict not in ("clean error", "accepted"):
                bad += 1
                (out / "failures" / f"{fmt}-{bad}.bin").write_bytes(data)
    verdicts = ["clean error", "accepted", "panic", "abort", "timeout"]
    others = sorted({v for c in counts.values() for v in c} - set(verdicts))
    lines = [
        f"seed {a.seed}, {len(cases)} cases in {time.monotonic() - t0:.0f} s ({a.jobs} jobs)",
        "",
        "| format | cases | " + " | ".join(verdicts + others) + " | slowest |",
        "|---|---|" + "---|" * (len(verdicts) + len(others)) + "---|",
    ]
    for fmt in FORMATS:
        c = counts[fmt]
        lines.append(
            f"| {fmt} | {sum(c.values())} | "
            + " | ".join(str(c[v]) for v in verdicts + others)
            + f" | {slowest[fmt]:.2f} s |"
        )
    report = "\n".join(lines) + "\n"
    (out / "mutate.md").write_text(report)
    print(report)
    if bad:
        print(f"{bad} cases panicked, aborted, timed out or exited oddly: inputs in {out}/failures/")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

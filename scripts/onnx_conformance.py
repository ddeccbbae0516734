#!/usr/bin/env python3
"""ONNX node-test conformance of vchip's importer.

Generates ONNX's own backend node test cases (`onnx.backend.test.case.node.collect_testcases`, no
network), traces each model with `vchip trace FILE --format json`, and compares every graph output's
shape and dtype with the reference outputs the generator computed. Writes a per-op table.

    python scripts/onnx_conformance.py VCHIP OUT_DIR [--markdown docs/onnx-conformance.md] [--check]

Outcomes per case:
  pass          every graph output present with the reference shape and dtype
  unsupported   a clean error naming an op vchip does not cost (exit 1)
  error         another clean error (exit 1): an input vchip refuses, a shape it cannot infer
  missing       vchip traced the model but a graph output is not in the trace (dropped optional
                outputs, outputs of ops vchip does not materialise)
  wrong_dtype   output present with the reference shape but another dtype class
  wrong_shape   output present with another shape: a silent error
  panic         the process died (exit 101 or a signal) or hung
`--check` exits non-zero on any panic or wrong shape, or (with --min-static-pass P) when fewer
than P % of the static cases pass (the CI gate).
A case is "static" when ONNX's shape inference gives every graph output a fully known shape; the
pass rate is reported over those.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import onnx  # noqa: E402
from onnx import shape_inference  # noqa: E402
from onnx.backend.test.case.node import collect_testcases  # noqa: E402

# vchip's dtype classes (workloads/src/onnx/mod.rs `dtype_of`): everything index-like is int64.
ELEM_CLASS = {
    1: "f32", 11: "f32", 10: "f16", 16: "bf16", 17: "fp8-e4m3", 18: "fp8-e4m3",
    19: "fp8-e5m2", 20: "fp8-e5m2", 2: "int8", 3: "int8", 21: "int4", 22: "int4",
}


def dtype_class(elem_type):
    return ELEM_CLASS.get(elem_type, "int64")


def op_of(case_name, op_names):
    """The op a node test is about, from its name (test_<op snake or lower>_...)."""
    body = case_name[len("test_"):]
    best = None
    for op in op_names:
        for form in {op.lower(), re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()}:
            if (body == form or body.startswith(form + "_")) and (best is None or len(form) > len(best[1])):
                best = (op, form)
    return best[0] if best else body.split("_")[0]


def static_outputs(model):
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:
        return False
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for out in model.graph.output:
        v = known.get(out.name)
        t = v.type.tensor_type if v is not None and v.type.HasField("tensor_type") else None
        if t is None or not t.HasField("shape"):
            return False
        if any(not d.HasField("dim_value") for d in t.shape.dim):
            return False
    return True


def expected_outputs(case):
    """(name, shape, dtype class) of each graph output, from the reference data."""
    outs = []
    ref = case.data_sets[0][1] if case.data_sets else None
    for i, o in enumerate(case.model.graph.output):
        elem = o.type.tensor_type.elem_type if o.type.HasField("tensor_type") else 0
        if ref is not None and i < len(ref) and isinstance(ref[i], np.ndarray):
            shape = list(ref[i].shape)
        else:
            shape = None
        outs.append((o.name, shape, dtype_class(elem)))
    return outs


def classify(vchip, path, expected, timeout):
    try:
        p = subprocess.run([vchip, "trace", path, "--format", "json"], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "panic", "timed out"
    if p.returncode != 0:
        msg = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
        if p.returncode == 1 and msg.startswith("error"):
            if "unsupported" in msg.lower() or "not supported" in msg.lower() or "cannot cost" in msg.lower():
                return "unsupported", msg
            return "error", msg
        return "panic", f"exit {p.returncode}: {msg[:200]}"
    trace = json.loads(p.stdout)
    tensors = {}
    for op in trace["ops"]:
        for t in op.get("inputs", []) + op.get("outputs", []):
            tensors.setdefault(t["name"], (t["shape"], t["dtype"]))
    worst, detail = "pass", ""
    rank = ["pass", "wrong_dtype", "missing", "wrong_shape"]
    for name, shape, cls in expected:
        got = tensors.get(name)
        if got is None:
            outcome, why = "missing", f"output `{name}` not in the trace"
        elif shape is not None and list(got[0]) != shape:
            outcome, why = "wrong_shape", f"`{name}`: vchip {got[0]}, ONNX {shape}"
        elif got[1] != cls:
            outcome, why = "wrong_dtype", f"`{name}`: vchip {got[1]}, ONNX {cls}"
        else:
            continue
        if rank.index(outcome) > rank.index(worst):
            worst, detail = outcome, why
    return worst, detail


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vchip")
    ap.add_argument("out_dir")
    ap.add_argument("--markdown")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--min-static-pass", type=float, default=0.0,
                    help="with --check, also fail below this percentage of static cases passing")
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out_dir, "cases"), exist_ok=True)
    op_names = sorted({s.name for s in onnx.defs.get_all_schemas()})
    cases = collect_testcases(None)
    rows = []
    for c in cases:
        path = os.path.join(a.out_dir, "cases", c.name + ".onnx")
        onnx.save(c.model, path)
        outcome, detail = classify(a.vchip, path, expected_outputs(c), a.timeout)
        rows.append({"case": c.name, "op": op_of(c.name, op_names), "static": static_outputs(c.model),
                     "outcome": outcome, "detail": detail})
    with open(os.path.join(a.out_dir, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    counts = collections.Counter(r["outcome"] for r in rows)
    static = [r for r in rows if r["static"]]
    static_pass = sum(r["outcome"] == "pass" for r in static)
    summary = (f"{len(rows)} node cases (onnx {onnx.__version__}): "
               + ", ".join(f"{k} {counts[k]}" for k in
                           ["pass", "unsupported", "error", "missing", "wrong_dtype", "wrong_shape", "panic"])
               + f"; static cases {len(static)}, passed {static_pass} ({100 * static_pass / max(1, len(static)):.1f} %)")
    print(summary)
    if a.markdown:
        by_op = collections.defaultdict(list)
        for r in rows:
            by_op[r["op"]].append(r)
        lines = [
            "# ONNX node-test conformance",
            "",
            "Generated by `scripts/onnx_conformance.py` (CI runs it with `--check --min-static-pass 85`:",
            "a panic, a wrong shape or fewer than 85 % of the static cases passing fails the build).",
            "Each of ONNX's backend node test cases is traced with",
            "`vchip trace FILE --format json` and every graph output's shape and dtype compared with the",
            "reference outputs. `unsupported`: a clean error naming the op; `error`: another clean error;",
            "`missing`: a graph output not in the trace; `wrong dtype`: another dtype class (vchip keeps",
            "f32, f16, bf16, fp8, int8, int4, and int64 for everything index-like).",
            "",
            summary + ".",
            "",
            "| op | cases | pass | unsupported | error | missing | wrong dtype | wrong shape | panic |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for op in sorted(by_op, key=str.lower):
            rs = by_op[op]
            cnt = collections.Counter(r["outcome"] for r in rs)
            lines.append(f"| {op} | {len(rs)} | " + " | ".join(str(cnt[k]) for k in
                         ["pass", "unsupported", "error", "missing", "wrong_dtype", "wrong_shape", "panic"]) + " |")
        bad = [r for r in rows if r["outcome"] in ("wrong_shape", "panic")]
        if bad:
            lines += ["", "## Wrong shapes and panics", ""]
            lines += [f"- `{r['case']}`: {r['outcome']}: {r['detail']}" for r in bad]
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    if a.check:
        bad = [r for r in rows if r["outcome"] in ("wrong_shape", "panic")]
        for r in bad:
            print(f"FAIL {r['case']}: {r['outcome']}: {r['detail']}", file=sys.stderr)
        rate = 100 * static_pass / max(1, len(static))
        if rate < a.min_static_pass:
            print(f"FAIL static pass rate {rate:.1f} % is below {a.min_static_pass} %", file=sys.stderr)
            sys.exit(1)
        if bad:
            sys.exit(1)


if __name__ == "__main__":
    main()

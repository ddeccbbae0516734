#!/usr/bin/env python3
"""Writes docs/hardware-yaml.md from the schema's source (hwmodels/src/spec/*.rs): every field of
every section with its type and doc comment. Run it after changing the schema;
tests/architecture.rs fails when a schema key is missing from the document."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "hwmodels/src/spec"
# Section path of each struct in the YAML, in document order.
SECTIONS = [
    ("HardwareSpec", "(top level)", "mod.rs"),
    ("DramSpec", "dram", "mod.rs"),
    ("EnergySpec", "energy", "mod.rs"),
    ("SystolicSpec", "systolic", "systolic.rs"),
    ("Buffers", "buffers", "systolic.rs"),
    ("BufferSpec", "buffers.{ifmap,filter,ofmap,shared}", "systolic.rs"),
    ("VectorSpec", "vector", "systolic.rs"),
    ("CpuSpec", "cpu", "cpu.rs"),
    ("GpuSpec", "gpu", "gpu.rs"),
    ("Interconnect", "gpu.interconnect, dataflow.socket_link", "gpu.rs"),
    ("HostMemory", "gpu.host", "gpu.rs"),
    ("McuSpec", "mcu", "mcu.rs"),
    ("SramRegion", "mcu.sram[]", "mcu.rs"),
    ("FlashSpec", "mcu.flash", "mcu.rs"),
    ("NpuSpec", "mcu.npu", "mcu.rs"),
    ("DataflowSpec", "dataflow", "dataflow.rs"),
    ("TierSpec", "dataflow.tiers[]", "dataflow.rs"),
]
TYPES = {
    "Positive": "number > 0",
    "NonNegative": "number >= 0",
    "Count": "integer > 0",
    "bool": "true/false",
    "String": "text",
    "u64": "integer",
}


def fields(src: str, name: str):
    body = re.search(r"pub struct " + name + r" \{(.*?)\n\}", src, re.S).group(1)
    doc, attrs = [], []
    for line in body.splitlines():
        s = line.strip()
        if s.startswith("///"):
            doc.append(s[3:].strip())
        elif s.startswith("#["):
            attrs.append(s)
        elif s.startswith("pub "):
            m = re.match(r"pub (\w+): (.+),$", s)
            key, ty = m.group(1), m.group(2)
            optional = ty.startswith("Option<") or any("default" in a for a in attrs)
            inner = re.sub(r"^Option<(.*)>$", r"\1", ty)
            yield key, TYPES.get(inner, inner), optional, " ".join(doc)
            doc, attrs = [], []


out = [
    "# Hardware description (YAML) reference",
    "",
    "Generated from the schema's source by `scripts/gen_hardware_yaml_doc.py`; every key of every",
    "section, its type, whether it may be left out, and what it means. Unknown keys are errors.",
    "`vchip hw show PRESET` prints a commented example of each kind; `tests/architecture.rs` fails",
    "when a key of the schema is missing here.",
    "",
    "Enumerations: `kind`: systolic, cpu, mcu, gpu, dataflow; `systolic.dataflow`: os,",
    "ws, is; `mcu.core`: cortex-m4f, cortex-m7, cortex-m33, cortex-m55; `mcu.library`: tflm,",
    "cmsis-nn, vendor; `mcu.planner`: tflm, tinyengine; `gpu.tensor_tflops` keys: bf16, f16, tf32,",
    "fp8, int8, int4; `energy.mac_pj` keys: dtype names (f32, f16, bf16, fp8, fp8-e5m2, int8, int4).",
]
for struct, section, file in SECTIONS:
    src = (SPEC / file).read_text()
    out += ["", f"## `{section}`", "", "| key | type | optional | meaning |", "|---|---|---|---|"]
    for key, ty, optional, doc in fields(src, struct):
        ty = ty.replace("|", "\\|")
        out.append(f"| `{key}` | {ty} | {'yes' if optional else 'no'} | {doc.replace('|', '/')} |")
(ROOT / "docs/hardware-yaml.md").write_text("\n".join(out) + "\n")
print("wrote docs/hardware-yaml.md")

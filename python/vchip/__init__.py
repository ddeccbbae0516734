"""vchip in process: networks on virtual chips, for NAS searches and co-design studies.

A query costs a network on a chip without a subprocess (tens of microseconds for an OFA subnet);
batches run in parallel in Rust with the GIL released and keep each candidate's identity; tables
come back as pandas (default), polars or pyarrow tables through Arrow. Errors raise
:class:`VchipError` with the command line's message.

>>> import vchip
>>> r = vchip.simulate("resnet50", "tpu-v1", batch=8)
>>> r.latency_s, r.energy_j
>>> r.steps().head()
>>> vchip.simulate_many(["ofa-mbv3:r=160:d=22222", {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": [224]}], "edge-tpu-like")
"""

from __future__ import annotations

import json
import numbers
import os
import tempfile
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from . import _vchip
from ._vchip import SimResult as _NativeResult
from ._vchip import Trace, VchipError, __version__

__all__ = [
    "VchipError",
    "Trace",
    "Result",
    "trace",
    "simulate",
    "simulate_many",
    "sweep",
    "table",
    "hardware_yaml",
    "arch_spec",
    "zoo",
    "presets",
    "__version__",
]

Model = Union[str, "os.PathLike[str]", Mapping[str, Any]]
Hardware = Union[str, "os.PathLike[str]", Mapping[str, Any]]

# OFA-ResNet50 expand ratios by the index its spec strings use (OFA's `expand_ratio_list`).
_RESNET50_EXPANDS = (0.2, 0.25, 0.35)


def arch_spec(arch: Mapping[str, Any]) -> str:
    """The spec string of an OFA-style ``arch_dict``.

    ``{'ks': [...20], 'e': [...20], 'd': [...5], 'r': [224]}`` is an OFA-MobileNetV3 subnet,
    ``{'d': [...5], 'e': [...18], 'w': [...6], 'r': [224]}`` an OFA-ResNet50 one (expand ratios
    0.2/0.25/0.35 or their indices 0/1/2)."""
    r = arch.get("r", 224)
    if not isinstance(r, (str, bytes)) and hasattr(r, "__len__"):
        r = list(r.tolist() if hasattr(r, "tolist") else r)
        if len(r) != 1:
            raise VchipError(f"arch dict: 'r' holds one resolution, got {r}")
        r = r[0]
    whole = isinstance(r, numbers.Real) and not isinstance(r, bool) and float(r).is_integer()
    if not whole:
        raise VchipError(f"arch dict: 'r' is {r!r}; a resolution is a whole number of pixels such as 224")

    def digits(key: str, values: Iterable[Any]) -> str:
        # The common case first: a list of plain ints 0-9 (what OFA's samplers give) joins as it
        # is; the checks below cost a third of a query.
        if type(values) is list and all(type(v) is int and 0 <= v <= 9 for v in values):
            return "".join(map(str, values))
        out = []
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise VchipError(f"arch dict: '{key}' holds {values!r}; OFA's arch dicts hold a list per key")
        for v in values:
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise VchipError(f"arch dict: '{key}' holds {v!r}; OFA's choices are single digits") from None
            if isinstance(v, bool) or not f.is_integer() or not 0 <= f <= 9:
                raise VchipError(f"arch dict: '{key}' holds {v!r}; OFA's choices are single digits")
            out.append(str(int(f)))
        return "".join(out)

    try:
        if "ks" in arch:
            return "ofa-mbv3:r={}:d={}:ks={}:e={}".format(
                int(r), digits("d", arch["d"]), digits("ks", arch["ks"]), digits("e", arch["e"])
            )
        if "w" in arch:
            expands = []
            for v in arch["e"]:
                if float(v) in _RESNET50_EXPANDS:
                    expands.append(_RESNET50_EXPANDS.index(float(v)))
                else:
                    expands.append(v)
            return "ofa-resnet50:r={}:d={}:e={}:w={}".format(
                int(r), digits("d", arch["d"]), digits("e", expands), digits("w", arch["w"])
            )
    except KeyError as e:
        raise VchipError(f"arch dict: missing key {e}; OFA arch dicts hold ks/e/d/r (MobileNetV3) or d/e/w/r (ResNet50)") from None
    raise VchipError(
        "arch dict: keys ks/e/d/r (OFA-MobileNetV3) or d/e/w/r (OFA-ResNet50) expected, got "
        + ", ".join(sorted(map(str, arch)))
    )


def _model(m: Model) -> str:
    if type(m) is dict:
        # OFA's samplers' dicts of plain ints convert in Rust; anything else is checked here.
        spec = _vchip.ofa_spec(m)
        if spec is not None:
            return spec
    if isinstance(m, Mapping):
        return arch_spec(m)
    if isinstance(m, (str, os.PathLike)):
        return os.fspath(m)
    raise TypeError(f"model: a zoo name, a file path, a spec string or an arch dict, not {type(m).__name__}")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _hw(hw: Hardware) -> tuple:
    """(preset or file, ["key=value", ...]) from a preset name, a path or a dict of overrides on
    a preset: ``{"preset": "tpu-v1", "systolic.rows": 128}``."""
    if isinstance(hw, Mapping):
        base = hw.get("preset", hw.get("base"))
        if base is None:
            raise VchipError('hardware dict: name the description to change with "preset" (e.g. {"preset": "tpu-v1", "systolic.rows": 128})')
        overrides = [f"{k}={_value(v)}" for k, v in hw.items() if k not in ("preset", "base")]
        return os.fspath(base), overrides
    if isinstance(hw, (str, os.PathLike)):
        return os.fspath(hw), []
    raise TypeError(f"hw: a preset name, a YAML/.cfg path or a dict of overrides, not {type(hw).__name__}")


def _frame(t: Any, output: str):
    import pyarrow as pa

    if output == "arrow":
        return pa.table(t)
    if output == "pandas":
        return pa.table(t).to_pandas()
    if output == "polars":
        import polars as pl

        return pl.DataFrame(t)
    raise VchipError(f'output="{output}": use "pandas", "polars" or "arrow"')


def _read(path: str, output: str):
    import pyarrow.parquet as pq

    return _frame(pq.read_table(path), output)


class Result:
    """One network on one chip: totals as attributes (``latency_s``, ``cycles``, ``energy_j``,
    ``power_w``, ``utilization``, ``macs``, ``dram_read_bytes``, ``samples_per_s``, ``fits``,
    ...), the schedule as tables (:meth:`steps`, :meth:`layers`) and everything the command
    line's JSON holds (:meth:`to_dict`, :attr:`serving`)."""

    __slots__ = ("_r",)

    def __init__(self, native: _NativeResult):
        self._r = native

    def __getattr__(self, name: str):
        return getattr(self._r, name)

    def __repr__(self) -> str:
        return repr(self._r)

    def steps(self, output: str = "pandas"):
        """One row per step (a fused group of ops): cycles, stalls, off-chip bytes, energy, bound."""
        return _frame(self._r._steps(), output)

    def layers(self, output: str = "pandas"):
        """One row per op, with the step that runs it."""
        return _frame(self._r._layers(), output)

    def json(self) -> str:
        """``vchip simulate --format json``."""
        return self._r.json()

    def to_dict(self) -> dict:
        return json.loads(self._r.json())

    @property
    def serving(self) -> Optional[dict]:
        """LLM serving figures (``gen=...``): ttft_s, tpot_s, tokens_per_s, kv_cache_bytes, fits."""
        text = self._r.serving_json()
        return None if text is None else json.loads(text)


def trace(model: Model, **opts: Any) -> Trace:
    """The operator trace of ``model`` (zoo name, file, spec string or arch dict).

    Options: batch, seq (or prompt), context, phase, precision, allow_unknown, tp, expert_load,
    expert_parallel, dims (a dict of ONNX symbolic dimensions). ``trace(...).ops_table()`` lists the ops."""
    return _vchip.trace(_model(model), opts)


def _ops_table(self: Trace, output: str = "pandas"):
    """One row per op: name, type, detail, phase, dtype, output shape, MACs, params, bytes."""
    return _frame(self._ops(), output)


Trace.ops_table = _ops_table  # type: ignore[attr-defined]


def simulate(model: Model, hw: Hardware, **opts: Any) -> Result:
    """Simulates ``model`` on ``hw`` (preset, YAML/.cfg path, or a dict of overrides on a preset).

    Options as the command line's flags: batch, seq/prompt, context, phase, precision,
    allow_unknown, tp, expert_load, expert_parallel, dims, lib, npu, cuda_graphs, fusion, compat, gen,
    allow_no_fit. A network that does not fit raises unless ``allow_no_fit=True``."""
    base, overrides = _hw(hw)
    return Result(_vchip.simulate(_model(model), base, overrides, opts))


def simulate_many(
    models: Sequence[Model],
    hw: Hardware,
    ids: Optional[Sequence[Any]] = None,
    output: str = "pandas",
    allow_no_fit: bool = True,
    **opts: Any,
):
    """Simulates every model on ``hw`` in parallel; one row per model, in the order given.

    Columns: ``index`` (position), ``id`` (``ids[i]``, or the spec string), ``model`` (the spec
    string), ``network``, latency_s, cycles, energy_j, power_w, utilization, dram_bytes, macs,
    params, peak_memory_bytes, fits. Networks that do not fit are rows with ``fits`` False
    (``allow_no_fit=False`` raises instead)."""
    if isinstance(models, (str, os.PathLike, Mapping)):
        models = [models]
    specs = [_model(m) for m in models]
    if ids is not None and len(ids) != len(specs):
        raise VchipError(f"ids: {len(ids)} identifiers for {len(specs)} models; give one per model")
    base, overrides = _hw(hw)
    opts["allow_no_fit"] = allow_no_fit
    import pyarrow as pa

    table_ = pa.table(_vchip.simulate_many(specs, base, overrides, opts))
    ids = specs if ids is None else list(ids)
    if output == "pandas":
        df = table_.to_pandas()
        # The caller's objects as they are (mixed types become an object column, never text).
        df.insert(1, "id", ids)
        return df
    try:
        column = pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise VchipError(
            f'ids: these ids have no one Arrow type for output="{output}"; use output="pandas" '
            "(ids kept as Python objects) or ids of one type"
        ) from None
    return _frame(table_.add_column(1, "id", column), output)


def _hw_arg(hw: Union[Hardware, Sequence[str]], tmp: str) -> str:
    """A command-line --hw value: presets (a list makes a preset axis), a path, or a dict of
    overrides written out as YAML."""
    if isinstance(hw, Mapping):
        path = os.path.join(tmp, "hardware.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(hardware_yaml(hw))
        return path
    if isinstance(hw, (list, tuple)):
        return ",".join(os.fspath(h) for h in hw)
    return os.fspath(hw)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# What `vchip sweep` accepts besides its own arguments: the trace options and the engine's.
_SWEEP_OPTIONS = {"batch", "seq", "prompt", "context", "phase", "precision", "allow_unknown",
                  "tp", "expert_load", "expert_parallel", "dims", "fusion", "compat"}
_SWITCHES = {"allow_unknown", "expert_parallel"}  # flags without a value
_ON_OFF = {"fusion", "npu", "cuda_graphs"}  # flags taking on/off


def _flags(opts: Mapping[str, Any], allowed: set, call: str) -> list:
    """Command-line flags for options, checked: an option the command does not take is a
    TypeError naming the ones it does."""
    args = []
    for k, v in opts.items():
        if k not in allowed:
            raise TypeError(f"{call}() got an unexpected option `{k}`; it takes {', '.join(sorted(allowed))}")
        if v is None:
            continue
        if k in _SWITCHES:
            if not isinstance(v, bool):
                raise TypeError(f"option `{k}`: True or False")
            if v:
                args.append(_flag(k))
        elif k in _ON_OFF:
            if isinstance(v, bool):
                v = "on" if v else "off"
            elif v not in ("on", "off"):
                raise TypeError(f'option `{k}`: use True/False or "on"/"off", not {v!r}')
            args += [_flag(k), v]
        elif k == "dims":
            for name, n in dict(v).items():
                args += ["--dim", f"{name}={n}"]
        else:
            if isinstance(v, bool):
                raise TypeError(f"option `{k}`: expected a value, got a bool")
            args += [_flag(k), _value(v)]
    return args


def sweep(
    models: Union[Model, Sequence[Model]],
    hw: Union[Hardware, Sequence[str]],
    set: Mapping[str, Any],
    sample: str = "grid",
    seed: int = 0,
    pareto: Optional[Sequence[str]] = None,
    path: Optional[str] = None,
    output: str = "pandas",
    **opts: Any,
):
    """``vchip sweep`` in process: every point of the hardware axes in ``set`` (``{"systolic.rows":
    [64, 128, 256], "dram.bandwidth_gb_s": "25..400:x2"}``) for every model; one row per
    (point, model) with the model as given and its position (``model_index``), a ``pareto``
    column over the objectives. ``path`` keeps the table (.parquet or .csv)."""
    if isinstance(models, (str, os.PathLike, Mapping)):
        models = [models]
    specs = [_model(m) for m in models]
    with tempfile.TemporaryDirectory(prefix="vchip-sweep-") as tmp:
        out = os.fspath(path) if path is not None else os.path.join(tmp, "sweep.parquet")
        args = ["sweep", *specs, "--hw", _hw_arg(hw, tmp), "--sample", sample, "--seed", str(seed)]
        for k, v in set.items():
            values = v if isinstance(v, str) else ",".join(_value(x) for x in v)
            args += ["--set", f"{k}={values}"]
        if pareto:
            args += ["--pareto", ",".join(pareto)]
        args += ["--parts", os.path.join(tmp, "parts"), "-o", out]
        args += _flags(opts, _SWEEP_OPTIONS, "sweep")
        _vchip.run_cli(args)
        if out.endswith(".csv"):
            import pyarrow.csv as pcsv

            return _frame(pcsv.read_csv(out), output)
        return _read(out, output)


def table(
    space: str,
    hw: Hardware,
    models: Optional[Sequence[Model]] = None,
    resolutions: Optional[Sequence[int]] = None,
    subnets: int = 0,
    seed: int = 0,
    precision: Optional[str] = None,
    output_dir: Optional[str] = None,
    output: str = "pandas",
    **opts: Any,
):
    """``vchip table`` in process: the per-op cost table of a NAS space (``ofa-mbv3``,
    ``ofa-resnet50``, ``fbnet``, ``nasbench201``) or, with ``space="models"``, one row per model
    of ``models`` (as given, in order). ``output_dir`` keeps every file the command writes
    (OFA LUT YAML, HW-NAS-Bench JSON, DyNAS-T CSV, Parquet). Options: lib, npu, cuda_graphs."""
    with tempfile.TemporaryDirectory(prefix="vchip-table-") as tmp:
        out = os.fspath(output_dir) if output_dir is not None else os.path.join(tmp, "table")
        args = ["table", space, "--hw", _hw_arg(hw, tmp), "-o", out, "--seed", str(seed)]
        if space == "models":
            if not models:
                raise VchipError("table('models', ...) needs models=[...]")
            args += ["--models", ",".join(_model(m) for m in models)]
        if resolutions:
            args += ["--resolutions", ",".join(str(r) for r in resolutions)]
        if subnets:
            args += ["--subnets", str(subnets)]
        if precision:
            args += ["--precision", precision]
        args += _flags(opts, {"lib", "npu", "cuda_graphs"}, "table")
        _vchip.run_cli(args)
        main = "networks.parquet" if space == "models" else f"{space}.parquet"
        try:
            return _read(os.path.join(out, main), output)
        except FileNotFoundError:
            # Another writer swapped its table into the same directory between the write and
            # this read (the last table written stays, whole).
            raise VchipError(
                f"{out}: replaced by another table written to the same directory before this one "
                "was read; give each concurrent table its own output_dir"
            ) from None


def hardware_yaml(hw: Hardware) -> str:
    """The resolved hardware description as YAML (``vchip hw show``), overrides applied."""
    base, overrides = _hw(hw)
    return _vchip.hardware_yaml(base, overrides)


def zoo() -> list:
    """The built-in models as (name, description)."""
    return _vchip.zoo()


def presets() -> list:
    """The hardware presets by name."""
    return _vchip.presets()

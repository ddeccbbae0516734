"""Type stubs of the vchip package (the native half is `vchip._vchip`)."""

import os
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__version__: str

Model = Union[str, "os.PathLike[str]", Mapping[str, Any]]
Hardware = Union[str, "os.PathLike[str]", Mapping[str, Any]]

class VchipError(ValueError):
    """Bad input vchip rejects, with the command line's message (file, place and fix)."""

class Trace:
    name: str
    ops: int
    macs: int
    flops: int
    params: int
    active_params: int
    weight_bytes: int
    bytes_read: int
    bytes_written: int
    def ops_table(self, output: str = "pandas") -> Any: ...
    def json(self) -> str: ...

class Result:
    model: str
    hardware: str
    latency_s: float
    cycles: int
    compute_cycles: int
    stall_cycles: int
    energy_j: Optional[float]
    power_w: Optional[float]
    tops_per_watt: Optional[float]
    utilization: float
    macs: int
    dram_read_bytes: int
    dram_write_bytes: int
    samples_per_s: float
    clock_hz: float
    fits: bool
    @property
    def serving(self) -> Optional[dict]: ...
    def steps(self, output: str = "pandas") -> Any: ...
    def layers(self, output: str = "pandas") -> Any: ...
    def json(self) -> str: ...
    def to_dict(self) -> dict: ...

def arch_spec(arch: Mapping[str, Any]) -> str: ...
def trace(
    model: Model,
    *,
    batch: int = ...,
    seq: Optional[int] = ...,
    prompt: Optional[int] = ...,
    context: Optional[int] = ...,
    phase: Optional[str] = ...,
    precision: Optional[str] = ...,
    allow_unknown: bool = ...,
    tp: int = ...,
    expert_load: Optional[str] = ...,
    expert_parallel: bool = ...,
    dims: Optional[Mapping[str, int]] = ...,
) -> Trace: ...
def simulate(
    model: Model,
    hw: Hardware,
    *,
    batch: int = ...,
    seq: Optional[int] = ...,
    prompt: Optional[int] = ...,
    context: Optional[int] = ...,
    phase: Optional[str] = ...,
    precision: Optional[str] = ...,
    allow_unknown: bool = ...,
    tp: int = ...,
    expert_load: Optional[str] = ...,
    expert_parallel: bool = ...,
    dims: Optional[Mapping[str, int]] = ...,
    lib: Optional[str] = ...,
    npu: Union[bool, str, None] = ...,
    cuda_graphs: Union[bool, str, None] = ...,
    fusion: Union[bool, str, None] = ...,
    compat: Optional[str] = ...,
    gen: Optional[int] = ...,
    allow_no_fit: bool = ...,
) -> Result: ...
def simulate_many(
    models: Sequence[Model],
    hw: Hardware,
    ids: Optional[Sequence[Any]] = ...,
    output: str = ...,
    allow_no_fit: bool = ...,
    **opts: Any,
) -> Any: ...
def sweep(
    models: Union[Model, Sequence[Model]],
    hw: Union[Hardware, Sequence[str]],
    set: Mapping[str, Any],
    sample: str = ...,
    seed: int = ...,
    pareto: Optional[Sequence[str]] = ...,
    path: Optional[str] = ...,
    output: str = ...,
    **opts: Any,
) -> Any: ...
def table(
    space: str,
    hw: Hardware,
    models: Optional[Sequence[Model]] = ...,
    resolutions: Optional[Sequence[int]] = ...,
    subnets: int = ...,
    seed: int = ...,
    precision: Optional[str] = ...,
    output_dir: Optional[str] = ...,
    output: str = ...,
    *,
    lib: Optional[str] = ...,
    npu: Union[bool, str, None] = ...,
    cuda_graphs: Union[bool, str, None] = ...,
) -> Any: ...
def hardware_yaml(hw: Hardware) -> str: ...
def zoo() -> List[Tuple[str, str]]: ...
def presets() -> List[str]: ...

#!/usr/bin/env bash
# GPU validation on a machine with a real GPU: runs the wgpu kernels (checked against the CPU, timed
# with timestamp queries), times the same kernels with the vendor libraries through PyTorch where it
# is installed, and validates the host CPU there too. Record the reports in docs/validation.md.
#
# usage: scripts/validate-gpu.sh [OUT_DIR]      (default report-gpu/)
#   VCHIP=path/to/vchip   use a prebuilt binary (machines without a Rust toolchain); else cargo builds it
#   CPU_FULL=1            the full CPU validation instead of --quick
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-report-gpu}
mkdir -p "$OUT"
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  echo "no Vulkan loader (libvulkan.so.1) found: install libvulkan1 and the GPU's Vulkan driver" >&2
  exit 1
fi
if [ -z "${VCHIP:-}" ]; then
  cargo build --release -q || exit 1
  VCHIP=./target/release/vchip
fi
status=0
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
    --format=csv >"$OUT/nvidia-smi.csv" || true
fi
"$VCHIP" validate --device gpu -o "$OUT" || status=1
if [ -f "$OUT/gpu-report.json" ] &&
  python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  python3 scripts/gpu_reference.py "$OUT/gpu-report.json" "$OUT" || status=1
else
  echo "no PyTorch with CUDA here: the vendor-library reference is skipped"
fi
if [ -n "${CPU_FULL:-}" ]; then
  "$VCHIP" validate --device cpu -o "$OUT/cpu" || status=1
else
  "$VCHIP" validate --device cpu --quick -o "$OUT/cpu" || status=1
fi
echo "reports in $OUT/"
exit $status

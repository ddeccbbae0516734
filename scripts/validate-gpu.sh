#!/usr/bin/env bash
# GPU validation on a machine with a real GPU: builds vchip, runs the wgpu kernels (checked against the
# CPU, timed with timestamp queries) and writes the report under report-gpu/. Run it as one prepared
# script on a lent GPU machine and record report-gpu/gpu-report.md in docs/validation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ldconfig -p 2>/dev/null | grep -q libvulkan; then
  echo "no Vulkan loader (libvulkan.so.1) found: install libvulkan1 and the GPU's Vulkan driver" >&2
  exit 1
fi
cargo build --release -q
OUT=${1:-report-gpu}
./target/release/vchip validate --device gpu -o "$OUT"
./target/release/vchip validate --device cpu --quick -o "$OUT/cpu"
echo "reports in $OUT/"

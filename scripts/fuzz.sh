#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, seeded from the repo's fixtures, and prints each
# target's runs, exec/s and corpus size. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). A crash leaves its input under fuzz/artifacts/<target>/: add it to
# tests/fixtures/fuzz/<target>/ so `cargo test` replays it forever.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]   (FUZZ_TARGET_DIR=dir to build elsewhere)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx dsl topology_csv scalesim_cfg hw_yaml hf_config)
seed() {
  local t=$1; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "corpus/$t/"; done
  if [ -d "../tests/fixtures/fuzz/$t" ]; then cp ../tests/fixtures/fuzz/"$t"/* "corpus/$t/" 2>/dev/null || true; fi
}
seed onnx ../tests/fixtures/onnx/*.onnx
seed dsl ../workloads/zoo/*.vnet
seed topology_csv ../tests/fixtures/scalesim/inputs/topologies/*.csv
seed scalesim_cfg ../tests/fixtures/scalesim/inputs/configs/*.cfg
seed hw_yaml ../hwmodels/presets/*.yaml
seed hf_config ../workloads/zoo/*.json
status=0
for t in "${targets[@]}"; do
  log=$(mktemp)
  # Dictionaries of the values that found crashes before (huge counts, rank-0 lists, bad axes).
  dict=dicts/numbers.dict; [ "$t" = onnx ] && dict=dicts/onnx.dict
  if cargo +nightly fuzz run ${FUZZ_TARGET_DIR:+--target-dir "$FUZZ_TARGET_DIR"} "$t" "corpus/$t" -- -dict="$dict" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=65536 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH; status=1
  fi
  stats=$(grep -aE "^#[0-9]+.*(DONE|pulse)" "$log" | tail -1 || true)
  runs=$(echo "$stats" | sed -n 's/^#\([0-9]*\).*/\1/p')
  execs=$(echo "$stats" | sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p')
  corp=$(echo "$stats" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
  printf '%-14s %-5s %8ss  runs %-10s exec/s %-8s corpus %s\n' "$t" "$result" "$secs" "${runs:-?}" "${execs:-?}" "${corp:-?}"
  if [ "$result" = CRASH ]; then grep -aE "panicked|ERROR|SUMMARY|artifact" "$log" | head -8; fi
  rm -f "$log"
done
exit $status

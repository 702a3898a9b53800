#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS]   (default 60, split between the targets)
# Coverage-guided fuzzing of the mm core (rust/mm/fuzz, targets mm_ops:
# buddy + slab + page table, and fault_ops: spaces' fault decisions) with
# cargo-fuzz/libFuzzer. cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP lets the
# stable toolchain accept them. Crashes land in rust/mm/fuzz/artifacts/.
set -euo pipefail
. "$(dirname "$0")/common.sh"
secs=${1:-60}
if ! "$PA_CACHE/tools/bin/cargo-fuzz" --version >/dev/null 2>&1; then
  pa_log "cargo: installing cargo-fuzz"
  cargo install --quiet --locked --root "$PA_CACHE/tools" cargo-fuzz
fi
cd "$PA_REPO/rust/mm"
for target in mm_ops fault_ops; do
  pa_log "fuzzing $target for $((secs / 2)) s"
  RUSTC_BOOTSTRAP=1 "$PA_CACHE/tools/bin/cargo-fuzz" run "$target" -- \
    -max_total_time="$((secs / 2))" -max_len=4096
done

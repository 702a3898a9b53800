#!/usr/bin/env bash
# The fault-path benchmark, run in the guest by `make bench-vm` (perf kernel):
# the arena against native anonymous memory in the same guest and run.
# Usage: scripts/bench.sh path/to/pagearena.ko [pagearena bench arguments]
set -euo pipefail
ko=${1:?usage: scripts/bench.sh pagearena.ko [args]}
shift
insmod "$ko" arena_mb="${ARENA_MB:-256}"
trap 'rmmod pagearena 2>/dev/null || true' EXIT
mkdir -p logs
stamp=$(date +%Y%m%d-%H%M%S)
out=logs/bench-$stamp.json
target/release/pagearena bench --save "$out" "$@"
echo "saved $out"
# Swapping: the tool reloads the module with swap on zram itself.
rmmod pagearena
out=logs/bench-swap-$stamp.json
target/release/pagearena bench-swap --module "$ko" --save "$out" ${SWAP_BENCH_ARGS:-}
echo "saved $out"

#!/usr/bin/env bash
# `make check`: lint, host tests, then the in-guest suite on the debug kernel.
# Ends with one line for the whole run: "check: N passed, N failed".
# Arguments are passed to pagearena-test (e.g. --filter INFO, --selftest fail).
set -uo pipefail
. "$(dirname "$0")/common.sh"
cd "$PA_REPO" || exit 1
mkdir -p logs
host_log=logs/check-host.log
guest_log=logs/check-guest.log

summary() {
  local hp hf gp gf
  hp=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$host_log" 2>/dev/null | awk '{s+=$4} END {print s+0}')
  hf=$(grep -oE '; [0-9]+ failed' "$host_log" 2>/dev/null | awk '{s+=$2} END {print s+0}')
  read -r gp gf < <(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$guest_log" 2>/dev/null | tail -1 | awk '{print $1, $3}')
  gp=${gp:-0}; gf=${gf:-0}
  echo "host tests: $hp passed, $hf failed; guest tests: $gp passed, $gf failed"
  echo "check: $((hp + gp)) passed, $((hf + gf + $1)) failed"
}

: >"$host_log"; : >"$guest_log"
bash scripts/deps.sh || { echo "check: 0 passed, 1 failed"; exit 1; }
pa_log "lint: rustfmt, clippy"
if ! make --no-print-directory lint; then summary 1; exit 1; fi
pa_log "host tests: cargo test"
cargo test --workspace --release 2>&1 | tee "$host_log"
host_rc=${PIPESTATUS[0]}
if [ "$host_rc" != 0 ]; then summary 1; exit 1; fi
if ! bash scripts/module.sh debug || ! make --no-print-directory tools; then summary 1; exit 1; fi
pa_log "guest tests: pagearena-test on the debug kernel"
bash scripts/vm.sh debug -- target/release/pagearena-test --module build/debug/pagearena.ko "$@" 2>&1 | tee "$guest_log"
guest_rc=${PIPESTATUS[0]}
gline=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$guest_log" | tail -1)
extra=0
# A runner that never printed its summary did not finish (boot failure, crash,
# timeout): that is a failure whatever the exit status.
if [ -z "$gline" ]; then guest_rc=1; fi
# A failed guest run that no test counted as failed counts as one failure.
if [ "$guest_rc" != 0 ] && [[ ! "$gline" =~ [1-9][0-9]*\ failed$ ]]; then extra=1; fi
summary "$extra"
[ "$guest_rc" = 0 ]

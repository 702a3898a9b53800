#!/usr/bin/env bash
# The demo `make run` runs in the guest: load the module, show what it says
# about itself, unload. Usage: scripts/demo.sh path/to/pagearena.ko
set -euo pipefail
ko=${1:?usage: scripts/demo.sh pagearena.ko}
cli=target/release/pagearena
insmod "$ko" arena_mb="${ARENA_MB:-64}"
trap 'rmmod pagearena' EXIT
echo "== /dev/pagearena"
ls -l /dev/pagearena
echo "== pagearena info"
"$cli" info
echo "== pagearena info --json"
"$cli" info --json
echo "== kernel log"
dmesg | grep 'pagearena:'

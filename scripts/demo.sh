#!/usr/bin/env bash
# The demo `make run` runs in the guest: load the module, walk through its
# fault handling (zero page, demand zero, clone, copy-on-write), show the
# statistics, unload. Usage: scripts/demo.sh path/to/pagearena.ko
set -euo pipefail
ko=${1:?usage: scripts/demo.sh pagearena.ko}
cli=target/release/pagearena
insmod "$ko" arena_mb="${ARENA_MB:-64}"
trap 'rmmod pagearena; dmesg | grep "pagearena:" | tail -2' EXIT
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
echo "== /dev/pagearena"
ls -l /dev/pagearena
echo "== pagearena info"
"$cli" info
echo
echo "== pagearena demo"
"$cli" demo
echo
echo "== pagearena stats --json"
"$cli" stats --json
echo
echo "== /sys/kernel/debug/pagearena/buddyinfo"
cat /sys/kernel/debug/pagearena/buddyinfo
echo "== /sys/kernel/debug/pagearena/slabinfo"
cat /sys/kernel/debug/pagearena/slabinfo
echo "== kernel log"
dmesg | grep 'pagearena:'

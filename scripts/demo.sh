#!/usr/bin/env bash
# The demo `make run` runs in the guest: load the module, run every checked
# demo (zero page, copy-on-write, fork-COW, a swap round trip through a swap
# file on tmpfs), show the statistics, unload. Fails if a demo's check fails.
# Usage: scripts/demo.sh path/to/pagearena.ko
set -euo pipefail
ko=${1:?usage: scripts/demo.sh pagearena.ko}
cli=target/release/pagearena
# A swap file on a tmpfs of its own (the guest's /tmp is an overlay).
mkdir -p /run/pagearena-demo
mountpoint -q /run/pagearena-demo || mount -t tmpfs tmpfs /run/pagearena-demo
swap=/run/pagearena-demo/swap
truncate -s 16M "$swap"
insmod "$ko" arena_mb="${ARENA_MB:-64}" swap_path="$swap"
trap 'rmmod pagearena; rm -f "$swap"; dmesg | grep "pagearena:" | tail -2' EXIT
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
echo "== /dev/pagearena"
ls -l /dev/pagearena
echo "== pagearena info"
"$cli" info
echo
echo "== pagearena demo all"
"$cli" demo all
echo
echo "== pagearena stat"
"$cli" stat
echo
echo "== pagearena buddyinfo"
"$cli" buddyinfo
echo "== pagearena slabinfo"
"$cli" slabinfo
echo "== /sys/kernel/debug/pagearena/swaps"
cat /sys/kernel/debug/pagearena/swaps
echo "== kernel log"
dmesg | grep 'pagearena:'

#!/usr/bin/env bash
# Regenerates the pictures of Documentation/user-guide.rst into
# logs/docs-images/ (the guest can write logs/ only), and prints each
# command's output, to paste into the guide. Run in a guest, then copy:
#   make vm FLAVOUR=perf CMD='scripts/docs-images.sh build/perf/pagearena.ko'
#   cp logs/docs-images/*.png logs/docs-images/*.svg Documentation/images/
set -euo pipefail
ko=${1:?usage: scripts/docs-images.sh pagearena.ko}
cli=target/release/pagearena
img=logs/docs-images
mkdir -p "$img"
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
echo 64M >/sys/block/zram0/disksize
insmod "$ko" arena_mb=32 swap_path=/dev/zram0
trap 'rmmod pagearena 2>/dev/null || true; echo 1 >/sys/block/zram0/reset' EXIT
run() { echo "\$ pagearena $*"; "$cli" "$@"; echo; }
run info
# Something to watch: a working set of 1.5x the arena, written over and
# over in a random order by a program on the device (python's mmap).
python3 - <<'PY' &
import mmap, os, random
fd = os.open("/dev/pagearena", os.O_RDWR)
n = 12288
m = mmap.mmap(fd, n * 4096)
for i in range(n):
    m[i * 4096] = 1
while True:
    m[random.randrange(n) * 4096] = 2
PY
load=$!
sleep 8
"$cli" top --picture "$img/top.png" -d 0.5 -n 40
"$cli" top --picture "$img/top.svg" -d 0.5 -n 10
run stat -w 1 -n 3
run buddyinfo
run slabinfo
run spaces
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true
exec 3<>/dev/pagearena
# A space held by fd 3: python writes page 0 and reads page 3 through it.
python3 -c 'import mmap; m = mmap.mmap(3, 8 * 4096); m[0] = 120; m[3 * 4096]'
run page 3 0 8
exec 3>&-
run demo cow
run trace -o /run/demo-cow.trace -- "$cli" demo cow >/dev/null
head -5 /run/demo-cow.trace
run replay /run/demo-cow.trace --frames 4,8,16,32
# A synthetic trace: a loop over 300 pages and a hot set of 50, interleaved.
python3 - >/run/mix.trace <<'PY'
import random
random.seed(7)
for i in range(20000):
    print(i % 300 if i % 3 else 1000 + int(random.paretovariate(1.2)) % 50)
PY
run replay /run/mix.trace --steps 12 --plot "$img/replay.png" --plot "$img/replay.svg"
rmmod pagearena
echo 1 >/sys/block/zram0/reset
trap - EXIT
# The fault-path bench needs an arena that holds its workloads.
insmod "$ko" arena_mb=256
run bench --pages 16384 --rounds 5 --plot "$img"
rmmod pagearena
run bench-swap --module "$ko" --mem-mb 16 --policy-mb 8 --rounds 1 --plot "$img"
ls -l "$img"

#!/usr/bin/env bash
# Usage: scripts/vm.sh [FLAVOUR] -- COMMAND [ARG...]
#        scripts/vm.sh [FLAVOUR] --shell 'SHELL COMMAND LINE'
# Boots the FLAVOUR (debug | perf) kernel under QEMU/TCG with virtme-ng, the
# host's root file system (read-only, with writable overlays) and this repo as
# the working directory, runs COMMAND as root in the guest and exits with its
# status. After --, each ARG reaches COMMAND as it is (quoted for the guest's
# shell); --shell passes one command line to the guest's shell verbatim
# (make vm CMD=...). PAGEARENA_VM_PRINT=1 prints that line and exits. The full guest console log is saved to logs/vm-FLAVOUR-<time>.log
# (path printed at the end; also in logs/vm-FLAVOUR-last.log).
# Environment: PAGEARENA_VM_MEM (default 2G), PAGEARENA_VM_CPUS (default 2),
# PAGEARENA_VM_TIMEOUT in seconds (default 900).
set -euo pipefail
. "$(dirname "$0")/common.sh"

flavour=debug
if [ $# -gt 0 ] && [ "$1" != -- ] && [ "$1" != --shell ]; then flavour=$1; shift; fi
usage="usage: scripts/vm.sh [debug|perf] -- COMMAND [ARG...] | --shell 'COMMAND LINE'"
if [ "${1:-}" = --shell ]; then
  [ $# = 2 ] && [ -n "$2" ] || pa_die "$usage"
  cmd=$2
else
  [ "${1:-}" = -- ] && shift
  [ $# -gt 0 ] || pa_die "$usage"
  cmd=$(printf '%q ' "$@")
  cmd=${cmd% }
fi
if [ -n "${PAGEARENA_VM_PRINT:-}" ]; then printf '%s\n' "$cmd"; exit 0; fi

build=$(bash "$PA_REPO/scripts/kernel.sh" "$flavour")
mkdir -p "$PA_REPO/logs"
log="$PA_REPO/logs/vm-$flavour-$(date +%Y%m%d-%H%M%S).log"
export PATH="$PA_CACHE/venv/bin:$PATH"

start=$SECONDS
set +e
# --verbose sends the kernel console to stderr (into the log); the command's
# own stdout/stderr come through virtio ports to our stdout.
timeout --foreground "${PAGEARENA_VM_TIMEOUT:-900}" \
  "$PA_VNG" --run "$build/arch/x86/boot/bzImage" --disable-kvm \
  --cpus "${PAGEARENA_VM_CPUS:-2}" -m "${PAGEARENA_VM_MEM:-2G}" --user root \
  --cwd "$PA_REPO" --rwdir "$PA_REPO/logs" --verbose --exec "$cmd" 2>"$log"
rc=$?
set -e
ln -sfn "$(basename "$log")" "$PA_REPO/logs/vm-$flavour-last.log"
secs=$((SECONDS - start))
[ $rc = 124 ] && pa_log "guest timed out after ${PAGEARENA_VM_TIMEOUT:-900} s"
boot=$(grep -m1 -o '^\[ *[0-9.]*\] Run .* as init process' "$log" | grep -o '[0-9.]*' | head -1 || true)
pa_log "guest ($flavour) exited with status $rc after $secs s (init started at ${boot:-?} s guest time); console log: $log"
exit $rc

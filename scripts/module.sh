#!/usr/bin/env bash
# Usage: scripts/module.sh FLAVOUR        build against our cached FLAVOUR kernel
#        scripts/module.sh --kdir DIR     build against any Rust-enabled 7.3 tree
# Builds pagearena.ko into build/FLAVOUR (or build/custom). Against our own
# kernels the build runs the kernel's clippy lints (CLIPPY=1) and fails on
# any warning: rustc, clippy or objtool.
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ "${1:-}" = --kdir ]; then
  kdir=${2:?usage: scripts/module.sh --kdir DIR}
  out="$PA_REPO/build/custom"
  strict=0
  extra=()
else
  flavour=${1:-debug}
  kdir=$(bash "$PA_REPO/scripts/kernel.sh" "$flavour")
  out="$PA_REPO/build/$flavour"
  strict=1
  extra=(CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver)
fi
mkdir -p "$out"
set +e
make -s -C "$kdir" M="$PA_REPO" MO="$out" LLVM="${LLVM:-$PA_LLVM}" RUSTC="${KRUSTC:-$PA_RUSTC}" \
  "${extra[@]}" modules >"$out/build.log" 2>&1
rc=$?
set -e
cat "$out/build.log" >&2
[ $rc = 0 ] || pa_die "module build failed (log: $out/build.log)"
if [ $strict = 1 ] && grep -qiE 'warning|error' "$out/build.log"; then
  pa_die "module build has warnings; they are errors here (log: $out/build.log)"
fi
pa_log "built $out/pagearena.ko"

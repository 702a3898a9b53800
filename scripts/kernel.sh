#!/usr/bin/env bash
# Usage: scripts/kernel.sh FLAVOUR   (debug | perf)
#        scripts/kernel.sh --cached FLAVOUR: print the build directory if that
#        kernel is already built (exit 0), else exit 1; never builds.
# Fetches the Debian linux-source-$PA_KSERIES tree (once), configures it as
# tinyconfig + scripts/config/base.config + scripts/config/FLAVOUR.config and
# builds it out of tree, cached under
#   $PA_CACHE/build/<kernel version>-<flavour>-<fragment hash>/
# Prints that build directory on stdout. A cached build costs nothing.
# PAGEARENA_REFRESH_SOURCE=1 asks the archive for a newer package first.
set -euo pipefail
. "$(dirname "$0")/common.sh"

cached_only=0
if [ "${1:-}" = --cached ]; then cached_only=1; shift; fi
flavour=${1:-debug}
[ -f "$PA_REPO/scripts/config/$flavour.config" ] || pa_die "unknown flavour '$flavour' (debug or perf)"

# The build directory of this flavour, from the unpacked source (empty if none).
build_dir() {
  local src kver hash
  src=$(readlink -f "$PA_CACHE/src/current-$PA_KSERIES" 2>/dev/null) || return 0
  [ -f "$src/.pagearena-unpacked" ] || return 0
  kver=$(make -s -C "$src" kernelversion)
  # Bump recipe when the way the kernel is built changes (not for edits that don't).
  hash=$( (echo "recipe 1"; cat "$PA_REPO/scripts/config/base.config" "$PA_REPO/scripts/config/$flavour.config") | sha256sum | cut -c1-12)
  echo "$PA_CACHE/build/$kver-$flavour-$hash"
}
built() { [ -n "$1" ] && [ -f "$1/.pagearena-built" ] && [ -f "$1/arch/x86/boot/bzImage" ]; }

if [ $cached_only = 1 ]; then
  b=$(build_dir)
  built "$b" || exit 1
  echo "$b"
  exit 0
fi
# Built already: no need to wait for the lock (another flavour's build
# holds it for minutes).
if [ "${PAGEARENA_REFRESH_SOURCE:-0}" != 1 ]; then
  b=$(build_dir)
  if built "$b"; then
    echo "$b"
    exit 0
  fi
fi
mkdir -p "$PA_CACHE/src" "$PA_CACHE/build"

# One kernel build at a time per cache (two flavours share the source tree).
exec 9>"$PA_CACHE/kernel.lock"
flock 9

fetch_source() {
  local apt="$PA_CACHE/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$apt/prefs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main" >"$apt/sources.list"
  # A private apt configuration: the machine's own sources and pins are untouched.
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
    -o "Dir::Etc::Preferences=$apt/prefs/none" -o "Dir::Etc::PreferencesParts=$apt/prefs"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
  pa_log "apt: reading trixie-backports for linux-source-$PA_KSERIES"
  apt-get "${opts[@]}" update -qq || pa_die "apt-get update of trixie-backports failed"
  local ver
  ver=$(apt-cache "${opts[@]}" show "linux-source-$PA_KSERIES" 2>/dev/null | awk '/^Version:/ {print $2; exit}') || true
  [ -n "$ver" ] || pa_die "linux-source-$PA_KSERIES is no longer in Debian trixie-backports.
  Set PAGEARENA_KSERIES (scripts/common.sh) to a series the archive has
  (apt-cache search linux-source with trixie-backports enabled), check that its
  Rust support still builds the module, and update Documentation/build-and-test.rst."
  local dir="$PA_CACHE/src/linux-source-$ver"
  if [ ! -f "$dir/.pagearena-unpacked" ]; then
    pa_log "apt: downloading linux-source-$PA_KSERIES $ver"
    (cd "$apt/cache" && apt-get "${opts[@]}" download "linux-source-$PA_KSERIES=$ver" >/dev/null)
    local deb
    deb=$(ls "$apt/cache"/linux-source-"$PA_KSERIES"_*.deb | tail -1)
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" --wildcards '*.tar.xz'
    pa_log "unpacking $(basename "$deb")"
    tar -xJf "$dir.tmp"/usr/src/linux-source-"$PA_KSERIES".tar.xz -C "$dir.tmp"
    rm -rf "$dir" && mv "$dir.tmp/linux-source-$PA_KSERIES" "$dir" && rm -rf "$dir.tmp" "$deb"
    touch "$dir/.pagearena-unpacked"
  fi
  ln -sfn "$dir" "$PA_CACHE/src/current-$PA_KSERIES"
}

if [ ! -f "$PA_CACHE/src/current-$PA_KSERIES/.pagearena-unpacked" ] || [ "${PAGEARENA_REFRESH_SOURCE:-0}" = 1 ]; then
  fetch_source
fi
src=$(readlink -f "$PA_CACHE/src/current-$PA_KSERIES")
kver=$(make -s -C "$src" kernelversion)
build=$(build_dir)

if built "$build"; then
  echo "$build"
  exit 0
fi

kmake=(make -C "$src" O="$build" LLVM="$PA_LLVM" RUSTC="$PA_RUSTC" HOSTRUSTC="$PA_RUSTC" BINDGEN="$PA_BINDGEN")
pa_log "configuring $kver ($flavour) in $build"
mkdir -p "$build"
"${kmake[@]}" -s tinyconfig >/dev/null
(cd "$build" && "$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" \
  "$PA_REPO/scripts/config/base.config" "$PA_REPO/scripts/config/$flavour.config" >/dev/null)
"${kmake[@]}" -s olddefconfig >/dev/null
# olddefconfig drops what it cannot satisfy without a word: say it loudly.
for want in CONFIG_RUST=y CONFIG_ADVISE_SYSCALLS=y CONFIG_CROSS_MEMORY_ATTACH=y CONFIG_IO_URING=y \
  CONFIG_MEMBARRIER=y CONFIG_RSEQ=y CONFIG_SECCOMP=y CONFIG_KCMP=y CONFIG_TRANSPARENT_HUGEPAGE=y \
  $( [ "$flavour" = debug ] && echo CONFIG_KASAN=y CONFIG_PROVE_LOCKING=y CONFIG_DEBUG_VM=y); do
  grep -qx "$want" "$build/.config" || pa_die "$want did not survive olddefconfig in $build/.config.
  For CONFIG_RUST: run '${kmake[*]} rustavailable' to see why Rust is unavailable."
done
jobs=$(( $(nproc) + 1 ))
pa_log "building $kver ($flavour) with -j$jobs: about 6-9 minutes on 2 cores; log in $build/build.log"
start=$SECONDS
if ! "${kmake[@]}" -j"$jobs" >"$build/build.log" 2>&1; then
  tail -40 "$build/build.log" >&2
  pa_die "kernel build failed; full log: $build/build.log"
fi
touch "$build/.pagearena-built"
pa_log "kernel $kver ($flavour) built in $((SECONDS - start)) s"
echo "$build"

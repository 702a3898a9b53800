#!/usr/bin/env bash
# Install everything pagearena needs on a fresh Debian 12 machine: idempotent,
# cheap when everything is already there. Needs root (apt) the first time.
set -euo pipefail
. "$(dirname "$0")/common.sh"

APT_PKGS=(rustc-web rust-web-src rust-web-clippy clang-22 lld-22 llvm-22 libclang-22-dev
  flex bison bc libelf-dev libssl-dev cpio kmod xz-utils make
  qemu-system-x86 udev busybox-static python3-venv
  gcc libc6-dev linux-libc-dev fonts-dejavu-core
  stress-ng sqlite3 python3)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  pa_log "apt: installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || pa_die "need root to apt-get install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x "$PA_RUSTC" ] || pa_die "$PA_RUSTC missing after installing rustc-web"

mkdir -p "$PA_CACHE"

# bindgen-cli: Debian's is too old for 7.3 (needs >= 0.71.1).
if ! "$PA_BINDGEN" --version 2>/dev/null | grep -q "$PA_BINDGEN_VERSION"; then
  pa_log "cargo: installing bindgen-cli $PA_BINDGEN_VERSION (about 3 minutes)"
  cargo install --quiet --locked --root "$PA_CACHE/tools" bindgen-cli --version "$PA_BINDGEN_VERSION"
fi

# virtme-ng in its own venv, so the system Python is left alone.
if ! "$PA_VNG" --version 2>/dev/null | grep -q "$PA_VNG_VERSION"; then
  pa_log "pip: installing virtme-ng $PA_VNG_VERSION"
  python3 -m venv "$PA_CACHE/venv"
  "$PA_CACHE/venv/bin/pip" install --quiet --disable-pip-version-check "virtme-ng==$PA_VNG_VERSION"
fi

# vng talks to the guest through /dev/virtio-ports, which needs udev running
# in the guest; the guest runs the host's udevd binary.
[ -x /lib/systemd/systemd-udevd ] || [ -x /usr/lib/systemd/systemd-udevd ] || pa_die "systemd-udevd missing (package udev)"
pa_log "dependencies OK"

# Shared settings for pagearena's scripts. Source it; do not run it.
# shellcheck shell=bash

# Where everything that outlives a clone goes: toolchain bits, kernel source and builds.
PA_CACHE=${PAGEARENA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pagearena}
# Kernel series we build against (Debian package linux-source-$PA_KSERIES).
PA_KSERIES=${PAGEARENA_KSERIES:-7.3}
PA_BINDGEN_VERSION=0.72.1
PA_VNG_VERSION=1.42
PA_LLVM=-22
# The kernel and the module must be built with Debian's rustc-web (has rust-src),
# never with the rustup toolchain that comes first on PATH.
PA_RUSTC=/usr/bin/rustc
PA_BINDGEN=$PA_CACHE/tools/bin/bindgen
PA_VNG=$PA_CACHE/venv/bin/vng
PA_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

export LIBCLANG_PATH=/usr/lib/llvm-22/lib
# rustup's cargo, even where the caller's PATH lacks it (e.g. a trimmed CI env).
command -v cargo >/dev/null 2>&1 || export PATH="$HOME/.cargo/bin:$PATH"

pa_log() { printf '\033[1m[pagearena]\033[0m %s\n' "$*" >&2; }
pa_die() { printf '\033[1;31m[pagearena] error:\033[0m %s\n' "$*" >&2; exit 1; }

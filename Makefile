# SPDX-License-Identifier: GPL-2.0
#
# pagearena: the two commands a user needs are
#   make run     build everything (first time: installs and builds all), boot a
#                guest, load the module, run the demo
#   make check   host tests, then the in-guest test suite on the debug kernel
# See README.md and Documentation/build-and-test.rst.
#
# Kbuild reads ./Kbuild for the module itself; this Makefile is only the driver.

SHELL := /bin/bash
REPO := $(CURDIR)
FLAVOUR ?= debug

# Toolchain for the module: scripts/common.sh (override with LLVM=, KRUSTC=).

# Host tools and tests use the rustup toolchain (cargo, rustfmt, clippy),
# from ~/.cargo/bin where PATH does not have it.
ifeq ($(shell command -v cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif
CARGO ?= cargo

.PHONY: all modules module deps kernel tools lint check run vm vm-print fuzz bench bench-vm clean distclean-cache help

all: modules

help:
	@sed -n '3,8p' Makefile
	@echo "  make modules [KDIR=/path/to/kernel/build]  build pagearena.ko (default: our $(FLAVOUR) kernel)"
	@echo "  make vm CMD='...' [FLAVOUR=debug|perf]       run a command line in a guest, verbatim"
	@echo "  make vm-print CMD='...'                      print the line the guest would run"
	@echo "  make kernel FLAVOUR=debug|perf               build (or reuse) a guest kernel"
	@echo "  make bench-vm [BENCH_ARGS='--pages N --rounds R']  arena vs native: faults, then swapping (perf guest)"
	@echo "  make fuzz | make bench | make clean | make distclean-cache"

deps:
	@bash scripts/deps.sh

kernel: deps
	@bash scripts/kernel.sh $(FLAVOUR) >/dev/null

# With KDIR: build against that (Rust-enabled 7.3) kernel tree into build/custom.
# Without: against our cached kernel of FLAVOUR into build/FLAVOUR, with the
# kernel's clippy lints and every warning an error.
ifdef KDIR
modules module:
	@bash scripts/module.sh --kdir $(KDIR)
else
modules module: kernel
	@bash scripts/module.sh $(FLAVOUR)
endif

# The C samples are built beside the Rust ones, against the C uapi header.
tools:
	@$(CARGO) build --release --quiet --workspace --bins
	@$(CARGO) build --release --quiet -p pagearena-shim
	@for c in samples/c/*.c; do \
	  cc -std=c11 -Wall -Wextra -Werror -O2 -I tools/include/uapi "$$c" -o "target/release/$$(basename "$$c" .c)-c" || exit 1; \
	done
	@for c in tools/guest-c/*.c; do \
	  cc -std=gnu11 -Wall -Wextra -Werror -O2 "$$c" -o "target/release/$$(basename "$$c" .c)" -lpthread || exit 1; \
	done

# rustfmt (the kernel's .rustfmt.toml settings) and clippy on everything host-side;
# the module gets the kernel's own clippy lints in scripts/module.sh.
lint:
	@$(CARGO) fmt --all --check
	@rustfmt --edition 2021 --check $(wildcard rust/*.rs)
	@$(CARGO) clippy --quiet --workspace --all-targets --release -- -D warnings

# SELFTEST=fail adds a deliberately failing test; SELFTEST=warn loads the module
# with selftest_warn=1 (a WARN at load); SELFTEST=hang adds a test that never
# returns (with TEST_ARGS='--timeout 5'). Each must make `make check` fail.
GUEST_TEST_FLAGS := $(if $(SELFTEST),--selftest $(SELFTEST)) $(TEST_ARGS)

check:
	@bash scripts/check.sh $(GUEST_TEST_FLAGS)

# The demo runs on the perf kernel if it is built, else on the debug kernel
# (building it if need be: the one make check needs), so a newcomer's make run
# and make check build one kernel between them. FLAVOUR=... chooses.
ifeq ($(origin FLAVOUR),command line)
RUN_FLAVOUR = $(FLAVOUR)
else
RUN_FLAVOUR = $$(bash scripts/kernel.sh --cached perf >/dev/null && echo perf || echo debug)
endif

run: deps
	@f=$(RUN_FLAVOUR); \
	echo "make run: the demo on the $$f kernel"; \
	$(MAKE) --no-print-directory modules FLAVOUR=$$f && \
	$(MAKE) --no-print-directory tools && \
	bash scripts/vm.sh $$f -- scripts/demo.sh build/$$f/pagearena.ko

# CMD reaches the guest's shell verbatim: $(value) keeps make from expanding
# its `$`s, and the single quotes (each ' in it written '\'') keep the
# host's shell out of it. `make vm-print CMD=...` shows what the guest runs.
VM_CMD = '$(subst ','\'',$(value CMD))'

vm: deps
	@test -n $(VM_CMD) || { echo "usage: make vm CMD='command' [FLAVOUR=debug|perf]"; exit 2; }
	@$(MAKE) --no-print-directory modules FLAVOUR=$(FLAVOUR)
	@$(MAKE) --no-print-directory tools
	@bash scripts/vm.sh $(FLAVOUR) --shell $(VM_CMD)

vm-print:
	@PAGEARENA_VM_PRINT=1 bash scripts/vm.sh $(FLAVOUR) --shell $(VM_CMD)

fuzz:
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench:
	$(CARGO) bench -p pagearena-mm

# The fault-path benchmark in the perf guest: arena vs native, same run.
bench-vm: deps
	@$(MAKE) --no-print-directory modules FLAVOUR=perf
	@$(MAKE) --no-print-directory tools
	@bash scripts/vm.sh perf -- scripts/bench.sh build/perf/pagearena.ko $(BENCH_ARGS)

clean:
	rm -rf build target logs

distclean-cache:
	@. scripts/common.sh && echo "rm -rf $$PA_CACHE" && rm -rf "$$PA_CACHE"

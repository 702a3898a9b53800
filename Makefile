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
CACHE := $(or $(PAGEARENA_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pagearena)

# Toolchain for the module: must match the kernel's (see scripts/common.sh).
LLVM ?= -22
KRUSTC ?= /usr/bin/rustc
KMAKE_FLAGS = LLVM=$(LLVM) RUSTC=$(KRUSTC)

# Host tools and tests use the rustup toolchain (cargo on PATH).
CARGO ?= cargo
TOOLS_DIR := $(REPO)/target/release
TEST_RUNNER := $(TOOLS_DIR)/pagearena-test
CLI := $(TOOLS_DIR)/pagearena

.PHONY: all modules module deps kernel tools host-test check run vm demo fuzz bench clean distclean-cache help

all: modules

help:
	@sed -n '3,8p' Makefile
	@echo "  make modules [KDIR=/path/to/kernel/build]  build pagearena.ko (default: our $(FLAVOUR) kernel)"
	@echo "  make vm CMD='...' [FLAVOUR=debug|perf]       run a command in a guest"
	@echo "  make kernel FLAVOUR=debug|perf               build (or reuse) a guest kernel"
	@echo "  make fuzz | make bench | make clean | make distclean-cache"

deps:
	@bash scripts/deps.sh

kernel: deps
	@bash scripts/kernel.sh $(FLAVOUR) >/dev/null

# With KDIR: build against that (Rust-enabled 7.3) kernel tree into build/custom.
# Without: against our cached kernel of FLAVOUR into build/FLAVOUR.
ifdef KDIR
MODULE_OUT := $(REPO)/build/custom
modules module:
	@mkdir -p $(MODULE_OUT)
	$(MAKE) -C $(KDIR) M=$(REPO) MO=$(MODULE_OUT) $(KMAKE_FLAGS) modules
	@echo "built $(MODULE_OUT)/pagearena.ko"
else
MODULE_OUT := $(REPO)/build/$(FLAVOUR)
modules module: kernel
	@mkdir -p $(MODULE_OUT)
	@$(MAKE) -s -C "$$(bash scripts/kernel.sh $(FLAVOUR))" M=$(REPO) MO=$(MODULE_OUT) $(KMAKE_FLAGS) modules
	@echo "built $(MODULE_OUT)/pagearena.ko"
endif

tools:
	@$(CARGO) build --release --quiet --workspace --bins

host-test:
	$(CARGO) test --workspace --release

# SELFTEST=fail adds a deliberately failing test; SELFTEST=warn loads the module
# with selftest_warn=1 (a WARN at load). Both must make `make check` fail.
GUEST_TEST_FLAGS := $(if $(SELFTEST),--selftest $(SELFTEST)) $(TEST_ARGS)

check: deps host-test
	@$(MAKE) --no-print-directory modules FLAVOUR=debug
	@$(MAKE) --no-print-directory tools
	@bash scripts/vm.sh debug -- $(TEST_RUNNER) --module build/debug/pagearena.ko $(GUEST_TEST_FLAGS)

run: deps
	@$(MAKE) --no-print-directory modules FLAVOUR=perf
	@$(MAKE) --no-print-directory tools
	@bash scripts/vm.sh perf -- scripts/demo.sh build/perf/pagearena.ko

vm: deps
	@test -n "$(CMD)" || { echo "usage: make vm CMD='command' [FLAVOUR=debug|perf]"; exit 2; }
	@$(MAKE) --no-print-directory modules FLAVOUR=$(FLAVOUR)
	@$(MAKE) --no-print-directory tools
	@bash scripts/vm.sh $(FLAVOUR) -- $(CMD)

fuzz:
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench:
	$(CARGO) bench -p pagearena-mm

clean:
	rm -rf build target logs

distclean-cache:
	rm -rf $(CACHE)

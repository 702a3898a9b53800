//! `libpagearena_shim.so`: preloaded by `pagearena run -- CMD`, it backs the
//! program's private anonymous memory and heap with spaces of
//! `/dev/pagearena`, keeping the semantics of anonymous memory.
//!
//! * `mmap(MAP_PRIVATE | MAP_ANONYMOUS)` without `PROT_EXEC`, `MAP_HUGETLB`
//!   or `MAP_GROWSDOWN` (`MAP_STACK` is served) maps a range of a space file
//!   (`PAGEARENA_IOC_NEW_SPACE`, fork-COW mode: a `fork()` child sees a
//!   copy-on-write snapshot). Everything else goes to the kernel.
//! * `munmap`, `madvise(MADV_DONTNEED | MADV_FREE)` punch a hole in the
//!   space (`MADV_REMOVE`): the frames and swap slots go, the range reads
//!   zeroes on its next touch, as anonymous memory does.
//! * `mremap` of arena memory grows in place (the offsets after a mapping
//!   are reserved for it) or moves, copying only where the kernel cannot
//!   move the pages (a fork child's inherited mapping).
//! * `mprotect` adding `PROT_EXEC` moves the range to kernel memory first
//!   (the arena's files are on a `noexec` pseudo file system).
//! * `malloc` and friends: `dlmalloc` over arena mappings (glibc's own
//!   `malloc` maps memory with internal calls a preload cannot see).
//!
//! When the device is missing or the arena cannot hold a mapping (its free
//! frames plus free swap slots are fewer than the mapping's pages), the
//! shim says so once on stderr and uses kernel memory; with
//! `PAGEARENA_SHIM_ARENA_ONLY=1` that mapping fails with `ENOMEM` instead.
//! `PAGEARENA_SHIM_REPORT=PATH` writes what was served where at exit.

pub mod regions;

#[cfg(not(test))]
mod preload;

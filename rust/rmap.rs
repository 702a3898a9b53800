// SPDX-License-Identifier: GPL-2.0

//! The reverse map: from a space's page to every user PTE that maps it, in
//! every process (`mm/rmap.c`, for file pages).
//!
//! Every VMA of a space is in its file's `address_space` (`i_mmap`, an
//! interval tree by page offset), which the kernel keeps up to date through
//! `mmap`, `fork`, `munmap` and `exit`: the `/dev/pagearena` inode's, shared
//! by every space opened there, or a space file's own (`crate::pseudo_fs`).
//! Each space of the device inode owns a disjoint window of page offsets:
//! `mmap` moves a mapping of page `i` to `pgoff_base + i`; a space file's
//! window starts at 0. So "zap page `i` of this space everywhere" is
//! `unmap_mapping_range` over one page of the window: the kernel walks the
//! interval tree and clears the PTE in each VMA found, in whatever process it
//! is, without taking those processes' mmap locks (as truncate does).
//!
//! A space made by `fork()` of a fork-COW space inherits its parent's window
//! (the child's VMAs keep the parent's offsets), so zapping either zaps both:
//! a spurious zap only costs the other side a minor fault, never correctness.
//! For the frame → page direction, a private data frame records its space and
//! page index in its descriptor (`owner`, `index`).
//!
//! A write fault makes its PTE after it drops the space's mutex, so that
//! two threads of one space fault in parallel (the mutex is held for the
//! core's decision only, as `mm/memory.c` holds a page-table lock for a
//! page, not the whole mm). It registers the insert under the mutex
//! ([`Window::begin_insert`]) and ends it once the PTE is made; every zap of
//! the space's PTEs is made under the mutex and first waits until no insert
//! is in flight ([`Window::zap`]). So a PTE made from a decision taken
//! before an entry changed is made before that change's zap, which removes
//! it: the frame-lifetime protocol at the top of `rust/pagearena_main.rs`
//! (rule 1) holds as if the PTE had been made under the mutex. The wait is
//! short (one `vmf_insert_pfn`), needs nothing the zapper holds (the insert
//! takes the faulting mm's page-table locks and may allocate page tables;
//! no lock of ours), and cannot be joined by new inserts (they register
//! under the mutex the zapper holds).

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::bindings;

/// The window of page offsets of one space in the device file's mapping.
///
/// # Invariants
///
/// `mapping` is the `address_space` of a file of the space (the
/// `/dev/pagearena` inode's, or a space file's own). It is valid while the space has a file or a VMA (which
/// holds a file of the device); a fork child's and parent's references to
/// each other end at those too. Reclaim may hold a space past its last file
/// and VMA (a reference from the registry): it zaps only while a VMA is
/// counted under the space's mutex (`crate::vmscan`), and a space with no
/// VMA has no PTE to zap. Every other zap comes from a fault, an ioctl or a
/// VMA callback, through a live file.
pub struct Window {
    mapping: *mut bindings::address_space,
    /// Page offset of page 0 of the space.
    pub base: usize,
    /// Pages in the window.
    pub pages: usize,
    /// Write faults of this space between their decision (under the
    /// space's mutex) and their PTE.
    inserting: AtomicUsize,
}

// SAFETY: `unmap_mapping_range` may be called from any thread; the pointer is
// only passed to it.
unsafe impl Send for Window {}
// SAFETY: As above: through `&Window` the pointer is only passed to that
// call; the other fields are plain data and an atomic.
unsafe impl Sync for Window {}

impl Window {
    /// The window at `base` of `pages` pages in `file`'s mapping.
    pub fn new(file: &kernel::fs::File, base: usize, pages: usize) -> Self {
        // SAFETY: `file` is valid; `f_mapping` is set at open and not changed
        // for a device file.
        let mapping = unsafe { (*file.as_ptr()).f_mapping };
        Self {
            mapping,
            base,
            pages,
            inserting: AtomicUsize::new(0),
        }
    }

    /// A window for a child space: the same mapping and offsets.
    pub fn inherit(&self) -> Self {
        Self {
            mapping: self.mapping,
            base: self.base,
            pages: self.pages,
            inserting: AtomicUsize::new(0),
        }
    }

    /// A fault is about to make a PTE after dropping the space's mutex,
    /// which the caller holds (see the module documentation); the returned
    /// guard ends the insert when dropped, once the PTE is made.
    pub fn begin_insert(&self) -> InsertGuard<'_> {
        // Relaxed: the mutex's release publishes it to the next holder.
        self.inserting.fetch_add(1, Ordering::Relaxed);
        InsertGuard(self)
    }

    /// Waits until no PTE insert decided under the space's mutex (which the
    /// caller holds) is in flight: a short spin (an insert is one
    /// `vmf_insert_pfn`), then sleeps of 20 microseconds, so that an
    /// inserter preempted on this CPU, or sleeping for a page-table page,
    /// runs whatever the zapper's priority. (Lockdep does not see this
    /// wait: nothing between `begin_insert` and the guard's drop may take a
    /// lock of ours.)
    pub fn wait_inserts(&self) {
        // Acquire, paired with the guard's release: the insert's PTE is
        // in place (under its page-table lock) before the count drops.
        let mut spins = 0u32;
        while self.inserting.load(Ordering::Acquire) != 0 {
            if spins < 64 {
                spins += 1;
                kernel::processor::cpu_relax();
            } else {
                // Over 10 us: `fsleep` sleeps (`usleep_range`), it does
                // not spin (`udelay`).
                kernel::time::delay::fsleep(kernel::time::Delta::from_micros(20));
            }
        }
    }

    /// Zaps the user PTEs of pages `start..start + nr` of the space in every
    /// process that maps them. The next access faults. The caller holds the
    /// space's mutex: inserts in flight are waited for first.
    pub fn zap(&self, start: u64, nr: u64) {
        self.wait_inserts();
        let first = self.base as u64 + start;
        let shift = bindings::PAGE_SHIFT;
        // SAFETY: `mapping` is valid (type invariant). `unmap_mapping_range`
        // takes its own locks (`i_mmap_rwsem`, page-table locks) and may
        // sleep: callers hold at most the mmap lock (or a per-VMA lock) and a
        // space's mutex, which
        // the kernel's lock order (mmap lock before `i_mmap_rwsem`) allows.
        unsafe {
            bindings::unmap_mapping_range(
                self.mapping,
                (first << shift) as bindings::loff_t,
                (nr << shift) as bindings::loff_t,
                1,
            )
        };
    }

    /// Zaps every page of the space.
    pub fn zap_all(&self) {
        self.zap(0, self.pages as u64);
    }
}

/// A PTE insert in flight ([`Window::begin_insert`]).
pub struct InsertGuard<'a>(&'a Window);

impl Drop for InsertGuard<'_> {
    fn drop(&mut self) {
        self.0.inserting.fetch_sub(1, Ordering::Release);
    }
}

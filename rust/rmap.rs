// SPDX-License-Identifier: GPL-2.0

//! The reverse map: from a space's page to every user PTE that maps it, in
//! every process (`mm/rmap.c`, for file pages).
//!
//! Every VMA of `/dev/pagearena` is in the device file's `address_space`
//! (`i_mmap`, an interval tree by page offset), which the kernel keeps up to
//! date through `mmap`, `fork`, `munmap` and `exit`. Each space owns a
//! disjoint window of page offsets: `mmap` moves a mapping of page `i` to
//! `pgoff_base + i`. So "zap page `i` of this space everywhere" is
//! `unmap_mapping_range` over one page of the window: the kernel walks the
//! interval tree and clears the PTE in each VMA found, in whatever process it
//! is, without taking those processes' mmap locks (as truncate does).
//!
//! A space made by `fork()` of a fork-COW space inherits its parent's window
//! (the child's VMAs keep the parent's offsets), so zapping either zaps both:
//! a spurious zap only costs the other side a minor fault, never correctness.
//! For the frame → page direction, a private data frame records its space and
//! page index in its descriptor (`owner`, `index`).

use kernel::bindings;

/// The window of page offsets of one space in the device file's mapping.
///
/// # Invariants
///
/// `mapping` is the `address_space` of a file of `/dev/pagearena` (the
/// device inode's). It is valid while the space has a file or a VMA (which
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
}

// SAFETY: `unmap_mapping_range` may be called from any thread; the pointer is
// only passed to it.
unsafe impl Send for Window {}
// SAFETY: As above: `&Window` allows nothing but that call.
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
        }
    }

    /// A window for a child space: the same mapping and offsets.
    pub fn inherit(&self) -> Self {
        Self {
            mapping: self.mapping,
            base: self.base,
            pages: self.pages,
        }
    }

    /// Zaps the user PTEs of pages `start..start + nr` of the space in every
    /// process that maps them. The next access faults.
    pub fn zap(&self, start: u64, nr: u64) {
        let first = self.base as u64 + start;
        let shift = bindings::PAGE_SHIFT;
        // SAFETY: `mapping` is valid (type invariant). `unmap_mapping_range`
        // takes its own locks (`i_mmap_rwsem`, page-table locks) and may
        // sleep: callers hold at most the mmap lock and a space's mutex, which
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

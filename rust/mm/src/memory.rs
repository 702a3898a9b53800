// SPDX-License-Identifier: GPL-2.0

//! The contents of the arena's frames: the one thing the core cannot own.
//!
//! In the kernel the frames are pages from `alloc_pages`; on the host they are
//! a plain buffer. The core reads and writes them only through [`FrameMemory`]:
//! 64-bit words (page-table entries, slab free pointers, red zones) and whole
//! pages (`clear_page`, `copy_page`, as in `include/linux/highmem.h`).

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// Size of one page and of one arena frame.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// 64-bit words in one page.
pub const WORDS_PER_PAGE: usize = PAGE_SIZE / 8;

/// An arena page frame number: the index of a frame in the arena (not the
/// kernel's pfn of the page behind it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pfn(pub u32);

impl Pfn {
    /// The frame number as an index into the frame table.
    #[inline]
    pub const fn idx(self) -> usize {
        self.0 as usize
    }

    /// The byte address of the start of this frame.
    #[inline]
    pub const fn addr(self) -> PhysAddr {
        PhysAddr((self.0 as u64) << PAGE_SHIFT)
    }
}

/// A byte address in the arena: `pfn << PAGE_SHIFT | offset`, the arena's
/// `phys_addr_t`. Slab objects and page-table nodes are named by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysAddr(pub u64);

impl PhysAddr {
    /// The frame this address lies in.
    #[inline]
    pub const fn pfn(self) -> Pfn {
        Pfn((self.0 >> PAGE_SHIFT) as u32)
    }

    /// The offset of this address in its frame.
    #[inline]
    pub const fn offset(self) -> usize {
        (self.0 as usize) & (PAGE_SIZE - 1)
    }

    /// This address plus `bytes`.
    #[inline]
    pub const fn add(self, bytes: usize) -> PhysAddr {
        PhysAddr(self.0 + bytes as u64)
    }

    /// The address of the `i`-th 64-bit word from this one.
    #[inline]
    pub const fn word(self, i: usize) -> PhysAddr {
        PhysAddr(self.0 + 8 * i as u64)
    }
}

/// Access to the bytes of the arena's frames.
///
/// Methods take `&self`: frames are shared between CPUs, and which CPU may
/// write which frame is decided by the core's own locking (a space's page-table
/// nodes under that space's lock, a slab's objects under its cache's lock).
/// Implementations must make every method safe to call concurrently (the
/// kernel's uses relaxed atomic word accesses and `clear_page`/`copy_page`).
///
/// Addresses passed in are always below `nr_frames() << PAGE_SHIFT`, and word
/// addresses are 8-byte aligned; implementations may check this.
pub trait FrameMemory {
    /// Number of frames.
    fn nr_frames(&self) -> usize;
    /// Reads the 64-bit word at `addr`.
    fn load(&self, addr: PhysAddr) -> u64;
    /// Writes the 64-bit word at `addr`.
    fn store(&self, addr: PhysAddr, value: u64);
    /// Fills frame `pfn` with zeroes.
    fn clear_page(&self, pfn: Pfn);
    /// Copies frame `src` into frame `dst`.
    fn copy_page(&self, dst: Pfn, src: Pfn);
}

// SPDX-License-Identifier: GPL-2.0

//! Host-only pieces (feature `std`): frame memory in a plain buffer, and a
//! whole small arena for tests, benchmarks and fuzzing.

use super::buddy::{Buddy, BuddyPages, PageAllocator};
use super::error::Result;
use super::fault::FramePool;
use super::frame::Frame;
use super::memory::{FrameMemory, Pfn, PhysAddr, WORDS_PER_PAGE};
use super::pagetable::NODE_SIZE;
use super::slab::{ObjectAllocator, SlabCache};
use core::cell::RefCell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::vec::Vec;

/// [`FrameMemory`] over a heap buffer of `nr_frames` pages.
pub struct HostMemory {
    words: Vec<AtomicU64>,
}

impl HostMemory {
    /// `nr_frames` zeroed frames.
    pub fn new(nr_frames: usize) -> Self {
        Self {
            words: (0..nr_frames * WORDS_PER_PAGE)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn word(&self, addr: PhysAddr) -> &AtomicU64 {
        assert!(addr.0 % 8 == 0, "unaligned word address {:#x}", addr.0);
        &self.words[(addr.0 / 8) as usize]
    }

    fn page(&self, pfn: Pfn) -> &[AtomicU64] {
        &self.words[pfn.idx() * WORDS_PER_PAGE..][..WORDS_PER_PAGE]
    }
}

impl FrameMemory for HostMemory {
    fn nr_frames(&self) -> usize {
        self.words.len() / WORDS_PER_PAGE
    }

    #[inline]
    fn load(&self, addr: PhysAddr) -> u64 {
        self.word(addr).load(Relaxed)
    }

    #[inline]
    fn store(&self, addr: PhysAddr, value: u64) {
        self.word(addr).store(value, Relaxed)
    }

    fn clear_page(&self, pfn: Pfn) {
        self.page(pfn).iter().for_each(|w| w.store(0, Relaxed));
    }

    fn copy_page(&self, dst: Pfn, src: Pfn) {
        for (d, s) in self.page(dst).iter().zip(self.page(src)) {
            d.store(s.load(Relaxed), Relaxed);
        }
    }
}

/// A frame table of `n` fresh descriptors.
pub fn frame_table(n: usize) -> Vec<Frame> {
    (0..n).map(|_| Frame::new()).collect()
}

/// A small arena: frame table, memory and a buddy allocator owning every frame.
pub struct HostArena {
    /// The frame table.
    pub frames: Vec<Frame>,
    /// The frames' contents.
    pub mem: HostMemory,
    /// The page allocator.
    pub buddy: Buddy,
}

impl HostArena {
    /// An arena of `n` frames, all free.
    pub fn new(n: usize) -> Result<Self> {
        let frames = frame_table(n);
        let mut buddy = Buddy::new();
        buddy.add_range(&frames, Pfn(0), n)?;
        Ok(Self {
            frames,
            mem: HostMemory::new(n),
            buddy,
        })
    }

    /// The buddy as a [`super::buddy::PageAllocator`].
    pub fn pages(&mut self) -> BuddyPages<'_> {
        BuddyPages {
            buddy: &mut self.buddy,
            frames: &self.frames,
        }
    }
}

/// A whole arena shared by several spaces, the way the kernel glue has it:
/// the buddy and the page-table node cache behind their own cells (locks in
/// the kernel), reached through `&self`.
pub struct HostPool {
    /// The frame table.
    pub frames: Vec<Frame>,
    /// The frames' contents.
    pub mem: HostMemory,
    /// The buddy allocator.
    pub buddy: RefCell<Buddy>,
    /// Page-table nodes.
    pub nodes: RefCell<SlabCache>,
}

impl HostPool {
    /// `n` frames, all free; a debug node cache.
    pub fn new(n: usize) -> Result<Self> {
        let HostArena { frames, mem, buddy } = HostArena::new(n)?;
        Ok(Self {
            frames,
            mem,
            buddy: RefCell::new(buddy),
            nodes: RefCell::new(SlabCache::new("pgtable", 1, NODE_SIZE, 8, None, true)?),
        })
    }

    /// The page-table node allocator.
    pub fn node_allocator(&self) -> HostNodes<'_> {
        HostNodes { pool: self }
    }
}

impl FramePool for HostPool {
    type Memory = HostMemory;

    fn memory(&self) -> &HostMemory {
        &self.mem
    }

    fn frames(&self) -> &[Frame] {
        &self.frames
    }

    fn alloc_page(&self) -> Result<Pfn> {
        self.buddy.borrow_mut().alloc(&self.frames, 0)
    }

    fn free_frame(&self, pfn: Pfn) {
        self.buddy
            .borrow_mut()
            .free(&self.frames, pfn, 0)
            .expect("freeing a data frame");
    }
}

/// The buddy of a [`HostPool`] as a [`PageAllocator`].
pub struct HostPages<'a> {
    pool: &'a HostPool,
}

impl PageAllocator for HostPages<'_> {
    fn alloc_pages(&mut self, order: u32) -> Result<Pfn> {
        self.pool.buddy.borrow_mut().alloc(&self.pool.frames, order)
    }

    fn free_pages(&mut self, pfn: Pfn, order: u32) -> Result {
        self.pool
            .buddy
            .borrow_mut()
            .free(&self.pool.frames, pfn, order)
    }
}

/// The node cache of a [`HostPool`] as an [`ObjectAllocator`].
pub struct HostNodes<'a> {
    pool: &'a HostPool,
}

impl ObjectAllocator for HostNodes<'_> {
    fn zalloc(&mut self) -> Result<PhysAddr> {
        let p = self.pool;
        p.nodes
            .borrow_mut()
            .zalloc(&p.frames, &p.mem, &mut HostPages { pool: p })
    }

    fn free(&mut self, obj: PhysAddr) -> Result {
        let p = self.pool;
        p.nodes
            .borrow_mut()
            .free(&p.frames, &p.mem, &mut HostPages { pool: p }, obj)
    }
}

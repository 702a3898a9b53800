// SPDX-License-Identifier: GPL-2.0

//! Host-only pieces (feature `std`): frame memory in a plain buffer, and a
//! whole small arena for tests, benchmarks and fuzzing.

use super::buddy::{Buddy, BuddyPages, PageAllocator};
use super::error::Result;
use super::fault::FramePool;
use super::frame::Frame;
use super::memory::{FrameMemory, Pfn, PhysAddr, WORDS_PER_PAGE};
use super::pagetable::{release_node, take_node, NodeAllocator, PageTableNodes};
use super::swap::{SwapMap, SwapSlots};
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

    /// Runs `f` with the memory and a page-table node allocator over the
    /// buddy.
    pub fn with_nodes<R>(
        &mut self,
        f: impl FnOnce(&HostMemory, &mut PageTableNodes<'_, HostMemory, BuddyPages<'_>>) -> R,
    ) -> R {
        let Self { frames, mem, buddy } = self;
        let mut pages = BuddyPages { buddy, frames };
        let mut nodes = PageTableNodes {
            frames,
            mem,
            pages: &mut pages,
        };
        f(mem, &mut nodes)
    }

    /// Frames in use as page-table nodes.
    pub fn nr_nodes(&self) -> usize {
        nr_page_table_frames(&self.frames)
    }
}

/// Frames of `frames` in use as page-table nodes.
pub fn nr_page_table_frames(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter(|f| f.state() == super::frame::FrameState::PageTable)
        .count()
}

/// A whole arena shared by several spaces, the way the kernel glue has it:
/// the buddy behind its own cell (a lock in the kernel), reached through
/// `&self`, for data frames and page-table nodes alike.
pub struct HostPool {
    /// The frame table.
    pub frames: Vec<Frame>,
    /// The frames' contents.
    pub mem: HostMemory,
    /// The buddy allocator.
    pub buddy: RefCell<Buddy>,
    /// The swap slots.
    pub swap: RefCell<SwapMap<Vec<u64>, Vec<u32>>>,
    /// Frames in the swap cache, as the core reports them.
    pub nr_swapcache: core::cell::Cell<i64>,
}

impl HostPool {
    /// `n` frames, all free; no swap.
    pub fn new(n: usize) -> Result<Self> {
        Self::with_swap(n, 0)
    }

    /// `n` frames and `slots` swap slots, all free.
    pub fn with_swap(n: usize, slots: usize) -> Result<Self> {
        let HostArena { frames, mem, buddy } = HostArena::new(n)?;
        Ok(Self {
            frames,
            mem,
            buddy: RefCell::new(buddy),
            swap: RefCell::new(SwapMap::new(
                std::vec![0; slots.div_ceil(64)],
                std::vec![0; slots],
            )?),
            nr_swapcache: core::cell::Cell::new(0),
        })
    }

    /// Frames in use as page-table nodes.
    pub fn nr_nodes(&self) -> usize {
        nr_page_table_frames(&self.frames)
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

    fn swapcache_changed(&self, delta: i64) {
        self.nr_swapcache.set(self.nr_swapcache.get() + delta);
    }
}

impl SwapSlots for HostPool {
    fn alloc_slot(&self) -> Result<u32> {
        self.swap.borrow_mut().alloc()
    }

    fn dup_slot(&self, slot: u32) {
        self.swap
            .borrow_mut()
            .dup(slot)
            .expect("dup of a live slot");
    }

    fn put_slot(&self, slot: u32) {
        self.swap
            .borrow_mut()
            .free(slot)
            .expect("put of a live slot");
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

/// Page-table nodes of a [`HostPool`], from its buddy.
pub struct HostNodes<'a> {
    pool: &'a HostPool,
}

impl NodeAllocator for HostNodes<'_> {
    fn frames(&self) -> &[Frame] {
        &self.pool.frames
    }

    fn alloc_node(&mut self) -> Result<Pfn> {
        let p = self.pool;
        let pfn = p.buddy.borrow_mut().alloc(&p.frames, 0)?;
        take_node(&p.frames, &p.mem, pfn)?;
        Ok(pfn)
    }

    fn free_node(&mut self, node: Pfn) -> Result {
        let p = self.pool;
        release_node(&p.frames, node)?;
        p.buddy.borrow_mut().free(&p.frames, node, 0)
    }
}

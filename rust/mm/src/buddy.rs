// SPDX-License-Identifier: GPL-2.0

//! The buddy allocator of the arena's frames (`mm/page_alloc.c`).
//!
//! Blocks of 2^order frames, order 0..=[`MAX_ORDER`], each aligned to its
//! size. A block's *buddy* is the block it was split from the other half of:
//! `pfn ^ (1 << order)`. Allocation takes the smallest free block that fits
//! and splits it, putting the upper halves on the lower free lists; freeing
//! merges the block with its buddy for as long as the buddy is free and of the
//! same order ("coalescing").
//!
//! The free lists are [`FrameList`]s threaded through the frame table, so the
//! allocator needs no memory of its own. The arena may have any number of
//! frames, and holes: only frames handed over with [`Buddy::add_range`] are
//! managed, and a hole is never taken for a free buddy.

use super::error::{Error, Result};
use super::frame::{Frame, FrameState};
use super::list::FrameList;
use super::memory::Pfn;

/// The largest block order: 2^10 frames, 4 MiB.
pub const MAX_ORDER: u32 = 10;
/// Number of orders (and free lists).
pub const NR_ORDERS: usize = MAX_ORDER as usize + 1;

/// The buddy allocator's state: one free list per order.
///
/// # Invariants
///
/// A frame is on `free_area[o]` iff it is in state [`FrameState::Buddy`] with
/// order `o`; such a frame heads a free block of 2^o frames, aligned to 2^o,
/// within the managed frames; no two free blocks overlap; no free block has a
/// free buddy of the same order. `nr_free` is the sum of the free blocks' sizes.
#[derive(Debug, Default)]
pub struct Buddy {
    free_area: [FrameList; NR_ORDERS],
    nr_free: usize,
    managed: usize,
}

impl Buddy {
    /// An allocator with no frames: give it some with [`Buddy::add_range`].
    pub const fn new() -> Self {
        Self {
            free_area: [const { FrameList::new() }; NR_ORDERS],
            nr_free: 0,
            managed: 0,
        }
    }

    /// Hands frames `start .. start + nr` to the allocator (at initialisation,
    /// like `memblock_free_all`). The frames must not have been handed over
    /// before; they are reset and freed in the largest aligned blocks that fit,
    /// merging with free neighbours handed over earlier.
    pub fn add_range(&mut self, frames: &[Frame], start: Pfn, nr: usize) -> Result {
        let end = start.idx().checked_add(nr).ok_or(Error::Invalid)?;
        if end > frames.len() {
            return Err(Error::Invalid);
        }
        if frames[start.idx()..end]
            .iter()
            .any(|f| f.state() != FrameState::None)
        {
            return Err(Error::Invalid);
        }
        frames[start.idx()..end].iter().for_each(Frame::reset);
        let mut pfn = start.idx();
        while pfn < end {
            let align = if pfn == 0 {
                MAX_ORDER
            } else {
                pfn.trailing_zeros().min(MAX_ORDER)
            };
            let fit = (end - pfn).ilog2().min(MAX_ORDER);
            let order = align.min(fit);
            self.managed += 1 << order;
            self.free_block(frames, pfn as u32, order);
            pfn += 1 << order;
        }
        Ok(())
    }

    /// Allocates a block of 2^`order` frames; returns its first frame, in state
    /// [`FrameState::Allocated`] with order `order` and no page flags.
    #[inline]
    pub fn alloc(&mut self, frames: &[Frame], order: u32) -> Result<Pfn> {
        if order > MAX_ORDER {
            return Err(Error::Invalid);
        }
        let mut o = order;
        let pfn = loop {
            if let Some(pfn) = self.free_area[o as usize].pop_front(frames) {
                break pfn;
            }
            o += 1;
            if o > MAX_ORDER {
                return Err(Error::NoMemory);
            }
        };
        // Split: the upper half of each larger block goes back, one order down
        // (`expand()` in mm/page_alloc.c).
        while o > order {
            o -= 1;
            let upper = Pfn(pfn.0 + (1 << o));
            frames[upper.idx()].set_head(FrameState::Buddy, o);
            self.free_area[o as usize].push_front(frames, upper);
        }
        frames[pfn.idx()].set_head(FrameState::Allocated, order);
        self.nr_free -= 1 << order;
        Ok(pfn)
    }

    /// Frees the block of 2^`order` frames at `pfn`, which [`Buddy::alloc`]
    /// returned for the same `order`. The head must be [`FrameState::Allocated`]
    /// or [`FrameState::Data`]; its fields are reset.
    ///
    /// Errors, with nothing changed: [`Error::Foreign`] for a frame outside the
    /// arena, a hole, a frame inside a block, a slab's frame or the zero page
    /// (see [`FrameState::buddy_may_free`]), [`Error::DoubleFree`] for a free
    /// block, [`Error::WrongOrder`] for an order or alignment other than the
    /// allocation's, [`Error::Invalid`] for an order above [`MAX_ORDER`].
    #[inline]
    pub fn free(&mut self, frames: &[Frame], pfn: Pfn, order: u32) -> Result {
        if order > MAX_ORDER {
            return Err(Error::Invalid);
        }
        let f = frames.get(pfn.idx()).ok_or(Error::Foreign)?;
        let state = f.state();
        if state == FrameState::Buddy {
            return Err(Error::DoubleFree);
        }
        if !state.buddy_may_free() {
            return Err(Error::Foreign);
        }
        if f.order() != order || pfn.0 & ((1 << order) - 1) != 0 {
            return Err(Error::WrongOrder);
        }
        f.reset();
        self.free_block(frames, pfn.0, order);
        Ok(())
    }

    /// Puts the block at `pfn` (whose head is not on any list) on the free
    /// lists, merging it with free buddies (`__free_one_page()`).
    #[inline]
    fn free_block(&mut self, frames: &[Frame], mut pfn: u32, mut order: u32) {
        self.nr_free += 1 << order;
        while order < MAX_ORDER {
            let buddy = pfn ^ (1 << order);
            let Some(b) = frames.get(buddy as usize) else {
                break;
            };
            if b.state() != FrameState::Buddy || b.order() != order {
                break;
            }
            self.free_area[order as usize].remove(frames, Pfn(buddy));
            b.set_head(FrameState::None, 0);
            frames[pfn as usize].set_head(FrameState::None, 0);
            pfn &= buddy;
            order += 1;
        }
        frames[pfn as usize].set_head(FrameState::Buddy, order);
        self.free_area[order as usize].push_front(frames, Pfn(pfn));
    }

    /// Free frames.
    #[inline]
    pub fn nr_free(&self) -> usize {
        self.nr_free
    }

    /// Frames handed to the allocator, free or not.
    #[inline]
    pub fn managed(&self) -> usize {
        self.managed
    }

    /// Free blocks of each order, as in `/proc/buddyinfo`.
    pub fn buddyinfo(&self) -> [usize; NR_ORDERS] {
        core::array::from_fn(|o| self.free_area[o].len())
    }

    /// Checks every invariant of the allocator against the frame table:
    /// free lists well linked, every listed block free with the list's order,
    /// aligned and inside the table; no overlap; no free buddies left
    /// unmerged; free counts add up. Costs one pass over the table.
    pub fn check(&self, frames: &[Frame]) -> core::result::Result<(), &'static str> {
        let mut listed = 0usize;
        let mut free = 0usize;
        for (o, list) in self.free_area.iter().enumerate() {
            list.check(frames)?;
            for pfn in list.iter(frames) {
                let f = &frames[pfn.idx()];
                if f.state() != FrameState::Buddy || f.order() as usize != o {
                    return Err("free list holds a frame that is not a free block of its order");
                }
                listed += 1;
                free += 1 << o;
            }
        }
        if free != self.nr_free {
            return Err("nr_free differs from the sum of the free lists");
        }
        if self.nr_free > self.managed {
            return Err("more free frames than managed frames");
        }
        let mut heads = 0usize;
        let mut pfn = 0usize;
        while pfn < frames.len() {
            let f = &frames[pfn];
            if f.state() != FrameState::Buddy {
                pfn += 1;
                continue;
            }
            heads += 1;
            let o = f.order();
            let size = 1usize << o;
            if pfn & (size - 1) != 0 {
                return Err("free block not aligned to its order");
            }
            if pfn + size > frames.len() {
                return Err("free block runs past the end of the arena");
            }
            if frames[pfn + 1..pfn + size]
                .iter()
                .any(|t| t.state() != FrameState::None)
            {
                return Err("free block overlaps another block");
            }
            if o < MAX_ORDER {
                if let Some(b) = frames.get(pfn ^ size) {
                    if b.state() == FrameState::Buddy && b.order() == o {
                        return Err("free block and its free buddy were not merged");
                    }
                }
            }
            pfn += size;
        }
        if heads != listed {
            return Err("a free block is missing from the free lists");
        }
        Ok(())
    }
}

/// Where slab caches get their frames from: the buddy allocator, behind
/// whatever lock the user keeps it under (`alloc_pages`/`__free_pages`).
pub trait PageAllocator {
    /// Allocates 2^`order` frames (see [`Buddy::alloc`]).
    fn alloc_pages(&mut self, order: u32) -> Result<Pfn>;
    /// Frees 2^`order` frames at `pfn` (see [`Buddy::free`]).
    fn free_pages(&mut self, pfn: Pfn, order: u32) -> Result;
}

/// A [`Buddy`] together with its frame table: the plain [`PageAllocator`].
pub struct BuddyPages<'a> {
    /// The allocator.
    pub buddy: &'a mut Buddy,
    /// The frame table it manages.
    pub frames: &'a [Frame],
}

impl PageAllocator for BuddyPages<'_> {
    #[inline]
    fn alloc_pages(&mut self, order: u32) -> Result<Pfn> {
        self.buddy.alloc(self.frames, order)
    }

    #[inline]
    fn free_pages(&mut self, pfn: Pfn, order: u32) -> Result {
        self.buddy.free(self.frames, pfn, order)
    }
}

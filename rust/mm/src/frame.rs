// SPDX-License-Identifier: GPL-2.0

//! The frame table: one [`Frame`] descriptor per arena frame, the arena's
//! `struct page` (`include/linux/mm_types.h`).
//!
//! Fields are relaxed atomics, so the table is shared (`&[Frame]`) by all the
//! core's structures at once, each of which owns some fields of some frames
//! under its own lock, as in Linux:
//!
//! | state of the frame | owner | `next`/`prev` | `count` | `owner` | `private` | `index` |
//! |---|---|---|---|---|---|---|
//! | [`FrameState::Buddy`] (head of a free block) | buddy | free list | - | - | - | - |
//! | [`FrameState::Slab`] (head of a slab) | its cache | slab list | objects in use | cache id | free list head | - |
//! | [`FrameState::SlabTail`] | its cache | - | - | cache id | head pfn | - |
//! | [`FrameState::Data`] (user page) | a space | LRU | references | space id (rmap) | swap slot | page index (rmap) |
//! | [`FrameState::PageTable`] (a page-table node) | its space | - | entries in use | - | - | - |
//!
//! A data frame has two counts, like `page->_refcount` and `page->_mapcount`:
//!
//! - the **map count** ([`Frame::mapcount`]) is the number of page-table
//!   entries, over all spaces, that map the frame. It alone decides sharing:
//!   a write to a frame whose map count is 1 reuses it (no copy).
//! - the **reference count** ([`Frame::refcount`]) is the map count plus
//!   transient pins (reclaim isolating the frame, I/O in flight). The frame
//!   goes back to the buddy when it reaches 0 ([`Frame::put`]), so a pinned
//!   frame outlives the entries that mapped it, and a pin never makes the
//!   fault path think a frame is shared.
//!
//! The descriptor is 40 bytes (see [`FRAME_DESC_BYTES`]): 1 % of a 4 KiB frame.

use super::memory::Pfn;
use core::sync::atomic::{
    fence, AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

/// "No frame" in list links and pfn-valued fields.
pub const NIL: u32 = u32::MAX;

/// What a frame is being used for. Only the head frame of a block has a state
/// other than [`FrameState::None`], except slab tails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FrameState {
    /// Not the head of any block: a tail frame, or a hole the buddy never got.
    None = 0,
    /// Head of a free block on a buddy free list.
    Buddy = 1,
    /// Head of an allocated block that its user has not typed.
    Allocated = 2,
    /// Head frame of a slab.
    Slab = 3,
    /// A non-head frame of a multi-frame slab (`private` is the head pfn).
    SlabTail = 4,
    /// A page of some space's data.
    Data = 5,
    /// The shared zero page.
    Zero = 6,
    /// A node of some space's page table (`count`: its entries in use).
    PageTable = 7,
    /// Free, on a CPU's page list ([`super::pcp`]): handed out by the
    /// buddy, not yet to a user.
    PerCpu = 8,
}

impl FrameState {
    fn from_bits(bits: u32) -> Self {
        match bits & STATE_MASK {
            1 => FrameState::Buddy,
            2 => FrameState::Allocated,
            3 => FrameState::Slab,
            4 => FrameState::SlabTail,
            5 => FrameState::Data,
            6 => FrameState::Zero,
            7 => FrameState::PageTable,
            8 => FrameState::PerCpu,
            _ => FrameState::None,
        }
    }

    /// Whether the buddy takes a block headed by a frame in this state back
    /// directly. Slab frames go back through their cache (which retypes them
    /// `Allocated` first) and the zero page is never freed while in use, so
    /// freeing those by mistake is refused rather than corrupting the cache.
    pub fn buddy_may_free(self) -> bool {
        matches!(self, FrameState::Allocated | FrameState::Data)
    }
}

const STATE_MASK: u32 = 0xf;
const ORDER_SHIFT: u32 = 4;
const ORDER_MASK: u32 = 0xf << ORDER_SHIFT;

/// Page flags, the arena's `PG_*` bits (`include/linux/page-flags.h`).
pub mod pg {
    /// The frame's contents differ from its copy in swap (or it has none).
    pub const DIRTY: u32 = 1 << 8;
    /// The LRU has seen the frame young before (`PG_referenced`): seen young
    /// again on the inactive list, it is promoted.
    pub const REFERENCED: u32 = 1 << 9;
    /// The frame is on the active list.
    pub const ACTIVE: u32 = 1 << 10;
    /// The frame is on an LRU list.
    pub const LRU: u32 = 1 << 11;
    /// `private` holds a swap slot that still matches the contents (a clean
    /// swapped-in page: reclaim can drop it without writing).
    pub const SWAPCACHE: u32 = 1 << 12;
    /// A pageout's write of the frame to swap is in flight (`PG_writeback`):
    /// no second pageout may start on it.
    pub const WRITEBACK: u32 = 1 << 13;
    /// The frame was accessed since reclaim last aged it: the arena's
    /// stand-in for the young bit of the PTEs that map it (set by the fault
    /// that mapped it, cleared when reclaim zaps them to see the next one).
    pub const YOUNG: u32 = 1 << 14;
}

/// Size of [`Frame`] in bytes.
pub const FRAME_DESC_BYTES: usize = core::mem::size_of::<Frame>();

/// The descriptor of one arena frame. See the module documentation for which
/// structure owns which field in which state.
#[derive(Debug)]
pub struct Frame {
    flags: AtomicU32,
    count: AtomicU32,
    mapcount: AtomicU32,
    next: AtomicU32,
    prev: AtomicU32,
    owner: AtomicU32,
    private: AtomicU32,
    index: AtomicU64,
}

impl Default for Frame {
    fn default() -> Self {
        Self::new()
    }
}

impl Frame {
    /// A descriptor in state [`FrameState::None`], unlinked.
    pub const fn new() -> Self {
        Self {
            flags: AtomicU32::new(0),
            count: AtomicU32::new(0),
            mapcount: AtomicU32::new(0),
            next: AtomicU32::new(NIL),
            prev: AtomicU32::new(NIL),
            owner: AtomicU32::new(0),
            private: AtomicU32::new(NIL),
            index: AtomicU64::new(0),
        }
    }

    /// Resets every field to the values of [`Frame::new`].
    pub fn reset(&self) {
        self.flags.store(0, Relaxed);
        self.count.store(0, Relaxed);
        self.mapcount.store(0, Relaxed);
        self.next.store(NIL, Relaxed);
        self.prev.store(NIL, Relaxed);
        self.owner.store(0, Relaxed);
        self.private.store(NIL, Relaxed);
        self.index.store(0, Relaxed);
    }

    /// The frame's state.
    #[inline]
    pub fn state(&self) -> FrameState {
        FrameState::from_bits(self.flags.load(Relaxed))
    }

    /// The order of the block this frame heads (meaningful for block heads).
    #[inline]
    pub fn order(&self) -> u32 {
        (self.flags.load(Relaxed) & ORDER_MASK) >> ORDER_SHIFT
    }

    /// Makes this frame the head of a block of `order` in `state`, clearing all page flags.
    #[inline]
    pub fn set_head(&self, state: FrameState, order: u32) {
        self.flags.store(
            state as u32 | ((order << ORDER_SHIFT) & ORDER_MASK),
            Relaxed,
        );
    }

    /// Changes the state, keeping the order and the page flags.
    #[inline]
    pub fn set_state(&self, state: FrameState) {
        let _ = self
            .flags
            .fetch_update(Relaxed, Relaxed, |f| Some((f & !STATE_MASK) | state as u32));
    }

    /// Whether page flag `flag` (one of [`pg`]) is set.
    #[inline]
    pub fn test(&self, flag: u32) -> bool {
        self.flags.load(Relaxed) & flag != 0
    }

    /// Sets page flag `flag`; returns whether it was set before.
    #[inline]
    pub fn test_and_set(&self, flag: u32) -> bool {
        self.flags.fetch_or(flag, Relaxed) & flag != 0
    }

    /// Clears page flag `flag`; returns whether it was set before.
    #[inline]
    pub fn test_and_clear(&self, flag: u32) -> bool {
        self.flags.fetch_and(!flag, Relaxed) & flag != 0
    }

    /// Sets page flag `flag`.
    #[inline]
    pub fn set(&self, flag: u32) {
        self.flags.fetch_or(flag, Relaxed);
    }

    /// Clears page flag `flag`.
    #[inline]
    pub fn clear(&self, flag: u32) {
        self.flags.fetch_and(!flag, Relaxed);
    }

    /// Objects in use (slab heads) or entries in use (page-table nodes);
    /// for data frames, the reference count. Changed under the lock of
    /// whoever owns the frame, except data frames' references ([`Frame::get`],
    /// [`Frame::put`]).
    #[inline]
    pub fn count(&self) -> u32 {
        self.count.load(Relaxed)
    }

    /// Sets the count (under the owner's lock, or on a frame no one else
    /// can see yet).
    #[inline]
    pub fn set_count(&self, v: u32) {
        self.count.store(v, Relaxed);
    }

    /// Adds one to the count (under the owner's lock); returns the new value.
    #[inline]
    pub fn inc_count(&self) -> u32 {
        self.count.fetch_add(1, Relaxed).wrapping_add(1)
    }

    /// Takes one from the count (under the owner's lock); returns the new value.
    #[inline]
    pub fn dec_count(&self) -> u32 {
        self.count.fetch_sub(1, Relaxed).wrapping_sub(1)
    }

    /// A data frame's reference count: its map count plus its pins.
    #[inline]
    pub fn refcount(&self) -> u32 {
        self.count.load(Relaxed)
    }

    /// Takes a reference on a data frame the caller already holds one on
    /// (`get_page`): relaxed, as a new reference can only be made from an
    /// existing one.
    #[inline]
    pub fn get(&self) {
        self.count.fetch_add(1, Relaxed);
    }

    /// Takes a reference unless the count is 0 (`get_page_unless_zero`):
    /// how reclaim pins a frame it found on an LRU list, which may be on its
    /// way to the buddy (its last reference gone, not yet off the list).
    /// Returns whether it took one.
    #[inline]
    pub fn try_get(&self) -> bool {
        self.count
            .fetch_update(Relaxed, Relaxed, |c| (c != 0).then(|| c + 1))
            .is_ok()
    }

    /// Puts the frame in the swap cache as a clean copy of `slot`, whose
    /// count the caller hands to the frame. Release: whoever takes the
    /// frame out ([`Frame::take_swapcache`]) sees `slot`.
    #[inline]
    pub fn set_swapcache(&self, slot: u32) {
        self.private.store(slot, Relaxed);
        self.flags.fetch_or(pg::SWAPCACHE, Release);
    }

    /// Takes the frame out of the swap cache; returns the slot whose count
    /// the caller now holds, if it was in it.
    #[inline]
    pub fn take_swapcache(&self) -> Option<u32> {
        let was = self.flags.fetch_and(!pg::SWAPCACHE, Acquire) & pg::SWAPCACHE != 0;
        was.then(|| self.private.load(Relaxed))
    }

    /// The swap-cache slot of the frame, if it is a clean copy of one.
    #[inline]
    pub fn swapcache(&self) -> Option<u32> {
        let on = self.flags.load(Acquire) & pg::SWAPCACHE != 0;
        on.then(|| self.private.load(Relaxed))
    }

    /// Drops a reference (`put_page_testzero`); returns whether it was the
    /// last, in which case the caller frees the frame. Release ordering, and
    /// an acquire fence at zero: every access made under the other
    /// references happens before the frame is freed and reused.
    #[inline]
    pub fn put(&self) -> bool {
        if self.count.fetch_sub(1, Release) != 1 {
            return false;
        }
        fence(Acquire);
        true
    }

    /// A data frame's map count: the page-table entries that map it. An
    /// acquire load: a space that sees 1 (and so writes the frame in place)
    /// sees everything the spaces that dropped their maps did with it
    /// before (a COW copy reading it), by the release in
    /// [`Frame::dec_mapcount`].
    #[inline]
    pub fn mapcount(&self) -> u32 {
        self.mapcount.load(Acquire)
    }

    /// Sets the map count.
    #[inline]
    pub fn set_mapcount(&self, v: u32) {
        self.mapcount.store(v, Relaxed);
    }

    /// One more entry maps the frame; the caller also took a reference.
    #[inline]
    pub fn inc_mapcount(&self) {
        self.mapcount.fetch_add(1, Relaxed);
    }

    /// One entry fewer maps the frame; the caller then drops its reference.
    /// Returns the new map count.
    #[inline]
    pub fn dec_mapcount(&self) -> u32 {
        self.mapcount.fetch_sub(1, Release).wrapping_sub(1)
    }

    /// The owner: a space id (data frames) or a slab cache id (slab frames).
    #[inline]
    pub fn owner(&self) -> u32 {
        self.owner.load(Relaxed)
    }

    /// Sets the owner.
    #[inline]
    pub fn set_owner(&self, v: u32) {
        self.owner.store(v, Relaxed);
    }

    /// The private word: a swap slot, a slab free-list head, a slab head pfn.
    #[inline]
    pub fn private(&self) -> u32 {
        self.private.load(Relaxed)
    }

    /// Sets the private word.
    #[inline]
    pub fn set_private(&self, v: u32) {
        self.private.store(v, Relaxed);
    }

    /// The page index of a data frame in its owner space (reverse map).
    #[inline]
    pub fn index(&self) -> u64 {
        self.index.load(Relaxed)
    }

    /// Sets the page index.
    #[inline]
    pub fn set_index(&self, v: u64) {
        self.index.store(v, Relaxed);
    }

    #[inline]
    pub(crate) fn next(&self) -> u32 {
        self.next.load(Relaxed)
    }

    #[inline]
    pub(crate) fn prev(&self) -> u32 {
        self.prev.load(Relaxed)
    }

    #[inline]
    pub(crate) fn set_next(&self, v: u32) {
        self.next.store(v, Relaxed);
    }

    #[inline]
    pub(crate) fn set_prev(&self, v: u32) {
        self.prev.store(v, Relaxed);
    }
}

/// The descriptor of `pfn`, or `None` if it is outside the table.
#[inline]
pub fn frame(frames: &[Frame], pfn: Pfn) -> Option<&Frame> {
    frames.get(pfn.idx())
}

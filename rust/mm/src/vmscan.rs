// SPDX-License-Identifier: GPL-2.0

//! Taking a frame out of memory (`shrink_folio_list`, `try_to_unmap` and
//! `pageout` in `mm/vmscan.c`): from every space that maps it, in two steps
//! around the write to swap, which runs with no lock held.
//!
//! The caller holds a pin on data frame `pfn` (reclaim has also taken it
//! off the LRU; the forced pageout has not). The spaces that may map it are reached through an
//! [`Rmap`], one at a time, each under its own lock: a frame is shared only
//! at one page index (`Frame::index`), by the clones and fork children of
//! the space that took it.
//!
//! [`shrink_begin`] marks the frame under writeback (`PG_writeback`: a second
//! reclaim of it is refused, and no write fault reuses it in place: a write
//! copies it instead), then write-protects every entry that maps it and
//! zaps the writable user PTEs, so nothing writes the frame from then on.
//! Only then is it looked at:
//!
//! - a frame that holds only zeros needs no slot: its pages become untouched
//!   again ([`Plan::Zero`], like zswap's same-filled pages);
//! - a frame in the swap cache (a clean copy of a slot) needs no write
//!   ([`Plan::Clean`]);
//! - otherwise a slot is taken ([`Plan::Write`]) and the caller writes the
//!   frame to it, with no lock held.
//!
//! [`shrink_end`] then replaces, in every space, the entry that still maps
//! the frame by the plan's target (none, or the slot with one more count),
//! zapping the page's user PTEs before the entry's map count and reference
//! go (the zap-then-drop order of `fault.rs`). A space that took the frame
//! meanwhile (a clone made after the walk passed it) keeps it: the frame,
//! still a clean copy of the slot, enters the swap cache, so evicting it
//! again costs no I/O. A write that failed changes nothing but the
//! protection: the frame stays where it was, and the slot goes back.

use super::error::{Error, Result};
use super::fault::{unmap_frame, FramePool, Mm};
use super::frame::{pg, FrameState};
use super::memory::{FrameMemory, Pfn, WORDS_PER_PAGE};
use super::pagetable::{NodeAllocator, Pte, PteKind};

/// What [`Rmap::walk`] calls for each space: its [`Mm`] (locked), its node
/// allocator, and the zap of the page's user PTEs. Returns whether the
/// space's entry maps the frame after the visit.
pub type Visit<'v, N> = dyn FnMut(&mut Mm, &mut N, &dyn Fn()) -> bool + 'v;

/// The spaces that may map a data frame (`rmap_walk`).
pub trait Rmap {
    /// The spaces' page-table node allocator.
    type Nodes: NodeAllocator;
    /// Calls `visit` once for each space that may map frame `pfn` at page
    /// `idx`, one at a time, each with the space's [`Mm`] under its lock, a
    /// node allocator and a zap of page `idx`'s user PTEs of that space in
    /// every process. It may stop once the spaces visited that still map
    /// the frame account for its whole map count. A space it misses keeps
    /// its mapping: reclaim is then partial, never wrong (see
    /// [`shrink_begin`]).
    fn walk(&mut self, pfn: Pfn, idx: u64, visit: &mut Visit<'_, Self::Nodes>);
}

/// What [`shrink_begin`] decided for a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The frame holds only zeros: its pages become untouched.
    Zero,
    /// The frame is a clean copy of swap slot `.0`: no write.
    Clean(u32),
    /// Write the frame to slot `.0` (taken for it), then call [`shrink_end`].
    Write(u32),
}

/// What [`shrink_end`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShrinkEnd {
    /// `unmapped` entries stopped mapping the frame; `left` still do (they
    /// took it during the walk). With `left == 0` only pins hold the frame:
    /// the last one frees it.
    Done {
        /// Entries that now name the slot (or nothing).
        unmapped: u32,
        /// Entries that still map the frame.
        left: u32,
    },
    /// The write failed: the frame stays mapped everywhere, the slot is
    /// given back.
    WriteFailed,
}

/// Whether frame `pfn` holds only zeros.
fn is_zero_filled<M: FrameMemory>(mem: &M, pfn: Pfn) -> bool {
    (0..WORDS_PER_PAGE).all(|w| mem.load(pfn.addr().word(w)) == 0)
}

impl Mm {
    /// If page `idx` maps frame `pfn`: its entry loses [`Pte::WRITE`] and,
    /// if it had it, the page's user PTEs are zapped. Returns whether it
    /// maps the frame.
    fn write_protect<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        idx: u64,
        pfn: Pfn,
        zap: &dyn Fn(),
    ) -> bool {
        let pte = self.pt.lookup(mem, idx);
        if pte.kind() != PteKind::Frame(pfn) {
            return false;
        }
        // An existing entry changes: no node is needed, this cannot fail.
        if pte.has(Pte::WRITE) && self.set(mem, nodes, idx, pte.without(Pte::WRITE)).is_ok() {
            zap();
        }
        true
    }

    /// If page `idx` maps frame `pfn`: the entry becomes `target` (none, or
    /// a swap slot, which gets one more count), the page's user PTEs are
    /// zapped, and the entry's map count and reference on the frame go.
    /// Returns whether it mapped the frame.
    fn unmap_for_reclaim<P: FramePool>(
        &mut self,
        pool: &P,
        nodes: &mut impl NodeAllocator,
        idx: u64,
        pfn: Pfn,
        target: Pte,
        zap: &dyn Fn(),
    ) -> bool {
        let mem = pool.memory();
        if self.pt.lookup(mem, idx).kind() != PteKind::Frame(pfn) {
            return false;
        }
        // An existing entry changes; a node freed by `none` is given back,
        // which does not fail for a node of this table.
        if self.set(mem, nodes, idx, target).is_err() {
            return false;
        }
        if let PteKind::Swap(slot) = target.kind() {
            pool.dup_slot(slot);
        }
        zap();
        unmap_frame(pool, pfn);
        true
    }
}

/// Starts taking data frame `pfn` out of memory (see the module
/// documentation). The caller holds a pin on it; `may_write`: it can write
/// the frame to swap (else only a zero-filled or swap-cache frame goes).
/// [`Error::Busy`] if another reclaim of it is in flight, no space mapping
/// it was found, or it needs a write the caller cannot make;
/// [`Error::Invalid`] if nothing maps it; [`Error::NoMemory`] if it needs a
/// slot and swap is full (or absent). On error every entry that maps it
/// may have lost [`Pte::WRITE`] (the next write takes a minor fault), and
/// nothing else changed.
pub fn shrink_begin<P: FramePool, R: Rmap>(
    pool: &P,
    rmap: &mut R,
    pfn: Pfn,
    may_write: bool,
) -> Result<Plan> {
    let (mem, frames) = (pool.memory(), pool.frames());
    let f = frames.get(pfn.idx()).ok_or(Error::Invalid)?;
    if f.state() != FrameState::Data {
        return Err(Error::Invalid);
    }
    // A frame that would need a write the caller cannot make is left alone
    // before anything is protected or zapped. (Read unprotected: a wrong
    // answer costs a walk, or a frame skipped; the check below decides.)
    if !may_write && f.swapcache().is_none() && !is_zero_filled(mem, pfn) {
        return Err(Error::Busy);
    }
    if f.test_and_set(pg::WRITEBACK) {
        return Err(Error::Busy);
    }
    let idx = f.index();
    let mut seen = 0u32;
    rmap.walk(pfn, idx, &mut |mm, nodes, zap| {
        let maps = mm.write_protect(mem, nodes, idx, pfn, zap);
        seen += u32::from(maps);
        maps
    });
    // Only an entry that maps the frame alone may be writable; under
    // writeback no entry becomes writable again (a write copies). So once
    // one mapping entry was seen, none is writable: either it was the only
    // one (now protected) or the frame was shared (all read-only). If none
    // was seen, a writable one may be out there: give up.
    let plan = if f.mapcount() == 0 {
        Err(Error::Invalid)
    } else if seen == 0 {
        Err(Error::Busy)
    } else if is_zero_filled(mem, pfn) {
        Ok(Plan::Zero)
    } else if let Some(slot) = f.swapcache() {
        Ok(Plan::Clean(slot))
    } else if !may_write {
        Err(Error::Busy)
    } else {
        pool.alloc_slot().map(Plan::Write)
    };
    if plan.is_err() {
        f.clear(pg::WRITEBACK);
    }
    plan
}

/// Finishes what [`shrink_begin`] started for `pfn` with `plan`, once the
/// write of [`Plan::Write`] is done (`written`: it succeeded; ignored for
/// the other plans). The caller then drops its pin, which frees the frame if
/// nothing maps it any more.
pub fn shrink_end<P: FramePool, R: Rmap>(
    pool: &P,
    rmap: &mut R,
    pfn: Pfn,
    plan: Plan,
    written: bool,
) -> ShrinkEnd {
    let Some(f) = pool.frames().get(pfn.idx()) else {
        return ShrinkEnd::WriteFailed;
    };
    let target = match plan {
        Plan::Zero => Pte::NONE,
        Plan::Clean(slot) => Pte::swap(slot, 0),
        Plan::Write(slot) if written => Pte::swap(slot, 0),
        Plan::Write(slot) => {
            pool.put_slot(slot);
            f.clear(pg::WRITEBACK);
            return ShrinkEnd::WriteFailed;
        }
    };
    let idx = f.index();
    let mut unmapped = 0u32;
    rmap.walk(pfn, idx, &mut |mm, nodes, zap| {
        unmapped += u32::from(mm.unmap_for_reclaim(pool, nodes, idx, pfn, target, zap));
        // The entry maps the frame no more, whether it did or not.
        false
    });
    let left = f.mapcount();
    if let Plan::Write(slot) = plan {
        if left > 0 {
            // Still the slot's contents: the slot's count (the one taken
            // for the write) becomes the swap cache's.
            f.set_swapcache(slot);
            pool.swapcache_changed(1);
        } else {
            pool.put_slot(slot);
        }
    }
    f.clear(pg::WRITEBACK);
    ShrinkEnd::Done { unmapped, left }
}

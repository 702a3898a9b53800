// SPDX-License-Identifier: GPL-2.0

//! Taking a page out of memory (`pageout` and `shrink_folio_list` in
//! `mm/vmscan.c`, for one space's page): the decisions, in two steps around
//! the write to swap, which runs with no lock held.
//!
//! [`Mm::pageout_begin`], under the space's lock, looks at page `idx`:
//!
//! - not in a frame of its own (untouched, zero-mapped, in swap, or shared
//!   with a clone): nothing to do ([`Error::Invalid`], or [`Error::Busy`]
//!   for a shared frame, which reclaim must take from every sharer at once,
//!   or one whose write to swap is in flight);
//! - otherwise its user PTEs are zapped first, so nothing writes the frame
//!   while it is looked at;
//! - a frame that holds only zeros: the page becomes untouched again, no
//!   slot (like zswap's same-filled pages);
//! - a clean frame in the swap cache (brought back from swap, not written
//!   since): the entry names its slot again, no I/O;
//! - otherwise a slot is taken, the frame pinned (the caller drops the pin
//!   after `pageout_end`) and marked under writeback (a second pageout of
//!   it is refused until the first ends), the entry write-protected
//!   and cleaned (`WRITE` and `DIRTY` cleared) and its user PTEs zapped:
//!   any write from now on faults and dirties the entry. The caller writes
//!   the frame to the slot with no lock held and calls [`Mm::pageout_end`].
//!
//! [`Mm::pageout_end`], under the lock again, revalidates: if the entry still
//! maps the frame, alone and clean, the entry names the slot, the page's user
//! PTEs (read-only ones made meanwhile) are zapped, and the frame goes.
//! Otherwise (written or shared meanwhile, or the write failed) the slot is
//! given back and the page stays resident, dirty again if the write failed.
//! Either way zaps come before the frame's map count and reference go, as
//! everywhere in the core (`fault.rs`).

use super::error::{Error, Result};
use super::fault::{drop_swapcache, get_frame, unmap_frame as unmap, FramePool, Mm};
use super::frame::pg;
use super::memory::{FrameMemory, Pfn, WORDS_PER_PAGE};
use super::pagetable::{NodeAllocator, Pte, PteKind};

/// What [`Mm::pageout_begin`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pageout {
    /// The frame held only zeros: the page is untouched again.
    Zero,
    /// The frame was a clean copy of `slot` (the swap cache): the entry
    /// names the slot again, no I/O.
    Clean(u32),
    /// Write frame `pfn` to `slot`, with no lock held, then call
    /// [`Mm::pageout_end`] with the outcome.
    Write {
        /// The frame, pinned until `pageout_end`.
        pfn: Pfn,
        /// The slot, taken for this write.
        slot: u32,
    },
}

/// What [`Mm::pageout_end`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageoutEnd {
    /// The page is in the slot; its frame is freed.
    SwappedOut(u32),
    /// The page was written or shared meanwhile: it stays resident, the slot
    /// is given back.
    Raced,
    /// The write failed: the page stays resident and dirty, the slot is
    /// given back.
    WriteFailed,
}

/// Whether frame `pfn` holds only zeros.
fn is_zero_filled<M: FrameMemory>(mem: &M, pfn: Pfn) -> bool {
    (0..WORDS_PER_PAGE).all(|w| mem.load(pfn.addr().word(w)) == 0)
}

impl Mm {
    /// Starts taking page `idx` out of memory (see the module
    /// documentation). `zap` clears the page's user PTEs in every process.
    /// On error nothing changed, but for [`Error::NoMemory`] (no slot), when
    /// the page's PTEs are already zapped (its next access takes a minor
    /// fault).
    pub fn pageout_begin<P: FramePool>(
        &mut self,
        pool: &P,
        nodes: &mut impl NodeAllocator,
        idx: u64,
        zap: impl FnOnce(),
    ) -> Result<Pageout> {
        let (mem, frames) = (pool.memory(), pool.frames());
        let pte = self.pt.lookup(mem, idx);
        let PteKind::Frame(pfn) = pte.kind() else {
            return Err(Error::Invalid);
        };
        let f = frames.get(pfn.idx()).ok_or(Error::Invalid)?;
        // Shared, or another pageout's write is in flight (a second one
        // would clean the entry under the first, which would then name a
        // slot holding older data).
        if f.mapcount() != 1 || f.test(pg::WRITEBACK) {
            return Err(Error::Busy);
        }
        // From here nothing writes the frame: the zap takes every user PTE
        // of the page away, and a new one, or a write through `access`,
        // needs the lock our caller holds. Only then is it looked at.
        zap();
        if is_zero_filled(mem, pfn) {
            self.set(mem, nodes, idx, Pte::NONE)?;
            unmap(pool, pfn);
            return Ok(Pageout::Zero);
        }
        if f.test(pg::SWAPCACHE) && !pte.has(Pte::DIRTY) {
            let slot = f.private();
            self.set(mem, nodes, idx, Pte::swap(slot, 0))?;
            // The entry's own count; the frame's goes when it is freed.
            pool.dup_slot(slot);
            unmap(pool, pfn);
            return Ok(Pageout::Clean(slot));
        }
        let slot = pool.alloc_slot()?;
        if let Err(e) = self.set(mem, nodes, idx, pte.without(Pte::WRITE | Pte::DIRTY)) {
            pool.put_slot(slot);
            return Err(e);
        }
        // Written since it came back: its old slot is stale.
        drop_swapcache(pool, pfn);
        f.set(pg::WRITEBACK);
        get_frame(pool, pfn);
        Ok(Pageout::Write { pfn, slot })
    }

    /// Finishes what [`Mm::pageout_begin`] started with
    /// [`Pageout::Write`]`{ pfn, slot }` (passed as `(pfn, slot)`), once the
    /// write to `slot` is done
    /// (`written`: it succeeded). `zap` as for `pageout_begin`. The caller
    /// then drops the pin `pageout_begin` took
    /// ([`put_frame`](super::fault::put_frame)), which frees
    /// the frame if it was swapped out.
    pub fn pageout_end<P: FramePool>(
        &mut self,
        pool: &P,
        nodes: &mut impl NodeAllocator,
        idx: u64,
        (pfn, slot): (Pfn, u32),
        written: bool,
        zap: impl FnOnce(),
    ) -> Result<PageoutEnd> {
        let mem = pool.memory();
        if let Some(f) = pool.frames().get(pfn.idx()) {
            f.clear(pg::WRITEBACK);
        }
        let pte = self.pt.lookup(mem, idx);
        let ours = pte.kind() == PteKind::Frame(pfn);
        let alone = pool
            .frames()
            .get(pfn.idx())
            .is_some_and(|f| f.mapcount() == 1);
        let r = if !written {
            pool.put_slot(slot);
            if ours {
                // Still to be written: keep it dirty. (An existing entry
                // changes: no node is needed.)
                self.set(mem, nodes, idx, pte.with(Pte::DIRTY))?;
            }
            PageoutEnd::WriteFailed
        } else if !ours || !alone || pte.has(Pte::DIRTY) {
            pool.put_slot(slot);
            PageoutEnd::Raced
        } else {
            // The slot's count (taken by `pageout_begin`) is the entry's.
            if let Err(e) = self.set(mem, nodes, idx, Pte::swap(slot, 0)) {
                pool.put_slot(slot);
                return Err(e);
            }
            zap();
            unmap(pool, pfn);
            PageoutEnd::SwappedOut(slot)
        };
        Ok(r)
    }
}

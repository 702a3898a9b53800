// SPDX-License-Identifier: GPL-2.0

//! An address space's fault decisions (`mm/memory.c`): the shared zero page,
//! demand zero, copy-on-write and its last-sharer reuse, and snapshots.
//!
//! [`Mm`] is a space's page table with its counters. The kernel glue calls
//! [`Mm::read_fault`] or [`Mm::write_fault`] with the space's lock held and
//! turns the answer into a PTE: the zero frame read-only, a frame read-only
//! or writable. It passes a `zap` callback that clears the page's user PTEs
//! in every process: the core calls it after a page's entry stops
//! referencing a frame or the zero frame but while the old frame is still
//! referenced, which is what makes mapping frames into user space sound (no
//! PTE can outlive its frame's reference).
//!
//! Each page-table entry that maps a data frame holds one map count and one
//! reference on it ([`Frame::mapcount`], [`Frame::refcount`]); pins (reclaim,
//! I/O) hold references only. Sharing is decided by the map count alone, and
//! a frame is freed when its last reference goes. Frames come from a
//! [`FramePool`].
//!
//! The order that makes user PTEs sound, for every entry that stops mapping
//! a frame: the entry changes, the page's user PTEs are zapped everywhere,
//! then the entry's map count and reference are dropped. No user PTE can
//! therefore map a frame after the reference that kept it alive is gone.

use super::error::{Error, Result};
use super::frame::{pg, Frame, FrameState};
use super::memory::{FrameMemory, Pfn};
use super::pagetable::NodeAllocator;
use super::pagetable::{PageTable, Pte, PteKind, MAX_PAGES};
use super::swap::SwapSlots;

/// Where data frames come from: the buddy allocator behind whatever lock the
/// user keeps it under; and the swap slots pages go to.
pub trait FramePool: SwapSlots {
    /// The frames' contents.
    type Memory: FrameMemory;
    /// The frames' contents.
    fn memory(&self) -> &Self::Memory;
    /// The frame table.
    fn frames(&self) -> &[Frame];
    /// An order-0 block from the buddy allocator.
    fn alloc_page(&self) -> Result<Pfn>;
    /// A new data frame ([`FrameState::Data`]) with one reference, the
    /// caller's, and no map count; contents undefined.
    fn alloc_frame(&self) -> Result<Pfn> {
        let pfn = self.alloc_page()?;
        if let Some(f) = self.frames().get(pfn.idx()) {
            f.set_state(FrameState::Data);
            f.set_count(1);
            f.set_mapcount(0);
        }
        Ok(pfn)
    }
    /// Gives a data frame whose last reference went back to the buddy.
    fn free_frame(&self, pfn: Pfn);
    /// A frame entered (`+1`) or left (`-1`) the swap cache: for a counter
    /// of swap-cache frames (`NR_SWAPCACHE`). The core calls it at every
    /// such change; the default counts nothing.
    fn swapcache_changed(&self, _delta: i64) {}
    /// Drops one reference on data frame `pfn`; the last frees it
    /// (`put_page`). Overridden only by test pools that check who drops
    /// references when.
    fn put_frame(&self, pfn: Pfn) {
        if let Some(f) = self.frames().get(pfn.idx()) {
            if f.put() {
                release_frame(self, pfn);
            }
        }
    }
}

/// Frees a data frame whose last reference went: out of the swap cache
/// (its slot's count goes), back to the buddy.
pub fn release_frame(pool: &(impl FramePool + ?Sized), pfn: Pfn) {
    drop_swapcache(pool, pfn);
    pool.free_frame(pfn);
}

/// Drops frame `pfn`'s swap-cache slot, if it has one: its contents are
/// about to differ from the slot's, or the frame is going.
pub(super) fn drop_swapcache(pool: &(impl FramePool + ?Sized), pfn: Pfn) {
    if let Some(slot) = pool.frames().get(pfn.idx()).and_then(Frame::take_swapcache) {
        pool.swapcache_changed(-1);
        pool.put_slot(slot);
    }
}

/// Takes one more reference on data frame `pfn` (a pin: reclaim isolating
/// it, I/O), not a mapping: the map count, and so the fault path's idea of
/// sharing, is unchanged.
pub fn get_frame(pool: &impl FramePool, pfn: Pfn) {
    if let Some(f) = pool.frames().get(pfn.idx()) {
        f.get();
    }
}

/// Drops one reference on data frame `pfn`; the last frees it.
pub fn put_frame(pool: &impl FramePool, pfn: Pfn) {
    pool.put_frame(pfn);
}

/// One more entry maps `pfn`: a map count and a reference.
fn map_frame(frames: &[Frame], pfn: Pfn) {
    if let Some(f) = frames.get(pfn.idx()) {
        f.inc_mapcount();
        f.get();
    }
}

/// An entry that mapped `pfn` no longer does (its user PTEs are zapped): its
/// map count and its reference go; the last reference frees the frame.
pub(super) fn unmap_frame(pool: &impl FramePool, pfn: Pfn) {
    if let Some(f) = pool.frames().get(pfn.idx()) {
        f.dec_mapcount();
    }
    pool.put_frame(pfn);
}

/// A new data frame filled with zeroes.
pub fn alloc_zeroed_frame(pool: &impl FramePool) -> Result<Pfn> {
    let pfn = pool.alloc_frame()?;
    pool.memory().clear_page(pfn);
    Ok(pfn)
}

/// What a read maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMap {
    /// The zero frame, read-only.
    Zero,
    /// A frame; writable if the space wrote it and holds it alone.
    Frame {
        /// The frame.
        pfn: Pfn,
        /// Whether it may be mapped writable.
        writable: bool,
    },
    /// The page is in swap slot `slot` (swap-in is not done here).
    Swap(u32),
}

/// What a fault was, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A read mapped the zero frame.
    Zero,
    /// A read or write re-mapped a frame already in the page table.
    Minor,
    /// A write took a fresh zeroed frame.
    DemandZero,
    /// A write copied a shared frame.
    Cow,
    /// A write found a once-shared frame held alone: reused, no copy.
    CowReuse,
    /// A page came back from swap into a new frame (a major fault).
    SwapIn,
}

/// The answer to a write fault: map `pfn` writable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteMap {
    /// The frame to map writable.
    pub pfn: Pfn,
    /// The frame was already mapped (read-only, maybe) for this page: the
    /// existing PTE may simply be made writable.
    pub in_place: bool,
    /// What the fault was.
    pub kind: FaultKind,
}

/// A space's page table and counters (the core of `mm_struct`).
///
/// # Invariants
///
/// `resident`, `zero` and `swapped` count the frame, zero-page and swap
/// entries of `pt`. Every frame entry holds one map count and one reference
/// on its frame, every swap entry one count on its slot. An entry has
/// [`Pte::WRITE`] only if its frame's map count is 1.
pub struct Mm {
    /// The page table.
    pub pt: PageTable,
    /// Recorded in a frame this space takes (`owner`), for the rmap.
    pub id: u32,
    resident: u64,
    zero: u64,
    swapped: u64,
}

impl Mm {
    /// An empty space.
    pub const fn new(id: u32) -> Self {
        Self {
            pt: PageTable::new(),
            id,
            resident: 0,
            zero: 0,
            swapped: 0,
        }
    }

    /// Pages in a frame.
    pub fn resident(&self) -> u64 {
        self.resident
    }

    /// Pages mapped to the zero frame.
    pub fn zero(&self) -> u64 {
        self.zero
    }

    /// Pages in swap.
    pub fn swapped(&self) -> u64 {
        self.swapped
    }

    /// Sets page `idx`'s entry, keeping the counters.
    pub(super) fn set<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        idx: u64,
        pte: Pte,
    ) -> Result<Pte> {
        let old = self.pt.set(mem, nodes, idx, pte)?;
        let count = |p: Pte| match p.kind() {
            PteKind::Frame(_) => (1u64, 0u64, 0u64),
            PteKind::Zero => (0, 1, 0),
            PteKind::Swap(_) => (0, 0, 1),
            PteKind::None => (0, 0, 0),
        };
        let ((r0, z0, s0), (r1, z1, s1)) = (count(old), count(pte));
        self.resident = self.resident + r1 - r0;
        self.zero = self.zero + z1 - z0;
        self.swapped = self.swapped + s1 - s0;
        Ok(old)
    }

    pub(super) fn own(&self, frames: &[Frame], pfn: Pfn, idx: u64) {
        if let Some(f) = frames.get(pfn.idx()) {
            f.set_owner(self.id);
            f.set_index(idx);
        }
    }

    /// A read of page `idx` (a fault, or a neighbour in fault-around): an
    /// untouched page becomes zero-mapped. [`Error::NoMemory`] if a
    /// page-table node is needed and there is none; [`Error::Invalid`] past
    /// [`MAX_PAGES`].
    pub fn read_fault<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        idx: u64,
    ) -> Result<(ReadMap, FaultKind)> {
        if idx >= MAX_PAGES {
            return Err(Error::Invalid);
        }
        let pte = self.pt.lookup(mem, idx);
        Ok(match pte.kind() {
            PteKind::None => {
                self.set(mem, nodes, idx, Pte::zero())?;
                (ReadMap::Zero, FaultKind::Zero)
            }
            PteKind::Zero => (ReadMap::Zero, FaultKind::Zero),
            PteKind::Frame(pfn) => (
                ReadMap::Frame {
                    pfn,
                    writable: pte.has(Pte::WRITE),
                },
                FaultKind::Minor,
            ),
            PteKind::Swap(slot) => (ReadMap::Swap(slot), FaultKind::Minor),
        })
    }

    /// A write to page `idx`. `prealloc`, if given, is a zeroed frame the
    /// caller took beforehand; it is used (and taken) when a new frame is
    /// needed. `mapped` says the faulting process has a PTE for the page
    /// (`pfn_mkwrite`). `zap` must clear the page's user PTEs in every
    /// process; it is called when the entry changes from the zero frame, a
    /// mapped page or a frame to another frame: after the entry changed (under
    /// the caller's lock, so no fault can see either in between) and before
    /// the old frame's reference is dropped. On error nothing changed (and
    /// `prealloc` is left).
    pub fn write_fault<P: FramePool>(
        &mut self,
        pool: &P,
        nodes: &mut impl NodeAllocator,
        idx: u64,
        prealloc: &mut Option<Pfn>,
        mapped: bool,
        zap: impl FnOnce(),
    ) -> Result<WriteMap> {
        if idx >= MAX_PAGES {
            return Err(Error::Invalid);
        }
        let (mem, frames) = (pool.memory(), pool.frames());
        let pte = self.pt.lookup(mem, idx);
        let writable = Pte::WRITE | Pte::DIRTY;
        match pte.kind() {
            PteKind::None | PteKind::Zero => {
                let (new, took) = match prealloc.take() {
                    Some(p) => (p, true),
                    None => (alloc_zeroed_frame(pool)?, false),
                };
                self.own(frames, new, idx);
                if let Err(e) = self.set(mem, nodes, idx, Pte::frame(new, writable)) {
                    if took {
                        *prealloc = Some(new);
                    } else {
                        put_frame(pool, new);
                    }
                    return Err(e);
                }
                // The allocation's reference becomes the entry's.
                if let Some(f) = frames.get(new.idx()) {
                    f.inc_mapcount();
                }
                if mapped || pte.kind() == PteKind::Zero {
                    zap();
                }
                Ok(WriteMap {
                    pfn: new,
                    in_place: false,
                    kind: FaultKind::DemandZero,
                })
            }
            PteKind::Frame(pfn) => {
                let (maps, writeback) = frames
                    .get(pfn.idx())
                    .map_or((0, false), |f| (f.mapcount(), f.test(pg::WRITEBACK)));
                if maps == 1 && (pte.has(Pte::WRITE) || !writeback) {
                    // Mapped by this entry alone: no one can share it without
                    // this space's lock (a snapshot of this space takes it).
                    // Pins (reclaim, I/O) do not count: they revalidate the
                    // entry under that lock before acting on the frame. But
                    // a frame being written to swap is copied, never written
                    // in place (`wp_can_reuse_anon_folio` refuses a folio
                    // under writeback): what reaches the slot is what every
                    // entry that still maps it holds. (An entry already
                    // writable stays so: the walk under way write-protects
                    // it, and zaps its PTEs, before the write starts.)
                    let kind = if pte.has(Pte::WRITE) {
                        FaultKind::Minor
                    } else {
                        self.own(frames, pfn, idx);
                        self.set(mem, nodes, idx, pte.with(writable))?;
                        // Written from now on: its copy in swap goes stale.
                        drop_swapcache(pool, pfn);
                        FaultKind::CowReuse
                    };
                    return Ok(WriteMap {
                        pfn,
                        in_place: true,
                        kind,
                    });
                }
                let (new, took) = match prealloc.take() {
                    Some(p) => (p, true),
                    None => (pool.alloc_frame()?, false),
                };
                // The copy overwrites the whole frame: nothing of its
                // previous contents can show.
                mem.copy_page(new, pfn);
                self.own(frames, new, idx);
                if let Err(e) = self.set(mem, nodes, idx, Pte::frame(new, writable)) {
                    if took {
                        // Still a whole-page overwrite of a frame no one
                        // sees: give it back zeroed, as promised.
                        mem.clear_page(new);
                        *prealloc = Some(new);
                    } else {
                        put_frame(pool, new);
                    }
                    return Err(e);
                }
                if let Some(f) = frames.get(new.idx()) {
                    f.inc_mapcount();
                }
                // Zap before the old frame's reference goes: see the module
                // documentation.
                zap();
                unmap_frame(pool, pfn);
                Ok(WriteMap {
                    pfn: new,
                    in_place: false,
                    kind: FaultKind::Cow,
                })
            }
            // The caller brings the page back first ([`Mm::swap_in`]).
            PteKind::Swap(_) => Err(Error::Invalid),
        }
    }

    /// Brings page `idx` back from swap slot `slot` into `frame`: a data
    /// frame the caller allocated ([`FramePool::alloc_frame`], one
    /// reference) and filled from the slot with no lock held. If the entry
    /// still names `slot`, it maps `frame` read-only and clean, and the frame
    /// enters the swap cache with the entry's count on the slot (evicting it
    /// again, unwritten, needs no I/O); returns `true`, the caller's
    /// reference now the entry's. Otherwise (the page changed meanwhile: a
    /// racing fault brought it back, or it was discarded) nothing changes
    /// and the caller gives `frame` back; returns `false`.
    pub fn swap_in<P: FramePool>(
        &mut self,
        pool: &P,
        nodes: &mut impl NodeAllocator,
        idx: u64,
        slot: u32,
        frame: Pfn,
    ) -> Result<bool> {
        let (mem, frames) = (pool.memory(), pool.frames());
        if self.pt.lookup(mem, idx).kind() != PteKind::Swap(slot) {
            return Ok(false);
        }
        let f = frames.get(frame.idx()).ok_or(Error::Invalid)?;
        self.own(frames, frame, idx);
        // An existing entry changes: no node is needed, this cannot fail.
        self.set(mem, nodes, idx, Pte::frame(frame, 0))?;
        f.inc_mapcount();
        f.set_swapcache(slot);
        pool.swapcache_changed(1);
        Ok(true)
    }

    /// A copy-on-write snapshot: a new space (`id`) with the same entries,
    /// every frame's map count and references raised and [`Pte::WRITE`]
    /// cleared on both sides. `zap` (this space's user PTEs, everywhere) is
    /// then called, always: no user PTE made before the snapshot survives it,
    /// whatever the entries' flags say. On error nothing changed.
    pub fn snapshot<P: FramePool>(
        &mut self,
        pool: &P,
        nodes: &mut impl NodeAllocator,
        id: u32,
        zap: impl FnOnce(),
    ) -> Result<Mm> {
        let mem = pool.memory();
        let mut copy = Mm {
            pt: self.pt.duplicate(mem, nodes)?,
            id,
            resident: self.resident,
            zero: self.zero,
            swapped: self.swapped,
        };
        // Neither update frees nodes (no entry becomes none), so neither
        // can fail.
        self.pt
            .update(mem, nodes, 0, MAX_PAGES, |_, pte| match pte.kind() {
                PteKind::Frame(pfn) => {
                    map_frame(pool.frames(), pfn);
                    pte.without(Pte::WRITE)
                }
                PteKind::Swap(slot) => {
                    pool.dup_slot(slot);
                    pte
                }
                _ => pte,
            })?;
        copy.pt
            .update(mem, nodes, 0, MAX_PAGES, |_, pte| pte.without(Pte::WRITE))?;
        zap();
        Ok(copy)
    }

    /// Drops every entry (their frames' map counts and references) and
    /// frees every node. The caller has zapped every user PTE of the space
    /// (its VMAs are gone).
    pub fn destroy<P: FramePool>(&mut self, pool: &P, nodes: &mut impl NodeAllocator) -> Result {
        self.pt
            .destroy(pool.memory(), nodes, |_, pte| match pte.kind() {
                PteKind::Frame(pfn) => unmap_frame(pool, pfn),
                PteKind::Swap(slot) => pool.put_slot(slot),
                _ => {}
            })?;
        self.resident = 0;
        self.zero = 0;
        self.swapped = 0;
        Ok(())
    }

    /// Discards pages `start..end` (a hole punched by `fallocate` or
    /// `MADV_REMOVE`, as `shmem_undo_range` does for shmem): each entry
    /// becomes none, so the page reads as zeroes on its next touch, and its
    /// frame's map count and reference, or its slot's count, go. `zap` (this
    /// space's user PTEs of the range, everywhere) is called first, always:
    /// zap, then drop. Returns the pages that had an entry. Ranges past
    /// [`MAX_PAGES`] are clipped.
    pub fn discard<P: FramePool>(
        &mut self,
        pool: &P,
        nodes: &mut impl NodeAllocator,
        start: u64,
        end: u64,
        zap: impl FnOnce(),
    ) -> Result<u64> {
        zap();
        let (mut r, mut z, mut s) = (0u64, 0u64, 0u64);
        // Entries become none before any node goes, and a node is freed only
        // when its entries are all gone: what the walk leaves on an error (a
        // corrupt node) is still a consistent table, counted below.
        let res = self.pt.update(pool.memory(), nodes, start, end, |_, pte| {
            match pte.kind() {
                PteKind::Frame(pfn) => {
                    unmap_frame(pool, pfn);
                    r += 1;
                }
                PteKind::Swap(slot) => {
                    pool.put_slot(slot);
                    s += 1;
                }
                PteKind::Zero => z += 1,
                PteKind::None => {}
            }
            Pte::NONE
        });
        self.resident -= r;
        self.zero -= z;
        self.swapped -= s;
        res.map(|()| r + z + s)
    }

    /// Pages whose frame another entry (of any space) also maps.
    pub fn shared<M: FrameMemory>(&self, mem: &M, frames: &[Frame]) -> u64 {
        let mut n = 0;
        self.pt.for_each(mem, 0, MAX_PAGES, |_, pte| {
            if let PteKind::Frame(pfn) = pte.kind() {
                if frames.get(pfn.idx()).is_some_and(|f| f.mapcount() > 1) {
                    n += 1;
                }
            }
        });
        n
    }

    /// Checks the invariants local to this space: the counters match the
    /// table, and every frame entry is a live data frame (mapped, with at
    /// least as many references as maps), writable only if its map count
    /// is 1.
    pub fn check<M: FrameMemory>(
        &self,
        mem: &M,
        frames: &[Frame],
    ) -> core::result::Result<(), &'static str> {
        self.pt.check(mem, frames)?;
        let (mut resident, mut zero, mut swapped, mut bad) = (0, 0, 0, None);
        self.pt
            .for_each(mem, 0, MAX_PAGES, |_, pte| match pte.kind() {
                PteKind::Frame(pfn) => {
                    resident += 1;
                    match frames.get(pfn.idx()) {
                        Some(f)
                            if f.state() == FrameState::Data
                                && f.mapcount() > 0
                                && f.refcount() >= f.mapcount() =>
                        {
                            if pte.has(Pte::WRITE) && f.mapcount() != 1 {
                                bad = Some("a shared frame is writable");
                            }
                        }
                        _ => bad = Some("an entry maps a frame that is not live data"),
                    }
                }
                PteKind::Zero => zero += 1,
                PteKind::Swap(_) => swapped += 1,
                PteKind::None => {}
            });
        if let Some(why) = bad {
            return Err(why);
        }
        if resident != self.resident || zero != self.zero || swapped != self.swapped {
            return Err("resident, zero or swapped counter does not match the table");
        }
        Ok(())
    }
}

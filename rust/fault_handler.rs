// SPDX-License-Identifier: GPL-2.0

//! The page-fault handler (`handle_mm_fault` in `mm/memory.c`) in the
//! kernel: it turns faults on `/dev/pagearena` VMAs into calls on the core's
//! [`Mm`] and the core's answers into PTEs; and it serves `vm_ops->access`
//! (debuggers, `/proc/PID/mem`) the same way.
//!
//! The kernel calls in through [`crate::vm_ops`] for two events on a VMA of
//! the device (a shared `VM_PFNMAP` mapping with write-notify, so every PTE
//! starts read-only):
//!
//! - `fault`: the page has no PTE. A read maps what [`Mm::read_fault`] says
//!   (the zero frame for an untouched page, or the page's frame), and the
//!   rest of its fault-around window the same way. A write is a write fault.
//! - `pfn_mkwrite`: a write hit a read-only PTE: a write fault.
//!
//! A write fault maps the frame [`Mm::write_fault`] chose writable: a fresh
//! zeroed one (demand zero), a private copy (COW), or the same frame (held
//! alone: `pfn_mkwrite` replaces the read-only PTE by a writable one).
//!
//! The decisions are made under the space's mutex; a read fault maps under
//! it too, a write fault makes its PTE just after dropping it, under an
//! insert every zap waits out ([`crate::rmap`]). Demand-zero, COW, minor
//! and zero-page faults take no global lock (frames come from the CPU's
//! free list, new frames wait in the CPU's LRU-add batch, events are
//! counted per CPU: [`crate::percpu`]; the buddy's and the LRU's locks are
//! taken once a batch); a soft fault takes the LRU's, a swap-in the swap
//! map's. A write on a page without a PTE zeroes a frame before taking the
//! mutex (unless a snapshot ever shared the space's frames: there it may
//! be a copy). A fault's PTEs are made in one batch ([`PteBatch`]), and a
//! write fault in a space with one VMA zaps only that VMA's PTE
//! ([`zap_page`]). A page in swap is read back with no lock held. A new
//! frame goes on the LRU; a frame remapped after reclaim aged it is a soft
//! fault, which tells reclaim it is in use. A fault that
//! finds free frames below the min watermark, or no frame at all, reclaims
//! directly with the mutex dropped and tries again ([`crate::vmscan`]). Why
//! the PTEs made here can never outlive their frames is the frame-lifetime
//! protocol at the top of `rust/pagearena_main.rs`.
//!
//! [`Mm`]: crate::mm::fault::Mm
//! [`Mm::read_fault`]: crate::mm::fault::Mm::read_fault
//! [`Mm::write_fault`]: crate::mm::fault::Mm::write_fault

use crate::{
    arena::{arena, Arena, Event, PtNodes, SpaceWord},
    mm::{
        error::Error as MmError,
        fault::{alloc_zeroed_frame, put_frame, FaultKind, FramePool, ReadMap},
        frame::pg,
        memory::{Pfn, PAGE_SIZE},
        pagetable::PteKind,
        swap::SwapSlots,
    },
    space::{Space, SpaceInner},
    vm_ops::{self, AccessBuf, PteBatch, VmFault, VmFaultReason},
    vmscan,
};
use kernel::{
    mm::virt::{flags, VmaRef},
    prelude::*,
    sync::MutexGuard,
};

/// A fault found no frame or page-table node: reclaim, then try again.
struct OutOfFrames;

/// Times a fault reclaims directly and retries before it gives up (`SIGBUS`).
/// Each direct reclaim looks at a bounded part of the lists, so together
/// they cover them about twice (`MAX_RECLAIM_RETRIES`, priorities).
const FAULT_RETRIES: u32 = 8;
/// Milliseconds a fault whose direct reclaim found nothing waits, 1 ms at a
/// time, for the reclaim thread (which alone writes to a regular-file
/// store), before it gives up; not at all once the thread has given up.
const THROTTLE_WAITS: u32 = 1000;

/// The direct reclaims one fault (or `access`) has made.
struct Retries(u32);

impl Retries {
    /// Reclaims directly, unless [`FAULT_RETRIES`] are used up; returns
    /// whether trying again may help. The caller holds no lock of ours.
    fn reclaim(&mut self, a: &Arena) -> bool {
        self.0 < FAULT_RETRIES && {
            self.0 += 1;
            vmscan::direct_reclaim(a)
        }
    }
}

/// Handles a fault on `space` (`mkwrite`: from `pfn_mkwrite`).
pub fn handle_fault(space: &Space, vmf: &VmFault, mkwrite: bool) -> VmFaultReason {
    let a = arena();
    a.count(Event::PgFault);
    let idx = match vmf.pgoff().checked_sub(space.window.base) {
        Some(i) if i < space.window.pages => i as u64,
        _ => return VmFaultReason::SIGBUS,
    };
    a.trace.record(space.id as u32, idx);
    // A write (which may need a frame) below the min watermark: reclaim
    // before taking the space's mutex, which reclaim may need
    // (`__alloc_pages_slowpath`). A read needs at most a page-table node:
    // it reclaims only if it finds none.
    let read = !mkwrite && !vmf.is_write();
    if !read && a.nr_free() < a.wmark.min() {
        vmscan::direct_reclaim(a);
    }
    let (mut tries, mut waits) = (Retries(0), 0);
    loop {
        let r = if read {
            read_fault(a, space, vmf, idx)
        } else {
            write_fault(a, space, vmf, idx, mkwrite)
        };
        if let Ok(v) = r {
            return v;
        }
        // Out of frames. Nothing is held here: reclaim, and try again while
        // it helps (a bounded number of times, whatever it says); then,
        // while the reclaim thread has not given up, wait for it a little
        // (`reclaim_throttle`), for what it frees. A task being killed
        // stops at once.
        if vmscan::fatal_signal_pending() {
            return VmFaultReason::SIGBUS;
        }
        if tries.reclaim(a) {
            continue;
        }
        if waits < THROTTLE_WAITS && a.kswapd_working() {
            a.wake_kswapd();
            waits += 1;
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(1));
        } else {
            a.count(Event::OomFault);
            return VmFaultReason::SIGBUS;
        }
    }
}

/// Tells reclaim what a fault that mapped `pfn` as `kind` did: a new frame
/// goes on the LRU; a frame remapped is an access reclaim asked to see
/// (its PTEs were zapped by aging, or by a snapshot).
fn note_access(a: &Arena, pfn: Pfn, kind: FaultKind) {
    match kind {
        FaultKind::DemandZero | FaultKind::Cow => a.lru_add(pfn),
        FaultKind::Minor | FaultKind::CowReuse => {
            if a.lru_accessed(pfn) {
                a.count(Event::SoftFault);
            }
        }
        FaultKind::Zero | FaultKind::SwapIn => {}
    }
}

/// A write fault (or `pfn_mkwrite`) on page `idx`.
fn write_fault(
    a: &Arena,
    space: &Space,
    vmf: &VmFault,
    idx: u64,
    mkwrite: bool,
) -> Result<VmFaultReason, OutOfFrames> {
    // A write on a page without a PTE is most likely a first touch: zero a
    // frame before taking the lock, so threads zero in parallel. Not in a
    // space whose frames a snapshot shared: there it is as likely a copy,
    // which would waste the zeroing (the core zeroes under the lock if the
    // page turns out untouched).
    let mut prealloc = if mkwrite || space.may_share() {
        None
    } else {
        alloc_zeroed_frame(a).ok()
    };
    let decided = {
        let mut inner = space.inner.lock();
        if let PteKind::Swap(slot) = inner.mm.pt.lookup(&a.mem, idx).kind() {
            a.dup_slot(slot);
            drop(inner);
            if let Some(p) = prealloc {
                put_frame(a, p);
            }
            return swap_in_fault(a, space, idx, slot);
        }
        let r = inner.mm.write_fault(
            a,
            &mut PtNodes { arena: a },
            idx,
            &mut prealloc,
            mkwrite,
            || zap_page(space, vmf, idx),
        );
        space.sync_counters(&inner.mm);
        match r {
            Ok(w) => {
                a.count(event(w.kind));
                note_access(a, w.pfn, w.kind);
                if w.in_place && mkwrite {
                    // The frame stays, its PTE becomes writable. Not by
                    // returning 0 from `pfn_mkwrite` (`finish_mkwrite_fault`
                    // upgrades the PTE after our mutex is dropped, checking
                    // only `pte_same`: a snapshot and a read fault in between
                    // could rebuild the same read-only PTE to a now shared
                    // frame), but here, under the mutex: this PTE goes, and
                    // a writable one takes its place.
                    zap_faulting_pte(space, vmf);
                }
                // The PTE is made with the mutex dropped, under an insert
                // registered while it is held (`rmap`): a zap of this page
                // waits for it.
                Ok((w.pfn, space.window.begin_insert()))
            }
            Err(e) => Err(e),
        }
    };
    let r = match decided {
        Ok((pfn, insert)) => {
            let v = map(a, vmf, vmf.address(), Some(pfn), true);
            drop(insert);
            Ok(v)
        }
        Err(e) => failed(e),
    };
    if let Some(p) = prealloc {
        put_frame(a, p);
    }
    r
}

/// Zaps page `idx`'s user PTEs in every process, for a write fault through
/// `vmf` whose entry changed; the caller holds the space's mutex. If the
/// faulting VMA is the space's only one, every PTE of the space is in it
/// (frame-lifetime protocol, rule 3): that VMA's PTE alone is zapped, after
/// the inserts in flight as [`crate::rmap::Window::zap`] does, without the
/// reverse-map walk, which takes the device mapping's `i_mmap_rwsem`,
/// shared by every space, and visits every VMA at the page's offset (a
/// fork family's VMAs share their window).
fn zap_page(space: &Space, vmf: &VmFault, idx: u64) {
    if space.get(SpaceWord::Vmas) == 1 {
        zap_faulting_pte(space, vmf);
    } else {
        space.window.zap(idx, 1);
    }
}

/// Zaps the faulting VMA's PTE of the faulting page, under the space's
/// mutex: inserts in flight first, as [`crate::rmap::Window::zap`] does.
fn zap_faulting_pte(space: &Space, vmf: &VmFault) {
    space.window.wait_inserts();
    vmf.vma().zap_vma_range(vmf.address(), PAGE_SIZE);
}

fn event(kind: FaultKind) -> Event {
    match kind {
        FaultKind::Zero => Event::ZeroFault,
        FaultKind::Minor => Event::MinorFault,
        FaultKind::DemandZero => Event::DemandZeroFault,
        FaultKind::Cow => Event::CowFault,
        FaultKind::CowReuse => Event::CowReuseFault,
        FaultKind::SwapIn => Event::MajorFault,
    }
}

/// Brings page `idx` of `space` back from swap `slot`: the read runs with
/// no lock held, so faults on other pages (and other spaces) go on
/// meanwhile; a racing fault on the same page reads too, and the loser's
/// frame goes back ([`crate::mm::fault::Mm::swap_in`] revalidates).
/// `ENOMEM` without a frame (the caller may reclaim and try again), `EIO`
/// if the read fails: never a page of zeros in place of the data.
///
/// The caller took a count on `slot` under the space's mutex, while the
/// entry named it (as `swapcache_prepare` pins a slot in Linux): the slot
/// cannot be freed and handed to another page while the read is in
/// flight, so the entry naming it afterwards means it still holds this
/// page. The count goes here, whatever happens.
pub fn swap_in_page(a: &Arena, space: &Space, idx: u64, slot: u32) -> Result {
    let r = read_and_install(a, space, idx, slot);
    a.put_slot(slot);
    r
}

fn read_and_install(a: &Arena, space: &Space, idx: u64, slot: u32) -> Result {
    let store = a.swapfile.as_ref().ok_or(EIO)?;
    let frame = a.alloc_frame().map_err(Error::from)?;
    if let Err(e) = store.read(&a.mem, frame, slot) {
        a.count(Event::SwapIoError);
        put_frame(a, frame);
        return Err(e);
    }
    a.count(Event::SwapIn);
    let installed = {
        let mut inner = space.inner.lock();
        let r = inner
            .mm
            .swap_in(a, &mut PtNodes { arena: a }, idx, slot, frame);
        space.sync_counters(&inner.mm);
        // On the LRU (by way of this CPU's batch, which pins it) while the
        // entry still holds it: once the mutex is dropped, a pageout may
        // free it.
        if r == Ok(true) {
            a.lru_add(frame);
        }
        r
    };
    match installed {
        Ok(true) => {
            a.count(Event::MajorFault);
            Ok(())
        }
        Ok(false) => {
            put_frame(a, frame);
            Ok(())
        }
        Err(e) => {
            put_frame(a, frame);
            Err(e.into())
        }
    }
}

/// A fault on a page in swap: swap it in, then let the access retry (it
/// faults again and finds the frame).
fn swap_in_fault(
    a: &Arena,
    space: &Space,
    idx: u64,
    slot: u32,
) -> Result<VmFaultReason, OutOfFrames> {
    match swap_in_page(a, space, idx, slot) {
        Ok(()) => Ok(VmFaultReason::NOPAGE),
        Err(e) if e == ENOMEM => Err(OutOfFrames),
        Err(_) => Ok(VmFaultReason::SIGBUS),
    }
}

/// `SIGBUS` for a fault the core could not satisfy, or a retry after
/// reclaim if it ran out of frames.
fn failed(e: MmError) -> Result<VmFaultReason, OutOfFrames> {
    if e == MmError::NoMemory {
        Err(OutOfFrames)
    } else {
        Ok(VmFaultReason::SIGBUS)
    }
}

/// Maps frame `pfn` (`None`: the zero frame) at `addr` in the faulting VMA,
/// writable or as the VMA's protection says.
///
/// The caller holds the space's mutex, or an insert it registered under it
/// ([`crate::rmap::Window::begin_insert`]); when it held the mutex, the
/// page's entry referenced the frame (or it is the zero frame).
fn map(a: &Arena, vmf: &VmFault, addr: usize, pfn: Option<Pfn>, writable: bool) -> VmFaultReason {
    let k = match pfn {
        None => a.zero_kpfn,
        Some(p) => match a.kernel_pfn(p) {
            Some(k) => k,
            None => return VmFaultReason::SIGBUS,
        },
    };
    insert_one(vmf, addr, k, writable)
}

/// Makes one PTE, of kernel pfn `k` at `addr`, as [`insert`] does.
fn insert_one(vmf: &VmFault, addr: usize, k: usize, writable: bool) -> VmFaultReason {
    let mut batch = PteBatch::new(addr);
    batch.add(addr, k, writable);
    insert(vmf, &batch)
}

/// Makes the PTEs of `batch`, frames of the arena (by [`map`] or
/// [`read_fault`]), in the faulting VMA.
fn insert(vmf: &VmFault, batch: &PteBatch) -> VmFaultReason {
    // SAFETY: Each frame is the zero frame (alive for the arena's whole
    // life) or one a page's entry maps, under the space mutex our caller
    // holds, or mapped when the caller last held it and registered an
    // insert then: an entry that changes afterwards is zapped only after
    // this insert ends (`rmap`'s wait), so the PTE made here goes with that
    // zap, before the frame can be put. Each PTE goes into a VMA of this
    // space, at its page's offset in the space's window. By the
    // frame-lifetime protocol (top of `rust/pagearena_main.rs`: rules 1-3
    // for where PTEs come from, 4 for the order of zap and put) the frame
    // stays allocated, and is not reused, until every PTE we make is gone.
    // Arena frames and the zero frame are pages the arena allocated from
    // the kernel's page allocator and never gave a memory type.
    unsafe { vmf.insert(batch) }
}

/// What a read fault maps at one page.
enum ReadPte {
    /// This kernel pfn, writable or not.
    Map(usize, bool),
    /// Nothing (a neighbour reclaim watches).
    Skip,
    /// Nothing: the access gets `SIGBUS`.
    Sigbus,
}

/// What to map for reading at page `idx` (the core's decision is made and
/// counted here; the PTE is the caller's to make).
/// `around`: for a neighbour in fault-around, which is not an access:
/// a frame reclaim watches is left unmapped ([`ReadPte::Skip`]).
fn read_pte(
    a: &Arena,
    inner: &mut MutexGuard<'_, SpaceInner>,
    idx: u64,
    around: bool,
) -> Result<(ReadPte, FaultKind), MmError> {
    let (m, kind) = inner
        .mm
        .read_fault(&a.mem, &mut PtNodes { arena: a }, idx)?;
    let pte = match m {
        ReadMap::Zero => ReadPte::Map(a.zero_kpfn, false),
        ReadMap::Frame { pfn, .. } if around && watched(a, pfn) => ReadPte::Skip,
        // A frame this space wrote and holds alone is mapped writable at
        // once: there is no copy to make on the next write.
        ReadMap::Frame { pfn, writable } => match a.kernel_pfn(pfn) {
            Some(k) => {
                if !around {
                    note_access(a, pfn, kind);
                }
                ReadPte::Map(k, writable)
            }
            None => ReadPte::Sigbus,
        },
        // Swapped in by the caller (fault-around leaves it).
        ReadMap::Swap(_) => ReadPte::Sigbus,
    };
    Ok((pte, kind))
}

/// Whether reclaim waits to see the next access to `pfn`: a frame on the
/// LRU not young (not accessed since it was aged). Fault-around leaves such
/// neighbours unmapped (it cannot map them "old", as Linux does), so that
/// their own access faults and is seen.
fn watched(a: &Arena, pfn: Pfn) -> bool {
    let f = &a.frames[pfn.idx()];
    f.test(pg::LRU) && !f.test(pg::YOUNG)
}

fn read_fault(
    a: &Arena,
    space: &Space,
    vmf: &VmFault,
    idx: u64,
) -> Result<VmFaultReason, OutOfFrames> {
    let mut inner = space.inner.lock();
    if let PteKind::Swap(slot) = inner.mm.pt.lookup(&a.mem, idx).kind() {
        a.dup_slot(slot);
        drop(inner);
        return swap_in_fault(a, space, idx, slot);
    }
    let addr = vmf.address();
    let (k, w) = match read_pte(a, &mut inner, idx, false) {
        Ok((ReadPte::Map(k, w), kind)) => {
            a.count(event(kind));
            (k, w)
        }
        Ok((_, kind)) => {
            a.count(event(kind));
            space.sync_counters(&inner.mm);
            return Ok(VmFaultReason::SIGBUS);
        }
        Err(e) => {
            let r = failed(e);
            space.sync_counters(&inner.mm);
            return r;
        }
    };
    // Fault-around (`do_fault_around`): map the neighbours in the same
    // aligned window too, as they are, so a sequential reader takes one
    // fault per window instead of one per page. Only pages inside the VMA
    // and the space, and only what is there or the zero frame: nothing is
    // allocated but page-table nodes. The PTEs are made a batch at a time,
    // one page-table lock for up to `PteBatch::MAX` pages: the faulting
    // page's part of the window first, then the others.
    // Not while the fault trace is on: each page's first access must fault.
    let window = if a.fault_around > 1 && !a.trace.is_on() {
        a.fault_around as u64
    } else {
        1
    };
    let first = idx & !(window - 1);
    let last = (first + window).min(space.window.pages as u64);
    let (start, end) = (vmf.vma().start(), vmf.vma().end());
    let at = |j: u64| {
        (addr as u64).wrapping_add(j.wrapping_sub(idx).wrapping_mul(PAGE_SIZE as u64)) as usize
    };
    let span = PteBatch::MAX as u64;
    let mine = first + (idx - first) / span * span;
    let parts = Iterator::chain(
        core::iter::once(mine),
        (first..last).step_by(span as usize).filter(|&p| p != mine),
    );
    // `mapped`: the faulting page's PTE is made.
    let (mut mapped, mut around) = (false, 0);
    for part in parts {
        // Begun at the part's first page inside the VMA, so that every
        // later one falls in its span.
        let mut batch: Option<PteBatch> = None;
        let (mut stop, mut mine_in) = (false, false);
        for j in part..(part + span).min(last) {
            let at = at(j);
            if at < start || at >= end {
                continue;
            }
            let (k, w) = if j == idx {
                mine_in = true;
                (k, w)
            } else {
                match read_pte(a, &mut inner, j, true) {
                    Ok((ReadPte::Map(k, w), _)) => {
                        around += 1;
                        (k, w)
                    }
                    Ok((ReadPte::Skip, _)) => continue,
                    // No page-table node, or nothing to map: the rest is
                    // left (the faulting page is mapped below if it was).
                    _ => {
                        stop = true;
                        break;
                    }
                }
            };
            batch.get_or_insert_with(|| PteBatch::new(at)).add(at, k, w);
        }
        let v = batch.map_or(VmFaultReason::NOPAGE, |b| insert(vmf, &b));
        mapped |= mine_in && v == VmFaultReason::NOPAGE;
        if stop || v != VmFaultReason::NOPAGE {
            break;
        }
    }
    // Not in a batch that went through (a batch stops at the first page
    // table it cannot allocate, which may be a neighbour's; a neighbour's
    // failure before it stops its part): the faulting page alone decides
    // the result (a PTE already made stays).
    let r = if mapped {
        VmFaultReason::NOPAGE
    } else {
        insert_one(vmf, addr, k, w)
    };
    // Once per fault, not per page: a CPU's counter is a few loads away.
    a.count_n(Event::FaultAround, around);
    space.sync_counters(&inner.mm);
    Ok(r)
}

/// `vm_ops->access` on page `addr` of `vma`, a VMA of `space`: reads the
/// page as it is (zeros for an untouched or zero-mapped page) or writes it
/// as a write fault would (demand zero, COW, reuse), zapping what the fault
/// would zap. Writes need `VM_WRITE`, as `get_user_pages` does for shared
/// mappings, even with `FOLL_FORCE`. Returns the bytes moved (up to the end
/// of the page).
pub fn access(space: &Space, vma: &VmaRef, addr: usize, buf: AccessBuf<'_>) -> Result<usize> {
    let a = arena();
    if addr < vma.start() || addr >= vma.end() {
        return Err(EFAULT);
    }
    let pgoff = vm_ops::pgoff(vma) + ((addr - vma.start()) >> kernel::page::PAGE_SHIFT);
    let idx = match pgoff.checked_sub(space.window.base) {
        Some(i) if i < space.window.pages => i as u64,
        _ => return Err(EFAULT),
    };
    let at = addr & (PAGE_SIZE - 1);
    let n = buf.len().min(PAGE_SIZE - at);
    let mut buf = buf;
    // Out of frames: reclaim with the mutex dropped, and try again, as a
    // fault does (a bounded number of times).
    let mut tries = Retries(0);
    loop {
        let mut inner = space.inner.lock();
        // A page in swap comes back first, as a fault would bring it.
        if let PteKind::Swap(slot) = inner.mm.pt.lookup(&a.mem, idx).kind() {
            a.dup_slot(slot);
            drop(inner);
            match swap_in_page(a, space, idx, slot) {
                Ok(()) => continue,
                Err(e) if e == ENOMEM && tries.reclaim(a) => continue,
                Err(e) => return Err(e),
            }
        }
        match &mut buf {
            AccessBuf::Read(b) => {
                let b = &mut b[..n];
                match inner.mm.pt.lookup(&a.mem, idx).kind() {
                    PteKind::Frame(pfn) => a.mem.read_bytes(pfn, at, b).ok_or(EFAULT)?,
                    PteKind::None | PteKind::Zero => b.fill(0),
                    // Swapped in just above, under this lock.
                    PteKind::Swap(_) => return Err(EIO),
                }
            }
            AccessBuf::Write(b) => {
                if vma.flags() & flags::WRITE == 0 {
                    return Err(EFAULT);
                }
                let mut none = None;
                // As `pfn_mkwrite` (`mapped`): any PTE of the page is zapped
                // if the frame changes, whichever process has one.
                let w = inner.mm.write_fault(
                    a,
                    &mut PtNodes { arena: a },
                    idx,
                    &mut none,
                    true,
                    || space.window.zap(idx, 1),
                );
                space.sync_counters(&inner.mm);
                let w = match w {
                    Ok(w) => w,
                    Err(MmError::NoMemory) => {
                        drop(inner);
                        if tries.reclaim(a) {
                            continue;
                        }
                        a.count(Event::OomFault);
                        return Err(ENOMEM);
                    }
                    Err(e) => return Err(e.into()),
                };
                a.count(event(w.kind));
                note_access(a, w.pfn, w.kind);
                a.mem.write_bytes(w.pfn, at, &b[..n]).ok_or(EFAULT)?;
            }
        }
        return Ok(n);
    }
}

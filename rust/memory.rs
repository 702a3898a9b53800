// SPDX-License-Identifier: GPL-2.0

//! The page-fault handler (`mm/memory.c`): demand paging, the shared zero
//! frame, copy-on-write.
//!
//! The kernel calls in through [`crate::vm_ops`] for two events on a VMA of
//! `/dev/pagearena` (a shared `VM_PFNMAP` mapping with write-notify, so every
//! PTE starts read-only):
//!
//! - `fault`: the page has no PTE. A read maps what the space's page table
//!   says: the zero frame for an untouched page (recording it), or the frame.
//!   A write does what `pfn_mkwrite` does.
//! - `pfn_mkwrite`: a write hit a read-only PTE. The zero frame or no entry →
//!   a fresh zeroed frame ("demand zero"); a frame another space shares → a
//!   private copy ("COW"); a frame this space holds alone → made writable in
//!   place ("COW reuse" if it was shared before, so nothing is copied).
//!
//! Everything happens under the space's mutex (no global lock is held across
//! a fault; the buddy and node-cache spinlocks are taken for single
//! operations inside). A first-touch write zeroes its frame before taking the
//! mutex. Whenever a page's entry changes from a frame or the zero frame to
//! another frame, the page's user PTEs are zapped in every process first
//! ([`crate::rmap`]), so no PTE ever points at a frame the space no longer
//! references: that is what makes `insert_pfn` sound.

use crate::{
    arena::{arena, Arena, Event, PtNodes, SpaceWord},
    mm::{
        memory::{FrameMemory, Pfn, PAGE_SIZE},
        pagetable::{Pte, PteKind},
    },
    space::{Space, SpaceInner},
    vm_ops::{VmFault, VmFaultReason},
};
use kernel::sync::MutexGuard;

/// Handles a fault on `space` (`mkwrite`: from `pfn_mkwrite`).
pub fn handle_fault(space: &Space, vmf: &VmFault, mkwrite: bool) -> VmFaultReason {
    let a = arena();
    a.count(Event::PgFault);
    let idx = match vmf.pgoff().checked_sub(space.window.base) {
        Some(i) if i < space.window.pages => i as u64,
        _ => return VmFaultReason::SIGBUS,
    };
    if !mkwrite && !vmf.is_write() {
        return read_fault(a, space, vmf, idx);
    }
    // A write on a page without a PTE is most likely a first touch: zero a
    // frame before taking the lock, so threads zero in parallel.
    let mut prealloc = if mkwrite {
        None
    } else {
        a.alloc_zeroed_frame().ok()
    };
    let r = write_fault(a, space, vmf, idx, mkwrite, &mut prealloc);
    if let Some(p) = prealloc {
        a.put_frame(p);
    }
    r
}

/// Maps `kpfn` at `addr` in the faulting VMA, writable or as the VMA's
/// protection says.
///
/// The caller holds the space's mutex, and the page's entry references the
/// frame `kpfn` belongs to (or it is the zero frame).
fn map(vmf: &VmFault, addr: usize, kpfn: usize, writable: bool) -> VmFaultReason {
    // SAFETY: The frame is the zero frame (allocated for the arena's whole
    // life) or a frame the space's page table references, under the mutex
    // our caller holds. The space drops that reference only after zapping
    // the page's user PTEs in every process (this module's rule, see the
    // module documentation), and a frame is only reused after its last
    // reference is dropped. So the frame outlives every PTE we make.
    unsafe { vmf.insert_pfn(addr, kpfn, writable) }
}

/// Records the page's entry and the space's counters after a change.
fn set_entry(
    a: &Arena,
    space: &Space,
    inner: &mut MutexGuard<'_, SpaceInner>,
    idx: u64,
    pte: Pte,
) -> Result<Pte, ()> {
    let old = inner
        .pt
        .set(&a.mem, &mut PtNodes { arena: a }, idx, pte)
        .map_err(|_| ())?;
    let count = |p: Pte| match p.kind() {
        PteKind::Frame(_) => (1i64, 0i64),
        PteKind::Zero => (0, 1),
        _ => (0, 0),
    };
    let (r0, z0) = count(old);
    let (r1, z1) = count(pte);
    if r0 != r1 {
        space.add(SpaceWord::Resident, r1 - r0);
    }
    if z0 != z1 {
        space.add(SpaceWord::Zero, z1 - z0);
    }
    space.set(SpaceWord::PtNodes, inner.pt.nr_nodes() as u64);
    Ok(old)
}

fn oom(a: &Arena) -> VmFaultReason {
    a.count(Event::OomFault);
    VmFaultReason::SIGBUS
}

fn read_fault(a: &Arena, space: &Space, vmf: &VmFault, idx: u64) -> VmFaultReason {
    let mut inner = space.inner.lock();
    let addr = vmf.address();
    let r = map_for_read(a, space, &mut inner, vmf, idx, addr, true);
    if r != VmFaultReason::NOPAGE || a.fault_around < 2 {
        return r;
    }
    // Fault-around (`do_fault_around`): map the neighbours in the same
    // aligned window too, as they are, so a sequential reader takes one
    // fault per window instead of one per page. Only pages inside the VMA,
    // and only what is already there or the zero frame: nothing is
    // allocated but page-table nodes.
    let window = a.fault_around as u64;
    let first = idx & !(window - 1);
    let (start, end) = (vmf.vma().start(), vmf.vma().end());
    for j in first..first + window {
        if j == idx {
            continue;
        }
        let Some(at) = (addr as i64 + (j as i64 - idx as i64) * PAGE_SIZE as i64)
            .try_into()
            .ok()
            .filter(|at: &usize| *at >= start && *at < end)
        else {
            continue;
        };
        if j >= space.window.pages as u64 {
            break;
        }
        if map_for_read(a, space, &mut inner, vmf, j, at, false) != VmFaultReason::NOPAGE {
            break;
        }
        a.count(Event::FaultAround);
    }
    r
}

/// Maps page `idx` of the space at user address `addr` for reading (`first`:
/// the faulting page, which is counted).
fn map_for_read(
    a: &Arena,
    space: &Space,
    inner: &mut MutexGuard<'_, SpaceInner>,
    vmf: &VmFault,
    idx: u64,
    addr: usize,
    first: bool,
) -> VmFaultReason {
    let pte = inner.pt.lookup(&a.mem, idx);
    match pte.kind() {
        PteKind::None => {
            if set_entry(a, space, inner, idx, Pte::zero()).is_err() {
                return if first { oom(a) } else { VmFaultReason::SIGBUS };
            }
            if first {
                a.count(Event::ZeroFault);
            }
            map(vmf, addr, a.zero_kpfn, false)
        }
        PteKind::Zero => {
            if first {
                a.count(Event::ZeroFault);
            }
            map(vmf, addr, a.zero_kpfn, false)
        }
        PteKind::Frame(pfn) => {
            if first {
                a.count(Event::MinorFault);
            }
            match a.kernel_pfn(pfn) {
                // A frame this space wrote and holds alone is mapped writable
                // at once: there is no copy to make on the next write.
                Some(k) => map(vmf, addr, k, pte.has(Pte::WRITE)),
                None => VmFaultReason::SIGBUS,
            }
        }
        PteKind::Swap(_) => VmFaultReason::SIGBUS,
    }
}

fn write_fault(
    a: &Arena,
    space: &Space,
    vmf: &VmFault,
    idx: u64,
    mkwrite: bool,
    prealloc: &mut Option<Pfn>,
) -> VmFaultReason {
    let mut inner = space.inner.lock();
    let pte = inner.pt.lookup(&a.mem, idx);
    match pte.kind() {
        PteKind::None | PteKind::Zero => {
            let new = match prealloc.take() {
                Some(p) => p,
                None => match a.alloc_zeroed_frame() {
                    Ok(p) => p,
                    Err(_) => return oom(a),
                },
            };
            own(a, new, space, idx);
            if set_entry(
                a,
                space,
                &mut inner,
                idx,
                Pte::frame(new, Pte::WRITE | Pte::DIRTY),
            )
            .is_err()
            {
                a.put_frame(new);
                return oom(a);
            }
            if mkwrite || pte.kind() == PteKind::Zero {
                // Processes may map the zero frame here read-only.
                space.window.zap(idx, 1);
            }
            a.count(Event::DemandZeroFault);
            install(a, vmf, new)
        }
        PteKind::Frame(pfn) => {
            let Some(f) = a.frame(pfn) else {
                return VmFaultReason::SIGBUS;
            };
            if f.count() == 1 {
                // Ours alone: no one can share it without our mutex (a
                // snapshot of this space takes it), so the count is stable.
                if pte.has(Pte::WRITE) {
                    a.count(Event::MinorFault);
                } else {
                    a.count(Event::CowReuseFault);
                    own(a, pfn, space, idx);
                    if set_entry(a, space, &mut inner, idx, pte.with(Pte::WRITE | Pte::DIRTY))
                        .is_err()
                    {
                        return oom(a);
                    }
                }
                if mkwrite {
                    return VmFaultReason::MKWRITE;
                }
                return install(a, vmf, pfn);
            }
            let new = match prealloc.take() {
                Some(p) => p,
                None => match a.alloc_frame() {
                    Ok(p) => p,
                    Err(_) => return oom(a),
                },
            };
            // The copy overwrites the whole frame: nothing of its previous
            // contents can show.
            a.mem.copy_page(new, pfn);
            own(a, new, space, idx);
            if set_entry(
                a,
                space,
                &mut inner,
                idx,
                Pte::frame(new, Pte::WRITE | Pte::DIRTY),
            )
            .is_err()
            {
                a.put_frame(new);
                return oom(a);
            }
            space.window.zap(idx, 1);
            a.put_frame(pfn);
            a.count(Event::CowFault);
            install(a, vmf, new)
        }
        PteKind::Swap(_) => VmFaultReason::SIGBUS,
    }
}

/// Records `space` and `idx` in frame `pfn`'s descriptor (the rmap's frame →
/// page direction, for a frame one space holds).
fn own(a: &Arena, pfn: Pfn, space: &Space, idx: u64) {
    if let Some(f) = a.frame(pfn) {
        f.set_owner(space.id as u32);
        f.set_index(idx);
    }
}

/// Maps frame `pfn` writable.
fn install(a: &Arena, vmf: &VmFault, pfn: Pfn) -> VmFaultReason {
    match a.kernel_pfn(pfn) {
        Some(k) => map(vmf, vmf.address(), k, true),
        None => VmFaultReason::SIGBUS,
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A self-test of the mm core inside the kernel (module parameter
//! `selftest_core=1`): the same code the host tests check, run over real
//! pages from `alloc_pages` under the kernel's checkers (KASAN, lockdep).
//! Any failure makes the module load fail.

use crate::frames::KernelFrames;
use crate::mm::{
    buddy::{Buddy, BuddyPages},
    frame::{Frame, FrameState},
    memory::{FrameMemory, Pfn},
    pagetable::{PageTable, PageTableNodes, Pte},
};
use kernel::{alloc::KVVec, prelude::*};

/// Frames in the test arena: not a power of two, so blocks of several orders.
const FRAMES: usize = 300;
/// Page-table entries the test maps, `STRIDE` pages apart: 12 leaf nodes,
/// about 15 nodes per table, which with the copy fits the arena.
const ENTRIES: u64 = 2000;
const STRIDE: u64 = 3;

/// Turns a failed invariant check into `EIO`, saying which.
fn checked(what: &str, r: core::result::Result<(), &'static str>) -> Result {
    r.map_err(|why| {
        pr_err!("mm core self-test: {}: {}\n", what, why);
        EIO
    })
}

/// Fails with `EIO` and a message unless `cond`.
fn ensure(cond: bool, what: &str) -> Result {
    checked(what, if cond { Ok(()) } else { Err("wrong value") })
}

/// Runs the self-test; `Ok` if every check passed.
pub fn mm_core() -> Result {
    let mem = KernelFrames::new(FRAMES)?;
    let mut table = KVVec::with_capacity(FRAMES, GFP_KERNEL)?;
    for _ in 0..FRAMES {
        table.push(Frame::new(), GFP_KERNEL)?;
    }
    let frames = &table[..];
    let mut buddy = Buddy::new();
    buddy.add_range(frames, Pfn(0), FRAMES)?;

    {
        let mut pages = BuddyPages {
            buddy: &mut buddy,
            frames,
        };
        let mut nodes = PageTableNodes {
            frames,
            mem: &mem,
            pages: &mut pages,
        };
        let mut pt = PageTable::new();
        for i in 0..ENTRIES {
            pt.set(
                &mem,
                &mut nodes,
                i * STRIDE,
                Pte::frame(Pfn(i as u32), Pte::WRITE),
            )?;
        }
        let mut copy = pt.duplicate(&mem, &mut nodes)?;
        copy.update(&mem, &mut nodes, 0, u64::MAX, |_, p| p.without(Pte::WRITE))?;
        for i in 0..ENTRIES {
            ensure(
                pt.lookup(&mem, i * STRIDE) == Pte::frame(Pfn(i as u32), Pte::WRITE),
                "lookup",
            )?;
            ensure(
                copy.lookup(&mem, i * STRIDE) == Pte::frame(Pfn(i as u32), 0),
                "lookup in copy",
            )?;
        }
        ensure(pt.lookup(&mem, 1) == Pte::NONE, "unmapped entry")?;
        checked("page table", pt.check(&mem, frames))?;
        checked("copied page table", copy.check(&mem, frames))?;
        let mut n = 0u64;
        copy.destroy(&mem, &mut nodes, |_, _| n += 1)?;
        pt.destroy(&mem, &mut nodes, |_, _| {})?;
        ensure(n == ENTRIES, "entries destroyed")?;
        ensure(
            frames.iter().all(|f| f.state() != FrameState::PageTable),
            "page-table nodes left",
        )?;
    }

    // Frame contents: clear, write, copy, compare.
    let a = buddy.alloc(frames, 0)?;
    let b = buddy.alloc(frames, 0)?;
    mem.clear_page(a);
    for w in 0..512 {
        mem.store(a.addr().word(w), w as u64 * 0x9e37_79b9);
    }
    mem.copy_page(b, a);
    for w in 0..512 {
        ensure(
            mem.load(b.addr().word(w)) == w as u64 * 0x9e37_79b9,
            "copied page",
        )?;
    }
    mem.clear_page(b);
    ensure(mem.load(b.addr().word(100)) == 0, "cleared page")?;
    buddy.free(frames, a, 0)?;
    buddy.free(frames, b, 0)?;

    checked("buddy", buddy.check(frames))?;
    ensure(buddy.nr_free() == FRAMES, "frames returned")?;
    pr_info!(
        "mm core self-test passed: {} frames, {} page-table entries\n",
        FRAMES,
        ENTRIES
    );
    Ok(())
}

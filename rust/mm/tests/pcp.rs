//! Per-CPU page lists: property tests against a model (a set of frames
//! handed out), over several CPUs' lists sharing one buddy; and the edges.

use pagearena_mm::buddy::Buddy;
use pagearena_mm::error::Error;
use pagearena_mm::frame::{Frame, FrameState};
use pagearena_mm::host::frame_table;
use pagearena_mm::memory::Pfn;
use pagearena_mm::pcp::{batch_for, batch_within, BuddyLock, PerCpuPages, PfnBatch, PCP_BATCH_MAX};
use proptest::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

/// The buddy behind a `RefCell` "lock" that counts how often it is taken.
struct Locked {
    buddy: RefCell<Buddy>,
    takes: Cell<usize>,
}

impl BuddyLock for Locked {
    fn with_buddy<R>(&self, f: impl FnOnce(&mut Buddy) -> R) -> R {
        self.takes.set(self.takes.get() + 1);
        f(&mut self.buddy.borrow_mut())
    }
}

fn setup(n: usize) -> (Vec<Frame>, Locked) {
    let frames = frame_table(n);
    let mut buddy = Buddy::new();
    buddy.add_range(&frames, Pfn(0), n).unwrap();
    let locked = Locked {
        buddy: RefCell::new(buddy),
        takes: Cell::new(0),
    };
    (frames, locked)
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(usize),
    Free(usize, usize),
    DoubleFree(usize, usize),
    Drain(usize),
}

fn op(cpus: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..cpus).prop_map(Op::Alloc),
        4 => (0..cpus, any::<usize>()).prop_map(|(c, i)| Op::Free(c, i)),
        1 => (0..cpus, any::<usize>()).prop_map(|(c, i)| Op::DoubleFree(c, i)),
        1 => (0..cpus).prop_map(Op::Drain),
    ]
}

/// Free frames everywhere: the buddy's and every list's.
fn free_total(l: &Locked, cpus: &[PerCpuPages]) -> usize {
    l.buddy.borrow().nr_free() + cpus.iter().map(PerCpuPages::count).sum::<usize>()
}

proptest! {
    /// Whatever mix of allocations and frees on whichever CPU: no frame is
    /// handed out twice, every handed-out frame is an order-0 `Allocated`
    /// block, free + handed out = all frames, a list never holds more than
    /// `high + 1` frames, a frame freed twice is refused without harm,
    /// allocation fails only when every list and the buddy are empty (after
    /// draining, as the kernel glue does), and once everything is back and
    /// drained the buddy is whole again and consistent.
    #[test]
    fn lists_hand_out_each_frame_once(
        n in 16usize..600,
        ncpu in 1usize..4,
        batch in 0usize..40,
        ops in prop::collection::vec(op(3), 1..600),
    ) {
        let (frames, l) = setup(n);
        let mut cpus: Vec<PerCpuPages> = (0..ncpu).map(|_| PerCpuPages::new(batch)).collect();
        let mut out: Vec<Pfn> = Vec::new();
        let mut taken = BTreeSet::new();
        for o in ops {
            match o {
                Op::Alloc(c) => {
                    let c = c % ncpu;
                    let r = match cpus[c].alloc(&frames, &l) {
                        Err(Error::NoMemory) => {
                            // drain_all_pages, then the buddy itself.
                            for p in cpus.iter_mut() {
                                p.drain(&mut l.buddy.borrow_mut(), &frames).unwrap();
                            }
                            cpus[c].alloc(&frames, &l)
                        }
                        r => r,
                    };
                    match r {
                        Ok(pfn) => {
                            let f = &frames[pfn.idx()];
                            prop_assert_eq!(f.state(), FrameState::Allocated);
                            prop_assert_eq!(f.order(), 0);
                            prop_assert!(taken.insert(pfn.0), "{:?} handed out twice", pfn);
                            out.push(pfn);
                        }
                        Err(e) => {
                            prop_assert_eq!(e, Error::NoMemory);
                            prop_assert_eq!(out.len(), n, "no memory with frames free");
                        }
                    }
                }
                Op::Free(c, i) if !out.is_empty() => {
                    let pfn = out.swap_remove(i % out.len());
                    taken.remove(&pfn.0);
                    // A data frame, as the fault path frees them.
                    frames[pfn.idx()].set_state(FrameState::Data);
                    prop_assert_eq!(cpus[c % ncpu].free(&frames, pfn, &l), Ok(()));
                }
                Op::DoubleFree(c, i) => {
                    let pfn = Pfn((i % n) as u32);
                    if !taken.contains(&pfn.0) {
                        let before = free_total(&l, &cpus);
                        let r = cpus[c % ncpu].free(&frames, pfn, &l);
                        prop_assert!(r.is_err(), "free of free frame {:?} accepted", pfn);
                        prop_assert_eq!(free_total(&l, &cpus), before);
                    }
                }
                Op::Drain(c) => cpus[c % ncpu].drain(&mut l.buddy.borrow_mut(), &frames).unwrap(),
                Op::Free(..) => {}
            }
            prop_assert_eq!(free_total(&l, &cpus) + out.len(), n);
            for p in &cpus {
                prop_assert!(p.count() <= p.high() + 1);
                prop_assert!(p.batch() <= PCP_BATCH_MAX);
            }
            prop_assert_eq!(l.buddy.borrow().check(&frames), Ok(()));
        }
        for pfn in out.drain(..) {
            frames[pfn.idx()].set_state(FrameState::Data);
            prop_assert_eq!(cpus[0].free(&frames, pfn, &l), Ok(()));
        }
        for p in cpus.iter_mut() {
            p.drain(&mut l.buddy.borrow_mut(), &frames).unwrap();
            prop_assert_eq!(p.count(), 0);
        }
        prop_assert_eq!(l.buddy.borrow().nr_free(), n);
        prop_assert_eq!(l.buddy.borrow().check(&frames), Ok(()));
    }
}

/// The point of the lists: with a batch of 31, 1000 allocations and 1000
/// frees take the buddy's lock about 2000/31 times, not 2000.
#[test]
fn lists_take_the_buddy_lock_once_a_batch() {
    let (frames, l) = setup(4096);
    let mut p = PerCpuPages::new(31);
    let mut got = Vec::new();
    for _ in 0..1000 {
        got.push(p.alloc(&frames, &l).unwrap());
    }
    let allocs = l.takes.get();
    assert_eq!(allocs, 1000usize.div_ceil(31), "refills");
    for pfn in got {
        p.free(&frames, pfn, &l).unwrap();
    }
    let frees = l.takes.get() - allocs;
    assert!(frees <= 1000 / 31 + 1, "{frees} drains for 1000 frees");
    assert!(p.count() <= p.high() + 1);
}

/// The last frame freed is the next handed out (a hot, cached frame).
#[test]
fn lists_hand_out_the_hottest_frame() {
    let (frames, l) = setup(1024);
    let mut p = PerCpuPages::new(8);
    let a = p.alloc(&frames, &l).unwrap();
    let b = p.alloc(&frames, &l).unwrap();
    p.free(&frames, a, &l).unwrap();
    p.free(&frames, b, &l).unwrap();
    assert_eq!(p.alloc(&frames, &l).unwrap(), b);
    assert_eq!(p.alloc(&frames, &l).unwrap(), a);
}

/// Batch 0 is no list: every call goes straight to the buddy.
#[test]
fn lists_of_batch_zero_hold_nothing() {
    let (frames, l) = setup(64);
    let mut p = PerCpuPages::new(0);
    let a = p.alloc(&frames, &l).unwrap();
    assert_eq!(l.buddy.borrow().nr_free(), 63);
    p.free(&frames, a, &l).unwrap();
    assert_eq!((p.count(), l.buddy.borrow().nr_free()), (0, 64));
    assert_eq!(p.free(&frames, a, &l), Err(Error::DoubleFree));
}

/// A slab's frame or the zero page on a list would be handed out as free
/// memory while in use: refused like the buddy refuses it.
#[test]
fn lists_refuse_foreign_frames() {
    let (frames, l) = setup(1024);
    let mut p = PerCpuPages::new(8);
    let a = p.alloc(&frames, &l).unwrap();
    for s in [FrameState::Slab, FrameState::Zero, FrameState::PageTable] {
        frames[a.idx()].set_state(s);
        assert_eq!(p.free(&frames, a, &l), Err(Error::Foreign), "{s:?}");
    }
    frames[a.idx()].set_state(FrameState::Allocated);
    p.free(&frames, a, &l).unwrap();
    assert_eq!(p.free(&frames, a, &l), Err(Error::DoubleFree));
}

#[test]
fn batch_scales_with_the_arena_and_is_off_for_small_ones() {
    assert_eq!(batch_for(1023, 1), 0);
    assert_eq!(batch_for(2048, 1), 4);
    assert_eq!(batch_for(16384, 2), 16);
    assert_eq!(batch_for(65536, 2), PCP_BATCH_MAX);
    assert_eq!(batch_for(1 << 20, 0), PCP_BATCH_MAX);
}

/// Explicit or default, the lists of every CPU hold at most half the gap
/// between the watermarks.
#[test]
fn batch_is_clamped_to_half_the_watermark_gap() {
    for (want, cpus, gap) in [(31, 2, 512), (31, 64, 512), (16, 2, 10_000), (5, 1, 3)] {
        let b = batch_within(want, cpus, gap);
        assert!(b <= want);
        assert!(
            b == 0 || cpus * (4 * b + 1) <= gap / 2,
            "{want} {cpus} {gap}: {b}"
        );
        assert!(
            cpus * (4 * (b + 1) + 1) > gap / 2 || b == want,
            "{want} {cpus} {gap}: {b} too small"
        );
    }
    assert_eq!(batch_within(16, 2, 512), 16);
    assert_eq!(batch_within(31, 2, 100), 6);
}

#[test]
fn batches_keep_order_and_refuse_past_capacity() {
    let mut b = PfnBatch::<3>::new();
    assert_eq!(b.add(Pfn(7)), Ok(2));
    assert_eq!(b.add(Pfn(5)), Ok(1));
    assert_eq!(b.add(Pfn(9)), Ok(0));
    assert_eq!(b.add(Pfn(1)), Err(Error::NoMemory));
    let t = b.take();
    assert_eq!(t.as_slice(), &[Pfn(7), Pfn(5), Pfn(9)]);
    assert!(b.is_empty());
}

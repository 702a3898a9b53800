//! Buddy allocator: property tests against a set of free frames, and edges.

use pagearena_mm::buddy::{Buddy, MAX_ORDER};
use pagearena_mm::error::Error;
use pagearena_mm::frame::FrameState;
use pagearena_mm::host::{frame_table, HostArena};
use pagearena_mm::memory::Pfn;
use proptest::prelude::*;
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
enum Op {
    Alloc(u32),
    Free(usize),
    BogusFree(u32, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..=MAX_ORDER + 1).prop_map(Op::Alloc),
        3 => any::<usize>().prop_map(Op::Free),
        1 => (any::<u32>(), 0..=MAX_ORDER).prop_map(|(p, o)| Op::BogusFree(p, o)),
    ]
}

/// An arena of `len` frames of which the ranges in `ranges` are handed to the buddy.
fn ranges() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1usize..5000).prop_flat_map(|len| {
        let cuts = prop::collection::btree_set(0..len, 0..6);
        (Just(len), cuts).prop_map(|(len, cuts)| {
            // Alternate managed / hole segments between the cut points.
            let mut pts: Vec<usize> = cuts.into_iter().collect();
            pts.insert(0, 0);
            pts.push(len);
            let segs = pts
                .windows(2)
                .map(|w| (w[0], w[1] - w[0]))
                .filter(|s| s.1 > 0);
            (len, segs.step_by(2).collect())
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn buddy_matches_free_set((len, segs) in ranges(), ops in prop::collection::vec(op(), 1..300)) {
        let frames = frame_table(len);
        let mut b = Buddy::new();
        let mut free: BTreeSet<u32> = BTreeSet::new();
        for &(s, n) in &segs {
            b.add_range(&frames, Pfn(s as u32), n).unwrap();
            free.extend(s as u32..(s + n) as u32);
        }
        let managed = free.len();
        prop_assert_eq!(b.managed(), managed);
        let mut live: Vec<(Pfn, u32)> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(order) => match b.alloc(&frames, order) {
                    Ok(pfn) => {
                        prop_assert!(order <= MAX_ORDER);
                        prop_assert_eq!(pfn.0 % (1 << order), 0, "block not aligned");
                        for f in pfn.0..pfn.0 + (1 << order) {
                            prop_assert!(free.remove(&f), "frame {} handed out but not free", f);
                        }
                        live.push((pfn, order));
                    }
                    Err(Error::Invalid) => prop_assert!(order > MAX_ORDER),
                    Err(Error::NoMemory) => {
                        // No free block of this order or larger may exist.
                        prop_assert!(b.buddyinfo()[order as usize..].iter().all(|&n| n == 0));
                    }
                    Err(e) => prop_assert!(false, "alloc error {:?}", e),
                },
                Op::Free(i) if !live.is_empty() => {
                    let (pfn, order) = live.swap_remove(i % live.len());
                    b.free(&frames, pfn, order).unwrap();
                    free.extend(pfn.0..pfn.0 + (1 << order));
                }
                Op::Free(_) => {}
                Op::BogusFree(p, order) => {
                    let pfn = Pfn(p % (len as u32 + 4));
                    if let Some(i) = live.iter().position(|&l| l == (pfn, order)) {
                        b.free(&frames, pfn, order).unwrap();
                        live.swap_remove(i);
                        free.extend(pfn.0..pfn.0 + (1 << order));
                    } else {
                        prop_assert!(b.free(&frames, pfn, order).is_err());
                    }
                }
            }
            prop_assert_eq!(b.nr_free(), free.len());
            prop_assert_eq!(b.check(&frames), Ok(()));
        }
        // Free everything: back to the initial, fully coalesced state.
        for (pfn, order) in live.drain(..) {
            b.free(&frames, pfn, order).unwrap();
        }
        prop_assert_eq!(b.nr_free(), managed);
        b.check(&frames).unwrap();
    }
}

#[test]
fn exhaustion_then_recovery() {
    let mut a = HostArena::new(1000).unwrap();
    let mut got = Vec::new();
    while let Ok(p) = a.buddy.alloc(&a.frames, 0) {
        got.push(p);
    }
    assert_eq!(got.len(), 1000);
    assert_eq!(a.buddy.alloc(&a.frames, 0), Err(Error::NoMemory));
    assert_eq!(a.buddy.nr_free(), 0);
    for p in got {
        a.buddy.free(&a.frames, p, 0).unwrap();
    }
    // 1000 = 512 + 256 + 128 + 64 + 32 + 8, coalesced back.
    assert_eq!(a.buddy.buddyinfo(), [0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0]);
    a.buddy.check(&a.frames).unwrap();
}

#[test]
fn max_order() {
    let mut a = HostArena::new(2048).unwrap();
    assert_eq!(a.buddy.buddyinfo()[MAX_ORDER as usize], 2);
    let p = a.buddy.alloc(&a.frames, MAX_ORDER).unwrap();
    let q = a.buddy.alloc(&a.frames, MAX_ORDER).unwrap();
    assert_ne!(p, q);
    assert_eq!(a.buddy.alloc(&a.frames, MAX_ORDER), Err(Error::NoMemory));
    assert_eq!(a.buddy.alloc(&a.frames, MAX_ORDER + 1), Err(Error::Invalid));
    assert_eq!(
        a.buddy.free(&a.frames, p, MAX_ORDER + 1),
        Err(Error::Invalid)
    );
    a.buddy.free(&a.frames, p, MAX_ORDER).unwrap();
    a.buddy.free(&a.frames, q, MAX_ORDER).unwrap();
    a.buddy.check(&a.frames).unwrap();
}

#[test]
fn misaligned_wrong_order_double_and_foreign_frees() {
    let mut a = HostArena::new(64).unwrap();
    let p = a.buddy.alloc(&a.frames, 2).unwrap();
    assert_eq!(
        a.buddy.free(&a.frames, Pfn(p.0 + 1), 0),
        Err(Error::Foreign),
        "tail frame"
    );
    assert_eq!(
        a.buddy.free(&a.frames, Pfn(p.0 + 2), 1),
        Err(Error::Foreign),
        "tail frame, other order"
    );
    assert_eq!(a.buddy.free(&a.frames, p, 1), Err(Error::WrongOrder));
    assert_eq!(a.buddy.free(&a.frames, p, 3), Err(Error::WrongOrder));
    assert_eq!(
        a.buddy.free(&a.frames, Pfn(64), 0),
        Err(Error::Foreign),
        "outside the arena"
    );
    assert_eq!(
        a.buddy.free(&a.frames, Pfn(u32::MAX), 0),
        Err(Error::Foreign)
    );
    a.buddy.check(&a.frames).unwrap();
    a.buddy.free(&a.frames, p, 2).unwrap();
    assert_eq!(a.buddy.free(&a.frames, p, 2), Err(Error::DoubleFree));
    a.buddy.check(&a.frames).unwrap();
    assert_eq!(a.buddy.nr_free(), 64);
}

#[test]
fn holes_are_never_handed_out_or_merged() {
    let frames = frame_table(64);
    let mut b = Buddy::new();
    b.add_range(&frames, Pfn(0), 16).unwrap();
    b.add_range(&frames, Pfn(17), 47).unwrap(); // frame 16 is a hole
    assert_eq!(b.managed(), 63);
    b.check(&frames).unwrap();
    let mut got = BTreeSet::new();
    while let Ok(p) = b.alloc(&frames, 0) {
        got.insert(p.0);
    }
    assert!(!got.contains(&16));
    assert_eq!(got.len(), 63);
    assert_eq!(
        b.free(&frames, Pfn(16), 0),
        Err(Error::Foreign),
        "a hole is foreign"
    );
    for p in got {
        b.free(&frames, Pfn(p), 0).unwrap();
    }
    b.check(&frames).unwrap();
    // The hole at 16 keeps 0..32 from merging: 0..16 (order 4), then 17, 18..20,
    // 20..24, 24..32 (orders 0..=3) and 32..64 (order 5); nothing of order 6.
    assert_eq!(b.buddyinfo(), [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(
        b.add_range(&frames, Pfn(0), 1),
        Err(Error::Invalid),
        "range handed over twice"
    );
    assert_eq!(
        b.add_range(&frames, Pfn(60), 10),
        Err(Error::Invalid),
        "range past the table"
    );
}

#[test]
fn allocated_head_is_typed_and_reset_on_free() {
    let mut a = HostArena::new(8).unwrap();
    let p = a.buddy.alloc(&a.frames, 0).unwrap();
    assert_eq!(a.frames[p.idx()].state(), FrameState::Allocated);
    a.frames[p.idx()].set_state(FrameState::Data);
    a.frames[p.idx()].set_owner(7);
    a.buddy.free(&a.frames, p, 0).unwrap();
    let q = a.buddy.alloc(&a.frames, 0).unwrap();
    assert_eq!(a.frames[q.idx()].owner(), 0, "descriptor not reset");
}

#[test]
fn frames_owned_by_a_slab_or_the_zero_page_are_refused() {
    let mut a = HostArena::new(8).unwrap();
    let p = a.buddy.alloc(&a.frames, 0).unwrap();
    for state in [FrameState::Slab, FrameState::SlabTail, FrameState::Zero] {
        a.frames[p.idx()].set_state(state);
        assert_eq!(
            a.buddy.free(&a.frames, p, 0),
            Err(Error::Foreign),
            "{state:?}"
        );
    }
    a.frames[p.idx()].set_state(FrameState::Data);
    a.buddy.free(&a.frames, p, 0).unwrap();
}

#[test]
fn frame_descriptor_is_32_bytes() {
    // 0.8 % of a 4 KiB frame; Documentation/mm-core.rst quotes this.
    assert_eq!(pagearena_mm::frame::FRAME_DESC_BYTES, 40);
}

//! Fault decisions (zero page, demand zero, COW, reuse, snapshots) against a
//! model: the driver `pagearena_mm::fuzz_fault` on generated operations and
//! on random bytes, and unit tests of the main transitions.

use pagearena_mm::error::Error;
use pagearena_mm::fault::{get_frame, put_frame, FaultKind, FramePool, Mm, ReadMap, WriteMap};
use pagearena_mm::frame::FrameState;
use pagearena_mm::fuzz_fault::{run, run_bytes, Op, PAGES, PROCS, SPACES};
use pagearena_mm::host::HostPool;
use pagearena_mm::memory::{FrameMemory, Pfn};
use pagearena_mm::pagetable::MAX_PAGES;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let s = 0..SPACES;
    let p = 0..PAGES.len();
    let pr = 0..PROCS;
    prop_oneof![
        4 => (pr.clone(), s.clone(), p.clone()).prop_map(|(proc, space, page)| Op::Read { proc, space, page }),
        6 => (pr, s.clone(), p.clone(), any::<u64>(), any::<bool>()).prop_map(
            |(proc, space, page, value, prealloc)| Op::Write {
                proc,
                space,
                page,
                value,
                prealloc,
            }
        ),
        1 => (s.clone(), s.clone(), any::<bool>()).prop_map(|(from, to, fork)| Op::Snapshot { from, to, fork }),
        1 => s.clone().prop_map(Op::Destroy),
        1 => (s, p).prop_map(|(s, p)| Op::Pin(s, p)),
        1 => any::<usize>().prop_map(Op::Unpin),
        2 => (0..SPACES, 0..PAGES.len()).prop_map(|(s, p)| Op::Pageout(s, p)),
        2 => (any::<usize>(), prop::bool::weighted(0.85)).prop_map(|(k, ok)| Op::PageoutEnd(k, ok)),
        1 => (0..SPACES, 0..PAGES.len(), 1..40u64).prop_map(|(space, page, len)| Op::Discard { space, page, len }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Plenty of memory: every operation succeeds.
    #[test]
    fn spaces_match_the_model(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops, 400);
    }

    /// Little memory: writes, reads and snapshots fail with `NoMemory` and
    /// change nothing.
    #[test]
    fn exhaustion_changes_nothing(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops, 24);
    }

    /// Random bytes, decoded as `cargo fuzz` decodes them.
    #[test]
    fn random_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
        run_bytes(&data);
    }
}

/// A new space (id 1) whose page `idx` was just written: a demand-zero fault.
fn first_write(pool: &HostPool, idx: u64) -> (Mm, WriteMap) {
    let mut mm = Mm::new(1);
    let w = mm
        .write_fault(
            pool,
            &mut pool.node_allocator(),
            idx,
            &mut None,
            false,
            || {},
        )
        .unwrap();
    assert_eq!(w.kind, FaultKind::DemandZero);
    (mm, w)
}

#[test]
fn last_sharer_reuses_and_cow_copies() {
    let pool = HostPool::new(64).unwrap();
    let (mut a, w) = first_write(&pool, 5);
    let mut none = None;
    pool.mem.store(w.pfn.addr(), 42);
    let mut b = a
        .snapshot(&pool, &mut pool.node_allocator(), 2, || {})
        .unwrap();
    assert_eq!(pool.frames[w.pfn.idx()].mapcount(), 2);
    assert_eq!(pool.frames[w.pfn.idx()].refcount(), 2);
    let wb = b
        .write_fault(&pool, &mut pool.node_allocator(), 5, &mut none, true, || {})
        .unwrap();
    assert_eq!(wb.kind, FaultKind::Cow);
    assert_ne!(wb.pfn, w.pfn);
    assert_eq!(pool.mem.load(wb.pfn.addr()), 42);
    let wa = a
        .write_fault(&pool, &mut pool.node_allocator(), 5, &mut none, true, || {})
        .unwrap();
    assert_eq!(
        (wa.kind, wa.pfn, wa.in_place),
        (FaultKind::CowReuse, w.pfn, true)
    );
    let again = a
        .write_fault(&pool, &mut pool.node_allocator(), 5, &mut none, true, || {})
        .unwrap();
    assert_eq!(again.kind, FaultKind::Minor);
    assert_eq!(a.shared(&pool.mem, &pool.frames), 0);
    for mut mm in [a, b] {
        mm.destroy(&pool, &mut pool.node_allocator()).unwrap();
    }
    assert_eq!(pool.frames[Pfn(w.pfn.0).idx()].state(), FrameState::Buddy);
}

#[test]
fn read_of_an_untouched_page_is_zero_mapped_once() {
    let pool = HostPool::new(64).unwrap();
    let mut a = Mm::new(1);
    for _ in 0..2 {
        let (m, k) = a
            .read_fault(&pool.mem, &mut pool.node_allocator(), 9)
            .unwrap();
        assert_eq!((m, k), (ReadMap::Zero, FaultKind::Zero));
    }
    assert_eq!((a.zero(), a.resident()), (1, 0));
    assert_eq!(
        a.read_fault(&pool.mem, &mut pool.node_allocator(), MAX_PAGES),
        Err(Error::Invalid)
    );
    a.destroy(&pool, &mut pool.node_allocator()).unwrap();
    let _ = pool.frames();
}

/// A pin (reclaim isolating a frame) is a reference, not a mapping: the one
/// mapper still reuses the frame in place, and the frame outlives its space
/// until the pin goes.
#[test]
fn a_pin_is_not_a_share_and_outlives_the_space() {
    let pool = HostPool::new(64).unwrap();
    let (mut a, w) = first_write(&pool, 3);
    let mut none = None;
    let f = &pool.frames[w.pfn.idx()];
    get_frame(&pool, w.pfn);
    assert_eq!((f.mapcount(), f.refcount()), (1, 2));
    let mut b = a
        .snapshot(&pool, &mut pool.node_allocator(), 2, || {})
        .unwrap();
    assert_eq!((f.mapcount(), f.refcount()), (2, 3));
    b.destroy(&pool, &mut pool.node_allocator()).unwrap();
    // Pinned and mapped once: a write reuses it, no copy.
    let again = a
        .write_fault(&pool, &mut pool.node_allocator(), 3, &mut none, true, || {})
        .unwrap();
    assert_eq!(
        (again.kind, again.pfn, again.in_place),
        (FaultKind::CowReuse, w.pfn, true)
    );
    assert_eq!(a.shared(&pool.mem, &pool.frames), 0);
    a.destroy(&pool, &mut pool.node_allocator()).unwrap();
    assert_eq!(f.state(), FrameState::Data, "the pin keeps the frame");
    assert_eq!((f.mapcount(), f.refcount()), (0, 1));
    put_frame(&pool, w.pfn);
    assert_eq!(f.state(), FrameState::Buddy, "the last reference frees it");
}

/// Two pageouts of one page at once: the second is refused while the
/// first's write is in flight, so the write made between them is not lost
/// (the first sees the page dirty and keeps it).
#[test]
fn a_second_pageout_waits_for_the_first() {
    let w = |value| Op::Write {
        proc: 0,
        space: 0,
        page: 0,
        value,
        prealloc: false,
    };
    run(
        &[
            w(1),
            Op::Pageout(0, 0),
            w(2),
            Op::Pageout(0, 0),
            Op::PageoutEnd(0, true),
            Op::Read {
                proc: 1,
                space: 0,
                page: 0,
            },
        ],
        400,
    );
}

/// A frame shared by a space and its clone is reclaimed from both at once
/// (both entries name the slot); each then reads it back, and a
/// write by one after swap-in is not seen by the other.
#[test]
fn a_frame_shared_by_clones_is_swapped_out_of_both() {
    let rd = |space| Op::Read {
        proc: 0,
        space,
        page: 0,
    };
    let w = |space, value| Op::Write {
        proc: 0,
        space,
        page: 0,
        value,
        prealloc: false,
    };
    run(
        &[
            w(0, 7),
            Op::Snapshot {
                from: 0,
                to: 2,
                fork: false,
            },
            Op::Pageout(2, 0),
            Op::PageoutEnd(0, true),
            rd(0),
            rd(2),
            w(2, 9),
            rd(0),
            rd(2),
        ],
        400,
    );
}

/// A clone's write while the shared frame's write to swap is in flight
/// copies it: the slot gets the old contents, the writer keeps its own.
#[test]
fn a_write_during_reclaim_copies_instead_of_reusing() {
    let w = |space, value| Op::Write {
        proc: 1,
        space,
        page: 0,
        value,
        prealloc: false,
    };
    run(
        &[
            w(0, 3),
            Op::Pageout(0, 0),
            w(0, 4),
            Op::PageoutEnd(0, true),
            Op::Read {
                proc: 0,
                space: 0,
                page: 0,
            },
        ],
        400,
    );
}

/// Reclaim has marked a frame under writeback but not yet reached this
/// space: a write fault on an entry that is already writable (another
/// process's PTE, or `access`) stays in place. Copying it would strand the
/// stores made meanwhile through the other writable PTEs in the old frame.
#[test]
fn a_writable_entry_stays_in_place_under_writeback() {
    let pool = HostPool::new(64).unwrap();
    let (mut mm, w) = first_write(&pool, 0);
    pool.frames[w.pfn.idx()].set(pagearena_mm::frame::pg::WRITEBACK);
    let r = mm
        .write_fault(
            &pool,
            &mut pool.node_allocator(),
            0,
            &mut None,
            true,
            || panic!("a write to a writable page zapped it"),
        )
        .unwrap();
    assert!(r.in_place && r.pfn == w.pfn, "{r:?}");
}

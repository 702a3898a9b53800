//! Page tables: property tests against a BTreeMap, clone independence,
//! node accounting and freeing, node-allocation failure.

use pagearena_mm::error::Error;
use pagearena_mm::host::HostArena;
use pagearena_mm::memory::Pfn;
use pagearena_mm::pagetable::{PageTable, Pte, PteKind, MAX_PAGES};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn contents(pt: &PageTable, mem: &pagearena_mm::host::HostMemory) -> Vec<(u64, Pte)> {
    let mut v = Vec::new();
    pt.for_each(mem, 0, u64::MAX, |i, p| v.push((i, p)));
    v
}

#[derive(Debug, Clone)]
enum Op {
    Set(u64, Pte),
    Clear(u64),
    Lookup(u64),
    Range(u64, u64),
    ClearWrite(u64, u64),
    Zap(u64, u64),
}

fn index() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..4096,
        1 => 0u64..MAX_PAGES,
        1 => (MAX_PAGES - 600)..(MAX_PAGES + 2),
    ]
}

fn pte() -> impl Strategy<Value = Pte> {
    prop_oneof![
        Just(Pte::zero()),
        (any::<u32>(), any::<bool>())
            .prop_map(|(p, w)| Pte::frame(Pfn(p), if w { Pte::WRITE | Pte::DIRTY } else { 0 })),
        any::<u32>().prop_map(|s| Pte::swap(s, Pte::REFERENCED)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (index(), pte()).prop_map(|(i, p)| Op::Set(i, p)),
        2 => index().prop_map(Op::Clear),
        2 => index().prop_map(Op::Lookup),
        1 => (index(), index()).prop_map(|(a, b)| Op::Range(a.min(b), a.max(b))),
        1 => (index(), index()).prop_map(|(a, b)| Op::ClearWrite(a.min(b), a.max(b))),
        1 => (index(), index()).prop_map(|(a, b)| Op::Zap(a.min(b), a.max(b))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn pagetable_matches_btreemap(ops in prop::collection::vec(op(), 1..200)) {
        let mut a = HostArena::new(4096).unwrap();
        let total = a.buddy.nr_free();
        let mut pt = PageTable::new();
        let mut model: BTreeMap<u64, Pte> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Set(i, p) => {
                    let r = a.with_nodes(|mem, n| pt.set(mem, n, i, p));
                    if i >= MAX_PAGES {
                        prop_assert_eq!(r, Err(Error::Invalid));
                    } else {
                        prop_assert_eq!(r.unwrap(), model.insert(i, p).unwrap_or(Pte::NONE));
                    }
                }
                Op::Clear(i) => {
                    let old = a.with_nodes(|mem, n| pt.clear(mem, n, i)).unwrap();
                    prop_assert_eq!(old, model.remove(&i).unwrap_or(Pte::NONE));
                }
                Op::Lookup(i) => {
                    prop_assert_eq!(pt.lookup(&a.mem, i), model.get(&i).copied().unwrap_or(Pte::NONE));
                }
                Op::Range(s, e) => {
                    let mut got = Vec::new();
                    pt.for_each(&a.mem, s, e, |i, p| got.push((i, p)));
                    let want: Vec<_> = model.range(s..e).map(|(&i, &p)| (i, p)).collect();
                    prop_assert_eq!(got, want);
                }
                Op::ClearWrite(s, e) => {
                    a.with_nodes(|mem, n| pt.update(mem, n, s, e, |_, p| p.without(Pte::WRITE))).unwrap();
                    for (_, p) in model.range_mut(s..e) {
                        *p = p.without(Pte::WRITE);
                    }
                }
                Op::Zap(s, e) => {
                    let mut zapped = Vec::new();
                    a.with_nodes(|mem, n| pt.update(mem, n, s, e, |i, _| { zapped.push(i); Pte::NONE })).unwrap();
                    let want: Vec<u64> = model.range(s..e).map(|(&i, _)| i).collect();
                    prop_assert_eq!(zapped, want);
                    model.retain(|i, _| *i < s || *i >= e);
                }
            }
            prop_assert_eq!(pt.check(&a.mem, &a.frames), Ok(()));
            prop_assert_eq!(pt.nr_entries() as usize, model.len());
            prop_assert_eq!(a.nr_nodes(), pt.nr_nodes());
                    }
        // A duplicate has the same contents and its own nodes.
        let mut copy = a.with_nodes(|mem, n| pt.duplicate(mem, n)).unwrap();
        prop_assert_eq!(contents(&copy, &a.mem), contents(&pt, &a.mem));
        prop_assert_eq!(a.nr_nodes(), 2 * pt.nr_nodes());
        copy.check(&a.mem, &a.frames).unwrap();
        let mut seen = 0usize;
        a.with_nodes(|mem, n| copy.destroy(mem, n, |_, _| seen += 1)).unwrap();
        prop_assert_eq!(seen, model.len());
        a.with_nodes(|mem, n| pt.destroy(mem, n, |_, _| {})).unwrap();
        prop_assert_eq!(pt.nr_nodes(), 0);
        prop_assert_eq!(a.nr_nodes(), 0, "nodes leaked");
        prop_assert_eq!(a.buddy.nr_free(), total);
    }
}

#[test]
fn empty_table_has_no_nodes_and_nodes_go_when_emptied() {
    let mut a = HostArena::new(256).unwrap();
    let mut pt = PageTable::new();
    assert_eq!(pt.nr_nodes(), 0);
    assert_eq!(pt.lookup(&a.mem, 5), Pte::NONE);
    a.with_nodes(|mem, n| pt.set(mem, n, 5, Pte::zero()))
        .unwrap();
    assert_eq!(pt.nr_nodes(), 4, "one node per level");
    a.with_nodes(|mem, n| pt.set(mem, n, 5 + 512, Pte::zero()))
        .unwrap();
    assert_eq!(pt.nr_nodes(), 5, "a second leaf node");
    a.with_nodes(|mem, n| pt.set(mem, n, MAX_PAGES - 1, Pte::zero()))
        .unwrap();
    assert_eq!(pt.nr_nodes(), 8, "a second path below the root");
    a.with_nodes(|mem, n| pt.clear(mem, n, MAX_PAGES - 1))
        .unwrap();
    assert_eq!(pt.nr_nodes(), 5);
    a.with_nodes(|mem, n| pt.clear(mem, n, 5)).unwrap();
    a.with_nodes(|mem, n| pt.clear(mem, n, 5 + 512)).unwrap();
    assert_eq!(pt.nr_nodes(), 0);
    assert_eq!(a.nr_nodes(), 0);
    pt.check(&a.mem, &a.frames).unwrap();
}

#[test]
fn clone_of_a_clone_is_independent() {
    let mut a = HostArena::new(512).unwrap();
    let mut pt = PageTable::new();
    for i in 0..1500u64 {
        a.with_nodes(|mem, n| pt.set(mem, n, i * 7, Pte::frame(Pfn(i as u32), Pte::WRITE)))
            .unwrap();
    }
    let mut c1 = a.with_nodes(|mem, n| pt.duplicate(mem, n)).unwrap();
    let mut c2 = a.with_nodes(|mem, n| c1.duplicate(mem, n)).unwrap();
    // Write-protect the original, zap part of the first clone, add to the second.
    a.with_nodes(|mem, n| pt.update(mem, n, 0, u64::MAX, |_, p| p.without(Pte::WRITE)))
        .unwrap();
    a.with_nodes(|mem, n| c1.update(mem, n, 0, 700, |_, _| Pte::NONE))
        .unwrap();
    a.with_nodes(|mem, n| c2.set(mem, n, 1 << 30, Pte::zero()))
        .unwrap();
    assert_eq!(pt.nr_entries(), 1500);
    assert_eq!(c1.nr_entries(), 1500 - 100);
    assert_eq!(c2.nr_entries(), 1501);
    assert_eq!(pt.lookup(&a.mem, 7), Pte::frame(Pfn(1), 0));
    assert_eq!(c1.lookup(&a.mem, 7), Pte::NONE);
    assert_eq!(c2.lookup(&a.mem, 7), Pte::frame(Pfn(1), Pte::WRITE));
    assert_eq!(c2.lookup(&a.mem, 1 << 30).kind(), PteKind::Zero);
    assert_eq!(pt.lookup(&a.mem, 1 << 30), Pte::NONE);
    for t in [&pt, &c1, &c2] {
        t.check(&a.mem, &a.frames).unwrap();
    }
    assert_eq!(a.nr_nodes(), pt.nr_nodes() + c1.nr_nodes() + c2.nr_nodes());
}

#[test]
fn node_allocation_failure_leaves_the_table_unchanged() {
    // A tiny arena: the node cache runs dry after a few sets.
    let mut a = HostArena::new(40).unwrap();
    let mut pt = PageTable::new();
    let mut model = BTreeMap::new();
    let mut failed = false;
    for i in 0..64u64 {
        let idx = i << 27; // every set needs a new path below the root
        match a.with_nodes(|mem, n| pt.set(mem, n, idx, Pte::zero())) {
            Ok(_) => {
                model.insert(idx, Pte::zero());
            }
            Err(e) => {
                assert_eq!(e, Error::NoMemory);
                failed = true;
            }
        }
        pt.check(&a.mem, &a.frames).unwrap();
        assert_eq!(
            contents(&pt, &a.mem),
            model.iter().map(|(&i, &p)| (i, p)).collect::<Vec<_>>()
        );
        assert_eq!(a.nr_nodes(), pt.nr_nodes(), "half-built path leaked");
    }
    assert!(failed, "the arena never ran out");
    // Duplicating under memory pressure fails cleanly too.
    match a.with_nodes(|mem, n| pt.duplicate(mem, n)) {
        Err(Error::NoMemory) => assert_eq!(a.nr_nodes(), pt.nr_nodes()),
        Ok(_) => panic!("duplicate cannot fit"),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn pte_encoding_round_trips() {
    let f = Pte::frame(Pfn(u32::MAX), Pte::DIRTY | Pte::WRITE);
    assert_eq!(f.kind(), PteKind::Frame(Pfn(u32::MAX)));
    assert!(f.has(Pte::DIRTY | Pte::WRITE));
    assert!(!f.has(Pte::REFERENCED));
    assert_eq!(f.without(Pte::WRITE).flags(), Pte::DIRTY);
    let s = Pte::swap(123456, 0).with(Pte::REFERENCED);
    assert_eq!(s.kind(), PteKind::Swap(123456));
    assert_eq!(s.flags(), Pte::REFERENCED);
    assert_eq!(Pte::zero().kind(), PteKind::Zero);
    assert!(Pte::NONE.is_none());
    assert_eq!(Pte::NONE.kind(), PteKind::None);
}

//! Reclaim: watermarks, and the three policies against list models and on
//! the same access traces.

use pagearena_mm::clock::Clock;
use pagearena_mm::frame::pg;
use pagearena_mm::host::frame_table;
use pagearena_mm::lru::{ExactLru, Lru};
use pagearena_mm::memory::Pfn;
use pagearena_mm::reclaim::{AllocAction, ReclaimPolicy, Watermarks};
use pagearena_mm::replay::replay;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet, VecDeque};

/// The reference: each policy's algorithm on plain std containers (front = head).
#[derive(Default)]
struct Model {
    kind: u8,
    active: VecDeque<u32>,
    inactive: VecDeque<u32>,
    referenced: HashSet<u32>,
    young: HashSet<u32>,
}

fn take(q: &mut VecDeque<u32>, p: u32) -> bool {
    q.iter()
        .position(|&x| x == p)
        .map(|i| q.remove(i))
        .is_some()
}

impl Model {
    fn insert(&mut self, p: u32) {
        self.referenced.remove(&p);
        self.young.remove(&p);
        match self.kind {
            0 => self.inactive.push_front(p),
            1 => self.inactive.push_back(p),
            _ => self.inactive.push_front(p),
        }
    }
    fn remove(&mut self, p: u32) {
        let _ = take(&mut self.active, p) || take(&mut self.inactive, p);
        self.referenced.remove(&p);
        self.young.remove(&p);
    }
    fn accessed(&mut self, p: u32) {
        match self.kind {
            0 => {
                if !self.young.insert(p) && take(&mut self.inactive, p) {
                    self.referenced.remove(&p);
                    self.active.push_front(p);
                }
            }
            1 => {
                self.young.insert(p);
            }
            _ => {
                take(&mut self.inactive, p);
                self.inactive.push_front(p);
            }
        }
    }
    fn scan(&mut self, nr: usize, max: usize) -> Vec<u32> {
        let mut v = Vec::new();
        match self.kind {
            0 => {
                let mut budget = nr;
                while v.len() < max && budget > 0 {
                    let mut scanned = 0;
                    while scanned < budget && self.inactive.len() < self.active.len() {
                        let p = self.active.pop_back().unwrap();
                        scanned += 1;
                        if self.young.remove(&p) {
                            self.active.push_front(p);
                        } else {
                            self.inactive.push_front(p);
                        }
                    }
                    budget -= scanned.min(budget);
                    if budget == 0 {
                        break;
                    }
                    match self.inactive.pop_back() {
                        None => {
                            if self.active.is_empty() || budget == 0 {
                                break;
                            }
                        }
                        Some(p) => {
                            budget = budget.saturating_sub(1);
                            if !self.young.remove(&p) {
                                v.push(p);
                            } else if self.referenced.remove(&p) {
                                self.active.push_front(p);
                            } else {
                                self.referenced.insert(p);
                                self.inactive.push_front(p);
                            }
                        }
                    }
                }
            }
            1 => {
                let mut budget = nr;
                while v.len() < max && budget > 0 {
                    let Some(p) = self.inactive.pop_front() else {
                        break;
                    };
                    budget -= 1;
                    if self.young.remove(&p) {
                        self.inactive.push_back(p);
                    } else {
                        v.push(p);
                    }
                }
            }
            _ => {
                while v.len() < max && v.len() < nr {
                    let Some(p) = self.inactive.pop_back() else {
                        break;
                    };
                    self.referenced.remove(&p);
                    v.push(p);
                }
            }
        }
        v
    }
    fn len(&self) -> usize {
        self.active.len() + self.inactive.len()
    }
}

fn policy(kind: u8) -> Box<dyn ReclaimPolicy> {
    match kind {
        0 => Box::new(Lru::new()),
        1 => Box::new(Clock::new()),
        _ => Box::new(ExactLru::new()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn policies_match_their_list_models(
        kind in 0u8..3,
        ops in prop::collection::vec((0u8..4, 0u32..64, 1usize..40, 1usize..10), 1..400),
    ) {
        let frames = frame_table(64);
        let mut p = policy(kind);
        let mut m = Model { kind, ..Model::default() };
        let mut tracked: HashSet<u32> = HashSet::new();
        for (op, f, nr, max) in ops {
            match op {
                0 if !tracked.contains(&f) => {
                    p.insert(&frames, Pfn(f));
                    m.insert(f);
                    tracked.insert(f);
                }
                1 if tracked.contains(&f) => {
                    p.remove(&frames, Pfn(f));
                    m.remove(f);
                    tracked.remove(&f);
                }
                2 if tracked.contains(&f) => {
                    p.accessed(&frames, Pfn(f));
                    m.accessed(f);
                }
                3 => {
                    let mut out = vec![Pfn(0); max];
                    let before: HashMap<u32, (bool, bool)> = tracked
                        .iter()
                        .map(|&t| {
                            let f = &frames[t as usize];
                            (t, (f.test(pg::YOUNG), f.test(pg::ACTIVE)))
                        })
                        .collect();
                    let mut aged = HashSet::new();
                    let n = p.scan(&frames, nr, &mut out, &mut |pfn| {
                        aged.insert(pfn.0);
                    });
                    let got: Vec<u32> = out[..n].iter().map(|p| p.0).collect();
                    prop_assert_eq!(&got, &m.scan(nr, max));
                    for v in got {
                        prop_assert!(tracked.remove(&v));
                        prop_assert!(!frames[v as usize].test(pg::LRU), "victim still marked LRU");
                    }
                    // Every kept frame whose reference was cleared, or that
                    // was deactivated, is reported (its PTEs must go, or its
                    // next access would never be seen); nothing else is.
                    for &t in &tracked {
                        let f = &frames[t as usize];
                        let (r0, a0) = before[&t];
                        let lost = (r0 && !f.test(pg::YOUNG)) || (a0 && !f.test(pg::ACTIVE));
                        prop_assert!(!lost || aged.contains(&t), "frame {} aged unreported", t);
                    }
                    // (A frame may be aged, then evicted in the same scan.)
                    for a in &aged {
                        prop_assert!(before.contains_key(a), "an untracked frame reported as aged");
                    }
                }
                _ => {}
            }
            prop_assert_eq!(p.len(), m.len());
            prop_assert_eq!(p.len(), tracked.len());
            prop_assert_eq!(p.check(&frames), Ok(()));
        }
    }
}

/// Replays `trace` (page numbers) with `capacity` frames under policy `p`,
/// reporting every access; returns the hits.
fn simulate(p: &mut dyn ReclaimPolicy, capacity: usize, trace: &[u32]) -> usize {
    let frames = frame_table(capacity);
    let mut page_of: Vec<Option<u32>> = vec![None; capacity];
    let mut frame_of: HashMap<u32, u32> = HashMap::new();
    let mut free: Vec<u32> = (0..capacity as u32).rev().collect();
    let mut hits = 0;
    for &page in trace {
        if let Some(&f) = frame_of.get(&page) {
            hits += 1;
            p.accessed(&frames, Pfn(f));
            continue;
        }
        let f = match free.pop() {
            Some(f) => f,
            None => {
                let mut v = [Pfn(0)];
                assert_eq!(
                    p.scan(&frames, 4 * capacity, &mut v, &mut |_| {}),
                    1,
                    "{}: no victim",
                    p.name()
                );
                let old = page_of[v[0].idx()].take().unwrap();
                frame_of.remove(&old);
                v[0].0
            }
        };
        page_of[f as usize] = Some(page);
        frame_of.insert(page, f);
        p.insert(&frames, Pfn(f));
    }
    hits
}

#[test]
fn two_list_lru_resists_a_one_time_scan_where_exact_lru_does_not() {
    // A hot set of 40 pages used over and over, interrupted by a one-time
    // sequential scan of 200 pages, with 64 frames.
    let mut trace = Vec::new();
    for round in 0..30 {
        for _ in 0..3 {
            trace.extend(0..40u32);
        }
        if round % 3 == 0 {
            trace.extend((1000 + round * 200)..(1200 + round * 200));
        }
    }
    let mut results = Vec::new();
    for kind in 0..3 {
        let mut p = policy(kind);
        let hits = simulate(p.as_mut(), 64, &trace);
        results.push((p.name(), hits));
    }
    eprintln!("hits on {} accesses: {results:?}", trace.len());
    let (lru, clock, exact) = (results[0].1, results[1].1, results[2].1);
    assert!(
        lru > exact,
        "two-list LRU {lru} should beat exact LRU {exact} on a scan"
    );
    assert!(clock > 0 && exact > 0);
}

#[test]
fn all_policies_agree_when_everything_fits() {
    let trace: Vec<u32> = (0..2000).map(|i| (i * 7) % 50).collect();
    for kind in 0..3 {
        let mut p = policy(kind);
        assert_eq!(simulate(p.as_mut(), 64, &trace), 2000 - 50, "{}", p.name());
    }
}

#[test]
fn second_chance_spares_referenced_frames() {
    let frames = frame_table(8);
    let mut p = Lru::new();
    for f in 0..4 {
        p.insert(&frames, Pfn(f));
    }
    p.accessed(&frames, Pfn(0)); // oldest, but young
    let mut v = [Pfn(9); 1];
    assert_eq!(p.scan(&frames, 16, &mut v, &mut |_| {}), 1);
    assert_eq!(v[0], Pfn(1), "the young frame got a second chance");
    assert!(
        frames[0].test(pg::REFERENCED) && !frames[0].test(pg::ACTIVE),
        "and another turn on the inactive list"
    );
    // Young again when its turn comes: promoted.
    p.accessed(&frames, Pfn(0));
    for f in 4..8 {
        p.insert(&frames, Pfn(f));
    }
    for want in [2, 3, 4] {
        assert_eq!(p.scan(&frames, 16, &mut v, &mut |_| {}), 1);
        assert_eq!(v[0], Pfn(want));
    }
    assert!(frames[0].test(pg::ACTIVE), "seen young twice: promoted");
}

#[test]
fn watermark_decisions() {
    assert!(Watermarks::new(10, 5, 20).is_err());
    assert!(Watermarks::new(10, 20, 15).is_err());
    let w = Watermarks::new(10, 20, 30).unwrap();
    assert_eq!(w.on_alloc(100), AllocAction::Allocate);
    assert_eq!(w.on_alloc(20), AllocAction::Allocate);
    assert_eq!(w.on_alloc(19), AllocAction::WakeReclaimer);
    assert_eq!(w.on_alloc(10), AllocAction::WakeReclaimer);
    assert_eq!(w.on_alloc(9), AllocAction::DirectReclaim);
    assert!(w.reclaimer_should_run(25), "kswapd runs on up to high");
    assert!(!w.reclaimer_should_run(30));
    assert!(!w.direct_reclaim_done(9));
    assert!(w.direct_reclaim_done(10));
    let d = Watermarks::for_arena(16384);
    assert_eq!((d.min(), d.low(), d.high()), (256, 512, 768));
    let tiny = Watermarks::for_arena(10);
    assert!(tiny.min() <= tiny.low() && tiny.low() <= tiny.high());
}

/// Major faults per page of `trace` replayed as the arena runs it (no
/// accessed bits: see `pagearena_mm::replay`), first touches included.
fn simulate_soft(p: &mut dyn ReclaimPolicy, capacity: usize, trace: &[u32]) -> HashMap<u32, u64> {
    let mut m = replay(p, capacity, trace).major_per_page;
    for &page in trace {
        m.entry(page).or_insert(0);
    }
    m
}

/// The trace of the arena's guest test: `hot` pages read after every 8
/// pages of a sweep of `cold` pages written once (numbered from 1000).
fn hot_and_cold(hot: u32, cold: std::ops::Range<u32>) -> Vec<u32> {
    let mut trace = Vec::new();
    for c in cold {
        trace.push(1000 + c);
        if c % 8 == 7 {
            trace.extend(0..hot);
        }
    }
    trace
}

#[test]
fn soft_fault_aging_keeps_a_hot_set_through_a_cold_sweep() {
    // 256 frames; 32 hot pages. The first time memory runs out every frame
    // is young (each from its own fault), so every frame gets a second look
    // and the hot pages may go once; after that they must stay.
    let (capacity, hot) = (256, 32u32);
    let mut warm: Vec<u32> = (0..hot).collect();
    warm.extend(hot_and_cold(hot, 0..512));
    let steady = hot_and_cold(hot, 512..1024);
    for kind in 0..2 {
        let first = simulate_soft(policy(kind).as_mut(), capacity, &warm);
        let mut p = policy(kind);
        let all = simulate_soft(
            p.as_mut(),
            capacity,
            &[warm.clone(), steady.clone()].concat(),
        );
        let again: u64 = (0..hot).map(|h| all[&h] - first[&h]).sum();
        eprintln!(
            "{}: {again} major faults of hot pages in the steady state",
            p.name()
        );
        assert!(
            again < u64::from(hot) / 4,
            "{}: {again} hot pages faulted again",
            p.name()
        );
    }
}

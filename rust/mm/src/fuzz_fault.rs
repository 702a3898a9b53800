// SPDX-License-Identifier: GPL-2.0

//! A driver of random operation sequences through several spaces' fault
//! decisions ([`Mm`]) sharing one small pool, checked after every step against
//! a model (each space a map from page to value): contents, that every data
//! frame's count equals the page-table entries holding it, that demand-zero
//! frames are zeroed and COW copies whole, the zaps, that exhaustion changes
//! nothing, and that everything comes back at the end. `cargo fuzz` (target
//! `fault_ops`) and `cargo test` (`tests/fault.rs`) feed it. Any
//! disagreement panics.

use super::error::Error;
use super::fault::{alloc_zeroed_frame, put_frame, FaultKind, Mm, ReadMap};
use super::frame::FrameState;
use super::host::HostPool;
use super::memory::FrameMemory;
use super::pagetable::{Pte, PteKind, MAX_PAGES};
use core::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::vec::Vec;

/// Spaces (slots) in play.
pub const SPACES: usize = 4;
/// Page indexes used: neighbours in one leaf, and pages in other subtrees.
pub const PAGES: [u64; 8] = [0, 1, 2, 7, 511, 512, 1 << 18, (1 << 27) + 3];
/// The far word written and checked in each page.
pub const LAST_WORD: usize = 511;

/// One operation on the spaces.
#[derive(Debug, Clone)]
pub enum Op {
    /// Read page `PAGES[.1]` of space `.0`.
    Read(usize, usize),
    /// Write `value` to a page.
    Write {
        /// The space.
        space: usize,
        /// Index into [`PAGES`].
        page: usize,
        /// The value.
        value: u64,
        /// Whether a zeroed frame is taken before the fault.
        prealloc: bool,
        /// Whether the faulting process has a PTE for the page.
        mapped: bool,
    },
    /// Snapshot space `.0` into the empty slot `.1`.
    Snapshot(usize, usize),
    /// Destroy space `.0` (or create one in an empty slot).
    Destroy(usize),
}

/// Decodes operations from bytes (what `cargo fuzz` gives).
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut it = data.iter().copied();
    while let (Some(b), Some(x)) = (it.next(), it.next()) {
        let s = usize::from(x) % SPACES;
        let p = usize::from(x >> 2) % PAGES.len();
        ops.push(match b % 12 {
            0..=3 => Op::Read(s, p),
            4..=9 => Op::Write {
                space: s,
                page: p,
                value: u64::from(b) << 8 | u64::from(x),
                prealloc: b & 0x10 != 0,
                mapped: b & 0x20 != 0,
            },
            10 => Op::Snapshot(s, usize::from(x >> 5) % SPACES),
            _ => Op::Destroy(s),
        });
    }
    ops
}

struct World {
    pool: HostPool,
    spaces: Vec<Option<(Mm, BTreeMap<u64, u64>)>>,
    next_id: u32,
}

impl World {
    fn new(frames: usize) -> Self {
        let mut spaces = Vec::new();
        // Two spaces to start; snapshots fill the empty slots.
        for i in 0..SPACES {
            spaces.push((i < 2).then(|| (Mm::new(i as u32), BTreeMap::new())));
        }
        Self {
            pool: HostPool::new(frames).unwrap(),
            spaces,
            next_id: SPACES as u32,
        }
    }

    /// What user space reads at page `idx` of space `s` (words 0 and 511).
    fn read(&mut self, s: usize, idx: u64) -> Result<(u64, u64), Error> {
        let pool = &self.pool;
        let Some((mm, _)) = self.spaces[s].as_mut() else {
            return Ok((0, 0));
        };
        let (map, kind) = mm.read_fault(&pool.mem, &mut pool.node_allocator(), idx)?;
        match map {
            ReadMap::Zero => {
                assert_eq!(kind, FaultKind::Zero);
                Ok((0, 0))
            }
            ReadMap::Frame { pfn, .. } => {
                assert_eq!(kind, FaultKind::Minor);
                Ok((
                    pool.mem.load(pfn.addr().word(0)),
                    pool.mem.load(pfn.addr().word(LAST_WORD)),
                ))
            }
            ReadMap::Swap(_) => panic!("nothing swaps here"),
        }
    }

    fn check(&self) {
        let pool = &self.pool;
        let mut refs: HashMap<u32, u32> = HashMap::new();
        for (mm, model) in self.spaces.iter().flatten() {
            mm.check(&pool.mem, &pool.frames).unwrap();
            let mut frames_seen = 0;
            mm.pt.for_each(&pool.mem, 0, MAX_PAGES, |i, pte| {
                if let PteKind::Frame(pfn) = pte.kind() {
                    *refs.entry(pfn.0).or_default() += 1;
                    frames_seen += 1;
                    assert!(
                        model.contains_key(&i),
                        "page {i} has a frame but was never written"
                    );
                }
            });
            assert_eq!(frames_seen, model.len(), "every written page has a frame");
        }
        // Every data frame's count is exactly its number of entries.
        for (i, f) in pool.frames.iter().enumerate() {
            if f.state() == FrameState::Data {
                let want = refs.get(&(i as u32)).copied().unwrap_or(0);
                assert_eq!(f.count(), want, "frame {i}: count vs entries");
            }
        }
        for pfn in refs.keys() {
            assert_eq!(pool.frames[*pfn as usize].state(), FrameState::Data);
        }
        pool.buddy.borrow().check(&pool.frames).unwrap();
    }
}

/// Runs `ops` over a pool of `frames` frames; panics on any inconsistency.
pub fn run(ops: &[Op], frames: usize) {
    let mut w = World::new(frames);
    for op in ops {
        match *op {
            Op::Read(s, p) => {
                let idx = PAGES[p];
                let want = w.spaces[s]
                    .as_ref()
                    .map_or(0, |(_, m)| m.get(&idx).copied().unwrap_or(0));
                match w.read(s, idx) {
                    Ok((v, last)) => {
                        assert_eq!(v, want, "space {s} page {idx}");
                        assert_eq!(last, if want == 0 { 0 } else { !want });
                    }
                    Err(Error::NoMemory) => {}
                    Err(e) => panic!("read: {e}"),
                }
            }
            Op::Write {
                space,
                page,
                value,
                prealloc,
                mapped,
            } => {
                let idx = PAGES[page];
                let pool = &w.pool;
                let Some((mm, model)) = w.spaces[space].as_mut() else {
                    continue;
                };
                let before = mm.pt.lookup(&pool.mem, idx);
                let mut pre = if prealloc {
                    alloc_zeroed_frame(pool).ok()
                } else {
                    None
                };
                let zaps = Cell::new(0);
                let r = mm.write_fault(
                    pool,
                    &mut pool.node_allocator(),
                    idx,
                    &mut pre,
                    mapped,
                    || zaps.set(zaps.get() + 1),
                );
                if let Some(p) = pre {
                    put_frame(pool, p);
                }
                match r {
                    Ok(wm) => {
                        let old_words = match before.kind() {
                            PteKind::Frame(p) => Some((
                                pool.mem.load(p.addr().word(0)),
                                pool.mem.load(p.addr().word(LAST_WORD)),
                            )),
                            _ => None,
                        };
                        // The new frame holds the old contents (COW) or zeroes.
                        let now = (
                            pool.mem.load(wm.pfn.addr().word(0)),
                            pool.mem.load(wm.pfn.addr().word(LAST_WORD)),
                        );
                        match wm.kind {
                            FaultKind::DemandZero => {
                                assert_eq!(now, (0, 0), "demand-zero frame not zeroed");
                                assert!(!wm.in_place);
                                let zapped = mapped || before.kind() == PteKind::Zero;
                                assert_eq!(zaps.get(), u32::from(zapped));
                            }
                            FaultKind::Cow => {
                                assert_eq!(Some(now), old_words, "COW copy differs");
                                assert_eq!(zaps.get(), 1, "COW without a zap");
                                assert!(!wm.in_place);
                            }
                            FaultKind::CowReuse | FaultKind::Minor => {
                                assert_eq!(before.kind(), PteKind::Frame(wm.pfn));
                                assert!(wm.in_place);
                                assert_eq!(zaps.get(), 0);
                            }
                            FaultKind::Zero => panic!("a write answered as a zero fault"),
                        }
                        // User space writes through the mapping.
                        pool.mem.store(wm.pfn.addr().word(0), value);
                        pool.mem.store(wm.pfn.addr().word(LAST_WORD), !value);
                        model.insert(idx, value);
                        if value == 0 {
                            // Keep "0 means never written" unambiguous.
                            pool.mem.store(wm.pfn.addr().word(LAST_WORD), 0);
                        }
                    }
                    Err(Error::NoMemory) => {
                        assert_eq!(
                            mm.pt.lookup(&pool.mem, idx),
                            before,
                            "failed write changed the entry"
                        );
                        assert_eq!(zaps.get(), 0);
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            Op::Snapshot(from, to) => {
                if from == to || w.spaces[to].is_some() {
                    continue;
                }
                let id = w.next_id;
                w.next_id += 1;
                let pool = &w.pool;
                let Some((mm, model)) = w.spaces[from].as_mut() else {
                    continue;
                };
                let writable_before = {
                    let mut any = false;
                    mm.pt
                        .for_each(&pool.mem, 0, MAX_PAGES, |_, p| any |= p.has(Pte::WRITE));
                    any
                };
                let zaps = Cell::new(0);
                match mm.snapshot(pool, &mut pool.node_allocator(), id, || {
                    zaps.set(zaps.get() + 1)
                }) {
                    Ok(copy) => {
                        assert_eq!(zaps.get(), u32::from(writable_before));
                        let model = model.clone();
                        w.spaces[to] = Some((copy, model));
                    }
                    Err(Error::NoMemory) => assert_eq!(zaps.get(), 0),
                    Err(e) => panic!("snapshot: {e}"),
                }
            }
            Op::Destroy(s) => {
                let pool = &w.pool;
                match w.spaces[s].take() {
                    Some((mut mm, _)) => mm.destroy(pool, &mut pool.node_allocator()).unwrap(),
                    None => {
                        // An empty slot gets a new, empty space.
                        w.spaces[s] = Some((Mm::new(w.next_id), BTreeMap::new()));
                        w.next_id += 1;
                    }
                }
            }
        }
        w.check();
    }
    // Everything comes back.
    let pool = &w.pool;
    for (mut mm, _) in w.spaces.iter_mut().filter_map(Option::take) {
        mm.destroy(pool, &mut pool.node_allocator()).unwrap();
    }
    let freed = {
        let mut nodes = pool.nodes.borrow_mut();
        assert_eq!(nodes.active_objs(), 0, "page-table nodes leaked");
        let mut pages = pool.buddy.borrow_mut();
        let mut bp = super::buddy::BuddyPages {
            buddy: &mut pages,
            frames: &pool.frames,
        };
        nodes.shrink(&pool.frames, &mut bp, 0).unwrap()
    };
    let _ = freed;
    assert_eq!(
        pool.buddy.borrow().nr_free(),
        pool.frames.len(),
        "frames leaked"
    );
}

/// Runs the operations encoded in `data`: the first byte picks a pool of 24
/// frames (exhaustion) or 400.
pub fn run_bytes(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    run(&decode(rest), if first & 1 == 0 { 24 } else { 400 });
}

// SPDX-License-Identifier: GPL-2.0

//! A driver of random operation sequences through the buddy allocator, three
//! slab caches and a page table together, checked after every step against
//! reference models and every structure's invariant checker. `cargo fuzz`
//! (`rust/mm/fuzz`) feeds it coverage-guided input; `cargo test` feeds it
//! random input (`tests/fuzz_ops.rs`). Any disagreement panics.

use super::buddy::{BuddyPages, MAX_ORDER};
use super::error::Error;
use super::frame::FrameState;
use super::host::HostArena;
use super::memory::{FrameMemory, Pfn, PhysAddr};
use super::pagetable::{PageTable, PageTableNodes, Pte};
use super::slab::SlabCache;
use std::collections::BTreeMap;
use std::vec::Vec;

/// Frames in the fuzzed arena: room for an order-10 block, not a power of two.
pub const FUZZ_FRAMES: usize = 1100;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v << 8 | u32::from(self.byte()?);
        }
        Some(v)
    }
}

/// Runs the operations encoded in `data`; panics on any inconsistency.
pub fn run(data: &[u8]) {
    let mut arena = HostArena::new(FUZZ_FRAMES).expect("fresh arena");
    let mut caches = [
        SlabCache::new("small", 1, 64, 8, None, true).expect("cache"),
        SlabCache::new("big", 2, 512, 64, None, true).expect("cache"),
    ];
    let mut pt = PageTable::new();

    let mut blocks: Vec<(Pfn, u32)> = Vec::new();
    let mut objects: Vec<(usize, PhysAddr, u64)> = Vec::new();
    let mut model: BTreeMap<u64, Pte> = BTreeMap::new();
    let mut stamp = 1u64;

    let mut input = Input(data);
    while let Some(op) = input.byte() {
        let HostArena { frames, mem, buddy } = &mut arena;
        let frames = &frames[..];
        let mut pages = BuddyPages { buddy, frames };
        match op % 10 {
            0 => {
                let Some(order) = input.byte() else { break };
                let order = u32::from(order) % (MAX_ORDER + 2);
                match pages.buddy.alloc(frames, order) {
                    Ok(pfn) => {
                        assert!(order <= MAX_ORDER);
                        for &(p, o) in &blocks {
                            let (a, b) = (p.0 as u64, p.0 as u64 + (1 << o));
                            let (c, d) = (pfn.0 as u64, pfn.0 as u64 + (1 << order));
                            assert!(d <= a || b <= c, "buddy handed out overlapping blocks");
                        }
                        blocks.push((pfn, order));
                    }
                    Err(Error::Invalid) => assert!(order > MAX_ORDER),
                    Err(Error::NoMemory) => {
                        let info = pages.buddy.buddyinfo();
                        assert!(info[order as usize..].iter().all(|&n| n == 0));
                    }
                    Err(e) => panic!("unexpected alloc error {e:?}"),
                }
            }
            1 => {
                let Some(i) = input.byte() else { break };
                if !blocks.is_empty() {
                    let (pfn, order) = blocks.swap_remove(i as usize % blocks.len());
                    pages
                        .buddy
                        .free(frames, pfn, order)
                        .expect("free of a live block");
                }
            }
            2 => {
                let (Some(p), Some(o)) = (input.u32(), input.byte()) else {
                    break;
                };
                let pfn = Pfn(p % (FUZZ_FRAMES as u32 + 8));
                let order = u32::from(o) % (MAX_ORDER + 1);
                let live = blocks.iter().position(|&b| b == (pfn, order));
                let r = pages.buddy.free(frames, pfn, order);
                match live {
                    Some(i) => {
                        r.expect("free of a live block");
                        blocks.swap_remove(i);
                    }
                    None => assert!(r.is_err(), "bogus free of {pfn:?}/{order} accepted"),
                }
            }
            3 | 4 => {
                let Some(b) = input.byte() else { break };
                let k = b as usize % caches.len();
                if op % 10 == 3 {
                    match caches[k].alloc(frames, mem, &mut pages) {
                        Ok(obj) => {
                            mem.store(obj, stamp);
                            objects.push((k, obj, stamp));
                            stamp += 1;
                        }
                        Err(Error::NoMemory) => {}
                        Err(e) => panic!("unexpected slab alloc error {e:?}"),
                    }
                } else if !objects.is_empty() {
                    let (k, obj, s) = objects.swap_remove(b as usize % objects.len());
                    assert_eq!(mem.load(obj), s, "object overwritten by another");
                    caches[k]
                        .free(frames, mem, &mut pages, obj)
                        .expect("free of a live object");
                }
            }
            5 => {
                let (Some(k), Some(a)) = (input.byte(), input.u32()) else {
                    break;
                };
                let k = k as usize % caches.len();
                let addr = PhysAddr(u64::from(a) % (FUZZ_FRAMES as u64 * 4096));
                let live = objects.iter().position(|&(c, o, _)| c == k && o == addr);
                let r = caches[k].free(frames, mem, &mut pages, addr);
                match live {
                    Some(i) => {
                        r.expect("free of a live object");
                        objects.swap_remove(i);
                    }
                    None => assert!(r.is_err(), "bogus slab free of {addr:?} accepted"),
                }
            }
            6..=8 => {
                let (Some(i), Some(v)) = (input.u32(), input.u32()) else {
                    break;
                };
                // Mostly a small window, sometimes anywhere, sometimes beyond the limit.
                let index = match i >> 30 {
                    0 | 1 => u64::from(i % 2048),
                    2 => u64::from(i) << 4,
                    _ => (1 << 36) - 1 + u64::from(i % 3),
                };
                let mut nodes = PageTableNodes {
                    frames,
                    mem: &*mem,
                    pages: &mut pages,
                };
                match op % 10 {
                    6 => {
                        let pte = match v % 3 {
                            0 => Pte::zero(),
                            1 => Pte::frame(Pfn(v >> 2), Pte::DIRTY),
                            _ => Pte::swap(v >> 2, 0),
                        };
                        match pt.set(&*mem, &mut nodes, index, pte) {
                            Ok(old) => {
                                let prev = model.insert(index, pte).unwrap_or(Pte::NONE);
                                assert_eq!(old, prev);
                            }
                            Err(Error::Invalid) => assert!(index >= 1 << 36),
                            Err(Error::NoMemory) => {}
                            Err(e) => panic!("unexpected set error {e:?}"),
                        }
                    }
                    7 => {
                        let old = pt.clear(&*mem, &mut nodes, index).expect("clear");
                        assert_eq!(old, model.remove(&index).unwrap_or(Pte::NONE));
                    }
                    _ => {
                        if v % 4 == 0 {
                            match pt.duplicate(&*mem, &mut nodes) {
                                Ok(mut copy) => {
                                    let mut seen = Vec::new();
                                    copy.for_each(&*mem, 0, u64::MAX, |i, p| seen.push((i, p)));
                                    let want: Vec<_> =
                                        model.iter().map(|(&i, &p)| (i, p)).collect();
                                    assert_eq!(seen, want, "duplicate differs from the original");
                                    copy.destroy(&*mem, &mut nodes, |_, _| {}).expect("destroy");
                                }
                                Err(Error::NoMemory) => {}
                                Err(e) => panic!("unexpected duplicate error {e:?}"),
                            }
                        }
                        assert_eq!(
                            pt.lookup(&*mem, index),
                            model.get(&index).copied().unwrap_or(Pte::NONE)
                        );
                    }
                }
            }
            _ => {
                let Some(k) = input.byte() else { break };
                let k = k as usize % caches.len();
                caches[k].shrink(frames, &mut pages, 0).expect("shrink");
            }
        }

        // Invariants after every operation.
        let HostArena { frames, mem, buddy } = &arena;
        buddy.check(frames).expect("buddy invariants");
        for c in caches.iter() {
            c.check(frames).expect("slab invariants");
        }
        pt.check(mem, frames).expect("page-table invariants");
        assert_eq!(
            super::host::nr_page_table_frames(frames),
            pt.nr_nodes(),
            "page-table frames vs nodes"
        );
        assert_eq!(pt.nr_entries() as usize, model.len());
        let slab_frames: usize = caches
            .iter()
            .map(|c| {
                let i = c.info();
                i.num_slabs * i.pagesperslab as usize
            })
            .sum();
        let block_frames: usize = blocks.iter().map(|&(_, o)| 1usize << o).sum();
        assert_eq!(
            buddy.nr_free() + slab_frames + block_frames + pt.nr_nodes(),
            buddy.managed(),
            "frames lost or double counted"
        );
        for &(pfn, order) in &blocks {
            assert_eq!(frames[pfn.idx()].state(), FrameState::Allocated);
            assert_eq!(frames[pfn.idx()].order(), order);
        }
    }
}

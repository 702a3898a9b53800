//! Slab caches: property tests against a map of live objects, debug-mode
//! detections, constructor, empty-slab return, slabinfo.

use pagearena_mm::error::Error;
use pagearena_mm::host::HostArena;
use pagearena_mm::memory::{FrameMemory, PhysAddr};
use pagearena_mm::slab::{SlabCache, SlabInfo, EMPTY_SLAB_RESERVE, POISON_FREE};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn alloc(a: &mut HostArena, c: &mut SlabCache) -> Result<PhysAddr, Error> {
    let HostArena { frames, mem, buddy } = a;
    c.alloc(
        frames,
        mem,
        &mut pagearena_mm::buddy::BuddyPages { buddy, frames },
    )
}

fn free(a: &mut HostArena, c: &mut SlabCache, obj: PhysAddr) -> Result<(), Error> {
    let HostArena { frames, mem, buddy } = a;
    c.free(
        frames,
        mem,
        &mut pagearena_mm::buddy::BuddyPages { buddy, frames },
        obj,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn slab_matches_live_map(
        size in 1usize..3000,
        align_log in 0u32..8,
        debug in any::<bool>(),
        ops in prop::collection::vec((any::<bool>(), any::<usize>()), 1..400),
    ) {
        let mut a = HostArena::new(300).unwrap();
        let total = a.buddy.nr_free();
        let mut c = SlabCache::new("t", 9, size, 1 << align_log, None, debug).unwrap();
        let mut live: BTreeMap<PhysAddr, u64> = BTreeMap::new();
        let mut stamp = 0u64;
        for (is_alloc, pick) in ops {
            if is_alloc || live.is_empty() {
                match alloc(&mut a, &mut c) {
                    Ok(obj) => {
                        prop_assert_eq!(obj.0 % (1u64 << align_log.max(3)), 0, "misaligned object");
                        prop_assert!(!live.contains_key(&obj), "object handed out twice");
                        stamp += 1;
                        // Stamp the first and last word: overlap would clobber a neighbour's.
                        a.mem.store(obj, stamp);
                        a.mem.store(obj.word((size - 1) / 8), stamp);
                        live.insert(obj, stamp);
                    }
                    Err(Error::NoMemory) => prop_assert_eq!(a.buddy.nr_free() < 8, true),
                    Err(e) => prop_assert!(false, "alloc error {:?}", e),
                }
            } else {
                let (&obj, &s) = live.iter().nth(pick % live.len()).unwrap();
                prop_assert_eq!(a.mem.load(obj), s, "first word overwritten");
                prop_assert_eq!(a.mem.load(obj.word((size - 1) / 8)), s, "last word overwritten");
                free(&mut a, &mut c, obj).unwrap();
                live.remove(&obj);
            }
            prop_assert_eq!(c.active_objs(), live.len());
            prop_assert_eq!(c.check(&a.frames), Ok(()));
            let info = c.info();
            prop_assert_eq!(a.buddy.nr_free() + info.num_slabs * info.pagesperslab as usize, total);
        }
        let objs: Vec<_> = live.keys().copied().collect();
        for obj in objs {
            free(&mut a, &mut c, obj).unwrap();
        }
        let HostArena { frames, buddy, .. } = &mut a;
        c.shrink(frames, &mut pagearena_mm::buddy::BuddyPages { buddy, frames }, 0).unwrap();
        prop_assert_eq!(a.buddy.nr_free(), total, "slab frames leaked");
        a.buddy.check(&a.frames).unwrap();
    }
}

#[test]
fn double_free_is_detected() {
    // Debug mode always detects it; without debug, SLUB's check of the most
    // recently freed object catches the immediate double free.
    for debug in [true, false] {
        let mut a = HostArena::new(16).unwrap();
        let mut c = SlabCache::new("t", 1, 64, 8, None, debug).unwrap();
        let x = alloc(&mut a, &mut c).unwrap();
        let _y = alloc(&mut a, &mut c).unwrap();
        free(&mut a, &mut c, x).unwrap();
        assert_eq!(
            free(&mut a, &mut c, x),
            Err(Error::DoubleFree),
            "debug={debug}"
        );
        c.check(&a.frames).unwrap();
    }
}

#[test]
fn debug_detects_out_of_bounds_write() {
    let mut a = HostArena::new(16).unwrap();
    let mut c = SlabCache::new("t", 1, 60, 8, None, true).unwrap();
    let x = alloc(&mut a, &mut c).unwrap();
    // Word 8 is just past the 60-byte (8-word) object: its right red zone.
    a.mem.store(x.word(8), 0x1234);
    assert!(matches!(free(&mut a, &mut c, x), Err(Error::Corrupted(_))));
    // Reported and repaired: the object is still live and frees cleanly now.
    free(&mut a, &mut c, x).unwrap();
    // A write before the object hits the left red zone.
    let y = alloc(&mut a, &mut c).unwrap();
    a.mem.store(PhysAddr(y.0 - 8), 0);
    assert!(matches!(free(&mut a, &mut c, y), Err(Error::Corrupted(_))));
    c.check(&a.frames).unwrap();
}

#[test]
fn debug_detects_write_after_free() {
    let mut a = HostArena::new(16).unwrap();
    let mut c = SlabCache::new("t", 1, 64, 8, None, true).unwrap();
    let x = alloc(&mut a, &mut c).unwrap();
    free(&mut a, &mut c, x).unwrap();
    assert_eq!(
        a.mem.load(x.word(3)),
        POISON_FREE,
        "freed object not poisoned"
    );
    a.mem.store(x.word(3), 42); // use after free
    assert!(matches!(alloc(&mut a, &mut c), Err(Error::Corrupted(_))));
    // Repaired: the next allocation succeeds.
    alloc(&mut a, &mut c).unwrap();
    c.check(&a.frames).unwrap();
}

#[test]
fn foreign_pointers_are_refused() {
    let mut a = HostArena::new(64).unwrap();
    let mut c1 = SlabCache::new("one", 1, 64, 8, None, true).unwrap();
    let mut c2 = SlabCache::new("two", 2, 64, 8, None, true).unwrap();
    let x = alloc(&mut a, &mut c1).unwrap();
    assert_eq!(
        free(&mut a, &mut c2, x),
        Err(Error::Foreign),
        "another cache's object"
    );
    assert_eq!(
        free(&mut a, &mut c1, PhysAddr(x.0 + 8)),
        Err(Error::Foreign),
        "inside an object"
    );
    assert_eq!(
        free(&mut a, &mut c1, PhysAddr(63 * 4096)),
        Err(Error::Foreign),
        "a free frame"
    );
    assert_eq!(
        free(&mut a, &mut c1, PhysAddr(1 << 40)),
        Err(Error::Foreign),
        "outside the arena"
    );
    free(&mut a, &mut c1, x).unwrap();
}

#[test]
fn multi_frame_slab_objects_located_through_tail_frames() {
    let mut a = HostArena::new(256).unwrap();
    // 4104-byte objects (a page-table node) need multi-frame slabs.
    let mut c = SlabCache::new("pgtable", 1, 4104, 8, None, true).unwrap();
    let info = c.info();
    assert!(info.pagesperslab > 1);
    let objs: Vec<_> = (0..info.objperslab)
        .map(|_| alloc(&mut a, &mut c).unwrap())
        .collect();
    assert!(objs
        .iter()
        .any(|o| o.0 % 4096 != 0 && o.pfn().0 % info.pagesperslab != 0));
    for o in objs {
        free(&mut a, &mut c, o).unwrap();
    }
    c.check(&a.frames).unwrap();
}

fn ctor(mem: &dyn FrameMemory, obj: PhysAddr, size: usize) {
    for w in 0..size / 8 {
        mem.store(obj.word(w), 0xc0de);
    }
}

#[test]
fn constructor_runs_once_per_object_and_state_survives_free() {
    let mut a = HostArena::new(16).unwrap();
    let mut c = SlabCache::new("ctor", 1, 64, 8, Some(ctor), false).unwrap();
    let x = alloc(&mut a, &mut c).unwrap();
    assert!((0..8).all(|w| a.mem.load(x.word(w)) == 0xc0de));
    free(&mut a, &mut c, x).unwrap();
    let y = alloc(&mut a, &mut c).unwrap();
    assert_eq!(x, y);
    assert!(
        (0..8).all(|w| a.mem.load(y.word(w)) == 0xc0de),
        "free pointer clobbered the constructed object"
    );
}

#[test]
fn empty_slabs_beyond_reserve_go_back() {
    let mut a = HostArena::new(128).unwrap();
    let total = a.buddy.nr_free();
    let mut c = SlabCache::new("t", 1, 1024, 8, None, false).unwrap();
    let per = c.info().objperslab as usize;
    let objs: Vec<_> = (0..per * 5)
        .map(|_| alloc(&mut a, &mut c).unwrap())
        .collect();
    assert_eq!(c.info().num_slabs, 5);
    for o in objs {
        free(&mut a, &mut c, o).unwrap();
    }
    let info = c.info();
    assert_eq!(info.num_slabs, EMPTY_SLAB_RESERVE);
    assert_eq!(info.active_slabs, 0);
    assert_eq!(
        a.buddy.nr_free(),
        total - EMPTY_SLAB_RESERVE * info.pagesperslab as usize
    );
}

#[test]
fn exhaustion_is_no_memory_and_recoverable() {
    let mut a = HostArena::new(4).unwrap();
    let mut c = SlabCache::new("t", 1, 2048, 8, None, false).unwrap();
    let mut objs = Vec::new();
    loop {
        match alloc(&mut a, &mut c) {
            Ok(o) => objs.push(o),
            Err(e) => {
                assert_eq!(e, Error::NoMemory);
                break;
            }
        }
    }
    assert_eq!(objs.len(), 8);
    free(&mut a, &mut c, objs.pop().unwrap()).unwrap();
    alloc(&mut a, &mut c).unwrap();
}

#[test]
fn bad_geometry_is_invalid() {
    assert_eq!(
        SlabCache::new("t", 1, 0, 8, None, false).err(),
        Some(Error::Invalid)
    );
    assert_eq!(
        SlabCache::new("t", 1, 64, 3, None, false).err(),
        Some(Error::Invalid)
    );
    assert_eq!(
        SlabCache::new("t", 1, 64 << 10, 8, None, false).err(),
        Some(Error::Invalid)
    );
}

#[test]
fn slabinfo_line_has_the_proc_format() {
    let mut a = HostArena::new(16).unwrap();
    let mut c = SlabCache::new("rmap", 1, 48, 8, None, false).unwrap();
    for _ in 0..3 {
        alloc(&mut a, &mut c).unwrap();
    }
    let line = c.info().to_string();
    let f: Vec<&str> = line.split_whitespace().collect();
    // name active num objsize perslab pages : tunables 0 0 0 : slabdata active num 0
    assert_eq!(f[0], "rmap");
    assert_eq!(f[1], "3");
    assert_eq!(f[2], "85"); // 4096 / 48
    assert_eq!(f[3], "48");
    assert_eq!(f[4], "85");
    assert_eq!(f[5], "1");
    assert_eq!(&f[6..8], [":", "tunables"]);
    assert_eq!(&f[11..13], [":", "slabdata"]);
    assert_eq!(&f[13..], ["1", "1", "0"]);
    assert!(SlabInfo::HEADER.starts_with("slabinfo - version: 2.1\n"));
}

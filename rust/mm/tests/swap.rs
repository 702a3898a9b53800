//! Swap-slot map: property tests against a slot -> count model, clusters.

use pagearena_mm::error::Error;
use pagearena_mm::swap::SwapMap;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn map(n: usize) -> SwapMap<Vec<u64>, Vec<u32>> {
    SwapMap::new(vec![0; n.div_ceil(64)], vec![0; n]).unwrap()
}

proptest! {
    #[test]
    fn swap_map_matches_model(n in 1usize..700, ops in prop::collection::vec((0u8..4, any::<u32>()), 1..600)) {
        let mut m = map(n);
        let mut model: BTreeMap<u32, u32> = BTreeMap::new();
        for (op, x) in ops {
            match op {
                0 | 1 => match m.alloc() {
                    Ok(s) => {
                        prop_assert!((s as usize) < n);
                        prop_assert!(model.insert(s, 1).is_none(), "slot {} handed out twice", s);
                    }
                    Err(e) => {
                        prop_assert_eq!(e, Error::NoMemory);
                        prop_assert_eq!(model.len(), n);
                    }
                },
                2 => {
                    let s = x % (n as u32 + 3);
                    match model.get_mut(&s) {
                        Some(c) => { m.dup(s).unwrap(); *c += 1; }
                        None => prop_assert_eq!(m.dup(s), Err(Error::Foreign)),
                    }
                }
                _ => {
                    let s = x % (n as u32 + 3);
                    match model.get_mut(&s) {
                        Some(c) => {
                            *c -= 1;
                            prop_assert_eq!(m.free(s).unwrap(), *c);
                            if *c == 0 { model.remove(&s); }
                        }
                        None => prop_assert!(m.free(s).is_err()),
                    }
                }
            }
            prop_assert_eq!(m.used(), model.len());
            prop_assert_eq!(m.check(), Ok(()));
            for (&s, &c) in &model {
                prop_assert_eq!(m.count(s), c);
            }
        }
    }
}

#[test]
fn consecutive_allocations_are_contiguous() {
    let mut m = map(256);
    let run: Vec<u32> = (0..100).map(|_| m.alloc().unwrap()).collect();
    assert_eq!(run, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_new_cluster_is_preferred_to_holes_until_none_is_left() {
    let mut m = map(192);
    for _ in 0..64 {
        m.alloc().unwrap();
    }
    m.free(5).unwrap();
    // Cluster 0 has a hole at 5, but cluster 1 is wholly free: take it.
    assert_eq!(m.alloc().unwrap(), 64);
    assert_eq!(m.alloc().unwrap(), 65);
    while m.used() < 191 {
        m.alloc().unwrap();
    }
    // Now only the hole is left.
    assert_eq!(m.alloc().unwrap(), 5);
    assert_eq!(m.alloc(), Err(Error::NoMemory));
    assert_eq!(m.stats().free_clusters, 0);
    m.check().unwrap();
}

#[test]
fn shared_slots_free_on_last_sharer() {
    let mut m = map(10);
    let s = m.alloc().unwrap();
    m.dup(s).unwrap();
    m.dup(s).unwrap();
    assert_eq!(m.free(s).unwrap(), 2);
    assert_eq!(m.free(s).unwrap(), 1);
    assert_eq!(m.used(), 1);
    assert_eq!(m.free(s).unwrap(), 0);
    assert_eq!(m.used(), 0);
    assert_eq!(m.free(s), Err(Error::DoubleFree));
    assert_eq!(m.free(99), Err(Error::Foreign));
}

#[test]
fn ragged_map_never_hands_out_padding() {
    let mut m = map(70);
    let got: Vec<u32> = std::iter::from_fn(|| m.alloc().ok()).collect();
    assert_eq!(got.len(), 70);
    assert!(got.iter().all(|&s| s < 70));
    assert!(
        SwapMap::new(vec![0u64; 1], vec![0u32; 65]).is_err(),
        "bitmap too small"
    );
}

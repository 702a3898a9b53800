// SPDX-License-Identifier: GPL-2.0

//! Replaying a page-reference trace through the core's own replacement
//! policies, as the arena runs them, and through Belady's optimum (MIN):
//! the researcher's question "how many major faults would this policy take
//! on this workload with this much memory?" (host only).
//!
//! [`replay`] models the arena, which has no hardware accessed bits: a
//! fault maps a page (a new frame is inserted and marked accessed); later
//! accesses through the mapping are invisible; a frame the policy ages loses
//! its mapping, so its next access is a soft fault that reports it
//! ([`ReclaimPolicy::accessed`]); a page without a frame takes a frame,
//! evicting the policy's victim when none is free. [`belady`] evicts the
//! page used furthest in the future, the bound no policy can beat.
//!
//! Both count *major faults*: misses on pages touched before (the first
//! touch of a page is demand zero, not a major fault).

use crate::host::frame_table;
use crate::memory::Pfn;
use crate::reclaim::ReclaimPolicy;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::vec::Vec;

/// What a replay saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Misses on pages touched before.
    pub major: u64,
    /// First touches (misses no policy can avoid).
    pub first_touch: u64,
    /// Soft faults: accesses to a resident frame that aging had unmapped.
    pub soft: u64,
    /// Major faults per page.
    pub major_per_page: HashMap<u32, u64>,
}

/// Replays `trace` (page numbers) with `capacity` frames under `p` (empty
/// at the start), as the arena would run it; see the module documentation.
pub fn replay(p: &mut dyn ReclaimPolicy, capacity: usize, trace: &[u32]) -> Replay {
    let capacity = capacity.max(1);
    let frames = frame_table(capacity);
    let mut page_of: Vec<Option<u32>> = std::vec![None; capacity];
    let mut frame_of: HashMap<u32, u32> = HashMap::new();
    let mut mapped: HashSet<u32> = HashSet::new();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut free: Vec<u32> = (0..capacity as u32).rev().collect();
    let mut r = Replay::default();
    for &page in trace {
        if let Some(&f) = frame_of.get(&page) {
            if mapped.insert(page) {
                r.soft += 1;
                p.accessed(&frames, Pfn(f));
            }
            continue;
        }
        if seen.insert(page) {
            r.first_touch += 1;
        } else {
            r.major += 1;
            *r.major_per_page.entry(page).or_default() += 1;
        }
        let f = loop {
            if let Some(f) = free.pop() {
                break f;
            }
            let mut v = [Pfn(0)];
            let mut aged = Vec::new();
            let n = p.scan(&frames, 64, &mut v, &mut |pfn| aged.push(pfn.0));
            for a in aged {
                if let Some(pg) = page_of[a as usize] {
                    mapped.remove(&pg);
                }
            }
            if n == 1 {
                if let Some(old) = page_of[v[0].idx()].take() {
                    frame_of.remove(&old);
                    mapped.remove(&old);
                }
                free.push(v[0].0);
            }
        };
        page_of[f as usize] = Some(page);
        frame_of.insert(page, f);
        mapped.insert(page);
        p.insert(&frames, Pfn(f));
        p.accessed(&frames, Pfn(f));
    }
    r
}

/// Belady's optimum (MIN) with `frames` frames: its major faults (misses
/// on pages touched before).
pub fn belady(trace: &[u32], frames: usize) -> u64 {
    let frames = frames.max(1);
    // Next use of each access, from the end.
    let mut next = std::vec![usize::MAX; trace.len()];
    let mut last: HashMap<u32, usize> = HashMap::new();
    for (i, &p) in trace.iter().enumerate().rev() {
        next[i] = last.get(&p).copied().unwrap_or(usize::MAX);
        last.insert(p, i);
    }
    // Resident pages keyed by (next use, page): evict the largest.
    let mut resident: BTreeSet<(usize, u32)> = BTreeSet::new();
    let mut when: HashMap<u32, usize> = HashMap::new();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut major = 0;
    for (i, &p) in trace.iter().enumerate() {
        if let Some(w) = when.remove(&p) {
            resident.remove(&(w, p));
        } else {
            if !seen.insert(p) {
                major += 1;
            }
            if resident.len() >= frames {
                if let Some(&(w, q)) = resident.iter().next_back() {
                    resident.remove(&(w, q));
                    when.remove(&q);
                }
            }
        }
        resident.insert((next[i], p));
        when.insert(p, next[i]);
    }
    major
}

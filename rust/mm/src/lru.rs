// SPDX-License-Identifier: GPL-2.0

//! The active/inactive LRU lists with second-chance aging (`mm/swap.c`,
//! `mm/vmscan.c`), and an exact LRU to compare it with.
//!
//! New frames enter the inactive list. An access makes a frame `YOUNG` (the
//! young bit of its PTEs, which the arena emulates: see
//! [`ReclaimPolicy::scan`]'s `aged`). Reclaim keeps the inactive list at
//! least as long as the active one by moving the active list's tail to the
//! inactive head, but for young frames, which get another turn on the
//! active list; and takes victims from the inactive tail as
//! `folio_check_references` does for mapped pages, which all start young
//! from the fault that made them, so are looked at twice:
//!
//! - young, and seen young before (`REFERENCED`): promoted to the active list;
//! - young for the first time: marked `REFERENCED` and given another turn on
//!   the inactive list;
//! - not young: a victim.
//!
//! Each look clears `YOUNG`. A page touched once (a streaming write) thus
//! leaves after one turn, a page used over and over is promoted. An access
//! reported while the frame is still young on the inactive list promotes
//! it at once (`mark_page_accessed`).

use super::frame::{pg, Frame};
use super::list::FrameList;
use super::memory::Pfn;
use super::reclaim::ReclaimPolicy;

/// The Linux two-list LRU.
///
/// # Invariants
///
/// A frame is on `active` iff it has `LRU` and `ACTIVE`, on `inactive` iff it
/// has `LRU` and not `ACTIVE`.
#[derive(Debug, Default)]
pub struct Lru {
    active: FrameList,
    inactive: FrameList,
}

impl Lru {
    /// Empty lists.
    pub const fn new() -> Self {
        Self {
            active: FrameList::new(),
            inactive: FrameList::new(),
        }
    }

    /// Frames on the active list.
    pub fn nr_active(&self) -> usize {
        self.active.len()
    }

    /// Frames on the inactive list.
    pub fn nr_inactive(&self) -> usize {
        self.inactive.len()
    }

    /// Moves up to `nr` frames from the active tail: young ones back to the
    /// active head, the others to the inactive head (`shrink_active_list`);
    /// each loses `YOUNG`. Returns frames examined.
    fn shrink_active(&mut self, frames: &[Frame], nr: usize, aged: &mut dyn FnMut(Pfn)) -> usize {
        let mut scanned = 0;
        while scanned < nr && self.inactive.len() < self.active.len() {
            let Some(pfn) = self.active.pop_back(frames) else {
                break;
            };
            scanned += 1;
            let f = &frames[pfn.idx()];
            if f.test_and_clear(pg::YOUNG) {
                self.active.push_front(frames, pfn);
            } else {
                f.clear(pg::ACTIVE);
                self.inactive.push_front(frames, pfn);
            }
            aged(pfn);
        }
        scanned
    }
}

impl ReclaimPolicy for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }

    fn insert(&mut self, frames: &[Frame], pfn: Pfn) {
        let f = &frames[pfn.idx()];
        f.clear(pg::ACTIVE | pg::REFERENCED | pg::YOUNG);
        f.set(pg::LRU);
        self.inactive.push_front(frames, pfn);
    }

    fn remove(&mut self, frames: &[Frame], pfn: Pfn) {
        let f = &frames[pfn.idx()];
        if f.test(pg::ACTIVE) {
            self.active.remove(frames, pfn);
        } else {
            self.inactive.remove(frames, pfn);
        }
        f.clear(pg::LRU | pg::ACTIVE | pg::REFERENCED | pg::YOUNG);
    }

    fn accessed(&mut self, frames: &[Frame], pfn: Pfn) {
        let f = &frames[pfn.idx()];
        // Seen again while still young on the inactive list: a reuse, seen
        // directly (`mark_page_accessed`). The arena sees one access per
        // aging (a soft fault), so this happens only to callers that report
        // every access, as the trace simulations do.
        if f.test_and_set(pg::YOUNG) && !f.test(pg::ACTIVE) {
            self.inactive.remove(frames, pfn);
            f.clear(pg::REFERENCED);
            f.set(pg::ACTIVE);
            self.active.push_front(frames, pfn);
        }
    }

    fn scan(
        &mut self,
        frames: &[Frame],
        nr_to_scan: usize,
        victims: &mut [Pfn],
        aged: &mut dyn FnMut(Pfn),
    ) -> usize {
        let mut found = 0;
        let mut budget = nr_to_scan;
        while found < victims.len() && budget > 0 {
            budget -= self.shrink_active(frames, budget, aged).min(budget);
            if budget == 0 {
                break;
            }
            let Some(pfn) = self.inactive.pop_back(frames) else {
                if self.active.is_empty() || budget == 0 {
                    break;
                }
                continue;
            };
            budget = budget.saturating_sub(1);
            let f = &frames[pfn.idx()];
            if f.test_and_clear(pg::YOUNG) {
                if f.test_and_set(pg::REFERENCED) {
                    f.clear(pg::REFERENCED);
                    f.set(pg::ACTIVE);
                    self.active.push_front(frames, pfn);
                } else {
                    self.inactive.push_front(frames, pfn);
                }
                aged(pfn);
            } else {
                f.clear(pg::LRU);
                victims[found] = pfn;
                found += 1;
            }
        }
        found
    }

    fn len(&self) -> usize {
        self.active.len() + self.inactive.len()
    }

    fn check(&self, frames: &[Frame]) -> core::result::Result<(), &'static str> {
        self.active.check(frames)?;
        self.inactive.check(frames)?;
        for pfn in self.active.iter(frames) {
            let f = &frames[pfn.idx()];
            if !f.test(pg::LRU) || !f.test(pg::ACTIVE) {
                return Err("frame on the active list without LRU|ACTIVE");
            }
        }
        for pfn in self.inactive.iter(frames) {
            let f = &frames[pfn.idx()];
            if !f.test(pg::LRU) || f.test(pg::ACTIVE) {
                return Err("frame on the inactive list without LRU or with ACTIVE");
            }
        }
        Ok(())
    }
}

/// Exact LRU: every access moves the frame to the front; victims come from the
/// back. Needs every access reported, which hardware-less tracking cannot do
/// cheaply: a baseline for trace comparisons.
#[derive(Debug, Default)]
pub struct ExactLru {
    list: FrameList,
}

impl ExactLru {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            list: FrameList::new(),
        }
    }
}

impl ReclaimPolicy for ExactLru {
    fn name(&self) -> &'static str {
        "exact-lru"
    }

    fn insert(&mut self, frames: &[Frame], pfn: Pfn) {
        frames[pfn.idx()].set(pg::LRU);
        self.list.push_front(frames, pfn);
    }

    fn remove(&mut self, frames: &[Frame], pfn: Pfn) {
        self.list.remove(frames, pfn);
        frames[pfn.idx()].clear(pg::LRU | pg::REFERENCED | pg::YOUNG);
    }

    fn accessed(&mut self, frames: &[Frame], pfn: Pfn) {
        self.list.remove(frames, pfn);
        self.list.push_front(frames, pfn);
    }

    fn scan(
        &mut self,
        frames: &[Frame],
        nr_to_scan: usize,
        victims: &mut [Pfn],
        _aged: &mut dyn FnMut(Pfn),
    ) -> usize {
        let mut found = 0;
        while found < victims.len() && found < nr_to_scan {
            let Some(pfn) = self.list.pop_back(frames) else {
                break;
            };
            frames[pfn.idx()].clear(pg::LRU | pg::REFERENCED | pg::YOUNG);
            victims[found] = pfn;
            found += 1;
        }
        found
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    fn check(&self, frames: &[Frame]) -> core::result::Result<(), &'static str> {
        self.list.check(frames)?;
        if self
            .list
            .iter(frames)
            .any(|p| !frames[p.idx()].test(pg::LRU))
        {
            return Err("frame on the exact LRU without LRU");
        }
        Ok(())
    }
}

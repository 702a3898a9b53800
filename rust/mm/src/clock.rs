// SPDX-License-Identifier: GPL-2.0

//! CLOCK (second chance on one circular list): the hand sweeps the frames in
//! order of arrival; a young frame (accessed since the hand last passed)
//! loses its youth and goes round again, an old one is the victim. The classic approximation of LRU
//! from reference bits alone, to compare with the two-list [`super::lru::Lru`].

use super::frame::{pg, Frame};
use super::list::FrameList;
use super::memory::Pfn;
use super::reclaim::ReclaimPolicy;

/// The CLOCK policy. The list's front is under the hand.
///
/// # Invariants
///
/// A frame is on `ring` iff it has `LRU`.
#[derive(Debug, Default)]
pub struct Clock {
    ring: FrameList,
}

impl Clock {
    /// An empty clock.
    pub const fn new() -> Self {
        Self {
            ring: FrameList::new(),
        }
    }
}

impl ReclaimPolicy for Clock {
    fn name(&self) -> &'static str {
        "clock"
    }

    fn insert(&mut self, frames: &[Frame], pfn: Pfn) {
        let f = &frames[pfn.idx()];
        f.clear(pg::YOUNG);
        f.set(pg::LRU);
        // Just behind the hand: the last to be looked at.
        self.ring.push_back(frames, pfn);
    }

    fn remove(&mut self, frames: &[Frame], pfn: Pfn) {
        self.ring.remove(frames, pfn);
        frames[pfn.idx()].clear(pg::LRU | pg::YOUNG);
    }

    fn accessed(&mut self, frames: &[Frame], pfn: Pfn) {
        frames[pfn.idx()].set(pg::YOUNG);
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
            let Some(pfn) = self.ring.pop_front(frames) else {
                break;
            };
            budget -= 1;
            let f = &frames[pfn.idx()];
            if f.test_and_clear(pg::YOUNG) {
                self.ring.push_back(frames, pfn);
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
        self.ring.len()
    }

    fn check(&self, frames: &[Frame]) -> core::result::Result<(), &'static str> {
        self.ring.check(frames)?;
        if self
            .ring
            .iter(frames)
            .any(|p| !frames[p.idx()].test(pg::LRU))
        {
            return Err("frame on the clock without LRU");
        }
        Ok(())
    }
}

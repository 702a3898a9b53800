// SPDX-License-Identifier: GPL-2.0

//! The replacement policy chosen at load (`reclaim_policy=lru|clock`): one
//! type over the interchangeable [`ReclaimPolicy`]s, so the arena keeps
//! whichever it was given behind one lock, with no allocation and no
//! dynamic dispatch on the fault path.

use super::clock::Clock;
use super::frame::Frame;
use super::lru::Lru;
use super::memory::Pfn;
use super::reclaim::ReclaimPolicy;

/// One of the policies the arena can run.
#[derive(Debug)]
pub enum Policy {
    /// The Linux active/inactive lists.
    Lru(Lru),
    /// CLOCK.
    Clock(Clock),
}

impl Policy {
    /// The policy named `name` (`"lru"` or `"clock"`), empty.
    pub fn by_name(name: &[u8]) -> Option<Self> {
        match name {
            b"lru" => Some(Policy::Lru(Lru::new())),
            b"clock" => Some(Policy::Clock(Clock::new())),
            _ => None,
        }
    }

    /// Frames on the active list (CLOCK has one list: none).
    pub fn nr_active(&self) -> usize {
        match self {
            Policy::Lru(l) => l.nr_active(),
            Policy::Clock(_) => 0,
        }
    }

    /// Frames on the inactive list (CLOCK: every frame it tracks).
    pub fn nr_inactive(&self) -> usize {
        match self {
            Policy::Lru(l) => l.nr_inactive(),
            Policy::Clock(c) => c.len(),
        }
    }

    fn get(&mut self) -> &mut dyn ReclaimPolicy {
        match self {
            Policy::Lru(l) => l,
            Policy::Clock(c) => c,
        }
    }

    fn get_ref(&self) -> &dyn ReclaimPolicy {
        match self {
            Policy::Lru(l) => l,
            Policy::Clock(c) => c,
        }
    }
}

impl ReclaimPolicy for Policy {
    fn name(&self) -> &'static str {
        self.get_ref().name()
    }

    fn insert(&mut self, frames: &[Frame], pfn: Pfn) {
        self.get().insert(frames, pfn)
    }

    fn remove(&mut self, frames: &[Frame], pfn: Pfn) {
        self.get().remove(frames, pfn)
    }

    fn accessed(&mut self, frames: &[Frame], pfn: Pfn) {
        self.get().accessed(frames, pfn)
    }

    fn scan(
        &mut self,
        frames: &[Frame],
        nr_to_scan: usize,
        victims: &mut [Pfn],
        aged: &mut dyn FnMut(Pfn),
    ) -> usize {
        self.get().scan(frames, nr_to_scan, victims, aged)
    }

    fn len(&self) -> usize {
        self.get_ref().len()
    }

    fn check(&self, frames: &[Frame]) -> core::result::Result<(), &'static str> {
        self.get_ref().check(frames)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Reclaim decisions (`mm/vmscan.c`): watermarks, and the policy interface
//! that picks which resident frames to steal.
//!
//! Like a Linux zone, the arena has three watermarks on its free frames:
//!
//! - below **low**, allocation wakes the reclaim thread (kswapd), which
//!   reclaims in the background until free frames reach **high**;
//! - below **min**, the allocating task reclaims directly before it may take
//!   a frame (direct reclaim).
//!
//! Which frames go is the business of a [`ReclaimPolicy`]: the Linux
//! active/inactive lists ([`super::lru::Lru`]), CLOCK ([`super::clock::Clock`])
//! or exact LRU ([`super::lru::ExactLru`]), interchangeable and comparable on
//! the same access trace.

use super::error::{Error, Result};
use super::frame::Frame;
use super::memory::Pfn;

/// The three free-frame watermarks of the arena.
///
/// # Invariants
///
/// `min <= low <= high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    min: usize,
    low: usize,
    high: usize,
}

/// What an allocation should do, given the free frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocAction {
    /// Enough free frames: allocate.
    Allocate,
    /// Below low: allocate, and wake the reclaim thread.
    WakeReclaimer,
    /// Below min: reclaim directly first (and wake the reclaim thread).
    DirectReclaim,
}

impl Watermarks {
    /// Watermarks `min <= low <= high` (else [`Error::Invalid`]).
    pub fn new(min: usize, low: usize, high: usize) -> Result<Self> {
        if min <= low && low <= high {
            Ok(Self { min, low, high })
        } else {
            Err(Error::Invalid)
        }
    }

    /// Default watermarks for an arena of `managed` frames: min 1/64, low
    /// 1/32 and high 3/64 of the arena (at least 4, 8 and 12 frames), the
    /// min : low : high = 1 : 2 : 3 spacing of `__setup_per_zone_wmarks`.
    pub fn for_arena(managed: usize) -> Self {
        let min = (managed / 64).max(4);
        Self {
            min,
            low: (managed / 32).max(2 * min),
            high: (managed * 3 / 64).max(3 * min),
        }
    }

    /// The min watermark.
    pub fn min(&self) -> usize {
        self.min
    }

    /// The low watermark.
    pub fn low(&self) -> usize {
        self.low
    }

    /// The high watermark.
    pub fn high(&self) -> usize {
        self.high
    }

    /// What an allocation does when `free` frames are free.
    #[inline]
    pub fn on_alloc(&self, free: usize) -> AllocAction {
        if free < self.min {
            AllocAction::DirectReclaim
        } else if free < self.low {
            AllocAction::WakeReclaimer
        } else {
            AllocAction::Allocate
        }
    }

    /// Whether the reclaim thread has work at `free` free frames (below high,
    /// once woken: it reclaims until high, not merely until low).
    #[inline]
    pub fn reclaimer_should_run(&self, free: usize) -> bool {
        free < self.high
    }

    /// Whether direct reclaim may stop: the allocation that needed it can go on.
    #[inline]
    pub fn direct_reclaim_done(&self, free: usize) -> bool {
        free >= self.min
    }
}

/// A page-replacement policy over the arena's resident frames.
///
/// The policy keeps the frames it tracks on lists threaded through the frame
/// table and uses the page flags `LRU`, `ACTIVE`, `REFERENCED` and `YOUNG`. Callers
/// insert every frame that becomes resident and evictable, report accesses
/// they observe (in the arena: "soft" faults on frames whose mappings reclaim
/// had cleared), remove frames that stop being resident by other means, and
/// ask for victims when memory is short.
pub trait ReclaimPolicy {
    /// Short name, for reports.
    fn name(&self) -> &'static str;
    /// Starts tracking `pfn` (not tracked yet), a frame just made resident.
    fn insert(&mut self, frames: &[Frame], pfn: Pfn);
    /// Stops tracking `pfn` (tracked).
    fn remove(&mut self, frames: &[Frame], pfn: Pfn);
    /// Records an access to `pfn` (tracked) (`mark_page_accessed`).
    fn accessed(&mut self, frames: &[Frame], pfn: Pfn);
    /// Picks up to `victims.len()` frames to evict, coldest first, and stops
    /// tracking them. Examines at most `nr_to_scan` frames; returns how many
    /// victims it wrote.
    ///
    /// `aged` is called with every frame the scan keeps but whose next
    /// access it needs to see: one whose `YOUNG` it cleared, or that it
    /// moved to the inactive list. Without accessed bits, the caller makes
    /// that access visible by zapping the frame's user PTEs (`aged` is the
    /// arena's `folio_referenced` clearing the young bits): the next access
    /// takes a soft fault, which reports it ([`ReclaimPolicy::accessed`]).
    fn scan(
        &mut self,
        frames: &[Frame],
        nr_to_scan: usize,
        victims: &mut [Pfn],
        aged: &mut dyn FnMut(Pfn),
    ) -> usize;
    /// Frames tracked.
    fn len(&self) -> usize;
    /// Whether no frame is tracked.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checks the policy's invariants against the frame table.
    fn check(&self, frames: &[Frame]) -> core::result::Result<(), &'static str>;
}

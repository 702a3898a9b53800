// SPDX-License-Identifier: GPL-2.0

//! The swap-slot map of the backing store (`mm/swapfile.c`).
//!
//! One slot holds one page. A bitmap says which slots are in use, for fast
//! scanning; a share count per slot (`swap_map[]`) says how many page-table
//! entries name it, since a clone shares its source's swapped-out pages just
//! as it shares resident ones.
//!
//! Allocation works in clusters of [`SWAP_CLUSTER`] slots (one bitmap word), as
//! Linux's swap clusters do: consecutive evictions take consecutive slots of
//! the current cluster, so a burst of reclaim writes one contiguous run, and a
//! new cluster is started only when the current one is used up; when no
//! cluster is wholly free, any free slot is taken.

use super::error::{Error, Result};
use core::ops::DerefMut;

/// Swap slots as the fault path and reclaim use them (`get_swap_page`,
/// `swap_duplicate`, `swap_free`): a [`SwapMap`] behind whatever lock its
/// user keeps. Each page-table entry that names a slot holds one count on
/// it, and so does a frame in the swap cache (`pg::SWAPCACHE`, its slot in
/// `private`).
pub trait SwapSlots {
    /// A new slot with one count, the caller's ([`Error::NoMemory`] if swap
    /// is full or there is none).
    fn alloc_slot(&self) -> Result<u32>;
    /// One more count on `slot`, which has at least one.
    fn dup_slot(&self, slot: u32);
    /// One count fewer on `slot`; the last frees it.
    fn put_slot(&self, slot: u32);
}

/// Slots per cluster (one bitmap word).
pub const SWAP_CLUSTER: usize = 64;

/// Statistics of a swap map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwapStats {
    /// Slots in the map.
    pub nr_slots: usize,
    /// Slots in use.
    pub used: usize,
    /// Clusters with no slot in use.
    pub free_clusters: usize,
}

/// A swap map over caller-provided storage (allocated once, at load time):
/// `bitmap` of `ceil(nr_slots / 64)` words and `counts` of `nr_slots` entries.
///
/// # Invariants
///
/// Bit `s` of `bitmap` is set iff `counts[s] > 0`, for every slot `s`; the
/// padding bits past the last slot are set. `used` counts slots in use.
pub struct SwapMap<B, C> {
    bitmap: B,
    counts: C,
    used: usize,
    cursor: usize,
}

impl<B: DerefMut<Target = [u64]>, C: DerefMut<Target = [u32]>> SwapMap<B, C> {
    /// A map of `counts.len()` free slots. `bitmap` must have exactly
    /// `ceil(counts.len() / 64)` words ([`Error::Invalid`] otherwise).
    pub fn new(mut bitmap: B, mut counts: C) -> Result<Self> {
        let n = counts.len();
        if bitmap.len() != n.div_ceil(64) || n >= u32::MAX as usize {
            return Err(Error::Invalid);
        }
        bitmap.fill(0);
        counts.fill(0);
        if n % 64 != 0 {
            if let Some(last) = bitmap.last_mut() {
                *last = !0u64 << (n % 64);
            }
        }
        Ok(Self {
            bitmap,
            counts,
            used: 0,
            cursor: 0,
        })
    }

    /// Number of slots.
    pub fn nr_slots(&self) -> usize {
        self.counts.len()
    }

    /// Slots in use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Statistics.
    pub fn stats(&self) -> SwapStats {
        SwapStats {
            nr_slots: self.counts.len(),
            used: self.used,
            free_clusters: self.bitmap.iter().filter(|w| **w == 0).count(),
        }
    }

    /// Allocates a slot with share count 1 (`get_swap_page`).
    pub fn alloc(&mut self) -> Result<u32> {
        let slot = self.find_free().ok_or(Error::NoMemory)?;
        self.bitmap[slot / 64] |= 1 << (slot % 64);
        self.counts[slot] = 1;
        self.used += 1;
        self.cursor = slot + 1;
        Ok(slot as u32)
    }

    fn find_free(&self) -> Option<usize> {
        let words = self.bitmap.len();
        if words == 0 || self.used == self.counts.len() {
            return None;
        }
        // Next slot of the current cluster.
        let c = self.cursor;
        if c % 64 != 0 && c < self.counts.len() && self.bitmap[c / 64] & (1 << (c % 64)) == 0 {
            return Some(c);
        }
        // A wholly free cluster, searching on from the cursor.
        let start = (c / 64) % words;
        for i in 0..words {
            let w = (start + i) % words;
            if self.bitmap[w] == 0 {
                return Some(w * 64);
            }
        }
        // Any free slot.
        for i in 0..words {
            let w = (start + i) % words;
            let bits = self.bitmap[w];
            if bits != !0 {
                return Some(w * 64 + (!bits).trailing_zeros() as usize);
            }
        }
        None
    }

    /// Adds a sharer to `slot`, in use (`swap_duplicate`).
    pub fn dup(&mut self, slot: u32) -> Result {
        let c = self.counts.get_mut(slot as usize).ok_or(Error::Foreign)?;
        if *c == 0 {
            return Err(Error::Foreign);
        }
        *c = c.checked_add(1).ok_or(Error::NoMemory)?;
        Ok(())
    }

    /// Drops a sharer of `slot`; the slot is free when the last one goes
    /// (`swap_free`). Returns the sharers left.
    pub fn free(&mut self, slot: u32) -> Result<u32> {
        let s = slot as usize;
        let c = self.counts.get_mut(s).ok_or(Error::Foreign)?;
        if *c == 0 {
            return Err(Error::DoubleFree);
        }
        *c -= 1;
        let left = *c;
        if left == 0 {
            self.bitmap[s / 64] &= !(1 << (s % 64));
            self.used -= 1;
        }
        Ok(left)
    }

    /// The share count of `slot` (0: free).
    pub fn count(&self, slot: u32) -> u32 {
        self.counts.get(slot as usize).copied().unwrap_or(0)
    }

    /// Checks the map's invariants.
    pub fn check(&self) -> core::result::Result<(), &'static str> {
        let n = self.counts.len();
        let mut used = 0;
        for (s, &c) in self.counts.iter().enumerate() {
            let bit = self.bitmap[s / 64] & (1 << (s % 64)) != 0;
            if bit != (c > 0) {
                return Err("bitmap bit differs from the slot's count");
            }
            used += usize::from(c > 0);
        }
        if n % 64 != 0 {
            let pad = !0u64 << (n % 64);
            if self.bitmap.last().is_some_and(|w| w & pad != pad) {
                return Err("padding bits past the last slot are not set");
            }
        }
        if used != self.used {
            return Err("used differs from the slots in use");
        }
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Per-CPU page lists (`struct per_cpu_pages` in `mm/page_alloc.c`) and the
//! per-CPU batches of frames waiting to go on the LRU (`cpu_fbatches.lru_add`
//! in `mm/swap.c`): what keeps the buddy's and the LRU's locks off the fault
//! path.
//!
//! A [`PerCpuPages`] holds free order-0 frames for one CPU. An allocation
//! pops the hottest (the last freed) and refills [`PerCpuPages::batch`]
//! frames at once from the buddy when the list is empty
//! (`rmqueue_bulk`); a free pushes, and once the list holds more than
//! [`PerCpuPages::high`] frames the coldest `batch` go back to the buddy
//! (`free_pcppages_bulk`). So the buddy's lock is taken once per `batch`
//! allocations or frees, not once each. Frames on a list are in state
//! [`FrameState::PerCpu`]: free, but not counted in [`Buddy::nr_free`]
//! (Linux's `NR_FREE_PAGES` leaves them out too), so whoever reports free
//! frames adds [`PerCpuPages::count`], and an allocation that finds the
//! buddy empty drains every CPU's list first (`drain_all_pages`) before it
//! calls memory exhausted.
//!
//! A [`PfnBatch`] is a small fixed-capacity array of frames
//! (`struct folio_batch`): the LRU-add batch of a CPU, whose frames the
//! caller pins while they wait, so that a frame freed meanwhile is freed
//! only when its batch is flushed.
//!
//! The lists have no lock of their own: the kernel glue keeps one per CPU
//! under a spinlock, taken before the buddy's.

use super::{
    buddy::Buddy,
    error::{Error, Result},
    frame::{Frame, FrameState},
    memory::Pfn,
};

/// Largest [`PerCpuPages::batch`] (Linux caps `pcp->batch` at 63 on
/// large zones; the arena is a small zone).
pub const PCP_BATCH_MAX: usize = 31;
/// Capacity of a list: `high` is 4 batches (`pcp->high` is a few batches
/// too), and a free may go one past it before the list is drained.
pub const PCP_CAPACITY: usize = 4 * PCP_BATCH_MAX + 1;

/// The batch for an arena of `nr_frames` frames shared by `nr_cpus` CPUs
/// (`zone_batchsize`: a fraction of the zone, so that all lists together
/// hold a small part of it): a 512th of the arena's share of each CPU, at
/// most [`PCP_BATCH_MAX`], so that all lists together hold at most about a
/// 128th of the arena, well inside the gap between the watermarks (which
/// see only the buddy's free frames); 0 (no lists: every allocation goes to
/// the buddy) for arenas under 1024 frames per CPU.
pub fn batch_for(nr_frames: usize, nr_cpus: usize) -> usize {
    let per_cpu = nr_frames / (512 * nr_cpus.max(1));
    if per_cpu < 2 {
        0
    } else {
        per_cpu.min(PCP_BATCH_MAX)
    }
}

/// The largest batch up to `batch` whose lists, `nr_cpus` of them at most
/// `4 * batch + 1` frames each, hold no more than half of `gap` frames (the
/// gap between the min and high watermarks, which do not see the lists).
pub fn batch_within(batch: usize, nr_cpus: usize, gap: usize) -> usize {
    let per_cpu = gap / 2 / nr_cpus.max(1);
    batch.min(per_cpu.saturating_sub(1) / 4)
}

/// A fixed-capacity array of frames (`struct folio_batch`).
#[derive(Debug)]
pub struct PfnBatch<const N: usize> {
    pfns: [Pfn; N],
    len: usize,
}

impl<const N: usize> Default for PfnBatch<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PfnBatch<N> {
    /// An empty batch.
    pub const fn new() -> Self {
        Self {
            pfns: [Pfn(0); N],
            len: 0,
        }
    }

    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `pfn`; returns the frames still free after it (0: full now).
    /// [`Error::NoMemory`] if it was full already.
    pub fn add(&mut self, pfn: Pfn) -> Result<usize> {
        let slot = self.pfns.get_mut(self.len).ok_or(Error::NoMemory)?;
        *slot = pfn;
        self.len += 1;
        Ok(N - self.len)
    }

    /// Takes every frame out, in the order they came; the batch is empty
    /// after.
    pub fn take(&mut self) -> PfnBatch<N> {
        core::mem::take(self)
    }

    /// The frames, in the order they came.
    pub fn as_slice(&self) -> &[Pfn] {
        &self.pfns[..self.len]
    }

    /// The last frame added, out of the batch.
    fn pop(&mut self) -> Option<Pfn> {
        self.len = self.len.checked_sub(1)?;
        Some(self.pfns[self.len])
    }

    /// Removes the `n` oldest frames (the front), calling `each` on them in
    /// order; the rest move to the front.
    fn drain_front(&mut self, n: usize, mut each: impl FnMut(Pfn)) {
        let n = n.min(self.len);
        for &pfn in &self.pfns[..n] {
            each(pfn);
        }
        self.pfns.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// One CPU's free order-0 frames (`struct per_cpu_pages`).
///
/// # Invariants
///
/// Every frame on the list is the head of an order-0 block the buddy handed
/// out, in state [`FrameState::PerCpu`], on no other list; `batch <=
/// PCP_BATCH_MAX`, and the list never holds more than `high + 1` frames.
#[derive(Debug)]
pub struct PerCpuPages {
    list: PfnBatch<PCP_CAPACITY>,
    batch: usize,
}

impl PerCpuPages {
    /// An empty list that moves `batch` frames at a time (clamped to
    /// [`PCP_BATCH_MAX`]; 0: no list, every call goes to the buddy).
    pub const fn new(batch: usize) -> Self {
        Self {
            list: PfnBatch::new(),
            batch: if batch > PCP_BATCH_MAX {
                PCP_BATCH_MAX
            } else {
                batch
            },
        }
    }

    /// Frames moved to or from the buddy at a time.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Frames the list may hold before a free drains it.
    pub fn high(&self) -> usize {
        4 * self.batch
    }

    /// Free frames on the list.
    pub fn count(&self) -> usize {
        self.list.len()
    }

    /// An order-0 block, as [`Buddy::alloc`] returns it (state
    /// [`FrameState::Allocated`], no flags): the hottest frame of the list,
    /// after taking a batch from the buddy if the list was empty. The caller
    /// holds the list's lock; the buddy's is taken only for a refill.
    /// [`Error::NoMemory`] if the list and the buddy are empty.
    pub fn alloc(&mut self, frames: &[Frame], buddy: &impl BuddyLock) -> Result<Pfn> {
        if self.batch == 0 {
            return buddy.with_buddy(|b| b.alloc(frames, 0));
        }
        if self.list.is_empty() {
            buddy.with_buddy(|b| {
                for _ in 0..self.batch {
                    let Ok(pfn) = b.alloc(frames, 0) else {
                        break;
                    };
                    if let Some(f) = frames.get(pfn.idx()) {
                        f.set_head(FrameState::PerCpu, 0);
                    }
                    // Room for a batch: the list was empty.
                    let _ = self.list.add(pfn);
                }
            });
        }
        let pfn = self.list.pop().ok_or(Error::NoMemory)?;
        if let Some(f) = frames.get(pfn.idx()) {
            f.set_head(FrameState::Allocated, 0);
        }
        Ok(pfn)
    }

    /// Frees order-0 block `pfn` (as [`Buddy::free`] takes it: state
    /// [`FrameState::Allocated`] or [`FrameState::Data`], order 0) onto the
    /// list, then gives the coldest batch back to the buddy if the list went
    /// over [`PerCpuPages::high`]. Errors, with nothing changed:
    /// [`Error::DoubleFree`] for a frame already free (on a list or in the
    /// buddy), and what [`Buddy::free`] refuses otherwise; and, with `pfn`
    /// freed onto the list, [`Error::Corrupted`] if the drain found a frame
    /// the buddy refused (which the invariant rules out).
    pub fn free(&mut self, frames: &[Frame], pfn: Pfn, buddy: &impl BuddyLock) -> Result {
        if self.batch == 0 {
            return buddy.with_buddy(|b| b.free(frames, pfn, 0));
        }
        let f = frames.get(pfn.idx()).ok_or(Error::Foreign)?;
        match f.state() {
            FrameState::PerCpu | FrameState::Buddy => return Err(Error::DoubleFree),
            s if !s.buddy_may_free() => return Err(Error::Foreign),
            _ if f.order() != 0 => return Err(Error::WrongOrder),
            _ => {}
        }
        f.reset();
        f.set_head(FrameState::PerCpu, 0);
        // Room: the list holds at most `high` between calls.
        let _ = self.list.add(pfn);
        if self.list.len() > self.high() {
            let n = self.batch;
            return buddy.with_buddy(|b| self.drain_into(b, frames, n));
        }
        Ok(())
    }

    /// Gives every frame back to the buddy (`drain_pages`), which the caller
    /// has locked. [`Error::Corrupted`] if the buddy refused one (which the
    /// invariant rules out; the frame is then lost to both).
    pub fn drain(&mut self, buddy: &mut Buddy, frames: &[Frame]) -> Result {
        let n = self.list.len();
        self.drain_into(buddy, frames, n)
    }

    fn drain_into(&mut self, b: &mut Buddy, frames: &[Frame], n: usize) -> Result {
        let mut refused = 0;
        self.list.drain_front(n, |pfn| {
            if let Some(f) = frames.get(pfn.idx()) {
                f.set_head(FrameState::Allocated, 0);
            }
            // By the invariant an order-0 block the buddy gave out.
            if b.free(frames, pfn, 0).is_err() {
                refused += 1;
            }
        });
        if refused == 0 {
            Ok(())
        } else {
            Err(Error::Corrupted(
                "the buddy refused a frame of a per-CPU list",
            ))
        }
    }
}

/// The buddy behind its lock, for the lists to refill from and drain to.
pub trait BuddyLock {
    /// Calls `f` with the buddy locked.
    fn with_buddy<R>(&self, f: impl FnOnce(&mut Buddy) -> R) -> R;
}

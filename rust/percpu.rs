// SPDX-License-Identifier: GPL-2.0

//! What each CPU keeps to itself, so that faults on different CPUs share no
//! lock and no written cache line: its free-frame list (`struct
//! per_cpu_pages`), its batch of frames waiting to go on the LRU
//! (`cpu_fbatches.lru_add`), and its event counters (`vm_event_states`).
//! The lists' logic is the core's ([`crate::mm::pcp`]); the arena decides
//! when to refill, drain and flush them.
//!
//! A CPU's state is found by [`CpuId::current`] with preemption enabled, as
//! `raw_cpu_ptr` is: if the task moves to another CPU before it takes the
//! lock, it uses the first CPU's state, which its lock keeps right; only
//! locality is lost. The locks are spinlocks of one class each, never two
//! of a class at once (draining visits CPUs one after another).

use crate::mm::{memory::Pfn, pcp::PerCpuPages, pcp::PfnBatch};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    alloc::KVec,
    cpu::{nr_cpu_ids, CpuId},
    new_spinlock,
    prelude::*,
    sync::SpinLock,
};

/// Frames an LRU-add batch holds (`PAGEVEC_SIZE`).
pub const LRU_BATCH: usize = 15;

/// One CPU's state; `N` event counters.
#[pin_data]
pub struct PerCpu<const N: usize> {
    /// Free order-0 frames (lock order: before the buddy's lock).
    #[pin]
    pub pages: SpinLock<PerCpuPages>,
    /// Data frames, each pinned, on their way to the LRU (a leaf: flushed
    /// with the lock dropped).
    #[pin]
    pub lru_add: SpinLock<PfnBatch<LRU_BATCH>>,
    /// Event counts of this CPU (relaxed atomics: any CPU may add to them,
    /// this one nearly always does).
    events: [AtomicU64; N],
}

/// Every possible CPU's state (`nr_cpu_ids` of them).
///
/// # Invariants
///
/// `cpus` has one entry per possible CPU, so at least one.
pub struct PerCpuSet<const N: usize> {
    cpus: KVec<Pin<KBox<PerCpu<N>>>>,
    /// Frames an LRU-add batch takes before it is flushed (0: none, every
    /// frame goes on the LRU at once).
    lru_batch: usize,
}

impl<const N: usize> PerCpuSet<N> {
    /// State for every possible CPU: free-frame lists moving `batch` frames
    /// at a time (0: none), LRU-add batches of up to `lru_batch` frames.
    pub fn new(batch: usize, lru_batch: usize) -> Result<Self> {
        let n = (nr_cpu_ids() as usize).max(1);
        let mut cpus = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let cpu = KBox::pin_init(
                pin_init!(PerCpu {
                    pages <- new_spinlock!(PerCpuPages::new(batch), "pagearena_pcp"),
                    lru_add <- new_spinlock!(PfnBatch::new(), "pagearena_lru_add"),
                    events: [const { AtomicU64::new(0) }; N],
                }),
                GFP_KERNEL,
            )?;
            cpus.push(cpu, GFP_KERNEL)?;
        }
        Ok(Self {
            cpus,
            lru_batch: lru_batch.min(LRU_BATCH),
        })
    }

    /// The state of the CPU this runs on (or ran on a moment ago).
    #[inline]
    pub fn this_cpu(&self) -> &PerCpu<N> {
        let i = CpuId::current().as_u32() as usize;
        // A `CpuId` is below `nr_cpu_ids`: an entry of its own, by the
        // invariant (which also makes `len() - 1` an entry).
        &self.cpus[i.min(self.cpus.len() - 1)]
    }

    /// Every CPU's state, one after another.
    pub fn iter(&self) -> impl Iterator<Item = &PerCpu<N>> {
        self.cpus.iter().map(|c| &**c)
    }

    /// Adds `n` to event `i` on this CPU (`count_vm_events`).
    #[inline]
    pub fn count(&self, i: usize, n: u64) {
        if let Some(e) = self.this_cpu().events.get(i) {
            e.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The events summed over every CPU (`all_vm_events`).
    pub fn events(&self) -> [u64; N] {
        let mut sum = [0u64; N];
        for c in self.iter() {
            for (s, e) in sum.iter_mut().zip(c.events.iter()) {
                *s = s.wrapping_add(e.load(Ordering::Relaxed));
            }
        }
        sum
    }

    /// Adds `pfn` to this CPU's LRU-add batch; returns the batch's frames,
    /// taken out, once it is full (the caller puts them on the LRU with the
    /// batch's lock dropped), else `None`.
    #[inline]
    pub fn lru_add(&self, pfn: Pfn) -> Option<PfnBatch<LRU_BATCH>> {
        let mut b = self.this_cpu().lru_add.lock();
        if b.add(pfn).is_err() {
            // Full already (cannot be: a batch goes when it reaches
            // `lru_batch`, at most its capacity): that batch goes, `pfn`
            // starts the next.
            let full = b.take();
            let _ = b.add(pfn);
            return Some(full);
        }
        (b.len() >= self.lru_batch).then(|| b.take())
    }
}

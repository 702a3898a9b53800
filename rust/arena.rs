// SPDX-License-Identifier: GPL-2.0

//! The arena: the frame pool taken from the kernel at load, its buddy
//! allocator (the "zone"), the slab caches for the module's own metadata, the
//! shared zero frame, and the event counters (vmstat).
//!
//! There is one arena per module; it lives from load to unload and is reached
//! through [`arena()`] (like the kernel's `NODE_DATA()`/`contig_page_data`).
//! It is the lowest layer of the module: it knows frames, not spaces (see
//! the layer and lock order in `rust/pagearena_main.rs`).
//!
//! It also keeps what reclaim needs to know about frames: the LRU lists of
//! the replacement policy ([`Arena::lru`]; a frame leaves them when it is
//! freed), the watermarks on free frames, and the wait queue of the reclaim
//! thread, which an allocation below the low watermark wakes. The thread
//! itself, and the reclaim that walks spaces, are `crate::vmscan`.

use crate::{
    fault_trace::FaultTrace,
    frames::KernelFrames,
    mm::{
        buddy::{Buddy, PageAllocator, NR_ORDERS},
        error::{Error as MmError, Result as MmResult},
        fault::FramePool,
        frame::{pg, Frame, FrameState},
        memory::{FrameMemory, Pfn, PAGE_SIZE},
        pagetable::{release_node, take_node, NodeAllocator},
        pcp::{batch_for, batch_within, BuddyLock, PfnBatch},
        policy::Policy,
        reclaim::{ReclaimPolicy, Watermarks},
        slab::{SlabCache, SlabInfo},
        swap::{SwapMap, SwapSlots, SwapStats},
    },
    percpu::{PerCpuSet, LRU_BATCH},
    swapfile::SwapFile,
};
use core::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use kernel::{
    alloc::KVVec,
    new_condvar, new_spinlock,
    prelude::*,
    sync::{CondVar, SpinLock},
};

/// Slab cache id of `pa_space` (it marks the cache's slabs in the frame table).
const SPACE_CACHE_ID: u32 = 2;

/// A space's counters: what `spaces` and the space-stats ioctl show.
/// Written under the space's mutex, read without it.
#[derive(Clone, Copy)]
#[repr(usize)]
pub enum SpaceWord {
    /// The space's id.
    Id = 0,
    /// Pages mapped to a frame (shared or not).
    Resident,
    /// Pages mapped to the zero frame.
    Zero,
    /// Page-table nodes.
    PtNodes,
    /// VMAs mapping the space.
    Vmas,
    /// Bit 0: fork-COW mode.
    Flags,
    /// Pages in swap.
    Swapped,
    /// Number of words.
    Count,
}

/// Event counters, shown by debugfs `vmstat` and the stats ioctl.
#[derive(Clone, Copy)]
#[repr(usize)]
pub enum Event {
    /// Faults handled (both callbacks).
    PgFault = 0,
    /// Read faults answered with the zero frame.
    ZeroFault,
    /// Write faults that took a fresh zeroed frame.
    DemandZeroFault,
    /// Write faults on a shared frame that copied it.
    CowFault,
    /// Write faults on a once-shared frame that this space holds alone: reused.
    CowReuseFault,
    /// Read faults that re-mapped a frame already in the page table.
    MinorFault,
    /// Faults that found no frame or node: `SIGBUS`.
    OomFault,
    /// Pages mapped by fault-around next to a read fault.
    FaultAround,
    /// Spaces created by the clone ioctl.
    Clone,
    /// Spaces created by `fork()` of a fork-COW space.
    ForkSnapshot,
    /// Faults that brought a page back from swap (`pgmajfault`).
    MajorFault,
    /// Pages read from swap (`pswpin`).
    SwapIn,
    /// Pages written to swap (`pswpout`).
    SwapOut,
    /// Pages taken out of memory with no write: clean swap-cache pages.
    SwapCacheReclaim,
    /// Zero-filled pages dropped instead of swapped.
    ZeroReclaim,
    /// Writes to or reads from swap that failed.
    SwapIoError,
    /// Frames the reclaim scans looked at.
    PgScan,
    /// Frames reclaimed with no write (zero-filled, swap cache).
    PgStealClean,
    /// Frames reclaimed by a write to swap.
    PgStealDirty,
    /// Frames aged onto or kept on the inactive list.
    PgDeactivate,
    /// Frames promoted to or kept on the active list.
    PgActivate,
    /// Direct reclaims in faulting tasks.
    AllocStall,
    /// Wakeups of the reclaim thread.
    KswapdWakeup,
    /// Faults that showed an aged frame in use.
    SoftFault,
    /// Number of events.
    Count,
}

/// vmstat names of the [`Event`]s, in order.
pub const EVENT_NAMES: [&str; Event::Count as usize] = [
    "pgfault",
    "zero_page_fault",
    "demand_zero_fault",
    "cow_fault",
    "cow_reuse_fault",
    "minor_fault",
    "oom_fault",
    "fault_around",
    "space_clone",
    "fork_snapshot",
    "pgmajfault",
    "pswpin",
    "pswpout",
    "swapcache_reclaim",
    "zero_page_reclaim",
    "swap_io_error",
    "pgscan",
    "pgsteal_clean",
    "pgsteal_dirty",
    "pgdeactivate",
    "pgactivate",
    "allocstall",
    "kswapd_wakeup",
    "pgsoftfault",
];

/// The arena.
///
/// # Invariants
///
/// `frames` has one descriptor per frame of `mem`. Every frame is in the buddy,
/// in a slab of the space cache, the zero frame, a page-table node (counted
/// in `pt_frames`), or a data frame whose map count is the number of
/// page-table entries (over all spaces) that map it and whose reference
/// count is that plus its pins.
#[pin_data(PinnedDrop)]
pub struct Arena {
    /// The frames' contents.
    pub mem: KernelFrames,
    /// The frame table (`mem_map`).
    pub frames: KVVec<Frame>,
    /// The buddy allocator (`zone->lock` and free areas).
    #[pin]
    pub buddy: SpinLock<Buddy>,
    /// Frames in use as page-table nodes (`nr_page_table_pages`).
    pt_frames: AtomicU64,
    /// Spaces (`pa_space`), objects of [`Arena::new`]'s `space_object` size.
    #[pin]
    pub space_cache: SpinLock<SlabCache>,
    /// The shared zero frame.
    pub zero: Pfn,
    /// The kernel pfn of the zero frame.
    pub zero_kpfn: usize,
    /// Pages a read fault maps at once (`fault_around_pages`; 0 or 1: off).
    pub fault_around: usize,
    /// Each CPU's free-frame list, LRU-add batch and event counters.
    pcpu: PerCpuSet<{ Event::Count as usize }>,
    /// A page-table node taken at load and never freed (`selftest_leak_node`),
    /// for the test of the leak check at unload.
    leaked_node: Option<Pfn>,
    /// The swap slots (`swap_info_struct`'s map): as many as the store has,
    /// none without one.
    #[pin]
    swap: SpinLock<SwapMap<KVVec<u64>, KVVec<u32>>>,
    /// The backing store of swap, if `swap_path` names one.
    pub swapfile: Option<SwapFile>,
    /// The replacement policy's lists of resident data frames
    /// (`lruvec->lru_lock`): a spinlock taken for list changes only, alone
    /// or under a space's mutex, with nothing taken under it.
    #[pin]
    pub lru: SpinLock<Policy>,
    /// The watermarks on free frames.
    pub wmark: Watermarks,
    /// Free frames in the buddy, as of its last change (read without its lock).
    nr_free: AtomicUsize,
    /// Whether the reclaim thread is awake (not waiting on `kswapd_wait`);
    /// always, if there is none (`selftest_no_kswapd`).
    kswapd_awake: AtomicBool,
    /// Rounds in a row in which the reclaim thread freed nothing
    /// (`kswapd_failures`); from [`MAX_RECLAIM_RETRIES`] on (at once if swap
    /// has no room), allocations stop waking it until free frames are back
    /// above the high watermark.
    pub kswapd_failures: AtomicU32,
    /// The reclaim thread's wakeup: work asked for, or stop.
    #[pin]
    pub kswapd_state: SpinLock<KswapdState>,
    /// Where the reclaim thread sleeps (`pgdat->kswapd_wait`).
    #[pin]
    pub kswapd_wait: CondVar,
    /// Whether there is a reclaim thread (none with `selftest_no_kswapd`).
    kswapd: bool,
    /// The fault trace (`PAGEARENA_IOC_TRACE`).
    #[pin]
    pub trace: FaultTrace,
    /// Frames in the swap cache.
    nr_swapcache: AtomicI64,
}

/// Rounds without progress after which the reclaim thread stops being woken
/// (`MAX_RECLAIM_RETRIES`).
pub const MAX_RECLAIM_RETRIES: u32 = 16;

/// What the reclaim thread is asked to do.
#[derive(Default)]
pub struct KswapdState {
    /// An allocation found free frames below the low watermark.
    pub pending: bool,
    /// The module is unloading: the thread returns.
    pub stop: bool,
}

/// What the arena is made with, from the module parameters.
pub struct ArenaConfig {
    /// Frames in the arena.
    pub nr_frames: usize,
    /// Red zones and poisoning in the slab caches.
    pub debug_slab: bool,
    /// Pages a read fault maps at once (0 or 1: off).
    pub fault_around: usize,
    /// Test only: fail at this block of the arena's memory.
    pub fail_at_block: Option<usize>,
    /// Test only: leak one page-table node, to be seen at unload.
    pub leak_node: bool,
    /// Size and alignment of the objects of the space cache.
    pub space_object: (usize, usize),
    /// The backing store of swap.
    pub swap: Option<SwapFile>,
    /// The replacement policy.
    pub policy: Policy,
    /// Whether there is a reclaim thread to wake.
    pub kswapd: bool,
    /// Watermarks `(min, low, high)` in frames; 0 for a default scaled to the arena.
    pub watermarks: (usize, usize, usize),
    /// Frames a CPU's free list moves to or from the buddy at a time (0:
    /// no lists); `None` for a default scaled to the arena.
    pub pcp_batch: Option<usize>,
}

/// The arena of the loaded module (set between load and unload).
static ARENA: AtomicPtr<Arena> = AtomicPtr::new(core::ptr::null_mut());

/// The arena.
///
/// Only callable from code that runs while the module is loaded and its
/// device registered: file operations, VMA callbacks, ioctls and debugfs
/// reads, which all hold a reference on the module (the device's and
/// debugfs' `fops->owner`; a VMA holds its file), and the reclaim thread,
/// which is started after the arena is published and stopped (and waited
/// for) before it is withdrawn. The arena is published before the device is
/// registered and withdrawn after it and debugfs are removed.
pub fn arena() -> &'static Arena {
    let p = ARENA.load(Ordering::Acquire);
    // SAFETY: See above: `p` was set by `publish` from a pinned `Arena` that
    // outlives every caller (callers cannot run before `publish` or after
    // `withdraw`, which happen before registering and starting, and after
    // unregistering and stopping, everything that calls in: the module's
    // fields drop the device and the thread before the arena).
    unsafe { &*p }
}

impl Arena {
    /// Takes `nr_frames` frames from the kernel and sets up the allocators.
    /// `ENOMEM`, with everything given back, if the memory is not there.
    pub fn new(cfg: ArenaConfig) -> Result<impl PinInit<Self, Error>> {
        let nr_frames = cfg.nr_frames;
        if nr_frames < 16 || nr_frames > u32::MAX as usize {
            return Err(EINVAL);
        }
        // Leave the kernel room: 1/32 of the arena for our own tables, and
        // 16 MiB. Asking for more than that is `ENOMEM` at once.
        let avail = crate::frames::available_pages();
        let need = nr_frames + nr_frames / 32 + (16 << 20) / PAGE_SIZE;
        if need > avail {
            pr_err!(
                "arena of {} MiB: only {} MiB available (MemAvailable), less 1/32 and 16 MiB\n",
                (nr_frames * PAGE_SIZE) >> 20,
                (avail * PAGE_SIZE) >> 20
            );
            return Err(ENOMEM);
        }
        // The frame table before the frames: nothing is allocated once the
        // arena has taken its memory.
        let mut frames = KVVec::with_capacity(nr_frames, GFP_KERNEL)?;
        let mem = KernelFrames::new_failing_at(nr_frames, cfg.fail_at_block)?;
        for _ in 0..nr_frames {
            if frames.push_within_capacity(Frame::new()).is_err() {
                return Err(ENOMEM);
            }
        }
        let mut buddy = Buddy::new();
        buddy.add_range(&frames, Pfn(0), nr_frames)?;
        let zero = buddy.alloc(&frames, 0)?;
        mem.clear_page(zero);
        frames[zero.idx()].set_state(FrameState::Zero);
        let zero_kpfn = mem.kernel_pfn(zero).ok_or(EINVAL)?;
        let (size, align) = cfg.space_object;
        let space_cache = SlabCache::new(
            "pa_space",
            SPACE_CACHE_ID,
            size,
            align,
            None,
            cfg.debug_slab,
        )?;
        let slots = cfg.swap.as_ref().map_or(0, SwapFile::slots);
        let mut bitmap = KVVec::with_capacity(slots.div_ceil(64), GFP_KERNEL)?;
        bitmap.resize(slots.div_ceil(64), 0, GFP_KERNEL)?;
        let mut counts = KVVec::with_capacity(slots, GFP_KERNEL)?;
        counts.resize(slots, 0, GFP_KERNEL)?;
        let swap = SwapMap::new(bitmap, counts)?;
        let managed = buddy.nr_free();
        let def = Watermarks::for_arena(managed);
        let pick = |v: usize, d: usize| if v == 0 { d } else { v };
        let (min, low, high) = cfg.watermarks;
        let wmark = Watermarks::new(
            pick(min, def.min()),
            pick(low, def.low()),
            pick(high, def.high()),
        )
        .map_err(|_| {
            pr_err!("watermarks must be min <= low <= high\n");
            EINVAL
        })?;
        if wmark.high() >= managed / 2 {
            pr_err!(
                "watermark_high={} leaves too little of the {} frames to use\n",
                wmark.high(),
                managed
            );
            return Err(EINVAL);
        }
        let leaked_node = if cfg.leak_node {
            let pfn = buddy.alloc(&frames, 0)?;
            take_node(&frames, &mem, pfn)?;
            Some(pfn)
        } else {
            None
        };
        let free0 = buddy.nr_free();
        let cpus = kernel::cpu::nr_cpu_ids() as usize;
        let want = cfg.pcp_batch.unwrap_or_else(|| batch_for(managed, cpus));
        // What the lists hide from the watermarks stays within half the gap
        // between min and high, whatever was asked and however many CPUs.
        let batch = batch_within(want, cpus, wmark.high() - wmark.min());
        if batch < want {
            pr_info!(
                "per-CPU batch {} lowered to {}: {} CPUs' lists must fit in half the watermarks' gap\n",
                want,
                batch,
                cpus
            );
        }
        // No LRU-add batch where there are no lists: a small arena.
        let pcpu = PerCpuSet::new(batch, batch.min(LRU_BATCH))?;
        Ok(try_pin_init!(Self {
            mem,
            frames,
            buddy <- new_spinlock!(buddy, "pagearena_buddy"),
            pt_frames: AtomicU64::new(u64::from(leaked_node.is_some())),
            space_cache <- new_spinlock!(space_cache, "pagearena_space_cache"),
            zero,
            zero_kpfn,
            fault_around: cfg.fault_around,
            pcpu,
            leaked_node,
            swap <- new_spinlock!(swap, "pagearena_swap"),
            swapfile: cfg.swap,
            lru <- new_spinlock!(cfg.policy, "pagearena_lru"),
            wmark,
            nr_free: AtomicUsize::new(free0),
            kswapd_awake: AtomicBool::new(!cfg.kswapd),
            kswapd_failures: AtomicU32::new(0),
            kswapd_state <- new_spinlock!(KswapdState::default(), "pagearena_kswapd"),
            kswapd_wait <- new_condvar!("pagearena_kswapd_wait"),
            kswapd: cfg.kswapd,
            trace <- FaultTrace::new(),
            nr_swapcache: AtomicI64::new(0),
        }? Error))
    }

    /// Makes `self` the module's arena ([`arena()`]).
    pub fn publish(self: Pin<&Self>) {
        ARENA.store(
            core::ptr::from_ref(self.get_ref()).cast_mut(),
            Ordering::Release,
        );
    }

    /// Withdraws the module's arena; nothing may call [`arena()`] afterwards.
    pub fn withdraw() {
        ARENA.store(core::ptr::null_mut(), Ordering::Release);
    }

    /// Counts one `event`.
    #[inline]
    pub fn count(&self, event: Event) {
        self.count_n(event, 1);
    }

    /// Counts `n` `event`s.
    #[inline]
    pub fn count_n(&self, event: Event, n: u64) {
        self.pcpu.count(event as usize, n);
    }

    /// The counters, in [`Event`] order, summed over the CPUs.
    pub fn events(&self) -> [u64; Event::Count as usize] {
        self.pcpu.events()
    }

    /// Total frames.
    pub fn nr_frames(&self) -> usize {
        self.frames.len()
    }

    /// Free frames, as of the buddy's last change (no lock).
    #[inline]
    pub fn nr_free(&self) -> usize {
        self.nr_free.load(Ordering::SeqCst)
    }

    /// A block of `order` from the buddy; wakes the reclaim thread if that
    /// leaves free frames below the low watermark.
    pub fn buddy_alloc(&self, order: u32) -> MmResult<Pfn> {
        self.with_buddy(|b| b.alloc(&self.frames, order))
    }

    /// Gives a block of `order` back to the buddy.
    pub fn buddy_free(&self, pfn: Pfn, order: u32) -> MmResult {
        self.with_buddy(|b| b.free(&self.frames, pfn, order))
    }

    /// An order-0 block (a data frame or a page-table node, the fault
    /// path's allocations): from this CPU's free list, which refills from
    /// the buddy a batch at a time (`rmqueue_pcplist`). If the buddy is
    /// empty too, the frames waiting on every CPU's lists and LRU-add
    /// batches go back first and the buddy is asked again (`drain_all_pages`
    /// before memory is called exhausted).
    pub fn alloc_page0(&self) -> MmResult<Pfn> {
        let r = self.pcpu.this_cpu().pages.lock().alloc(&self.frames, self);
        match r {
            Err(MmError::NoMemory) => {
                self.drain_all();
                self.buddy_alloc(0)
            }
            r => r,
        }
    }

    /// Frees an order-0 block from [`Arena::alloc_page0`] onto this CPU's
    /// free list (which gives a batch back to the buddy when it is long).
    pub fn free_page0(&self, pfn: Pfn) -> MmResult {
        self.pcpu
            .this_cpu()
            .pages
            .lock()
            .free(&self.frames, pfn, self)
    }

    /// Gives the frames of every CPU's free list back to the buddy
    /// (`drain_all_pages`).
    pub fn drain_pages(&self) {
        for c in self.pcpu.iter() {
            let mut p = c.pages.lock();
            if p.count() > 0 {
                let r = self.with_buddy(|b| p.drain(b, &self.frames));
                kernel::warn_on!(r.is_err());
            }
        }
    }

    /// Flushes every CPU's LRU-add batch, then gives every CPU's free
    /// frames back to the buddy: after it, every free frame is in the
    /// buddy, and every data frame still held is on the LRU. For reports
    /// that count exactly, reclaim, and memory running out.
    pub fn drain_all(&self) {
        self.lru_add_drain_all();
        self.drain_pages();
    }

    /// Free frames: the buddy's, and those on the CPUs' free lists.
    pub fn nr_free_total(&self) -> usize {
        let pcp: usize = self.pcpu.iter().map(|c| c.pages.lock().count()).sum();
        self.buddy.lock().nr_free() + pcp
    }

    /// Wakes the reclaim thread (`wakeup_kswapd`), unless it is awake or
    /// has given up (see [`Arena::kswapd_failures`]).
    pub fn wake_kswapd(&self) {
        if self.kswapd_awake.load(Ordering::SeqCst)
            || self.kswapd_failures.load(Ordering::Relaxed) >= MAX_RECLAIM_RETRIES
        {
            return;
        }
        let woke = {
            let mut st = self.kswapd_state.lock();
            !core::mem::replace(&mut st.pending, true)
        };
        if woke {
            self.count(Event::KswapdWakeup);
            self.kswapd_wait.notify_one();
        }
    }

    /// Whether the reclaim thread may still free frames: there is one, and
    /// it has not given up (woken, it may be between rounds).
    pub fn kswapd_working(&self) -> bool {
        self.kswapd && self.kswapd_failures.load(Ordering::Relaxed) < MAX_RECLAIM_RETRIES
    }

    /// Whether a dirty page could go to swap now: a store with a free slot.
    pub fn swap_has_room(&self) -> bool {
        let s = self.swap.lock();
        s.used() < s.nr_slots()
    }

    /// The reclaim thread says it is awake (`true`) or about to sleep.
    pub fn set_kswapd_awake(&self, awake: bool) {
        self.kswapd_awake.store(awake, Ordering::SeqCst);
    }

    /// Puts data frame `pfn`, which a space's entry just took, on the LRU
    /// lists (`folio_add_lru`), as just accessed: the fault that made it
    /// is an access. It waits, pinned, in this CPU's LRU-add batch until
    /// the batch is full (or drained: [`Arena::lru_add_drain_all`]), so the
    /// LRU's lock is taken once a batch. A frame freed meanwhile (its last
    /// entry gone) is freed when the batch lets go of it.
    pub fn lru_add(&self, pfn: Pfn) {
        self.frames[pfn.idx()].get();
        if let Some(b) = self.pcpu.lru_add(pfn) {
            self.lru_add_flush(&b);
        }
    }

    /// Puts the frames of LRU-add batch `b` on the lists, under one take of
    /// the LRU's lock, then drops the batch's pins
    /// (`folio_batch_move_lru`).
    fn lru_add_flush(&self, b: &PfnBatch<LRU_BATCH>) {
        if b.is_empty() {
            return;
        }
        {
            let mut lru = self.lru.lock();
            for &pfn in b.as_slice() {
                let f = &self.frames[pfn.idx()];
                // No entry maps it (its last went while it waited), and
                // none can again (a frame gets entries only from one that
                // maps it): it goes with the pins, below, and not on the LRU.
                if f.mapcount() > 0 && !f.test(pg::LRU) {
                    lru.insert(&self.frames, pfn);
                    lru.accessed(&self.frames, pfn);
                }
            }
        }
        for &pfn in b.as_slice() {
            FramePool::put_frame(self, pfn);
        }
    }

    /// Flushes every CPU's LRU-add batch (`lru_add_drain_all`): before
    /// reclaim scans, and before reports that count frames on the lists.
    pub fn lru_add_drain_all(&self) {
        for c in self.pcpu.iter() {
            let b = c.lru_add.lock().take();
            self.lru_add_flush(&b);
        }
    }

    /// Reports an access to data frame `pfn` that a fault saw: if reclaim
    /// tracks the frame and aged it since its last access, this is the soft
    /// fault that shows it used (the young bit set again). Returns whether
    /// it was. A frame still young needs no report: reclaim has not looked
    /// since (the fault that retries a swap-in, a fault after a snapshot's
    /// zap).
    pub fn lru_accessed(&self, pfn: Pfn) -> bool {
        let f = &self.frames[pfn.idx()];
        if !f.test(pg::LRU) || f.test(pg::YOUNG) {
            return false;
        }
        let mut lru = self.lru.lock();
        let seen = f.test(pg::LRU) && !f.test(pg::YOUNG);
        if seen {
            lru.accessed(&self.frames, pfn);
        }
        seen
    }

    /// Puts back on the LRU a frame reclaim isolated and kept
    /// (`folio_putback_lru`); the caller still holds its pin.
    pub fn lru_putback(&self, pfn: Pfn) {
        let mut lru = self.lru.lock();
        if !self.frames[pfn.idx()].test(pg::LRU) {
            lru.insert(&self.frames, pfn);
        }
    }

    /// Frames on the active and inactive lists.
    pub fn lru_sizes(&self) -> (usize, usize) {
        let lru = self.lru.lock();
        (lru.nr_active(), lru.nr_inactive())
    }

    /// Data frames with a swap-cache slot (`NR_SWAPCACHE`), as the core
    /// reports each change ([`FramePool::swapcache_changed`]).
    pub fn nr_swapcache(&self) -> u64 {
        self.nr_swapcache.load(Ordering::Relaxed).max(0) as u64
    }

    /// Free frames and free blocks per order.
    pub fn buddyinfo(&self) -> (usize, [usize; NR_ORDERS]) {
        let b = self.buddy.lock();
        (b.nr_free(), b.buddyinfo())
    }

    /// The slab caches' statistics.
    pub fn slabinfo(&self) -> [SlabInfo; 1] {
        [self.space_cache.lock().info()]
    }

    /// Frames in use as page-table nodes.
    pub fn nr_page_table_frames(&self) -> u64 {
        self.pt_frames.load(Ordering::Relaxed)
    }

    /// The swap slots: total, used.
    pub fn swap_stats(&self) -> SwapStats {
        self.swap.lock().stats()
    }

    /// The kernel pfn to put in a PTE for arena frame `pfn`.
    pub fn kernel_pfn(&self, pfn: Pfn) -> Option<usize> {
        self.mem.kernel_pfn(pfn)
    }
}

/// The arena's swap slots, for the core's pageout and swap-in decisions.
impl SwapSlots for Arena {
    fn alloc_slot(&self) -> MmResult<u32> {
        self.swap.lock().alloc()
    }

    fn dup_slot(&self, slot: u32) {
        let r = self.swap.lock().dup(slot);
        kernel::warn_on!(r.is_err());
    }

    fn put_slot(&self, slot: u32) {
        let (r, was_full) = {
            let mut s = self.swap.lock();
            let was_full = s.used() == s.nr_slots();
            (s.free(slot), was_full)
        };
        kernel::warn_on!(r.is_err());
        // Swap has room again: a reclaim thread that gave up for want of
        // it may be woken again.
        if was_full && r == Ok(0) {
            self.kswapd_failures.store(0, Ordering::SeqCst);
        }
    }
}

/// The arena's data frames, for the core's fault decisions.
impl FramePool for Arena {
    type Memory = KernelFrames;

    fn memory(&self) -> &KernelFrames {
        &self.mem
    }

    fn frames(&self) -> &[Frame] {
        &self.frames
    }

    fn alloc_page(&self) -> MmResult<Pfn> {
        self.alloc_page0()
    }

    fn swapcache_changed(&self, delta: i64) {
        self.nr_swapcache.fetch_add(delta, Ordering::Relaxed);
    }

    fn free_frame(&self, pfn: Pfn) {
        let f = &self.frames[pfn.idx()];
        // Off the LRU first (`__folio_put` → `lruvec_del_folio`). Reclaim
        // pins what it takes off the lists with `try_get`, which fails on
        // this frame (its last reference is gone), so the flag, read again
        // under the lock, says who unlinks it.
        if f.test(pg::LRU) {
            let mut lru = self.lru.lock();
            if f.test(pg::LRU) {
                lru.remove(&self.frames, pfn);
            }
        }
        let r = self.free_page0(pfn);
        kernel::warn_on!(r.is_err());
    }
}

/// The buddy behind its spinlock, for the CPUs' free lists.
impl BuddyLock for Arena {
    /// Calls `f` on the locked buddy; then, if it changed the free frames:
    /// stores their count for the watermarks, wakes the reclaim thread if
    /// an allocation (or a failed one) left them below low, and takes its
    /// give-up back if a free brought them back to high (a space went:
    /// worth waking it again when memory runs short).
    fn with_buddy<R>(&self, f: impl FnOnce(&mut Buddy) -> R) -> R {
        let (r, before, free) = {
            let mut b = self.buddy.lock();
            let before = b.nr_free();
            let r = f(&mut b);
            // Under the lock, so the last store is the buddy's last count.
            // SeqCst, paired with the thread's store of `kswapd_awake`
            // before it looks at `nr_free` to decide to sleep: either it
            // sees this count, or we see it asleep (below) and wake it.
            let free = b.nr_free();
            self.nr_free.store(free, Ordering::SeqCst);
            (r, before, free)
        };
        if free <= before && free < self.wmark.low() {
            self.wake_kswapd();
        } else if free > before
            && free >= self.wmark.high()
            && self.kswapd_failures.load(Ordering::SeqCst) != 0
        {
            self.kswapd_failures.store(0, Ordering::SeqCst);
        }
        r
    }
}

#[pinned_drop]
impl PinnedDrop for Arena {
    fn drop(self: Pin<&mut Self>) {
        Arena::withdraw();
        // What the CPUs hold goes back first: frames of the last spaces
        // still pinned by LRU-add batches, then the free lists.
        self.drain_all();
        let pages = &mut ArenaPages { arena: &self };
        let space_objs = {
            let mut c = self.space_cache.lock();
            let _ = c.shrink(&self.frames, pages, 0);
            c.active_objs()
        };
        let pt_frames = self.nr_page_table_frames();
        let slots = self.swap_stats().used;
        let zero = &self.frames[self.zero.idx()];
        zero.set_state(FrameState::Allocated);
        let mut buddy = self.buddy.lock();
        let freed = buddy.free(&self.frames, self.zero, 0);
        let free = buddy.nr_free();
        let total = self.frames.len();
        let check = buddy.check(&self.frames);
        drop(buddy);
        let clean =
            freed.is_ok() && free == total && pt_frames == 0 && space_objs == 0 && slots == 0;
        if clean && check.is_ok() {
            pr_info!(
                "unload: {}/{} frames free, no page-table node, space or swap slot left: nothing leaked\n",
                free,
                total
            );
        } else {
            pr_err!(
                "unload: LEAK: {}/{} frames free, {} page-table nodes and {} spaces in use, {} swap slots, buddy {:?}\n",
                free,
                total,
                pt_frames,
                space_objs,
                slots,
                check
            );
            // The one leak a test asks for (`selftest_leak_node`) is
            // reported, not warned about: the test reads the line above.
            let injected =
                self.leaked_node.is_some() && pt_frames == 1 && space_objs == 0 && slots == 0;
            kernel::warn_on!(!injected);
        }
    }
}

/// The buddy as the slab caches' page allocator: takes the buddy lock for
/// each call (so it nests inside a cache's lock), and drains the CPUs' free
/// lists before it gives up (their locks nest inside a cache's too).
pub struct ArenaPages<'a> {
    /// The arena.
    pub arena: &'a Arena,
}

impl PageAllocator for ArenaPages<'_> {
    fn alloc_pages(&mut self, order: u32) -> MmResult<Pfn> {
        match self.arena.buddy_alloc(order) {
            // Free frames may wait on the CPUs' lists (and keep their
            // buddies from merging): back to the buddy, and again. Not the
            // LRU-add batches: a flush takes the LRU's lock, never taken
            // under a slab cache's, which the caller holds.
            Err(MmError::NoMemory) => {
                self.arena.drain_pages();
                self.arena.buddy_alloc(order)
            }
            r => r,
        }
    }

    fn free_pages(&mut self, pfn: Pfn, order: u32) -> MmResult {
        self.arena.buddy_free(pfn, order)
    }
}

/// Page-table nodes: order-0 frames from this CPU's free list
/// ([`Arena::alloc_page0`]; its lock nests inside a space's mutex).
pub struct PtNodes<'a> {
    /// The arena.
    pub arena: &'a Arena,
}

impl NodeAllocator for PtNodes<'_> {
    fn frames(&self) -> &[Frame] {
        &self.arena.frames
    }

    fn alloc_node(&mut self) -> MmResult<Pfn> {
        let a = self.arena;
        let pfn = a.alloc_page0()?;
        if let Err(e) = take_node(&a.frames, &a.mem, pfn) {
            let r = a.free_page0(pfn);
            kernel::warn_on!(r.is_err());
            return Err(e);
        }
        a.pt_frames.fetch_add(1, Ordering::Relaxed);
        Ok(pfn)
    }

    fn free_node(&mut self, node: Pfn) -> MmResult {
        let a = self.arena;
        release_node(&a.frames, node)?;
        // No longer a node, whatever the free says (a `Corrupted` from a
        // drain still took this frame).
        a.pt_frames.fetch_sub(1, Ordering::Relaxed);
        a.free_page0(node)
    }
}

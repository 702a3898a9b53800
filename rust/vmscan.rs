// SPDX-License-Identifier: GPL-2.0

//! Reclaim in the kernel (`mm/vmscan.c`): the reclaim thread
//! `pagearena_kswapd`, direct reclaim in faulting tasks, the forced pageout
//! of a range (`PAGEARENA_IOC_PAGEOUT`, like `MADV_PAGEOUT`), and the
//! reverse-map walk they share.
//!
//! # Watermarks
//!
//! An allocation that leaves fewer than **low** free frames in the buddy
//! wakes the thread (a refill of a CPU's free list, or a larger
//! allocation: `Arena::with_buddy`), which reclaims until
//! **high** are free and sleeps again on its wait queue: an idle arena costs
//! no CPU. A fault that finds fewer than **min** free frames reclaims
//! directly before it takes its space's mutex, and so does a fault whose
//! allocation failed, before it retries ([`direct_reclaim`], counted as
//! `allocstall`).
//!
//! # One round of reclaim ([`shrink_lru`], `shrink_lruvec`)
//!
//! 1. Under the LRU spinlock, the policy picks victims and ages frames;
//!    each is pinned with `try_get` (a frame whose last reference just
//!    went is on its way to the buddy: left alone), and the lock dropped.
//! 2. Aged frames have their user PTEs zapped in every space that maps them
//!    (the emulated young bit: their next access is a soft fault, which marks
//!    them referenced).
//! 3. Each victim is taken out of every space that maps it
//!    ([`crate::mm::vmscan`]): entries write-protected, the frame written to
//!    swap with no lock held, entries replaced by the slot. A victim kept
//!    (shared meanwhile, no slot, a failed write) goes back on the LRU.
//!
//! # Lock order
//!
//! Reclaim takes the LRU spinlock alone (nothing is taken under it but
//! atomics); then, with it dropped, the registry mutex alone (a lookup),
//! and one space's mutex at a time (never under the LRU lock or
//! `i_mmap_rwsem`, and never two), under which it takes what a fault
//! does (`i_mmap_rwsem` for zaps, the swap spinlock, a CPU's free-list
//! and LRU-add-batch spinlocks and the buddy's); then no lock for the I/O.
//! Direct reclaim runs under the faulting task's mmap (or VMA) read lock
//! and nothing else: a fault drops its space's mutex before reclaiming.
//!
//! # The reverse map ([`SpaceRmap`])
//!
//! A data frame records its space (`owner`, the mm id) and page (`index`).
//! A frame shared by clones or fork children is at the same page in each,
//! so the walk visits the space the caller names, then the owner, then, if
//! the frame is still mapped, every live space, each looked up in the
//! registry with a reference taken unless its count is 0 (a space being
//! freed is skipped: it maps nothing any more, or soon).

use crate::{
    arena::{arena, Arena, Event, PtNodes, SpaceWord, MAX_RECLAIM_RETRIES},
    mm::{
        error::Error as MmError,
        fault::{get_frame, put_frame},
        frame::pg,
        memory::Pfn,
        pagetable::PteKind,
        reclaim::ReclaimPolicy,
        vmscan::{shrink_begin, shrink_end, Plan, Rmap, ShrinkEnd, Visit},
    },
    space::{self, Space},
    uapi::PagearenaPageoutArgs,
};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

extern "C" {
    fn pagearena_cond_resched();
    fn pagearena_fatal_signal_pending() -> bool;
}

/// Gives the CPU to other tasks if one should run (`cond_resched`). The
/// callers (reclaim's loops) hold no spinlock, only mutexes at most.
fn cond_resched() {
    // SAFETY: `cond_resched` has no precondition that memory safety rests
    // on: it may sleep, which the callers allow (process context, no
    // spinlock or RCU read lock held; `might_sleep` reports it otherwise).
    unsafe { pagearena_cond_resched() };
}

/// Victims taken off the LRU per round (`SWAP_CLUSTER_MAX`).
pub const SWAP_CLUSTER_MAX: usize = 32;
/// Frames a round may look at (victims and aged frames together).
const SCAN_BATCH: usize = 64;
/// Frames direct reclaim looks at without freeing one before it gives up.
const DIRECT_SCAN_IDLE: usize = 4 * SCAN_BATCH;

/// The reverse map of one frame: `hint` first, then the frame's owner,
/// then every live space, until the frame's map count is 0.
struct SpaceRmap<'a> {
    hint: Option<&'a Space>,
}

/// Visits space `s` under its mutex; returns whether its entry still maps
/// the frame.
fn visit_space(s: &Space, idx: u64, visit: &mut Visit<'_, PtNodes<'static>>) -> bool {
    let a = arena();
    let mut inner = s.inner.lock();
    // A space with no VMA has no PTE to zap, and its window's mapping may
    // be gone (the registry handed us a space whose last file and VMA
    // went, and the device inode with them). With a VMA counted under
    // this mutex, that VMA's file pins the inode until we unlock (a VMA is
    // uncounted under this mutex too).
    let live = s.get(SpaceWord::Vmas) > 0;
    let maps = visit(&mut inner.mm, &mut PtNodes { arena: a }, &|| {
        if live {
            s.window.zap(idx, 1)
        }
    });
    s.sync_counters(&inner.mm);
    maps
}

impl Rmap for SpaceRmap<'_> {
    type Nodes = PtNodes<'static>;

    fn walk(&mut self, pfn: Pfn, idx: u64, visit: &mut Visit<'_, PtNodes<'static>>) {
        let a = arena();
        let f = &a.frames[pfn.idx()];
        let mut seen = [None, None];
        // Spaces visited whose entry still maps the frame: once they are
        // all its maps, no other space needs a visit (one made by a
        // snapshot meanwhile has a read-only copy of a visited entry).
        let mut still = 0;
        let done = |still: u32| still >= f.mapcount();
        if let Some(h) = self.hint {
            still += u32::from(visit_space(h, idx, visit));
            seen[0] = Some(h.id);
        }
        if done(still) {
            return;
        }
        let owner = f.owner();
        if seen[0].map(|id| id as u32) != Some(owner) {
            if let Some(o) = space::lookup(owner) {
                still += u32::from(visit_space(&o, idx, visit));
                seen[1] = Some(o.id);
            }
        }
        if done(still) {
            return;
        }
        // Shared (or its owner is gone): everyone. Without memory for the
        // list the rest keep the frame, which is partial, not wrong.
        let Ok(all) = space::all_spaces() else {
            return;
        };
        for s in all.iter() {
            if seen.contains(&Some(s.id)) {
                continue;
            }
            still += u32::from(visit_space(s, idx, visit));
            if done(still) {
                break;
            }
        }
        // The references go here, with no lock held: a last one frees its
        // space, which takes the registry's and its own mutex.
        drop(all);
    }
}

/// What reclaiming one frame did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Dropped: it held only zeros.
    Zero,
    /// Dropped: a clean swap-cache copy of its slot.
    Clean,
    /// Written to swap and dropped.
    Written,
    /// Written to swap, but a space took it meanwhile: it stays, in the
    /// swap cache.
    Partial,
    /// Left resident: shared meanwhile, in flux, nothing maps it, or no slot.
    Kept(MmError),
    /// The write failed: resident and mapped as before.
    WriteFailed,
}

/// Takes data frame `pfn`, pinned by the caller, out of every space that
/// maps it, walking `hint` first; `may_write`: it may be written to swap.
fn reclaim_frame(a: &Arena, pfn: Pfn, hint: Option<&Space>, may_write: bool) -> Outcome {
    let mut rmap = SpaceRmap { hint };
    let plan = match shrink_begin(a, &mut rmap, pfn, may_write) {
        Ok(p) => p,
        Err(e) => return Outcome::Kept(e),
    };
    let written = match plan {
        Plan::Write(slot) => {
            // Slots come only from a store: there is one.
            let ok = a
                .swapfile
                .as_ref()
                .is_some_and(|s| s.write(&a.mem, pfn, slot).is_ok());
            if ok {
                a.count(Event::SwapOut);
            } else {
                a.count(Event::SwapIoError);
            }
            ok
        }
        _ => true,
    };
    match (shrink_end(a, &mut rmap, pfn, plan, written), plan) {
        (ShrinkEnd::WriteFailed, _) => Outcome::WriteFailed,
        (ShrinkEnd::Done { left: 0, .. }, Plan::Zero) => {
            a.count(Event::ZeroReclaim);
            a.count(Event::PgStealClean);
            Outcome::Zero
        }
        (ShrinkEnd::Done { left: 0, .. }, Plan::Clean(_)) => {
            a.count(Event::SwapCacheReclaim);
            a.count(Event::PgStealClean);
            Outcome::Clean
        }
        (ShrinkEnd::Done { left: 0, .. }, Plan::Write(_)) => {
            a.count(Event::PgStealDirty);
            Outcome::Written
        }
        (ShrinkEnd::Done { .. }, Plan::Write(_)) => Outcome::Partial,
        (ShrinkEnd::Done { .. }, _) => Outcome::Kept(MmError::Busy),
    }
}

/// Zaps the user PTEs of aged frame `pfn` (pinned) in every space that
/// maps it: its next access is a soft fault.
fn age_frame(pfn: Pfn) {
    let a = arena();
    let idx = a.frames[pfn.idx()].index();
    SpaceRmap { hint: None }.walk(pfn, idx, &mut |mm, _, zap| {
        let maps = mm.pt.lookup(&a.mem, idx).kind() == PteKind::Frame(pfn);
        if maps {
            zap();
        }
        maps
    });
}

/// What one round of reclaim did.
struct Round {
    /// Frames freed.
    freed: usize,
    /// Frames looked at.
    scanned: usize,
    /// A write to swap failed.
    io_error: bool,
}

/// One round of reclaim: up to [`SWAP_CLUSTER_MAX`] victims from the
/// policy's lists, frames aged on the way; `may_write` as for
/// [`reclaim_frame`].
fn shrink_lru(a: &Arena, may_write: bool) -> Round {
    let mut victims = [Pfn(0); SWAP_CLUSTER_MAX];
    let mut aged = [Pfn(0); SCAN_BATCH];
    let mut nr_aged = 0;
    let nr_victims = {
        let frames = &a.frames;
        let mut lru = a.lru.lock();
        let n = lru.scan(frames, SCAN_BATCH, &mut victims, &mut |pfn| {
            if nr_aged < aged.len() && frames[pfn.idx()].try_get() {
                aged[nr_aged] = pfn;
                nr_aged += 1;
            }
        });
        // Pinned while still under the lock: a frame whose count is 0 is
        // being freed, and its free path finds it off the lists.
        let mut kept = 0;
        for i in 0..n {
            if frames[victims[i].idx()].try_get() {
                victims[kept] = victims[i];
                kept += 1;
            }
        }
        kept
    };
    let scanned = nr_victims + nr_aged;
    a.count_n(Event::PgScan, scanned as u64);
    for &pfn in &aged[..nr_aged] {
        if a.frames[pfn.idx()].test(pg::ACTIVE) {
            a.count(Event::PgActivate);
        } else {
            a.count(Event::PgDeactivate);
        }
        age_frame(pfn);
        put_frame(a, pfn);
    }
    let (mut freed, mut io_error) = (0, false);
    for &pfn in &victims[..nr_victims] {
        match reclaim_frame(a, pfn, None, may_write && !io_error) {
            Outcome::Zero | Outcome::Clean | Outcome::Written => freed += 1,
            o @ (Outcome::Partial | Outcome::Kept(_) | Outcome::WriteFailed) => {
                io_error |= o == Outcome::WriteFailed;
                if a.frames[pfn.idx()].mapcount() > 0 {
                    a.lru_putback(pfn);
                }
            }
        }
        // The pin; the last reference of a frame reclaimed.
        put_frame(a, pfn);
    }
    Round {
        freed,
        scanned,
        io_error,
    }
}

/// Reclaims until `done` says so, or `max_idle` frames were looked at with
/// nothing freed (`None`: the whole lists, twice: aged, then found
/// unreclaimable), `max_idle` times 2 were looked at in all (with a
/// `max_idle`), a write to swap failed, or the task is being killed.
/// Returns frames freed and frames looked at.
fn reclaim_until(
    a: &Arena,
    max_idle: Option<usize>,
    may_write: bool,
    mut done: impl FnMut(&Arena, usize) -> bool,
) -> (usize, usize) {
    // Frames waiting in the CPUs' LRU-add batches onto the lists first,
    // where the scan sees them (`lru_add_drain` before `shrink_*_list`).
    // The free lists stay: what they hide is bounded (`batch_within`), and
    // an allocation drains them before it gives up.
    a.lru_add_drain_all();
    let (mut freed, mut looked) = (0, 0);
    let mut idle = 0;
    while !done(a, freed) && max_idle.is_none_or(|m| looked <= 2 * m) {
        let Round {
            freed: n,
            scanned,
            io_error,
        } = shrink_lru(a, may_write);
        freed += n;
        looked += scanned;
        if io_error || fatal_signal_pending() {
            break;
        }
        if n == 0 {
            idle += scanned;
            let limit = max_idle.unwrap_or_else(|| {
                let (act, inact) = a.lru_sizes();
                2 * (act + inact) + SCAN_BATCH
            });
            if scanned == 0 || idle > limit {
                break;
            }
        } else {
            idle = 0;
        }
        cond_resched();
    }
    (freed, looked)
}

/// Direct reclaim in a faulting task (`__alloc_pages_direct_reclaim`): the
/// task holds no lock of ours. Reclaims a batch, or until min is met.
/// Returns whether trying again may help: it freed frames, or it aged
/// frames with swap room left, so the next try finds victims (the first
/// time memory runs out, every frame needs two looks).
pub fn direct_reclaim(a: &Arena) -> bool {
    a.count(Event::AllocStall);
    a.wake_kswapd();
    // Bounded, like one priority of `shrink_node`: a quarter of the lists
    // with swap room (the fault retries, so its tries cover them about
    // twice), 256 frames without (only zero-filled frames can go: a fault
    // on a full arena of dirty pages fails fast). A regular-file store is
    // not written from here: `kernel_write` takes the file system's locks,
    // which the faulting task may hold (a `write()` from arena memory to a
    // file); dirty pages are then the reclaim thread's.
    let bound = if a.swap_has_room() {
        let (act, inact) = a.lru_sizes();
        DIRECT_SCAN_IDLE.max((act + inact) / 4)
    } else {
        DIRECT_SCAN_IDLE
    };
    let may_write = a.swapfile.as_ref().is_some_and(|s| s.is_block());
    let (freed, looked) = reclaim_until(a, Some(bound), may_write, |a, freed| {
        freed >= SWAP_CLUSTER_MAX || (freed > 0 && a.wmark.direct_reclaim_done(a.nr_free()))
    });
    if freed > 0 {
        a.kswapd_failures.store(0, Ordering::SeqCst);
    }
    freed > 0 || (looked > 0 && may_write && a.swap_has_room())
}

/// Whether the current task is being killed.
pub fn fatal_signal_pending() -> bool {
    // SAFETY: A plain check of the current task.
    unsafe { pagearena_fatal_signal_pending() }
}

/// Whether the module is unloading (the reclaim thread returns).
fn kswapd_stopping(a: &Arena) -> bool {
    a.kswapd_state.lock().stop
}

/// One turn of `pagearena_kswapd` (called over and over by its
/// [`crate::kthread::KThread`]): sleep until woken, then reclaim until the
/// high watermark, or until a round frees nothing.
pub fn kswapd() {
    let a = arena();
    {
        let mut st = a.kswapd_state.lock();
        // Asleep from here on, for `wake_kswapd`; then one more look at the
        // free frames, which an allocation changed before it looked at us.
        a.set_kswapd_awake(false);
        if a.nr_free() < a.wmark.low()
            && a.kswapd_failures.load(Ordering::Relaxed) < MAX_RECLAIM_RETRIES
        {
            st.pending = true;
        }
        while !st.pending && !st.stop {
            // A kthread takes no signals: a `true` (signal pending) cannot
            // come, and would only make the loop look again.
            let _ = a.kswapd_wait.wait_interruptible(&mut st);
        }
        if st.stop {
            return;
        }
        st.pending = false;
        a.set_kswapd_awake(true);
    }
    let (freed, looked) = reclaim_until(a, None, true, |a, _| {
        !a.wmark.reclaimer_should_run(a.nr_free()) || kswapd_stopping(a)
    });
    // What reclaim freed went to this CPU's free list: to the buddy, for
    // the watermarks to see, before deciding whether memory is short.
    a.drain_pages();
    let short = a.wmark.reclaimer_should_run(a.nr_free());
    if looked == 0 && !short {
        // Nothing to do after all (frames came back before it ran).
    } else if freed == 0 && short && !a.swap_has_room() {
        // Nothing more will come without a free or a slot (`balance_pgdat`
        // gives up the same way, after its retries). SeqCst, paired with
        // the store of the free frames and the load of this count in
        // `buddy_free`: either it sees the give-up and takes it back, or we
        // see the frames it gave back, and take it back here.
        a.kswapd_failures
            .store(MAX_RECLAIM_RETRIES, Ordering::SeqCst);
        if !a.wmark.reclaimer_should_run(a.nr_free()) {
            a.kswapd_failures.store(0, Ordering::SeqCst);
        }
    } else if freed == 0 {
        // Including an empty LRU, which may be empty only for now
        // (direct reclaimers hold its victims): a failure, not a give-up.
        a.kswapd_failures.fetch_add(1, Ordering::SeqCst);
    } else {
        a.kswapd_failures.store(0, Ordering::SeqCst);
    }
    cond_resched();
}

/// Asks `pagearena_kswapd` to return for good (before its thread is
/// stopped: `kthread_stop`'s own wakeup could come between the thread's
/// look at its state and its sleep, and be lost).
pub fn kswapd_stop(a: &Arena) {
    a.kswapd_state.lock().stop = true;
    a.kswapd_wait.notify_all();
}

/// Takes pages `start..start + count` of `space` out of memory
/// (`MADV_PAGEOUT`: only frames this space maps alone; shared ones count
/// as busy); fills the counts of `out`. `ENOMEM` if swap is full (or
/// absent) and nothing could go, `EIO` if a write failed, `EINTR` if the
/// task is killed meanwhile.
pub fn pageout_range(
    space: &Space,
    start: u64,
    count: u64,
    out: &mut PagearenaPageoutArgs,
) -> Result {
    let a = arena();
    // As `MADV_PAGEOUT` does (`lru_add_drain`): frames waiting in LRU-add
    // batches are pinned by them, and would outlive their pageout there.
    a.lru_add_drain_all();
    let mut full = false;
    for idx in start..start + count {
        if fatal_signal_pending() {
            return Err(EINTR);
        }
        let pfn = {
            let inner = space.inner.lock();
            let PteKind::Frame(pfn) = inner.mm.pt.lookup(&a.mem, idx).kind() else {
                continue;
            };
            if a.frames[pfn.idx()].mapcount() != 1 {
                out.busy += 1;
                continue;
            }
            // Pinned under the mutex, while the entry holds the frame.
            get_frame(a, pfn);
            pfn
        };
        // In process context, from an ioctl: the store may be written.
        let r = reclaim_frame(a, pfn, Some(space), true);
        put_frame(a, pfn);
        match r {
            Outcome::Zero => out.zero += 1,
            Outcome::Clean => out.clean += 1,
            Outcome::Written => out.swapped += 1,
            Outcome::Partial | Outcome::Kept(MmError::Busy) => out.busy += 1,
            Outcome::Kept(MmError::NoMemory) => full = true,
            Outcome::Kept(_) => {}
            Outcome::WriteFailed => return Err(EIO),
        }
        cond_resched();
    }
    if full && out.swapped + out.clean + out.zero == 0 {
        return Err(ENOMEM);
    }
    Ok(())
}

// SPDX-License-Identifier: GPL-2.0

//! The arena's counters in one snapshot (`/proc/vmstat`'s numbers): what
//! the stats ioctl returns and debugfs `vmstat` prints.

use crate::{
    arena::{arena, Event},
    space, uapi,
};

/// The arena's counters. The CPUs' LRU-add batches are flushed first, so
/// that the LRU's lists and the frames of closed spaces (freed when their
/// batch lets go) are counted exactly; free frames are the buddy's and
/// those on the CPUs' free lists, which are counted, not drained (a
/// report costs a lock round per CPU, and leaves the lists warm).
pub fn stats() -> uapi::PagearenaStats {
    let a = arena();
    a.lru_add_drain_all();
    let nr_free = a.nr_free_total();
    let slabs = a.slabinfo();
    let ev = a.events();
    let nr_spaces = space::nr_spaces();
    let swap = a.swap_stats();
    let (nr_active, nr_inactive) = a.lru_sizes();
    uapi::PagearenaStats {
        version: uapi::PAGEARENA_UAPI_VERSION,
        reserved: 0,
        nr_frames: a.nr_frames() as u64,
        nr_free: nr_free as u64,
        nr_spaces,
        nr_pt_nodes: a.nr_page_table_frames(),
        nr_slab_frames: slabs
            .iter()
            .map(|s| (s.num_slabs * s.pagesperslab as usize) as u64)
            .sum(),
        pgfault: ev[Event::PgFault as usize],
        zero_page_fault: ev[Event::ZeroFault as usize],
        demand_zero_fault: ev[Event::DemandZeroFault as usize],
        cow_fault: ev[Event::CowFault as usize],
        cow_reuse_fault: ev[Event::CowReuseFault as usize],
        minor_fault: ev[Event::MinorFault as usize],
        oom_fault: ev[Event::OomFault as usize],
        fault_around: ev[Event::FaultAround as usize],
        space_clone: ev[Event::Clone as usize],
        fork_snapshot: ev[Event::ForkSnapshot as usize],
        pgmajfault: ev[Event::MajorFault as usize],
        pswpin: ev[Event::SwapIn as usize],
        pswpout: ev[Event::SwapOut as usize],
        swapcache_reclaim: ev[Event::SwapCacheReclaim as usize],
        zero_page_reclaim: ev[Event::ZeroReclaim as usize],
        swap_io_error: ev[Event::SwapIoError as usize],
        nr_swap_slots: swap.nr_slots as u64,
        nr_swap_used: swap.used as u64,
        pgscan: ev[Event::PgScan as usize],
        pgsteal_clean: ev[Event::PgStealClean as usize],
        pgsteal_dirty: ev[Event::PgStealDirty as usize],
        pgdeactivate: ev[Event::PgDeactivate as usize],
        pgactivate: ev[Event::PgActivate as usize],
        allocstall: ev[Event::AllocStall as usize],
        kswapd_wakeup: ev[Event::KswapdWakeup as usize],
        pgsoftfault: ev[Event::SoftFault as usize],
        nr_active: nr_active as u64,
        nr_inactive: nr_inactive as u64,
        watermark_min: a.wmark.min() as u64,
        watermark_low: a.wmark.low() as u64,
        watermark_high: a.wmark.high() as u64,
        nr_swapcache: a.nr_swapcache(),
    }
}

// SPDX-License-Identifier: GPL-2.0

//! pagearena: a miniature Linux memory manager over a private pool of frames,
//! reached through the misc device `/dev/pagearena`.
//!
//! This file is the crate root of the kernel module: parameters, load and
//! unload, and the three whole-module rules below.
//!
//! # Layers
//!
//! Each layer uses only those below it (no import goes up or sideways into
//! a circle):
//!
//! 1. leaves: [`uapi`] (shared verbatim with `tools/`), [`mm`] (the
//!    kernel-independent core, `rust/mm/src/`, the files `cargo test` runs on
//!    the host), [`errno`], [`frames`] (the arena's pages from
//!    `alloc_pages`), [`rmap`] (a space's window of page offsets and its
//!    zaps), [`vm_ops`] (a safe abstraction of `vm_operations_struct`),
//!    [`swapfile`] (the backing store of swap), [`kthread`] (a kernel
//!    thread), [`pseudo_fs`] (space files: regular files of the module's
//!    own pseudo file system, and their operations), [`fault_trace`]
//!    (the ring of fault events), [`task_mm`]
//!    (another process's mm by pid), [`percpu`] (each CPU's free-frame
//!    list, LRU-add batch and event counters), [`selftest`];
//! 2. the arena: [`arena`] (frames, buddy, slab caches, page-table nodes,
//!    the zero frame, event counters, the LRU lists, watermarks and the
//!    reclaim thread's wait queue) and [`slab_arc`] (reference-counted
//!    objects in its slab caches);
//! 3. spaces: [`space`] (page tables, windows, the registry, snapshots for
//!    clone and fork) and [`vmstat`] (the counters in one snapshot);
//! 4. reclaim: [`vmscan`] (the reclaim thread `pagearena_kswapd`, direct
//!    reclaim, forced pageout, the reverse-map walk);
//! 5. fault handling: [`fault_handler`] (faults, swap-in, soft faults and
//!    `vm_ops->access`; it reclaims directly when frames run short);
//! 6. the device: [`file`] (space files the module makes; the clone and
//!    new-space ioctls),
//!    [`ioctl`], [`device`] (the misc device, mmap, the VMA callbacks),
//!    [`debugfs`].
//!
//! # Lock order
//!
//! Outermost first: the fault trace's reader mutex (a trace read holds it
//! across copies to user memory, which may fault) → the mmap lock (or the
//! per-VMA lock, for faults) → a
//! space's mutex → `i_mmap_rwsem` (taken by a zap, [`rmap::Window::zap`]),
//! or the space cache's spinlock → a CPU's free-list spinlock
//! ([`percpu`]; the cache drains the lists before `ENOMEM`) → the buddy
//! spinlock (the cache's slabs, a list's refill or drain); the reclaim
//! thread's state spinlock is taken under a free-list or the cache's lock,
//! after the buddy's is dropped (an allocation below the low watermark
//! wakes the thread); the swap
//! map's spinlock, the LRU spinlock and a CPU's LRU-add batch spinlock are
//! leaves taken under a space's mutex (faults, snapshots, destroys) or
//! alone, the LRU lock never with the buddy's or a free list's (a freed
//! frame leaves the lists before it goes to a free list; a flushed batch
//! drops its pins after the LRU lock); the fault trace's ring spinlock is a
//! leaf (a fault takes it at its entry, while the trace is on). Free lists
//! and batches of different CPUs are never locked at once. Swap I/O runs with no
//! lock of ours held: under the mmap or VMA read lock for a fault's
//! swap-in, under nothing for reclaim. The space registry mutex is a leaf:
//! nothing is taken under it, and it is never taken with a space's mutex
//! held. Two spaces' mutexes are never held at once (a fork child's and its
//! parent's are taken one after the other; reclaim's reverse-map walk takes
//! one space's, then the next). Reclaim takes a space's mutex with no other
//! lock of ours held (never under the LRU lock or `i_mmap_rwsem`): a fault
//! drops its space's mutex before it reclaims directly. A demand-zero,
//! COW, minor or zero-page fault takes no global lock but the trace's ring
//! lock (only while a trace is on, for one push): it allocates from its
//! CPU's free list (the buddy's lock once a batch), adds to its CPU's
//! LRU-add batch (the LRU's lock once a batch) and counts events on its
//! CPU. A soft fault takes the LRU lock to mark the frame used, a swap-in
//! the swap map's; memory running out (every list drained) and reclaim
//! take the global locks for longer.
//!
//! # Frame lifetime protocol
//!
//! Arena frames are mapped into user space as `VM_PFNMAP` PTEs, which the
//! kernel does not reference-count: the module alone decides when a frame
//! may be freed and reused, and must never do so while a PTE maps it. The
//! rules, relied on by every safety comment that makes or frees such a PTE:
//!
//! 1. **PTEs come from three places only.** (a) The fault handler, for a
//!    frame that the page's entry maps (or the zero frame) while it holds
//!    the space's mutex, into a VMA of that space at that page's offset in
//!    the space's window: made under the mutex (read faults), or just after
//!    dropping it, under an insert registered while holding it that every
//!    zap of the space's PTEs waits out first (write faults:
//!    [`rmap::Window::begin_insert`]; zaps are made under the mutex). (b) `fork()` copying a VMA's PTEs (`copy_page_range`) into the
//!    child's VMA, which the kernel does only for a VMA without
//!    `VM_WIPEONFORK`. (c) `mremap` moving PTEs to a new VMA
//!    (`move_page_tables`), of the same space at the same offsets. Splits
//!    (`munmap`, `mprotect`) keep PTEs where they are. `mprotect` may make a
//!    PTE writable without a fault only if it is dirty, so it was writable
//!    before, and its entry still has `WRITE` (rule 4 zaps first otherwise).
//!    `pfn_mkwrite` never returns 0 (which would have the kernel upgrade the
//!    PTE after our mutex is dropped): it replaces the PTE itself. No other
//!    path maps the frames: `get_user_pages` refuses `VM_PFNMAP` and
//!    GUP-fast refuses special PTEs; `userfaultfd` refuses these VMAs;
//!    `vm_ops->access` copies through the direct map under the space's mutex
//!    and makes no PTE. (KVM maps pfns of `VM_PFNMAP` VMAs into guests under
//!    MMU notifiers, which our zaps fire; with `kvm.allow_unsafe_mappings` it
//!    may keep them past a zap, as for any `VM_PFNMAP` memory.)
//! 2. **Every VMA with PTEs maps the space whose frames they are.** A VMA
//!    holds a reference on its space (`vm_private_data`). The kernel copies
//!    a VMA's data pointer when it duplicates it, and `open` replaces it:
//!    with the same space for a split, a move or a fork in shared mode (the
//!    copied PTEs map that space's frames), and with a snapshot for a fork
//!    in fork-COW mode, for which `open` also sets `VM_WIPEONFORK` on the
//!    child's VMA, so nothing is copied even if `madvise(MADV_KEEPONFORK)`
//!    cleared it on the parent's. A VMA left without data (a snapshot that
//!    found no memory) has `VM_WIPEONFORK` too and faults nothing in: it
//!    never has PTEs, and `SIGBUS` is all it gives.
//! 3. **A space's pages are at fixed offsets.** Every VMA of a space has
//!    `vm_pgoff` in the space's window; a fork-COW child's VMAs keep the
//!    parent's (so the two share a window); `mremap` keeps offsets. So
//!    [`rmap::Window::zap`] over a page's offset reaches every PTE made from
//!    this space's entry for that page, in every process, whoever made it
//!    (a clone's PTEs to a shared frame are its own entry's, in its own
//!    window, and its own rule 4 covers them). And a space's PTEs are only
//!    in the VMAs its VMA count (`SpaceWord::Vmas`, changed under its
//!    mutex) counts: a VMA is counted before it can have a PTE (by
//!    `f_ops->mmap`, before the VMA is in its mm's tree; by `open`, before
//!    `fork` copies or `mremap` moves PTEs into it) and uncounted by
//!    `close`, after its PTEs are gone. So a write fault that finds the
//!    count at 1 under the mutex zaps the faulting VMA's PTE alone.
//! 4. **Zap, then drop.** An entry that stops mapping a frame (COW, destroy,
//!    reclaim) has the page's user PTEs zapped everywhere before its
//!    map count and reference on the frame go (the core calls `zap` first:
//!    `rust/mm/src/fault.rs`; the zap waits out the inserts of rule 1a in
//!    flight, so it removes their PTEs too); a space is destroyed only when no VMA refers
//!    to it, so none of its PTEs is left. A frame is freed when its last
//!    reference goes (pins included), so after the last zap.
//!
//! The host model of the core (`rust/mm/src/fuzz_fault.rs`) keeps user
//! PTEs per process and checks rule 4 at every dropped reference.

use kernel::ffi::c_char;
use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

pub mod arena;
pub mod debugfs;
pub mod device;
pub mod errno;
pub mod fault_handler;
pub mod fault_trace;
pub mod file;
pub mod frames;
pub mod ioctl;
pub mod kthread;
pub mod mm;
pub mod percpu;
pub mod pseudo_fs;
pub mod rmap;
pub mod selftest;
pub mod slab_arc;
pub mod space;
pub mod swapfile;
pub mod task_mm;
pub mod uapi;
pub mod vm_ops;
pub mod vmscan;
pub mod vmstat;

module! {
    type: Pagearena,
    name: "pagearena",
    authors: ["pagearena developers"],
    description: "A miniature memory manager over a private arena of page frames",
    license: "GPL",
    params: {
        arena_mb: u32 {
            default: 64,
            description: "Size of the arena in MiB (1..=65536)",
        },
        selftest_warn: bool {
            default: false,
            description: "Test only: WARN once at load, to prove the test runner catches splats",
        },
        selftest_core: bool {
            default: false,
            description: "Run the mm core's self-test over real pages at load; fail the load if it fails",
        },
        fault_around_pages: u32 {
            default: 16,
            description: "Pages a read fault maps at once, a power of two up to 512 (0 or 1: off)",
        },
        selftest_fail_at_block: u32 {
            default: 0,
            description: "Test only: fail the load with ENOMEM at this block of the arena (1-based; 0: off)",
        },
        slab_debug: bool {
            default: false,
            description: "Red zones and poisoning in the arena's slab caches (like slub_debug=FZP)",
        },
        selftest_leak_node: bool {
            default: false,
            description: "Test only: leak one page-table node, for the leak check at unload to report",
        },
        selftest_swap_fail: u32 {
            default: 0,
            description: "Test only: swap I/O that fails with EIO (1: reads, 2: writes, 3: both)",
        },
        watermark_min: u32 {
            default: 0,
            description: "Free frames below which a fault reclaims directly (0: 1/64 of the arena, at least 4)",
        },
        watermark_low: u32 {
            default: 0,
            description: "Free frames below which pagearena_kswapd is woken (0: 1/32 of the arena, at least 2 x min)",
        },
        watermark_high: u32 {
            default: 0,
            description: "Free frames pagearena_kswapd reclaims up to (0: 3/64 of the arena, at least 3 x min)",
        },
        selftest_no_kswapd: bool {
            default: false,
            description: "Test only: start no reclaim thread, so that faults reclaim directly, alone",
        },
        pcp_batch: i32 {
            default: -1,
            description: "Frames a CPU's free list takes from or gives back to the buddy at a time, up to 31 (0: no per-CPU lists or LRU-add batches; -1: a 512th of each CPU's share of the arena); lowered so that all lists hold at most half of watermark_high - watermark_min",
        },
        selftest_swap_delay_ms: u32 {
            default: 0,
            description: "Test only: milliseconds each swap read waits before it starts (up to 10000)",
        },
    },
}

extern "C" {
    fn pagearena_reclaim_policy() -> *const c_char;
}

/// The policy `reclaim_policy=` names (`lru` if unset); `EINVAL` otherwise.
fn reclaim_policy() -> Result<mm::policy::Policy> {
    // SAFETY: The parameter is set before init and only read after.
    let p = unsafe { pagearena_reclaim_policy() };
    let name: &[u8] = if p.is_null() {
        b"lru"
    } else {
        // SAFETY: A charp parameter is a NUL-terminated string that lives
        // as long as the module (0444: no one replaces it while loaded).
        unsafe { kernel::str::CStr::from_char_ptr(p) }.to_bytes()
    };
    let name = if name.is_empty() { b"lru" } else { name };
    mm::policy::Policy::by_name(name).ok_or_else(|| {
        pr_err!(
            "reclaim_policy={:?}: not a policy (lru or clock)\n",
            kernel::str::BStr::from_bytes(name)
        );
        EINVAL
    })
}

/// Largest accepted `arena_mb`: 64 GiB.
const ARENA_MB_MAX: u32 = 65536;

/// Fixed parameters of the arena, checked once at load.
///
/// # Invariants
///
/// `frames` is `arena_mb` MiB worth of pages, with `1 <= arena_mb <= ARENA_MB_MAX`.
#[derive(Clone, Copy)]
pub struct ArenaParams {
    /// Number of page frames in the arena.
    pub frames: u64,
}

impl ArenaParams {
    /// Reads and validates the module parameters (`EINVAL` if out of range).
    pub fn from_module_params() -> Result<Self> {
        let mb = module_parameters::arena_mb.value();
        if mb == 0 || mb > ARENA_MB_MAX {
            pr_err!("arena_mb={} is out of range 1..={}\n", mb, ARENA_MB_MAX);
            return Err(EINVAL);
        }
        Ok(Self {
            frames: u64::from(mb) * (1 << 20) / kernel::page::PAGE_SIZE as u64,
        })
    }
}

/// The reclaim thread, told to stop before it is stopped (see
/// [`vmscan::kswapd_stop`]).
struct Kswapd {
    /// Stopped (`kthread_stop`) when dropped, after `Kswapd::drop`; none
    /// with `selftest_no_kswapd`.
    _thread: Option<kthread::KThread>,
}

impl Drop for Kswapd {
    fn drop(&mut self) {
        vmscan::kswapd_stop(arena::arena());
        // Then the `KThread` field drops: `kthread_stop` waits for it.
    }
}

/// The module: the device, the reclaim thread, debugfs, and the arena they
/// use.
///
/// Fields drop in order: the device goes first (no new opens; none are open,
/// or the module could not be unloading), then the space files' pseudo
/// file system (no space file is left either: each holds a reference on
/// the module), then the reclaim thread (stopped
/// and waited for: it holds no space past its round), then debugfs (waiting
/// out readers), then the arena, which checks that every frame came back.
#[pin_data(PinnedDrop)]
pub struct Pagearena {
    #[pin]
    _miscdev: MiscDeviceRegistration<device::Device>,
    _fs: pseudo_fs::Mount,
    _kswapd: Kswapd,
    _debugfs: debugfs::Debugfs,
    _arena: Pin<KBox<arena::Arena>>,
}

impl Pagearena {
    /// Takes the arena's memory and publishes the arena.
    fn setup() -> Result<(Pin<KBox<arena::Arena>>, debugfs::Debugfs)> {
        let params = ArenaParams::from_module_params()?;
        if module_parameters::selftest_core.value() {
            selftest::mm_core()?;
        }
        let frames = usize::try_from(params.frames)?;
        let around = module_parameters::fault_around_pages.value();
        if around > 512 || (around > 1 && !around.is_power_of_two()) {
            pr_err!(
                "fault_around_pages={} is not a power of two up to 512\n",
                around
            );
            return Err(EINVAL);
        }
        let fail_at = match module_parameters::selftest_fail_at_block.value() {
            0 => None,
            n => Some(n as usize - 1),
        };
        let pcp_batch = match module_parameters::pcp_batch.value() {
            -1 => None,
            b @ 0..=31 => Some(b as usize),
            b => {
                pr_err!("pcp_batch={} is not -1 or 0..=31\n", b);
                return Err(EINVAL);
            }
        };
        let init = arena::Arena::new(arena::ArenaConfig {
            nr_frames: frames,
            debug_slab: module_parameters::slab_debug.value(),
            fault_around: around as usize,
            fail_at_block: fail_at,
            leak_node: module_parameters::selftest_leak_node.value(),
            space_object: (space::SpaceArc::OBJECT_SIZE, space::SpaceArc::OBJECT_ALIGN),
            swap: swapfile::SwapFile::from_module_param(swapfile::Inject {
                fail_reads: module_parameters::selftest_swap_fail.value() & 1 != 0,
                fail_writes: module_parameters::selftest_swap_fail.value() & 2 != 0,
                read_delay_ms: module_parameters::selftest_swap_delay_ms
                    .value()
                    .min(10_000),
            })?,
            policy: reclaim_policy()?,
            kswapd: !module_parameters::selftest_no_kswapd.value(),
            watermarks: (
                module_parameters::watermark_min.value() as usize,
                module_parameters::watermark_low.value() as usize,
                module_parameters::watermark_high.value() as usize,
            ),
            pcp_batch,
        })?;
        let arena = KBox::pin_init(init, GFP_KERNEL)?;
        pr_info!(
            "reclaim: policy {}, watermarks min {} low {} high {} frames\n",
            mm::reclaim::ReclaimPolicy::name(&*arena.lru.lock()),
            arena.wmark.min(),
            arena.wmark.low(),
            arena.wmark.high()
        );
        space::init_registry();
        arena.as_ref().publish();
        let debugfs = debugfs::Debugfs::new()?;
        pr_info!(
            "loaded: {} frames of {} bytes, zero frame {}\n",
            frames,
            kernel::page::PAGE_SIZE,
            arena.zero.0
        );
        Ok((arena, debugfs))
    }
}

impl kernel::InPlaceModule for Pagearena {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        if module_parameters::selftest_warn.value() {
            kernel::warn_on!(true);
        }
        let (arena, debugfs) = match Self::setup() {
            Ok((a, d)) => (Ok(a), Ok(d)),
            Err(e) => (Err(e), Err(e)),
        };
        // After the arena is published; if the load fails later, the thread
        // is stopped before the arena goes.
        let kswapd = match &arena {
            Ok(_) if module_parameters::selftest_no_kswapd.value() => Ok(Kswapd { _thread: None }),
            Ok(_) => kthread::KThread::run(c"pagearena_kswapd", vmscan::kswapd)
                .map(|t| Kswapd { _thread: Some(t) }),
            Err(e) => Err(*e),
        };
        // Initialised in this order (the arena before anything that can call
        // into it), dropped in the declaration order above.
        try_pin_init!(Self {
            _arena: arena?,
            _debugfs: debugfs?,
            _kswapd: kswapd?,
            _fs: pseudo_fs::Mount::new()?,
            _miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"pagearena" }),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for Pagearena {
    fn drop(self: Pin<&mut Self>) {
        pr_info!("unloaded\n");
    }
}

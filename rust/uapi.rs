// SPDX-License-Identifier: GPL-2.0

//! pagearena user-space API: ioctl numbers and `#[repr(C)]` argument types.
//!
//! This one file is compiled, unchanged, into the kernel module
//! (`rust/pagearena_main.rs`) and into the user-space tools (`tools/`), so the
//! two can never disagree on a layout. It depends on nothing but `core`.
//!
//! Every argument struct starts with a `version` field that the kernel fills
//! with [`PAGEARENA_UAPI_VERSION`]. A command whose size field does not match
//! the size of its struct is refused with `EINVAL`; an unknown command with
//! `ENOTTY`; an unreadable or unwritable argument pointer with `EFAULT`.

/// Version of this API. Bumped on every incompatible change.
pub const PAGEARENA_UAPI_VERSION: u32 = 6;

/// The ioctl "type" byte of pagearena (free in
/// `Documentation/userspace-api/ioctl/ioctl-number.rst`).
pub const PAGEARENA_IOC_MAGIC: u32 = 0xA7;

/// Path of the character device.
pub const PAGEARENA_DEVICE: &str = "/dev/pagearena";

// The generic ioctl encoding of `include/uapi/asm-generic/ioctl.h` (x86 uses it).
const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;

/// Direction bit: user space writes the argument, the kernel reads it.
pub const IOC_WRITE: u32 = 1;
/// Direction bit: the kernel writes the argument, user space reads it.
pub const IOC_READ: u32 = 2;

/// Encodes an ioctl number, like the C macro `_IOC`.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | (ty << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// The `nr` field of an ioctl number.
pub const fn ioc_nr(cmd: u32) -> u32 {
    (cmd >> IOC_NRSHIFT) & ((1 << IOC_NRBITS) - 1)
}

/// The `type` field of an ioctl number.
pub const fn ioc_type(cmd: u32) -> u32 {
    (cmd >> IOC_TYPESHIFT) & ((1 << IOC_TYPEBITS) - 1)
}

/// The `size` field of an ioctl number.
pub const fn ioc_size(cmd: u32) -> usize {
    ((cmd >> IOC_SIZESHIFT) & ((1 << IOC_SIZEBITS) - 1)) as usize
}

/// The direction bits of an ioctl number.
pub const fn ioc_dir(cmd: u32) -> u32 {
    cmd >> IOC_DIRSHIFT
}

/// Command number (`nr`) of [`PAGEARENA_IOC_INFO`].
pub const PAGEARENA_NR_INFO: u32 = 0x01;

/// `PAGEARENA_IOC_INFO`: read the arena's fixed parameters into a [`PagearenaInfo`].
pub const PAGEARENA_IOC_INFO: u32 = ioc(
    IOC_READ,
    PAGEARENA_IOC_MAGIC,
    PAGEARENA_NR_INFO,
    core::mem::size_of::<PagearenaInfo>(),
);

/// Answer of [`PAGEARENA_IOC_INFO`]: what the arena was loaded with.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagearenaInfo {
    /// [`PAGEARENA_UAPI_VERSION`] of the module that answered.
    pub version: u32,
    /// Size of one page (and one arena frame) in bytes.
    pub page_size: u32,
    /// Number of frames in the arena (`arena_mb` * 1 MiB / `page_size`).
    pub arena_frames: u64,
}

/// Pages one space can map: mappings must lie within offsets
/// `0..PAGEARENA_SPACE_MAX_PAGES * page size` (1 TiB), else `mmap` is `EINVAL`.
pub const PAGEARENA_SPACE_MAX_PAGES: u64 = 1 << 28;

/// Command number of [`PAGEARENA_IOC_STATS`].
pub const PAGEARENA_NR_STATS: u32 = 0x02;
/// Command number of [`PAGEARENA_IOC_SPACE_STATS`].
pub const PAGEARENA_NR_SPACE_STATS: u32 = 0x03;
/// Command number of [`PAGEARENA_IOC_PAGE_STATE`].
pub const PAGEARENA_NR_PAGE_STATE: u32 = 0x04;
/// Command number of [`PAGEARENA_IOC_CLONE`].
pub const PAGEARENA_NR_CLONE: u32 = 0x05;
/// Command number of [`PAGEARENA_IOC_SET_FORK_MODE`].
pub const PAGEARENA_NR_SET_FORK_MODE: u32 = 0x06;
/// Command number of [`PAGEARENA_IOC_PAGEOUT`].
pub const PAGEARENA_NR_PAGEOUT: u32 = 0x07;
/// Command number of [`PAGEARENA_IOC_TRACE`].
pub const PAGEARENA_NR_TRACE: u32 = 0x08;
/// Command number of [`PAGEARENA_IOC_IDLE`].
pub const PAGEARENA_NR_IDLE: u32 = 0x09;
/// Command number of [`PAGEARENA_IOC_PAGE_STATE_AT`].
pub const PAGEARENA_NR_PAGE_STATE_AT: u32 = 0x0a;
/// Command number of [`PAGEARENA_IOC_NEW_SPACE`].
pub const PAGEARENA_NR_NEW_SPACE: u32 = 0x0b;

/// `PAGEARENA_IOC_PAGE_STATE_AT`: the state of the pages at user address
/// `addr` of process `pid` (in the caller's pid namespace), one `u64` each
/// as [`PAGEARENA_IOC_PAGE_STATE`] gives them, into the user array at `buf`:
/// the space whichever VMA there maps (a fork-COW child's own snapshot
/// too), from the page at `addr` for `count` pages (at most
/// [`PAGEARENA_PAGE_STATE_MAX`], else `EINVAL`), cut at the end of that
/// VMA. `space_id` and `start` come back as the space and the page index
/// of `addr` in it, `count` as the pages reported: a snapshot, the mapping
/// may change after. Needs `CAP_SYS_PTRACE`, else `EPERM` (the kernel's
/// `ptrace_may_access` is not available to modules, so LSM ptrace policy,
/// Yama's included, is not consulted; `pid` is a thread id, as for
/// `/proc/PID`). No such process, or one without memory (a kernel thread,
/// an exited or zombie task), is `ESRCH`; no VMA at `addr` `ENXIO`; a VMA
/// not of this device (or one left without a space) `EINVAL`, as is a bad
/// `version` or `count`; a bad `buf` or argument `EFAULT`; `ENOMEM` if
/// memory runs out. Works from any open file of the device.
pub const PAGEARENA_IOC_PAGE_STATE_AT: u32 = ioc(
    IOC_READ | IOC_WRITE,
    PAGEARENA_IOC_MAGIC,
    PAGEARENA_NR_PAGE_STATE_AT,
    core::mem::size_of::<PagearenaPageStateAtArgs>(),
);

/// Argument of [`PAGEARENA_IOC_PAGE_STATE_AT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagearenaPageStateAtArgs {
    /// In: 0 or [`PAGEARENA_UAPI_VERSION`]; out: [`PAGEARENA_UAPI_VERSION`].
    pub version: u32,
    /// In: the process.
    pub pid: u32,
    /// In: a user address in it.
    pub addr: u64,
    /// In: pages wanted; out: pages reported.
    pub count: u64,
    /// User address of a `u64` array of `count` entries.
    pub buf: u64,
    /// Out: the id of the space mapped there.
    pub space_id: u64,
    /// Out: the page index of `addr` in that space.
    pub start: u64,
}

/// `PAGEARENA_IOC_TRACE`: the fault trace, a ring of events, one per fault
/// on any space while it is on: `(space id << 32) | page index` (the low 32
/// bits of each). `flags` [`PAGEARENA_TRACE_START`] (needs `CAP_SYS_ADMIN`,
/// else `EPERM`): empty the ring (and the lost count), make it `count`
/// events long (1 to [`PAGEARENA_TRACE_MAX`], else `EINVAL`) and record;
/// `count` comes back 0. Otherwise (0, or [`PAGEARENA_TRACE_STOP`] to stop
/// recording first, which holds even if the copy then fails): move up to
/// `count` (at most [`PAGEARENA_TRACE_MAX`], else `EINVAL`) of the oldest
/// events to the user array at `buf`; `count` comes back as the number
/// moved, `lost` as the events dropped since the last read because the ring
/// was full. A bad `buf` (or argument) is `EFAULT` with the events left in
/// the ring. Both flags, or an unknown one, are `EINVAL`. The trace belongs
/// to the file that started it: another file's start, stop or read is
/// `EBUSY` until that file stops it (it may then start its own) or is
/// closed, which ends the trace and frees the ring. A fault that saw the
/// trace on just before a stop may still add its event. While the trace is
/// on, read faults map no neighbours (no fault-around), so each page's
/// first access is seen; a read fault then a write to the same page are two
/// events.
pub const PAGEARENA_IOC_TRACE: u32 = ioc(
    IOC_READ | IOC_WRITE,
    PAGEARENA_IOC_MAGIC,
    PAGEARENA_NR_TRACE,
    core::mem::size_of::<PagearenaTraceArgs>(),
);

/// [`PAGEARENA_IOC_TRACE`] flag: start recording into a new ring.
pub const PAGEARENA_TRACE_START: u32 = 1;
/// [`PAGEARENA_IOC_TRACE`] flag: stop recording, then read.
pub const PAGEARENA_TRACE_STOP: u32 = 2;
/// Most events of the ring and of one read.
pub const PAGEARENA_TRACE_MAX: u64 = 1 << 22;

/// Argument of [`PAGEARENA_IOC_TRACE`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagearenaTraceArgs {
    /// In: 0 or [`PAGEARENA_UAPI_VERSION`]; out: [`PAGEARENA_UAPI_VERSION`].
    pub version: u32,
    /// In: 0, [`PAGEARENA_TRACE_START`] or [`PAGEARENA_TRACE_STOP`].
    pub flags: u32,
    /// User address of a `u64` array of `count` entries (reads).
    pub buf: u64,
    /// In: the ring's size (start) or the array's (reads); out: events moved.
    pub count: u64,
    /// Out: events dropped since the last read (the ring was full).
    pub lost: u64,
}

/// `PAGEARENA_IOC_IDLE`: zaps the user PTEs of every page of this fd's space
/// (argument, by value, [`PAGEARENA_IDLE_SPACE`]) or of every mapped space
/// ([`PAGEARENA_IDLE_ALL`], which needs `CAP_SYS_ADMIN`, else `EPERM`);
/// anything else is `EINVAL`. Frames and entries
/// stay: the next access to each page faults and maps it again (a minor or
/// soft fault), which the fault trace records, as idle page tracking
/// (`/sys/kernel/mm/page_idle`) makes the next access visible.
pub const PAGEARENA_IOC_IDLE: u32 = ioc(0, PAGEARENA_IOC_MAGIC, PAGEARENA_NR_IDLE, 0);
/// [`PAGEARENA_IOC_IDLE`]: this fd's space.
pub const PAGEARENA_IDLE_SPACE: usize = 0;
/// [`PAGEARENA_IOC_IDLE`]: every space.
pub const PAGEARENA_IDLE_ALL: usize = 1;

/// `PAGEARENA_IOC_PAGEOUT`: takes pages `start..start + count` of this fd's
/// space out of memory now, like `madvise(MADV_PAGEOUT)`: dirty pages are
/// written to swap, clean swap-cache pages dropped without a write,
/// zero-filled ones dropped without a slot. Pages not resident are skipped;
/// pages whose frame another space shares are counted in `busy` and left.
/// `count` is at most [`PAGEARENA_PAGE_STATE_MAX`] and the range within the
/// space's limit, else `EINVAL`. With no swap (or swap full) dirty pages
/// stay: `ENOMEM` if nothing could be done, else the counts say what was.
/// A write error is `EIO` (the page stays resident).
pub const PAGEARENA_IOC_PAGEOUT: u32 = ioc(
    IOC_READ | IOC_WRITE,
    PAGEARENA_IOC_MAGIC,
    PAGEARENA_NR_PAGEOUT,
    core::mem::size_of::<PagearenaPageoutArgs>(),
);

/// Argument of [`PAGEARENA_IOC_PAGEOUT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagearenaPageoutArgs {
    /// In: 0 or [`PAGEARENA_UAPI_VERSION`]; out: [`PAGEARENA_UAPI_VERSION`].
    pub version: u32,
    /// Always zero.
    pub reserved: u32,
    /// First page index.
    pub start: u64,
    /// Number of pages.
    pub count: u64,
    /// Out: pages written to swap.
    pub swapped: u64,
    /// Out: clean swap-cache pages dropped, no write.
    pub clean: u64,
    /// Out: zero-filled pages dropped, no slot.
    pub zero: u64,
    /// Out: pages left because another space shares their frame, or a
    /// write fault raced with the pageout.
    pub busy: u64,
}

/// `PAGEARENA_IOC_STATS`: read the arena's counters into a [`PagearenaStats`].
pub const PAGEARENA_IOC_STATS: u32 = ioc(
    IOC_READ,
    PAGEARENA_IOC_MAGIC,
    PAGEARENA_NR_STATS,
    core::mem::size_of::<PagearenaStats>(),
);

/// `PAGEARENA_IOC_SPACE_STATS`: read this fd's space's counters into a
/// [`PagearenaSpaceStats`].
pub const PAGEARENA_IOC_SPACE_STATS: u32 = ioc(
    IOC_READ,
    PAGEARENA_IOC_MAGIC,
    PAGEARENA_NR_SPACE_STATS,
    core::mem::size_of::<PagearenaSpaceStats>(),
);

/// `PAGEARENA_IOC_PAGE_STATE`: the state of pages `start..start + count` of
/// this fd's space, one `u64` each (see [`page_state`]) into the user array
/// at `buf`, like `/proc/PID/pagemap`. `count` is at most
/// [`PAGEARENA_PAGE_STATE_MAX`], the range within the space's limit; else
/// `EINVAL`. A bad `buf` is `EFAULT`.
pub const PAGEARENA_IOC_PAGE_STATE: u32 = ioc(
    IOC_READ | IOC_WRITE,
    PAGEARENA_IOC_MAGIC,
    PAGEARENA_NR_PAGE_STATE,
    core::mem::size_of::<PagearenaPageStateArgs>(),
);

/// Most pages one [`PAGEARENA_IOC_PAGE_STATE`] call reports.
pub const PAGEARENA_PAGE_STATE_MAX: u64 = 1 << 20;

/// `PAGEARENA_IOC_CLONE`: returns a new fd (close-on-exec) whose space is a
/// copy-on-write snapshot of this fd's space. No argument.
pub const PAGEARENA_IOC_CLONE: u32 = ioc(0, PAGEARENA_IOC_MAGIC, PAGEARENA_NR_CLONE, 0);

/// `PAGEARENA_IOC_NEW_SPACE`: returns a new fd (close-on-exec, the access
/// mode of this fd) with a new, empty space, whose fork mode is the
/// argument (by value: [`PAGEARENA_FORK_SHARED`] or [`PAGEARENA_FORK_COW`];
/// anything else is `EINVAL`). Its file is a regular file to the VFS (as a
/// memfd's), so `fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)` on
/// it and `madvise(MADV_REMOVE)` on its mappings discard a range of the
/// space; so are the fds of [`PAGEARENA_IOC_CLONE`]. (`/dev/pagearena`'s
/// own fds are character devices: `vfs_fallocate` refuses them, `ENODEV`.)
pub const PAGEARENA_IOC_NEW_SPACE: u32 = ioc(0, PAGEARENA_IOC_MAGIC, PAGEARENA_NR_NEW_SPACE, 0);

/// `PAGEARENA_IOC_SET_FORK_MODE`: the argument (by value) is
/// [`PAGEARENA_FORK_SHARED`] or [`PAGEARENA_FORK_COW`]; anything else is
/// `EINVAL`. Applies to every later `fork()` of a process mapping the space.
pub const PAGEARENA_IOC_SET_FORK_MODE: u32 =
    ioc(0, PAGEARENA_IOC_MAGIC, PAGEARENA_NR_SET_FORK_MODE, 0);

/// Fork mode: a child's mappings share the space with the parent (default,
/// like `MAP_SHARED` memory).
pub const PAGEARENA_FORK_SHARED: usize = 0;
/// Fork mode: a child's mappings see a copy-on-write snapshot of the space
/// taken at `fork()`, like `MAP_PRIVATE | MAP_ANONYMOUS` memory.
pub const PAGEARENA_FORK_COW: usize = 1;

/// Answer of [`PAGEARENA_IOC_STATS`]: the arena's frames and event counters
/// (the same numbers as debugfs `pagearena/vmstat`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagearenaStats {
    /// [`PAGEARENA_UAPI_VERSION`].
    pub version: u32,
    /// Always zero.
    pub reserved: u32,
    /// Frames in the arena.
    pub nr_frames: u64,
    /// Frames free in the buddy allocator.
    pub nr_free: u64,
    /// Live spaces.
    pub nr_spaces: u64,
    /// Page-table nodes in use (all spaces).
    pub nr_pt_nodes: u64,
    /// Frames held by slab caches.
    pub nr_slab_frames: u64,
    /// Faults handled.
    pub pgfault: u64,
    /// Read faults answered with the zero frame.
    pub zero_page_fault: u64,
    /// Write faults that took a fresh zeroed frame.
    pub demand_zero_fault: u64,
    /// Write faults that copied a shared frame.
    pub cow_fault: u64,
    /// Write faults on a once-shared frame held alone now: reused, no copy.
    pub cow_reuse_fault: u64,
    /// Faults that re-mapped a frame already in the space.
    pub minor_fault: u64,
    /// Faults that found no frame: the task got `SIGBUS`.
    pub oom_fault: u64,
    /// Pages mapped by fault-around next to read faults.
    pub fault_around: u64,
    /// Spaces made by [`PAGEARENA_IOC_CLONE`].
    pub space_clone: u64,
    /// Spaces made by `fork()` in fork-COW mode.
    pub fork_snapshot: u64,
    /// Faults that read a page back from swap (`pgmajfault`).
    pub pgmajfault: u64,
    /// Pages read from swap.
    pub pswpin: u64,
    /// Pages written to swap.
    pub pswpout: u64,
    /// Clean swap-cache pages taken out of memory without a write.
    pub swapcache_reclaim: u64,
    /// Zero-filled pages taken out of memory without a slot.
    pub zero_page_reclaim: u64,
    /// Reads or writes of swap that failed.
    pub swap_io_error: u64,
    /// Slots of the swap store (0: no swap).
    pub nr_swap_slots: u64,
    /// Slots in use.
    pub nr_swap_used: u64,
    /// Frames the reclaim scans looked at (`pgscan`).
    pub pgscan: u64,
    /// Frames reclaimed with no write: zero-filled or swap-cache copies
    /// (`pgsteal`, clean).
    pub pgsteal_clean: u64,
    /// Frames reclaimed by a write to swap (`pgsteal`, dirty).
    pub pgsteal_dirty: u64,
    /// Frames the scans aged onto, or kept on, the inactive list: their
    /// PTEs zapped, their next access a soft fault (`pgdeactivate`).
    pub pgdeactivate: u64,
    /// Frames the scans promoted to, or kept on, the active list after a
    /// soft fault showed them used (`pgactivate`).
    pub pgactivate: u64,
    /// Direct reclaims by faulting tasks below the min watermark (`allocstall`).
    pub allocstall: u64,
    /// Wakeups of `pagearena_kswapd` (`kswapd_wakeup`).
    pub kswapd_wakeup: u64,
    /// Faults that remapped a frame reclaim had aged: its access seen.
    pub pgsoftfault: u64,
    /// Frames on the active list.
    pub nr_active: u64,
    /// Frames on the inactive list (CLOCK: every tracked frame).
    pub nr_inactive: u64,
    /// The min, low and high watermarks, in free frames.
    pub watermark_min: u64,
    /// See `watermark_min`.
    pub watermark_low: u64,
    /// See `watermark_min`.
    pub watermark_high: u64,
    /// Data frames that also have a copy in a swap slot (the swap cache):
    /// taking them out of memory again needs no write.
    pub nr_swapcache: u64,
}

/// Answer of [`PAGEARENA_IOC_SPACE_STATS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagearenaSpaceStats {
    /// [`PAGEARENA_UAPI_VERSION`].
    pub version: u32,
    /// The fork mode ([`PAGEARENA_FORK_SHARED`] or [`PAGEARENA_FORK_COW`]).
    pub fork_mode: u32,
    /// The space's id (as in debugfs `pagearena/spaces`).
    pub id: u64,
    /// Pages in a frame (the space's RSS).
    pub resident: u64,
    /// Pages mapped to the zero frame.
    pub zero_mapped: u64,
    /// Resident pages whose frame another space shares.
    pub shared: u64,
    /// Page-table nodes.
    pub pt_nodes: u64,
    /// VMAs mapping the space, in all processes.
    pub nr_vmas: u64,
    /// Pages in swap.
    pub swapped: u64,
}

/// Argument of [`PAGEARENA_IOC_PAGE_STATE`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagearenaPageStateArgs {
    /// In: 0 or [`PAGEARENA_UAPI_VERSION`]; out: [`PAGEARENA_UAPI_VERSION`].
    pub version: u32,
    /// Always zero.
    pub reserved: u32,
    /// First page index.
    pub start: u64,
    /// Number of pages.
    pub count: u64,
    /// User address of a `u64` array of `count` entries.
    pub buf: u64,
}

/// Decoding of one [`PAGEARENA_IOC_PAGE_STATE`] entry.
///
/// Bits 0..=39: the frame number (arena pfn) or swap slot; 40..=55: the
/// frame's share count (saturating); 56..=59: the [`page_state::Kind`];
/// 60: writable in the space's page table; 61: dirty.
pub mod page_state {
    /// Where a page is.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        /// Never touched: reads as zeroes.
        None = 0,
        /// Mapped to the shared zero frame.
        Zero = 1,
        /// In a frame.
        Frame = 2,
        /// In a swap slot.
        Swap = 3,
    }

    const PAYLOAD_MASK: u64 = (1 << 40) - 1;
    const COUNT_SHIFT: u32 = 40;
    const COUNT_MAX: u64 = 0xffff;
    const KIND_SHIFT: u32 = 56;
    /// Bit: writable in the space's page table.
    pub const WRITABLE: u64 = 1 << 60;
    /// Bit: dirty.
    pub const DIRTY: u64 = 1 << 61;

    /// Encodes an entry.
    pub const fn encode(kind: Kind, payload: u64, count: u64, bits: u64) -> u64 {
        let count = if count > COUNT_MAX { COUNT_MAX } else { count };
        (payload & PAYLOAD_MASK)
            | (count << COUNT_SHIFT)
            | ((kind as u64) << KIND_SHIFT)
            | (bits & (WRITABLE | DIRTY))
    }

    /// The entry's kind.
    pub const fn kind(e: u64) -> Kind {
        match (e >> KIND_SHIFT) & 0xf {
            1 => Kind::Zero,
            2 => Kind::Frame,
            3 => Kind::Swap,
            _ => Kind::None,
        }
    }

    /// The frame number (for [`Kind::Frame`]) or slot (for [`Kind::Swap`]).
    pub const fn payload(e: u64) -> u64 {
        e & PAYLOAD_MASK
    }

    /// The frame's share count (for [`Kind::Frame`]).
    pub const fn share_count(e: u64) -> u64 {
        (e >> COUNT_SHIFT) & COUNT_MAX
    }
}

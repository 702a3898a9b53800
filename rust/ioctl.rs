// SPDX-License-Identifier: GPL-2.0

//! The ioctl dispatcher of `/dev/pagearena` (commands in [`crate::uapi`]).

use crate::{
    arena::arena,
    file,
    mm::pagetable::{Pte, PteKind},
    pseudo_fs::{FileOpsTable, SpaceFileOps},
    space::{Space, SpaceArc, SpaceBorrow},
    uapi::{self, page_state},
    vm_ops::{self, VmOperations, VmOpsTable},
    vmstat::stats,
};
use kernel::{
    fs::File,
    prelude::*,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

// SAFETY: `PagearenaInfo` is `#[repr(C)]` with fields `u32, u32, u64`: no padding
// (8-byte field at offset 8), so every byte of it is initialised.
unsafe impl AsBytes for uapi::PagearenaInfo {}
// SAFETY: `#[repr(C)]`, two `u32`s then only `u64`s: no padding.
unsafe impl AsBytes for uapi::PagearenaStats {}
// SAFETY: `#[repr(C)]`, two `u32`s then only `u64`s: no padding.
unsafe impl AsBytes for uapi::PagearenaSpaceStats {}
// SAFETY: `#[repr(C)]`, two `u32`s then only `u64`s: no padding.
unsafe impl AsBytes for uapi::PagearenaPageStateArgs {}
// SAFETY: Integers only, so any bit pattern is a valid value.
unsafe impl FromBytes for uapi::PagearenaPageStateArgs {}
// SAFETY: `#[repr(C)]`, two `u32`s then only `u64`s: no padding.
unsafe impl AsBytes for uapi::PagearenaPageoutArgs {}
// SAFETY: Integers only, so any bit pattern is a valid value.
unsafe impl FromBytes for uapi::PagearenaPageoutArgs {}
// SAFETY: `#[repr(C)]`, two `u32`s then only `u64`s: no padding.
unsafe impl AsBytes for uapi::PagearenaTraceArgs {}
// SAFETY: `#[repr(C)]`, two `u32`s then only `u64`s: no padding.
unsafe impl AsBytes for uapi::PagearenaPageStateAtArgs {}
// SAFETY: Integers only, so any bit pattern is a valid value.
unsafe impl FromBytes for uapi::PagearenaPageStateAtArgs {}
// SAFETY: Integers only, so any bit pattern is a valid value.
unsafe impl FromBytes for uapi::PagearenaTraceArgs {}

/// Pages reported per chunk of a page-state query (one buffer, 32 KiB).
const PAGE_STATE_CHUNK: u64 = 4096;

/// Handles one ioctl on `space`.
///
/// Unknown commands are `ENOTTY`; a known command with the wrong size or
/// direction is `EINVAL`; a bad user pointer is `EFAULT`.
///
/// `vmas` is the table of the device's VMAs (how `PAGE_STATE_AT` knows one),
/// `files` that of the space files the clone and new-space ioctls make.
pub fn dispatch<T: VmOperations<Data = SpaceArc>, F: SpaceFileOps<Ptr = SpaceArc>>(
    space: SpaceBorrow<'_>,
    file: &File,
    cmd: u32,
    arg: usize,
    vmas: &'static VmOpsTable<T>,
    files: &'static FileOpsTable<F>,
) -> Result<isize> {
    if uapi::ioc_type(cmd) != uapi::PAGEARENA_IOC_MAGIC {
        return Err(ENOTTY);
    }
    match uapi::ioc_nr(cmd) {
        uapi::PAGEARENA_NR_INFO => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_INFO)?;
            let info = uapi::PagearenaInfo {
                version: uapi::PAGEARENA_UAPI_VERSION,
                page_size: kernel::page::PAGE_SIZE as u32,
                arena_frames: arena().nr_frames() as u64,
            };
            write_to_user(arg, &info)?;
            Ok(0)
        }
        uapi::PAGEARENA_NR_STATS => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_STATS)?;
            write_to_user(arg, &stats())?;
            Ok(0)
        }
        uapi::PAGEARENA_NR_SPACE_STATS => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_SPACE_STATS)?;
            write_to_user(arg, &space.stats())?;
            Ok(0)
        }
        uapi::PAGEARENA_NR_PAGE_STATE => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_PAGE_STATE)?;
            page_state_query(&space, arg)
        }
        uapi::PAGEARENA_NR_CLONE => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_CLONE)?;
            file::clone_space(files, &space, file)
        }
        uapi::PAGEARENA_NR_NEW_SPACE => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_NEW_SPACE)?;
            match arg {
                uapi::PAGEARENA_FORK_SHARED => file::new_space(files, file, false),
                uapi::PAGEARENA_FORK_COW => file::new_space(files, file, true),
                _ => Err(EINVAL),
            }
        }
        uapi::PAGEARENA_NR_SET_FORK_MODE => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_SET_FORK_MODE)?;
            match arg {
                uapi::PAGEARENA_FORK_SHARED => space.set_fork_cow(false),
                uapi::PAGEARENA_FORK_COW => space.set_fork_cow(true),
                _ => return Err(EINVAL),
            }
            Ok(0)
        }
        uapi::PAGEARENA_NR_PAGEOUT => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_PAGEOUT)?;
            pageout(&space, arg)
        }
        uapi::PAGEARENA_NR_PAGE_STATE_AT => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_PAGE_STATE_AT)?;
            page_state_at(arg, vmas)
        }
        uapi::PAGEARENA_NR_TRACE => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_TRACE)?;
            trace(&space, arg)
        }
        uapi::PAGEARENA_NR_IDLE => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_IDLE)?;
            match arg {
                // Under the mutex, as every zap (`rmap`: it waits out the
                // PTE inserts in flight).
                uapi::PAGEARENA_IDLE_SPACE => space.zap_all_if_mapped(),
                uapi::PAGEARENA_IDLE_ALL => {
                    if !capable_sys_admin() {
                        return Err(EPERM);
                    }
                    // References taken under the registry lock (a leaf),
                    // zaps made after it is dropped, each only while a VMA
                    // (so a file) keeps that space's mapping alive.
                    for s in crate::space::all_spaces()?.iter() {
                        s.zap_all_if_mapped();
                    }
                }
                _ => return Err(EINVAL),
            }
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}

/// `PAGEARENA_IOC_PAGEOUT`.
fn pageout(space: &Space, arg: usize) -> Result<isize> {
    let mut args: uapi::PagearenaPageoutArgs = read_from_user(arg)?;
    check_range(args.version, args.reserved, args.start, args.count)?;
    args.version = uapi::PAGEARENA_UAPI_VERSION;
    args.swapped = 0;
    args.clean = 0;
    args.zero = 0;
    args.busy = 0;
    let r = crate::vmscan::pageout_range(space, args.start, args.count, &mut args);
    // The counts go back even when a write failed part-way.
    write_to_user(arg, &args)?;
    r.map(|()| 0)
}

/// Whether the calling task has `CAP_SYS_ADMIN` (what tracefs and
/// `page_idle` ask for): the trace sees every space's accesses and costs
/// every fault, and aging every space costs every space faults.
fn capable_sys_admin() -> bool {
    capable(kernel::bindings::CAP_SYS_ADMIN)
}

/// Whether the calling task has capability `cap`.
fn capable(cap: u32) -> bool {
    // SAFETY: `capable` has no preconditions: it checks the current task's
    // credentials (we are in an ioctl, in process context) and may audit;
    // any capability number is accepted (an unknown one is refused).
    unsafe { kernel::bindings::capable(cap as i32) }
}

/// `PAGEARENA_IOC_TRACE` from the file of `space`.
fn trace(space: &Space, arg: usize) -> Result<isize> {
    let mut args: uapi::PagearenaTraceArgs = read_from_user(arg)?;
    if (args.version != 0 && args.version != uapi::PAGEARENA_UAPI_VERSION)
        || args.flags & !(uapi::PAGEARENA_TRACE_START | uapi::PAGEARENA_TRACE_STOP) != 0
        || args.flags == uapi::PAGEARENA_TRACE_START | uapi::PAGEARENA_TRACE_STOP
        || args.count > uapi::PAGEARENA_TRACE_MAX
    {
        return Err(EINVAL);
    }
    let t = &arena().trace;
    args.version = uapi::PAGEARENA_UAPI_VERSION;
    args.lost = 0;
    if args.flags == uapi::PAGEARENA_TRACE_START {
        if args.count == 0 {
            return Err(EINVAL);
        }
        if !capable_sys_admin() {
            return Err(EPERM);
        }
        t.start(space.id, args.count as usize)?;
        args.count = 0;
        write_to_user(arg, &args)?;
        return Ok(0);
    }
    if args.flags == uapi::PAGEARENA_TRACE_STOP {
        t.stop(space.id)?;
    }
    // Copied out under no spinlock (`buf` may be arena memory); the events
    // go only once they and the answer are copied: a bad `buf` or `arg` is
    // `EFAULT` with the events left in the ring.
    let mut out = UserSlice::new(
        UserPtr::from_addr(args.buf as usize),
        args.count as usize * 8,
    )
    .writer();
    t.read(
        space.id,
        args.count as usize,
        |_, events| out.write_slice(AsBytes::as_bytes(events)),
        |n, lost| {
            (args.count, args.lost) = (n as u64, lost);
            write_to_user(arg, &args)
        },
    )?;
    Ok(0)
}

/// `PAGEARENA_IOC_PAGE_STATE`.
fn page_state_query(space: &Space, arg: usize) -> Result<isize> {
    let mut args: uapi::PagearenaPageStateArgs = read_from_user(arg)?;
    check_range(args.version, args.reserved, args.start, args.count)?;
    page_states(space, args.start, args.count, args.buf)?;
    args.version = uapi::PAGEARENA_UAPI_VERSION;
    write_to_user(arg, &args)?;
    Ok(0)
}

/// Whether the calling task has `CAP_SYS_PTRACE`.
fn capable_sys_ptrace() -> bool {
    capable(kernel::bindings::CAP_SYS_PTRACE)
}

/// `PAGEARENA_IOC_PAGE_STATE_AT`.
fn page_state_at<T: VmOperations<Data = SpaceArc>>(
    arg: usize,
    vmas: &'static VmOpsTable<T>,
) -> Result<isize> {
    if !capable_sys_ptrace() {
        return Err(EPERM);
    }
    let mut args: uapi::PagearenaPageStateAtArgs = read_from_user(arg)?;
    if (args.version != 0 && args.version != uapi::PAGEARENA_UAPI_VERSION)
        || args.count > uapi::PAGEARENA_PAGE_STATE_MAX
    {
        return Err(EINVAL);
    }
    let pid = i32::try_from(args.pid).map_err(|_| ESRCH)?;
    let addr = usize::try_from(args.addr).map_err(|_| ENXIO)?;
    let mm = crate::task_mm::mm_of_pid(pid)?;
    let (space, start, count) = {
        // Not killable: the abstraction offers only this lock.
        let guard = mm.mmap_read_lock();
        let vma = guard.vma_lookup(addr).ok_or(ENXIO)?;
        let space = vm_ops::data_of(vmas, vma).ok_or(EINVAL)?;
        let shift = kernel::page::PAGE_SHIFT;
        // `vma_lookup` gives `start <= addr < end`.
        let pgoff = vm_ops::pgoff(vma) + ((addr - vma.start()) >> shift);
        let start = pgoff.checked_sub(space.window.base).ok_or(EINVAL)?;
        if start >= space.window.pages {
            return Err(EINVAL);
        }
        let left = (vma.end() - (addr & !(kernel::page::PAGE_SIZE - 1))) >> shift;
        let left = left.min(space.window.pages - start) as u64;
        // A reference of our own, for after the lock.
        let space: SpaceArc = space.into();
        (space, start as u64, args.count.min(left))
    };
    // Our `mmput` may be the last, which runs `exit_mmap`: it takes the mmap
    // write lock and closes the VMAs (taking space mutexes), so not under
    // the read lock.
    drop(mm);
    page_states(&space, start, count, args.buf)?;
    args.version = uapi::PAGEARENA_UAPI_VERSION;
    (args.space_id, args.start, args.count) = (space.id, start, count);
    write_to_user(arg, &args)?;
    Ok(0)
}

/// Writes the states of pages `start..start + count` of `space` to the user
/// array at `buf`, a chunk at a time.
fn page_states(space: &Space, start: u64, count: u64, buf: u64) -> Result {
    let bytes = usize::try_from(count)? * 8;
    let mut out = UserSlice::new(UserPtr::from_addr(buf as usize), bytes).writer();
    let a = arena();
    let mut chunk = KVec::<u64>::with_capacity(PAGE_STATE_CHUNK.min(count) as usize, GFP_KERNEL)?;
    let mut at = start;
    let end = start + count;
    while at < end {
        let n = PAGE_STATE_CHUNK.min(end - at);
        chunk.clear();
        chunk.resize(n as usize, 0, GFP_KERNEL)?;
        {
            // Fill under the mutex, copy out after: the user buffer may be
            // arena memory of this very space, and faulting on it needs the
            // mutex.
            let inner = space.inner.lock();
            inner.mm.pt.for_each(&a.mem, at, at + n, |i, pte| {
                if let Some(e) = chunk.get_mut((i - at) as usize) {
                    *e = encode(pte);
                }
            });
        }
        out.write_slice(AsBytes::as_bytes(&chunk[..]))?;
        at += n;
    }
    Ok(())
}

/// One page's state as [`uapi::page_state`] encodes it.
fn encode(pte: Pte) -> u64 {
    let mut bits = 0;
    if pte.has(Pte::WRITE) {
        bits |= page_state::WRITABLE;
    }
    if pte.has(Pte::DIRTY) {
        bits |= page_state::DIRTY;
    }
    match pte.kind() {
        PteKind::None => 0,
        PteKind::Zero => page_state::encode(page_state::Kind::Zero, 0, 0, 0),
        PteKind::Frame(pfn) => {
            let count = arena().frames.get(pfn.idx()).map_or(0, |f| f.mapcount());
            page_state::encode(
                page_state::Kind::Frame,
                u64::from(pfn.0),
                u64::from(count),
                bits,
            )
        }
        PteKind::Swap(slot) => page_state::encode(page_state::Kind::Swap, u64::from(slot), 0, bits),
    }
}

/// A command with a known `nr` must match the expected encoding exactly.
fn check_cmd(cmd: u32, expected: u32) -> Result {
    if cmd == expected {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// Reads a `T` from the user address `arg` (`EFAULT` if it is not readable).
fn read_from_user<T: FromBytes>(arg: usize) -> Result<T> {
    UserSlice::new(UserPtr::from_addr(arg), core::mem::size_of::<T>())
        .reader()
        .read()
}

/// The checks every page-range command makes (`EINVAL`): a version of 0 or
/// ours, zero reserved, at most [`uapi::PAGEARENA_PAGE_STATE_MAX`] pages, all
/// within the space's limit.
fn check_range(version: u32, reserved: u32, start: u64, count: u64) -> Result {
    if (version != 0 && version != uapi::PAGEARENA_UAPI_VERSION)
        || reserved != 0
        || count > uapi::PAGEARENA_PAGE_STATE_MAX
        || start.saturating_add(count) > uapi::PAGEARENA_SPACE_MAX_PAGES
    {
        return Err(EINVAL);
    }
    Ok(())
}

/// Copies `value` to the user address `arg` (`EFAULT` if it is not writable).
fn write_to_user<T: AsBytes>(arg: usize, value: &T) -> Result {
    UserSlice::new(UserPtr::from_addr(arg), core::mem::size_of::<T>())
        .writer()
        .write(value)
}

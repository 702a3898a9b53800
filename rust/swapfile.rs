// SPDX-License-Identifier: GPL-2.0

//! The backing store of swap (`mm/swapfile.c`'s `swapon`): a block device
//! (`/dev/zram0`) or a regular file, named by the module parameter
//! `swap_path`, opened at load for reading and writing and read and written
//! a page per slot (sleeping: never under a spinlock or a space's mutex).
//! A block device is read and written with synchronous bios, as swap does,
//! never through its page cache: a fault must not take the device inode's
//! locks, which a `read()` of the device holds while it copies into user
//! memory (a lock inversion lockdep reports). A regular file goes through
//! `kernel_read`/`kernel_write`.
//!
//! A block device is opened exclusively (`O_EXCL`, as `swapon` claims it),
//! so a mounted or swapped-on device is refused with `EBUSY`; a regular
//! file is not locked against other writers, and must be on a file system
//! whose reads take no lock across the copy (tmpfs, ext4). At most
//! [`MAX_SLOTS`] slots are used.

use crate::frames::KernelFrames;
use crate::mm::memory::{Pfn, PAGE_SIZE};
use core::ffi::{c_void, CStr};
use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, prelude::*};

extern "C" {
    /// The `swap_path` module parameter (`rust/helpers.c`), or NULL.
    fn pagearena_swap_path() -> *const kernel::ffi::c_char;
    /// The size of what `file` reads and writes (a block device's size, or
    /// the file's), and its inode's mode in `mode` (`rust/helpers.c`). Takes a `struct file *` as `c_void` (its bindgen
    /// type is not FFI-safe).
    fn pagearena_file_size(file: *mut c_void, mode: *mut u32, magic: *mut usize) -> i64;
    /// One page of a block device at byte `pos`, to or from the page at
    /// direct-map address `addr`, by a synchronous bio (`rust/helpers.c`).
    /// Returns 0 or a negative errno.
    fn pagearena_bdev_rw(file: *mut c_void, addr: *mut c_void, pos: u64, write: bool) -> i32;
}

/// Fewest slots a store may have: 64 pages (256 KiB).
pub const MIN_SLOTS: usize = 64;

/// Most slots: slot numbers must fit a page-table entry's 32-bit payload
/// (and the map is allocated at load).
pub const MAX_SLOTS: usize = 1 << 24;

/// File systems (`s_magic`) whose buffered reads take no lock that a
/// `read()` into arena memory could hold while it faults: tmpfs (0x01021994)
/// and ext2/3/4 (0xEF53). Others (XFS, NFS) take their inode lock shared
/// across the copy, so a swap-in from a fault could deadlock against a
/// pageout waiting to write.
const LOCK_FREE_READS: [usize; 2] = [0x0102_1994, 0xEF53];

/// Test-only faults of the store (`selftest_swap_fail`,
/// `selftest_swap_delay_ms`): failing reads or writes with `EIO`, and
/// delaying reads, so the error paths and the "no lock across I/O" rule
/// can be tested.
#[derive(Clone, Copy, Default)]
pub struct Inject {
    /// Every read fails.
    pub fail_reads: bool,
    /// Every write fails.
    pub fail_writes: bool,
    /// Every read sleeps this long first.
    pub read_delay_ms: u32,
}

/// The open backing store.
///
/// # Invariants
///
/// `file` is a file we opened with `filp_open` for reading and writing, a
/// block device or a regular file of at least `slots` pages; we hold its one
/// reference until drop.
pub struct SwapFile {
    file: NonNull<bindings::file>,
    slots: usize,
    block: bool,
    path: &'static CStr,
    inject: Inject,
}

// SAFETY: A `struct file` may be read, written and closed from any thread;
// `SwapFile` only does that.
unsafe impl Send for SwapFile {}
// SAFETY: `kernel_read`/`kernel_write` with a private position may run
// concurrently on one file.
unsafe impl Sync for SwapFile {}

impl SwapFile {
    /// Opens the store `swap_path` names, if it names one. A store that
    /// cannot be used fails the load, saying which and why.
    pub fn from_module_param(inject: Inject) -> Result<Option<Self>> {
        // SAFETY: The parameter is set before init and only read after.
        let p = unsafe { pagearena_swap_path() };
        if p.is_null() {
            return Ok(None);
        }
        // SAFETY: A charp parameter is a NUL-terminated string that lives as
        // long as the module: it is freed after `exit`, and its permission
        // (0444) lets no one replace (and free) it while loaded.
        let path = unsafe { CStr::from_char_ptr(p) };
        if path.is_empty() {
            return Ok(None);
        }
        let mut store = Self::open(path)?;
        store.inject = inject;
        Ok(Some(store))
    }

    fn open(path: &'static CStr) -> Result<Self> {
        // One open: `O_EXCL` without `O_CREAT` claims a block device
        // exclusively, as `swapon` does, and means nothing for a regular
        // file; the kind and size come from the very file we keep.
        let flags = bindings::O_RDWR | bindings::O_LARGEFILE | bindings::O_EXCL;
        // SAFETY: `path` is a valid C string; `filp_open` returns a file
        // with one reference, or an error pointer.
        let raw = from_err_ptr(unsafe { bindings::filp_open(path.as_char_ptr(), flags as i32, 0) })
            .inspect_err(|e| {
                pr_err!(
                    "swap_path={:?}: cannot open it for reading and writing, exclusively ({:?})\n",
                    path,
                    e
                );
            })?;
        let file = NonNull::new(raw).ok_or(EINVAL)?;
        let (mut mode, mut magic) = (0u32, 0usize);
        // SAFETY: `file` is the file just opened.
        let size = unsafe { pagearena_file_size(file.as_ptr().cast(), &mut mode, &mut magic) };
        let close = |e: Error| {
            // SAFETY: We own the reference `filp_open` returned.
            unsafe { bindings::filp_close(file.as_ptr(), core::ptr::null_mut()) };
            e
        };
        let kind = mode & bindings::S_IFMT;
        if kind == bindings::S_IFREG && !LOCK_FREE_READS.contains(&magic) {
            pr_err!(
                "swap_path={:?}: a file on a file system whose reads may take locks a fault must not (use tmpfs, ext4, or a block device)\n",
                path
            );
            return Err(close(EINVAL));
        }
        if kind != bindings::S_IFREG && kind != bindings::S_IFBLK {
            pr_err!(
                "swap_path={:?}: not a block device or a regular file\n",
                path
            );
            return Err(close(EINVAL));
        }
        Self::finish(path, file, size, kind == bindings::S_IFBLK)
    }

    fn finish(
        path: &'static CStr,
        file: NonNull<bindings::file>,
        size: i64,
        block: bool,
    ) -> Result<Self> {
        let slots = (usize::try_from(size).unwrap_or(0) / PAGE_SIZE).min(MAX_SLOTS);
        if slots < MIN_SLOTS {
            pr_err!(
                "swap_path={:?}: {} bytes, too small: at least {} pages\n",
                path,
                size,
                MIN_SLOTS
            );
            // SAFETY: We own the reference.
            unsafe { bindings::filp_close(file.as_ptr(), core::ptr::null_mut()) };
            return Err(EINVAL);
        }
        pr_info!(
            "swap: {:?}, {} {} slots\n",
            path,
            if block { "block device," } else { "file," },
            slots
        );
        // INVARIANT: opened for reading and writing, of `slots` pages.
        Ok(Self {
            file,
            slots,
            block,
            path,
            inject: Inject::default(),
        })
    }

    /// The store's path, as `swap_path` gave it.
    pub fn path(&self) -> &'static str {
        self.path.to_str().unwrap_or("?")
    }

    /// Slots in the store.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Reads slot `slot` into frame `pfn` of `mem`, which the caller holds
    /// alone (a new frame no page table maps yet). `EIO` on a short read.
    pub fn read(&self, mem: &KernelFrames, pfn: Pfn, slot: u32) -> Result {
        if self.inject.read_delay_ms > 0 {
            // SAFETY: `msleep` may be called from any sleepable context; the
            // callers hold no spinlock and no space mutex (module doc).
            unsafe { bindings::msleep(self.inject.read_delay_ms) };
        }
        if self.inject.fail_reads {
            return Err(EIO);
        }
        self.rw(mem, pfn, slot, false)
    }

    /// Writes frame `pfn` of `mem` to slot `slot`. The frame is pinned by
    /// the caller (reclaim) and under writeback: every entry that maps it is
    /// write-protected and its writable PTEs are zapped, and a write fault
    /// (or an `access` write) copies it rather than writing it in place, so
    /// its contents are stable while the write runs (as a device that needs
    /// stable pages wants). `EIO` on a short write.
    pub fn write(&self, mem: &KernelFrames, pfn: Pfn, slot: u32) -> Result {
        if self.inject.fail_writes {
            return Err(EIO);
        }
        self.rw(mem, pfn, slot, true)
    }

    /// Whether the store is a block device (else a regular file): written by bio, without the
    /// file system's locks, so a faulting task may write to it (direct
    /// reclaim); a regular file is written by `kernel_write`, which takes
    /// the file's locks, which a task faulting inside a `write()` to the
    /// same file system may hold.
    pub fn is_block(&self) -> bool {
        self.block
    }

    /// One page between frame `pfn` and slot `slot`: by a bio for a block
    /// device, by `kernel_read`/`kernel_write` for a file.
    fn rw(&self, mem: &KernelFrames, pfn: Pfn, slot: u32, write: bool) -> Result {
        let buf = mem.virt(pfn.addr()).ok_or(EINVAL)?;
        let mut pos = self.offset(slot)?;
        if self.block {
            return self.bdev_rw(buf, pos, write);
        }
        // SAFETY: `file` is open for reading and writing (type invariant);
        // `buf` is a whole frame of the arena's own pages, allocated for the
        // call: for a read the caller holds it alone, so nothing else touches
        // it meanwhile; for a write it is pinned and under writeback, so
        // nothing writes it (see `write`), and `kernel_write` only reads it.
        let n = unsafe {
            if write {
                bindings::kernel_write(
                    self.file.as_ptr(),
                    buf.cast_const().cast(),
                    PAGE_SIZE,
                    &mut pos,
                )
            } else {
                bindings::kernel_read(self.file.as_ptr(), buf.cast(), PAGE_SIZE, &mut pos)
            }
        };
        if n == PAGE_SIZE as isize {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// A bio to or from the block device for the page at `buf`.
    fn bdev_rw(&self, buf: *mut u8, pos: bindings::loff_t, write: bool) -> Result {
        let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
        // SAFETY: `file` is an open block device (type invariant, `block`);
        // `buf` is a whole arena frame in the direct map (an order-0 page of
        // an `alloc_pages` block: `virt_to_page` gives its `struct page`,
        // which the bio only uses for the duration of the call), which the
        // callers of `read` and `write` hold (see there); the bio completes
        // before the call returns.
        let r = unsafe { pagearena_bdev_rw(self.file.as_ptr().cast(), buf.cast(), pos, write) };
        if r == 0 {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    fn offset(&self, slot: u32) -> Result<bindings::loff_t> {
        if slot as usize >= self.slots {
            return Err(EINVAL);
        }
        Ok(bindings::loff_t::from(slot) * PAGE_SIZE as bindings::loff_t)
    }
}

impl Drop for SwapFile {
    fn drop(&mut self) {
        // SAFETY: We own the file's reference (type invariant); closed once.
        unsafe { bindings::filp_close(self.file.as_ptr(), core::ptr::null_mut()) };
    }
}

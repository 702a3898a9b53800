// SPDX-License-Identifier: GPL-2.0

//! A safe abstraction for `struct vm_operations_struct`: the `open`, `close`,
//! `fault`, `pfn_mkwrite` and `access` callbacks of a VMA whose pages a
//! driver provides itself (`VM_PFNMAP`), with per-VMA data in
//! `vm_private_data`.
//!
//! Rust-for-Linux has no such abstraction yet (C header:
//! `include/linux/mm.h`; callers in `mm/memory.c` and `mm/vma.c`). The shape
//! follows `rust/kernel/miscdevice.rs`: a trait with one function per callback,
//! and a `static` table built from it at compile time.
//!
//! - [`VmOperations`] is the trait a driver implements.
//! - [`VmOpsTable::build`] makes the C table; [`install`] puts it and the VMA's
//!   data on a VMA that is being created by `f_ops->mmap`.
//! - [`VmFault`] is the `struct vm_fault` of one fault, answered by making
//!   the PTEs of a [`PteBatch`] of page frame numbers in one go
//!   ([`VmFault::insert`]: `vmf_insert_pfn` for several pages at once,
//!   without its per-page memory-type lookup).
//!
//! Lifetime of the per-VMA data: [`install`] stores one owned
//! [`ForeignOwnable`] in `vm_private_data`. When the kernel duplicates the VMA
//! (`fork`, a split by `munmap`/`mprotect`, a move by `mremap`) it copies the
//! pointer and calls `open` on the copy: [`VmOperations::open`] returns the
//! data the copy owns (usually a new reference to the same object), which
//! replaces the copied pointer. `close` runs once per VMA and gets the data
//! back by value. So every VMA owns at most one `Data` (none if `open`
//! returned `None`).

use core::{ffi::c_void, marker::PhantomData};
use kernel::{
    bindings,
    error::Result,
    mm::virt::{flags, VmaNew, VmaRef},
    types::ForeignOwnable,
};

extern "C" {
    /// `vm_flags_set()` (static inline in C), from `rust/helpers.c`. Takes a
    /// `struct vm_area_struct *` (as `c_void`: its bindgen type is not
    /// FFI-safe).
    fn pagearena_vm_flags_set(vma: *mut c_void, flags: bindings::vm_flags_t);
    /// Makes the PTEs of a [`PteBatch`] (`apply_to_page_range` with a
    /// callback), from `rust/helpers.c`: `nr` pages from `start`, page `i`
    /// mapping `pfns[i] >> 1`, writable if bit 0 is set, none if 0. 0,
    /// `-ENOMEM` (no page table) or `-EINVAL` (a huge or bad entry).
    fn pagearena_insert_pfns(
        vma: *mut c_void,
        start: core::ffi::c_ulong,
        nr: core::ffi::c_ulong,
        pfns: *const core::ffi::c_ulong,
    ) -> core::ffi::c_int;
}

/// A VMA that `vm_ops->open` is setting up: a new copy of a VMA (by `fork`,
/// a split, `mremap`), with its mm's mmap lock held for writing.
///
/// # Invariants
///
/// `vma` is the VMA passed to `vm_ops->open`, valid and write-locked (mmap
/// write lock) for as long as `self` lives.
pub struct VmaOpen {
    vma: *mut bindings::vm_area_struct,
}

impl VmaOpen {
    /// The VMA.
    pub fn vma(&self) -> &VmaRef {
        // SAFETY: Valid and write-locked (type invariant), which is more than
        // the read lock `VmaRef` needs.
        unsafe { VmaRef::from_raw(self.vma) }
    }

    /// Sets `VM_WIPEONFORK` on the VMA. On a child's VMA (`dup_mmap` calls
    /// `open` before `copy_page_range`, and copies only if the child's VMA
    /// lacks the flag) this keeps the parent's PTEs out of the child, whatever
    /// `madvise(MADV_KEEPONFORK)` did to the parent's VMA.
    pub fn set_wipeonfork(&self) {
        // SAFETY: The VMA is valid and its mm's mmap lock is held for writing
        // (type invariant), which `vm_flags_set` needs. It also takes the
        // VMA's write lock: already held for a `dup_mmap` child, and free to
        // take on the detached copy of a split or `copy_vma`.
        // `VM_WIPEONFORK` changes nothing `vmf_insert_pfn*` checks.
        unsafe { pagearena_vm_flags_set(self.vma.cast(), flags::WIPEONFORK) };
    }
}

/// The buffer of a `vm_ops->access` call (a debugger or `/proc/PID/mem`
/// reading or writing the VMA's memory).
pub enum AccessBuf<'a> {
    /// Read the VMA's memory into this buffer.
    Read(&'a mut [u8]),
    /// Write this buffer into the VMA's memory.
    Write(&'a [u8]),
}

impl AccessBuf<'_> {
    /// Bytes to move.
    pub fn len(&self) -> usize {
        match self {
            AccessBuf::Read(b) => b.len(),
            AccessBuf::Write(b) => b.len(),
        }
    }

    /// Whether there is nothing to move.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a fault handler tells the kernel (`vm_fault_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmFaultReason(bindings::vm_fault_t);

impl VmFaultReason {
    /// The handler installed the PTE itself; the access is retried
    /// (`VM_FAULT_NOPAGE`).
    pub const NOPAGE: Self = Self(bindings::vm_fault_reason_VM_FAULT_NOPAGE);
    /// The access cannot be satisfied: the task gets `SIGBUS` (`VM_FAULT_SIGBUS`).
    pub const SIGBUS: Self = Self(bindings::vm_fault_reason_VM_FAULT_SIGBUS);
    /// No memory for a page table: the kernel's OOM handling runs
    /// (`VM_FAULT_OOM`).
    pub const OOM: Self = Self(bindings::vm_fault_reason_VM_FAULT_OOM);
    /// From `pfn_mkwrite` only: the kernel makes the existing PTE writable
    /// (`0`, then `finish_mkwrite_fault`). It does so after the handler
    /// returned, checking only that the PTE is the same: a driver whose
    /// decision can be invalidated meanwhile (a COW snapshot) must instead
    /// zap and re-insert the PTE itself and return [`VmFaultReason::NOPAGE`].
    pub const MKWRITE: Self = Self(0);

    /// The raw value returned to the kernel.
    pub fn as_raw(self) -> bindings::vm_fault_t {
        self.0
    }
}

/// The per-VMA callbacks of a driver's mappings.
pub trait VmOperations: 'static {
    /// The data each VMA owns, stored in `vm_private_data`.
    type Data: ForeignOwnable + Send + Sync;

    /// Whether `fault` and `pfn_mkwrite` can run under the per-VMA read lock
    /// alone, without the mmap lock. The kernel only lets a file VMA's fault
    /// handler run that way if `vm_ops->map_pages` is set
    /// (`vmf_can_call_fault` in `mm/memory.c`); otherwise every fault is first
    /// tried under the VMA lock, retried (`VM_FAULT_RETRY`) and run again
    /// under the mmap lock. With this set the table gets a `map_pages` that
    /// maps nothing (fault-around then falls through to `fault`).
    const FAULT_UNDER_VMA_LOCK: bool = false;

    /// `vma` is a new copy of a VMA whose data is `data` (`fork`, split,
    /// `mremap`). Returns the data the copy owns, or `None` if there is none
    /// to give it (for example when an allocation failed: `open` cannot fail,
    /// so faults on such a VMA then see no data).
    fn open(
        vma: &VmaOpen,
        data: <Self::Data as ForeignOwnable>::Borrowed<'_>,
    ) -> Option<Self::Data>;

    /// `vma` goes away; its data is handed back.
    fn close(_vma: &VmaRef, data: Self::Data) {
        drop(data);
    }

    /// A page of the VMA has no PTE (`vm_ops->fault`).
    fn fault(data: <Self::Data as ForeignOwnable>::Borrowed<'_>, vmf: &VmFault) -> VmFaultReason;

    /// A write hit a present, read-only PTE of a shared `VM_PFNMAP` VMA
    /// (`vm_ops->pfn_mkwrite`; write-notify). Return [`VmFaultReason::MKWRITE`]
    /// to have the kernel make that PTE writable, or install another PTE and
    /// return [`VmFaultReason::NOPAGE`].
    fn pfn_mkwrite(
        data: <Self::Data as ForeignOwnable>::Borrowed<'_>,
        vmf: &VmFault,
    ) -> VmFaultReason;

    /// Another process (ptrace, `/proc/PID/mem`, `access_process_vm`) reads
    /// or writes the VMA's memory at `addr`, within one page, because
    /// `get_user_pages` cannot reach `VM_PFNMAP` memory (`vm_ops->access`,
    /// as `generic_access_phys` does for `/dev/mem`). Returns the bytes moved.
    fn access(
        data: <Self::Data as ForeignOwnable>::Borrowed<'_>,
        vma: &VmaRef,
        addr: usize,
        buf: AccessBuf<'_>,
    ) -> Result<usize>;
}

/// The C table of a [`VmOperations`] implementation.
pub struct VmOpsTable<T: VmOperations> {
    table: bindings::vm_operations_struct,
    _t: PhantomData<T>,
}

// SAFETY: The table is immutable after it is built; it holds only function
// pointers (and nulls), which may be shared between threads.
unsafe impl<T: VmOperations> Sync for VmOpsTable<T> {}

impl<T: VmOperations> VmOpsTable<T> {
    /// Builds the table (meant for a `static`).
    pub const fn build() -> Self {
        let mut table: bindings::vm_operations_struct = pin_init::zeroed();
        table.open = Some(open_callback::<T>);
        table.close = Some(close_callback::<T>);
        table.fault = Some(fault_callback::<T>);
        table.pfn_mkwrite = Some(pfn_mkwrite_callback::<T>);
        table.access = Some(access_callback::<T>);
        if T::FAULT_UNDER_VMA_LOCK {
            table.map_pages = Some(map_pages_nothing);
        }
        Self {
            table,
            _t: PhantomData,
        }
    }
}

/// The VMA flags [`install`] may add besides `VM_PFNMAP`: none of them can
/// make the VMA one that `vmf_insert_pfn*` refuses.
pub const INSTALL_EXTRA_FLAGS: bindings::vm_flags_t = flags::DONTEXPAND
    | flags::DONTDUMP
    | flags::DONTCOPY
    | flags::WIPEONFORK
    | flags::IO
    | flags::NORESERVE;

/// Whether a VMA with `vm_flags` is a shared mapping that `vmf_insert_pfn*`
/// accept with `VM_PFNMAP`: `VM_SHARED`, or `VM_MAYSHARE` without
/// `VM_MAYWRITE` (a `MAP_SHARED` mapping of a file opened read-only, whose
/// `VM_SHARED` the kernel clears). Anything else is a COW mapping
/// (`is_cow_mapping`), on which they `BUG()`.
pub fn is_shared_mapping(vm_flags: bindings::vm_flags_t) -> bool {
    vm_flags & flags::SHARED != 0
        || (vm_flags & flags::MAYSHARE != 0 && vm_flags & flags::MAYWRITE == 0)
}

/// Sets up `vma`, being created by `f_ops->mmap`, as a shared `VM_PFNMAP`
/// mapping run by `ops`, owning `data`, with `extra` VMA flags added (a
/// subset of [`INSTALL_EXTRA_FLAGS`]).
///
/// The VMA must be a shared mapping ([`is_shared_mapping`]; `vmf_insert_pfn*`
/// `BUG()`s on a COW mapping with `VM_PFNMAP`) and not `VM_MIXEDMAP`, and
/// `extra` must be in [`INSTALL_EXTRA_FLAGS`]: otherwise this returns `data`
/// back as the error, having changed nothing.
pub fn install<T: VmOperations>(
    vma: &VmaNew,
    ops: &'static VmOpsTable<T>,
    data: T::Data,
    extra: bindings::vm_flags_t,
) -> Result<(), T::Data> {
    if !is_shared_mapping(vma.flags()) || extra & !INSTALL_EXTRA_FLAGS != 0 {
        return Err(data);
    }
    let raw = vma.as_ptr();
    // `VM_PFNMAP` is valid on a shared mapping without `VM_MIXEDMAP`
    // (checked just above and below; `extra` cannot add either). The table
    // is `'static`, and `vm_private_data` owns `data` from here until
    // `close`.
    // SAFETY: `vma` is in initial setup in `f_ops->mmap` (`VmaNew`'s
    // invariant): nothing else accesses these fields concurrently.
    unsafe {
        if (*raw).__bindgen_anon_2.vm_flags & flags::MIXEDMAP != 0 {
            return Err(data);
        }
        (*raw).__bindgen_anon_2.vm_flags |= flags::PFNMAP | extra;
        (*raw).vm_ops = &ops.table;
        (*raw).vm_private_data = data.into_foreign();
    }
    Ok(())
}

/// Sets a VMA's page offset (`vm_pgoff`) while it is being created, before it
/// is linked into the file's reverse map: how a driver places a mapping in its
/// own offset space.
pub fn set_pgoff(vma: &VmaNew, pgoff: usize) {
    // SAFETY: `vma` is undergoing initial setup in `f_ops->mmap` (the
    // invariant of `VmaNew`): it is not yet in the file's `i_mmap` tree, which
    // is keyed by `vm_pgoff`, and no one else accesses it.
    unsafe { (*vma.as_ptr()).vm_pgoff = pgoff };
}

/// The page offset (`vm_pgoff`) of a VMA.
pub fn pgoff(vma: &VmaRef) -> usize {
    // SAFETY: The caller of any `VmaRef` method holds the mmap or VMA read
    // lock (type invariant), under which `vm_pgoff` does not change.
    unsafe { (*vma.as_ptr()).vm_pgoff }
}

/// One page fault (`struct vm_fault`), as seen by `fault` and `pfn_mkwrite`.
///
/// # Invariants
///
/// `vmf` points at the `struct vm_fault` of a fault in progress on a VMA run
/// by a [`VmOpsTable`] (so a shared `VM_PFNMAP` VMA, see [`install`]); the
/// mmap or VMA read lock is held for as long as `self` lives.
pub struct VmFault {
    vmf: *mut bindings::vm_fault,
}

impl VmFault {
    /// The faulting VMA.
    pub fn vma(&self) -> &VmaRef {
        // SAFETY: By the type invariant the fault's VMA is valid and read-locked
        // while `self` lives.
        unsafe { VmaRef::from_raw((*self.vmf).__bindgen_anon_1.vma) }
    }

    /// The page-aligned faulting address.
    pub fn address(&self) -> usize {
        // SAFETY: `vmf` is valid (type invariant); the field is not written
        // during the callback.
        unsafe { (*self.vmf).__bindgen_anon_1.address }
    }

    /// The page offset of the faulting address in the VMA's file
    /// (`vm_pgoff` + page index in the VMA).
    pub fn pgoff(&self) -> usize {
        // SAFETY: As in `address`.
        unsafe { (*self.vmf).__bindgen_anon_1.pgoff }
    }

    /// Whether the access is a write.
    pub fn is_write(&self) -> bool {
        // SAFETY: As in `address`.
        let f = unsafe { (*self.vmf).flags };
        f & bindings::fault_flag_FAULT_FLAG_WRITE != 0
    }

    /// Makes the PTEs of `batch` in the faulting VMA, under one page-table
    /// lock per page-table page: each page maps its frame writable (if the
    /// VMA allows writing) or with the VMA's page protection, which is
    /// read-only under write-notify (the first write then calls
    /// `pfn_mkwrite`). A page that already has a PTE keeps it, as with
    /// `vmf_insert_pfn`. `SIGBUS` if a page of the batch is outside the VMA
    /// (nothing is mapped), `OOM` if a page table could not be allocated
    /// (the pages before it are mapped), `SIGBUS` if the walk met a huge or
    /// bad entry.
    ///
    /// # Safety
    ///
    /// Every frame in `batch` must be RAM the caller owns, that it never
    /// gave a memory type (`set_memory_*`), and stay allocated, not handed
    /// to anyone else, until every PTE that maps it has been zapped.
    pub unsafe fn insert(&self, batch: &PteBatch) -> VmFaultReason {
        let Some(last) = batch.last else {
            return VmFaultReason::NOPAGE;
        };
        let vma = self.vma();
        let end = batch.start + (last + 1) * kernel::page::PAGE_SIZE;
        if batch.start < vma.start() || end > vma.end() {
            return VmFaultReason::SIGBUS;
        }
        // SAFETY: The VMA is a shared `VM_PFNMAP` VMA without `VM_MIXEDMAP`
        // (type invariant: `install` checked it), so a special PTE is what
        // its pages must have (`vm_normal_page` takes no page from them and
        // a COW mapping's rules for `vm_pgoff` do not apply). Nothing a user
        // does can change that: `mprotect` sets `VM_WRITE` only within
        // `VM_MAYWRITE` and never touches `VM_SHARED`, `VM_MAYSHARE` or
        // `VM_PFNMAP`; `madvise` changes none of them (`MADV_DOFORK` and
        // `MADV_DODUMP` are refused on `VM_SPECIAL`, no huge PMD can appear
        // in a `VM_PFNMAP` VMA); splits, moves and forks copy the flags. The
        // fault holds the mmap or VMA read lock (type invariant), so the
        // VMA and its page tables stay while the helper walks them, and the
        // range was checked to lie in the VMA just above. `batch.pfns`
        // holds `PteBatch::MAX` entries, more than `last`. The memory type
        // `vmf_insert_pfn` would look up is WB for every frame (the
        // caller's guarantee), the one the protections hold; the frames'
        // lifetime is the caller's guarantee.
        let r = unsafe {
            pagearena_insert_pfns(
                vma.as_ptr().cast(),
                batch.start as core::ffi::c_ulong,
                (last + 1) as core::ffi::c_ulong,
                batch.pfns.as_ptr(),
            )
        };
        match r {
            0 => VmFaultReason::NOPAGE,
            r if r == -(bindings::ENOMEM as core::ffi::c_int) => VmFaultReason::OOM,
            // `-EINVAL`: a huge or bad entry where a page table should be
            // (the walk warned).
            _ => VmFaultReason::SIGBUS,
        }
    }
}

/// PTEs to make at once in a fault's VMA ([`VmFault::insert`]): for each of
/// up to [`PteBatch::MAX`] consecutive pages from a first address, a frame
/// to map (writable or not), or nothing (the page is left as it is).
pub struct PteBatch {
    start: usize,
    /// The last page given a frame, if any.
    last: Option<usize>,
    /// Per page: kernel pfn << 1 | writable; 0 for nothing.
    pfns: [core::ffi::c_ulong; PteBatch::MAX],
}

impl PteBatch {
    /// Pages a batch spans.
    pub const MAX: usize = 32;

    /// An empty batch spanning the pages from `start` (rounded down to a page).
    pub fn new(start: usize) -> Self {
        Self {
            start: start & !(kernel::page::PAGE_SIZE - 1),
            last: None,
            pfns: [0; Self::MAX],
        }
    }

    /// Sets page `addr` to map kernel pfn `pfn` (never 0: not RAM a driver
    /// owns); `false`, with nothing set, if `addr` is outside the batch's
    /// span.
    pub fn add(&mut self, addr: usize, pfn: usize, writable: bool) -> bool {
        let i = match addr.checked_sub(self.start) {
            Some(d) if d / kernel::page::PAGE_SIZE < Self::MAX => d / kernel::page::PAGE_SIZE,
            _ => return false,
        };
        self.pfns[i] = ((pfn as core::ffi::c_ulong) << 1) | core::ffi::c_ulong::from(writable);
        self.last = Some(self.last.map_or(i, |l| l.max(i)));
        true
    }
}

/// The data of `vma` if `table` runs it (its `vm_ops` is `table`), else
/// `None`: how a VMA found by address, another process's say, is known to
/// be one of ours. The borrow lasts as long as the `VmaRef`.
pub fn data_of<'a, T: VmOperations>(
    table: &'static VmOpsTable<T>,
    vma: &'a VmaRef,
) -> Option<<T::Data as ForeignOwnable>::Borrowed<'a>> {
    // SAFETY: A `VmaRef` is a valid VMA whose mmap (or VMA) read lock is
    // held for its lifetime (its type invariant), under which `vm_ops` does
    // not change.
    let ops = unsafe { (*vma.as_ptr()).vm_ops };
    if !core::ptr::eq(ops, &table.table) {
        return None;
    }
    // SAFETY: `vma` is valid (as above) and run by `T`'s table.
    let ptr = unsafe { private(vma.as_ptr()) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: The VMA owns `T::Data` behind `ptr` (set by `install` or
    // `open_callback`) until `close_callback` takes it back (clearing the
    // pointer first). A VMA we can reach, in its mm's tree under the mmap
    // read lock (or its VMA lock), is not closed while we hold that lock:
    // munmap detaches VMAs from the tree under the write lock (and
    // `vma_start_write`, which waits for VMA-lock readers) before it may
    // downgrade and close them, so `vma_lookup` cannot return those;
    // `exit_mmap` needs `mm_users` at 0 and the write lock; and a VMA closed
    // and put back by an aborted munmap has `vma_dummy_vm_ops`, which fails
    // the comparison above (which is also what makes it sound: only
    // `T`'s table points at `table`). So the data outlives the borrow,
    // which lasts as long as `vma`.
    Some(unsafe { T::Data::borrow(ptr) })
}

/// The VMA's data pointer.
///
/// # Safety
///
/// `vma` must be valid and run by a [`VmOpsTable`] of `T`.
unsafe fn private(vma: *const bindings::vm_area_struct) -> *mut c_void {
    // SAFETY: The caller guarantees `vma` is valid.
    unsafe { (*vma).vm_private_data }
}

/// # Safety
///
/// Called by the kernel only, on a copy of a VMA run by `T`'s table, with the
/// mmap write lock held.
unsafe extern "C" fn open_callback<T: VmOperations>(vma: *mut bindings::vm_area_struct) {
    // INVARIANT: The kernel calls `open` with a valid VMA, under its mm's
    // mmap write lock, held for the whole call.
    let vopen = VmaOpen { vma };
    // SAFETY: `vma` is run by `T`'s table (callers' guarantee).
    let ptr = unsafe { private(vma) };
    let new = if ptr.is_null() {
        // A VMA without data faults nothing in, so it has no PTEs; keep it so
        // in any child.
        vopen.set_wipeonfork();
        None
    } else {
        // SAFETY: The copied pointer is the data of the VMA this one was copied
        // from, which is alive: the kernel holds its mmap lock and has not
        // closed it. We only borrow it.
        T::open(&vopen, unsafe { T::Data::borrow(ptr) })
    };
    // SAFETY: No fault or `access` can see the copy yet: a `dup_mmap` child
    // belongs to an mm no task runs in, and the copies of a split or
    // `copy_vma` (mremap) are not yet in their mm's tree (and `dup_mmap` has
    // write-locked the child's VMA too). So this write races with nothing.
    // From here the copy owns its own data.
    unsafe {
        (*vma).vm_private_data = match new {
            Some(d) => d.into_foreign(),
            None => core::ptr::null_mut(),
        };
    }
}

/// # Safety
///
/// Called by the kernel only, once, when a VMA run by `T`'s table goes away.
unsafe extern "C" fn close_callback<T: VmOperations>(vma: *mut bindings::vm_area_struct) {
    // SAFETY: The kernel calls `close` with a valid VMA that it still holds.
    let vref = unsafe { VmaRef::from_raw(vma) };
    // SAFETY: `vma` is run by `T`'s table.
    let ptr = unsafe { private(vma) };
    if ptr.is_null() {
        return;
    }
    // SAFETY: Every VMA owns the data in its `vm_private_data` (set by
    // `install` or `open_callback`), and `close` runs once per VMA, so the
    // ownership is taken back exactly once. The pointer is cleared so nothing
    // can see it afterwards.
    let data = unsafe {
        (*vma).vm_private_data = core::ptr::null_mut();
        T::Data::from_foreign(ptr)
    };
    T::close(vref, data);
}

/// Runs `handler` for the fault `vmf` with the VMA's data (`SIGBUS` if the
/// VMA has none).
///
/// # Safety
///
/// `vmf` is a fault in progress on a VMA run by `T`'s table, with the mmap or
/// VMA read lock held.
unsafe fn with_fault<T: VmOperations>(
    vmf: *mut bindings::vm_fault,
    handler: fn(<T::Data as ForeignOwnable>::Borrowed<'_>, &VmFault) -> VmFaultReason,
) -> bindings::vm_fault_t {
    // INVARIANT: The caller passes the fault in progress, with the lock held,
    // on a VMA that `install` made shared and `VM_PFNMAP`.
    let fault = VmFault { vmf };
    // SAFETY: The VMA is valid and read-locked during the fault.
    let ptr = unsafe { private(fault.vma().as_ptr()) };
    if ptr.is_null() {
        return VmFaultReason::SIGBUS.as_raw();
    }
    // SAFETY: The VMA owns its data until `close`, which cannot run while the
    // fault holds the VMA's lock; we only borrow it for the call.
    handler(unsafe { T::Data::borrow(ptr) }, &fault).as_raw()
}

/// # Safety
///
/// Called by the kernel only, for a fault on a VMA run by `T`'s table, with
/// the mmap or VMA read lock held.
unsafe extern "C" fn fault_callback<T: VmOperations>(
    vmf: *mut bindings::vm_fault,
) -> bindings::vm_fault_t {
    // SAFETY: The kernel's guarantees for `fault` are `with_fault`'s.
    unsafe { with_fault::<T>(vmf, T::fault) }
}

/// # Safety
///
/// As for [`fault_callback`].
unsafe extern "C" fn pfn_mkwrite_callback<T: VmOperations>(
    vmf: *mut bindings::vm_fault,
) -> bindings::vm_fault_t {
    // SAFETY: The kernel's guarantees for `pfn_mkwrite` are `with_fault`'s.
    unsafe { with_fault::<T>(vmf, T::pfn_mkwrite) }
}

/// A `map_pages` that maps nothing: fault-around finds no page ready, and the
/// fault goes to `fault`. Its presence tells the kernel that `fault` may run
/// under the per-VMA lock ([`VmOperations::FAULT_UNDER_VMA_LOCK`]).
///
/// # Safety
///
/// Called by the kernel only; it touches nothing.
unsafe extern "C" fn map_pages_nothing(
    _vmf: *mut bindings::vm_fault,
    _start: usize,
    _end: usize,
) -> bindings::vm_fault_t {
    0
}

/// # Safety
///
/// Called by the kernel only (`__access_remote_vm`), for a VMA run by `T`'s
/// table that it found at `addr` under the VMA's mm's mmap read lock, held
/// across the call, with `buf` valid for `len` bytes. `len` is what is left
/// of the whole request, which may cross pages and the VMA's end: the
/// handler moves at most what is left of `addr`'s page.
unsafe extern "C" fn access_callback<T: VmOperations>(
    vma: *mut bindings::vm_area_struct,
    addr: usize,
    buf: *mut c_void,
    len: core::ffi::c_int,
    write: core::ffi::c_int,
) -> core::ffi::c_int {
    let Ok(len) = usize::try_from(len) else {
        return kernel::error::code::EINVAL.to_errno();
    };
    if buf.is_null() || len == 0 {
        return 0;
    }
    // SAFETY: The caller holds the mmap read lock, which `VmaRef` needs.
    let vref = unsafe { VmaRef::from_raw(vma) };
    // SAFETY: `vma` is run by `T`'s table.
    let ptr = unsafe { private(vma) };
    if ptr.is_null() {
        return kernel::error::code::EIO.to_errno();
    }
    // SAFETY: `__access_remote_vm` passes its own kernel buffer, valid for
    // `len` bytes and not otherwise accessed during the call; reading fills
    // it, writing only reads it.
    let abuf = unsafe {
        if write != 0 {
            AccessBuf::Write(core::slice::from_raw_parts(buf.cast::<u8>(), len))
        } else {
            AccessBuf::Read(core::slice::from_raw_parts_mut(buf.cast::<u8>(), len))
        }
    };
    // SAFETY: The VMA owns its data until `close`. `__access_remote_vm`
    // found the VMA in its mm's tree under the mmap read lock, which it
    // holds across this call; a VMA leaves the tree only under the write
    // lock, and `close` runs only after that. We only borrow the data.
    let data = unsafe { T::Data::borrow(ptr) };
    match T::access(data, vref, addr, abuf) {
        Ok(n) => core::ffi::c_int::try_from(n).unwrap_or(0),
        Err(e) => e.to_errno(),
    }
}

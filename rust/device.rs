// SPDX-License-Identifier: GPL-2.0

//! The device: `/dev/pagearena`'s file operations (open, mmap, ioctl), those
//! of the space files the clone and new-space ioctls make (the same, and
//! fallocate), and the VMA callbacks of their mappings (open, close, fault,
//! pfn_mkwrite, access). The top layer of the module: it creates spaces
//! ([`crate::space`]), hands faults to [`crate::fault_handler`] and ioctls
//! to [`crate::ioctl`].

use crate::{
    fault_handler,
    pseudo_fs::{FileOpsTable, SpaceFileOps},
    space::{self, Space, SpaceArc, SpaceBorrow, WINDOW_PAGES},
    vm_ops::{self, AccessBuf, VmFault, VmFaultReason, VmOperations, VmOpsTable, VmaOpen},
};
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    mm::virt::{flags, VmaNew, VmaRef},
    prelude::*,
};

/// `/dev/pagearena`.
pub struct Device;

/// The file operations of `/dev/pagearena`.
#[vtable]
impl MiscDevice for Device {
    type Ptr = SpaceArc;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<SpaceArc> {
        Space::create(None, false, Some(file))
    }

    fn mmap(space: SpaceBorrow<'_>, _file: &File, vma: &VmaNew) -> Result {
        map_space(space, vma)
    }

    fn ioctl(space: SpaceBorrow<'_>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        crate::ioctl::dispatch(space, file, cmd, arg, &SPACE_VM_OPS, &SPACE_FILE_OPS)
    }

    fn release(space: SpaceArc, _file: &File) {
        release_space(&space);
    }
}

/// The space files of the clone and new-space ioctls: `/dev/pagearena`'s
/// operations, and `fallocate`.
pub static SPACE_FILE_OPS: FileOpsTable<Device> = FileOpsTable::build();

impl SpaceFileOps for Device {
    type Ptr = SpaceArc;

    fn mmap(space: SpaceBorrow<'_>, _file: &File, vma: &VmaNew) -> Result {
        map_space(space, vma)
    }

    fn ioctl(space: SpaceBorrow<'_>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        crate::ioctl::dispatch(space, file, cmd, arg, &SPACE_VM_OPS, &SPACE_FILE_OPS)
    }

    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE` discards whole pages of
    /// the space (as for a memfd, the range reads zeroes after); any other
    /// mode is `EOPNOTSUPP` (the file has no size to change, nothing to
    /// preallocate), a range not in whole pages `EINVAL` (as guest_memfd).
    /// The offsets are the space's page offsets, which are also the file
    /// offsets `MADV_REMOVE` computes from a mapping (the window of a space
    /// file starts at 0). A process that a fork-COW `fork()` gave a
    /// snapshot of this space punches its snapshot, not the parent's space.
    fn fallocate(space: SpaceBorrow<'_>, _file: &File, mode: i32, offset: i64, len: i64) -> Result {
        let punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        if mode != punch {
            return Err(EOPNOTSUPP);
        }
        let page = kernel::page::PAGE_SIZE as i64;
        if offset < 0 || len <= 0 || offset % page != 0 || len % page != 0 {
            return Err(EINVAL);
        }
        let shift = kernel::page::PAGE_SHIFT;
        let start = (offset as u64) >> shift;
        let end = start.saturating_add((len as u64) >> shift);
        let target = match kernel::current!().mm() {
            Some(mm) => Space::for_mm(space, mm.as_raw() as usize)?,
            None => space.into(),
        };
        target.punch_hole(start, end)?;
        Ok(())
    }

    fn release(space: SpaceArc, _file: &File) {
        release_space(&space);
    }
}

/// `fallocate` modes (`include/uapi/linux/falloc.h`, macros bindgen leaves
/// out).
const FALLOC_FL_KEEP_SIZE: i32 = 0x01;
/// See [`FALLOC_FL_KEEP_SIZE`].
const FALLOC_FL_PUNCH_HOLE: i32 = 0x02;

/// `mmap` of a file of `space` (the device's or a space file).
fn map_space(space: SpaceBorrow<'_>, vma: &VmaNew) -> Result {
    // `MAP_PRIVATE` would have the kernel COW into its own anonymous
    // pages. A `MAP_SHARED` mapping of a read-only fd has `VM_MAYSHARE`
    // without `VM_SHARED`: fine, it can never be written.
    if !vm_ops::is_shared_mapping(vma.flags()) {
        return Err(EINVAL);
    }
    let pgoff = vm_ops::pgoff(vma);
    let pages = (vma.end() - vma.start()) >> kernel::page::PAGE_SHIFT;
    match pgoff.checked_add(pages) {
        Some(end) if end <= WINDOW_PAGES => {}
        _ => return Err(EINVAL),
    }
    vm_ops::set_pgoff(vma, space.window.base + pgoff);
    let data: SpaceArc = space.into();
    data.add_vma(1);
    let extra = flags::DONTEXPAND | flags::DONTDUMP | flags::WIPEONFORK;
    vm_ops::install(vma, &SPACE_VM_OPS, data, extra).map_err(|d| {
        d.add_vma(-1);
        EINVAL
    })
}

/// The last reference to a file of `space` went.
fn release_space(space: &Space) {
    // A fault trace this file started stops, and its ring goes.
    crate::arena::arena().trace.release(space.id);
}

/// The VMA callbacks of every mapping of a space.
pub struct SpaceVmOps;

/// The table installed on every VMA of `/dev/pagearena`.
pub static SPACE_VM_OPS: VmOpsTable<SpaceVmOps> = VmOpsTable::build();

impl VmOperations for SpaceVmOps {
    type Data = SpaceArc;
    const FAULT_UNDER_VMA_LOCK: bool = true;

    fn open(vma: &VmaOpen, space: SpaceBorrow<'_>) -> Option<SpaceArc> {
        let mm = vma.vma().mm().as_raw() as usize;
        let forked = kernel::current!()
            .mm()
            .is_some_and(|cur| cur.as_raw() as usize != mm);
        let cow = forked && space.inner.lock().fork_cow;
        if !cow {
            // The same space (a split, an mremap, a fork in shared mode):
            // PTEs the kernel copies or moves into this VMA map frames of
            // that space, at the same offsets of its window.
            let s: SpaceArc = space.into();
            s.add_vma(1);
            return Some(s);
        }
        // A fork child's VMA of a fork-COW space maps a snapshot, never the
        // parent's frames: whatever `madvise(MADV_KEEPONFORK)` did to the
        // parent's VMA, the child's gets `VM_WIPEONFORK` back before
        // `copy_page_range` looks (frame-lifetime protocol, rule 2).
        vma.set_wipeonfork();
        match Space::fork_snapshot(space, mm) {
            Ok(s) => Some(s),
            Err(e) => {
                pr_warn!(
                    "fork: no memory for a snapshot of space {} ({:?}): the child's mapping gets SIGBUS\n",
                    space.id,
                    e
                );
                None
            }
        }
    }

    fn close(_vma: &VmaRef, space: SpaceArc) {
        space::vma_closed(&space);
    }

    fn fault(space: SpaceBorrow<'_>, vmf: &VmFault) -> VmFaultReason {
        fault_handler::handle_fault(&space, vmf, false)
    }

    fn pfn_mkwrite(space: SpaceBorrow<'_>, vmf: &VmFault) -> VmFaultReason {
        fault_handler::handle_fault(&space, vmf, true)
    }

    fn access(
        space: SpaceBorrow<'_>,
        vma: &VmaRef,
        addr: usize,
        buf: AccessBuf<'_>,
    ) -> Result<usize> {
        fault_handler::access(&space, vma, addr, buf)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Files of `/dev/pagearena` opened by the module itself (the clone ioctl's
//! new fd), the space behind a file, and the clone ioctl itself.

use crate::{
    arena::{arena, Event},
    space::{Space, SpaceArc, SpaceBorrow},
};
use core::ptr::NonNull;
use kernel::{
    bindings, error::from_err_ptr, fs::File, prelude::*, sync::aref::ARef, types::ForeignOwnable,
};

/// Opens the device again, as `open(2)` of the same path would, with `file`'s
/// access mode: a new file with a new, empty space.
pub fn reopen(file: &File) -> Result<ARef<File>> {
    let raw = file.as_ptr();
    // SAFETY: `raw` is a valid file; its `f_path` and `f_cred` are fixed for
    // its lifetime. `dentry_open` returns a new file with one reference, or
    // an error pointer.
    let new = from_err_ptr(unsafe {
        bindings::dentry_open(
            &raw const (*raw).__bindgen_anon_1.f_path,
            (file.flags() & bindings::O_ACCMODE) as i32,
            (*raw).f_cred,
        )
    })?;
    let new = NonNull::new(new.cast::<File>()).ok_or(ENOMEM)?;
    // SAFETY: We own the one reference `dentry_open` returned; `File` is a
    // transparent wrapper of `struct file`, and no `fdget_pos` region exists
    // on a file no fd refers to yet.
    Ok(unsafe { ARef::from_raw(new) })
}

/// The space of `file`, a file of `/dev/pagearena`.
pub fn space_of(file: &File) -> SpaceArc {
    // `file` is a file of our misc device (opened by `reopen` on the device's
    // own path), so `private_data` is what `crate::device`'s
    // `MiscDevice::open` returned: a `SpaceArc` (its `type Ptr`).
    // SAFETY: That `SpaceArc` lives until `release`, which cannot run while
    // we hold a reference to the file.
    let borrowed: SpaceBorrow<'_> =
        unsafe { <SpaceArc as ForeignOwnable>::borrow((*file.as_ptr()).private_data) };
    borrowed.into()
}

/// Opens a new file of the device (a new, empty space) next to `file`, with
/// its access mode, and makes its space a snapshot of `space`; returns the
/// new fd.
pub fn clone_space(space: &Space, file: &File) -> Result<isize> {
    use kernel::fs::file::FileDescriptorReservation;
    let fd = FileDescriptorReservation::get_unused_fd_flags(kernel::bindings::O_CLOEXEC)?;
    let new = reopen(file)?;
    let child = space_of(&new);
    let mut mm = space.snapshot_mm()?;
    child.install_mm(&mut mm);
    arena().count(Event::Clone);
    let nr = fd.reserved_fd();
    fd.fd_install(new);
    Ok(nr as isize)
}

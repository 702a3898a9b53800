// SPDX-License-Identifier: GPL-2.0

//! Files of `/dev/pagearena` opened by the module itself (the clone ioctl's
//! new fd), and the space behind a file.

use crate::space::{SpaceArc, SpaceBorrow};
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
    // own path), so `private_data` is what our `MiscDevice::open` returned.
    // SAFETY: That `SpaceArc` lives until `release`, which cannot run while
    // we hold a reference to the file.
    let borrowed: SpaceBorrow<'_> =
        unsafe { <SpaceArc as ForeignOwnable>::borrow((*file.as_ptr()).private_data) };
    borrowed.into()
}

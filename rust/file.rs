// SPDX-License-Identifier: GPL-2.0

//! Space files the module makes (the fds of the clone and new-space
//! ioctls: `crate::pseudo_fs`) and those two ioctls.

use crate::{
    arena::{arena, Event},
    pseudo_fs::{FileOpsTable, SpaceFileOps},
    rmap::Window,
    space::{Space, SpaceArc, WINDOW_PAGES},
};
use kernel::{
    fs::{file::FileDescriptorReservation, File},
    prelude::*,
    sync::aref::ARef,
};

/// A new space file (`crate::pseudo_fs`, with the operations `files`)
/// next to `like`, with its access mode, and its space: a new, empty space
/// in a window of its own (page offset 0 up: the file's inode is its own,
/// so is its mapping), in fork-COW mode if `fork_cow`.
pub fn new_space_file<T: SpaceFileOps<Ptr = SpaceArc>>(
    files: &'static FileOpsTable<T>,
    like: &File,
    fork_cow: bool,
) -> Result<(ARef<File>, SpaceArc)> {
    let mut space = None;
    let file = files.create_file(like, |file| {
        let s = Space::create(Some(Window::new(file, 0, WINDOW_PAGES)), fork_cow, None)?;
        space = Some(s.clone());
        Ok(s)
    })?;
    Ok((file, space.ok_or(EINVAL)?))
}

/// Makes a new space file (a new, empty space) next to `file`, with its
/// access mode, and makes its space a snapshot of `space`; returns the new
/// fd (close-on-exec).
pub fn clone_space<T: SpaceFileOps<Ptr = SpaceArc>>(
    files: &'static FileOpsTable<T>,
    space: &Space,
    file: &File,
) -> Result<isize> {
    let fd = FileDescriptorReservation::get_unused_fd_flags(kernel::bindings::O_CLOEXEC)?;
    let (new, child) = new_space_file(files, file, false)?;
    let mut mm = space.snapshot_mm()?;
    child.install_mm(&mut mm);
    arena().count(Event::Clone);
    let nr = fd.reserved_fd();
    fd.fd_install(new);
    Ok(nr as isize)
}

/// `PAGEARENA_IOC_NEW_SPACE`: a new space file (a new, empty space, in
/// fork-COW mode if `fork_cow`) next to `file`, with its access mode;
/// returns its fd (close-on-exec).
pub fn new_space<T: SpaceFileOps<Ptr = SpaceArc>>(
    files: &'static FileOpsTable<T>,
    file: &File,
    fork_cow: bool,
) -> Result<isize> {
    let fd = FileDescriptorReservation::get_unused_fd_flags(kernel::bindings::O_CLOEXEC)?;
    let (new, _) = new_space_file(files, file, fork_cow)?;
    let nr = fd.reserved_fd();
    fd.fd_install(new);
    Ok(nr as isize)
}

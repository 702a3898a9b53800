// SPDX-License-Identifier: GPL-2.0

//! Space files: files of the module's own pseudo file system (mounted
//! internally, as `mm/secretmem.c` and `virt/kvm/guest_memfd.c` mount
//! theirs), one inode each, typed as regular files. A safe abstraction of
//! the `file_operations` of such files, in the style of
//! `kernel::miscdevice` (which offers no `fallocate`, and whose files are
//! character devices, which `vfs_fallocate` refuses with `ENODEV`).
//!
//! Why files of our own: `fallocate(FALLOC_FL_PUNCH_HOLE)` on an fd and
//! `madvise(MADV_REMOVE)` on a mapping (which calls `vfs_fallocate` on the
//! mapping's file) reach the module only for a regular file; and each
//! inode's `address_space` holds its own file's VMAs alone, so the reverse
//! map of its spaces (`crate::rmap`) walks only them.
//!
//! The C side (`rust/helpers.c`) makes the inode and the file; this file
//! gives the file its private data and runs its operations.

use core::{marker::PhantomData, ptr::NonNull};
use kernel::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use kernel::{
    bindings, error::from_err_ptr, fs::File, mm::virt::VmaNew, prelude::*, sync::aref::ARef,
    types::ForeignOwnable,
};

extern "C" {
    fn pagearena_fs_mount() -> c_int;
    fn pagearena_fs_unmount();
    // `struct file_operations *` and `struct file *`, as `void *` (bindgen's
    // types hold zero-sized fields that the FFI lint refuses).
    fn pagearena_file_create(fops: *const c_void, flags: c_uint) -> *mut c_void;
}

/// The mounted pseudo file system; unmounted when dropped.
///
/// # Invariants
///
/// The file system is mounted while this lives; there is one at a time.
pub struct Mount(());

impl Mount {
    /// Mounts the pseudo file system. Once, at load.
    pub fn new() -> Result<Self> {
        // SAFETY: No precondition: called once, at load, before any space
        // file can be made (the device is registered after).
        kernel::error::to_result(unsafe { pagearena_fs_mount() })?;
        Ok(Self(()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // SAFETY: Mounted (the type invariant). No space file is left: each
        // holds a reference on the module (its `fops` owner), so the module
        // cannot be unloading while one exists, and the load that fails
        // after mounting made none (the device that makes them was not
        // registered, or is unregistered first).
        unsafe { pagearena_fs_unmount() };
    }
}

/// The operations of a space file.
pub trait SpaceFileOps: Sized + 'static {
    /// The file's data (its `private_data`).
    type Ptr: ForeignOwnable + Send + Sync;

    /// `mmap` of the file.
    fn mmap(data: <Self::Ptr as ForeignOwnable>::Borrowed<'_>, file: &File, vma: &VmaNew)
        -> Result;

    /// `ioctl` of the file.
    fn ioctl(
        data: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;

    /// `fallocate` of the file (the VFS checked the file is writable and
    /// `offset >= 0`, `len > 0`, `offset + len` in range).
    fn fallocate(
        data: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        mode: i32,
        offset: i64,
        len: i64,
    ) -> Result;

    /// The last reference to the file went.
    fn release(data: Self::Ptr, file: &File);
}

/// The `file_operations` of the space files of `T`.
pub struct FileOpsTable<T: SpaceFileOps> {
    table: bindings::file_operations,
    _t: PhantomData<T>,
}

// SAFETY: The table is immutable, and its functions may be called from any
// thread.
unsafe impl<T: SpaceFileOps> Sync for FileOpsTable<T> {}

impl<T: SpaceFileOps> FileOpsTable<T> {
    /// The table; its owner is this module.
    pub const fn build() -> Self {
        Self {
            table: bindings::file_operations {
                owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
                release: Some(release_callback::<T>),
                mmap: Some(mmap_callback::<T>),
                unlocked_ioctl: Some(ioctl_callback::<T>),
                #[cfg(CONFIG_COMPAT)]
                compat_ioctl: bindings::compat_ptr_ioctl,
                fallocate: Some(fallocate_callback::<T>),
                ..pin_init::zeroed()
            },
            _t: PhantomData,
        }
    }

    /// A new space file, open for `like`'s access mode, whose data `data`
    /// makes: it is given the file (to find its `address_space`) before any
    /// fd or VMA refers to it.
    pub fn create_file(
        &'static self,
        like: &File,
        data: impl FnOnce(&File) -> Result<T::Ptr>,
    ) -> Result<ARef<File>> {
        // SAFETY: `self.table` is a `'static` table of this module; the
        // helper takes a reference on its owner for the file.
        let raw = from_err_ptr(unsafe {
            pagearena_file_create(
                core::ptr::from_ref(&self.table).cast(),
                like.flags() & bindings::O_ACCMODE,
            )
        })?;
        let raw = NonNull::new(raw.cast::<File>()).ok_or(ENOMEM)?;
        // SAFETY: We own the one reference the helper returned; `File` is a
        // transparent wrapper of `struct file`, and no `fdget_pos` region
        // exists on a file no fd refers to yet.
        let file: ARef<File> = unsafe { ARef::from_raw(raw) };
        // On an error the file goes with `file`: its release sees a null
        // `private_data` and does nothing.
        let ptr = data(&file)?;
        // SAFETY: No one else can reach the file yet (no fd, no VMA), so
        // nothing reads `private_data` meanwhile; from now on the callbacks
        // read it as a `T::Ptr`, and `release` takes it back.
        unsafe { (*file.as_ptr()).private_data = ptr.into_foreign() };
        Ok(file)
    }
}

/// # Safety
///
/// `file` is a space file of `T` being released.
unsafe extern "C" fn release_callback<T: SpaceFileOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: The release call of a file owns its private data.
    let private = unsafe { (*file).private_data };
    if private.is_null() {
        // `create_file` failed before it set the data.
        return 0;
    }
    // SAFETY: Set by `create_file` from `T::Ptr::into_foreign`, taken back
    // here only, once.
    let data = unsafe { T::Ptr::from_foreign(private) };
    // SAFETY: The file is valid for this call; no `fdget_pos` region is
    // active on a file being released.
    T::release(data, unsafe { File::from_raw_file(file) });
    0
}

/// # Safety
///
/// `file` is a space file of `T` with its data set; `vma` is being mapped
/// with it.
unsafe extern "C" fn mmap_callback<T: SpaceFileOps>(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: An mmap call runs between `create_file` setting the data (no
    // fd could refer to the file before) and `release`.
    let data = unsafe { T::Ptr::borrow((*file).private_data) };
    // SAFETY: The VMA is undergoing its initial setup for this call.
    let vma = unsafe { VmaNew::from_raw(vma) };
    // SAFETY: The file is valid for this call; the VFS holds no
    // `fdget_pos` region for an mmap.
    match T::mmap(data, unsafe { File::from_raw_file(file) }, vma) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// `file` is a space file of `T` with its data set.
unsafe extern "C" fn ioctl_callback<T: SpaceFileOps>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: As in `mmap_callback`: between `create_file` and `release`.
    let data = unsafe { T::Ptr::borrow((*file).private_data) };
    // SAFETY: The file is valid for this call; `ioctl` holds no
    // `fdget_pos` region.
    match T::ioctl(data, unsafe { File::from_raw_file(file) }, cmd, arg) {
        Ok(r) => r as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// # Safety
///
/// `file` is a space file of `T` with its data set.
unsafe extern "C" fn fallocate_callback<T: SpaceFileOps>(
    file: *mut bindings::file,
    mode: c_int,
    offset: bindings::loff_t,
    len: bindings::loff_t,
) -> c_long {
    // SAFETY: As in `mmap_callback`: between `create_file` and `release`
    // (`vfs_fallocate` holds a reference to the file: the fd's, or the one
    // `madvise_remove` took).
    let data = unsafe { T::Ptr::borrow((*file).private_data) };
    // SAFETY: The file is valid for this call; `fallocate` holds no
    // `fdget_pos` region.
    let file = unsafe { File::from_raw_file(file) };
    match T::fallocate(data, file, mode, offset, len) {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

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
pub const PAGEARENA_UAPI_VERSION: u32 = 1;

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

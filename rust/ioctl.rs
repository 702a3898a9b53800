// SPDX-License-Identifier: GPL-2.0

//! The ioctl dispatcher of `/dev/pagearena` (commands in [`crate::uapi`]).

use crate::{space::Space, uapi, ArenaParams};
use kernel::{
    prelude::*,
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice},
};

// SAFETY: `PagearenaInfo` is `#[repr(C)]` with fields `u32, u32, u64`: no padding
// (8-byte field at offset 8), so every byte of it is initialised.
unsafe impl AsBytes for uapi::PagearenaInfo {}

/// Handles one ioctl on `space`.
///
/// Unknown commands are `ENOTTY`; a known command with the wrong size or
/// direction is `EINVAL`; a bad user pointer is `EFAULT`.
pub fn dispatch(_space: &Space, cmd: u32, arg: usize) -> Result<isize> {
    if uapi::ioc_type(cmd) != uapi::PAGEARENA_IOC_MAGIC {
        return Err(ENOTTY);
    }
    match uapi::ioc_nr(cmd) {
        uapi::PAGEARENA_NR_INFO => {
            check_cmd(cmd, uapi::PAGEARENA_IOC_INFO)?;
            let info = uapi::PagearenaInfo {
                version: uapi::PAGEARENA_UAPI_VERSION,
                page_size: kernel::page::PAGE_SIZE as u32,
                arena_frames: ArenaParams::from_module_params()?.frames,
            };
            write_to_user(arg, &info)?;
            Ok(0)
        }
        _ => Err(ENOTTY),
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

/// Copies `value` to the user address `arg` (`EFAULT` if it is not writable).
fn write_to_user<T: AsBytes>(arg: usize, value: &T) -> Result {
    UserSlice::new(UserPtr::from_addr(arg), core::mem::size_of::<T>())
        .writer()
        .write(value)
}

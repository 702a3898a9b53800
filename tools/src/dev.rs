//! `/dev/pagearena` from user space: open a space, issue ioctls.

use crate::uapi;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// An open space (one `open()` of the device).
pub struct Space {
    file: File,
}

impl Space {
    /// Opens a new space on `/dev/pagearena`.
    pub fn open() -> io::Result<Self> {
        Self::open_path(uapi::PAGEARENA_DEVICE)
    }

    /// Opens a new space on the device at `path`.
    pub fn open_path(path: &str) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self { file })
    }

    /// The file descriptor.
    pub fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// A raw ioctl: `cmd` with `arg` as is. Returns the ioctl's value or errno.
    pub fn ioctl_raw(&self, cmd: u32, arg: usize) -> io::Result<i32> {
        // SAFETY: the caller chose `arg`; a wrong pointer makes the kernel
        // answer EFAULT, it cannot corrupt this process (the kernel only writes
        // through `copy_to_user` into memory this process owns, if mapped writable).
        let r = unsafe { libc::ioctl(self.fd(), cmd as _, arg) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// `PAGEARENA_IOC_INFO`.
    pub fn info(&self) -> io::Result<uapi::PagearenaInfo> {
        let mut info = uapi::PagearenaInfo::default();
        self.ioctl_raw(uapi::PAGEARENA_IOC_INFO, &mut info as *mut _ as usize)?;
        Ok(info)
    }
}

//! Loading and unloading kernel modules with the raw system calls, so that
//! callers see the kernel's errno (`insmod`/`rmmod` print their own text).

use crate::dev::cvt;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `finit_module(ko, params)`: loads the module file with a parameter string
/// such as `"arena_mb=64"`.
pub fn insmod(ko: &Path, params: &str) -> io::Result<()> {
    let f = File::open(ko)?;
    let params = CString::new(params).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a valid fd and a NUL-terminated string that outlive the call.
    cvt(unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) })
        .map(|_| ())
}

/// `delete_module(name, O_NONBLOCK)`: unloads a module; `EAGAIN`/`EBUSY` if in use.
pub fn rmmod(name: &str) -> io::Result<()> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) })
        .map(|_| ())
}

/// Whether a module called `name` is loaded.
pub fn is_loaded(name: &str) -> bool {
    Path::new("/sys/module")
        .join(name)
        .join("initstate")
        .exists()
}

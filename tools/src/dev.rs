//! `/dev/pagearena` from user space: open a space, issue ioctls.

use crate::uapi;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An open space (one `open()` of the device).
pub struct Space {
    file: File,
}

/// A syscall's `-1`-on-error result as `io::Result`.
pub fn cvt<T: PartialOrd + Default>(r: T) -> io::Result<T> {
    if r < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
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

    /// The space an open file of the device names (an inherited fd, or one
    /// taken from another process with `pidfd_getfd`).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self {
            file: File::from(fd),
        }
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
        cvt(unsafe { libc::ioctl(self.fd(), cmd as _, arg) })
    }

    /// `PAGEARENA_IOC_INFO`.
    pub fn info(&self) -> io::Result<uapi::PagearenaInfo> {
        let mut info = uapi::PagearenaInfo::default();
        self.ioctl_raw(uapi::PAGEARENA_IOC_INFO, &mut info as *mut _ as usize)?;
        Ok(info)
    }

    /// `PAGEARENA_IOC_STATS`.
    pub fn stats(&self) -> io::Result<uapi::PagearenaStats> {
        let mut v = uapi::PagearenaStats::default();
        self.ioctl_raw(uapi::PAGEARENA_IOC_STATS, &mut v as *mut _ as usize)?;
        Ok(v)
    }

    /// `PAGEARENA_IOC_SPACE_STATS`.
    pub fn space_stats(&self) -> io::Result<uapi::PagearenaSpaceStats> {
        let mut v = uapi::PagearenaSpaceStats::default();
        self.ioctl_raw(uapi::PAGEARENA_IOC_SPACE_STATS, &mut v as *mut _ as usize)?;
        Ok(v)
    }

    /// `PAGEARENA_IOC_PAGE_STATE` for pages `start..start + count`.
    pub fn page_state(&self, start: u64, count: u64) -> io::Result<Vec<u64>> {
        let mut buf = vec![0u64; count as usize];
        let mut args = uapi::PagearenaPageStateArgs {
            version: uapi::PAGEARENA_UAPI_VERSION,
            reserved: 0,
            start,
            count,
            buf: buf.as_mut_ptr() as u64,
        };
        self.ioctl_raw(uapi::PAGEARENA_IOC_PAGE_STATE, &mut args as *mut _ as usize)?;
        Ok(buf)
    }

    /// `PAGEARENA_IOC_TRACE` with `flags` and `count` on `buf`: the events
    /// moved and the events lost.
    pub fn trace_raw(&self, flags: u32, buf: &mut [u64]) -> io::Result<(usize, u64)> {
        let mut args = uapi::PagearenaTraceArgs {
            version: uapi::PAGEARENA_UAPI_VERSION,
            flags,
            buf: buf.as_mut_ptr() as u64,
            count: buf.len() as u64,
            lost: 0,
        };
        self.ioctl_raw(uapi::PAGEARENA_IOC_TRACE, &mut args as *mut _ as usize)?;
        Ok((args.count as usize, args.lost))
    }

    /// Starts the fault trace with a ring of `events` events.
    pub fn trace_start(&self, events: u64) -> io::Result<()> {
        let mut args = uapi::PagearenaTraceArgs {
            version: uapi::PAGEARENA_UAPI_VERSION,
            flags: uapi::PAGEARENA_TRACE_START,
            count: events,
            ..Default::default()
        };
        self.ioctl_raw(uapi::PAGEARENA_IOC_TRACE, &mut args as *mut _ as usize)
            .map(|_| ())
    }

    /// Moves up to `max` events of the fault trace out (stopping it first
    /// with `stop`): the events and the events lost.
    pub fn trace_read(&self, max: usize, stop: bool) -> io::Result<(Vec<u64>, u64)> {
        let mut buf = vec![0u64; max];
        let flags = if stop { uapi::PAGEARENA_TRACE_STOP } else { 0 };
        let (n, lost) = self.trace_raw(flags, &mut buf)?;
        buf.truncate(n);
        Ok((buf, lost))
    }

    /// `PAGEARENA_IOC_IDLE`: the next access to every page of this space
    /// (with `all`: of every space) faults again.
    pub fn idle(&self, all: bool) -> io::Result<()> {
        let arg = if all {
            uapi::PAGEARENA_IDLE_ALL
        } else {
            uapi::PAGEARENA_IDLE_SPACE
        };
        self.ioctl_raw(uapi::PAGEARENA_IOC_IDLE, arg).map(|_| ())
    }

    /// `PAGEARENA_IOC_PAGE_STATE_AT`: the states of `count` pages at `addr`
    /// of process `pid`, with the space and page index found there.
    pub fn page_state_at(
        &self,
        pid: u32,
        addr: u64,
        count: u64,
    ) -> io::Result<(Vec<u64>, u64, u64)> {
        let mut buf = vec![0u64; count as usize];
        let mut args = uapi::PagearenaPageStateAtArgs {
            version: uapi::PAGEARENA_UAPI_VERSION,
            pid,
            addr,
            count,
            buf: buf.as_mut_ptr() as u64,
            ..Default::default()
        };
        self.ioctl_raw(
            uapi::PAGEARENA_IOC_PAGE_STATE_AT,
            &mut args as *mut _ as usize,
        )?;
        buf.truncate(args.count as usize);
        Ok((buf, args.space_id, args.start))
    }

    /// `PAGEARENA_IOC_CLONE`: a new space, a copy-on-write snapshot of this one.
    pub fn clone_space(&self) -> io::Result<Space> {
        let fd = self.ioctl_raw(uapi::PAGEARENA_IOC_CLONE, 0)?;
        // SAFETY: the ioctl returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Space {
            file: File::from(fd),
        })
    }

    /// `PAGEARENA_IOC_PAGEOUT` for pages `start..start + count`: what was
    /// taken out (swapped, clean, zero, busy).
    pub fn pageout(&self, start: u64, count: u64) -> io::Result<uapi::PagearenaPageoutArgs> {
        let mut args = uapi::PagearenaPageoutArgs {
            version: uapi::PAGEARENA_UAPI_VERSION,
            start,
            count,
            ..Default::default()
        };
        self.ioctl_raw(uapi::PAGEARENA_IOC_PAGEOUT, &mut args as *mut _ as usize)?;
        Ok(args)
    }

    /// `PAGEARENA_IOC_SET_FORK_MODE`.
    pub fn set_fork_mode(&self, mode: usize) -> io::Result<()> {
        self.ioctl_raw(uapi::PAGEARENA_IOC_SET_FORK_MODE, mode)
            .map(|_| ())
    }

    /// Maps `len` bytes at byte `offset` of the space, shared, read-write.
    pub fn map(&self, offset: u64, len: usize) -> io::Result<Mapping> {
        Mapping::new(
            self.fd(),
            offset,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
        )
    }
}

/// A memory mapping, unmapped when dropped.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a mapping is plain shared memory; threads access it with volatile
// or atomic operations through raw pointers.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, prot, flags, fd, offset)`.
    pub fn new(fd: i32, offset: u64, len: usize, prot: i32, flags: i32) -> io::Result<Self> {
        // SAFETY: a new mapping at an address the kernel picks affects no
        // existing memory.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, offset as i64) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { ptr: p.cast(), len })
    }

    /// `mmap(addr, len, prot, flags | MAP_FIXED_NOREPLACE, fd, offset)`:
    /// at `addr`, or `EEXIST` if something is mapped there.
    pub fn new_at(
        addr: usize,
        fd: i32,
        offset: u64,
        len: usize,
        prot: i32,
        flags: i32,
    ) -> io::Result<Self> {
        let want = addr as *mut libc::c_void;
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping, so
        // no memory in use changes.
        let p = unsafe {
            libc::mmap(
                want,
                len,
                prot,
                flags | libc::MAP_FIXED_NOREPLACE,
                fd,
                offset as i64,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let m = Self { ptr: p.cast(), len };
        // Kernels before 4.17 take the flag as a hint.
        if p != want {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        Ok(m)
    }

    /// Anonymous private memory (`MAP_PRIVATE | MAP_ANONYMOUS`), the native
    /// counterpart of a space in fork-COW mode.
    pub fn anonymous(len: usize) -> io::Result<Self> {
        Self::new(
            -1,
            0,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        )
    }

    /// Start address.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: mmap refuses length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pages in the mapping.
    pub fn pages(&self) -> usize {
        self.len / page_size()
    }

    /// Reads the `u64` at byte `off` (volatile: every call touches memory).
    pub fn read(&self, off: usize) -> u64 {
        assert!(off + 8 <= self.len);
        // SAFETY: in bounds (checked), 8-aligned for aligned `off`; volatile
        // because other processes change the memory.
        unsafe { self.ptr.add(off).cast::<u64>().read_volatile() }
    }

    /// Writes the `u64` at byte `off`.
    pub fn write(&self, off: usize, v: u64) {
        assert!(off + 8 <= self.len);
        // SAFETY: as in `read`.
        unsafe { self.ptr.add(off).cast::<u64>().write_volatile(v) }
    }

    /// `mprotect` of the whole mapping.
    pub fn protect(&self, prot: i32) -> io::Result<()> {
        // SAFETY: changes the protection of our own mapping only.
        cvt(unsafe { libc::mprotect(self.ptr.cast(), self.len, prot) }).map(|_| ())
    }

    /// `madvise` of the whole mapping.
    pub fn advise(&self, advice: i32) -> io::Result<()> {
        // SAFETY: advice on our own mapping.
        cvt(unsafe { libc::madvise(self.ptr.cast(), self.len, advice) }).map(|_| ())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping this value owns.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A pipe two processes signal each other through, one byte a signal.
pub struct Pipe([i32; 2]);

impl Pipe {
    /// A new pipe.
    pub fn new() -> io::Result<Self> {
        let mut p = [0; 2];
        // SAFETY: creates a pipe into our array.
        cvt(unsafe { libc::pipe(p.as_mut_ptr()) })?;
        Ok(Self(p))
    }

    /// Posts one signal (a raw syscall: safe in a forked child).
    pub fn post(&self) {
        // SAFETY: writes one byte from our stack.
        unsafe { libc::write(self.0[1], [1u8].as_ptr().cast(), 1) };
    }

    /// Waits for one signal; false if the other end is gone.
    pub fn wait(&self) -> bool {
        let mut b = [0u8];
        // SAFETY: reads one byte into our stack.
        unsafe { libc::read(self.0[0], b.as_mut_ptr().cast(), 1) == 1 }
    }

    /// Whether a byte was posted (it is taken), without waiting.
    pub fn posted(&self) -> bool {
        let mut fd = libc::pollfd {
            fd: self.0[0],
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls our own fd, with no timeout.
        let ready = unsafe { libc::poll(&mut fd, 1, 0) } == 1;
        ready && self.wait()
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: closes our own fds.
        unsafe {
            libc::close(self.0[0]);
            libc::close(self.0[1]);
        }
    }
}

/// One step of xorshift64 (`x` not 0): the tools' cheap, repeatable
/// pseudo-random sequence.
pub fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A permutation of `0..n`, the same for the same `seed` (Fisher-Yates on
/// [`xorshift`]).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x = xorshift(x);
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Forks a child that runs `f` and `_exit`s with its result; returns the
/// child's pid. `f` must only touch memory and make raw syscalls (the parent
/// may have other threads, so allocating could deadlock).
pub fn spawn_child(f: impl FnOnce() -> i32) -> io::Result<i32> {
    // SAFETY: the child runs `f` (memory accesses and syscalls only, by
    // contract) and `_exit`s without returning into Rust.
    let pid = cvt(unsafe { libc::fork() })?;
    if pid == 0 {
        let code = f();
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

/// Runs `f` in a forked child (see [`spawn_child`]) and returns how the
/// child ended: `Ok(code)` for `_exit(code)`, `Err(signal)` for death by a
/// signal.
pub fn in_child(f: impl FnOnce() -> i32) -> io::Result<Result<i32, i32>> {
    wait_child(spawn_child(f)?)
}

/// Waits for child `pid`; see [`in_child`].
pub fn wait_child(pid: i32) -> io::Result<Result<i32, i32>> {
    let mut status = 0;
    // SAFETY: waits for our own child.
    cvt(unsafe { libc::waitpid(pid, &mut status, 0) })?;
    if libc::WIFEXITED(status) {
        Ok(Ok(libc::WEXITSTATUS(status)))
    } else {
        Ok(Err(libc::WTERMSIG(status)))
    }
}

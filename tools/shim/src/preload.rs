//! The preloaded entry points (`mmap`, `munmap`, `mremap`, `madvise`,
//! `mprotect`, the `malloc` family) and what they do to arena memory. The
//! module documentation of the crate says what is served.
//!
//! # Locks
//!
//! Two mutexes: the heap's (`dlmalloc`) and the state's (the regions and
//! files). The heap's is taken first: `dlmalloc` asks for memory under it,
//! which takes the state's. Nothing here allocates while holding the
//! state's (its tables have a fixed size). Both are taken across `fork()`
//! (`pthread_atfork`), so a child never inherits one held by a thread that
//! does not exist in it.
//!
//! # Punch while mapped
//!
//! Arena memory that goes (`munmap`, `MAP_FIXED` over it, `mremap` copies)
//! has its hole punched while it is still mapped: `MADV_REMOVE` finds the
//! space through the mapping, and the module's `fallocate` (the fallback)
//! finds a fork child's snapshot only while the child still maps it.
//! Offsets are never handed out twice by one file, so a range punched late
//! or not at all (an error) can never show old data to a new mapping.

#![allow(clippy::missing_safety_doc)]

use crate::regions::{Files, Region, Regions, PAGE};
use core::{
    cell::UnsafeCell,
    ops::{Deref, DerefMut},
    ptr,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};
use libc::{c_char, c_int, c_long, c_void, off_t, size_t};

#[allow(dead_code)]
#[path = "../../../rust/uapi.rs"]
mod uapi;

/// Regions the shim can track (a program with more arena mappings than
/// this gets kernel memory for the rest).
const REGIONS_MAX: usize = 1 << 16;
/// Space files open at once.
const FILES_MAX: usize = 1024;
/// Where the shim's fds go (above what programs usually use).
const FD_FLOOR: c_int = 512;
/// Bytes `dlmalloc` asks for at a time.
const HEAP_GRANULARITY: usize = 2 << 20;

const MADV_FREE: c_int = 8;
const MADV_REMOVE: c_int = 9;
const MADV_COLD: c_int = 20;
const MADV_PAGEOUT: c_int = 21;
const MADV_POPULATE_READ: c_int = 22;
const MADV_POPULATE_WRITE: c_int = 23;
const MADV_DONTNEED_LOCKED: c_int = 24;

// ---------------------------------------------------------------------------
// A mutex around a value.

struct Locked<T> {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    value: UnsafeCell<T>,
}

// SAFETY: The value is only reached through a guard, which holds the mutex.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    const fn new(value: T) -> Self {
        Self {
            mutex: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
            value: UnsafeCell::new(value),
        }
    }

    fn lock(&self) -> Guard<'_, T> {
        // SAFETY: A statically initialised mutex, never moved (a static).
        unsafe { libc::pthread_mutex_lock(self.mutex.get()) };
        Guard(self)
    }

    fn try_lock(&self) -> Option<Guard<'_, T>> {
        // SAFETY: As in `lock`.
        (unsafe { libc::pthread_mutex_trylock(self.mutex.get()) } == 0).then_some(Guard(self))
    }

    /// Locks without a guard (`fork` preparation); [`Locked::raw_unlock`]
    /// undoes it.
    fn raw_lock(&self) {
        // SAFETY: As in `lock`.
        unsafe { libc::pthread_mutex_lock(self.mutex.get()) };
    }

    /// # Safety
    ///
    /// The calling thread holds the mutex by [`Locked::raw_lock`] (or is
    /// the only thread of a fork child of the thread that did).
    unsafe fn raw_unlock(&self) {
        // SAFETY: The caller holds it.
        unsafe { libc::pthread_mutex_unlock(self.mutex.get()) };
    }
}

struct Guard<'a, T>(&'a Locked<T>);

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: The guard holds the mutex.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: The guard holds the mutex, and `&mut self` is unique.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: The guard holds the mutex.
        unsafe { libc::pthread_mutex_unlock(self.0.mutex.get()) };
    }
}

// ---------------------------------------------------------------------------
// System calls, never through the symbols this library replaces.

fn errno() -> c_int {
    // SAFETY: The calling thread's errno.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: The calling thread's errno.
    unsafe { *libc::__errno_location() = e };
}

unsafe fn sys_mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: The caller's arguments, as `mmap(2)` takes them.
    unsafe { libc::syscall(libc::SYS_mmap, addr, len, prot, flags, fd, off) as *mut c_void }
}

unsafe fn sys_munmap(addr: *mut c_void, len: usize) -> c_int {
    // SAFETY: As `munmap(2)`.
    unsafe { libc::syscall(libc::SYS_munmap, addr, len) as c_int }
}

unsafe fn sys_mremap(
    old: *mut c_void,
    old_len: usize,
    new_len: usize,
    flags: c_int,
    new_addr: *mut c_void,
) -> *mut c_void {
    // SAFETY: As `mremap(2)`.
    unsafe {
        libc::syscall(libc::SYS_mremap, old, old_len, new_len, flags, new_addr) as *mut c_void
    }
}

unsafe fn sys_madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int {
    // SAFETY: As `madvise(2)`.
    unsafe { libc::syscall(libc::SYS_madvise, addr, len, advice) as c_int }
}

unsafe fn sys_mprotect(addr: *mut c_void, len: usize, prot: c_int) -> c_int {
    // SAFETY: As `mprotect(2)`.
    unsafe { libc::syscall(libc::SYS_mprotect, addr, len, prot) as c_int }
}

fn sys_close(fd: c_int) {
    // SAFETY: `close(2)` of an fd the shim owns.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

fn sys_getpid() -> c_int {
    // SAFETY: No arguments.
    unsafe { libc::syscall(libc::SYS_getpid) as c_int }
}

fn sys_ioctl(fd: c_int, cmd: u32, arg: usize) -> c_long {
    // SAFETY: An ioctl of the device on an fd the shim owns; `arg` is a
    // value or points at a live struct of the command's size.
    unsafe { libc::syscall(libc::SYS_ioctl, fd, cmd as c_long, arg) }
}

fn sys_fallocate_punch(fd: c_int, off: u64, len: u64) -> c_int {
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: `fallocate(2)` on an fd the shim owns.
    unsafe { libc::syscall(libc::SYS_fallocate, fd, mode, off as c_long, len as c_long) as c_int }
}

/// Whether `fd` is still a space file (the pseudo file system's magic): a
/// program may close the shim's fd and get the number back for a file of
/// its own.
fn is_space_file(fd: c_int) -> bool {
    // SAFETY: `fstatfs(2)` into a local buffer.
    let mut st: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: As above.
    let r = unsafe { libc::syscall(libc::SYS_fstatfs, fd, &mut st as *mut libc::statfs) };
    r == 0 && st.f_type as u64 == 0x7061_7265
}

/// Writes `msg` to stderr (no allocation, no stdio lock).
fn say(parts: &[&[u8]]) {
    let mut buf = [0u8; 512];
    let mut n = 0;
    for p in parts {
        let take = p.len().min(buf.len() - n);
        buf[n..n + take].copy_from_slice(&p[..take]);
        n += take;
    }
    // SAFETY: Writes `n` initialised bytes of `buf`.
    unsafe { libc::syscall(libc::SYS_write, 2, buf.as_ptr(), n) };
}

/// `n` in decimal, into `buf`; the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

// ---------------------------------------------------------------------------
// The state.

/// What was served where (the report).
#[derive(Default)]
struct Report {
    arena_maps: u64,
    arena_bytes: u64,
    kernel_maps: u64,
    kernel_bytes: u64,
    punched_bytes: u64,
    mremap_in_place: u64,
    mremap_moved: u64,
    mremap_copied: u64,
}

struct State {
    regions: Regions<REGIONS_MAX>,
    files: Files<FILES_MAX>,
    /// The file new mappings come from, this process's own.
    current: Option<u16>,
    /// The process the state was last used by (a `fork()` child sees its
    /// parent's pid here until its first mapping).
    pid: c_int,
    /// The device could not be opened: kernel memory from now on.
    disabled: bool,
    report: Report,
}

static STATE: Locked<State> = Locked::new(State {
    regions: Regions::new(),
    files: Files::new(),
    current: None,
    pid: 0,
    disabled: false,
    report: Report {
        arena_maps: 0,
        arena_bytes: 0,
        kernel_maps: 0,
        kernel_bytes: 0,
        punched_bytes: 0,
        mremap_in_place: 0,
        mremap_moved: 0,
        mremap_copied: 0,
    },
});

/// `PAGEARENA_SHIM_ARENA_ONLY=1`: no kernel memory for what the shim serves.
static ARENA_ONLY: AtomicBool = AtomicBool::new(false);
/// A fallback was reported on stderr.
static WARNED: AtomicBool = AtomicBool::new(false);
/// Mappings that went to the kernel because the arena could not take them.
static FALLBACKS: AtomicU64 = AtomicU64::new(0);
/// The device: `PAGEARENA_SHIM_DEVICE`, NUL-terminated.
static DEVICE_PATH: Locked<[u8; 256]> = Locked::new(c_path(b"/dev/pagearena"));

/// `s`, NUL-terminated, in a path buffer.
const fn c_path(s: &[u8]) -> [u8; 256] {
    let mut b = [0u8; 256];
    let mut i = 0;
    while i < s.len() && i < 255 {
        b[i] = s[i];
        i += 1;
    }
    b
}

/// Copies the environment variable `name` into `buf`, NUL-terminated.
///
/// # Safety
///
/// At load, before any thread: `getenv` is safe.
unsafe fn env_into(name: &core::ffi::CStr, buf: &mut [u8; 256]) -> bool {
    // SAFETY: The caller's promise.
    let v = unsafe { libc::getenv(name.as_ptr()) };
    if v.is_null() {
        return false;
    }
    // SAFETY: `getenv` returns a NUL-terminated string.
    let n = unsafe { libc::strlen(v) }.min(buf.len() - 1);
    // SAFETY: `n` bytes of it, into `buf` (of more).
    unsafe { ptr::copy_nonoverlapping(v.cast::<u8>(), buf.as_mut_ptr(), n) };
    buf[n] = 0;
    true
}
/// `PAGEARENA_SHIM_REPORT`, NUL-terminated (empty: none).
static REPORT_PATH: Locked<[u8; 256]> = Locked::new([0; 256]);

/// Why a mapping the shim serves went to the kernel.
enum Fallback {
    NoDevice(c_int),
    Full,
    Table,
}

fn fallback(why: Fallback) {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut b = [0u8; 20];
    let what: &[&[u8]] = match why {
        Fallback::NoDevice(e) => &[
            b"cannot use /dev/pagearena (errno ",
            decimal(e as u64, &mut b),
            b")",
        ],
        Fallback::Full => &[b"the arena has too few free frames and swap slots for a mapping"],
        Fallback::Table => &[b"too many mappings to track"],
    };
    let tail: &[u8] = if ARENA_ONLY.load(Ordering::Relaxed) {
        b"; --arena-only: the mapping fails (ENOMEM)\n"
    } else {
        b"; using kernel memory for it (said once)\n"
    };
    let mut parts: [&[u8]; 5] = [b"pagearena-shim: ", b"", b"", b"", b""];
    for (i, p) in what.iter().enumerate() {
        parts[1 + i] = p;
    }
    say(&parts);
    say(&[tail]);
}

fn round_up(n: usize) -> Option<usize> {
    n.checked_add(PAGE - 1).map(|x| x & !(PAGE - 1))
}

impl State {
    /// After a `fork()`, the child's new mappings need a file of its own:
    /// mapping its parent's file would map the parent's space.
    fn check_pid(&mut self) {
        let pid = sys_getpid();
        if self.pid != pid {
            self.pid = pid;
            self.current = None;
        }
    }

    /// A new space file (fork-COW) as the current file.
    fn new_file(&mut self) -> Result<u16, Fallback> {
        let path = DEVICE_PATH.lock();
        // SAFETY: A NUL-terminated path.
        let dev = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC,
            ) as c_int
        };
        drop(path);
        if dev < 0 {
            let e = errno();
            self.disabled = true;
            return Err(Fallback::NoDevice(e));
        }
        let fd = sys_ioctl(dev, uapi::PAGEARENA_IOC_NEW_SPACE, uapi::PAGEARENA_FORK_COW) as c_int;
        let e = errno();
        sys_close(dev);
        if fd < 0 {
            self.disabled = true;
            return Err(Fallback::NoDevice(e));
        }
        // SAFETY: `fcntl(2)` on our fd.
        let high =
            unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, FD_FLOOR) as c_int };
        let fd = if high >= 0 {
            sys_close(fd);
            high
        } else {
            fd
        };
        match self.files.add(fd, self.pid) {
            Ok(i) => {
                self.current = Some(i);
                Ok(i)
            }
            Err(_) => {
                sys_close(fd);
                Err(Fallback::Table)
            }
        }
    }

    /// Whether the arena can take `pages` more pages: free frames and free
    /// swap slots (what reclaim can make room with).
    fn has_room(&self, fd: c_int, pages: u64) -> bool {
        let mut st = uapi::PagearenaStats {
            version: uapi::PAGEARENA_UAPI_VERSION,
            ..Default::default()
        };
        if sys_ioctl(
            fd,
            uapi::PAGEARENA_IOC_STATS,
            ptr::from_mut(&mut st) as usize,
        ) < 0
        {
            return false;
        }
        let room = st.nr_free + st.nr_swap_slots.saturating_sub(st.nr_swap_used);
        pages <= room
    }

    /// Maps `len` bytes (whole pages) of arena memory: at `addr` with
    /// `fixed` (`MAP_FIXED` or `MAP_FIXED_NOREPLACE`), else where the
    /// kernel puts it. The arena must have room for it now, unless
    /// `noreserve` (`MAP_NORESERVE`: a sparse reservation, as Linux does not
    /// account it either). `Ok(Err(errno))` for an error the program must
    /// see.
    unsafe fn map(
        &mut self,
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        fixed: c_int,
        noreserve: bool,
    ) -> Result<Result<*mut c_void, c_int>, Fallback> {
        if self.disabled {
            return Err(Fallback::NoDevice(libc::ENODEV));
        }
        self.check_pid();
        let pages = (len / PAGE) as u64;
        for attempt in 0..2 {
            let cur = match self.current {
                Some(c) => c,
                None => self.new_file()?,
            };
            let Some(fd) = self.files.get(cur).map(|f| f.fd) else {
                self.current = None;
                continue;
            };
            if attempt == 0 && !noreserve && !self.has_room(fd, pages) {
                return Err(Fallback::Full);
            }
            let Some((at, limit)) = self.files.reserve(cur, pages) else {
                // This file's offsets are used up: the next one.
                self.current = None;
                self.close_if_unused(cur);
                continue;
            };
            if !is_space_file(fd) {
                // The program closed our fd, and the number is another
                // file's now: a new file of our own.
                self.files.remove(cur);
                self.current = None;
                continue;
            }
            let flags = libc::MAP_SHARED | fixed;
            // SAFETY: A shared mapping of our own file, where the caller
            // asked for anonymous memory (or where the kernel chooses).
            let p = unsafe { sys_mmap(addr, len, prot, flags, fd, (at as usize * PAGE) as off_t) };
            if p == libc::MAP_FAILED {
                let e = errno();
                if e == libc::EBADF || e == libc::EACCES || e == libc::ENODEV {
                    // The program closed or replaced our fd: a new file.
                    self.files.remove(cur);
                    self.current = None;
                    continue;
                }
                return Ok(Err(e));
            }
            let r = Region {
                start: p as usize,
                len,
                file: cur,
                pgoff: at,
                limit,
                prot,
            };
            if self.regions.insert(r).is_err() {
                // SAFETY: The mapping just made.
                unsafe { sys_munmap(p, len) };
                return Err(Fallback::Table);
            }
            self.report.arena_maps += 1;
            self.report.arena_bytes += len as u64;
            return Ok(Ok(p));
        }
        Err(Fallback::Table)
    }

    /// Punches the hole of `piece` (still mapped: see the module
    /// documentation).
    fn punch(&mut self, piece: &Region) {
        // SAFETY: `piece` is arena memory of this process, which the
        // program is giving up.
        let r = unsafe { sys_madvise(piece.start as *mut c_void, piece.len, MADV_REMOVE) };
        if r != 0 {
            // Only through a file of this process's own, and only while the
            // fd is still that file: a fork child's inherited file is its
            // parent's space.
            if let Some(f) = self.files.get(piece.file) {
                if f.pid == sys_getpid() && is_space_file(f.fd) {
                    sys_fallocate_punch(f.fd, piece.pgoff * PAGE as u64, piece.len as u64);
                }
            }
        }
        self.report.punched_bytes += piece.len as u64;
    }

    /// Closes file `i` if it is not the current one and nothing maps it.
    fn close_if_unused(&mut self, i: u16) {
        if self.current != Some(i) && self.regions.pages_of(i) == 0 {
            if let Some(fd) = self.files.remove(i) {
                sys_close(fd);
            }
        }
    }

    /// Takes `start..start + len` out of the table, punching each arena
    /// piece first if `punch`. `Err` if the table could not split.
    fn forget(&mut self, start: usize, len: usize, punch: bool) -> Result<(), ()> {
        let mut done = false;
        while !done {
            // In rounds of 64 pieces (no heap).
            let (pieces, n) = self.regions.first_pieces::<64>(start, len);
            done = n < pieces.len();
            if n == 0 {
                break;
            }
            let (lo, hi) = (pieces[0].start, pieces[n - 1].end());
            if punch {
                for p in &pieces[..n] {
                    self.punch(p);
                }
            }
            self.regions.remove(lo, hi - lo, |_| {}).map_err(|_| ())?;
            let mut files = [u16::MAX; 64];
            for (i, p) in pieces[..n].iter().enumerate() {
                files[i] = p.file;
            }
            for f in &files[..n] {
                self.close_if_unused(*f);
            }
        }
        Ok(())
    }

    /// The arena mapping `start..start + len` as one region if the range is
    /// wholly arena memory of one file at contiguous offsets.
    fn contiguous(&self, start: usize, len: usize) -> Option<Region> {
        let mut out: Option<Region> = None;
        let mut ok = true;
        let mut next = start;
        self.regions.pieces(start, len, |p| {
            if !ok {
                return;
            }
            match &mut out {
                None if p.start == start => out = Some(p),
                Some(r)
                    if p.start == next && p.file == r.file && p.pgoff == r.pgoff + r.pages() =>
                {
                    r.len += p.len;
                    r.limit = p.limit;
                    if p.prot != r.prot {
                        r.prot = -1;
                    }
                }
                _ => ok = false,
            }
            next = p.end();
        });
        out.filter(|r| ok && r.len == len)
    }
}

// ---------------------------------------------------------------------------
// The replaced calls.

/// Whether `mmap(flags, prot)` is memory the shim serves.
fn served(prot: c_int, flags: c_int) -> bool {
    flags & libc::MAP_ANONYMOUS != 0
        && flags & libc::MAP_TYPE == libc::MAP_PRIVATE
        && flags & (libc::MAP_HUGETLB | libc::MAP_GROWSDOWN) == 0
        && prot & libc::PROT_EXEC == 0
}

/// Touches each page of `start..start + len`, as `MAP_POPULATE` and
/// `MADV_POPULATE_*` fault them in (the kernel cannot populate `VM_PFNMAP`
/// memory): a write that changes nothing, if `write`, else a read.
unsafe fn populate(start: usize, len: usize, write: bool) {
    let mut a = start;
    while a < start + len {
        // SAFETY: Arena memory of this process, readable (and writable if
        // `write`) by the caller's protection.
        unsafe {
            if write {
                (*(a as *const AtomicU64)).fetch_or(0, Ordering::Relaxed);
            } else {
                ptr::read_volatile(a as *const u8);
            }
        }
        a += PAGE;
    }
}

/// `mmap`, for the library's own callers too (the heap).
unsafe fn do_mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE);
    if !served(prot, flags) || len == 0 {
        if flags & libc::MAP_FIXED != 0 && len > 0 {
            // The kernel replaces whatever is there, arena memory too.
            let mut st = STATE.lock();
            if let Some(l) = round_up(len) {
                let _ = st.forget(addr as usize, l, true);
            }
        }
        // SAFETY: The caller's call, unchanged.
        return unsafe { sys_mmap(addr, len, prot, flags, fd, off) };
    }
    let Some(l) = round_up(len) else {
        set_errno(libc::ENOMEM);
        return libc::MAP_FAILED;
    };
    let mut st = STATE.lock();
    if flags & libc::MAP_FIXED != 0 {
        if !(addr as usize).is_multiple_of(PAGE) {
            set_errno(libc::EINVAL);
            return libc::MAP_FAILED;
        }
        let _ = st.forget(addr as usize, l, true);
    }
    // SAFETY: As the caller asked.
    match unsafe { st.map(addr, l, prot, fixed, flags & libc::MAP_NORESERVE != 0) } {
        Ok(Ok(p)) => {
            drop(st);
            if flags & libc::MAP_POPULATE != 0 && prot & libc::PROT_READ != 0 {
                // SAFETY: The mapping just made, with `prot`.
                unsafe { populate(p as usize, l, prot & libc::PROT_WRITE != 0) };
            }
            p
        }
        Ok(Err(e)) => {
            set_errno(e);
            libc::MAP_FAILED
        }
        Err(why) => {
            drop(st);
            fallback(why);
            if ARENA_ONLY.load(Ordering::Relaxed) {
                set_errno(libc::ENOMEM);
                return libc::MAP_FAILED;
            }
            // SAFETY: The caller's call, unchanged.
            let p = unsafe { sys_mmap(addr, len, prot, flags, fd, off) };
            if p != libc::MAP_FAILED {
                let mut st = STATE.lock();
                st.report.kernel_maps += 1;
                st.report.kernel_bytes += l as u64;
            }
            p
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: The caller's `mmap`.
    unsafe { do_mmap(addr, len, prot, flags, fd, off) }
}

#[no_mangle]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: The caller's `mmap64` (the same call on 64-bit).
    unsafe { do_mmap(addr, len, prot, flags, fd, off) }
}

unsafe fn do_munmap(addr: *mut c_void, len: size_t) -> c_int {
    if !(addr as usize).is_multiple_of(PAGE) || len == 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    let Some(l) = round_up(len) else {
        set_errno(libc::EINVAL);
        return -1;
    };
    let mut st = STATE.lock();
    if st.forget(addr as usize, l, true).is_err() {
        set_errno(libc::ENOMEM);
        return -1;
    }
    drop(st);
    // SAFETY: The caller's call.
    unsafe { sys_munmap(addr, len) }
}

#[no_mangle]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    // SAFETY: The caller's `munmap`.
    unsafe { do_munmap(addr, len) }
}

/// `mremap`. Declared with the optional fifth argument as a fixed one:
/// on x86-64 a variadic caller passes it in the same register, and it is
/// read only with `MREMAP_FIXED`, when the caller passed it.
#[no_mangle]
pub unsafe extern "C" fn mremap(
    old: *mut c_void,
    old_len: size_t,
    new_len: size_t,
    flags: c_int,
    new_addr: *mut c_void,
) -> *mut c_void {
    let new_addr = if flags & libc::MREMAP_FIXED != 0 {
        new_addr
    } else {
        ptr::null_mut()
    };
    let mut st = STATE.lock();
    let ours = (old as usize).is_multiple_of(PAGE) && st.regions.find(old as usize).is_some();
    if !ours {
        if flags & libc::MREMAP_FIXED != 0 {
            if let Some(l) = round_up(new_len) {
                let _ = st.forget(new_addr as usize, l, true);
            }
        }
        drop(st);
        // SAFETY: The caller's call, unchanged.
        return unsafe { sys_mremap(old, old_len, new_len, flags, new_addr) };
    }
    // SAFETY: `old` is arena memory the caller remaps.
    match unsafe {
        remap_arena(
            &mut st,
            old as usize,
            old_len,
            new_len,
            flags,
            new_addr as usize,
        )
    } {
        Ok(p) => p as *mut c_void,
        Err(e) => {
            set_errno(e);
            libc::MAP_FAILED
        }
    }
}

/// `mremap` of arena memory at `old`.
unsafe fn remap_arena(
    st: &mut State,
    old: usize,
    old_len: usize,
    new_len: usize,
    flags: c_int,
    new_addr: usize,
) -> Result<usize, c_int> {
    let may_move = flags & libc::MREMAP_MAYMOVE != 0;
    let fixed = flags & libc::MREMAP_FIXED != 0;
    if flags & !(libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) != 0
        || (fixed && !may_move)
        || old_len == 0
        || new_len == 0
        || (fixed && !new_addr.is_multiple_of(PAGE))
    {
        // MREMAP_DONTUNMAP is for the kernel's own anonymous memory.
        return Err(libc::EINVAL);
    }
    let (Some(old_len), Some(new_len)) = (round_up(old_len), round_up(new_len)) else {
        return Err(libc::EINVAL);
    };
    // The range must be arena memory throughout (its pieces may be several
    // mappings: the kernel would have merged them into one VMA).
    let mut covered = 0;
    st.regions.pieces(old, old_len, |p| covered += p.len);
    if covered != old_len {
        return Err(libc::EFAULT);
    }
    if fixed && new_addr < old + old_len && old < new_addr + new_len {
        return Err(libc::EINVAL);
    }
    // Shrink first: the tail goes.
    if new_len < old_len {
        st.forget(old + new_len, old_len - new_len, true)
            .map_err(|_| libc::ENOMEM)?;
        // SAFETY: The tail of the caller's mapping, given up.
        unsafe { sys_munmap((old + new_len) as *mut c_void, old_len - new_len) };
        if !fixed {
            return Ok(old);
        }
    }
    let cur_len = old_len.min(new_len);
    if new_len == cur_len && !fixed {
        return Ok(old);
    }
    st.check_pid();
    let pid = st.pid;
    // The piece the range ends with: growing in place maps the offsets
    // after it.
    let last = st
        .regions
        .find(old + cur_len - 1)
        .map(|r| r.clip(old.max(r.start), old + cur_len))
        .ok_or(libc::EFAULT)?;
    let last_file = st.files.get(last.file).copied().ok_or(libc::EFAULT)?;
    let extra_pages = ((new_len - cur_len) / PAGE) as u64;
    let tail_off = last.pgoff + last.pages();
    let tail_free = tail_off + extra_pages <= last.limit
        && st
            .regions
            .offsets_free(last.file, tail_off, tail_off + extra_pages, usize::MAX);
    // Grow in place: map the next offsets right after.
    if last_file.pid == pid && tail_free && !fixed && new_len > cur_len {
        let extra = new_len - cur_len;
        // SAFETY: Our file's reserved offsets, where nothing is mapped
        // (`MAP_FIXED_NOREPLACE`).
        let p = unsafe {
            sys_mmap(
                (old + cur_len) as *mut c_void,
                extra,
                last.prot,
                libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE,
                last_file.fd,
                (tail_off as usize * PAGE) as off_t,
            )
        };
        if p as usize == old + cur_len {
            let tail = Region {
                start: old + cur_len,
                len: extra,
                file: last.file,
                pgoff: tail_off,
                limit: last.limit,
                prot: last.prot,
            };
            if st.regions.insert(tail).is_ok() {
                st.report.mremap_in_place += 1;
                return Ok(old);
            }
            // SAFETY: The mapping just made.
            unsafe { sys_munmap(p, extra) };
        } else if p != libc::MAP_FAILED {
            // SAFETY: A mapping made elsewhere (an old kernel's hint).
            unsafe { sys_munmap(p, extra) };
        }
    }
    if !may_move {
        return Err(libc::ENOMEM);
    }
    let mut r = st.contiguous(old, cur_len);
    if let Some(c) = &r {
        let file = st.files.get(c.file).copied();
        let room = c.pgoff + (new_len / PAGE) as u64 <= c.limit
            && st.regions.offsets_free(
                c.file,
                c.pgoff + c.pages(),
                c.pgoff + (new_len / PAGE) as u64,
                usize::MAX,
            );
        if c.prot < 0 || file.is_none_or(|f| f.pid != pid) || !(room || new_len == c.len) {
            r = None;
        }
    }
    let prot = r.map_or(last.prot, |c| c.prot);
    if fixed {
        st.forget(new_addr, new_len, true)
            .map_err(|_| libc::ENOMEM)?;
    }
    let (hint, mflags) = if fixed {
        (new_addr as *mut c_void, libc::MAP_FIXED)
    } else {
        (ptr::null_mut(), 0)
    };
    // Move: the same offsets (and the reserved ones after) mapped at a new
    // address: the same pages, nothing copied.
    if let Some(r) = r {
        let Some(file) = st.files.get(r.file).copied() else {
            return Err(libc::EFAULT);
        };
        let new_pages = (new_len / PAGE) as u64;
        // SAFETY: Our file's offsets of this mapping (and its reserved
        // tail), at a new address.
        let p = unsafe {
            sys_mmap(
                hint,
                new_len,
                prot,
                libc::MAP_SHARED | mflags,
                file.fd,
                (r.pgoff as usize * PAGE) as off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        // The old addresses go, the pages stay (no punch).
        st.forget(old, r.len, false).map_err(|_| libc::ENOMEM)?;
        // SAFETY: The caller's old mapping, now mapped at `p`.
        unsafe { sys_munmap(old as *mut c_void, r.len) };
        let moved = Region {
            start: p as usize,
            len: new_len,
            file: r.file,
            pgoff: r.pgoff,
            limit: r.limit.max(r.pgoff + new_pages),
            prot,
        };
        if st.regions.insert(moved).is_err() {
            return Err(libc::ENOMEM);
        }
        st.report.mremap_moved += 1;
        return Ok(p as usize);
    }
    // Copy: a fork child's inherited mapping (its file maps the parent's
    // space), or offsets taken: new arena memory of its own.
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: New memory for the caller.
    let p = match unsafe {
        st.map(
            hint,
            new_len,
            rw,
            if fixed { libc::MAP_FIXED } else { 0 },
            false,
        )
    } {
        Ok(Ok(p)) => p as usize,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(libc::ENOMEM),
    };
    // SAFETY: Make the old range readable for the copy (it is going).
    unsafe { sys_mprotect(old as *mut c_void, cur_len, libc::PROT_READ) };
    // SAFETY: Both ranges are mapped, `cur_len <= new_len`, disjoint.
    unsafe { ptr::copy_nonoverlapping(old as *const u8, p as *mut u8, cur_len) };
    st.forget(old, cur_len, true).map_err(|_| libc::ENOMEM)?;
    // SAFETY: The caller's old mapping, copied.
    unsafe { sys_munmap(old as *mut c_void, cur_len) };
    if prot != rw {
        // SAFETY: The new mapping, to the caller's protection.
        unsafe { sys_mprotect(p as *mut c_void, new_len, prot) };
        set_prot(st, p, new_len, prot);
    }
    st.report.mremap_copied += 1;
    Ok(p)
}

/// Records `prot` for the arena pieces of `start..start + len`.
fn set_prot(st: &mut State, start: usize, len: usize, prot: c_int) {
    let (mut pieces, n) = st.regions.first_pieces::<64>(start, len);
    if n == 0 || n == pieces.len() {
        return;
    }
    let (lo, hi) = (pieces[0].start, pieces[n - 1].end());
    if st.regions.remove(lo, hi - lo, |_| {}).is_err() {
        return;
    }
    for p in &mut pieces[..n] {
        p.prot = prot;
        let _ = st.regions.insert(*p);
    }
}

#[no_mangle]
pub unsafe extern "C" fn mprotect(addr: *mut c_void, len: size_t, prot: c_int) -> c_int {
    let mut st = STATE.lock();
    let l = round_up(len).unwrap_or(0);
    if prot & libc::PROT_EXEC != 0
        && (addr as usize).is_multiple_of(PAGE)
        && st.regions.overlaps(addr as usize, l)
    {
        // Executable memory cannot be the arena's (a noexec file system):
        // each piece moves to kernel memory, with its contents.
        let (pieces, n) = st.regions.first_pieces::<64>(addr as usize, l);
        for p in &pieces[..n] {
            // SAFETY: Anonymous memory for the copy.
            let tmp = unsafe {
                sys_mmap(
                    ptr::null_mut(),
                    p.len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if tmp == libc::MAP_FAILED {
                set_errno(libc::ENOMEM);
                return -1;
            }
            // SAFETY: The piece made readable, copied whole, then moved
            // over by the copy (`MREMAP_FIXED` replaces it in one step).
            unsafe {
                sys_mprotect(p.start as *mut c_void, p.len, libc::PROT_READ);
                ptr::copy_nonoverlapping(p.start as *const u8, tmp as *mut u8, p.len);
            }
            let _ = st.forget(p.start, p.len, true);
            // SAFETY: As above.
            let r = unsafe {
                sys_mremap(
                    tmp,
                    p.len,
                    p.len,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    p.start as *mut c_void,
                )
            };
            if r == libc::MAP_FAILED {
                return -1;
            }
        }
    }
    // SAFETY: The caller's call.
    let r = unsafe { sys_mprotect(addr, len, prot) };
    if r == 0 {
        set_prot(&mut st, addr as usize, l, prot);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn madvise(addr: *mut c_void, len: size_t, advice: c_int) -> c_int {
    let Some(l) = round_up(len) else {
        set_errno(libc::EINVAL);
        return -1;
    };
    let start = addr as usize;
    if !start.is_multiple_of(PAGE) {
        set_errno(libc::EINVAL);
        return -1;
    }
    let st = STATE.lock();
    if !st.regions.overlaps(start, l) {
        drop(st);
        // SAFETY: The caller's call.
        return unsafe { sys_madvise(addr, len, advice) };
    }
    drop(st);
    let mut rc = 0;
    let mut at = start;
    // In rounds of 64 pieces (no heap).
    loop {
        let (r, next) = madvise_round(at, start + l, advice);
        if r != 0 && rc == 0 {
            rc = r;
        }
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    rc
}

/// `madvise` of `from..end` for up to 64 arena pieces and the gaps before
/// them: the first error (0 if none), and where the next round starts (none
/// once the range is done).
fn madvise_round(from: usize, end: usize, advice: c_int) -> (c_int, Option<usize>) {
    let st = STATE.lock();
    let (pieces, n) = st.regions.first_pieces::<64>(from, end - from);
    let pid = sys_getpid();
    let files: [c_int; 64] = core::array::from_fn(|i| {
        pieces
            .get(i)
            .filter(|_| i < n)
            .and_then(|p| st.files.get(p.file))
            .map_or(-1, |f| if f.pid == pid { f.fd } else { -1 })
    });
    drop(st);
    let mut rc = 0;
    let mut at = from;
    let gap = |from: usize, to: usize| {
        if to > from {
            // SAFETY: The caller's call, on memory that is not the arena's.
            unsafe { sys_madvise(from as *mut c_void, to - from, advice) }
        } else {
            0
        }
    };
    for (i, p) in pieces[..n].iter().enumerate() {
        let g = gap(at, p.start);
        if g != 0 && rc == 0 {
            rc = g;
        }
        at = p.end();
        let r = match advice {
            libc::MADV_DONTNEED | MADV_FREE | MADV_DONTNEED_LOCKED => {
                // Anonymous memory reads zeroes after: a hole.
                let mut st = STATE.lock();
                st.punch(p);
                0
            }
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                // SAFETY: Arena memory of the caller, which asked.
                unsafe { populate(p.start, p.len, advice == MADV_POPULATE_WRITE) };
                0
            }
            MADV_PAGEOUT | MADV_COLD => {
                if advice == MADV_PAGEOUT && files[i] >= 0 {
                    let mut args = uapi::PagearenaPageoutArgs {
                        version: uapi::PAGEARENA_UAPI_VERSION,
                        start: p.pgoff,
                        count: p.pages(),
                        ..Default::default()
                    };
                    sys_ioctl(
                        files[i],
                        uapi::PAGEARENA_IOC_PAGEOUT,
                        ptr::from_mut(&mut args) as usize,
                    );
                }
                0
            }
            libc::MADV_WILLNEED
            | libc::MADV_NORMAL
            | libc::MADV_RANDOM
            | libc::MADV_SEQUENTIAL
            | libc::MADV_HUGEPAGE
            | libc::MADV_NOHUGEPAGE
            | libc::MADV_MERGEABLE
            | libc::MADV_UNMERGEABLE
            | libc::MADV_DONTDUMP
            | libc::MADV_DODUMP => 0,
            _ => {
                // SAFETY: The caller's call on its arena memory: the
                // kernel's answer for a shared mapping of a file.
                unsafe { sys_madvise(p.start as *mut c_void, p.len, advice) }
            }
        };
        if r != 0 && rc == 0 {
            rc = r;
        }
    }
    if n == pieces.len() {
        // More pieces may follow: the next round starts after these.
        return (rc, Some(at));
    }
    let g = gap(at, end);
    if g != 0 && rc == 0 {
        rc = g;
    }
    (rc, None)
}

// ---------------------------------------------------------------------------
// The heap.

/// `dlmalloc`'s source of memory: arena mappings (or kernel ones, as for
/// any mapping the shim serves).
struct ShimSystem;

// SAFETY: `alloc` returns fresh, page-aligned, zero-filled mappings of the
// size it reports, which no one else uses; `free` and `free_part` unmap
// only what `alloc` gave.
unsafe impl dlmalloc::Allocator for ShimSystem {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let Some(len) = round_up(size) else {
            return (ptr::null_mut(), 0, 0);
        };
        // SAFETY: A new private anonymous mapping.
        let p = unsafe {
            do_mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            (ptr::null_mut(), 0, 0)
        } else {
            (p.cast(), len, 0)
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, ptr: *mut u8, oldsize: usize, newsize: usize) -> bool {
        // SAFETY: The tail of a mapping `alloc` made, which dlmalloc gives up.
        unsafe { do_munmap(ptr.add(newsize).cast(), oldsize - newsize) == 0 }
    }

    fn free(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: A mapping `alloc` made, which dlmalloc gives up.
        unsafe { do_munmap(ptr.cast(), size) == 0 }
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        true
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

static HEAP: Locked<dlmalloc::Dlmalloc<ShimSystem>> = Locked::new({
    let mut d = dlmalloc::Dlmalloc::new_with_allocator(ShimSystem);
    d.set_granularity(HEAP_GRANULARITY);
    d
});

const ALIGN: usize = 2 * core::mem::size_of::<usize>();

#[no_mangle]
pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
    // SAFETY: dlmalloc under its lock.
    let p = unsafe { HEAP.lock().c_malloc(size) };
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: `p` came from this heap (every allocation of the process
    // does, from its first), or is null.
    unsafe { HEAP.lock().c_free(p.cast()) }
}

#[no_mangle]
pub unsafe extern "C" fn calloc(n: size_t, size: size_t) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    // SAFETY: dlmalloc under its lock; it clears what is not fresh memory.
    let p = unsafe { HEAP.lock().calloc(total, ALIGN) };
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    if !p.is_null() && size == 0 {
        // SAFETY: As `free`; glibc's `realloc(p, 0)` frees and returns NULL.
        unsafe { free(p) };
        return ptr::null_mut();
    }
    // SAFETY: `p` came from this heap, or is null.
    let q = unsafe { HEAP.lock().c_realloc(p.cast(), size) };
    if q.is_null() {
        set_errno(libc::ENOMEM);
    }
    q.cast()
}

#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: size_t, size: size_t) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: As `realloc`.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

unsafe fn aligned(align: usize, size: usize) -> *mut c_void {
    // SAFETY: dlmalloc under its lock; `align` is a power of two.
    let p = unsafe { HEAP.lock().c_memalign(align.max(ALIGN), size) };
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    out: *mut *mut c_void,
    align: size_t,
    size: size_t,
) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<usize>()) {
        return libc::EINVAL;
    }
    // SAFETY: As `aligned`.
    let p = unsafe { aligned(align, size) };
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: The caller's out pointer.
    unsafe { *out = p };
    0
}

#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    // SAFETY: As `aligned`.
    unsafe { aligned(align, size) }
}

#[no_mangle]
pub unsafe extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
    // glibc rounds an alignment that is not a power of two up to one.
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    // SAFETY: As `aligned`.
    unsafe { aligned(align, size) }
}

#[no_mangle]
pub unsafe extern "C" fn valloc(size: size_t) -> *mut c_void {
    // SAFETY: As `aligned`.
    unsafe { aligned(PAGE, size) }
}

#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: size_t) -> *mut c_void {
    match round_up(size.max(1)) {
        // SAFETY: As `aligned`.
        Some(s) => unsafe { aligned(PAGE, s) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// dlmalloc's `malloc_usable_size`: the chunk's size (its header, the word
/// before the memory, less the flag bits) less the chunk's overhead (one
/// word; two for a chunk of its own mapping, which has neither in-use bit).
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
    if p.is_null() {
        return 0;
    }
    // SAFETY: `p` is a live allocation of this heap: its header is the
    // word before it.
    let head = unsafe { *(p as *const usize).sub(1) };
    let size = head & !7;
    let overhead = if head & 3 == 0 {
        2 * ALIGN / 2
    } else {
        ALIGN / 2
    };
    size.saturating_sub(overhead)
}

// ---------------------------------------------------------------------------
// Load, fork, exit.

extern "C" fn before_fork() {
    HEAP.raw_lock();
    STATE.raw_lock();
}

extern "C" fn after_fork() {
    // SAFETY: `before_fork` took both, in this thread (or the parent's
    // thread that forked this child).
    unsafe {
        STATE.raw_unlock();
        HEAP.raw_unlock();
    }
}

extern "C" fn init() {
    // SAFETY: At load, before `main`: `getenv` is safe to call.
    unsafe {
        let only = libc::getenv(c"PAGEARENA_SHIM_ARENA_ONLY".as_ptr());
        if !only.is_null() && *only == b'1' as c_char {
            ARENA_ONLY.store(true, Ordering::Relaxed);
        }
        env_into(c"PAGEARENA_SHIM_REPORT", &mut REPORT_PATH.lock());
        env_into(c"PAGEARENA_SHIM_DEVICE", &mut DEVICE_PATH.lock());
        libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork));
        libc::atexit(write_report);
    }
}

/// At exit: one JSON line per process, appended to `PAGEARENA_SHIM_REPORT`.
extern "C" fn write_report() {
    let path = REPORT_PATH.lock();
    if path[0] == 0 {
        return;
    }
    // Another thread may be inside the shim as the process exits.
    let Some(st) = STATE.try_lock() else { return };
    let r = &st.report;
    let mut line = [0u8; 512];
    let mut n = 0;
    let mut put = |s: &[u8]| {
        let take = s.len().min(line.len() - n);
        line[n..n + take].copy_from_slice(&s[..take]);
        n += take;
    };
    let fields: [(&[u8], u64); 10] = [
        (b"pid", sys_getpid() as u64),
        (b"arena_maps", r.arena_maps),
        (b"arena_bytes", r.arena_bytes),
        (b"kernel_maps", r.kernel_maps),
        (b"kernel_bytes", r.kernel_bytes),
        (b"fallbacks", FALLBACKS.load(Ordering::Relaxed)),
        (b"punched_bytes", r.punched_bytes),
        (b"mremap_in_place", r.mremap_in_place),
        (b"mremap_moved", r.mremap_moved),
        (b"mremap_copied", r.mremap_copied),
    ];
    put(b"{");
    for (i, (k, v)) in fields.iter().enumerate() {
        let mut b = [0u8; 20];
        if i > 0 {
            put(b",");
        }
        put(b"\"");
        put(k);
        put(b"\":");
        put(decimal(*v, &mut b));
    }
    put(b"}\n");
    // SAFETY: A NUL-terminated path; appends `n` bytes of `line`.
    unsafe {
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        ) as c_int;
        if fd >= 0 {
            libc::syscall(libc::SYS_write, fd, line.as_ptr(), n);
            sys_close(fd);
        }
    }
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

//! Tests of the kernel surface user programs have, used against arena
//! memory: `madvise` (every advice), fork flags a user can change
//! (`MADV_KEEPONFORK`, `MADV_DONTFORK`), `process_vm_readv`/`writev`,
//! `/proc/PID/mem` and `ptrace` (through `vm_ops->access`), `O_DIRECT`,
//! `io_uring`, `vmsplice`, `mlock`, read-only and moved mappings, and the
//! module's parameters that change the fault path. Each gets its documented
//! result or a clean errno.

use super::paging::{
    child_exit, cow_space, err, exit_77_on_sigbus, map, open, stamp, states, stats, Pipe,
};
use super::{ensure, expect_errno, Ctx, Outcome, Test};
use crate::dev::{in_child, page_size, spawn_child, wait_child, Mapping, Space};
use crate::kmsg::Kmsg;
use crate::uapi::{self, page_state, page_state::Kind};
use std::io;

/// The tests of this file.
pub const TESTS: &[Test] = &[
    Test {
        name: "fork-COW + MADV_KEEPONFORK, arena full: the child gets SIGBUS, never the parent's frames",
        run: keeponfork_cow_no_memory,
    },
    Test {
        name: "fork-COW + MADV_KEEPONFORK with a snapshot: isolation holds both ways",
        run: keeponfork_cow_snapshot,
    },
    Test {
        name: "shared mode + MADV_KEEPONFORK: the child inherits PTEs, and a COW zaps them too",
        run: keeponfork_shared,
    },
    Test {
        name: "MADV_DONTFORK: the child has no mapping (SIGSEGV), the parent keeps its data",
        run: dontfork,
    },
    Test {
        name: "madvise: every advice on an arena mapping gets its documented result",
        run: madvise_all,
    },
    Test {
        name: "process_vm_readv/writev: arena memory as the remote side is EFAULT, as the local side works",
        run: process_vm_rw,
    },
    Test {
        name: "/proc/PID/mem reads and writes arena memory (vm_ops->access); zero pages read as zeros",
        run: proc_mem,
    },
    Test {
        name: "ptrace PEEKDATA/POKEDATA on a child's arena memory, shared and fork-COW",
        run: ptrace_peek_poke,
    },
    Test {
        name: "O_DIRECT from a block device into arena memory is EFAULT; a buffered read works",
        run: o_direct,
    },
    Test {
        name: "io_uring: a read into arena memory works; arena memory as a fixed buffer is EFAULT",
        run: io_uring,
    },
    Test {
        name: "vmsplice of arena memory is EFAULT; write() from it works",
        run: vmsplice,
    },
    Test {
        name: "mlock succeeds but does not lock (VM_PFNMAP); data intact",
        run: mlock,
    },
    Test {
        name: "MAP_SHARED of an O_RDONLY fd maps read-only; write access is EACCES",
        run: read_only_fd,
    },
    Test {
        name: "mremap moves a mapping: data intact, still shared, and COW zaps reach it",
        run: mremap_move,
    },
    Test {
        name: "fault_around_pages=0 and =1 map one page per read fault",
        run: fault_around_off,
    },
    Test {
        name: "fault-around (16 and 64 pages) makes every PTE of its window, clipped to the VMA, even at the lowest user address",
        run: fault_around_window,
    },
    Test {
        name: "membarrier, rseq, seccomp and kcmp are there; faults under seccomp strict mode work",
        run: other_syscalls,
    },
];

/// The `VmFlags` of the VMA containing `addr`, from `/proc/self/smaps`.
fn vm_flags(addr: usize) -> Result<Vec<String>, String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").map_err(err("smaps"))?;
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = lo <= addr && addr < hi;
                    continue;
                }
            }
        }
        if inside {
            if let Some(f) = line.strip_prefix("VmFlags:") {
                return Ok(f.split_whitespace().map(str::to_string).collect());
            }
        }
    }
    Err(format!("no VMA at {addr:#x} in smaps"))
}

/// Fills the arena to its last frame, without forking (a fork would
/// snapshot the caller's fork-COW spaces): writes through `/proc/self/mem`
/// (`vm_ops->access`, a write fault that fails with `EIO` instead of
/// `SIGBUS`) into a large space until the arena is out, then into pages of
/// a space whose nodes were made beforehand, for the few frames a failed
/// fault that also needed a node gave back. The frames stay taken while the
/// returned spaces and mappings live.
fn fill_arena(ctx: &Ctx) -> Result<Vec<(Space, Mapping)>, String> {
    use std::os::unix::fs::FileExt;
    let ps = page_size();
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .map_err(err("/proc/self/mem"))?;
    let rest = open()?;
    let rm = map(&rest, 512)?;
    // Zero-mapping costs the nodes only: the later writes need frames alone.
    for p in 0..512 {
        let _ = rm.read(p * ps);
    }
    let s = open()?;
    let pages = 2 * (ctx.arena_mb as usize) * (1 << 20) / ps;
    let m = map(&s, pages)?;
    for (what, m, pages) in [("filler", &m, pages), ("last frames", &rm, 512)] {
        let full = (0..pages).find_map(|p| {
            mem.write_all_at(&[1], (m.ptr() as usize + p * ps) as u64)
                .err()
        });
        match full {
            Some(e) if e.raw_os_error() == Some(libc::EIO) => {}
            other => {
                return Err(format!(
                    "{what}: filling the arena ended with {other:?}, want EIO"
                ))
            }
        }
    }
    let left = stats(&s)?.nr_free;
    ensure(left == 0, || format!("{left} frames still free"))?;
    Ok(vec![(s, m), (rest, rm)])
}

fn keeponfork_cow_no_memory(ctx: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 64;
    let (s, m) = cow_space(n)?;
    m.advise(libc::MADV_KEEPONFORK)
        .map_err(err("MADV_KEEPONFORK"))?;
    let _full = fill_arena(ctx)?;
    let mut log = Kmsg::from_now().map_err(err("kmsg"))?;
    // The snapshot cannot be made: every access of the child must SIGBUS,
    // the first read included (a copied PTE would let it through).
    child_exit(
        "child reading",
        in_child(|| {
            exit_77_on_sigbus();
            let _ = m.read(0);
            0
        }),
        Ok(77),
    )?;
    let lines = log.read_new().map_err(err("kmsg"))?;
    ensure(
        lines.iter().any(|l| l.contains("no memory for a snapshot")),
        || format!("no 'no memory for a snapshot' line:\n{}", lines.join("\n")),
    )?;
    child_exit(
        "child writing",
        in_child(|| {
            exit_77_on_sigbus();
            for p in 0..n {
                m.write(p * ps, stamp(9, p));
            }
            0
        }),
        Ok(77),
    )?;
    for p in 0..n {
        ensure(m.read(p * ps) == stamp(1, p), || {
            format!("parent page {p} changed by a child without a snapshot")
        })?;
    }
    drop(s);
    Ok(())
}

fn keeponfork_cow_snapshot(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 32;
    let (s, m) = cow_space(n)?;
    m.advise(libc::MADV_KEEPONFORK)
        .map_err(err("MADV_KEEPONFORK"))?;
    let (to_child, to_parent) = (
        Pipe::new().map_err(err("pipe"))?,
        Pipe::new().map_err(err("pipe"))?,
    );
    let pid = spawn_child(|| {
        for p in 0..n {
            if m.read(p * ps) != stamp(1, p) {
                return 2;
            }
            m.write(p * ps, stamp(9, p));
        }
        to_parent.post();
        to_child.wait();
        // The parent has written its pages meanwhile.
        for p in 0..n {
            if m.read(p * ps) != stamp(9, p) {
                return 3;
            }
        }
        0
    })
    .map_err(err("fork"))?;
    to_parent.wait();
    for p in 0..n {
        ensure(m.read(p * ps) == stamp(1, p), || {
            format!("parent page {p} changed by the child")
        })?;
        m.write(p * ps, stamp(4, p));
    }
    to_child.post();
    child_exit("child", wait_child(pid), Ok(0))?;
    ensure(stats(&s)?.fork_snapshot > 0, || "no fork snapshot".into())
}

fn keeponfork_shared(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 16;
    let s = open()?;
    let m = map(&s, n)?;
    for p in 0..n {
        m.write(p * ps, stamp(1, p));
    }
    m.advise(libc::MADV_KEEPONFORK)
        .map_err(err("MADV_KEEPONFORK"))?;
    let (to_child, to_parent) = (
        Pipe::new().map_err(err("pipe"))?,
        Pipe::new().map_err(err("pipe"))?,
    );
    let pid = spawn_child(|| {
        // Copied PTEs: the child reads the shared space at once.
        for p in 0..n {
            if m.read(p * ps) != stamp(1, p) {
                return 2;
            }
        }
        to_parent.post();
        to_child.wait();
        // The parent cloned the space and wrote every page (a COW in the
        // space the child shares): the child's copied PTEs to the old frames
        // must be gone, and it sees the new values, even after the clone
        // that held the old frames closed.
        for p in 0..n {
            if m.read(p * ps) != stamp(2, p) {
                return 3;
            }
        }
        m.write(0, stamp(3, 0));
        to_parent.post();
        0
    })
    .map_err(err("fork"))?;
    to_parent.wait();
    let clone = s.clone_space().map_err(err("CLONE"))?;
    for p in 0..n {
        m.write(p * ps, stamp(2, p));
    }
    drop(clone);
    to_child.post();
    to_parent.wait();
    child_exit("child", wait_child(pid), Ok(0))?;
    ensure(m.read(0) == stamp(3, 0), || {
        "the child's write after the COW did not reach the shared space".into()
    })
}

fn dontfork(_: &Ctx) -> Outcome {
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 4)?;
    m.write(0, 5);
    m.advise(libc::MADV_DONTFORK)
        .map_err(err("MADV_DONTFORK"))?;
    child_exit(
        "child",
        in_child(|| {
            let _ = m.read(0);
            0
        }),
        Err(libc::SIGSEGV),
    )?;
    ensure(m.read(0) == 5 && m.read(ps) == 0, || "parent's data".into())
}

fn madvise_all(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 8;
    let s = open()?;
    let m = map(&s, n)?;
    for p in 0..n {
        m.write(p * ps, stamp(1, p));
    }
    // (advice, name, errno or 0), from mm/madvise.c for a shared VM_PFNMAP
    // file mapping: flags it may carry are set; anything that needs struct
    // pages (LRU, zapping anonymous memory, GUP, KSM, THP collapse) or
    // refuses VM_SPECIAL is EINVAL; MADV_REMOVE punches a hole with the
    // file's fallocate, which vfs_fallocate refuses on a character device
    // (ENODEV).
    let table: &[(i32, &str, i32)] = &[
        (libc::MADV_NORMAL, "NORMAL", 0),
        (libc::MADV_RANDOM, "RANDOM", 0),
        (libc::MADV_SEQUENTIAL, "SEQUENTIAL", 0),
        (libc::MADV_WILLNEED, "WILLNEED", 0),
        (libc::MADV_DONTNEED, "DONTNEED", libc::EINVAL),
        (libc::MADV_FREE, "FREE", libc::EINVAL),
        (libc::MADV_REMOVE, "REMOVE", libc::ENODEV),
        (libc::MADV_COLD, "COLD", libc::EINVAL),
        (libc::MADV_PAGEOUT, "PAGEOUT", libc::EINVAL),
        (libc::MADV_POPULATE_READ, "POPULATE_READ", libc::EINVAL),
        (libc::MADV_POPULATE_WRITE, "POPULATE_WRITE", libc::EINVAL),
        (libc::MADV_HUGEPAGE, "HUGEPAGE", 0),
        (libc::MADV_NOHUGEPAGE, "NOHUGEPAGE", 0),
        (libc::MADV_COLLAPSE, "COLLAPSE", libc::EINVAL),
        (libc::MADV_MERGEABLE, "MERGEABLE", libc::EINVAL),
        (libc::MADV_DONTDUMP, "DONTDUMP", 0),
        (libc::MADV_DODUMP, "DODUMP", libc::EINVAL),
        (libc::MADV_WIPEONFORK, "WIPEONFORK", libc::EINVAL),
        (libc::MADV_KEEPONFORK, "KEEPONFORK", 0),
        (libc::MADV_DONTFORK, "DONTFORK", 0),
        (libc::MADV_DOFORK, "DOFORK", libc::EINVAL),
        (
            102, /* MADV_GUARD_INSTALL */
            "GUARD_INSTALL",
            libc::EINVAL,
        ),
    ];
    let mut wrong = Vec::new();
    for &(advice, name, want) in table {
        let got = match m.advise(advice) {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(-1),
        };
        if got != want {
            wrong.push(format!(
                "MADV_{name}: got {} want {}",
                io::Error::from_raw_os_error(got),
                io::Error::from_raw_os_error(want)
            ));
        }
    }
    ensure(wrong.is_empty(), || wrong.join("; "))?;
    // The flags that took effect.
    let f = vm_flags(m.ptr() as usize)?;
    for (flag, why) in [("dc", "DONTFORK"), ("dd", "DONTDUMP"), ("pf", "VM_PFNMAP")] {
        ensure(f.iter().any(|x| x == flag), || {
            format!("VmFlags lack '{flag}' ({why}): {f:?}")
        })?;
    }
    ensure(!f.iter().any(|x| x == "wf"), || {
        format!("VmFlags still have 'wf' after KEEPONFORK: {f:?}")
    })?;
    // Nothing was discarded or moved.
    for p in 0..n {
        ensure(m.read(p * ps) == stamp(1, p), || {
            format!("page {p} changed by madvise")
        })?;
    }
    Ok(())
}

/// `process_vm_readv` (`write`: `writev`) of `len` bytes between `local` in
/// this process and `remote` in `pid`.
fn process_vm(
    pid: i32,
    local: *mut u8,
    remote: *mut u8,
    len: usize,
    write: bool,
) -> io::Result<isize> {
    let l = libc::iovec {
        iov_base: local.cast(),
        iov_len: len,
    };
    let r = libc::iovec {
        iov_base: remote.cast(),
        iov_len: len,
    };
    // SAFETY: both iovecs describe memory of the respective processes; the
    // kernel checks them and answers EFAULT for anything it cannot reach.
    let n = unsafe {
        if write {
            libc::process_vm_writev(pid, &l, 1, &r, 1, 0)
        } else {
            libc::process_vm_readv(pid, &l, 1, &r, 1, 0)
        }
    };
    crate::dev::cvt(n)
}

fn process_vm_rw(_: &Ctx) -> Outcome {
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 2)?;
    m.write(0, 42);
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let mut buf = vec![0u8; ps];
    expect_errno(
        "process_vm_readv from arena memory",
        process_vm(me, buf.as_mut_ptr(), m.ptr(), ps, false),
        libc::EFAULT,
    )?;
    expect_errno(
        "process_vm_writev to arena memory",
        process_vm(me, buf.as_mut_ptr(), m.ptr(), ps, true),
        libc::EFAULT,
    )?;
    // The local side is copied with copy_to_user, which faults normally.
    let mut plain = vec![0u8; ps];
    plain[..8].copy_from_slice(&7u64.to_ne_bytes());
    // SAFETY: `m.ptr() + ps` is the second page of our arena mapping.
    let local = unsafe { m.ptr().add(ps) };
    let n =
        process_vm(me, local, plain.as_mut_ptr(), ps, false).map_err(err("readv into arena"))?;
    ensure(
        n == ps as isize && m.read(ps) == 7 && m.read(0) == 42,
        || {
            format!(
                "process_vm_readv into arena memory: {n} bytes, value {}",
                m.read(ps)
            )
        },
    )
}

fn proc_mem(_: &Ctx) -> Outcome {
    use std::os::unix::fs::FileExt;
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 4)?;
    m.write(0, 0x1122_3344_5566_7788);
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")
        .map_err(err("/proc/self/mem"))?;
    let mut b = [0u8; 8];
    mem.read_exact_at(&mut b, m.ptr() as u64)
        .map_err(err("read"))?;
    ensure(u64::from_ne_bytes(b) == 0x1122_3344_5566_7788, || {
        format!("read {:#x}", u64::from_ne_bytes(b))
    })?;
    // A page never touched reads as zeros and stays untouched.
    let mut z = vec![0xffu8; ps];
    mem.read_exact_at(&mut z, m.ptr() as u64 + 2 * ps as u64)
        .map_err(err("read untouched"))?;
    ensure(z.iter().all(|&x| x == 0), || {
        "untouched page not zero".into()
    })?;
    let st = states(&s, 2, 1)?;
    ensure(page_state::kind(st[0]) == Kind::None, || {
        format!("reading an untouched page changed its state: {:#x}", st[0])
    })?;
    // A write across a page boundary lands in both pages.
    let val = 0xa5a5_a5a5_a5a5_a5a5u64.to_ne_bytes();
    let mut two = [0u8; 16];
    two[..8].copy_from_slice(&val);
    two[8..].copy_from_slice(&val);
    mem.write_all_at(&two, m.ptr() as u64 + 2 * ps as u64 - 8)
        .map_err(err("write across pages"))?;
    ensure(
        m.read(2 * ps - 8) == u64::from_ne_bytes(val) && m.read(2 * ps) == u64::from_ne_bytes(val),
        || "write through /proc/self/mem".into(),
    )?;
    // A read-only mapping cannot be written this way (no FOLL_FORCE on
    // shared memory).
    m.protect(libc::PROT_READ).map_err(err("mprotect"))?;
    let r = mem.write_all_at(&[1u8; 8], m.ptr() as u64);
    m.protect(libc::PROT_READ | libc::PROT_WRITE)
        .map_err(err("mprotect"))?;
    expect_errno("write to a PROT_READ mapping", r, libc::EIO)?;
    ensure(m.read(0) == 0x1122_3344_5566_7788, || {
        "read-only page changed".into()
    })
}

/// A child stopped under ptrace (`PTRACE_TRACEME` + `SIGSTOP`); returns its pid.
fn traced_child() -> Result<i32, String> {
    let pid = spawn_child(|| {
        // SAFETY: plain syscalls in the child.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
        }
        0
    })
    .map_err(err("fork"))?;
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    ensure(libc::WIFSTOPPED(status), || "child did not stop".into())?;
    Ok(pid)
}

fn peek(pid: i32, addr: *mut u8) -> io::Result<u64> {
    // SAFETY: clears errno, then PEEKDATA on our traced child.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::ptrace(libc::PTRACE_PEEKDATA, pid, addr, 0);
        if v == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(v as u64)
    }
}

fn poke(pid: i32, addr: *mut u8, v: u64) -> io::Result<()> {
    // SAFETY: POKEDATA on our traced child.
    crate::dev::cvt(unsafe { libc::ptrace(libc::PTRACE_POKEDATA, pid, addr, v) }).map(|_| ())
}

fn end_traced(pid: i32) -> Outcome {
    // SAFETY: kills and reaps our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let _ = wait_child(pid);
    Ok(())
}

fn ptrace_peek_poke(_: &Ctx) -> Outcome {
    let ps = page_size();
    // Shared mode: the child maps the same space.
    let s = open()?;
    let m = map(&s, 4)?;
    m.write(0, 11);
    let pid = traced_child()?;
    let r = (|| -> Outcome {
        let v = peek(pid, m.ptr()).map_err(err("PEEKDATA"))?;
        ensure(v == 11, || format!("PEEKDATA read {v}"))?;
        // SAFETY: pointer arithmetic inside our mapping.
        let p1 = unsafe { m.ptr().add(ps) };
        ensure(peek(pid, p1).map_err(err("PEEKDATA zero"))? == 0, || {
            "untouched page".into()
        })?;
        poke(pid, p1, 22).map_err(err("POKEDATA"))?;
        ensure(m.read(ps) == 22, || {
            "POKEDATA did not reach the shared space".into()
        })
    })();
    end_traced(pid)?;
    r?;
    // Fork-COW: a poke into the child's snapshot is the child's alone.
    let (c, cm) = cow_space(2)?;
    let pid = traced_child()?;
    let r = (|| -> Outcome {
        ensure(
            peek(pid, cm.ptr()).map_err(err("PEEKDATA"))? == stamp(1, 0),
            || "child's snapshot".into(),
        )?;
        poke(pid, cm.ptr(), 99).map_err(err("POKEDATA"))?;
        ensure(peek(pid, cm.ptr()).map_err(err("PEEKDATA"))? == 99, || {
            "poked value in the child".into()
        })?;
        ensure(cm.read(0) == stamp(1, 0), || {
            "POKEDATA into a fork-COW child changed the parent".into()
        })
    })();
    end_traced(pid)?;
    drop(c);
    r
}

fn o_direct(_: &Ctx) -> Outcome {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let ps = page_size();
    let sys = "/sys/block/zram0";
    let size = std::fs::read_to_string(format!("{sys}/disksize")).map_err(err("zram0 disksize"))?;
    if size.trim() == "0" {
        std::fs::write(format!("{sys}/disksize"), "4M").map_err(err("zram0 disksize"))?;
    }
    let r = (|| -> Outcome {
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/zram0")
            .map_err(err("/dev/zram0"))?;
        dev.write_all_at(&vec![0x3cu8; ps], 0)
            .map_err(err("write zram0"))?;
        let direct = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open("/dev/zram0")
            .map_err(err("/dev/zram0 O_DIRECT"))?;
        let s = open()?;
        let m = map(&s, 2)?;
        // SAFETY: one page inside our mapping.
        let buf = unsafe { std::slice::from_raw_parts_mut(m.ptr(), ps) };
        expect_errno(
            "O_DIRECT read into arena memory",
            direct.read_at(buf, 0),
            libc::EFAULT,
        )?;
        let n = dev.read_at(buf, 0).map_err(err("buffered read"))?;
        ensure(n == ps && m.read(0) == 0x3c3c_3c3c_3c3c_3c3c, || {
            format!("buffered read: {n} bytes, {:#x}", m.read(0))
        })
    })();
    let _ = std::fs::write(format!("{sys}/reset"), "1");
    r
}

fn io_uring(_: &Ctx) -> Outcome {
    use io_uring::{opcode, types, IoUring};
    use std::os::fd::AsRawFd;
    let ps = page_size();
    let path = "/tmp/pagearena-io-uring";
    std::fs::write(path, vec![0x6bu8; ps]).map_err(err(path))?;
    let file = std::fs::File::open(path).map_err(err(path))?;
    let s = open()?;
    let m = map(&s, 2)?;
    let mut ring = IoUring::new(4).map_err(err("io_uring_setup"))?;
    let read = opcode::Read::new(types::Fd(file.as_raw_fd()), m.ptr(), ps as u32).build();
    // SAFETY: the buffer (our mapping) outlives the request, which we wait for.
    unsafe { ring.submission().push(&read) }.map_err(|_| "submission queue full".to_string())?;
    ring.submit_and_wait(1).map_err(err("io_uring_enter"))?;
    let cqe = ring.completion().next().ok_or("no completion")?;
    ensure(
        cqe.result() == ps as i32 && m.read(0) == 0x6b6b_6b6b_6b6b_6b6b,
        || format!("io_uring read: result {}, {:#x}", cqe.result(), m.read(0)),
    )?;
    let iov = [libc::iovec {
        iov_base: m.ptr().cast(),
        iov_len: ps,
    }];
    // SAFETY: registers our own mapping; the kernel pins or refuses it.
    let r = unsafe { ring.submitter().register_buffers(&iov) };
    let _ = std::fs::remove_file(path);
    expect_errno("IORING_REGISTER_BUFFERS of arena memory", r, libc::EFAULT)
}

fn vmsplice(_: &Ctx) -> Outcome {
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 1)?;
    m.write(0, 3);
    let mut p = [0i32; 2];
    // SAFETY: creates a pipe into our array.
    crate::dev::cvt(unsafe { libc::pipe(p.as_mut_ptr()) }).map_err(err("pipe"))?;
    let iov = libc::iovec {
        iov_base: m.ptr().cast(),
        iov_len: ps,
    };
    // SAFETY: vmsplice of our own mapping into our own pipe.
    let r = crate::dev::cvt(unsafe { libc::vmsplice(p[1], &iov, 1, 0) });
    // SAFETY: write() copies from our mapping into our pipe.
    let w = crate::dev::cvt(unsafe { libc::write(p[1], m.ptr().cast(), 8) });
    let mut b = [0u8; 8];
    // SAFETY: reads into our stack buffer.
    let rd = unsafe { libc::read(p[0], b.as_mut_ptr().cast(), 8) };
    // SAFETY: closes our own fds.
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
    }
    expect_errno("vmsplice of arena memory", r, libc::EFAULT)?;
    let w = w.ok();
    ensure(
        w == Some(8) && rd == 8 && u64::from_ne_bytes(b) == 3,
        || format!("write() from arena memory: {w:?}, read back {rd}"),
    )
}

fn mlock(_: &Ctx) -> Outcome {
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 4)?;
    m.write(0, 8);
    // SAFETY: mlock/munlock of our own mapping.
    let r = crate::dev::cvt(unsafe { libc::mlock(m.ptr().cast(), 4 * ps) });
    ensure(r.is_ok(), || format!("mlock: {r:?}"))?;
    let f = vm_flags(m.ptr() as usize)?;
    ensure(!f.iter().any(|x| x == "lo"), || {
        format!("a VM_PFNMAP VMA got VM_LOCKED: {f:?}")
    })?;
    // SAFETY: as above.
    crate::dev::cvt(unsafe { libc::munlock(m.ptr().cast(), 4 * ps) }).map_err(err("munlock"))?;
    ensure(m.read(0) == 8, || "data after mlock".into())
}

fn read_only_fd(_: &Ctx) -> Outcome {
    let ps = page_size();
    let file = std::fs::File::open(uapi::PAGEARENA_DEVICE).map_err(err("open O_RDONLY"))?;
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let m = Mapping::new(fd, 0, 4 * ps, libc::PROT_READ, libc::MAP_SHARED)
        .map_err(err("MAP_SHARED PROT_READ of an O_RDONLY fd"))?;
    ensure((0..4).all(|p| m.read(p * ps) == 0), || "reads zeros".into())?;
    let f = vm_flags(m.ptr() as usize)?;
    ensure(
        f.iter().any(|x| x == "ms") && !f.iter().any(|x| x == "sh"),
        || format!("want VM_MAYSHARE without VM_SHARED: {f:?}"),
    )?;
    expect_errno(
        "PROT_WRITE on an O_RDONLY fd",
        Mapping::new(
            fd,
            0,
            ps,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
        ),
        libc::EACCES,
    )?;
    expect_errno(
        "mprotect(PROT_WRITE)",
        m.protect(libc::PROT_READ | libc::PROT_WRITE),
        libc::EACCES,
    )?;
    expect_errno(
        "MAP_PRIVATE of an O_RDONLY fd",
        Mapping::new(fd, 0, ps, libc::PROT_READ, libc::MAP_PRIVATE),
        libc::EINVAL,
    )?;
    // A write attempt faults with SIGSEGV, as for any read-only mapping.
    child_exit(
        "write to a read-only mapping",
        in_child(|| {
            m.write(0, 1);
            0
        }),
        Err(libc::SIGSEGV),
    )
}

fn mremap_move(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 8;
    let s = open()?;
    let m = map(&s, n)?;
    let other = map(&s, n)?;
    for p in 0..n {
        m.write(p * ps, stamp(1, p));
    }
    // A free range to move to.
    let hole = Mapping::anonymous(n * ps).map_err(err("reserve"))?;
    let to = hole.ptr();
    // SAFETY: moves our mapping over our own reserved range, which the
    // kernel unmaps; `hole` then owns the moved mapping (unmapped on drop).
    let r = unsafe {
        libc::mremap(
            m.ptr().cast(),
            n * ps,
            n * ps,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to.cast::<libc::c_void>(),
        )
    };
    ensure(r == to.cast(), || {
        format!("mremap: {}", io::Error::last_os_error())
    })?;
    std::mem::forget(m);
    let moved = &hole;
    for p in 0..n {
        ensure(moved.read(p * ps) == stamp(1, p), || {
            format!("moved page {p}")
        })?;
    }
    other.write(0, stamp(2, 0));
    ensure(moved.read(0) == stamp(2, 0), || {
        "moved mapping no longer shares".into()
    })?;
    // A COW in the space (clone, then a write through the other mapping)
    // must zap the moved mapping's PTE: it sees the new frame.
    let clone = s.clone_space().map_err(err("CLONE"))?;
    other.write(ps, stamp(3, 1));
    drop(clone);
    ensure(moved.read(ps) == stamp(3, 1), || {
        "moved mapping kept a PTE to the frame before the COW".into()
    })?;
    moved.write(2 * ps, stamp(4, 2));
    ensure(other.read(2 * ps) == stamp(4, 2), || {
        "write through moved mapping".into()
    })
}

/// Reloads the module with the standard arena and `fault_around_pages`.
fn reload_fault_around(ctx: &Ctx, around: usize) -> Outcome {
    ctx.unload().map_err(err("rmmod"))?;
    ctx.load(&format!(
        "arena_mb={} fault_around_pages={around}",
        ctx.arena_mb
    ))
    .map_err(err("insmod"))
}

fn fault_around_off(ctx: &Ctx) -> Outcome {
    let ps = page_size();
    let r = (|| -> Outcome {
        for around in [0, 1] {
            reload_fault_around(ctx, around)?;
            let s = open()?;
            let m = map(&s, 32)?;
            m.write(5 * ps, 7);
            let before = stats(&s)?;
            for p in 0..32 {
                let want = if p == 5 { 7 } else { 0 };
                ensure(m.read(p * ps) == want, || format!("page {p}"))?;
            }
            let after = stats(&s)?;
            ensure(after.fault_around == before.fault_around, || {
                format!("fault_around_pages={around}: fault-around mapped pages")
            })?;
            ensure(after.zero_page_fault - before.zero_page_fault == 31, || {
                format!(
                    "fault_around_pages={around}: {} zero-page faults for 31 pages",
                    after.zero_page_fault - before.zero_page_fault
                )
            })?;
        }
        Ok(())
    })();
    let _ = ctx.unload();
    ctx.restore()?;
    r
}

/// Reads page `p` of `m` (which starts at page `first` of its space) and
/// checks that exactly the pages `mapped` of the space then read with no
/// further fault, and that the page after them faults.
fn read_maps_window(
    s: &Space,
    m: &Mapping,
    first: usize,
    p: usize,
    mapped: std::ops::Range<usize>,
) -> Outcome {
    let ps = page_size();
    let before = stats(s)?;
    ensure(m.read((p - first) * ps) == 0, || {
        format!("page {p} not zero")
    })?;
    let mid = stats(s)?;
    let (faults, around) = (
        mid.zero_page_fault - before.zero_page_fault,
        mid.fault_around - before.fault_around,
    );
    ensure(faults == 1 && around == mapped.len() as u64 - 1, || {
        format!(
            "read of page {p}: {faults} faults, {around} pages mapped around, want 1 and {}",
            mapped.len() - 1
        )
    })?;
    for q in mapped.clone() {
        ensure(m.read((q - first) * ps) == 0, || {
            format!("page {q} not zero")
        })?;
    }
    let after = stats(s)?;
    ensure(after.pgfault == mid.pgfault, || {
        format!(
            "pages {mapped:?} after reading page {p}: {} more faults (their PTEs were not made)",
            after.pgfault - mid.pgfault
        )
    })?;
    if (mapped.end - first) * ps < m.len() {
        ensure(m.read((mapped.end - first) * ps) == 0, || {
            "past the window".into()
        })?;
        ensure(stats(s)?.pgfault == after.pgfault + 1, || {
            format!("page {} after the window took no fault", mapped.end)
        })?;
    }
    Ok(())
}

fn fault_around_window(ctx: &Ctx) -> Outcome {
    let ps = page_size();
    let r = (|| -> Outcome {
        for around in [16, 64] {
            reload_fault_around(ctx, around)?;
            // A VMA from page 5 of the space: the window of page 6 (and, at
            // 64, of page 40: its own batch first, then the one before) is
            // clipped at the VMA's start.
            for p in [6, 40] {
                let s = open()?;
                let m = s.map(5 * ps as u64, 90 * ps).map_err(err("mmap"))?;
                let w = p / around * around;
                read_maps_window(&s, &m, 5, p, w.max(5)..w + around)?;
            }
            // The end of the VMA clips it too: pages 0..=4 of a VMA of 5.
            let s = open()?;
            let m = s.map(0, 5 * ps).map_err(err("mmap"))?;
            read_maps_window(&s, &m, 0, 2, 0..5)?;
            // At the lowest address a user may map (64 KiB), page 40 of the
            // space: the window's first pages would lie below address 0.
            let s = open()?;
            let low = Mapping::new_at(
                0x10000,
                s.fd(),
                40 * ps as u64,
                40 * ps,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
            )
            .map_err(err("mmap at 64 KiB"))?;
            let w = 40 / around * around;
            read_maps_window(&s, &low, 40, 41, 40..w + around)?;
        }
        Ok(())
    })();
    let _ = ctx.unload();
    ctx.restore()?;
    r
}

fn other_syscalls(_: &Ctx) -> Outcome {
    let ps = page_size();
    // SAFETY: MEMBARRIER_CMD_QUERY (0) only returns the supported commands.
    let mb = unsafe { libc::syscall(libc::SYS_membarrier, 0, 0) };
    ensure(mb > 0, || {
        format!("membarrier(QUERY): {mb}, {}", io::Error::last_os_error())
    })?;
    // SAFETY: rseq with a NULL area and length 0 is refused, with EINVAL if
    // the syscall exists (ENOSYS if not).
    let r = crate::dev::cvt(unsafe { libc::syscall(libc::SYS_rseq, 0usize, 0u32, 0, 0u32) });
    expect_errno("rseq(NULL, 0)", r, libc::EINVAL)?;
    // kcmp: two fds of one space are one file; a clone is another.
    let s = open()?;
    // SAFETY: dup of our own fd.
    let dup = crate::dev::cvt(unsafe { libc::dup(s.fd()) }).map_err(err("dup"))?;
    let c = s.clone_space().map_err(err("CLONE"))?;
    // SAFETY: getpid has no preconditions; kcmp compares our own fds.
    let me = unsafe { libc::getpid() };
    let kcmp = |a: i32, b: i32| unsafe {
        libc::syscall(libc::SYS_kcmp, me, me, 0 /* KCMP_FILE */, a, b)
    };
    let (same, other) = (kcmp(s.fd(), dup), kcmp(s.fd(), c.fd()));
    // SAFETY: closes our dup.
    unsafe { libc::close(dup) };
    ensure(same == 0 && other > 0, || {
        format!("kcmp(KCMP_FILE): dup {same}, clone {other}")
    })?;
    // seccomp strict mode allows only read, write, exit and sigreturn: arena
    // faults are no syscalls, so a strict child still faults pages in.
    let m = map(&s, 2)?;
    m.write(0, 1);
    child_exit(
        "strict-mode child",
        in_child(|| {
            // SAFETY: the child enters strict mode, touches memory and
            // leaves with the raw exit syscall (exit_group is not allowed).
            unsafe {
                if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_STRICT) != 0 {
                    return 2;
                }
                if m.read(0) != 1 {
                    libc::syscall(libc::SYS_exit, 3);
                }
                m.write(ps, 0x5ecc);
                libc::syscall(libc::SYS_exit, 0);
            }
            4
        }),
        Ok(0),
    )?;
    ensure(m.read(ps) == 0x5ecc, || {
        "the strict-mode child's write".into()
    })
}

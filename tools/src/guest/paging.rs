//! Tests of the paging arena: mmap, the fault handler (zero page, demand
//! zero, copy-on-write), clone, fork, exhaustion, isolation, the statistics
//! and unload.

use super::{ensure, expect_errno, Ctx, Outcome, Test};
pub(super) use crate::dev::Pipe;
use crate::dev::{in_child, page_size, spawn_child, wait_child, Mapping, Space};
use crate::kmsg::Kmsg;
use crate::uapi::{self, page_state, page_state::Kind};
use std::io;

/// The tests of this file.
pub const TESTS: &[Test] = &[
    Test {
        name: "mmap: MAP_PRIVATE, and offsets or lengths past the space limit, are EINVAL",
        run: mmap_bad_input,
    },
    Test {
        name: "mremap cannot grow a mapping; a partial munmap keeps the rest",
        run: mremap_munmap,
    },
    Test {
        name: "mprotect(PROT_READ): a write is SIGSEGV, and read-write again works",
        run: mprotect_round_trip,
    },
    Test {
        name: "reading 1 GiB of a new space reads zeros and costs only page-table frames, one frame a node",
        run: zero_sweep,
    },
    Test {
        name: "write-then-read patterns, page by page, with page state and counters",
        run: write_read,
    },
    Test {
        name: "two mappings, fork and fd passing share one space",
        run: shared_mappings,
    },
    Test {
        name: "a write reaches every process: zero and COW mappings are zapped everywhere",
        run: rmap_zaps_all_processes,
    },
    Test {
        name: "spaces are isolated from each other",
        run: isolation,
    },
    Test {
        name: "clone: a COW snapshot, by content and page state; the last sharer reuses",
        run: clone_cow,
    },
    Test {
        name: "clones taken while two threads write the space: every snapshot holds still (no write fault's PTE outlives a snapshot's zap)",
        run: clone_while_writing,
    },
    Test {
        name: "fork in shared mode: parent and child see each other's writes",
        run: fork_shared,
    },
    Test {
        name: "fork-COW: the child's writes stay in the child",
        run: fork_cow_child_writes,
    },
    Test {
        name: "fork-COW: the parent's writes after fork stay in the parent",
        run: fork_cow_parent_writes,
    },
    Test {
        name: "fork-COW: mprotect round trip in the child",
        run: fork_cow_mprotect,
    },
    Test {
        name: "fork-COW: once the child is gone, the parent's writes reuse its frames",
        run: fork_cow_child_gone,
    },
    Test {
        name: "fork-COW: the child's two mappings of a space share one snapshot",
        run: fork_cow_two_mappings,
    },
    Test {
        name: "8 threads fault the same and disjoint pages; contents intact",
        run: threads,
    },
    Test {
        name: "exhaustion: the writer gets SIGBUS; other spaces' pages stay readable and writable while the arena is full",
        run: exhaustion,
    },
    Test {
        name: "a frame is zeroed before a new space sees it",
        run: frames_zeroed,
    },
    Test {
        name: "page-state, clone and fork-mode ioctls reject bad input",
        run: bad_ioctls,
    },
    Test {
        name: "debugfs vmstat, buddyinfo, slabinfo and spaces",
        run: debugfs_files,
    },
    Test {
        name: "the samples (zero-page, demand-zero, cow-clone, cow-fork, and cow-clone in C) succeed",
        run: samples,
    },
    Test {
        name: "rmmod is refused while mapped; then every frame comes back",
        run: unload_returns_everything,
    },
    Test {
        name: "the leak check at unload sees one leaked page-table node",
        run: unload_sees_a_leaked_node,
    },
    Test {
        name: "without slab_debug (the production slab layout): clone, fork-COW, threads, exhaustion",
        run: without_slab_debug,
    },
];

fn samples(_: &Ctx) -> Outcome {
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let dir = exe.parent().ok_or("no directory for the runner")?;
    for name in [
        "zero-page",
        "demand-zero",
        "cow-clone",
        "cow-fork",
        "cow-clone-c",
    ] {
        let out = std::process::Command::new(dir.join(name))
            .output()
            .map_err(|e| format!("{name} (build it with make tools): {e}"))?;
        ensure(out.status.success(), || {
            format!(
                "{name}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    }
    Ok(())
}

pub(super) fn err(what: &str) -> impl FnOnce(io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

pub(super) fn open() -> Result<Space, String> {
    Space::open().map_err(err("open"))
}

pub(super) fn map(s: &Space, pages: usize) -> Result<Mapping, String> {
    s.map(0, pages * page_size()).map_err(err("mmap"))
}

/// A value that says which page it was written to, and by whom.
pub(super) fn stamp(tag: u64, page: usize) -> u64 {
    (tag << 32) | page as u64
}

pub(super) fn states(s: &Space, start: u64, n: u64) -> Result<Vec<u64>, String> {
    s.page_state(start, n).map_err(err("PAGE_STATE"))
}

pub(super) fn stats(s: &Space) -> Result<uapi::PagearenaStats, String> {
    s.stats().map_err(err("STATS"))
}

fn space_stats(s: &Space) -> Result<uapi::PagearenaSpaceStats, String> {
    s.space_stats().map_err(err("SPACE_STATS"))
}

/// Checks how a child ended.
pub(super) fn child_exit(
    what: &str,
    r: io::Result<Result<i32, i32>>,
    want: Result<i32, i32>,
) -> Outcome {
    let got = r.map_err(err(what))?;
    ensure(got == want, || {
        format!("{what}: child ended {got:?} (Ok = exit code, Err = signal), want {want:?}")
    })
}

fn mmap_bad_input(_: &Ctx) -> Outcome {
    let s = open()?;
    let ps = page_size();
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    expect_errno(
        "MAP_PRIVATE",
        Mapping::new(s.fd(), 0, ps, rw, libc::MAP_PRIVATE),
        libc::EINVAL,
    )?;
    let limit = uapi::PAGEARENA_SPACE_MAX_PAGES * ps as u64;
    expect_errno(
        "offset at the limit",
        Mapping::new(s.fd(), limit, ps, rw, libc::MAP_SHARED),
        libc::EINVAL,
    )?;
    expect_errno(
        "length past the limit",
        Mapping::new(s.fd(), limit - ps as u64, 2 * ps, rw, libc::MAP_SHARED),
        libc::EINVAL,
    )?;
    // The last page of the space is fine.
    let m = Mapping::new(s.fd(), limit - ps as u64, ps, rw, libc::MAP_SHARED)
        .map_err(err("mmap of the last page"))?;
    m.write(0, 7);
    ensure(m.read(0) == 7, || "last page: wrong value".into())
}

fn mremap_munmap(_: &Ctx) -> Outcome {
    let s = open()?;
    let ps = page_size();
    let m = map(&s, 4)?;
    // SAFETY: asks to grow our own mapping in place; refused or not, no
    // memory of ours changes.
    let r = unsafe { libc::mremap(m.ptr().cast(), 4 * ps, 8 * ps, 0) };
    ensure(r == libc::MAP_FAILED, || "mremap grew the mapping".into())?;
    for i in 0..4 {
        m.write(i * ps, stamp(1, i));
    }
    // Unmap pages 1 and 2 only.
    // SAFETY: unmaps two pages inside our mapping, which we no longer touch.
    let r = unsafe { libc::munmap(m.ptr().add(ps).cast(), 2 * ps) };
    ensure(r == 0, || "partial munmap failed".into())?;
    ensure(
        m.read(0) == stamp(1, 0) && m.read(3 * ps) == stamp(1, 3),
        || "pages 0 and 3 lost their data after a partial munmap".into(),
    )?;
    // The space still holds pages 1 and 2.
    let m2 = map(&s, 4)?;
    ensure(
        m2.read(ps) == stamp(1, 1) && m2.read(2 * ps) == stamp(1, 2),
        || "unmapped pages lost their data".into(),
    )?;
    let st = space_stats(&s)?;
    ensure(st.nr_vmas == 3, || {
        format!("{} VMAs, want 3 (two halves and one new)", st.nr_vmas)
    })
}

fn mprotect_round_trip(_: &Ctx) -> Outcome {
    let s = open()?;
    let m = map(&s, 2)?;
    m.write(0, 11);
    m.protect(libc::PROT_READ).map_err(err("mprotect"))?;
    child_exit(
        "write after mprotect(PROT_READ)",
        in_child(|| {
            m.write(8, 1);
            0
        }),
        Err(libc::SIGSEGV),
    )?;
    ensure(m.read(0) == 11, || "read after mprotect".into())?;
    m.protect(libc::PROT_READ | libc::PROT_WRITE)
        .map_err(err("mprotect back"))?;
    m.write(8, 12);
    m.write(page_size(), 13);
    ensure(m.read(8) == 12 && m.read(page_size()) == 13, || {
        "write after mprotect back".into()
    })
}

fn zero_sweep(_: &Ctx) -> Outcome {
    let s = open()?;
    let pages = (1usize << 30) / page_size();
    let before = stats(&s)?;
    let m = Mapping::new(
        s.fd(),
        0,
        pages * page_size(),
        libc::PROT_READ,
        libc::MAP_SHARED,
    )
    .map_err(err("mmap PROT_READ"))?;
    for p in 0..pages {
        let v = m.read(p * page_size());
        if v != 0 {
            return Err(format!("page {p} reads {v:#x}"));
        }
    }
    let after = stats(&s)?;
    let st = space_stats(&s)?;
    ensure(st.zero_mapped == pages as u64 && st.resident == 0, || {
        format!("zero_mapped {} resident {}", st.zero_mapped, st.resident)
    })?;
    // The only frames used are page-table nodes, one frame each.
    let used = before.nr_free - after.nr_free;
    let nodes = after.nr_pt_nodes - before.nr_pt_nodes;
    ensure(
        used == nodes && after.nr_slab_frames == before.nr_slab_frames,
        || format!("{used} frames used, but page tables grew by {nodes} frames"),
    )?;
    // 512 entries per leaf node: 512 leaves, 1 + 1 + 1 above.
    ensure(
        st.pt_nodes == (pages as u64).div_ceil(512) + 3 && nodes == st.pt_nodes,
        || format!("{} page-table nodes ({nodes} frames)", st.pt_nodes),
    )?;
    // A read fault maps its fault-around window (16 pages by default).
    let faults = after.zero_page_fault - before.zero_page_fault;
    let around = after.fault_around - before.fault_around;
    ensure(faults + around == pages as u64 && around > faults, || {
        format!("{faults} zero-page faults and {around} pages mapped around them for {pages} pages")
    })?;
    let ps = states(&s, 0, pages as u64)?;
    ensure(
        ps.iter().all(|&e| page_state::kind(e) == Kind::Zero),
        || "page state is not zero everywhere".into(),
    )
}

fn write_read(_: &Ctx) -> Outcome {
    let s = open()?;
    let n = 1024;
    let ps = page_size();
    let before = stats(&s)?;
    let m = map(&s, n)?;
    // Read half first (zero page), then write everything.
    for p in (0..n).step_by(2) {
        ensure(m.read(p * ps) == 0, || format!("page {p} not zero"))?;
    }
    for p in 0..n {
        for w in [0, 8 * 255, ps - 8] {
            m.write(p * ps + w, stamp(0xabc, p) ^ w as u64);
        }
    }
    for p in 0..n {
        for w in [0, 8 * 255, ps - 8] {
            let v = m.read(p * ps + w);
            if v != stamp(0xabc, p) ^ w as u64 {
                return Err(format!("page {p} word {w}: {v:#x}"));
            }
        }
    }
    let st = space_stats(&s)?;
    ensure(st.resident == n as u64 && st.zero_mapped == 0, || {
        format!("resident {} zero {}", st.resident, st.zero_mapped)
    })?;
    let after = stats(&s)?;
    ensure(
        after.demand_zero_fault - before.demand_zero_fault == n as u64,
        || {
            format!(
                "{} demand-zero faults for {n} pages",
                after.demand_zero_fault - before.demand_zero_fault
            )
        },
    )?;
    let e = states(&s, 0, n as u64 + 1)?;
    for (p, &x) in e.iter().enumerate().take(n) {
        ensure(
            page_state::kind(x) == Kind::Frame
                && page_state::share_count(x) == 1
                && x & page_state::WRITABLE != 0,
            || format!("page {p}: state {x:#x}"),
        )?;
    }
    ensure(page_state::kind(e[n]) == Kind::None, || {
        "page past the writes is not none".into()
    })?;
    // Another mapping (a new VMA) sees the same data.
    drop(m);
    let m = map(&s, n)?;
    ensure(m.read((n - 1) * ps) == stamp(0xabc, n - 1), || {
        "remapped page lost its data".into()
    })
}

/// Sends `fd` over the unix socket `sock` (`SCM_RIGHTS`).
fn send_fd(sock: i32, fd: i32) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let mut cbuf = [0u64; 8];
    // SAFETY: zeroed msghdr is valid; we point it at live buffers below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: the control buffer is large enough for one cmsg with an int.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        libc::CMSG_DATA(c).cast::<i32>().write_unaligned(fd);
    }
    // SAFETY: msg points at live buffers.
    crate::dev::cvt(unsafe { libc::sendmsg(sock, &msg, 0) }).map(|_| ())
}

/// Receives one fd from `sock` (no allocation: usable in a forked child).
fn recv_fd(sock: i32) -> i32 {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: as in `send_fd`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg points at live buffers.
    if unsafe { libc::recvmsg(sock, &mut msg, 0) } < 1 {
        return -1;
    }
    // SAFETY: the kernel filled the control buffer.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return -1;
        }
        libc::CMSG_DATA(c).cast::<i32>().read_unaligned()
    }
}

fn shared_mappings(_: &Ctx) -> Outcome {
    let ps = page_size();
    // A child forked before the space exists gets it only by fd passing.
    let mut sv = [0i32; 2];
    // SAFETY: creates two sockets into our array.
    crate::dev::cvt(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr())
    })
    .map_err(err("socketpair"))?;
    let pid = spawn_child(|| {
        let fd = recv_fd(sv[1]);
        match Mapping::new(
            fd,
            0,
            4 * ps,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
        ) {
            Ok(m) if m.read(0) == 41 => {
                m.write(ps, 42);
                0
            }
            Ok(_) => 2,
            Err(_) => 3,
        }
    })
    .map_err(err("fork"))?;
    let setup = (|| -> Result<(Space, Mapping, Mapping), String> {
        let s = open()?;
        let a = map(&s, 4)?;
        let b = map(&s, 4)?;
        a.write(0, 41);
        ensure(b.read(0) == 41, || {
            "second mapping does not see the first's write".into()
        })?;
        send_fd(sv[0], s.fd()).map_err(err("sendmsg"))?;
        Ok((s, a, b))
    })();
    if setup.is_err() {
        // SAFETY: ends our own child, stuck waiting for the fd.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let r = wait_child(pid);
    let (s, a, b) = setup?;
    child_exit("fd-passing child", r, Ok(0))?;
    ensure(a.read(ps) == 42 && b.read(ps) == 42, || {
        "the fd-passing child's write is not visible".into()
    })?;
    // SAFETY: closes our sockets.
    unsafe {
        libc::close(sv[0]);
        libc::close(sv[1]);
    }
    // Fork: the child maps the inherited fd anew, and uses the inherited
    // mapping.
    child_exit(
        "forked child",
        in_child(|| {
            let Ok(c) = Mapping::new(
                s.fd(),
                0,
                4 * ps,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
            ) else {
                return 3;
            };
            c.write(2 * ps, 43);
            a.write(3 * ps, 44);
            0
        }),
        Ok(0),
    )?;
    ensure(b.read(2 * ps) == 43 && b.read(3 * ps) == 44, || {
        "the forked child's writes are not visible".into()
    })?;
    ensure(space_stats(&s)?.nr_vmas == 2, || "VMA count".into())
}

/// A pipe end pair for lock-step between parent and child.
fn rmap_zaps_all_processes(_: &Ctx) -> Outcome {
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 2)?;
    m.write(ps, 5);
    let snap = s.clone_space().map_err(err("CLONE"))?;
    let (to_child, to_parent) = (
        Pipe::new().map_err(err("pipe"))?,
        Pipe::new().map_err(err("pipe"))?,
    );
    let pid = spawn_child(|| {
        // Map the zero page (page 0) and the shared frame (page 1) here.
        let ok0 = m.read(0) == 0 && m.read(ps) == 5;
        to_parent.post();
        to_child.wait();
        // The parent wrote both pages: we must see it.
        if !ok0 {
            2
        } else if m.read(0) != 6 {
            3
        } else if m.read(ps) != 7 {
            4
        } else {
            0
        }
    })
    .map_err(err("fork"))?;
    to_parent.wait();
    m.write(0, 6); // zero page -> frame: the child's zero mapping must go.
    m.write(ps, 7); // shared with the clone -> COW copy: the child's old frame mapping must go.
    to_child.post();
    child_exit("child", wait_child(pid), Ok(0))?;
    let sm = map(&snap, 2)?;
    ensure(sm.read(0) == 0 && sm.read(ps) == 5, || {
        "the clone changed".into()
    })
}

fn isolation(_: &Ctx) -> Outcome {
    let (a, b) = (open()?, open()?);
    let (ma, mb) = (map(&a, 16)?, map(&b, 16)?);
    for p in 0..16 {
        ma.write(p * page_size(), stamp(0xa, p));
    }
    for p in 0..16 {
        ensure(mb.read(p * page_size()) == 0, || {
            format!("space b sees a's page {p}")
        })?;
    }
    ensure(space_stats(&a)?.id != space_stats(&b)?.id, || {
        "same id".into()
    })
}

/// Two threads keep writing every page of a space (each its own half,
/// each write a new value), so that they fault again after every snapshot
/// (its zap takes their writable PTEs); meanwhile the main thread clones the
/// space over and over and reads each clone twice. A
/// clone (400 of them, read 200 us apart) is a snapshot: if a write fault that decided before the clone made
/// its writable PTE after the clone's zap, the writer's next writes would
/// land in a frame the clone shares, and the clone's page would change
/// between the two reads.
fn clone_while_writing(_: &Ctx) -> Outcome {
    use std::sync::atomic::{AtomicBool, Ordering};
    let ps = page_size();
    let n = 256;
    let src = open()?;
    let ms = map(&src, n)?;
    let base = ms.ptr() as usize;
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| -> Outcome {
        for t in 0..2usize {
            let stop = &stop;
            sc.spawn(move || {
                let mut v = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    for p in (t..n).step_by(2) {
                        let at = (base + p * ps) as *mut u64;
                        // SAFETY: inside the mapping, which outlives the
                        // scope; each thread writes its own pages.
                        unsafe { at.write_volatile(v << 16 | p as u64) };
                    }
                    v += 1;
                }
            });
        }
        let r = (|| -> Outcome {
            for k in 0..400 {
                let c = src.clone_space().map_err(|e| format!("CLONE {k}: {e}"))?;
                let mc = map(&c, n)?;
                let first: Vec<u64> = (0..n).map(|p| mc.read(p * ps)).collect();
                std::thread::sleep(std::time::Duration::from_micros(200));
                for (p, &was) in first.iter().enumerate() {
                    let now = mc.read(p * ps);
                    ensure(now == was, || {
                        format!("clone {k}: page {p} changed from {was:#x} to {now:#x} after the snapshot")
                    })?;
                    ensure(was == 0 || was & 0xffff == p as u64, || {
                        format!("clone {k}: page {p} holds {was:#x}, another page's value")
                    })?;
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        r
    })
}

fn clone_cow(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 64;
    let src = open()?;
    let ms = map(&src, n)?;
    for p in 0..n {
        ms.write(p * ps, stamp(1, p));
        // A word no later write touches: a COW copy must carry it over.
        ms.write(p * ps + ps / 2, !stamp(1, p));
    }
    let clone = src.clone_space().map_err(err("CLONE"))?;
    let mc = map(&clone, n)?;
    let before = stats(&src)?;
    let (es, ec) = (states(&src, 0, n as u64)?, states(&clone, 0, n as u64)?);
    for p in 0..n {
        ensure(
            page_state::kind(es[p]) == Kind::Frame
                && page_state::payload(es[p]) == page_state::payload(ec[p])
                && page_state::share_count(es[p]) == 2
                && es[p] & page_state::WRITABLE == 0,
            || format!("page {p} after clone: {:#x} / {:#x}", es[p], ec[p]),
        )?;
        ensure(mc.read(p * ps) == stamp(1, p), || format!("clone page {p}"))?;
    }
    ensure(space_stats(&src)?.shared == n as u64, || {
        "shared count".into()
    })?;
    // Source writes the first half, the clone the second.
    for p in 0..n / 2 {
        ms.write(p * ps, stamp(2, p));
    }
    for p in n / 2..n {
        mc.write(p * ps, stamp(3, p));
    }
    for p in 0..n {
        let (want_s, want_c) = if p < n / 2 {
            (stamp(2, p), stamp(1, p))
        } else {
            (stamp(1, p), stamp(3, p))
        };
        ensure(ms.read(p * ps) == want_s, || format!("source page {p}"))?;
        ensure(mc.read(p * ps) == want_c, || format!("clone page {p}"))?;
        ensure(
            ms.read(p * ps + ps / 2) == !stamp(1, p) && mc.read(p * ps + ps / 2) == !stamp(1, p),
            || format!("page {p}: the copy lost the rest of the page"),
        )?;
    }
    let mid = stats(&src)?;
    ensure(mid.cow_fault - before.cow_fault == n as u64, || {
        format!("{} COW faults, want {n}", mid.cow_fault - before.cow_fault)
    })?;
    let (es, ec) = (states(&src, 0, n as u64)?, states(&clone, 0, n as u64)?);
    for p in 0..n {
        ensure(
            page_state::share_count(es[p]) == 1 && page_state::share_count(ec[p]) == 1,
            || format!("page {p} still shared"),
        )?;
        ensure(
            page_state::payload(es[p]) != page_state::payload(ec[p]),
            || format!("page {p}: same frame after COW"),
        )?;
    }
    // Each side now holds its other half alone: writes reuse, no copies.
    for p in n / 2..n {
        ms.write(p * ps + 8, 1);
    }
    for p in 0..n / 2 {
        mc.write(p * ps + 8, 1);
    }
    let end = stats(&src)?;
    ensure(end.cow_fault == mid.cow_fault, || {
        "the last sharer copied".into()
    })?;
    ensure(
        end.cow_reuse_fault - mid.cow_reuse_fault == n as u64,
        || {
            format!(
                "{} COW-reuse faults, want {n}",
                end.cow_reuse_fault - mid.cow_reuse_fault
            )
        },
    )?;
    let e2 = states(&src, 0, n as u64)?;
    ensure(
        (n / 2..n).all(|p| page_state::payload(e2[p]) == page_state::payload(es[p])),
        || "a reused frame moved".into(),
    )
}

fn fork_shared(_: &Ctx) -> Outcome {
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 8)?;
    m.write(0, 1);
    let (to_child, to_parent) = (
        Pipe::new().map_err(err("pipe"))?,
        Pipe::new().map_err(err("pipe"))?,
    );
    let pid = spawn_child(|| {
        let ok = m.read(0) == 1;
        m.write(ps, 2);
        to_parent.post();
        to_child.wait();
        if !ok {
            2
        } else if m.read(2 * ps) != 3 {
            3
        } else {
            0
        }
    })
    .map_err(err("fork"))?;
    to_parent.wait();
    let saw = m.read(ps);
    m.write(2 * ps, 3);
    to_child.post();
    child_exit("child", wait_child(pid), Ok(0))?;
    ensure(saw == 2, || {
        format!("parent read {saw} where the child wrote 2")
    })
}

/// A fork-COW space with `n` pages written `stamp(1, p)` (and one page left
/// zero-mapped, one untouched), mapped.
pub(super) fn cow_space(n: usize) -> Result<(Space, Mapping), String> {
    let s = open()?;
    s.set_fork_mode(uapi::PAGEARENA_FORK_COW)
        .map_err(err("SET_FORK_MODE"))?;
    let m = map(&s, n + 2)?;
    for p in 0..n {
        m.write(p * page_size(), stamp(1, p));
        m.write(p * page_size() + 8, !stamp(1, p));
    }
    let _ = m.read(n * page_size());
    Ok((s, m))
}

fn fork_cow_child_writes(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 32;
    let (s, m) = cow_space(n)?;
    let before = stats(&s)?;
    child_exit(
        "child",
        in_child(|| {
            for p in 0..n {
                if m.read(p * ps) != stamp(1, p) {
                    return 2;
                }
                m.write(p * ps, stamp(9, p));
            }
            m.write(n * ps, 9); // was zero-mapped
            m.write((n + 1) * ps, 9); // untouched
            for p in 0..n {
                if m.read(p * ps) != stamp(9, p) {
                    return 3;
                }
                if m.read(p * ps + 8) != !stamp(1, p) {
                    return 4;
                }
            }
            0
        }),
        Ok(0),
    )?;
    for p in 0..n {
        ensure(m.read(p * ps) == stamp(1, p), || {
            format!("parent page {p} changed by the child")
        })?;
    }
    ensure(m.read(n * ps) == 0 && m.read((n + 1) * ps) == 0, || {
        "parent's zero pages changed by the child".into()
    })?;
    let after = stats(&s)?;
    ensure(after.fork_snapshot > before.fork_snapshot, || {
        "no fork snapshot counted".into()
    })?;
    ensure(after.cow_fault - before.cow_fault >= n as u64, || {
        format!(
            "{} COW faults for {n} pages",
            after.cow_fault - before.cow_fault
        )
    })?;
    // The parent writes again: COW or reuse, its data stays its own.
    for p in 0..n {
        m.write(p * ps, stamp(4, p));
        ensure(m.read(p * ps) == stamp(4, p), || {
            format!("parent rewrite {p}")
        })?;
    }
    Ok(())
}

fn fork_cow_parent_writes(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 32;
    let (_s, m) = cow_space(n)?;
    let (to_child, to_parent) = (
        Pipe::new().map_err(err("pipe"))?,
        Pipe::new().map_err(err("pipe"))?,
    );
    let pid = spawn_child(|| {
        to_parent.post();
        to_child.wait();
        let mut code = 0;
        for p in 0..n {
            if m.read(p * ps) != stamp(1, p) {
                code = 2;
            }
        }
        if m.read(n * ps) != 0 {
            code = 3;
        }
        code
    })
    .map_err(err("fork"))?;
    to_parent.wait();
    for p in 0..n {
        m.write(p * ps, stamp(5, p));
    }
    m.write(n * ps, 5);
    to_child.post();
    child_exit("child", wait_child(pid), Ok(0))?;
    ensure(m.read(0) == stamp(5, 0), || "parent lost its write".into())
}

fn fork_cow_mprotect(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 8;
    let (_s, m) = cow_space(n)?;
    child_exit(
        "child",
        in_child(|| {
            if m.protect(libc::PROT_READ).is_err() {
                return 2;
            }
            if m.read(0) != stamp(1, 0) {
                return 3;
            }
            if m.protect(libc::PROT_READ | libc::PROT_WRITE).is_err() {
                return 4;
            }
            for p in 0..n {
                m.write(p * ps, stamp(7, p));
            }
            if m.read((n - 1) * ps) != stamp(7, n - 1) {
                return 5;
            }
            0
        }),
        Ok(0),
    )?;
    ensure(m.read(0) == stamp(1, 0), || {
        "parent changed by child".into()
    })?;
    // And in the parent.
    m.protect(libc::PROT_READ).map_err(err("mprotect"))?;
    m.protect(libc::PROT_READ | libc::PROT_WRITE)
        .map_err(err("mprotect"))?;
    m.write(0, 8);
    ensure(m.read(0) == 8, || {
        "parent write after mprotect round trip".into()
    })
}

fn fork_cow_child_gone(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 16;
    let (s, m) = cow_space(n)?;
    child_exit(
        "child",
        in_child(|| {
            let bad = (0..n).filter(|&p| m.read(p * ps) != stamp(1, p)).count();
            i32::from(bad != 0)
        }),
        Ok(0),
    )?;
    let before = stats(&s)?;
    ensure(space_stats(&s)?.shared == 0, || {
        "frames still shared after the child exited".into()
    })?;
    for p in 0..n {
        m.write(p * ps, stamp(2, p));
    }
    let after = stats(&s)?;
    ensure(
        after.cow_fault == before.cow_fault
            && after.cow_reuse_fault - before.cow_reuse_fault == n as u64,
        || {
            format!(
                "{} copies and {} reuses for {n} pages",
                after.cow_fault - before.cow_fault,
                after.cow_reuse_fault - before.cow_reuse_fault
            )
        },
    )
}

fn fork_cow_two_mappings(_: &Ctx) -> Outcome {
    let ps = page_size();
    let n = 4;
    let (s, m1) = cow_space(n)?;
    let m2 = map(&s, n)?;
    let before = stats(&s)?;
    child_exit(
        "child",
        in_child(|| {
            m1.write(0, 77);
            if m2.read(0) != 77 || m2.read(ps) != stamp(1, 1) {
                return 2;
            }
            m2.write(ps, 78);
            i32::from(m1.read(ps) != 78)
        }),
        Ok(0),
    )?;
    let after = stats(&s)?;
    ensure(after.fork_snapshot - before.fork_snapshot == 1, || {
        format!(
            "{} snapshots for one fork",
            after.fork_snapshot - before.fork_snapshot
        )
    })?;
    ensure(
        m1.read(0) == stamp(1, 0) && m2.read(ps) == stamp(1, 1),
        || "the child's writes reached the parent".into(),
    )
}

fn threads(_: &Ctx) -> Outcome {
    let ps = page_size();
    let (nt, per) = (8usize, 128usize);
    let shared = 32usize;
    let s = open()?;
    let m = map(&s, nt * per + shared)?;
    let r: Vec<Result<(), String>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..nt)
            .map(|t| {
                let m = &m;
                sc.spawn(move || {
                    // Disjoint pages: each thread its own range.
                    for p in t * per..(t + 1) * per {
                        m.write(p * ps, stamp(t as u64 + 1, p));
                    }
                    // The same pages: each thread its own word in each.
                    for p in nt * per..nt * per + shared {
                        let _ = m.read(p * ps + 8 * t);
                        m.write(p * ps + 8 * t, stamp(t as u64 + 1, p));
                    }
                    for p in t * per..(t + 1) * per {
                        if m.read(p * ps) != stamp(t as u64 + 1, p) {
                            return Err(format!("thread {t}: page {p}"));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    r.into_iter().collect::<Result<Vec<_>, _>>()?;
    for p in nt * per..nt * per + shared {
        for t in 0..nt {
            let v = m.read(p * ps + 8 * t);
            ensure(v == stamp(t as u64 + 1, p), || {
                format!("shared page {p}, thread {t}'s word: {v:#x}")
            })?;
        }
    }
    let st = space_stats(&s)?;
    ensure(st.resident == (nt * per + shared) as u64, || {
        format!("resident {}", st.resident)
    })
}

/// Makes `SIGBUS` end this (child) process with exit code 77.
pub(super) fn exit_77_on_sigbus() {
    // SAFETY: installs a handler that only calls `_exit`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = exit_on_sigbus as *const () as usize;
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

extern "C" fn exit_on_sigbus(_: i32) {
    // SAFETY: `_exit` is async-signal-safe.
    unsafe { libc::_exit(77) };
}

fn exhaustion(ctx: &Ctx) -> Outcome {
    let ps = page_size();
    // A space with data before the arena fills up.
    let other = open()?;
    let om = map(&other, 64)?;
    for p in 0..64 {
        om.write(p * ps, stamp(5, p));
    }
    let s = open()?;
    let before = stats(&s)?;
    let pages = 2 * (ctx.arena_mb as usize) * (1 << 20) / ps;
    let m = map(&s, pages)?;
    // Frames left on every CPU's free list (after STATS, which drains
    // them): the writer must get them too, as the lists are drained before
    // memory is called exhausted.
    super::device::fill_cpu_lists()?;
    child_exit(
        "writer",
        in_child(|| {
            exit_77_on_sigbus();
            // On one CPU: the other CPUs' free lists are reachable only by
            // draining them.
            if super::device::pin_to_cpu(0).is_err() {
                return 1;
            }
            for p in 0..pages {
                m.write(p * ps, 1);
            }
            0
        }),
        Ok(77),
    )?;
    let mid = stats(&s)?;
    ensure(mid.oom_fault > before.oom_fault, || {
        "no OOM fault counted".into()
    })?;
    ensure(mid.nr_free < 8, || {
        format!("the arena is not full: {} frames free", mid.nr_free)
    })?;
    // While it is full, the other space's pages (each its own frame) can be
    // read and written: nothing needs a new frame.
    for p in 0..64 {
        ensure(om.read(p * ps) == stamp(5, p), || {
            format!("other space's page {p} unreadable while the arena is full")
        })?;
        om.write(p * ps, stamp(6, p));
    }
    for p in 0..64 {
        ensure(om.read(p * ps) == stamp(6, p), || {
            format!("other space's page {p} lost a write while the arena is full")
        })?;
    }
    drop(om);
    drop(other);
    // The arena is full; another space can still read (zero page needs only
    // nodes, which may also be out) and the kernel is fine. Free it and
    // check another space works and everything came back.
    drop(m);
    drop(s);
    let t = open()?;
    let mt = map(&t, 64)?;
    for p in 0..64 {
        mt.write(p * ps, stamp(3, p));
    }
    ensure(mt.read(63 * ps) == stamp(3, 63), || {
        "after exhaustion".into()
    })?;
    drop(mt);
    drop(t);
    // Every data frame is back (slab caches may keep an empty slab); the
    // other space's were taken before `before`. Soon, not at once: the
    // reclaim thread may hold the last reference to a space for the length
    // of one reverse-map walk, and then frees it.
    let b = before.nr_free + before.nr_slab_frames + 64 + before.nr_pt_nodes;
    let mut a = 0;
    for _ in 0..50 {
        let st = stats(&open()?)?;
        a = st.nr_free + st.nr_slab_frames + st.nr_pt_nodes;
        if a == b {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("free + slab frames: {a} after 5 s, {b} before"))
}

fn frames_zeroed(_: &Ctx) -> Outcome {
    let ps = page_size();
    let a = open()?;
    let n = (stats(&a)?.nr_free as usize).saturating_sub(256);
    {
        let m = map(&a, n)?;
        for p in 0..n {
            for w in (0..ps).step_by(8) {
                m.write(p * ps + w, 0x5a5a_5a5a_5a5a_5a5a);
            }
        }
    }
    drop(a);
    let b = open()?;
    let m = map(&b, n)?;
    for p in 0..n {
        m.write(p * ps, 1);
        for w in (8..ps).step_by(8) {
            let v = m.read(p * ps + w);
            if v != 0 {
                return Err(format!("page {p} word {w}: {v:#x}: another space's data"));
            }
        }
    }
    Ok(())
}

fn bad_ioctls(_: &Ctx) -> Outcome {
    let s = open()?;
    let mut buf = [0u64; 4];
    let good = uapi::PagearenaPageStateArgs {
        version: uapi::PAGEARENA_UAPI_VERSION,
        reserved: 0,
        start: 0,
        count: 4,
        buf: buf.as_mut_ptr() as u64,
    };
    let call = |mut a: uapi::PagearenaPageStateArgs| {
        s.ioctl_raw(uapi::PAGEARENA_IOC_PAGE_STATE, &mut a as *mut _ as usize)
    };
    call(good).map_err(err("PAGE_STATE"))?;
    expect_errno(
        "count over the maximum",
        call(uapi::PagearenaPageStateArgs {
            count: uapi::PAGEARENA_PAGE_STATE_MAX + 1,
            ..good
        }),
        libc::EINVAL,
    )?;
    expect_errno(
        "range past the limit",
        call(uapi::PagearenaPageStateArgs {
            start: uapi::PAGEARENA_SPACE_MAX_PAGES - 2,
            ..good
        }),
        libc::EINVAL,
    )?;
    expect_errno(
        "start near u64::MAX",
        call(uapi::PagearenaPageStateArgs {
            start: u64::MAX - 1,
            ..good
        }),
        libc::EINVAL,
    )?;
    expect_errno(
        "unknown version",
        call(uapi::PagearenaPageStateArgs {
            version: 99,
            ..good
        }),
        libc::EINVAL,
    )?;
    expect_errno(
        "reserved set",
        call(uapi::PagearenaPageStateArgs {
            reserved: 1,
            ..good
        }),
        libc::EINVAL,
    )?;
    expect_errno(
        "NULL buffer",
        call(uapi::PagearenaPageStateArgs { buf: 0, ..good }),
        libc::EFAULT,
    )?;
    expect_errno(
        "kernel buffer",
        call(uapi::PagearenaPageStateArgs {
            buf: 0xffff_8880_0000_0000,
            ..good
        }),
        libc::EFAULT,
    )?;
    expect_errno(
        "args at NULL",
        s.ioctl_raw(uapi::PAGEARENA_IOC_PAGE_STATE, 0),
        libc::EFAULT,
    )?;
    expect_errno(
        "fork mode 2",
        s.ioctl_raw(uapi::PAGEARENA_IOC_SET_FORK_MODE, 2),
        libc::EINVAL,
    )?;
    let wrong_dir = uapi::ioc(
        uapi::IOC_READ,
        uapi::PAGEARENA_IOC_MAGIC,
        uapi::PAGEARENA_NR_CLONE,
        0,
    );
    expect_errno(
        "CLONE encoded as a read",
        s.ioctl_raw(wrong_dir, 0),
        libc::EINVAL,
    )?;
    let wrong_size = uapi::ioc(
        uapi::IOC_READ,
        uapi::PAGEARENA_IOC_MAGIC,
        uapi::PAGEARENA_NR_STATS,
        8,
    );
    expect_errno(
        "STATS with size 8",
        s.ioctl_raw(wrong_size, 0),
        libc::EINVAL,
    )?;
    expect_errno(
        "SPACE_STATS to NULL",
        s.ioctl_raw(uapi::PAGEARENA_IOC_SPACE_STATS, 0),
        libc::EFAULT,
    )
}

pub(super) fn debugfs_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::path::PathBuf::from("/sys/kernel/debug/pagearena");
    if !dir.exists() {
        // SAFETY: mounts debugfs at its usual place, from C strings.
        unsafe {
            libc::mount(
                c"debugfs".as_ptr(),
                c"/sys/kernel/debug".as_ptr(),
                c"debugfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
    ensure(dir.exists(), || format!("{} does not exist", dir.display()))?;
    Ok(dir)
}

fn debugfs_files(_: &Ctx) -> Outcome {
    let dir = debugfs_dir()?;
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{f}: {e}"));
    let s = open()?;
    let m = map(&s, 4)?;
    m.write(0, 1);
    let _ = m.read(page_size());
    let st = space_stats(&s)?;
    let g = stats(&s)?;
    let vmstat = read("vmstat")?;
    for key in [
        "nr_free_pages",
        "nr_arena_pages",
        "nr_page_table_pages",
        "pgfault",
        "zero_page_fault",
        "demand_zero_fault",
        "cow_fault",
        "cow_reuse_fault",
        "oom_fault",
    ] {
        let line = vmstat.lines().find(|l| l.split(' ').next() == Some(key));
        let ok = line.is_some_and(|l| {
            l.split(' ')
                .nth(1)
                .is_some_and(|v| v.parse::<u64>().is_ok())
        });
        ensure(ok, || format!("vmstat has no '{key} N' line:\n{vmstat}"))?;
    }
    ensure(
        vmstat.contains(&format!("nr_arena_pages {}\n", g.nr_frames)),
        || "vmstat nr_arena_pages".into(),
    )?;
    let buddy = read("buddyinfo")?;
    let fields: Vec<&str> = buddy.split_whitespace().collect();
    ensure(
        buddy.starts_with("Node 0, zone") && fields.len() == 4 + 11,
        || format!("buddyinfo: {buddy:?}"),
    )?;
    let slab = read("slabinfo")?;
    ensure(
        slab.starts_with("slabinfo - version: 2.1\n")
            && slab.lines().any(|l| l.starts_with("pa_space ")),
        || format!("slabinfo: {slab}"),
    )?;
    let spaces = read("spaces")?;
    let me = spaces
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&st.id.to_string()));
    let cols: Vec<&str> = me
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    // Page 0 is written; the read of page 1 maps pages 1..=3 (fault-around,
    // bounded by the 4-page VMA).
    ensure(
        cols.len() == 7
            && cols[1] == "1"
            && cols[2] == "3"
            && cols[3] == "0"
            && cols[5] == "1"
            && cols[6] == "shared",
        || {
            format!(
                "spaces has no line 'id 1 3 0 nodes 1 shared' for space {}:\n{spaces}",
                st.id
            )
        },
    )
}

fn unload_returns_everything(ctx: &Ctx) -> Outcome {
    let s = open()?;
    let m = map(&s, 64)?;
    for p in 0..64 {
        m.write(p * page_size(), 1);
    }
    let c = s.clone_space().map_err(err("CLONE"))?;
    drop(s);
    drop(c);
    // The mapping alone keeps the space, and the module, alive.
    let r = ctx.unload();
    if r.is_ok() {
        ctx.restore()?;
        return Err("rmmod succeeded while a space was mapped".into());
    }
    ensure(m.read(0) == 1, || "data lost after refused rmmod".into())?;
    drop(m);
    let mut log = Kmsg::from_now().map_err(err("kmsg"))?;
    ctx.unload().map_err(err("rmmod after munmap"))?;
    let lines = log.read_new().map_err(err("kmsg"))?;
    ctx.restore()?;
    ensure(lines.iter().any(|l| l.contains("nothing leaked")), || {
        format!("no 'nothing leaked' line at unload:\n{}", lines.join("\n"))
    })
}

fn unload_sees_a_leaked_node(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(err("rmmod"))?;
    ctx.load(&format!("arena_mb={} selftest_leak_node=1", ctx.arena_mb))
        .map_err(err("insmod selftest_leak_node=1"))?;
    let r = (|| -> Outcome {
        // Some real work first, so the check has more than the leak to count.
        let s = open()?;
        let m = map(&s, 600)?;
        for p in 0..600 {
            m.write(p * page_size(), 1);
        }
        let st = stats(&s)?;
        drop(m);
        drop(s);
        let total = st.nr_frames;
        let mut log = Kmsg::from_now().map_err(err("kmsg"))?;
        ctx.unload().map_err(err("rmmod"))?;
        let lines = log.read_new().map_err(err("kmsg"))?;
        let want = format!(
            "unload: LEAK: {}/{total} frames free, 1 page-table nodes and 0 spaces in use",
            total - 1
        );
        ensure(lines.iter().any(|l| l.contains(&want)), || {
            format!("no '{want}' at unload:\n{}", lines.join("\n"))
        })
    })();
    let _ = ctx.unload();
    ctx.restore()?;
    r
}

/// Object size, objects per slab and pages per slab of `pa_space`, from
/// debugfs `slabinfo`.
fn space_slab_layout() -> Result<(u64, u64, u64), String> {
    let slab = std::fs::read_to_string(debugfs_dir()?.join("slabinfo")).map_err(err("slabinfo"))?;
    let cols: Vec<u64> = slab
        .lines()
        .find(|l| l.starts_with("pa_space "))
        .map(|l| {
            l.split_whitespace()
                .skip(3)
                .take(3)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    match cols[..] {
        [size, per_slab, pages] => Ok((size, per_slab, pages)),
        _ => Err(format!("slabinfo: {slab}")),
    }
}

fn without_slab_debug(ctx: &Ctx) -> Outcome {
    let (_, debug_per_slab, _) = space_slab_layout()?;
    ctx.unload().map_err(err("rmmod"))?;
    ctx.load(&format!("arena_mb={}", ctx.arena_mb))
        .map_err(err("insmod without slab_debug"))?;
    let r = (|| -> Outcome {
        // The load really is without red zones: objects are packed with
        // nothing between them (the free pointer inside a free object), so
        // a slab holds exactly slab size / object size of them, and no
        // fewer than with slab_debug.
        let (size, per_slab, pages) = space_slab_layout()?;
        let packed = pages * page_size() as u64 / size;
        ensure(per_slab == packed && per_slab >= debug_per_slab, || {
            format!("{per_slab} pa_space objects of {size} bytes per {pages}-page slab, {packed} when packed ({debug_per_slab} with slab_debug): not the production layout")
        })?;
        for t in TESTS.iter().filter(|t| {
            [
                "clone: ",
                "fork-COW: the child's writes",
                "8 threads",
                "exhaustion",
                "write-then-read",
            ]
            .iter()
            .any(|n| t.name.starts_with(n))
        }) {
            (t.run)(ctx).map_err(|e| format!("{} (slab_debug=0): {e}", t.name))?;
        }
        Ok(())
    })();
    let _ = ctx.unload();
    ctx.restore()?;
    r
}

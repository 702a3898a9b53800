//! Tests of the device, the INFO ioctl, bad input and module load/unload.

use super::{ensure, expect_errno, Ctx, Outcome, Test};
use crate::dev::Space;
use crate::{kmod, uapi};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// The tests of this file.
pub const TESTS: &[Test] = &[
    Test {
        name: "device node /dev/pagearena is a root-only misc char device",
        run: device_node,
    },
    Test {
        name: "INFO returns the version, page size and the arena size the buddy accounts for",
        run: info_reports_params,
    },
    Test {
        name: "64 opens give 64 working spaces, each mapped, faulted and isolated",
        run: many_opens,
    },
    Test {
        name: "unknown ioctls are ENOTTY",
        run: unknown_ioctl,
    },
    Test {
        name: "INFO with a wrong size or direction is EINVAL",
        run: info_bad_size,
    },
    Test {
        name: "INFO into a bad pointer is EFAULT",
        run: info_bad_pointer,
    },
    Test {
        name: "rmmod is refused while a space is open",
        run: rmmod_busy,
    },
    Test {
        name: "bad module parameters are refused with EINVAL",
        run: bad_params,
    },
    Test {
        name: "per-CPU free lists and LRU-add batches: after threads on every CPU fault and close, every frame is accounted for",
        run: per_cpu_frames_reconcile,
    },
    Test {
        name:
            "an arena larger than memory, or a load failing half-way, is ENOMEM and leaks nothing",
        run: arena_too_large,
    },
    Test {
        name: "10 insmod/rmmod cycles with different arena sizes",
        run: reload_cycles,
    },
];

fn device_node(_: &Ctx) -> Outcome {
    let md = std::fs::metadata(uapi::PAGEARENA_DEVICE).map_err(|e| format!("stat: {e}"))?;
    ensure(md.file_type().is_char_device(), || {
        "not a character device".into()
    })?;
    let major = libc::major(md.rdev());
    ensure(major == 10, || format!("major {major}, want 10 (misc)"))?;
    let mode = md.mode() & 0o777;
    ensure(mode == 0o600, || format!("mode {mode:o}, want 600"))?;
    ensure(md.uid() == 0, || format!("owner uid {}, want 0", md.uid()))
}

fn info_reports_params(ctx: &Ctx) -> Outcome {
    let s = Space::open().map_err(|e| format!("open: {e}"))?;
    let info = s.info().map_err(|e| format!("INFO: {e}"))?;
    ensure(info.version == uapi::PAGEARENA_UAPI_VERSION, || {
        format!("version {}", info.version)
    })?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u32;
    ensure(info.page_size == page, || {
        format!("page_size {} != {page}", info.page_size)
    })?;
    // The frames the arena really has: free blocks in buddyinfo (counted by
    // order), plus slab and page-table frames, plus the zero frame; no data
    // frame is held by the idle arena.
    let st = s.stats().map_err(|e| format!("STATS: {e}"))?;
    let free = buddyinfo_free()?;
    let accounted = free + st.nr_slab_frames + st.nr_pt_nodes + 1;
    ensure(free == st.nr_free && info.arena_frames == accounted, || {
        format!(
            "INFO says {} frames; buddyinfo free {free} (STATS {}) + slab {} + page tables {} + zero = {accounted}",
            info.arena_frames, st.nr_free, st.nr_slab_frames, st.nr_pt_nodes
        )
    })?;
    let want = ctx.arena_mb * (1 << 20) / u64::from(page);
    ensure(info.arena_frames == want, || {
        format!("arena_frames {} != {want} (arena_mb)", info.arena_frames)
    })
}

fn many_opens(_: &Ctx) -> Outcome {
    let ps = crate::dev::page_size();
    let spaces: Vec<Space> = (0..64)
        .map(|_| Space::open())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("open: {e}"))?;
    let maps = spaces
        .iter()
        .map(|s| s.map(0, 2 * ps))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("mmap: {e}"))?;
    for (i, m) in maps.iter().enumerate() {
        ensure(m.read(ps) == 0, || {
            format!("space {i}: untouched page not zero")
        })?;
        m.write(0, 0x5eed_0000 + i as u64);
    }
    for (i, (s, m)) in spaces.iter().zip(&maps).enumerate() {
        ensure(m.read(0) == 0x5eed_0000 + i as u64, || {
            format!("space {i} reads {:#x}: another space's data", m.read(0))
        })?;
        let st = s.space_stats().map_err(|e| format!("SPACE_STATS: {e}"))?;
        ensure(st.resident == 1, || {
            format!("space {i}: {} resident pages, want 1", st.resident)
        })?;
    }
    Ok(())
}

fn unknown_ioctl(_: &Ctx) -> Outcome {
    let s = Space::open().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let p = buf.as_mut_ptr() as usize;
    let m = uapi::PAGEARENA_IOC_MAGIC;
    expect_errno(
        "nr 0xee",
        s.ioctl_raw(uapi::ioc(uapi::IOC_READ, m, 0xee, 16), p),
        libc::ENOTTY,
    )?;
    expect_errno("nr 0", s.ioctl_raw(uapi::ioc(0, m, 0, 0), p), libc::ENOTTY)?;
    expect_errno("TCGETS", s.ioctl_raw(libc::TCGETS as u32, p), libc::ENOTTY)?;
    expect_errno(
        "INFO nr with another type",
        s.ioctl_raw(
            uapi::ioc(uapi::IOC_READ, m + 1, uapi::PAGEARENA_NR_INFO, 16),
            p,
        ),
        libc::ENOTTY,
    )
}

fn info_bad_size(_: &Ctx) -> Outcome {
    let s = Space::open().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 8192];
    let p = buf.as_mut_ptr() as usize;
    let (m, nr) = (uapi::PAGEARENA_IOC_MAGIC, uapi::PAGEARENA_NR_INFO);
    let real = std::mem::size_of::<uapi::PagearenaInfo>();
    for size in [0, 4, real - 1, real + 1, 4096] {
        expect_errno(
            &format!("size {size}"),
            s.ioctl_raw(uapi::ioc(uapi::IOC_READ, m, nr, size), p),
            libc::EINVAL,
        )?;
    }
    expect_errno(
        "direction write",
        s.ioctl_raw(uapi::ioc(uapi::IOC_WRITE, m, nr, real), p),
        libc::EINVAL,
    )?;
    ensure(buf.iter().all(|&b| b == 0), || {
        "a refused ioctl wrote to the buffer".into()
    })
}

fn info_bad_pointer(_: &Ctx) -> Outcome {
    let s = Space::open().map_err(|e| e.to_string())?;
    let cmd = uapi::PAGEARENA_IOC_INFO;
    expect_errno("NULL", s.ioctl_raw(cmd, 0), libc::EFAULT)?;
    expect_errno(
        "kernel address",
        s.ioctl_raw(cmd, 0xffff_8880_0000_0000),
        libc::EFAULT,
    )?;
    // SAFETY: an anonymous read-only mapping, unmapped below.
    let ro = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure(ro != libc::MAP_FAILED, || "mmap".into())?;
    let r = expect_errno(
        "read-only page",
        s.ioctl_raw(cmd, ro as usize),
        libc::EFAULT,
    );
    // SAFETY: `ro` is the mapping made above.
    unsafe { libc::munmap(ro, 4096) };
    r?;
    // The space still works after the faults.
    s.info()
        .map(|_| ())
        .map_err(|e| format!("INFO after EFAULT: {e}"))
}

fn rmmod_busy(ctx: &Ctx) -> Outcome {
    let s = Space::open().map_err(|e| e.to_string())?;
    let r = ctx.unload();
    let busy =
        matches!(&r, Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EBUSY)));
    if r.is_ok() {
        ctx.restore()?;
        return Err("rmmod succeeded with a space open".into());
    }
    ensure(busy, || {
        format!("rmmod with a space open: {r:?}, want EAGAIN/EBUSY")
    })?;
    s.info()
        .map(|_| ())
        .map_err(|e| format!("INFO after refused rmmod: {e}"))?;
    drop(s);
    ctx.unload()
        .map_err(|e| format!("rmmod after close: {e}"))?;
    ctx.restore()
}

fn bad_params(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(|e| format!("rmmod: {e}"))?;
    let mut out = Ok(());
    for p in [
        "arena_mb=0",
        "arena_mb=65537",
        "arena_mb=-1",
        "arena_mb=lots",
        "fault_around_pages=3",
        "fault_around_pages=1024",
        "pcp_batch=32",
        "pcp_batch=-2",
    ] {
        out = expect_errno(p, ctx.load(p), libc::EINVAL);
        if out.is_err() {
            break;
        }
        if kmod::is_loaded("pagearena") {
            out = Err(format!("{p}: module loaded after a failed insmod"));
            break;
        }
    }
    if kmod::is_loaded("pagearena") {
        let _ = ctx.unload();
    }
    ctx.restore()?;
    out
}

/// Free frames in debugfs `buddyinfo`: its blocks, counted by order.
fn buddyinfo_free() -> Result<u64, String> {
    let buddy = std::fs::read_to_string(super::paging::debugfs_dir()?.join("buddyinfo"))
        .map_err(|e| format!("buddyinfo: {e}"))?;
    Ok(buddy
        .split_whitespace()
        .skip(4)
        .enumerate()
        .map(|(order, n)| n.parse::<u64>().unwrap_or(0) << order)
        .sum())
}

/// Pins the calling thread to `cpu`.
pub(super) fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    // SAFETY: A zeroed `cpu_set_t` is the empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the set's size (CPU_SETSIZE is 1024).
    unsafe { libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size given; 0 is this thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Leaves free frames on every CPU's free list: a thread pinned to each
/// CPU writes 40 pages of a space of its own and closes it, which frees
/// them onto that CPU's list. An allocation elsewhere must still find them
/// when the buddy runs dry.
pub(super) fn fill_cpu_lists() -> Outcome {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let page = crate::dev::page_size();
    for cpu in 0..cpus {
        std::thread::spawn(move || -> Outcome {
            pin_to_cpu(cpu).map_err(|e| format!("pin to CPU {cpu}: {e}"))?;
            let s = Space::open().map_err(|e| format!("open: {e}"))?;
            let m = s.map(0, 40 * page).map_err(|e| format!("mmap: {e}"))?;
            for p in 0..40 {
                m.write(p * page, 1);
            }
            Ok(())
        })
        .join()
        .map_err(|_| "a thread panicked".to_string())??;
    }
    Ok(())
}

/// One thread pinned to each CPU writes its own space and a shared one,
/// closes its own, and leaves: the frames its CPU's free list took from the
/// buddy, and the frames its CPU's LRU-add batch pinned, must all be seen.
/// STATS then accounts for every frame (free + slab + page tables + zero =
/// the arena), every held frame is on the LRU (active + inactive = the
/// shared space's resident pages), and after the shared space closes too,
/// every frame but the metadata is free again. A report that drained only
/// its own CPU, or an allocation that did not count the lists, fails here.
fn per_cpu_frames_reconcile(_: &Ctx) -> Outcome {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let page = crate::dev::page_size();
    let shared = Space::open().map_err(|e| format!("open: {e}"))?;
    let before = shared.stats().map_err(|e| format!("STATS: {e}"))?;
    let per_thread = 1000usize;
    let m = shared
        .map(0, cpus * per_thread * page)
        .map_err(|e| format!("mmap: {e}"))?;
    let base = m.ptr() as usize;
    std::thread::scope(|sc| -> Outcome {
        let hs: Vec<_> = (0..cpus)
            .map(|cpu| {
                sc.spawn(move || -> Outcome {
                    pin_to_cpu(cpu).map_err(|e| format!("pin to CPU {cpu}: {e}"))?;
                    let own = Space::open().map_err(|e| format!("open: {e}"))?;
                    let o = own
                        .map(0, per_thread * page)
                        .map_err(|e| format!("mmap: {e}"))?;
                    for p in 0..per_thread {
                        o.write(p * page, p as u64);
                        let at = (base + (cpu * per_thread + p) * page) as *mut u64;
                        // SAFETY: inside the shared mapping, which outlives
                        // the scope; each thread writes its own pages.
                        unsafe { at.write_volatile((cpu * per_thread + p) as u64 | 1 << 40) };
                    }
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().map_err(|_| "a thread panicked".to_string())??;
        }
        Ok(())
    })?;
    for i in 0..cpus * per_thread {
        let v = m.read(i * page);
        ensure(v == (i as u64 | 1 << 40), || {
            format!("shared page {i} reads {v:#x}")
        })?;
    }
    let info = shared.info().map_err(|e| format!("INFO: {e}"))?;
    let st = shared.stats().map_err(|e| format!("STATS: {e}"))?;
    let sp = shared
        .space_stats()
        .map_err(|e| format!("SPACE_STATS: {e}"))?;
    let accounted = st.nr_free + st.nr_slab_frames + st.nr_pt_nodes + 1 + sp.resident;
    ensure(accounted == info.arena_frames, || {
        format!(
            "{cpus} CPUs: free {} + slab {} + page tables {} + zero + resident {} = {accounted}, not the arena's {}",
            st.nr_free, st.nr_slab_frames, st.nr_pt_nodes, sp.resident, info.arena_frames
        )
    })?;
    // debugfs buddyinfo shows the buddy's free lists alone, after draining
    // the CPUs' lists into them; STATS counts the lists: the two agree only
    // if every CPU's list was drained.
    let listed = buddyinfo_free()?;
    ensure(listed == st.nr_free, || {
        format!(
            "buddyinfo lists {listed} free frames, STATS counts {} (a CPU's list not drained)",
            st.nr_free
        )
    })?;
    ensure(
        sp.resident == (cpus * per_thread) as u64 && st.nr_active + st.nr_inactive == sp.resident,
        || {
            format!(
                "resident {} of {} pages written; LRU {} active + {} inactive",
                sp.resident,
                cpus * per_thread,
                st.nr_active,
                st.nr_inactive
            )
        },
    )?;
    drop(m);
    drop(shared);
    let s = Space::open().map_err(|e| format!("open: {e}"))?;
    let after = s.stats().map_err(|e| format!("STATS: {e}"))?;
    let meta = |s: &uapi::PagearenaStats| s.nr_free + s.nr_slab_frames + s.nr_pt_nodes;
    ensure(
        meta(&after) == meta(&before) && after.nr_active + after.nr_inactive == 0,
        || {
            format!(
                "after closing: {} frames free, slab or page tables (before: {}), LRU {} + {}",
                meta(&after),
                meta(&before),
                after.nr_active,
                after.nr_inactive
            )
        },
    )
}

fn reload_cycles(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(|e| format!("rmmod: {e}"))?;
    let mut out = Ok(());
    for (i, mb) in [1u64, 2, 3, 8, 16, 32, 64, 100, 128, 256]
        .into_iter()
        .enumerate()
    {
        if let Err(e) = ctx.load(&format!("arena_mb={mb}")) {
            out = Err(format!("cycle {i}: insmod arena_mb={mb}: {e}"));
            break;
        }
        let got = Space::open().and_then(|s| s.info());
        let unload = ctx.unload();
        match (got, unload) {
            (Ok(info), Ok(())) if info.arena_frames == mb * 256 => {}
            (Ok(info), Ok(())) => {
                out = Err(format!(
                    "cycle {i}: arena_frames {} for arena_mb={mb}",
                    info.arena_frames
                ));
                break;
            }
            (got, unload) => {
                out = Err(format!("cycle {i}: INFO {got:?}, rmmod {unload:?}"));
                break;
            }
        }
    }
    ctx.restore()?;
    out
}

/// `MemFree` from `/proc/meminfo`, in KiB.
fn mem_free_kib() -> Result<u64, String> {
    let m = std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("meminfo: {e}"))?;
    m.lines()
        .find_map(|l| l.strip_prefix("MemFree:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no MemFree in /proc/meminfo".into())
}

fn arena_too_large(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(|e| format!("rmmod: {e}"))?;
    let before = mem_free_kib()?;
    let mut out = Ok(());
    // More than MemAvailable: refused before anything is taken. Then a load
    // that fails at its ninth block of pages (fault injection): the eight
    // blocks (32 MiB) it took must come back.
    for p in ["arena_mb=65536", "arena_mb=64 selftest_fail_at_block=9"] {
        let r = ctx.load(p);
        if r.is_ok() {
            let _ = ctx.unload();
        }
        out = out.and(expect_errno(p, r, libc::ENOMEM));
    }
    let after = mem_free_kib()?;
    ctx.restore()?;
    out?;
    // Everything the failed loads took is back (allow 16 MiB of noise).
    ensure(after + 16384 >= before, || {
        format!("MemFree {before} KiB before the failed loads, {after} KiB after")
    })
}

//! Tests of swap: the backing store named by `swap_path`, forced pageout
//! (`PAGEARENA_IOC_PAGEOUT`), swap-in by faults and by `/proc/PID/mem`,
//! the swap cache, zero-filled pages, clones sharing a swapped page, swap
//! full, and unload after swapping. Each test loads the module with a swap
//! file of its own on tmpfs (or `/dev/zram0`) and a small arena, and puts
//! the standard load back.

use super::paging::{err, map, open, stamp, states, stats};
use super::{ensure, expect_errno, Ctx, Outcome, Test};
use crate::dev::{page_size, shuffled, Space};
use crate::kmsg::Kmsg;
use crate::uapi::{page_state, page_state::Kind};

/// The tests of this file.
pub const TESTS: &[Test] = &[
    Test {
        name: "swap_path: a missing path, a directory, a too-small file or one on an overlay fails the load, saying why",
        run: bad_swap_path,
    },
    Test {
        name: "pageout, then reads in random order bring every page back byte-identical (file on tmpfs)",
        run: round_trip_file,
    },
    Test {
        name: "pageout and swap-in through /dev/zram0, and through /proc/PID/mem",
        run: round_trip_zram,
    },
    Test {
        name: "swap cache: evicting a clean swapped-in page writes nothing; a written one is written again",
        run: swap_cache,
    },
    Test {
        name: "zero-filled pages leave without a slot and read back as zeros",
        run: zero_pages,
    },
    Test {
        name: "a working set 4x the arena, through forced pageouts, reads back intact",
        run: working_set_4x,
    },
    Test {
        name: "clones share a swapped page by slot; a frame a clone shares is left (busy)",
        run: clone_and_swap,
    },
    Test {
        name: "swap full: pageout is ENOMEM, resident pages stay intact; unload frees every slot",
        run: swap_full,
    },
    Test {
        name: "PAGEOUT rejects bad input; without swap, dirty pages stay (ENOMEM) and zero pages go",
        run: pageout_bad_input,
    },
    Test {
        name: "an injected write error: PAGEOUT is EIO, the page stays resident, dirty and intact",
        run: write_error,
    },
    Test {
        name: "an injected read error: the access gets SIGBUS (or EIO), never zeros; the page stays in swap",
        run: read_error,
    },
    Test {
        name: "a fault waiting for a slow swap-in stalls no fault on other pages of the space",
        run: slow_swap_in,
    },
];

/// A tmpfs of the tests' own (the guest's `/tmp` is an overlay, whose
/// files the module refuses as swap).
const SWAP_DIR: &str = "/run/pagearena-swap";
/// Where the tests' swap files go.
const SWAP_FILE: &str = "/run/pagearena-swap/swap";

/// Mounts the tmpfs at [`SWAP_DIR`] unless it is there.
fn swap_dir() -> Result<(), String> {
    std::fs::create_dir_all(SWAP_DIR).map_err(err(SWAP_DIR))?;
    let mounted = std::fs::read_to_string("/proc/self/mounts")
        .map_err(err("mounts"))?
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(SWAP_DIR));
    if mounted {
        return Ok(());
    }
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs", SWAP_DIR])
        .status()
        .map_err(err("mount"))?;
    ensure(st.success(), || format!("mount -t tmpfs {SWAP_DIR}: {st}"))
}

/// Loads the module with `arena_mb` and `swap_path` for `f`, then puts the
/// standard load back; the store is removed afterwards.
pub(super) fn with_swap(
    ctx: &Ctx,
    arena_mb: u64,
    path: &str,
    f: impl FnOnce() -> Outcome,
) -> Outcome {
    with_swap_params(ctx, arena_mb, path, "", f)
}

/// [`with_swap`] with `extra` module parameters.
pub(super) fn with_swap_params(
    ctx: &Ctx,
    arena_mb: u64,
    path: &str,
    extra: &str,
    f: impl FnOnce() -> Outcome,
) -> Outcome {
    with_load(
        ctx,
        &format!("arena_mb={arena_mb} swap_path={path} {extra}"),
        f,
    )
}

/// Loads the module with `params` for `f`, checks that unloading it after
/// leaks nothing, then puts the standard load back.
pub(super) fn with_load(ctx: &Ctx, params: &str, f: impl FnOnce() -> Outcome) -> Outcome {
    ctx.unload().map_err(err("rmmod"))?;
    let r = match ctx.load(params) {
        Ok(()) => {
            let r = f();
            // Unloading checks that nothing, slots included, leaked.
            let mut log = Kmsg::from_now().map_err(err("kmsg"))?;
            let u = ctx.unload().map_err(err("rmmod"));
            let lines = log.read_new().map_err(err("kmsg"))?;
            r.and(u).and(ensure(
                lines.iter().any(|l| l.contains("nothing leaked")),
                || format!("unload after swapping:\n{}", lines.join("\n")),
            ))
        }
        Err(e) => Err(format!("insmod {params}: {e}")),
    };
    ctx.restore()?;
    r
}

/// A swap file of `pages` pages.
pub(super) fn swap_file(pages: usize) -> Result<&'static str, String> {
    swap_dir()?;
    let f = std::fs::File::create(SWAP_FILE).map_err(err(SWAP_FILE))?;
    f.set_len((pages * page_size()) as u64)
        .map_err(err(SWAP_FILE))?;
    Ok(SWAP_FILE)
}

/// Fills page `p` of `m` with a pattern of its own in every word.
pub(super) fn fill(m: &crate::dev::Mapping, p: usize, tag: u64) {
    let ps = page_size();
    for w in (0..ps).step_by(8) {
        m.write(p * ps + w, stamp(tag, p) ^ (w as u64) << 40);
    }
}

/// Checks every word of page `p` of `m`.
pub(super) fn verify(m: &crate::dev::Mapping, p: usize, tag: u64) -> Outcome {
    let ps = page_size();
    for w in (0..ps).step_by(8) {
        let want = stamp(tag, p) ^ (w as u64) << 40;
        let got = m.read(p * ps + w);
        if got != want {
            return Err(format!("page {p} word {w}: {got:#x}, want {want:#x}"));
        }
    }
    Ok(())
}

fn bad_swap_path(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(err("rmmod"))?;
    swap_dir()?;
    let tiny = "/run/pagearena-swap/tiny";
    let overlay = "/tmp/pagearena-overlay-swap";
    std::fs::write(overlay, vec![0u8; 128 * page_size()]).map_err(err(overlay))?;
    std::fs::write(tiny, vec![0u8; 4 * page_size()]).map_err(err(tiny))?;
    let cases = [
        ("/nonexistent/swap", libc::ENOENT, "cannot open"),
        ("/tmp", libc::EISDIR, "cannot open"),
        (tiny, libc::EINVAL, "too small"),
        (overlay, libc::EINVAL, "reads may take locks"),
    ];
    let mut r = Ok(());
    for (path, errno, words) in cases {
        let mut log = Kmsg::from_now().map_err(err("kmsg"))?;
        let load = ctx.load(&format!("arena_mb={} swap_path={path}", ctx.arena_mb));
        let lines = log.read_new().map_err(err("kmsg"))?;
        r = r
            .and(expect_errno(&format!("swap_path={path}"), load, errno))
            .and(ensure(
                lines
                    .iter()
                    .any(|l| l.contains(&format!("swap_path=\"{path}\"")) && l.contains(words)),
                || format!("no '{words}' message for {path}:\n{}", lines.join("\n")),
            ));
        if crate::kmod::is_loaded("pagearena") {
            let _ = ctx.unload();
        }
    }
    let _ = std::fs::remove_file(tiny);
    let _ = std::fs::remove_file(overlay);
    ctx.restore()?;
    r
}

/// Writes `n` pages, pages them out, checks states and counters, reads them
/// back in random order.
fn round_trip(s: &Space, n: usize) -> Outcome {
    let m = map(s, n)?;
    for p in 0..n {
        fill(&m, p, 1);
    }
    let before = stats(s)?;
    let out = s.pageout(0, n as u64).map_err(err("PAGEOUT"))?;
    ensure(out.swapped == n as u64 && out.busy == 0, || {
        format!("PAGEOUT: {out:?}")
    })?;
    let st = states(s, 0, n as u64)?;
    let mut slots: Vec<u64> = st.iter().map(|&e| page_state::payload(e)).collect();
    ensure(
        st.iter().all(|&e| page_state::kind(e) == Kind::Swap),
        || "a paged-out page is not in swap".into(),
    )?;
    slots.sort_unstable();
    slots.dedup();
    ensure(slots.len() == n, || "two pages share a slot".into())?;
    let sp = s.space_stats().map_err(err("SPACE_STATS"))?;
    ensure(sp.swapped == n as u64 && sp.resident == 0, || {
        format!("space: {} swapped, {} resident", sp.swapped, sp.resident)
    })?;
    let mid = stats(s)?;
    ensure(
        mid.pswpout - before.pswpout == n as u64 && mid.nr_swap_used >= n as u64,
        || {
            format!(
                "pswpout +{}, {} slots used",
                mid.pswpout - before.pswpout,
                mid.nr_swap_used
            )
        },
    )?;
    for p in shuffled(n, 7) {
        verify(&m, p, 1)?;
    }
    let after = stats(s)?;
    ensure(
        after.pswpin - mid.pswpin == n as u64 && after.pgmajfault - mid.pgmajfault == n as u64,
        || {
            format!(
                "pswpin +{}, pgmajfault +{} for {n} pages",
                after.pswpin - mid.pswpin,
                after.pgmajfault - mid.pgmajfault
            )
        },
    )
}

fn round_trip_file(ctx: &Ctx) -> Outcome {
    let path = swap_file(1024)?;
    let r = with_swap(ctx, 16, path, || round_trip(&open()?, 256));
    let _ = std::fs::remove_file(path);
    r
}

fn round_trip_zram(ctx: &Ctx) -> Outcome {
    use std::os::unix::fs::FileExt;
    let sys = "/sys/block/zram0";
    std::fs::write(format!("{sys}/disksize"), "8M").map_err(err("zram0 disksize"))?;
    let r = with_swap(ctx, 16, "/dev/zram0", || {
        let s = open()?;
        round_trip(&s, 128)?;
        // Out again, then back through /proc/self/mem (vm_ops->access).
        let m = map(&s, 128)?;
        let out = s.pageout(0, 128).map_err(err("PAGEOUT"))?;
        ensure(out.clean == 128, || format!("second PAGEOUT: {out:?}"))?;
        let mem = std::fs::File::open("/proc/self/mem").map_err(err("/proc/self/mem"))?;
        let mut b = [0u8; 8];
        mem.read_exact_at(&mut b, m.ptr() as u64 + 5 * page_size() as u64 + 8)
            .map_err(err("read"))?;
        ensure(u64::from_ne_bytes(b) == stamp(1, 5) ^ 8 << 40, || {
            format!(
                "/proc/self/mem read {:#x} of a swapped page",
                u64::from_ne_bytes(b)
            )
        })?;
        ensure(
            page_state::kind(states(&s, 5, 1)?[0]) == Kind::Frame,
            || "the access did not bring the page back".into(),
        )
    });
    let _ = std::fs::write(format!("{sys}/reset"), "1");
    r
}

fn swap_cache(ctx: &Ctx) -> Outcome {
    let path = swap_file(1024)?;
    let r = with_swap(ctx, 16, path, || {
        let s = open()?;
        let n = 64;
        round_trip(&s, n)?;
        let before = stats(&s)?;
        let out = s.pageout(0, n as u64).map_err(err("PAGEOUT"))?;
        let mid = stats(&s)?;
        ensure(
            out.clean == n as u64 && mid.pswpout == before.pswpout,
            || {
                format!(
                    "clean pages: {out:?}, pswpout +{}",
                    mid.pswpout - before.pswpout
                )
            },
        )?;
        // Back in, one written: only that one is written out again.
        let m = map(&s, n)?;
        for p in 0..n {
            verify(&m, p, 1)?;
        }
        fill(&m, 3, 2);
        let out = s.pageout(0, n as u64).map_err(err("PAGEOUT"))?;
        let after = stats(&s)?;
        ensure(
            out.swapped == 1 && out.clean == n as u64 - 1 && after.pswpout - mid.pswpout == 1,
            || {
                format!(
                    "one written page: {out:?}, pswpout +{}",
                    after.pswpout - mid.pswpout
                )
            },
        )?;
        verify(&m, 3, 2)?;
        verify(&m, 4, 1)
    });
    let _ = std::fs::remove_file(path);
    r
}

fn zero_pages(ctx: &Ctx) -> Outcome {
    let path = swap_file(1024)?;
    let r = with_swap(ctx, 16, path, || {
        let s = open()?;
        let m = map(&s, 8)?;
        let ps = page_size();
        for p in 0..8 {
            m.write(p * ps, 1);
            m.write(p * ps, 0);
        }
        let used = stats(&s)?.nr_swap_used;
        let out = s.pageout(0, 8).map_err(err("PAGEOUT"))?;
        ensure(out.zero == 8 && out.swapped == 0, || {
            format!("PAGEOUT: {out:?}")
        })?;
        ensure(stats(&s)?.nr_swap_used == used, || {
            "zero pages took slots".into()
        })?;
        ensure(
            states(&s, 0, 8)?
                .iter()
                .all(|&e| page_state::kind(e) == Kind::None),
            || "zero pages are not untouched again".into(),
        )?;
        ensure((0..8).all(|p| m.read(p * ps) == 0), || {
            "zero pages read back".into()
        })
    });
    let _ = std::fs::remove_file(path);
    r
}

fn working_set_4x(ctx: &Ctx) -> Outcome {
    let arena_mb = 8;
    let n = 4 * arena_mb as usize * (1 << 20) / page_size();
    let path = swap_file(n + 1024)?;
    let r = with_swap(ctx, arena_mb, path, || {
        let s = open()?;
        let m = map(&s, n)?;
        let batch = 512;
        for b in (0..n).step_by(batch) {
            for p in b..b + batch {
                fill(&m, p, 3);
            }
            s.pageout(b as u64, batch as u64).map_err(err("PAGEOUT"))?;
        }
        // Read back in random order, paging out what was read as we go.
        for (i, p) in shuffled(n, 11).into_iter().enumerate() {
            verify(&m, p, 3)?;
            if i % batch == batch - 1 {
                s.pageout(0, n as u64).map_err(err("PAGEOUT"))?;
            }
        }
        let st = stats(&s)?;
        ensure(st.pswpin >= n as u64 && st.oom_fault == 0, || {
            format!(
                "{} pages swapped in, {} OOM faults",
                st.pswpin, st.oom_fault
            )
        })
    });
    let _ = std::fs::remove_file(path);
    r
}

fn clone_and_swap(ctx: &Ctx) -> Outcome {
    let path = swap_file(1024)?;
    let r = with_swap(ctx, 16, path, || {
        let ps = page_size();
        let a = open()?;
        let ma = map(&a, 2)?;
        fill(&ma, 0, 1);
        fill(&ma, 1, 1);
        let out = a.pageout(0, 1).map_err(err("PAGEOUT"))?;
        ensure(out.swapped == 1, || format!("PAGEOUT: {out:?}"))?;
        // Page 0 is in swap, page 1 resident: a clone shares both.
        let b = a.clone_space().map_err(err("CLONE"))?;
        let out = a.pageout(1, 1).map_err(err("PAGEOUT"))?;
        ensure(out.busy == 1 && out.swapped == 0, || {
            format!("a frame the clone shares: {out:?}")
        })?;
        let sa = page_state::payload(states(&a, 0, 1)?[0]);
        let sb = page_state::payload(states(&b, 0, 1)?[0]);
        ensure(
            sa == sb && page_state::kind(states(&b, 0, 1)?[0]) == Kind::Swap,
            || "the clone does not share the slot".into(),
        )?;
        let mb = map(&b, 2)?;
        verify(&mb, 0, 1)?;
        fill(&mb, 0, 2);
        verify(&ma, 0, 1)?;
        verify(&mb, 0, 2)?;
        ensure(ma.read(ps) == mb.read(ps), || "page 1".into())
    });
    let _ = std::fs::remove_file(path);
    r
}

fn swap_full(ctx: &Ctx) -> Outcome {
    let path = swap_file(64)?;
    let r = with_swap(ctx, 16, path, || {
        let s = open()?;
        let n = 100;
        let m = map(&s, n)?;
        for p in 0..n {
            fill(&m, p, 4);
        }
        let out = s.pageout(0, n as u64).map_err(err("PAGEOUT"))?;
        ensure(out.swapped == 64, || format!("first PAGEOUT: {out:?}"))?;
        expect_errno("PAGEOUT with swap full", s.pageout(64, 36), libc::ENOMEM)?;
        for p in 0..n {
            verify(&m, p, 4)?;
        }
        Ok(())
    });
    let _ = std::fs::remove_file(path);
    r
}

fn pageout_bad_input(_: &Ctx) -> Outcome {
    use crate::uapi;
    // The standard load has no swap.
    let s = open()?;
    let m = map(&s, 4)?;
    fill(&m, 0, 5);
    m.write(page_size(), 1);
    m.write(page_size(), 0);
    let raw = |args: &mut uapi::PagearenaPageoutArgs| {
        s.ioctl_raw(uapi::PAGEARENA_IOC_PAGEOUT, args as *mut _ as usize)
    };
    let ok = uapi::PagearenaPageoutArgs {
        count: 4,
        ..Default::default()
    };
    for (what, a) in [
        (
            "a bad version",
            uapi::PagearenaPageoutArgs { version: 99, ..ok },
        ),
        (
            "reserved set",
            uapi::PagearenaPageoutArgs { reserved: 1, ..ok },
        ),
        (
            "too many pages",
            uapi::PagearenaPageoutArgs {
                count: uapi::PAGEARENA_PAGE_STATE_MAX + 1,
                ..ok
            },
        ),
        (
            "past the limit",
            uapi::PagearenaPageoutArgs {
                start: uapi::PAGEARENA_SPACE_MAX_PAGES - 1,
                ..ok
            },
        ),
        (
            "a start near u64::MAX",
            uapi::PagearenaPageoutArgs {
                start: u64::MAX - 1,
                ..ok
            },
        ),
    ] {
        let mut a = a;
        expect_errno(&format!("PAGEOUT with {what}"), raw(&mut a), libc::EINVAL)?;
    }
    expect_errno(
        "PAGEOUT to NULL",
        s.ioctl_raw(uapi::PAGEARENA_IOC_PAGEOUT, 0),
        libc::EFAULT,
    )?;
    // Page 1 holds zeros: it goes without a slot; page 0 cannot.
    let out = s.pageout(0, 4).map_err(err("PAGEOUT without swap"))?;
    ensure(out.zero == 1 && out.swapped == 0, || {
        format!("without swap: {out:?}")
    })?;
    expect_errno(
        "PAGEOUT of a dirty page without swap",
        s.pageout(0, 1),
        libc::ENOMEM,
    )?;
    verify(&m, 0, 5)
}

fn write_error(ctx: &Ctx) -> Outcome {
    let path = swap_file(1024)?;
    let r = with_swap_params(ctx, 16, path, "selftest_swap_fail=2", || {
        let s = open()?;
        let m = map(&s, 4)?;
        for p in 0..4 {
            fill(&m, p, 6);
        }
        let before = stats(&s)?;
        expect_errno("PAGEOUT with failing writes", s.pageout(0, 4), libc::EIO)?;
        let after = stats(&s)?;
        ensure(
            after.swap_io_error > before.swap_io_error && after.nr_swap_used == 0,
            || {
                format!(
                    "{} I/O errors, {} slots used",
                    after.swap_io_error, after.nr_swap_used
                )
            },
        )?;
        let st = states(&s, 0, 1)?[0];
        ensure(
            page_state::kind(st) == Kind::Frame && st & page_state::DIRTY != 0,
            || format!("page 0 after a failed write: {st:#x}, want a dirty frame"),
        )?;
        (0..4).try_for_each(|p| verify(&m, p, 6))
    });
    let _ = std::fs::remove_file(path);
    r
}

fn read_error(ctx: &Ctx) -> Outcome {
    use super::paging::{child_exit, exit_77_on_sigbus};
    use crate::dev::in_child;
    use std::os::unix::fs::FileExt;
    let path = swap_file(1024)?;
    let r = with_swap_params(ctx, 16, path, "selftest_swap_fail=1", || {
        let s = open()?;
        let m = map(&s, 2)?;
        fill(&m, 0, 7);
        let out = s.pageout(0, 1).map_err(err("PAGEOUT"))?;
        ensure(out.swapped == 1, || format!("PAGEOUT: {out:?}"))?;
        let before = stats(&s)?;
        child_exit(
            "a child reading the swapped page",
            in_child(|| {
                exit_77_on_sigbus();
                // Never zeros: a value at all would be wrong.
                let _ = m.read(8);
                0
            }),
            Ok(77),
        )?;
        let mem = std::fs::File::open("/proc/self/mem").map_err(err("/proc/self/mem"))?;
        let mut b = [0u8; 8];
        expect_errno(
            "/proc/self/mem read of a page that cannot be read back",
            mem.read_exact_at(&mut b, m.ptr() as u64),
            libc::EIO,
        )?;
        let after = stats(&s)?;
        ensure(after.swap_io_error >= before.swap_io_error + 2, || {
            format!(
                "{} swap I/O errors counted",
                after.swap_io_error - before.swap_io_error
            )
        })?;
        ensure(page_state::kind(states(&s, 0, 1)?[0]) == Kind::Swap, || {
            "the page left swap after failed reads".into()
        })
    });
    let _ = std::fs::remove_file(path);
    r
}

fn slow_swap_in(ctx: &Ctx) -> Outcome {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let path = swap_file(1024)?;
    let r = with_swap_params(ctx, 16, path, "selftest_swap_delay_ms=2000", || {
        let ps = page_size();
        let s = open()?;
        let m = map(&s, 256)?;
        for p in 0..64 {
            fill(&m, p, 8);
        }
        s.pageout(0, 1).map_err(err("PAGEOUT"))?;
        let done = AtomicBool::new(false);
        std::thread::scope(|t| -> Outcome {
            let reader = t.spawn(|| {
                let start = Instant::now();
                let r = verify(&m, 0, 8);
                done.store(true, Ordering::SeqCst);
                (r, start.elapsed())
            });
            std::thread::sleep(Duration::from_millis(200));
            // Meanwhile: resident pages, and new pages that need a frame,
            // of the same space.
            let start = Instant::now();
            for p in 1..64 {
                verify(&m, p, 8)?;
                m.write(p * ps, 1);
            }
            for p in 64..256 {
                m.write(p * ps, 2);
            }
            let mine = start.elapsed();
            let blocked = !done.load(Ordering::SeqCst);
            let (r, waited) = reader.join().map_err(|_| "reader panicked".to_string())?;
            r?;
            ensure(blocked && waited >= Duration::from_millis(1900), || {
                format!(
                    "other faults took {mine:?} and {} while the swap-in took {waited:?}",
                    if blocked {
                        "finished first"
                    } else {
                        "waited for it"
                    }
                )
            })
        })
    });
    let _ = std::fs::remove_file(path);
    r
}

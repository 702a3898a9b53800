//! Tests of reclaim: the reclaim thread `pagearena_kswapd` and its
//! watermarks, direct reclaim, aging by soft faults, eviction of frames
//! that clones and fork children share, swap and arena both full, reclaim
//! without swap, and the parameters. Each test loads the module with a
//! small arena (and a swap file of its own on tmpfs), checks at unload that
//! nothing leaked, and puts the standard load back.

use super::paging::{child_exit, err, exit_77_on_sigbus, map, open, states, stats, Pipe};
use super::swap::{fill, swap_file, verify, with_load};
use super::{ensure, expect_errno, Ctx, Outcome, Test};
use crate::dev::{in_child, page_size, shuffled};
use crate::kmsg::Kmsg;
use crate::uapi::{self, page_state, page_state::Kind};
use std::time::Duration;

/// The tests of this file.
pub const TESTS: &[Test] = &[
    Test {
        name: "pagearena_kswapd runs from load to unload and is idle: no CPU time over 2 idle seconds",
        run: kswapd_idle,
    },
    Test {
        name: "a working set 2x the arena, with no pageout asked, is swapped by reclaim and reads back intact in random order",
        run: working_set_2x,
    },
    Test {
        name: "a working set 4x the arena under reclaim_policy=clock reads back intact",
        run: working_set_4x_clock,
    },
    Test {
        name: "without the reclaim thread, faults below the min watermark reclaim directly (allocstall) and a 2x working set fits (zram)",
        run: direct_reclaim_alone,
    },
    Test {
        name: "a page two clones share is swapped out of both by reclaim, one slot; each writes after swap-in, both right",
        run: clones_under_reclaim,
    },
    Test {
        name: "fork-COW parent and child under reclaim: the child reads the parent's pages back from swap, its writes stay its own",
        run: fork_cow_under_reclaim,
    },
    Test {
        name: "arena and swap both full: the faulting process gets SIGBUS, the module carries on, kswapd goes idle",
        run: swap_full_sigbus,
    },
    Test {
        name: "without swap, reclaim drops zero-filled frames (2x the arena fits); dirty pages past the arena are SIGBUS",
        run: no_swap_zero_reclaim,
    },
    Test {
        name: "aging by soft faults: a hot set read during a cold sweep 4x the arena stays resident in the steady state",
        run: hot_set_survives,
    },
    Test {
        name: "watermarks default to 1/64, 1/32, 3/64 of the arena, can be set, and bad values or policies fail the load",
        run: reclaim_params,
    },
    Test {
        name: "writes through /proc/self/mem to 2x the arena reclaim directly, as faults do (no reclaim thread, zram)",
        run: access_reclaims,
    },
    Test {
        name: "rmmod while a process swaps is refused (EAGAIN/EBUSY) and harms nothing; after it exits, unload leaves nothing",
        run: rmmod_while_swapping,
    },
];

/// Pages in `mb` MiB.
fn pages(mb: u64) -> usize {
    mb as usize * (1 << 20) / page_size()
}

/// The pid of `pagearena_kswapd`, if it runs.
fn kswapd_pid() -> Result<Option<u32>, String> {
    for e in std::fs::read_dir("/proc").map_err(err("/proc"))?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        // TASK_COMM_LEN may cut the name at 15 characters.
        if comm.trim_end().starts_with("pagearena_kswap") {
            return Ok(Some(pid));
        }
    }
    Ok(None)
}

/// The CPU time (user + system, in clock ticks) of `pid`.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(err("stat"))?;
    // Fields after the ")" of the command: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    match (num(11), num(12)) {
        (Some(u), Some(s)) => Ok(u + s),
        _ => Err(format!("cannot parse /proc/{pid}/stat: {stat}")),
    }
}

/// Checks that the reclaim thread takes no CPU over two seconds, after a
/// second to settle.
fn kswapd_stays_idle(what: &str) -> Outcome {
    std::thread::sleep(Duration::from_secs(1));
    let pid = kswapd_pid()?.ok_or_else(|| format!("{what}: no pagearena_kswapd thread"))?;
    let before = cpu_ticks(pid)?;
    std::thread::sleep(Duration::from_secs(2));
    let after = cpu_ticks(pid)?;
    ensure(after == before, || {
        format!(
            "{what}: pagearena_kswapd used {} ticks over 2 idle seconds",
            after - before
        )
    })
}

fn kswapd_idle(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(err("rmmod"))?;
    let gone = kswapd_pid()?;
    ctx.restore()?;
    ensure(gone.is_none(), || {
        "pagearena_kswapd still runs after unload".into()
    })?;
    ensure(kswapd_pid()?.is_some(), || {
        "no pagearena_kswapd after load".into()
    })?;
    kswapd_stays_idle("after load")
}

/// Writes `n` pages of `tag` through `s`'s mapping, then reads them back in
/// random order, every word.
fn write_then_verify(s: &crate::dev::Space, n: usize, tag: u64) -> Outcome {
    let m = map(s, n)?;
    for p in 0..n {
        fill(&m, p, tag);
    }
    for p in shuffled(n, tag + 17) {
        verify(&m, p, tag)?;
    }
    Ok(())
}

fn working_set_2x(ctx: &Ctx) -> Outcome {
    let mb = 8;
    let n = 2 * pages(mb);
    let path = swap_file(n + 1024)?;
    let r = with_load(ctx, &format!("arena_mb={mb} swap_path={path}"), || {
        let s = open()?;
        let before = stats(&s)?;
        write_then_verify(&s, n, 21)?;
        let st = stats(&s)?;
        ensure(
            st.oom_fault == 0
                && st.kswapd_wakeup > before.kswapd_wakeup
                && st.pgsteal_dirty > 0
                && st.pswpin > 0
                && st.pgscan > 0,
            || {
                format!(
                    "{} OOM faults, {} kswapd wakeups, {} pgsteal_dirty, {} pswpin, {} pgscan",
                    st.oom_fault, st.kswapd_wakeup, st.pgsteal_dirty, st.pswpin, st.pgscan
                )
            },
        )?;
        ensure(st.nr_active + st.nr_inactive <= st.nr_frames, || {
            format!("LRU {} + {}", st.nr_active, st.nr_inactive)
        })?;
        drop(s);
        kswapd_stays_idle("after a 2x working set")
    });
    let _ = std::fs::remove_file(path);
    r
}

fn working_set_4x_clock(ctx: &Ctx) -> Outcome {
    let mb = 4;
    let n = 4 * pages(mb);
    let path = swap_file(n + 1024)?;
    let r = with_load(
        ctx,
        &format!("arena_mb={mb} swap_path={path} reclaim_policy=clock"),
        || {
            let s = open()?;
            write_then_verify(&s, n, 22)?;
            let st = stats(&s)?;
            ensure(st.oom_fault == 0 && st.nr_active == 0, || {
                format!(
                    "clock: {} OOM faults, {} active (clock has one list)",
                    st.oom_fault, st.nr_active
                )
            })
        },
    );
    let _ = std::fs::remove_file(path);
    r
}

/// Loads the module with an `mb` MiB arena swapping to `/dev/zram0` (sized
/// for `pages`) and no reclaim thread, for `f`; resets the device after.
/// A block device: direct reclaim writes no regular file (its locks may be
/// the faulting task's).
fn without_kswapd(ctx: &Ctx, mb: u64, pages: usize, f: impl FnOnce() -> Outcome) -> Outcome {
    let sys = "/sys/block/zram0";
    let bytes = (pages + 1024) * page_size();
    std::fs::write(format!("{sys}/disksize"), bytes.to_string()).map_err(err("zram0 disksize"))?;
    let params = format!("arena_mb={mb} swap_path=/dev/zram0 selftest_no_kswapd=1");
    let r = with_load(ctx, &params, f);
    let _ = std::fs::write(format!("{sys}/reset"), "1");
    r
}

fn direct_reclaim_alone(ctx: &Ctx) -> Outcome {
    let mb = 4;
    let n = 2 * pages(mb);
    without_kswapd(ctx, mb, n, || {
        ensure(kswapd_pid()?.is_none(), || {
            "selftest_no_kswapd=1 started the thread".into()
        })?;
        let s = open()?;
        write_then_verify(&s, n, 23)?;
        let st = stats(&s)?;
        ensure(
            st.allocstall > 0 && st.kswapd_wakeup == 0 && st.oom_fault == 0,
            || {
                format!(
                    "{} allocstalls, {} kswapd wakeups, {} OOM faults",
                    st.allocstall, st.kswapd_wakeup, st.oom_fault
                )
            },
        )
    })
}

/// Writes 2x the arena (`mb`) through a space of its own, to push the
/// other spaces' cold pages out; the space goes at the end.
fn pressure(mb: u64) -> Outcome {
    let c = open()?;
    let n = 2 * pages(mb);
    let m = map(&c, n)?;
    for p in 0..n {
        m.write(p * page_size(), p as u64 + 1);
    }
    Ok(())
}

fn clones_under_reclaim(ctx: &Ctx) -> Outcome {
    let mb = 4;
    let path = swap_file(4 * pages(mb))?;
    let r = with_load(ctx, &format!("arena_mb={mb} swap_path={path}"), || {
        let n = 128;
        let a = open()?;
        let ma = map(&a, n)?;
        for p in 0..n {
            fill(&ma, p, 1);
        }
        let b = a.clone_space().map_err(err("CLONE"))?;
        pressure(mb)?;
        let (sa, sb) = (states(&a, 0, n as u64)?, states(&b, 0, n as u64)?);
        let same_slot = sa
            .iter()
            .zip(&sb)
            .filter(|(x, y)| page_state::kind(**x) == Kind::Swap && x == y)
            .count();
        ensure(same_slot > n / 2, || {
            format!("{same_slot} of {n} shared pages are in one slot for both clones")
        })?;
        let mb_ = map(&b, n)?;
        for p in shuffled(n, 3) {
            verify(&mb_, p, 1)?;
            fill(&mb_, p, 2);
        }
        for p in 0..n {
            verify(&ma, p, 1)?;
            verify(&mb_, p, 2)?;
        }
        Ok(())
    });
    let _ = std::fs::remove_file(path);
    r
}

fn fork_cow_under_reclaim(ctx: &Ctx) -> Outcome {
    let mb = 4;
    let path = swap_file(4 * pages(mb))?;
    let r = with_load(ctx, &format!("arena_mb={mb} swap_path={path}"), || {
        let n = 128;
        let s = open()?;
        s.set_fork_mode(uapi::PAGEARENA_FORK_COW)
            .map_err(err("SET_FORK_MODE"))?;
        let m = map(&s, n)?;
        for p in 0..n {
            fill(&m, p, 1);
        }
        let before = stats(&s)?;
        child_exit(
            "the child under pressure",
            in_child(|| {
                if pressure(mb).is_err() {
                    return 2;
                }
                for p in shuffled(n, 5) {
                    if verify(&m, p, 1).is_err() {
                        return 3;
                    }
                    fill(&m, p, 2);
                }
                if (0..n).any(|p| verify(&m, p, 2).is_err()) {
                    return 4;
                }
                0
            }),
            Ok(0),
        )?;
        let after = stats(&s)?;
        ensure(after.pswpin > before.pswpin, || {
            "the child read nothing back from swap".into()
        })?;
        (0..n).try_for_each(|p| verify(&m, p, 1))
    });
    let _ = std::fs::remove_file(path);
    r
}

fn swap_full_sigbus(ctx: &Ctx) -> Outcome {
    let mb = 4;
    let path = swap_file(256)?;
    let r = with_load(ctx, &format!("arena_mb={mb} swap_path={path}"), || {
        let s = open()?;
        let n = 4 * pages(mb);
        let m = map(&s, n)?;
        child_exit(
            "a child writing 4x the arena with swap for 1/4 of it",
            in_child(|| {
                exit_77_on_sigbus();
                for p in 0..n {
                    m.write(p * page_size(), p as u64 + 1);
                }
                0
            }),
            Ok(77),
        )?;
        drop(m);
        drop(s);
        let t = open()?;
        let st = stats(&t)?;
        ensure(st.oom_fault > 0 && st.nr_swap_used == 0, || {
            format!(
                "{} OOM faults, {} slots used after the space went",
                st.oom_fault, st.nr_swap_used
            )
        })?;
        write_then_verify(&t, 256, 24)?;
        drop(t);
        kswapd_stays_idle("after swap full")
    });
    let _ = std::fs::remove_file(path);
    r
}

fn no_swap_zero_reclaim(ctx: &Ctx) -> Outcome {
    let mb = 4;
    with_load(ctx, &format!("arena_mb={mb}"), || {
        let s = open()?;
        let n = 2 * pages(mb);
        let m = map(&s, n)?;
        // Written, but with zeros: each takes a frame, none needs a slot.
        // In a child, so that a SIGBUS is a failure, not the runner's end.
        let zeros = in_child(|| {
            exit_77_on_sigbus();
            for p in 0..n {
                m.write(p * page_size(), 0);
            }
            0
        });
        let st = stats(&s)?;
        let show = |st: &uapi::PagearenaStats| {
            format!(
                "{} zero-filled frames reclaimed, {} OOM faults, {} pgscan, {} allocstall, {} kswapd wakeups, {} free, LRU {}+{}",
                st.zero_page_reclaim, st.oom_fault, st.pgscan, st.allocstall, st.kswapd_wakeup, st.nr_free, st.nr_active, st.nr_inactive
            )
        };
        child_exit("a child writing zeros to 2x the arena", zeros, Ok(0))
            .map_err(|e| format!("{e}: {}", show(&st)))?;
        ensure(st.zero_page_reclaim > 0 && st.oom_fault == 0, || show(&st))?;
        ensure((0..n).all(|p| m.read(p * page_size()) == 0), || {
            "a zero page read back nonzero".into()
        })?;
        let d = open()?;
        let md = map(&d, n)?;
        child_exit(
            "a child writing data past the arena without swap",
            in_child(|| {
                exit_77_on_sigbus();
                for p in 0..n {
                    md.write(p * page_size(), p as u64 + 1);
                }
                0
            }),
            Ok(77),
        )?;
        // (Reading `m` now could need a page-table node, which the full
        // arena may not have: SIGBUS would be right.)
        drop((md, d, m, s));
        kswapd_stays_idle("after exhaustion without swap")
    })
}

fn hot_set_survives(ctx: &Ctx) -> Outcome {
    let mb = 8;
    let cold = 4 * pages(mb);
    let path = swap_file(cold + 1024)?;
    let r = with_load(ctx, &format!("arena_mb={mb} swap_path={path}"), || {
        let hot = 256;
        let h = open()?;
        let mh = map(&h, hot)?;
        for p in 0..hot {
            mh.write(p * page_size(), p as u64 + 1);
        }
        let c = open()?;
        let mc = map(&c, cold)?;
        // The first time the arena runs out every frame is young (each from
        // its own fault) and gets a second look, so a hot page may go once;
        // after that, in the steady state counted here, they must stay.
        let steady = cold / 2;
        let start = stats(&h)?;
        let mut before = start;
        for p in 0..cold {
            if p == steady {
                before = stats(&h)?;
            }
            mc.write(p * page_size(), p as u64 + 1);
            if p % 64 == 63 {
                for q in 0..hot {
                    if mh.read(q * page_size()) != q as u64 + 1 {
                        return Err(format!("hot page {q} changed"));
                    }
                }
            }
        }
        let after = stats(&h)?;
        // The cold pages are never read back: every swap-in is a hot page.
        // Without aging a hot page is never seen used, and goes out (and
        // back) twice in the steady state (512 swap-ins, measured); with
        // it, most are promoted to the active list and stay (86).
        let swapins = after.pswpin - before.pswpin;
        // Their reads were seen by soft faults after aging (in the steady
        // state they sit on the active list, which nothing needs to age).
        ensure(
            swapins < hot as u64 && after.pgsoftfault > start.pgsoftfault,
            || {
                format!(
                    "{swapins} swap-ins of {hot} hot pages in the steady state, {} soft faults",
                    after.pgsoftfault - start.pgsoftfault
                )
            },
        )
    });
    let _ = std::fs::remove_file(path);
    r
}

fn access_reclaims(ctx: &Ctx) -> Outcome {
    use std::os::unix::fs::FileExt;
    let mb = 4;
    let n = 2 * pages(mb);
    without_kswapd(ctx, mb, n, || {
        let s = open()?;
        let m = map(&s, n)?;
        let mem = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/mem")
            .map_err(err("/proc/self/mem"))?;
        for p in 0..n {
            let v = (p as u64 + 1).to_ne_bytes();
            mem.write_all_at(&v, (m.ptr() as usize + p * page_size()) as u64)
                .map_err(|e| format!("/proc/self/mem write of page {p}: {e}"))?;
        }
        for p in shuffled(n, 9) {
            let got = m.read(p * page_size());
            if got != p as u64 + 1 {
                return Err(format!("page {p}: {got:#x}"));
            }
        }
        let st = stats(&s)?;
        ensure(st.allocstall > 0 && st.oom_fault == 0, || {
            format!("{} allocstalls, {} OOM", st.allocstall, st.oom_fault)
        })
    })
}

fn rmmod_while_swapping(ctx: &Ctx) -> Outcome {
    use crate::dev::{spawn_child, wait_child};
    let mb = 4;
    let n = 2 * pages(mb);
    let path = swap_file(n + 1024)?;
    let r = with_load(ctx, &format!("arena_mb={mb} swap_path={path}"), || {
        // The child posts `ready` once its space is open and `done` once its
        // work is done, then keeps the space open until `release`: every
        // rmmod in between runs while it uses the module.
        let (ready, done, release) = (
            Pipe::new().map_err(err("pipe"))?,
            Pipe::new().map_err(err("pipe"))?,
            Pipe::new().map_err(err("pipe"))?,
        );
        let pid = spawn_child(|| {
            let s = open();
            ready.post();
            let ok = s
                .as_ref()
                .is_ok_and(|s| (0..3).all(|pass| write_then_verify(s, n, 25 + pass).is_ok()));
            done.post();
            release.wait();
            drop(s);
            if ok {
                0
            } else {
                3
            }
        })
        .map_err(err("fork"))?;
        ensure(ready.wait(), || "the child did not open a space".into())?;
        let (mut refused, mut polls) = (0, 0);
        let mut r = Ok(());
        // At most a minute (a child killed by a signal posts nothing).
        while !done.posted() && polls < 1200 {
            polls += 1;
            std::thread::sleep(Duration::from_millis(50));
            match ctx.unload() {
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EBUSY)) => {
                    refused += 1
                }
                Err(e) => r = r.and(Err(format!("rmmod while swapping: {e}"))),
                Ok(()) => {
                    r = r.and(Err("rmmod succeeded while a process swapped".into()));
                    break;
                }
            }
        }
        release.post();
        let exit = wait_child(pid).map_err(err("wait"))?;
        r.map_err(|e| format!("{e} (the child ended {exit:?}, {refused} refused before)"))?;
        ensure(exit == Ok(0) && refused > 0, || {
            format!("the swapping child ended {exit:?}; {refused} rmmods refused")
        })
    });
    let _ = std::fs::remove_file(path);
    r
}

fn reclaim_params(ctx: &Ctx) -> Outcome {
    let mb = 4;
    let frames = pages(mb) as u64;
    with_load(ctx, &format!("arena_mb={mb}"), || {
        let st = stats(&open()?)?;
        // The zero frame is not the buddy's: 1023 frames are managed.
        let managed = frames - 1;
        ensure(
            (st.watermark_min, st.watermark_low, st.watermark_high)
                == (managed / 64, managed / 32, managed * 3 / 64),
            || {
                format!(
                    "{frames} frames: watermarks {} {} {}",
                    st.watermark_min, st.watermark_low, st.watermark_high
                )
            },
        )
    })?;
    with_load(
        ctx,
        &format!("arena_mb={mb} watermark_min=20 watermark_low=40 watermark_high=80"),
        || {
            let st = stats(&open()?)?;
            ensure(
                (st.watermark_min, st.watermark_low, st.watermark_high) == (20, 40, 80),
                || {
                    format!(
                        "set watermarks read {} {} {}",
                        st.watermark_min, st.watermark_low, st.watermark_high
                    )
                },
            )
        },
    )?;
    ctx.unload().map_err(err("rmmod"))?;
    let cases = [
        ("reclaim_policy=fifo", "not a policy"),
        ("watermark_min=50 watermark_low=10", "min <= low <= high"),
        ("watermark_high=1000", "too little"),
    ];
    let mut r = Ok(());
    for (params, words) in cases {
        let mut log = Kmsg::from_now().map_err(err("kmsg"))?;
        let load = ctx.load(&format!("arena_mb={mb} {params}"));
        let lines = log.read_new().map_err(err("kmsg"))?;
        r = r
            .and(expect_errno(params, load, libc::EINVAL))
            .and(ensure(lines.iter().any(|l| l.contains(words)), || {
                format!("no '{words}' message for {params}:\n{}", lines.join("\n"))
            }));
        if crate::kmod::is_loaded("pagearena") {
            let _ = ctx.unload();
        }
    }
    ctx.restore()?;
    r
}

//! The `pagearena` command as users run it: every demo must pass on the
//! arena; the reporting commands must say what the ioctls and debugfs say;
//! `top` must draw; `bench` and `replay` must write valid plots.

use super::paging::{err, map, open, stats};
use super::swap::with_swap;
use super::{ensure, expect_errno, Ctx, Outcome, Test};
use crate::dev::page_size;
use crate::uapi;
use std::process::{Command, Output};

pub const TESTS: &[Test] = &[
    Test {
        name: "pagearena demo zero, cow and fork: every check holds on the arena",
        run: demos,
    },
    Test {
        name: "pagearena demo swap and the swap-round-trip sample: checks hold with zram swap; the demo fails without swap",
        run: demo_swap,
    },
    Test {
        name:
            "pagearena stat: the STATS counters, and -w rates that count the faults made meanwhile",
        run: stat,
    },
    Test {
        name: "pagearena buddyinfo, slabinfo and spaces agree with STATS and SPACE_STATS",
        run: debugfs_commands,
    },
    Test {
        name: "pagearena page: a space's pages by inherited FD, by PID/FD, and by PID:ADDR (a fork-COW child's own snapshot)",
        run: page,
    },
    Test {
        name: "TRACE records each fault in order and is its starter's (EBUSY for other files, ended by its close); IDLE makes the next access fault; a full ring counts lost events; bad input is EINVAL/EFAULT and loses no event",
        run: trace_ioctls,
    },
    Test {
        name: "without CAP_SYS_ADMIN / CAP_SYS_PTRACE: TRACE start, IDLE of every space and PAGE_STATE_AT are EPERM; IDLE of one's own space works",
        run: privileged_ioctls,
    },
    Test {
        name: "pagearena trace records demo cow's first writes in order, and replay reads the trace",
        run: trace_and_replay,
    },
    Test {
        name: "pagearena top --plain draws every panel with the live numbers",
        run: top,
    },
    Test {
        name: "pagearena bench --plot, replay --plot and top --picture write valid PNG and SVG files",
        run: plots,
    },
];

/// Runs the `pagearena` beside this runner with `args`.
fn cli(args: &[&str]) -> Result<Output, String> {
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let dir = exe.parent().ok_or("no directory for the runner")?;
    Command::new(dir.join("pagearena"))
        .args(args)
        .output()
        .map_err(|e| format!("pagearena {args:?} (build it with make tools): {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `pagearena args`, which must succeed; its stdout.
fn ok(args: &[&str]) -> Result<String, String> {
    let o = cli(args)?;
    ensure(o.status.success(), || {
        format!("pagearena {}: {}", args.join(" "), text(&o))
    })?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn json(args: &[&str]) -> Result<serde_json::Value, String> {
    let out = ok(args)?;
    serde_json::from_str(&out).map_err(|e| format!("pagearena {}: {e}:\n{out}", args.join(" ")))
}

fn demos(_: &Ctx) -> Outcome {
    for which in ["zero", "cow", "fork"] {
        let out = ok(&["demo", which])?;
        ensure(
            out.contains(&format!("demo {which}: every check held")) && !out.contains("FAIL"),
            || format!("demo {which}:\n{out}"),
        )?;
    }
    // The same checks as JSON: every one held, and there are some.
    let v = json(&["demo", "cow", "--json"])?;
    let checks = v["demos"][0]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure(
        v["passed"] == true && checks.len() >= 5 && checks.iter().all(|c| c["ok"] == true),
        || format!("demo cow --json: {v}"),
    )
}

fn demo_swap(ctx: &Ctx) -> Outcome {
    // The standard load has no swap: the demo must say so and fail.
    let o = cli(&["demo", "swap"])?;
    ensure(
        !o.status.success()
            && String::from_utf8_lossy(&o.stdout).contains("[FAIL] the arena has swap"),
        || format!("demo swap without swap: {}", text(&o)),
    )?;
    let sys = "/sys/block/zram0";
    std::fs::write(format!("{sys}/disksize"), "8M").map_err(err("zram0 disksize"))?;
    let r = with_swap(ctx, 16, "/dev/zram0", || {
        let out = ok(&["demo", "swap"])?;
        ensure(
            out.contains("demo swap: every check held") && !out.contains("FAIL"),
            || format!("demo swap:\n{out}"),
        )?;
        // The sample that does the same in a page of code.
        let exe = std::env::current_exe().map_err(err("current_exe"))?;
        let o = Command::new(exe.with_file_name("swap-round-trip"))
            .output()
            .map_err(err("swap-round-trip (make tools)"))?;
        ensure(o.status.success(), || {
            format!("swap-round-trip: {}", text(&o))
        })
    });
    let _ = std::fs::write(format!("{sys}/reset"), "1");
    r
}

fn stat(_: &Ctx) -> Outcome {
    let s = open()?;
    let st = stats(&s)?;
    let v = json(&["stat", "--json"])?;
    ensure(
        v["nr_frames"] == st.nr_frames
            && v["watermark_high"] == st.watermark_high
            && v["uapi_version"] == crate::uapi::PAGEARENA_UAPI_VERSION
            && v["fork_snapshot"] == st.fork_snapshot,
        || format!("stat --json {v} vs STATS {st:?}"),
    )?;
    // Two readings a second apart; 512 pages are first written right after
    // the first line: the second line's demand-zero rate must count them.
    use std::io::BufRead;
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let mut child = Command::new(exe.with_file_name("pagearena"))
        .args(["stat", "-w", "1", "-n", "2", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(err("pagearena stat -w"))?;
    let mut lines = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let first = lines.next().transpose().map_err(err("stat -w"))?;
    let n = 512;
    let m = map(&s, n)?;
    for p in 0..n {
        m.write(p * page_size(), 1);
    }
    let second = lines.next().transpose().map_err(err("stat -w"))?;
    let _ = child.wait();
    let line = second.unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line.trim())
        .map_err(|e| format!("stat -w --json: {e}: {first:?} then {line:?}"))?;
    let rate = v["rates"]["demand_zero_fault_per_sec"]
        .as_f64()
        .unwrap_or(-1.0);
    // Over the interval the line reports: at least the 1 s asked for
    // (longer on a busy guest), and the rate times it is the 512 faults.
    let secs = v["interval_secs"].as_f64().unwrap_or(-1.0);
    ensure(secs >= 1.0 && (rate * secs - n as f64).abs() <= 1.0, || {
        format!("demand_zero_fault_per_sec {rate} over {secs} s for {n} faults: {line}")
    })?;
    let out = ok(&["stat", "-w", "0.2", "-n", "2"])?;
    let lines: Vec<&str> = out.lines().collect();
    ensure(
        lines.len() == 3 && lines[0].contains("flt/s") && lines[0].len() == lines[1].len(),
        || format!("stat -w 0.2 -n 2: a header and 2 lines:\n{out}"),
    )
}

fn debugfs_commands(_: &Ctx) -> Outcome {
    let s = open()?;
    let m = map(&s, 64)?;
    for p in 0..40 {
        m.write(p * page_size(), 1);
    }
    let sp = s.space_stats().map_err(err("SPACE_STATS"))?;
    let st = stats(&s)?;
    let b = json(&["buddyinfo", "--json"])?;
    ensure(b["free_frames"] == st.nr_free, || {
        format!(
            "buddyinfo free_frames {} vs STATS nr_free {}",
            b["free_frames"], st.nr_free
        )
    })?;
    let slabs = json(&["slabinfo", "--json"])?;
    let space_cache = slabs
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "pa_space"))
        .cloned()
        .unwrap_or_default();
    ensure(space_cache["active_objs"] == st.nr_spaces, || {
        format!("slabinfo pa_space {space_cache} vs {} spaces", st.nr_spaces)
    })?;
    let spaces = json(&["spaces", "--json"])?;
    let me = spaces
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == sp.id))
        .cloned()
        .unwrap_or_default();
    ensure(
        me["resident"] == 40 && me["swapped"] == 0 && me["vmas"] == 1 && me["mode"] == "shared",
        || format!("spaces: {me} for space {} (40 resident, 1 VMA)", sp.id),
    )?;
    let out = ok(&["buddyinfo"])?;
    ensure(out.lines().count() == 12 && out.contains("order"), || {
        format!("buddyinfo: a header and 11 orders:\n{out}")
    })
}

fn page(_: &Ctx) -> Outcome {
    let s = open()?;
    let m = map(&s, 8)?;
    m.write(page_size(), 7);
    let _ = m.read(3 * page_size());
    let clone = s.clone_space().map_err(err("CLONE"))?;
    // An fd the child inherits (dup clears close-on-exec).
    // SAFETY: dup of our own open fd.
    let fd = crate::dev::cvt(unsafe { libc::dup(s.fd()) }).map_err(err("dup"))?;
    let fd_s = fd.to_string();
    let local = json(&["page", &fd_s, "0", "4", "--json"]);
    // SAFETY: closes the fd dup'ed above.
    unsafe { libc::close(fd) };
    let remote = json(&[
        "page",
        &format!("{}/{}", std::process::id(), s.fd()),
        "0",
        "4",
        "--json",
    ])?;
    let local = local?["pages"].clone();
    let remote = remote["pages"].clone();
    ensure(local == remote, || format!("FD {local} vs PID/FD {remote}"))?;
    let kinds: Vec<&str> = (0..4)
        .map(|i| local[i]["kind"].as_str().unwrap_or("?"))
        .collect();
    let pfn = s.page_state(1, 1).map_err(err("PAGE_STATE"))?[0];
    ensure(
        kinds == ["zero", "frame", "zero", "zero"]
            && local[1]["share_count"] == 2
            && local[1]["pfn"] == crate::uapi::page_state::payload(pfn)
            && local[1]["page"] == 1,
        || format!("page: {local}"),
    )?;
    drop(clone);
    for bad in ["999999/3", "999999:0x1000"] {
        let o = cli(&["page", bad])?;
        ensure(!o.status.success() && !o.stderr.is_empty(), || {
            format!("page {bad} (no such process): {}", text(&o))
        })?;
    }
    page_at_in_a_fork_child()
}

/// `page PID:ADDR` shows whatever space a process maps there: a fork-COW
/// child's own snapshot, not the parent's space its inherited fd names.
fn page_at_in_a_fork_child() -> Outcome {
    let ps = page_size();
    let s = open()?;
    s.set_fork_mode(uapi::PAGEARENA_FORK_COW)
        .map_err(err("SET_FORK_MODE"))?;
    let m = map(&s, 4)?;
    for p in 0..4 {
        m.write(p * ps, 1);
    }
    let (ready, done) = (
        crate::dev::Pipe::new().map_err(err("pipe"))?,
        crate::dev::Pipe::new().map_err(err("pipe"))?,
    );
    let child = crate::dev::spawn_child(|| {
        m.write(ps, 2);
        ready.post();
        done.wait();
        0
    })
    .map_err(err("fork"))?;
    let addr = format!("{:#x}", m.ptr() as usize);
    let r = (|| {
        ensure(ready.wait(), || "the child did not start".into())?;
        let c = json(&["page", &format!("{child}:{addr}"), "4", "--json"])?;
        let p = json(&["page", &format!("{}:{addr}", std::process::id()), "--json"])?;
        let me = s.space_stats().map_err(err("SPACE_STATS"))?.id;
        let pg = |v: &serde_json::Value, i: usize, k: &str| v["pages"][i][k].clone();
        ensure(
            c["space"] != me
                && p["space"] == me
                && p["pages"].as_array().map(Vec::len) == Some(4)
                && pg(&c, 1, "share_count") == 1
                && pg(&p, 1, "share_count") == 1
                && pg(&c, 1, "pfn") != pg(&p, 1, "pfn")
                && pg(&c, 0, "share_count") == 2
                && pg(&c, 0, "pfn") == pg(&p, 0, "pfn"),
            || format!("child {c}\nparent {p} (space {me})"),
        )?;
        // Not an arena mapping, and no mapping at all.
        let heap = Box::new(0u64);
        let stack = format!(
            "{}:{:#x}",
            std::process::id(),
            &*heap as *const u64 as usize
        );
        for (what, target) in [
            ("a heap address", stack),
            ("address 0", format!("{child}:0")),
        ] {
            let o = cli(&["page", &target])?;
            ensure(!o.status.success(), || {
                format!("page at {what}: {}", text(&o))
            })?;
        }
        Ok(())
    })();
    done.post();
    let status = crate::dev::wait_child(child).map_err(err("wait"))?;
    r.and(ensure(status == Ok(0), || format!("child: {status:?}")))
}

fn top(_: &Ctx) -> Outcome {
    let s = open()?;
    let m = map(&s, 300)?;
    for p in 0..300 {
        m.write(p * page_size(), 1);
    }
    let id = s.space_stats().map_err(err("SPACE_STATS"))?.id;
    let out = ok(&["top", "--plain", "-n", "2", "-d", "0.2"])?;
    for want in [
        "frames by state",
        "buddy free blocks per order",
        "faults/s",
        "pa_space",
        "spaces by size",
    ] {
        ensure(out.contains(want), || {
            format!("top --plain lacks {want:?}:\n{out}")
        })?;
    }
    // Two refreshes, and our space with its 300 pages in the table.
    ensure(
        out.matches("frames by state").count() == 2
            && out.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(&id.to_string().as_str()) && f.get(1) == Some(&"300")
            }),
        || format!("top --plain: 2 views, space {id} with 300 resident:\n{out}"),
    )
}

fn plots(_: &Ctx) -> Outcome {
    let dir = std::path::PathBuf::from("/run/pagearena-plots");
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_string_lossy().into_owned();
    ok(&["bench", "--pages", "256", "--rounds", "1", "--plot", &d])?;
    let trace = dir.join("trace.txt");
    let t: String = (0..2000).map(|i| format!("{}\n", (i * 7) % 97)).collect();
    std::fs::write(&trace, t).map_err(err("trace"))?;
    let (png, svg) = (dir.join("replay.png"), dir.join("replay.svg"));
    let out = ok(&[
        "replay",
        &trace.to_string_lossy(),
        "--steps",
        "5",
        "--plot",
        &png.to_string_lossy(),
        "--plot",
        &svg.to_string_lossy(),
    ])?;
    ensure(out.contains("opt") && out.contains("97 pages"), || {
        format!("replay:\n{out}")
    })?;
    let mut files = vec![png, svg];
    for ext in ["png", "svg"] {
        let p = dir.join(format!("top.{ext}"));
        ok(&[
            "top",
            "--picture",
            &p.to_string_lossy(),
            "-d",
            "0.2",
            "-n",
            "3",
        ])?;
        files.push(p);
    }
    for name in ["bench-throughput", "bench-latency"] {
        for ext in ["png", "svg"] {
            files.push(dir.join(format!("{name}.{ext}")));
        }
    }
    for f in &files {
        let valid = crate::plot::valid(f).map_err(err("plot"))?;
        ensure(valid, || format!("{} is not a valid plot", f.display()))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn trace_ioctls(_: &Ctx) -> Outcome {
    let ps = page_size();
    let s = open()?;
    let m = map(&s, 8)?;
    for p in 0..8 {
        m.write(p * ps, p as u64);
    }
    let id = s.space_stats().map_err(err("SPACE_STATS"))?.id;
    let ev = |pages: std::ops::Range<u64>| -> Vec<u64> { pages.map(|p| (id << 32) | p).collect() };
    let read_all = || (0..8).map(|p| m.read(p * ps)).sum::<u64>();
    s.trace_start(1024).map_err(err("TRACE start"))?;
    let other = open()?;
    let r = (|| {
        // The trace is s's: another file can neither read nor restart it.
        expect_errno(
            "another file's TRACE read",
            other.trace_read(8, false),
            libc::EBUSY,
        )?;
        expect_errno(
            "another file's TRACE start",
            other.trace_start(8),
            libc::EBUSY,
        )?;
        read_all();
        let (none, _) = s.trace_read(64, false).map_err(err("TRACE read"))?;
        ensure(none.is_empty(), || {
            format!("mapped pages faulted: {none:x?}")
        })?;
        s.idle(false).map_err(err("IDLE"))?;
        read_all();
        read_all();
        // A bad buffer: EFAULT, and the events stay.
        let mut args = uapi::PagearenaTraceArgs {
            buf: 8,
            count: 8,
            ..Default::default()
        };
        expect_errno(
            "TRACE to a bad buffer",
            s.ioctl_raw(uapi::PAGEARENA_IOC_TRACE, &mut args as *mut _ as usize),
            libc::EFAULT,
        )?;
        let (got, lost) = s.trace_read(64, false).map_err(err("TRACE read"))?;
        ensure(got == ev(0..8) && lost == 0, || {
            format!(
                "after IDLE, 2 passes over 8 pages: {got:x?} (lost {lost}), want one fault each"
            )
        })?;
        // IDLE of every space reaches this one too.
        s.idle(true).map_err(err("IDLE all"))?;
        read_all();
        let (got, _) = s.trace_read(64, false).map_err(err("TRACE read"))?;
        ensure(got == ev(0..8), || format!("after IDLE_ALL: {got:x?}"))?;
        // A ring of 4: the first 4 faults kept, 4 lost.
        s.trace_start(4).map_err(err("TRACE start"))?;
        s.idle(false).map_err(err("IDLE"))?;
        read_all();
        let (got, lost) = s.trace_read(64, true).map_err(err("TRACE stop"))?;
        ensure(got == ev(0..4) && lost == 4, || {
            format!("ring of 4, 8 faults: {got:x?}, lost {lost}")
        })?;
        // Stopped: nothing more is recorded.
        s.idle(false).map_err(err("IDLE"))?;
        read_all();
        let (got, _) = s.trace_read(64, false).map_err(err("TRACE read"))?;
        ensure(got.is_empty(), || format!("recorded after stop: {got:x?}"))?;
        for (what, args) in [
            (
                "both flags",
                uapi::PagearenaTraceArgs {
                    flags: 3,
                    ..Default::default()
                },
            ),
            (
                "an unknown flag",
                uapi::PagearenaTraceArgs {
                    flags: 4,
                    ..Default::default()
                },
            ),
            (
                "a bad version",
                uapi::PagearenaTraceArgs {
                    version: 99,
                    ..Default::default()
                },
            ),
            (
                "a ring of 0",
                uapi::PagearenaTraceArgs {
                    flags: uapi::PAGEARENA_TRACE_START,
                    ..Default::default()
                },
            ),
            (
                "a ring past the limit",
                uapi::PagearenaTraceArgs {
                    flags: uapi::PAGEARENA_TRACE_START,
                    count: uapi::PAGEARENA_TRACE_MAX + 1,
                    ..Default::default()
                },
            ),
            (
                "a read past the limit",
                uapi::PagearenaTraceArgs {
                    count: uapi::PAGEARENA_TRACE_MAX + 1,
                    ..Default::default()
                },
            ),
        ] {
            let mut a = args;
            expect_errno(
                &format!("TRACE with {what}"),
                s.ioctl_raw(uapi::PAGEARENA_IOC_TRACE, &mut a as *mut _ as usize),
                libc::EINVAL,
            )?;
        }
        expect_errno(
            "IDLE 2",
            s.ioctl_raw(uapi::PAGEARENA_IOC_IDLE, 2),
            libc::EINVAL,
        )
    })();
    let _ = s.trace_read(0, true);
    r?;
    // Closing the owner's file ends its trace: another file may start one.
    drop(m);
    drop(s);
    other
        .trace_start(8)
        .map_err(err("TRACE start after the owner's file closed"))?;
    other
        .trace_read(0, true)
        .map_err(err("TRACE stop"))
        .map(|_| ())
}

/// Drops `caps` (capability numbers) from this process's effective set
/// (`capset`, version 3); raw syscalls only, for a forked child.
fn drop_effective_caps(caps: &[u32]) -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget writes two `Data` for version 3 into our array.
    if unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) } != 0 {
        return false;
    }
    for &c in caps {
        d[(c / 32) as usize].effective &= !(1 << (c % 32));
    }
    // SAFETY: capset reads our header and two `Data`.
    unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) == 0 }
}

fn privileged_ioctls(_: &Ctx) -> Outcome {
    let s = open()?;
    let m = map(&s, 2)?;
    m.write(0, 1);
    let addr = m.ptr() as u64;
    let me = std::process::id();
    let r = crate::dev::in_child(|| {
        // CAP_SYS_PTRACE and CAP_SYS_ADMIN (linux/capability.h).
        if !drop_effective_caps(&[19, 21]) {
            return 10;
        }
        let eperm =
            |r: std::io::Result<i32>| r.err().and_then(|e| e.raw_os_error()) == Some(libc::EPERM);
        let mut targs = uapi::PagearenaTraceArgs {
            flags: uapi::PAGEARENA_TRACE_START,
            count: 8,
            ..Default::default()
        };
        let mut pargs = uapi::PagearenaPageStateAtArgs {
            pid: me,
            addr,
            count: 1,
            ..Default::default()
        };
        let checks = [
            eperm(s.ioctl_raw(uapi::PAGEARENA_IOC_TRACE, &mut targs as *mut _ as usize)),
            eperm(s.ioctl_raw(uapi::PAGEARENA_IOC_IDLE, uapi::PAGEARENA_IDLE_ALL)),
            eperm(s.ioctl_raw(
                uapi::PAGEARENA_IOC_PAGE_STATE_AT,
                &mut pargs as *mut _ as usize,
            )),
            s.ioctl_raw(uapi::PAGEARENA_IOC_IDLE, uapi::PAGEARENA_IDLE_SPACE)
                .is_ok(),
        ];
        checks
            .iter()
            .enumerate()
            .fold(0, |acc, (i, ok)| acc | (i32::from(!ok) << i))
    })
    .map_err(err("fork"))?;
    ensure(r == Ok(0), || {
        format!("without the capabilities (bit 0 TRACE start, 1 IDLE_ALL, 2 PAGE_STATE_AT not EPERM; 3 own IDLE failed; 10 capset): {r:?}")
    })
}

fn trace_and_replay(_: &Ctx) -> Outcome {
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let cli_path = exe.with_file_name("pagearena");
    let file = "/run/pagearena-trace.txt";
    let o = cli(&[
        "trace",
        "-o",
        file,
        "--idle-ms",
        "5",
        "--",
        &cli_path.to_string_lossy(),
        "demo",
        "cow",
    ])?;
    ensure(o.status.success(), || {
        format!("pagearena trace -- pagearena demo cow: {}", text(&o))
    })?;
    let t = std::fs::read_to_string(file).map_err(err(file))?;
    let refs: Vec<(u64, u64)> = t
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (a, b) = l.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    // Space a of the demo writes pages 0..16 first: its first 16 pages, in
    // order of first reference (an aging between a fault and the access it
    // let through may record a page twice).
    let spaces: std::collections::BTreeSet<u64> = refs.iter().map(|r| r.0).collect();
    let in_order = spaces.iter().any(|&sp| {
        let mut first: Vec<u64> = Vec::new();
        for r in refs.iter().filter(|r| r.0 == sp) {
            if !first.contains(&r.1) {
                first.push(r.1);
            }
        }
        first.len() >= 16 && first[..16] == (0..16).collect::<Vec<_>>()
    });
    ensure(in_order && spaces.len() >= 2, || {
        format!(
            "no space of the trace starts with pages 0..16 in order ({} spaces):\n{t}",
            spaces.len()
        )
    })?;
    let distinct: std::collections::HashSet<_> = refs.iter().collect();
    let v = json(&["replay", file, "--frames", "4,16,64", "--json"])?;
    ensure(
        v["accesses"] == refs.len() && v["distinct"] == distinct.len(),
        || {
            format!(
                "replay of {} references to {} pages: {v}",
                refs.len(),
                distinct.len()
            )
        },
    )?;
    let _ = std::fs::remove_file(file);
    Ok(())
}

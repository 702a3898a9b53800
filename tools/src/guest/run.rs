//! `pagearena run -- CMD`: unmodified programs on the arena. Each test runs
//! a program natively and under `pagearena run` in the same guest, requires
//! the same output, and checks from the shim's report and the arena's
//! counters that the program's memory was the arena's.

use super::{ensure, swap::with_load, Ctx, Outcome, Test};
use crate::run::{ArenaDelta, ShimReport};
use std::process::{Command, Output};

/// The tests of this file.
pub const TESTS: &[Test] = &[
    Test {
        name: "run: anon-semantics (zero fill, fork COW, munmap, MAP_FIXED, mprotect, madvise, mremap, malloc) prints the same natively and on the arena",
        run: anon_semantics,
    },
    Test {
        name: "run: fallocate(PUNCH_HOLE) and MADV_REMOVE discard a range of a space file (and a fork-COW child's punch leaves the parent's pages)",
        run: punch_hole,
    },
    Test {
        name: "run: a Python workload (objects built, sorted, hashed) gives the native checksum on the arena",
        run: python,
    },
    Test {
        name: "run: sqlite3 builds an in-memory database and answers queries as natively",
        run: sqlite,
    },
    Test {
        name: "run: stress-ng --vm --verify passes on an arena a quarter of its memory, swapping to zram",
        run: stress_ng,
    },
    Test {
        name: "run: --arena-only without the device fails loudly; without it the program runs on kernel memory and says so once",
        run: no_device,
    },
];

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

fn beside(name: &str) -> Result<std::path::PathBuf, String> {
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    Ok(exe.with_file_name(name))
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What `pagearena run` reported about a run.
struct Run {
    out: Output,
    shim: ShimReport,
    arena: ArenaDelta,
}

/// Runs `cmd` natively; its output.
fn native(cmd: &[&str], stdin: Option<&str>) -> Result<Output, String> {
    spawn(Command::new(cmd[0]).args(&cmd[1..]), stdin)
}

fn spawn(c: &mut Command, stdin: Option<&str>) -> Result<Output, String> {
    use std::io::Write;
    use std::process::Stdio;
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("{c:?}: {e}"))?;
    if let (Some(s), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(s.as_bytes()).map_err(err("stdin"))?;
    }
    child.wait_with_output().map_err(err("wait"))
}

/// Runs `cmd` under `pagearena run --arena-only`; its output and reports.
fn on_arena(cmd: &[&str], stdin: Option<&str>, arena_only: bool) -> Result<Run, String> {
    let report = "/tmp/pagearena-run-test.json";
    let _ = std::fs::remove_file(report);
    let mut c = Command::new(beside("pagearena")?);
    c.arg("run").arg("--report").arg(report);
    if arena_only {
        c.arg("--arena-only");
    }
    c.arg("--").args(cmd);
    let out = spawn(&mut c, stdin)?;
    let v: serde_json::Value = std::fs::read_to_string(report)
        .map_err(|e| format!("{report}: {e}\n{}", text(&out)))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{report}: {e}")))?;
    let g = |o: &serde_json::Value, k: &str| o[k].as_u64().unwrap_or(0);
    let s = &v["shim"];
    let a = &v["arena"];
    Ok(Run {
        shim: ShimReport {
            processes: g(s, "processes"),
            arena_maps: g(s, "arena_maps"),
            arena_bytes: g(s, "arena_bytes"),
            kernel_maps: g(s, "kernel_maps"),
            kernel_bytes: g(s, "kernel_bytes"),
            fallbacks: g(s, "fallbacks"),
            punched_bytes: g(s, "punched_bytes"),
            mremap_in_place: g(s, "mremap_in_place"),
            mremap_moved: g(s, "mremap_moved"),
            mremap_copied: g(s, "mremap_copied"),
        },
        arena: ArenaDelta {
            pgfault: g(a, "pgfault"),
            demand_zero_fault: g(a, "demand_zero_fault"),
            zero_page_fault: g(a, "zero_page_fault"),
            cow_fault: g(a, "cow_fault"),
            fork_snapshot: g(a, "fork_snapshot"),
            pswpout: g(a, "pswpout"),
            pswpin: g(a, "pswpin"),
            oom_fault: g(a, "oom_fault"),
        },
        out,
    })
}

/// The same program natively and on the arena (arena-only): same exit
/// status, same stdout.
fn both(cmd: &[&str], stdin: Option<&str>) -> Result<(Output, Run), String> {
    let n = native(cmd, stdin)?;
    ensure(n.status.success(), || {
        format!("{cmd:?} natively: {}", text(&n))
    })?;
    let r = on_arena(cmd, stdin, true)?;
    ensure(r.out.status.success(), || {
        format!("{cmd:?} on the arena: {}", text(&r.out))
    })?;
    ensure(n.stdout == r.out.stdout, || {
        format!(
            "{cmd:?}: the output differs\n--- native\n{}\n--- on the arena\n{}",
            String::from_utf8_lossy(&n.stdout),
            String::from_utf8_lossy(&r.out.stdout)
        )
    })?;
    ensure(r.shim.kernel_maps == 0 && r.shim.fallbacks == 0, || {
        format!(
            "{cmd:?}: --arena-only, yet kernel memory was used: {:?}",
            r.shim
        )
    })?;
    Ok((n, r))
}

fn anon_semantics(ctx: &Ctx) -> Outcome {
    let prog = beside("anon-semantics")?;
    let prog = prog.to_str().ok_or("path")?;
    with_load(ctx, "arena_mb=128", || {
        let (_, r) = both(&[prog], None)?;
        let out = String::from_utf8_lossy(&r.out.stdout);
        ensure(
            out.contains("all checks passed") && !out.contains("FAIL"),
            || format!("anon-semantics:\n{out}"),
        )?;
        // The memory was the arena's: its faults, its fork snapshots.
        ensure(
            r.shim.arena_bytes >= 32 << 20
                && r.arena.demand_zero_fault >= 64
                && r.arena.fork_snapshot >= 4
                && r.arena.cow_fault >= 1,
            || {
                format!(
                    "the arena did not see the program's memory: {:?} {:?}",
                    r.shim, r.arena
                )
            },
        )?;
        // munmap, DONTNEED and FREE punched holes; mremap grew in place and
        // moved without copying; the fork child's inherited block copied.
        ensure(
            r.shim.punched_bytes > 0
                && r.shim.mremap_in_place + r.shim.mremap_moved >= 2
                && r.shim.mremap_copied >= 1,
            || format!("shim paths not taken: {:?}", r.shim),
        )
    })
}

fn punch_hole(_: &Ctx) -> Outcome {
    use crate::dev::Space;
    use std::os::fd::FromRawFd;
    let dev = Space::open().map_err(err("open"))?;
    let fd = dev
        .ioctl_raw(
            crate::uapi::PAGEARENA_IOC_NEW_SPACE,
            crate::uapi::PAGEARENA_FORK_COW,
        )
        .map_err(err("NEW_SPACE"))?;
    // SAFETY: A new fd the ioctl returned, owned from here on.
    let s = Space::from_fd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
    let n = 32;
    let m = s.map(0, n * 4096).map_err(err("mmap"))?;
    for p in 0..n {
        m.write(p * 4096, 0xabc0 + p as u64);
    }
    let before = s.space_stats().map_err(err("SPACE_STATS"))?;
    // fallocate on the fd: pages 4..8.
    // SAFETY: fallocate on our fd.
    let r = unsafe {
        libc::fallocate(
            s.fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            4 * 4096,
            4 * 4096,
        )
    };
    ensure(r == 0, || {
        format!("fallocate: {}", std::io::Error::last_os_error())
    })?;
    // MADV_REMOVE on the mapping: pages 10..12.
    // SAFETY: Our mapping.
    let r = unsafe { libc::madvise(m.ptr().add(10 * 4096).cast(), 2 * 4096, libc::MADV_REMOVE) };
    ensure(r == 0, || {
        format!("MADV_REMOVE: {}", std::io::Error::last_os_error())
    })?;
    let after = s.space_stats().map_err(err("SPACE_STATS"))?;
    ensure(before.resident - after.resident == 6, || {
        format!(
            "6 pages punched, resident {} -> {}",
            before.resident, after.resident
        )
    })?;
    for p in 0..n {
        let want = if (4..8).contains(&p) || (10..12).contains(&p) {
            0
        } else {
            0xabc0 + p as u64
        };
        ensure(m.read(p * 4096) == want, || {
            format!("page {p} after the punches")
        })?;
    }
    // Bad input: unaligned, other modes, the device's own fd (a character
    // device: the VFS says ENODEV).
    let e = |r: i32| {
        if r == 0 {
            0
        } else {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        }
    };
    // SAFETY: fallocate on our fds.
    let (unaligned, alloc, chardev) = unsafe {
        (
            e(libc::fallocate(
                s.fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                100,
                4096,
            )),
            e(libc::fallocate(s.fd(), 0, 0, 4096)),
            e(libc::fallocate(
                dev.fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                0,
                4096,
            )),
        )
    };
    ensure(
        unaligned == libc::EINVAL && alloc == libc::EOPNOTSUPP && chardev == libc::ENODEV,
        || format!("errnos: unaligned {unaligned}, mode 0 {alloc}, /dev fd {chardev}"),
    )?;
    // A fork-COW child punching through its mapping punches its snapshot.
    // SAFETY: fork; the child only touches its memory and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: The child's copy of the mapping.
        let r = unsafe { libc::madvise(m.ptr().cast(), 4 * 4096, libc::MADV_REMOVE) };
        let ok = r == 0 && (0..4).all(|p| m.read(p * 4096) == 0) && m.read(8 * 4096) == 0xabc8;
        // SAFETY: Leaving the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut st = 0;
    // SAFETY: Our child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    ensure(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, || {
        format!("the child's punch (status {st:#x})")
    })?;
    ensure(
        (0..4).all(|p| m.read(p * 4096) == 0xabc0 + p as u64),
        || "the child's punch reached the parent's pages".into(),
    )?;
    Ok(())
}

const PYTHON: &str = r#"
import hashlib, random
random.seed(7)
rows = [(random.random(), str(i) * 3, [i, i * i]) for i in range(80000)]
rows.sort()
d = {r[1]: r[2] for r in rows}
h = hashlib.sha256()
for r in rows[::7]:
    h.update(repr(r).encode())
print(len(rows), len(d), h.hexdigest())
"#;

/// Python's standard library, copied to `/tmp` (tmpfs in the guest): the
/// guest's root is 9p, whose reads pin the user buffer (`get_user_pages`,
/// zero-copy), which arena memory refuses (`EFAULT`), as for `O_DIRECT`.
const PYHOME: &str = "/tmp/pagearena-pyhome";

fn python_home() -> Result<(), String> {
    // The modules the workload imports (a native run names them), with the
    // packages they live in.
    let o = Command::new("/usr/bin/python3")
        .args(["-s", "-S", "-c", "import hashlib, random, sys\nfor m in list(sys.modules.values()):\n    f = getattr(m, '__file__', None)\n    if f: print(f)"])
        .output()
        .map_err(err("python3"))?;
    ensure(o.status.success(), || format!("python3: {}", text(&o)))?;
    let lib = "/usr/lib/python3.11/";
    for f in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(rel) = f.strip_prefix(lib) else {
            continue;
        };
        // A package's whole directory (encodings imports its codecs lazily).
        let src = match rel.split_once('/') {
            Some((pkg, _)) => format!("{lib}{pkg}"),
            None => f.to_string(),
        };
        let dst = format!("{PYHOME}/lib/python3.11/{}", &src[lib.len()..]);
        if std::path::Path::new(&dst).exists() {
            continue;
        }
        std::fs::create_dir_all(format!("{PYHOME}/lib/python3.11")).map_err(err("mkdir"))?;
        let st = Command::new("cp")
            .args(["-r", &src, &dst])
            .status()
            .map_err(err("cp"))?;
        ensure(st.success(), || format!("cp {src}: {st}"))?;
    }
    Ok(())
}

fn python(ctx: &Ctx) -> Outcome {
    python_home()?;
    with_load(ctx, "arena_mb=192", || {
        // -s -S: no user site, no site-packages (on 9p); not -I, which
        // would ignore PYTHONHOME.
        let home = format!("PYTHONHOME={PYHOME}");
        let (_, r) = both(
            &[
                "/usr/bin/env",
                &home,
                "/usr/bin/python3",
                "-s",
                "-S",
                "-c",
                PYTHON,
            ],
            None,
        )?;
        ensure(
            r.shim.arena_bytes >= 16 << 20 && r.arena.demand_zero_fault >= 4096,
            || {
                format!(
                    "python's memory was not the arena's: {:?} {:?}",
                    r.shim, r.arena
                )
            },
        )
    })
}

const SQL: &str = "
create table t(a integer primary key, b text, c real);
with recursive n(i) as (select 1 union all select i + 1 from n where i < 60000)
insert into t select i, printf('row-%08d', (i * 7919) % 60000), (i * 31 % 1000) / 7.0 from n;
create index tb on t(b);
select count(*), sum(a), round(sum(c), 3) from t;
select b from t order by b desc limit 3;
select a % 10 as k, count(*), round(avg(c), 4) from t group by k order by k;
select count(*) from t x join t y on x.a = y.a + 1 where x.c > y.c;
";

fn sqlite(ctx: &Ctx) -> Outcome {
    with_load(ctx, "arena_mb=128", || {
        let (_, r) = both(&["/usr/bin/sqlite3", ":memory:"], Some(SQL))?;
        ensure(
            r.shim.arena_bytes >= 4 << 20 && r.arena.demand_zero_fault >= 256,
            || {
                format!(
                    "sqlite's memory was not the arena's: {:?} {:?}",
                    r.shim, r.arena
                )
            },
        )
    })
}

fn stress_ng(ctx: &Ctx) -> Outcome {
    let sys = "/sys/block/zram0";
    std::fs::write(format!("{sys}/disksize"), "128M").map_err(err("zram0 disksize"))?;
    let r = with_load(ctx, "arena_mb=16 swap_path=/dev/zram0", || {
        let cmd = [
            "stress-ng",
            "--vm",
            "2",
            "--vm-bytes",
            "32M",
            "--vm-method",
            "all",
            "--verify",
            "--timeout",
            "20s",
            "--metrics-brief",
            "--temp-path",
            "/tmp",
        ];
        let r = on_arena(&cmd, None, true)?;
        let all = text(&r.out);
        ensure(
            r.out.status.success() && all.contains("successful run completed"),
            || format!("stress-ng on the arena: {all}"),
        )?;
        // Its workers end with `_exit` (no report of their own): the
        // arena's counters show their memory, twice the arena, swapping.
        ensure(
            r.shim.arena_maps > 0
                && r.arena.fork_snapshot >= 2
                && r.arena.demand_zero_fault >= 8192
                && r.arena.pswpout > 0
                && r.arena.pswpin > 0,
            || {
                format!(
                    "stress-ng did not swap on the arena: {:?} {:?}",
                    r.shim, r.arena
                )
            },
        )
    });
    let _ = std::fs::write(format!("{sys}/reset"), "1");
    r
}

fn no_device(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(err("rmmod"))?;
    let r = (|| {
        let o = Command::new(beside("pagearena")?)
            .args(["run", "--arena-only", "--", "/bin/true"])
            .output()
            .map_err(err("pagearena run"))?;
        ensure(
            !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--arena-only"),
            || format!("--arena-only without the module: {}", text(&o)),
        )?;
        let prog = beside("anon-semantics")?;
        let r = on_arena(&[prog.to_str().ok_or("path")?], None, false)?;
        let err_text = String::from_utf8_lossy(&r.out.stderr);
        ensure(
            r.out.status.success()
                && err_text.matches("pagearena-shim: cannot use").count() == 1
                && err_text.contains("using kernel memory")
                && r.shim.arena_maps == 0
                && r.shim.kernel_maps > 0,
            || format!("without the module: {:?}\n{}", r.shim, text(&r.out)),
        )
    })();
    ctx.restore()?;
    r
}

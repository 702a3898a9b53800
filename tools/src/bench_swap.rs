//! The swap benchmark: a working set twice the memory, the arena swapping to
//! one zram device against native anonymous memory in a memory cgroup of the
//! same size swapping to another zram device of the same size, in the same
//! machine and run; and the replacement policies' major faults on traces,
//! against Belady's optimum computed from the same traces.
//!
//! Workloads, over `2 x mem` pages (pages/s, median of the rounds):
//!
//! - `populate`: a first write to every page, in order (the second half of
//!   it pushes the first out);
//! - `sequential sweep` / `random sweep`: each page read and written again,
//!   in order or in a random order, every page out and in again.
//!
//! The policy comparison reloads the module with each `reclaim_policy` and
//! runs three traces of page writes (a loop over 1.1x the usable frames, a
//! uniform random pattern over 2x, and a hot/cold mix: 80 % of accesses to
//! a fifth of 2x), counting `pgmajfault`; Belady's optimum (evict the page
//! used furthest in the future) runs the same trace offline with as many
//! frames as the arena could use (its frames less the high watermark, the
//! page-table nodes and the zero frame).

use crate::bench::Row;
use crate::dev::{page_size, shuffled, xorshift, Mapping, Space};
use crate::kmod;
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to run.
pub struct Config {
    /// The module to load (`pagearena.ko`).
    pub module: PathBuf,
    /// Memory on both sides, MiB (the arena's size; the cgroup's limit).
    pub mem_mb: usize,
    /// Rounds (the median is reported).
    pub rounds: usize,
    /// The arena of the policy comparison, MiB.
    pub policy_mb: usize,
}

/// Major faults of one trace.
#[derive(Serialize, Clone)]
pub struct PolicyRow {
    /// The trace.
    pub trace: String,
    /// Accesses in the trace.
    pub accesses: usize,
    /// Major faults under `reclaim_policy=lru`.
    pub lru: u64,
    /// Major faults under `reclaim_policy=clock`.
    pub clock: u64,
    /// Belady's optimum with `frames` frames.
    pub belady: u64,
}

/// The whole run.
#[derive(Serialize)]
pub struct Report {
    /// Memory on both sides, MiB.
    pub mem_mb: usize,
    /// Pages in the working set.
    pub pages: usize,
    /// Rounds per workload.
    pub rounds: usize,
    /// The kernel.
    pub kernel: String,
    /// The sweeps.
    pub rows: Vec<Row>,
    /// Arena of the policy comparison, MiB.
    pub policy_mb: usize,
    /// Frames Belady's optimum was given.
    pub belady_frames: usize,
    /// The policy comparison.
    pub policies: Vec<PolicyRow>,
}

const ARENA_ZRAM: &str = "zram0";

fn sys_write(path: &str, v: &str) -> io::Result<()> {
    std::fs::write(path, v).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

fn run_cmd(cmd: &str, args: &[&str]) -> io::Result<()> {
    let st = std::process::Command::new(cmd).args(args).status()?;
    if st.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{cmd} {args:?}: {st}")))
    }
}

/// Sets zram device `name` to `bytes` (resetting it first).
fn zram(name: &str, bytes: usize) -> io::Result<()> {
    let _ = sys_write(&format!("/sys/block/{name}/reset"), "1");
    sys_write(&format!("/sys/block/{name}/disksize"), &bytes.to_string())
}

/// A second zram device for the native side (`hot_add`).
fn native_zram() -> io::Result<String> {
    if Path::new("/sys/block/zram1").exists() {
        return Ok("zram1".into());
    }
    let n = std::fs::read_to_string("/sys/class/zram-control/hot_add")?;
    Ok(format!("zram{}", n.trim()))
}

/// The cgroup native memory runs in: `memory.max` = `bytes`.
fn cgroup(bytes: usize) -> io::Result<String> {
    let root = "/sys/fs/cgroup";
    if !Path::new(&format!("{root}/cgroup.controllers")).exists() {
        run_cmd("mount", &["-t", "cgroup2", "none", root])?;
    }
    let _ = sys_write(&format!("{root}/cgroup.subtree_control"), "+memory");
    let g = format!("{root}/pagearena-bench");
    let _ = std::fs::create_dir(&g);
    sys_write(&format!("{g}/memory.max"), &bytes.to_string())?;
    Ok(g)
}

/// Reads and writes back one word in each page of `order`; checks each
/// page still holds what the last pass wrote. Returns pages/s.
fn sweep(m: &Mapping, order: &[usize], pass: u64) -> io::Result<f64> {
    let ps = page_size();
    let t = Instant::now();
    for &p in order {
        let v = m.read(p * ps);
        if v != (pass - 1) << 32 | p as u64 {
            return Err(io::Error::other(format!(
                "page {p}: {v:#x} after pass {}",
                pass - 1
            )));
        }
        m.write(p * ps, pass << 32 | p as u64);
    }
    Ok(order.len() as f64 / t.elapsed().as_secs_f64().max(1e-9))
}

/// The three workloads on `m`; returns pages/s of each.
fn workloads(m: &Mapping, pages: usize, seed: u64) -> io::Result<[f64; 3]> {
    let ps = page_size();
    let t = Instant::now();
    for p in 0..pages {
        m.write(p * ps, 1 << 32 | p as u64);
    }
    let populate = pages as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let seq: Vec<usize> = (0..pages).collect();
    let s = sweep(m, &seq, 2)?;
    let r = sweep(m, &shuffled(pages, seed), 3)?;
    Ok([populate, s, r])
}

/// The workloads on native memory, in a child in the cgroup `group`.
fn native(group: &str, pages: usize, seed: u64) -> io::Result<[f64; 3]> {
    let procs = format!("{group}/cgroup.procs");
    crate::bench::in_child_f64s(|| {
        sys_write(&procs, "0").ok()?;
        let m = Mapping::anonymous(pages * page_size()).ok()?;
        let _ = m.advise(libc::MADV_NOHUGEPAGE);
        workloads(&m, pages, seed).ok()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Loads the module with `params`, unloading it first if it is there.
fn load(module: &Path, params: &str) -> io::Result<()> {
    if kmod::is_loaded("pagearena") {
        kmod::rmmod("pagearena")?;
    }
    kmod::insmod(module, params)
}

/// A trace of page numbers.
struct Trace {
    name: &'static str,
    pages: Vec<u32>,
}

fn traces(frames: usize, len: usize) -> Vec<Trace> {
    let looped = frames * 11 / 10;
    let span = 2 * frames;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: usize| {
        x = xorshift(x);
        (x % n as u64) as u32
    };
    let lp = (0..len).map(|i| (i % looped) as u32).collect();
    let uniform = (0..len).map(|_| rand(span)).collect();
    let hot = span / 5;
    let mixed = (0..len)
        .map(|_| {
            if rand(10) < 8 {
                rand(hot)
            } else {
                hot as u32 + rand(span - hot)
            }
        })
        .collect();
    vec![
        Trace {
            name: "loop over 1.1x memory",
            pages: lp,
        },
        Trace {
            name: "uniform random over 2x",
            pages: uniform,
        },
        Trace {
            name: "hot/cold: 80% to a fifth of 2x",
            pages: mixed,
        },
    ]
}

/// Runs `trace` as page writes on a fresh space; returns its major faults.
fn replay(trace: &Trace, span: usize) -> io::Result<u64> {
    let s = Space::open()?;
    let m = s.map(0, span * page_size())?;
    let before = s.stats()?.pgmajfault;
    for &p in &trace.pages {
        m.write(p as usize * page_size(), u64::from(p) + 1);
    }
    Ok(s.stats()?.pgmajfault - before)
}

/// Runs the benchmark. Leaves the module unloaded and both zram devices reset.
pub fn run(cfg: &Config, progress: &mut dyn FnMut(&str)) -> io::Result<Report> {
    let mem = cfg.mem_mb << 20;
    let pages = 2 * mem / page_size();
    // Room for the whole working set on each side.
    let zbytes = 2 * mem + (16 << 20);
    zram(ARENA_ZRAM, zbytes)?;
    let nz = native_zram()?;
    zram(&nz, zbytes)?;
    let ndev = format!("/dev/{nz}");
    run_cmd("mkswap", &["-q", &ndev])?;
    run_cmd("swapon", &[&ndev])?;
    let group = cgroup(mem);
    let result = (|| {
        let group = group?;
        load(
            &cfg.module,
            &format!("arena_mb={} swap_path=/dev/{ARENA_ZRAM}", cfg.mem_mb),
        )?;
        let (mut a, mut n) = (vec![Vec::new(); 3], vec![Vec::new(); 3]);
        for r in 0..cfg.rounds {
            progress(&format!("swap sweeps: round {}/{}", r + 1, cfg.rounds));
            let s = Space::open()?;
            let m = s.map(0, pages * page_size())?;
            let x = workloads(&m, pages, r as u64 + 1)?;
            drop((m, s));
            let y = native(&group, pages, r as u64 + 1)?;
            for i in 0..3 {
                a[i].push(x[i]);
                n[i].push(y[i]);
            }
        }
        let names = ["populate (2x memory)", "sequential sweep", "random sweep"];
        let rows = (0..3)
            .map(|i| {
                let (x, y) = (median(a[i].clone()), median(n[i].clone()));
                Row {
                    workload: names[i].into(),
                    arena_per_sec: x,
                    native_per_sec: y,
                    ratio: x / y,
                }
            })
            .collect();
        // The policies, on a smaller arena.
        let mut frames = 0;
        let mut by_policy: Vec<Vec<u64>> = Vec::new();
        let mut tr = Vec::new();
        for policy in ["lru", "clock"] {
            load(
                &cfg.module,
                &format!(
                    "arena_mb={} swap_path=/dev/{ARENA_ZRAM} reclaim_policy={policy}",
                    cfg.policy_mb
                ),
            )?;
            let st = Space::open()?.stats()?;
            frames = (st.nr_frames - st.watermark_high - 1) as usize;
            // A page-table node per 512 pages of the traces' span.
            frames -= (2 * frames).div_ceil(512) + 1;
            tr = traces(frames, 8 * frames);
            let mut row = Vec::new();
            for t in &tr {
                progress(&format!("policy {policy}: {}", t.name));
                row.push(replay(t, 2 * frames)?);
            }
            by_policy.push(row);
        }
        let policies = tr
            .iter()
            .enumerate()
            .map(|(i, t)| PolicyRow {
                trace: t.name.into(),
                accesses: t.pages.len(),
                lru: by_policy[0][i],
                clock: by_policy[1][i],
                belady: pagearena_mm::replay::belady(&t.pages, frames),
            })
            .collect();
        Ok(Report {
            mem_mb: cfg.mem_mb,
            pages,
            rounds: cfg.rounds,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .into(),
            rows,
            policy_mb: cfg.policy_mb,
            belady_frames: frames,
            policies,
        })
    })();
    if kmod::is_loaded("pagearena") {
        let _ = kmod::rmmod("pagearena");
    }
    let _ = run_cmd("swapoff", &[&ndev]);
    let _ = zram(&nz, 0);
    let _ = sys_write(&format!("/sys/block/{nz}/reset"), "1");
    let _ = sys_write(&format!("/sys/block/{ARENA_ZRAM}/reset"), "1");
    result
}

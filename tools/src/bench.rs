//! The fault-path benchmark: the arena against native Linux anonymous memory
//! (`MAP_PRIVATE | MAP_ANONYMOUS`, THP off) in the same machine and run.
//!
//! Each workload touches every page of a fresh mapping once and counts
//! faults per second:
//!
//! - `first-touch write`: a write to each page of new memory (the arena:
//!   demand zero; native: an anonymous page fault);
//! - `zero-page read`: a read of each page of new memory (both map a shared
//!   zero page);
//! - `cow write`: memory written before `fork()`, then written by the child
//!   (the arena: a fork-COW space; native: private anonymous memory);
//! - `first-touch write, 2 threads` / `2 processes`: the first workload split
//!   over two threads of one process (one space, one mapping), or two
//!   processes with a space each, to show the fault path scales.
//!
//! After one untimed warm-up round, rounds alternate arena and native; the
//! median of the rounds is reported. Scaling is measured in pairs: each
//! round of a 2-thread or 2-process workload runs the 1-thread workload on
//! the same memory just before it, and the median of the rounds' ratios is
//! reported, so that a slow stretch of the machine (TCG shares its host)
//! moves both halves of a ratio, not one.

use crate::dev::{cvt, page_size, spawn_child, wait_child, Mapping, Space};

use crate::uapi;
use serde::Serialize;
use std::io;
use std::time::Instant;

/// What to run.
pub struct Config {
    /// Pages per workload.
    pub pages: usize,
    /// Rounds (the median is reported).
    pub rounds: usize,
}

/// One workload's result.
#[derive(Serialize, Clone)]
pub struct Row {
    /// Workload name.
    pub workload: String,
    /// Arena pages (here: faults) per second (median).
    pub arena_per_sec: f64,
    /// Native pages per second (median).
    pub native_per_sec: f64,
    /// `arena_per_sec / native_per_sec`.
    pub ratio: f64,
}

/// The whole run.
#[derive(Serialize)]
pub struct Report {
    /// Pages per workload.
    pub pages: usize,
    /// Rounds per workload.
    pub rounds: usize,
    /// CPUs online.
    pub cpus: usize,
    /// The kernel (`uname -r`).
    pub kernel: String,
    /// Results.
    pub rows: Vec<Row>,
    /// Throughput with 2 threads over 1 (arena, native): the median of
    /// paired rounds' ratios.
    pub thread_scaling: (f64, f64),
    /// Throughput with 2 processes over 1 (arena, native), likewise.
    pub process_scaling: (f64, f64),
    /// Per-fault latency of first-touch writes.
    pub latency: Latency,
}

/// A histogram of per-fault latencies: first-touch writes, each timed alone.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Latency {
    /// Upper bound of each bin, nanoseconds (powers of two; the last bin
    /// holds everything slower).
    pub bin_ns: Vec<u64>,
    /// Faults per bin, the arena.
    pub arena: Vec<u64>,
    /// Faults per bin, native.
    pub native: Vec<u64>,
    /// Median latency, nanoseconds (arena, native).
    pub median_ns: (u64, u64),
}

/// Bins of [`Latency`]: up to 2^6 ns .. 2^21 ns, then the rest.
const LAT_BINS: std::ops::RangeInclusive<u32> = 6..=22;

/// Puts latencies (ns) into [`LAT_BINS`].
pub fn histogram(ns: &[u64]) -> Vec<u64> {
    let mut h = vec![0; LAT_BINS.count()];
    for &v in ns {
        let bin = (64 - v.max(1).saturating_sub(1).leading_zeros())
            .clamp(*LAT_BINS.start(), *LAT_BINS.end());
        h[(bin - LAT_BINS.start()) as usize] += 1;
    }
    h
}

/// Each write's time, on `pages` pages of new memory.
fn fault_latencies(mem: Mem, pages: usize) -> io::Result<Vec<u64>> {
    let (s, m) = map(mem, pages)?;
    let ps = page_size();
    let mut out = Vec::with_capacity(pages);
    for p in 0..pages {
        let t = Instant::now();
        m.write(p * ps, p as u64 + 1);
        out.push(t.elapsed().as_nanos() as u64);
    }
    drop((s, m));
    Ok(out)
}

fn latency(cfg: &Config) -> io::Result<Latency> {
    let (mut a, mut n) = (Vec::new(), Vec::new());
    for _ in 0..cfg.rounds.min(3) {
        a.extend(fault_latencies(Mem::Arena, cfg.pages)?);
        n.extend(fault_latencies(Mem::Native, cfg.pages)?);
    }
    let med = |v: &[u64]| median(v.iter().map(|&x| x as f64).collect()) as u64;
    Ok(Latency {
        bin_ns: LAT_BINS.map(|b| 1u64 << b).collect(),
        arena: histogram(&a),
        native: histogram(&n),
        median_ns: (med(&a), med(&n)),
    })
}

/// Which memory a workload runs on.
#[derive(Clone, Copy, PartialEq)]
enum Mem {
    Arena,
    Native,
}

fn map(mem: Mem, pages: usize) -> io::Result<(Option<Space>, Mapping)> {
    let len = pages * page_size();
    match mem {
        Mem::Arena => {
            let s = Space::open()?;
            let m = s.map(0, len)?;
            Ok((Some(s), m))
        }
        Mem::Native => {
            let m = Mapping::anonymous(len)?;
            // THP off, so both sides fault 4 KiB pages. (EINVAL without THP.)
            let _ = m.advise(libc::MADV_NOHUGEPAGE);
            Ok((None, m))
        }
    }
}

/// Writes one word in each page of `m[from..to]`.
fn touch_write(m: &Mapping, from: usize, to: usize) {
    for p in from..to {
        m.write(p * page_size(), p as u64);
    }
}

/// Reads one word in each page; returns their sum (so nothing is optimized away).
fn touch_read(m: &Mapping, from: usize, to: usize) -> u64 {
    (from..to).map(|p| m.read(p * page_size())).sum()
}

fn per_sec(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

fn first_touch(mem: Mem, pages: usize) -> io::Result<f64> {
    let (_s, m) = map(mem, pages)?;
    let t = Instant::now();
    touch_write(&m, 0, pages);
    Ok(per_sec(pages, t.elapsed().as_secs_f64()))
}

fn zero_read(mem: Mem, pages: usize) -> io::Result<f64> {
    let (_s, m) = map(mem, pages)?;
    let t = Instant::now();
    let sum = touch_read(&m, 0, pages);
    let r = per_sec(pages, t.elapsed().as_secs_f64());
    if sum != 0 {
        return Err(io::Error::other("zero page read non-zero"));
    }
    Ok(r)
}

/// Runs `f` in a child and returns the `f64` it reports through a pipe.
fn in_child_f64(f: impl FnOnce() -> f64) -> io::Result<f64> {
    in_child_f64s(|| Some([f()])).map(|[v]| v)
}

/// Runs `f` in a child and returns the `N` values it reports through a
/// pipe; an error if it reports `None` or dies.
pub(crate) fn in_child_f64s<const N: usize>(
    f: impl FnOnce() -> Option<[f64; N]>,
) -> io::Result<[f64; N]> {
    let mut p = [0i32; 2];
    // SAFETY: creates a pipe into our array.
    cvt(unsafe { libc::pipe(p.as_mut_ptr()) })?;
    let pid = spawn_child(|| {
        let Some(vals) = f() else {
            return 1;
        };
        let mut v = Vec::with_capacity(8 * N);
        for x in vals {
            v.extend_from_slice(&x.to_bits().to_ne_bytes());
        }
        // SAFETY: writes the buffer, which outlives the call.
        unsafe { libc::write(p[1], v.as_ptr().cast(), v.len()) };
        0
    })?;
    let mut b = vec![0u8; 8 * N];
    // SAFETY: reads into the buffer, which outlives the call; closes our fds.
    let n = unsafe {
        libc::close(p[1]);
        let n = libc::read(p[0], b.as_mut_ptr().cast(), b.len());
        libc::close(p[0]);
        n
    };
    let status = wait_child(pid)?;
    if n != (8 * N) as isize || status != Ok(0) {
        return Err(io::Error::other(format!("child failed: {status:?}")));
    }
    let mut out = [0.0; N];
    for (i, o) in out.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[8 * i..8 * i + 8]);
        *o = f64::from_bits(u64::from_ne_bytes(w));
    }
    Ok(out)
}

fn cow(mem: Mem, pages: usize) -> io::Result<f64> {
    let (s, m) = map(mem, pages)?;
    if let Some(s) = &s {
        s.set_fork_mode(uapi::PAGEARENA_FORK_COW)?;
    }
    touch_write(&m, 0, pages);
    in_child_f64(|| {
        let t = Instant::now();
        touch_write(&m, 0, pages);
        per_sec(pages, t.elapsed().as_secs_f64())
    })
}

fn threads2(mem: Mem, pages: usize) -> io::Result<f64> {
    let (_s, m) = map(mem, pages)?;
    let half = pages / 2;
    let t = Instant::now();
    std::thread::scope(|sc| {
        let m = &m;
        sc.spawn(move || touch_write(m, 0, half));
        sc.spawn(move || touch_write(m, half, pages));
    });
    Ok(per_sec(pages, t.elapsed().as_secs_f64()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs workload `f` for `rounds` rounds on both memories.
fn compare(
    name: &str,
    cfg: &Config,
    f: fn(Mem, usize) -> io::Result<f64>,
    progress: &mut impl FnMut(&str),
) -> io::Result<Row> {
    let (mut a, mut n) = (Vec::new(), Vec::new());
    // One untimed round first: page tables, slabs and caches warm up.
    progress(&format!("{name}: warm-up"));
    f(Mem::Arena, cfg.pages)?;
    f(Mem::Native, cfg.pages)?;
    for r in 0..cfg.rounds {
        progress(&format!("{name}: round {}/{}", r + 1, cfg.rounds));
        a.push(f(Mem::Arena, cfg.pages)?);
        n.push(f(Mem::Native, cfg.pages)?);
    }
    let (a, n) = (median(a), median(n));
    Ok(Row {
        workload: name.into(),
        arena_per_sec: a,
        native_per_sec: n,
        ratio: a / n,
    })
}

/// Runs workload `f` (2 threads or 2 processes) for `rounds` rounds on both
/// memories, each round right after a round of the 1-thread workload on
/// the same memory; returns `f`'s row and the medians of the rounds'
/// ratios `f` / 1 thread (arena, native).
fn compare_scaling(
    name: &str,
    cfg: &Config,
    f: fn(Mem, usize) -> io::Result<f64>,
    progress: &mut impl FnMut(&str),
) -> io::Result<(Row, (f64, f64))> {
    let (mut a, mut n, mut sa, mut sn) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    progress(&format!("{name}: warm-up"));
    f(Mem::Arena, cfg.pages)?;
    f(Mem::Native, cfg.pages)?;
    for r in 0..cfg.rounds {
        progress(&format!("{name}: round {}/{}", r + 1, cfg.rounds));
        for (mem, v, s) in [
            (Mem::Arena, &mut a, &mut sa),
            (Mem::Native, &mut n, &mut sn),
        ] {
            let one = first_touch(mem, cfg.pages)?;
            let two = f(mem, cfg.pages)?;
            v.push(two);
            s.push(two / one);
        }
    }
    let (a, n) = (median(a), median(n));
    let row = Row {
        workload: name.into(),
        arena_per_sec: a,
        native_per_sec: n,
        ratio: a / n,
    };
    Ok((row, (median(sa), median(sn))))
}

/// Runs every workload.
pub fn run(cfg: &Config, mut progress: impl FnMut(&str)) -> io::Result<Report> {
    // The COW workload holds twice the pages: all of it must fit above the
    // high watermark, or the numbers measure reclaim, not the fault path.
    let st = Space::open()?.stats()?;
    let usable = st
        .nr_frames
        .saturating_sub(st.watermark_high + st.nr_pt_nodes + 64);
    if 2 * cfg.pages as u64 > usable {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--pages {} needs {} frames (COW doubles it), the arena has {usable} free above its \
                 high watermark: the numbers would measure reclaim; use --pages {} or load the \
                 module with a bigger arena_mb",
                cfg.pages,
                2 * cfg.pages,
                usable / 2
            ),
        ));
    }
    let mut rows = vec![
        compare("first-touch write", cfg, first_touch, &mut progress)?,
        compare("zero-page read", cfg, zero_read, &mut progress)?,
        compare("cow write (fork)", cfg, cow, &mut progress)?,
    ];
    let (threads, thread_scaling) =
        compare_scaling("first-touch write, 2 threads", cfg, threads2, &mut progress)?;
    let (processes, process_scaling) = compare_scaling(
        "first-touch write, 2 processes",
        cfg,
        processes2_parallel,
        &mut progress,
    )?;
    rows.extend([threads, processes]);
    progress("per-fault latency");
    let latency = latency(cfg)?;
    Ok(Report {
        pages: cfg.pages,
        rounds: cfg.rounds,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .into(),
        rows,
        thread_scaling,
        process_scaling,
        latency,
    })
}

/// Two processes, each writing its own memory, at the same time.
fn processes2_parallel(mem: Mem, pages: usize) -> io::Result<f64> {
    let half = pages / 2;
    let (sa, ma) = map(mem, half)?;
    let (sb, mb) = map(mem, pages - half)?;
    let mut go = [0i32; 2];
    // SAFETY: creates a pipe into our array.
    cvt(unsafe { libc::pipe(go.as_mut_ptr()) })?;
    let mut pids = Vec::new();
    for m in [&ma, &mb] {
        let pid = spawn_child(|| {
            let mut b = [0u8];
            // SAFETY: waits for the start signal (EOF) on our pipe.
            unsafe {
                libc::close(go[1]);
                libc::read(go[0], b.as_mut_ptr().cast(), 1);
            }
            touch_write(m, 0, m.pages());
            0
        })?;
        pids.push(pid);
    }
    let t = Instant::now();
    // SAFETY: closing both ends releases the children (EOF).
    unsafe {
        libc::close(go[0]);
        libc::close(go[1]);
    }
    for pid in pids {
        if wait_child(pid)? != Ok(0) {
            return Err(io::Error::other("writer failed"));
        }
    }
    let r = per_sec(pages, t.elapsed().as_secs_f64());
    drop((sa, ma, sb, mb));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::histogram;

    #[test]
    fn latencies_fall_in_power_of_two_bins() {
        // Bin i holds (2^(i+5), 2^(i+6)] ns; the first everything up to 64,
        // the last everything above 2^21.
        let h = histogram(&[0, 1, 64, 65, 128, 129, 1 << 21, (1 << 21) + 1, u64::MAX]);
        assert_eq!(h.len(), 17);
        assert_eq!((h[0], h[1], h[2]), (3, 2, 1));
        assert_eq!((h[15], h[16]), (1, 2));
        assert_eq!(h.iter().sum::<u64>(), 9);
    }
}

//! `pagearena run -- CMD`: a program on the arena, unmodified. Starts CMD
//! with `libpagearena_shim.so` preloaded (`tools/shim`), waits for it, and
//! reports what it put in the arena: the arena's counters over the run and
//! the shim's own report (what it served from the arena, what went to the
//! kernel).

use crate::{dev::Space, uapi};
use serde::Serialize;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to run and how.
pub struct Config<'a> {
    /// The device (its path is passed to the shim).
    pub device: &'a str,
    /// No kernel memory for what the shim serves: such a mapping fails.
    pub arena_only: bool,
    /// The program and its arguments.
    pub cmd: &'a [String],
}

/// The shim's report, summed over the processes of the run (one line each).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ShimReport {
    /// Processes that reported (the program, its forks and their execs).
    pub processes: u64,
    /// Mappings served from the arena.
    pub arena_maps: u64,
    /// Bytes of those.
    pub arena_bytes: u64,
    /// Mappings the shim serves that went to the kernel (a fallback).
    pub kernel_maps: u64,
    /// Bytes of those.
    pub kernel_bytes: u64,
    /// Fallbacks (device missing, arena full, table full).
    pub fallbacks: u64,
    /// Bytes discarded (`munmap`, `MADV_DONTNEED`, `MADV_FREE`).
    pub punched_bytes: u64,
    /// `mremap`s that grew in place.
    pub mremap_in_place: u64,
    /// `mremap`s that moved without a copy.
    pub mremap_moved: u64,
    /// `mremap`s that copied.
    pub mremap_copied: u64,
}

impl ShimReport {
    /// Sums the JSON lines of a report file.
    pub fn parse(text: &str) -> Self {
        let mut r = Self::default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let g = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
            r.processes += 1;
            r.arena_maps += g("arena_maps");
            r.arena_bytes += g("arena_bytes");
            r.kernel_maps += g("kernel_maps");
            r.kernel_bytes += g("kernel_bytes");
            r.fallbacks += g("fallbacks");
            r.punched_bytes += g("punched_bytes");
            r.mremap_in_place += g("mremap_in_place");
            r.mremap_moved += g("mremap_moved");
            r.mremap_copied += g("mremap_copied");
        }
        r
    }
}

/// The arena's counters that moved over the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ArenaDelta {
    /// Faults.
    pub pgfault: u64,
    /// Write faults that took a fresh frame.
    pub demand_zero_fault: u64,
    /// Read faults answered with the zero page.
    pub zero_page_fault: u64,
    /// Copy-on-write faults.
    pub cow_fault: u64,
    /// Spaces `fork()` made.
    pub fork_snapshot: u64,
    /// Pages written to swap.
    pub pswpout: u64,
    /// Pages read back.
    pub pswpin: u64,
    /// Faults that got `SIGBUS` (no memory).
    pub oom_fault: u64,
}

/// The outcome of a run.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// The program's exit code (128 + signal if a signal ended it).
    pub exit_code: i32,
    /// The shim's report.
    pub shim: ShimReport,
    /// The arena's counters over the run (none if the device could not be
    /// opened).
    pub arena: Option<ArenaDelta>,
}

/// The shim library: `PAGEARENA_SHIM` if set, else next to this program.
pub fn shim_path() -> io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PAGEARENA_SHIM") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    Ok(dir.join("libpagearena_shim.so"))
}

fn delta(a: &uapi::PagearenaStats, b: &uapi::PagearenaStats) -> ArenaDelta {
    ArenaDelta {
        pgfault: b.pgfault - a.pgfault,
        demand_zero_fault: b.demand_zero_fault - a.demand_zero_fault,
        zero_page_fault: b.zero_page_fault - a.zero_page_fault,
        cow_fault: b.cow_fault - a.cow_fault,
        fork_snapshot: b.fork_snapshot - a.fork_snapshot,
        pswpout: b.pswpout - a.pswpout,
        pswpin: b.pswpin - a.pswpin,
        oom_fault: b.oom_fault - a.oom_fault,
    }
}

/// Runs the program on the arena and waits for it.
pub fn run(cfg: &Config<'_>) -> Result<Outcome, String> {
    let (prog, args) = cfg
        .cmd
        .split_first()
        .ok_or("run: no command (pagearena run -- CMD ARGS...)")?;
    let shim = shim_path().map_err(|e| format!("run: {e}"))?;
    if !shim.exists() {
        return Err(format!(
            "run: {} not found (build it with `make tools`, or set PAGEARENA_SHIM)",
            shim.display()
        ));
    }
    let space = Space::open_path(cfg.device);
    if cfg.arena_only {
        if let Err(e) = &space {
            return Err(format!(
                "run: --arena-only, and {} cannot be opened: {e}",
                cfg.device
            ));
        }
    }
    let before = space.as_ref().ok().and_then(|s| s.stats().ok());
    let report = std::env::temp_dir().join(format!("pagearena-run-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", shim.display()),
        _ => shim.display().to_string(),
    };
    let mut c = Command::new(prog);
    c.args(args)
        .env("LD_PRELOAD", preload)
        .env("PAGEARENA_SHIM_DEVICE", cfg.device)
        .env("PAGEARENA_SHIM_REPORT", &report);
    if cfg.arena_only {
        c.env("PAGEARENA_SHIM_ARENA_ONLY", "1");
    }
    // SAFETY: `signal` is async-signal-safe; the child gets the default
    // dispositions back that this process changes below.
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = c.spawn().map_err(|e| format!("run: {prog}: {e}"))?;
    // Ctrl-C reaches the program (same process group); this process waits
    // for it to end and reports.
    // SAFETY: Setting a disposition; no handler runs.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let status = child.wait().map_err(|e| format!("run: wait: {e}"))?;
    let exit_code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let after = space.as_ref().ok().and_then(|s| s.stats().ok());
    let shim_report = std::fs::read_to_string(&report)
        .map(|t| ShimReport::parse(&t))
        .unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    Ok(Outcome {
        exit_code,
        shim: shim_report,
        arena: before.zip(after).map(|(a, b)| delta(&a, &b)),
    })
}

/// The outcome as text (for stderr).
pub fn summary(o: &Outcome) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let s = &o.shim;
    let mut out = format!(
        "pagearena run: exit {}; shim ({} processes): {} mappings, {:.1} MiB from the arena, \
         {} mappings, {:.1} MiB from the kernel ({} fallbacks); {:.1} MiB discarded; \
         mremap {} in place, {} moved, {} copied\n",
        o.exit_code,
        s.processes,
        s.arena_maps,
        mib(s.arena_bytes),
        s.kernel_maps,
        mib(s.kernel_bytes),
        s.fallbacks,
        mib(s.punched_bytes),
        s.mremap_in_place,
        s.mremap_moved,
        s.mremap_copied
    );
    if let Some(a) = &o.arena {
        out += &format!(
            "pagearena run: arena over the run: {} faults ({} demand-zero, {} zero-page, {} COW), \
             {} fork snapshots, {} pages swapped out, {} in, {} SIGBUS\n",
            a.pgfault,
            a.demand_zero_fault,
            a.zero_page_fault,
            a.cow_fault,
            a.fork_snapshot,
            a.pswpout,
            a.pswpin,
            a.oom_fault
        );
    }
    out
}

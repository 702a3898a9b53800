//! `pagearena trace -- CMD`: records the page references of a program on
//! the arena from the arena's own fault events (`PAGEARENA_IOC_TRACE`),
//! aging every space (`PAGEARENA_IOC_IDLE`) every few milliseconds so that
//! accesses after the first fault again and are seen: a sample of the
//! program's references, at the granularity of the aging interval. The
//! trace is a text file that `pagearena replay` reads: one `SPACE:PAGE`
//! reference per line, `#` comments.

use crate::dev::Space;
use std::collections::HashSet;
use std::io::{self, Write};
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// What `trace` saw.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    /// References recorded.
    pub references: u64,
    /// Distinct pages (space, page).
    pub pages: usize,
    /// Spaces seen.
    pub spaces: usize,
    /// Events the ring dropped (it was full: read faster, or a bigger ring).
    pub lost: u64,
    /// Aging rounds.
    pub idle_rounds: u64,
}

/// One event as a trace line token.
pub fn token(e: u64) -> String {
    format!("{}:{}", e >> 32, e & 0xffff_ffff)
}

/// Runs `cmd` with the trace on (through the device at `device`), writing
/// its references to `out`; ages every
/// space every `idle` (none if zero). Returns the command's status and what
/// was seen. The trace is stopped whatever happens.
pub fn run(
    device: &str,
    cmd: &[String],
    out: &mut dyn Write,
    idle: Duration,
    ring: u64,
) -> io::Result<(ExitStatus, Summary)> {
    let (prog, args) = cmd
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command to trace"))?;
    let s = Space::open_path(device)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {device}: {e}")))?;
    s.trace_start(ring)
        .map_err(|e| io::Error::new(e.kind(), format!("PAGEARENA_IOC_TRACE (start): {e}")))?;
    let r = (|| {
        writeln!(out, "# pagearena trace of {}", cmd.join(" "))?;
        writeln!(
            out,
            "# SPACE:PAGE per fault; every space aged every {idle:?}"
        )?;
        let mut child = Command::new(prog)
            .args(args)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {prog}: {e}")))?;
        let mut sum = Summary::default();
        let mut seen = HashSet::new();
        let mut spaces = HashSet::new();
        let mut drain = |stop: bool, sum: &mut Summary| -> io::Result<()> {
            loop {
                let (ev, lost) = s.trace_read(1 << 16, stop)?;
                sum.lost += lost;
                for &e in &ev {
                    writeln!(out, "{}", token(e))?;
                    seen.insert(e);
                    spaces.insert(e >> 32);
                }
                sum.references += ev.len() as u64;
                if ev.len() < 1 << 16 {
                    return Ok(());
                }
            }
        };
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            std::thread::sleep(if idle.is_zero() {
                Duration::from_millis(10)
            } else {
                idle
            });
            if !idle.is_zero() {
                s.idle(true)
                    .map_err(|e| io::Error::new(e.kind(), format!("PAGEARENA_IOC_IDLE: {e}")))?;
                sum.idle_rounds += 1;
            }
            drain(false, &mut sum)?;
        };
        drain(true, &mut sum)?;
        sum.pages = seen.len();
        sum.spaces = spaces.len();
        writeln!(
            out,
            "# {} references to {} pages in {} spaces; {} lost; {} aging rounds; {status}",
            sum.references, sum.pages, sum.spaces, sum.lost, sum.idle_rounds
        )?;
        out.flush()?;
        Ok((status, sum))
    })();
    // Stop whatever happened (a no-op read if already stopped).
    let _ = s.trace_read(0, true);
    r
}

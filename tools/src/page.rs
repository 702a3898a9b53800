//! `pagearena page`: the state of a space's pages, one line each, like
//! `/proc/PID/pagemap` decoded (`PAGEARENA_IOC_PAGE_STATE`).
//!
//! The pages are named by an address in a process, `PID:ADDR`
//! (`PAGEARENA_IOC_PAGE_STATE_AT`: whatever space that process maps there,
//! a fork-COW child's own snapshot too), or a space by an open file of the
//! device: `FD` (one this command inherited, e.g. `exec 3<>/dev/pagearena;
//! pagearena page 3`) or `PID/FD` (fd `FD` of process `PID`, taken with
//! `pidfd_getfd`, which needs the right to ptrace it).

use crate::dev::{cvt, Space};
use crate::uapi::page_state::{self, Kind};
use serde::Serialize;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Which open file of the device names the space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An fd of this process.
    Fd(i32),
    /// Fd `fd` of process `pid`.
    Remote {
        /// The process.
        pid: i32,
        /// Its fd.
        fd: i32,
    },
    /// The pages at user address `addr` of process `pid`.
    Addr {
        /// The process.
        pid: u32,
        /// The address.
        addr: u64,
    },
}

/// Parses `FD`, `PID/FD` or `PID:ADDR` (ADDR in hex with `0x`, or decimal).
pub fn parse_target(s: &str) -> Result<Target, String> {
    if let Some((pid, addr)) = s.split_once(':') {
        let pid = pid
            .parse()
            .map_err(|_| format!("{s:?}: expected PID:ADDR"))?;
        let addr = match addr.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => addr.parse(),
        }
        .map_err(|_| format!("{s:?}: ADDR is not a number (hex with 0x)"))?;
        return Ok(Target::Addr { pid, addr });
    }
    let num = |x: &str| {
        x.parse::<i32>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| format!("{s:?}: expected FD or PID/FD (numbers)"))
    };
    match s.split_once('/') {
        Some((pid, fd)) => Ok(Target::Remote {
            pid: num(pid)?,
            fd: num(fd)?,
        }),
        None => Ok(Target::Fd(num(s)?)),
    }
}

/// Opens the space `t` names (a duplicate of its file: same space); not
/// for [`Target::Addr`].
pub fn open(t: Target) -> io::Result<Space> {
    let raw = match t {
        Target::Addr { .. } => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "PID:ADDR names pages, not a file",
            ))
        }
        // SAFETY: dup has no memory-safety preconditions; a bad fd is EBADF.
        Target::Fd(fd) => cvt(unsafe { libc::dup(fd) })?,
        Target::Remote { pid, fd } => {
            // SAFETY: raw syscalls with integer arguments.
            let pidfd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })? as i32;
            // SAFETY: as above; `pidfd` is ours.
            let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) };
            // SAFETY: closes our own pidfd.
            unsafe { libc::close(pidfd) };
            cvt(r)? as i32
        }
    };
    // SAFETY: `raw` is a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let s = Space::from_fd(fd);
    // Refuse a file that is not the device: the ioctl would mean something else.
    s.space_stats().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{t:?} is not an open /dev/pagearena (SPACE_STATS: {e})"),
        )
    })?;
    Ok(s)
}

/// One page, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageRow {
    /// Page index in the space.
    pub page: u64,
    /// `none`, `zero`, `frame` or `swap`.
    pub kind: &'static str,
    /// The arena frame (for `frame`).
    pub pfn: Option<u64>,
    /// The swap slot (for `swap`).
    pub slot: Option<u64>,
    /// Entries mapping the frame (all spaces).
    pub share_count: Option<u64>,
    /// Writable in the space's page table.
    pub writable: bool,
    /// Dirty (differs from any copy in swap).
    pub dirty: bool,
}

/// Decodes the entries of pages `start..`.
pub fn rows(start: u64, entries: &[u64]) -> Vec<PageRow> {
    entries
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let k = page_state::kind(e);
            PageRow {
                page: start + i as u64,
                kind: match k {
                    Kind::None => "none",
                    Kind::Zero => "zero",
                    Kind::Frame => "frame",
                    Kind::Swap => "swap",
                },
                pfn: (k == Kind::Frame).then(|| page_state::payload(e)),
                slot: (k == Kind::Swap).then(|| page_state::payload(e)),
                share_count: (k == Kind::Frame).then(|| page_state::share_count(e)),
                writable: e & page_state::WRITABLE != 0,
                dirty: e & page_state::DIRTY != 0,
            }
        })
        .collect()
}

/// The text table of [`rows`].
pub fn table(rows: &[PageRow]) -> String {
    let mut out = format!(
        "{:>10} {:<6} {:>10} {:>6} flags\n",
        "page", "state", "pfn/slot", "share"
    );
    for r in rows {
        let at = r.pfn.or(r.slot).map_or("-".to_string(), |v| v.to_string());
        let share = r.share_count.map_or("-".to_string(), |v| v.to_string());
        let flags = format!(
            "{}{}",
            if r.writable { 'w' } else { '-' },
            if r.dirty { 'd' } else { '-' }
        );
        out += &format!(
            "{:>10} {:<6} {:>10} {:>6} {flags}\n",
            r.page, r.kind, at, share
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use page_state::{encode, DIRTY, WRITABLE};

    #[test]
    fn targets_parse() {
        assert_eq!(parse_target("3"), Ok(Target::Fd(3)));
        assert_eq!(
            parse_target("1234/5"),
            Ok(Target::Remote { pid: 1234, fd: 5 })
        );
        assert!(parse_target("x").is_err());
        assert!(parse_target("1/-2").is_err());
        assert_eq!(
            parse_target("1:0x7f00"),
            Ok(Target::Addr {
                pid: 1,
                addr: 0x7f00
            })
        );
        assert!(parse_target("1:zz").is_err() && parse_target("x:0x1").is_err());
    }

    #[test]
    fn rows_decode_each_kind() {
        let e = [
            0,
            encode(Kind::Zero, 0, 0, 0),
            encode(Kind::Frame, 42, 2, WRITABLE | DIRTY),
            encode(Kind::Swap, 9, 1, 0),
        ];
        let r = rows(10, &e);
        assert_eq!(r[0].kind, "none");
        assert_eq!((r[1].kind, r[1].pfn), ("zero", None));
        assert_eq!(
            (
                r[2].page,
                r[2].pfn,
                r[2].share_count,
                r[2].writable,
                r[2].dirty
            ),
            (12, Some(42), Some(2), true, true)
        );
        assert_eq!((r[3].kind, r[3].slot, r[3].pfn), ("swap", Some(9), None));
        let t = table(&r);
        let line: Vec<&str> = t.lines().nth(3).unwrap().split_whitespace().collect();
        assert_eq!(line, ["12", "frame", "42", "2", "wd"]);
        let line: Vec<&str> = t.lines().nth(4).unwrap().split_whitespace().collect();
        assert_eq!(line, ["13", "swap", "9", "-", "--"]);
    }
}

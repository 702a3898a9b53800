//! Reading the kernel log from `/dev/kmsg`, from a point on, and finding splats.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

/// What in a kernel log line means the kernel is unhappy.
pub const SPLAT_PATTERNS: &[&str] = &[
    "WARNING:",
    "BUG:",
    "Oops",
    "KASAN",
    "possible circular locking",
    "inconsistent lock state",
    "UBSAN",
    "refcount_t:",
    "kernel BUG",
    "general protection fault",
    "Call Trace:",
];

/// A reader of kernel log records written after it was created.
pub struct Kmsg {
    file: File,
}

impl Kmsg {
    /// Starts reading at the end of the log: only later records are returned.
    pub fn from_now() -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        file.seek(SeekFrom::End(0))?;
        Ok(Self { file })
    }

    /// The message text of every record since the last call (or creation).
    pub fn read_new(&mut self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16384];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    // "prio,seq,usec,flags;message\n continuation lines"
                    let msg = rec.split_once(';').map_or(rec.as_ref(), |(_, m)| m);
                    out.extend(msg.lines().map(|l| l.trim_start().to_string()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // A record overwritten before we read it: carry on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// The lines of `log` that match a splat pattern.
pub fn splats(log: &[String]) -> Vec<&str> {
    log.iter()
        .filter(|l| SPLAT_PATTERNS.iter().any(|p| l.contains(p)))
        .map(String::as_str)
        .collect()
}

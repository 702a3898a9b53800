// SPDX-License-Identifier: GPL-2.0

//! The fault trace (`PAGEARENA_IOC_TRACE`): while it is on, every fault on
//! the arena appends one event, `(space id << 32) | page index`, to a ring
//! that user space drains, the way a tracepoint feeds its ring buffer
//! (`trace_mm_filemap_fault` and friends). Off, it costs a fault one relaxed
//! load. With [`PAGEARENA_IOC_IDLE`] zapping the PTEs now and then (as
//! writing `/sys/kernel/mm/page_idle/bitmap` clears accessed bits), later
//! accesses fault again, so the trace samples a program's page references:
//! what `pagearena trace` records and `pagearena replay` replays.
//!
//! The trace belongs to the file that started it (its space's id, `owner`):
//! other files get `EBUSY` until that file stops it or is closed, which
//! stops it and frees the ring.
//!
//! Locks: the ring's spinlock is a leaf, taken by a fault (at its entry,
//! under the mmap or VMA read lock only) for one push, and by a reader for
//! one chunk of events at a time. The `reader` mutex serialises starts,
//! reads and the owner's release; a read holds it across its copies to the
//! user buffer, which may fault (on arena memory too: that fault pushes to
//! the ring, which the reader does not hold), so it comes before the mmap
//! lock in the lock order. Holding it, a reader sees the oldest `len`
//! events stay where they are (faults only append), copies them out in
//! chunks, and consumes them only when every copy succeeded: a bad user
//! buffer is `EFAULT` with nothing lost.
//!
//! [`PAGEARENA_IOC_IDLE`]: crate::uapi::PAGEARENA_IOC_IDLE

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    alloc::KVVec,
    new_mutex, new_spinlock,
    prelude::*,
    sync::{Mutex, SpinLock},
};

/// Events copied per chunk of a read (32 KiB), with the ring's lock dropped
/// between chunks.
const CHUNK: usize = 4096;

/// The events and where they are.
///
/// # Invariants
///
/// `len <= buf.len()`; `head < buf.len()` if `buf` is not empty, else both
/// are 0.
struct Ring {
    /// The slots.
    buf: KVVec<u64>,
    /// Index of the oldest event.
    head: usize,
    /// Events in the ring.
    len: usize,
    /// Events dropped (the ring was full) since the last read.
    lost: u64,
}

/// The fault trace.
#[pin_data]
pub struct FaultTrace {
    /// Whether faults record events.
    on: AtomicBool,
    /// The id of the space whose file started the trace (0: none).
    owner: AtomicU64,
    /// Serialises starts, reads and the owner's release.
    #[pin]
    reader: Mutex<()>,
    /// The events.
    #[pin]
    ring: SpinLock<Ring>,
}

impl FaultTrace {
    /// A trace, off, with no ring.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            on: AtomicBool::new(false),
            owner: AtomicU64::new(0),
            reader <- new_mutex!((), "pagearena_trace_reader"),
            ring <- new_spinlock!(
                Ring { buf: KVVec::new(), head: 0, len: 0, lost: 0 },
                "pagearena_trace"
            ),
        })
    }

    /// Whether the trace is on.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Records a fault on page `idx` of space `id`, if the trace is on.
    #[inline]
    pub fn record(&self, id: u32, idx: u64) {
        if !self.is_on() {
            return;
        }
        let e = (u64::from(id) << 32) | (idx & 0xffff_ffff);
        let mut r = self.ring.lock();
        let cap = r.buf.len();
        if r.len == cap {
            r.lost += 1;
            return;
        }
        let at = (r.head + r.len) % cap;
        r.buf[at] = e;
        r.len += 1;
    }

    /// `EBUSY` unless the trace is free or `owner`'s. Under `reader`.
    fn check_owner(&self, owner: u64) -> Result {
        match self.owner.load(Ordering::Relaxed) {
            0 => Ok(()),
            o if o == owner => Ok(()),
            _ => Err(EBUSY),
        }
    }

    /// Empties the ring, makes it `cap` events long and turns the trace on,
    /// for the file of space `owner`.
    pub fn start(&self, owner: u64, cap: usize) -> Result {
        let _reader = self.reader.lock();
        self.check_owner(owner)?;
        // Charged to the caller's memory cgroup: up to 32 MiB.
        let mut buf = KVVec::with_capacity(cap, GFP_KERNEL_ACCOUNT)?;
        buf.resize(cap, 0, GFP_KERNEL_ACCOUNT)?;
        let old = {
            let mut r = self.ring.lock();
            let old = core::mem::replace(&mut r.buf, buf);
            // INVARIANT: an empty ring at the start of a new buffer.
            (r.head, r.len, r.lost) = (0, 0, 0);
            old
        };
        // Freed with the ring's lock dropped (the reader mutex held).
        drop(old);
        self.owner.store(owner, Ordering::Relaxed);
        self.on.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Turns the trace off for the file of space `owner` (faults that
    /// already saw it on may still push an event); its events stay to be
    /// read, and the file may start another. `EBUSY` for another file.
    pub fn stop(&self, owner: u64) -> Result {
        let _reader = self.reader.lock();
        self.check_owner(owner)?;
        self.on.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// The file of space `owner` is closed: if the trace is its, stop it
    /// and free the ring.
    pub fn release(&self, owner: u64) {
        let _reader = self.reader.lock();
        if self.owner.load(Ordering::Relaxed) != owner {
            return;
        }
        self.on.store(false, Ordering::Relaxed);
        self.owner.store(0, Ordering::Relaxed);
        let old = {
            let mut r = self.ring.lock();
            // INVARIANT: an empty buffer, an empty ring.
            (r.head, r.len, r.lost) = (0, 0, 0);
            core::mem::take(&mut r.buf)
        };
        drop(old);
    }

    /// For the file of space `owner`: gives the oldest events, up to `max`,
    /// to `copy` in chunks (`copy(offset, events)`, with no spinlock held),
    /// then the count and the events lost to `done`; only if all of them
    /// succeed are the events taken out of the ring and the lost count
    /// reset. Returns the number of events.
    pub fn read(
        &self,
        owner: u64,
        max: usize,
        mut copy: impl FnMut(usize, &[u64]) -> Result,
        done: impl FnOnce(usize, u64) -> Result,
    ) -> Result<usize> {
        let _reader = self.reader.lock();
        self.check_owner(owner)?;
        let (len, lost) = {
            let r = self.ring.lock();
            (r.len.min(max), r.lost)
        };
        let mut chunk = KVec::with_capacity(CHUNK.min(len), GFP_KERNEL)?;
        let mut at = 0;
        while at < len {
            let n = CHUNK.min(len - at);
            chunk.clear();
            {
                let r = self.ring.lock();
                let cap = r.buf.len();
                // The oldest `len` events stay in place while we hold the
                // reader mutex: faults only append after them.
                for i in at..at + n {
                    chunk.push(r.buf[(r.head + i) % cap], GFP_ATOMIC)?;
                }
            }
            copy(at, &chunk)?;
            at += n;
        }
        done(len, lost)?;
        let mut r = self.ring.lock();
        let cap = r.buf.len();
        if cap > 0 {
            // INVARIANT: `len` events, all still in the ring, go.
            r.head = (r.head + len) % cap;
            r.len -= len;
        }
        r.lost -= lost;
        Ok(len)
    }
}

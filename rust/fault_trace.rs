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
//! The ring is one spinlock's worth of state, a leaf: taken by a fault (under
//! its space's mutex) for one push, and by the ioctl for one copy. A full
//! ring drops new events and counts them (`lost`): a reader that keeps up
//! loses nothing. Readers (and starts) take the `reader` mutex first, so a
//! read copies events out and then consumes exactly those: a copy to a bad
//! user buffer fails with the events still in the ring. Nothing is taken
//! under the ring's lock; the reader mutex is never taken by a fault, so a
//! copy that faults on arena memory (and records that fault) is fine.
//!
//! [`PAGEARENA_IOC_IDLE`]: crate::uapi::PAGEARENA_IOC_IDLE

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    alloc::KVVec,
    new_mutex, new_spinlock,
    prelude::*,
    sync::{Mutex, SpinLock},
};

/// The events and where they are.
struct Ring {
    /// `cap` slots.
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
    /// Serialises readers and starts.
    #[pin]
    reader: Mutex<()>,
    #[pin]
    ring: SpinLock<Ring>,
}

impl FaultTrace {
    /// A trace, off, with no ring.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            on: AtomicBool::new(false),
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

    /// Empties the ring, makes it `cap` events long and turns the trace on.
    pub fn start(&self, cap: usize) -> Result {
        let mut buf = KVVec::with_capacity(cap, GFP_KERNEL)?;
        buf.resize(cap, 0, GFP_KERNEL)?;
        let _reader = self.reader.lock();
        let old = {
            let mut r = self.ring.lock();
            let old = core::mem::replace(&mut r.buf, buf);
            (r.head, r.len, r.lost) = (0, 0, 0);
            old
        };
        // Freed unlocked.
        drop(old);
        self.on.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Turns the trace off; its events stay to be read.
    pub fn stop(&self) {
        self.on.store(false, Ordering::Relaxed);
    }

    /// Gives up to `max` of the oldest events to `copy` (with no lock but the
    /// reader mutex held), then, if it succeeded, takes them out of the
    /// ring; returns how many, and the events lost since the last read.
    pub fn read(&self, max: usize, copy: impl FnOnce(&[u64]) -> Result) -> Result<(usize, u64)> {
        let _reader = self.reader.lock();
        let len = self.ring.lock().len.min(max);
        let mut out = KVVec::with_capacity(len, GFP_KERNEL)?;
        {
            let r = self.ring.lock();
            let cap = r.buf.len();
            // Events only come in while we copy: the oldest `len` stay.
            for i in 0..len {
                // Within the capacity reserved above.
                let _ = out.push_within_capacity(r.buf[(r.head + i) % cap]);
            }
        }
        copy(&out)?;
        let mut r = self.ring.lock();
        let cap = r.buf.len();
        if cap > 0 {
            r.head = (r.head + len) % cap;
        }
        r.len -= len;
        Ok((len, core::mem::take(&mut r.lost)))
    }
}

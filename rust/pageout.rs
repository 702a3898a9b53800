// SPDX-License-Identifier: GPL-2.0

//! Taking pages of a space out to swap (`pageout` in `mm/vmscan.c`): the
//! core's decisions ([`crate::mm::vmscan`]) around the write to the swap
//! store, which runs with no lock held. This is what the forced-reclaim
//! ioctl (`PAGEARENA_IOC_PAGEOUT`, like `MADV_PAGEOUT`) does; the reclaim
//! thread will do the same to the LRU's victims.

use crate::{
    arena::{arena, Event, PtNodes},
    mm::{
        error::Error as MmError,
        fault::put_frame,
        vmscan::{Pageout, PageoutEnd},
    },
    space::Space,
    uapi::PagearenaPageoutArgs,
};
use kernel::prelude::*;

/// Takes pages `start..start + count` of `space` out of memory; fills the
/// counts of `out`. `ENOMEM` if swap is full (or absent) before anything
/// was done, `EIO` if a write failed.
pub fn pageout_range(
    space: &Space,
    start: u64,
    count: u64,
    out: &mut PagearenaPageoutArgs,
) -> Result {
    let a = arena();
    let mut full = false;
    let mut io_error = false;
    for idx in start..start + count {
        let r = {
            let mut inner = space.inner.lock();
            let r = inner
                .mm
                .pageout_begin(a, &mut PtNodes { arena: a }, idx, || {
                    space.window.zap(idx, 1)
                });
            space.sync_counters(&inner.mm);
            r
        };
        let (pfn, slot) = match r {
            Ok(Pageout::Zero) => {
                a.count(Event::ZeroReclaim);
                out.zero += 1;
                continue;
            }
            Ok(Pageout::Clean(_)) => {
                a.count(Event::SwapCacheReclaim);
                out.clean += 1;
                continue;
            }
            Ok(Pageout::Write { pfn, slot }) => (pfn, slot),
            Err(MmError::Invalid) => continue,
            Err(MmError::Busy) => {
                out.busy += 1;
                continue;
            }
            Err(MmError::NoMemory) => {
                // No slot for this one; zero and clean pages may still go.
                full = true;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // Slots come only from a store: there is one.
        let written = match a.swapfile.as_ref() {
            Some(store) => store.write(&a.mem, pfn, slot).is_ok(),
            None => false,
        };
        if !written {
            a.count(Event::SwapIoError);
        }
        let end = {
            let mut inner = space.inner.lock();
            let r = inner.mm.pageout_end(
                a,
                &mut PtNodes { arena: a },
                idx,
                (pfn, slot),
                written,
                || space.window.zap(idx, 1),
            );
            space.sync_counters(&inner.mm);
            r
        };
        // The pin `pageout_begin` took; the last reference if swapped out.
        put_frame(a, pfn);
        match end? {
            PageoutEnd::SwappedOut(_) => {
                a.count(Event::SwapOut);
                out.swapped += 1;
            }
            PageoutEnd::Raced => out.busy += 1,
            PageoutEnd::WriteFailed => {
                io_error = true;
                break;
            }
        }
    }
    if io_error {
        return Err(EIO);
    }
    if full && out.swapped + out.clean + out.zero == 0 {
        return Err(ENOMEM);
    }
    Ok(())
}

// SPDX-License-Identifier: GPL-2.0

//! debugfs `pagearena/`: `vmstat`, `buddyinfo`, `slabinfo` and `spaces`, in
//! the formats of their `/proc` namesakes (`/proc/vmstat`,
//! `/proc/buddyinfo`, `/proc/slabinfo`, and a table of spaces like the
//! per-process lines of `ps -o pid,rss`).

use crate::{
    arena::{arena, SpaceWord, EVENT_NAMES},
    mm::slab::SlabInfo,
    space::for_each_space,
    vmstat::stats,
};
use core::fmt::{self, Formatter};
use kernel::{
    debugfs::{Dir, File},
    prelude::*,
};

/// The directory and its files; removed when dropped.
pub struct Debugfs {
    _files: KVec<Pin<KBox<File<()>>>>,
    _dir: Dir,
}

impl Debugfs {
    /// Creates `pagearena/` and its files. (Without `CONFIG_DEBUG_FS` this
    /// creates nothing, and succeeds.)
    pub fn new() -> Result<Self> {
        let dir = Dir::new(c"pagearena");
        let mut files = KVec::new();
        // Each callback must be its own function item (a zero-sized type).
        files.push(
            KBox::pin_init(dir.read_callback_file(c"vmstat", (), &vmstat), GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        files.push(
            KBox::pin_init(
                dir.read_callback_file(c"buddyinfo", (), &buddyinfo),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        files.push(
            KBox::pin_init(
                dir.read_callback_file(c"slabinfo", (), &slabinfo),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        files.push(
            KBox::pin_init(dir.read_callback_file(c"spaces", (), &spaces), GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        files.push(
            KBox::pin_init(dir.read_callback_file(c"swaps", (), &swaps), GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        Ok(Self {
            _files: files,
            _dir: dir,
        })
    }
}

fn vmstat(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    let s = stats();
    writeln!(f, "nr_free_pages {}", s.nr_free)?;
    writeln!(f, "nr_arena_pages {}", s.nr_frames)?;
    writeln!(f, "nr_slab_unreclaimable {}", s.nr_slab_frames)?;
    writeln!(f, "nr_page_table_pages {}", s.nr_pt_nodes)?;
    writeln!(f, "nr_spaces {}", s.nr_spaces)?;
    writeln!(f, "nr_swap_slots {}", s.nr_swap_slots)?;
    writeln!(f, "nr_swap_used {}", s.nr_swap_used)?;
    writeln!(f, "nr_active {}", s.nr_active)?;
    writeln!(f, "nr_inactive {}", s.nr_inactive)?;
    writeln!(f, "nr_swapcache {}", s.nr_swapcache)?;
    writeln!(f, "watermark_min {}", s.watermark_min)?;
    writeln!(f, "watermark_low {}", s.watermark_low)?;
    writeln!(f, "watermark_high {}", s.watermark_high)?;
    for (name, v) in EVENT_NAMES.iter().zip(arena().events()) {
        writeln!(f, "{name} {v}")?;
    }
    Ok(())
}

/// `/proc/swaps`: one line for the store, sizes in KiB.
fn swaps(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    let a = arena();
    writeln!(f, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority")?;
    if let Some(store) = a.swapfile.as_ref() {
        let st = a.swap_stats();
        let kib = |slots: usize| slots * (kernel::page::PAGE_SIZE / 1024);
        writeln!(
            f,
            "{:<40}{}\t{}\t\t{}\t\t-1",
            store.path(),
            if store.is_block() {
                "partition"
            } else {
                "file\t"
            },
            kib(st.nr_slots),
            kib(st.used)
        )?;
    }
    Ok(())
}

fn buddyinfo(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    // The CPUs' free lists drained first (`vmstat` counts them instead):
    // every free frame shows in its order.
    let a = arena();
    a.drain_all();
    let (_, per_order) = a.buddyinfo();
    write!(f, "Node 0, zone    Arena")?;
    for n in per_order {
        write!(f, " {n:6}")?;
    }
    writeln!(f)
}

fn slabinfo(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    f.write_str(SlabInfo::HEADER)?;
    for s in arena().slabinfo() {
        write!(f, "{s}")?;
    }
    Ok(())
}

fn spaces(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "{:>8} {:>10} {:>10} {:>10} {:>8} {:>5} mode",
        "id", "resident", "zero", "swapped", "pt_nodes", "vmas"
    )?;
    let mut r = Ok(());
    for_each_space(|s| {
        if r.is_ok() {
            let mode = if s.get(SpaceWord::Flags) & 1 != 0 {
                "fork-cow"
            } else {
                "shared"
            };
            r = writeln!(
                f,
                "{:>8} {:>10} {:>10} {:>10} {:>8} {:>5} {}",
                s.get(SpaceWord::Id),
                s.get(SpaceWord::Resident),
                s.get(SpaceWord::Zero),
                s.get(SpaceWord::Swapped),
                s.get(SpaceWord::PtNodes),
                s.get(SpaceWord::Vmas),
                mode
            );
        }
    });
    r
}

//! `pagearena demo`: what the texts on paging say a memory manager does,
//! done on the arena step by step, with a map of each space's pages and the
//! counters that moved after every step, and a check of every claim. A demo
//! fails (and `pagearena demo` exits non-zero) if the arena did not do what
//! it says.
//!
//! - `zero`: reads of untouched memory all map the one zero frame; the first
//!   write takes a zeroed frame of its own (demand zero).
//! - `cow`: a clone shares every frame; a write copies that page only; the
//!   last sharer writes without a copy (reuse).
//! - `fork`: in fork-COW mode a `fork()` child sees a snapshot: neither side
//!   sees the other's later writes.
//! - `swap`: pages written to swap come back byte-identical; unwritten since,
//!   they keep their slot (swap cache), so the next pageout writes nothing.

use crate::dev::{page_size, Mapping, Pipe, Space};
use crate::uapi::{self, page_state, page_state::Kind, PagearenaStats};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// With `--json`: no narration, only the report at the end.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Narration: `println!` unless `--json`.
macro_rules! say {
    ($($t:tt)*) => {
        if !QUIET.load(Ordering::Relaxed) {
            println!($($t)*);
        }
    };
}

/// One claim a demo checked.
#[derive(Debug, serde::Serialize)]
pub struct Check {
    /// What the texts say.
    pub claim: String,
    /// Whether the arena did it.
    pub ok: bool,
}

/// One demo's checks.
#[derive(Debug, serde::Serialize)]
pub struct DemoResult {
    /// The demo.
    pub demo: &'static str,
    /// Its checks, in order.
    pub checks: Vec<Check>,
}

/// Which demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The shared zero page and demand zero.
    Zero,
    /// Copy-on-write after a clone, and the last sharer's reuse.
    Cow,
    /// fork() in fork-COW mode: parent and child isolated both ways.
    Fork,
    /// A swap round trip and the swap cache (needs swap_path).
    Swap,
    /// All of them, in that order.
    All,
}

/// One character per page: `.` untouched, `z` zero frame, `F` a frame of this
/// space alone, `S` a frame shared with another space, `w` in swap.
pub fn page_map(states: &[u64]) -> String {
    states
        .iter()
        .map(|&e| match page_state::kind(e) {
            Kind::None => '.',
            Kind::Zero => 'z',
            Kind::Frame if page_state::share_count(e) > 1 => 'S',
            Kind::Frame => 'F',
            Kind::Swap => 'w',
        })
        .collect()
}

const LEGEND: &str =
    "legend: . untouched  z zero frame  F private frame  S shared frame  w in swap";

/// A running demo: its counters and the claims that failed.
struct Demo {
    /// The counters at the last [`Demo::moved`].
    last: PagearenaStats,
    /// Every claim checked.
    checks: Vec<Check>,
    /// Pages of each demo's space.
    pages: usize,
}

impl Demo {
    fn new(s: &Space, pages: usize) -> io::Result<Self> {
        Ok(Self {
            last: s.stats()?,
            checks: Vec::new(),
            pages,
        })
    }

    /// Prints `claim` with its verdict.
    fn check(&mut self, ok: bool, claim: &str) {
        say!("  [{}] {claim}", if ok { " ok " } else { "FAIL" });
        self.checks.push(Check {
            claim: claim.to_string(),
            ok,
        });
    }

    /// Shows `s`'s page map and counters.
    fn show(&self, name: &str, s: &Space) -> io::Result<Vec<u64>> {
        let st = s.space_stats()?;
        let states = s.page_state(0, self.pages as u64)?;
        say!(
            "  {name:<6} [{}]  resident {:>3}  zero {:>3}  shared {:>3}  swapped {:>3}",
            page_map(&states),
            st.resident,
            st.zero_mapped,
            st.shared,
            st.swapped
        );
        Ok(states)
    }

    /// Prints the counters that moved since the last call and returns the
    /// old and new readings.
    fn moved(&mut self, s: &Space) -> io::Result<(PagearenaStats, PagearenaStats)> {
        let now = s.stats()?;
        let moved: Vec<String> = crate::stat::counters(&self.last)
            .into_iter()
            .zip(crate::stat::counters(&now))
            .filter(|((_, a, k), (_, b, _))| *k == crate::stat::Kind::Event && a != b)
            .map(|((name, a, _), (_, b, _))| format!("{name} +{}", b - a))
            .collect();
        say!(
            "  counters: {}; free frames {} -> {}",
            if moved.is_empty() {
                "none moved".to_string()
            } else {
                moved.join(", ")
            },
            self.last.nr_free,
            now.nr_free
        );
        Ok((std::mem::replace(&mut self.last, now), now))
    }
}

/// Runs demo `which`, narrating unless `quiet`; every check's result.
pub fn run(which: Which, quiet: bool) -> io::Result<Vec<DemoResult>> {
    QUIET.store(quiet, Ordering::Relaxed);
    say!("{LEGEND}");
    type Step = fn(&mut Demo, &Space) -> io::Result<()>;
    let demos: &[(&str, Step)] = match which {
        Which::Zero => &[("zero", zero)],
        Which::Cow => &[("cow", cow)],
        Which::Fork => &[("fork", fork)],
        Which::Swap => &[("swap", swap)],
        Which::All => &[("zero", zero), ("cow", cow), ("fork", fork), ("swap", swap)],
    };
    let mut out = Vec::new();
    for (name, f) in demos {
        say!("\n=== demo {name}");
        let s = Space::open()?;
        let mut d = Demo::new(&s, 32)?;
        f(&mut d, &s)?;
        let failed = d.checks.iter().filter(|c| !c.ok).count();
        if failed == 0 {
            say!("demo {name}: every check held");
        } else {
            say!("demo {name}: {failed} check(s) FAILED");
        }
        out.push(DemoResult {
            demo: name,
            checks: d.checks,
        });
    }
    let failed: Vec<String> = out
        .iter()
        .flat_map(|d| {
            d.checks
                .iter()
                .filter(|c| !c.ok)
                .map(move |c| format!("{}: {}", d.demo, c.claim))
        })
        .collect();
    if !failed.is_empty() {
        say!("\nfailed:");
        for f in &failed {
            say!("  {f}");
        }
    }
    Ok(out)
}

/// Whether every check of every demo held.
pub fn passed(results: &[DemoResult]) -> bool {
    results.iter().all(|d| d.checks.iter().all(|c| c.ok))
}

fn kinds(states: &[u64], r: std::ops::Range<usize>, k: Kind) -> bool {
    states[r].iter().all(|&e| page_state::kind(e) == k)
}

fn zero(d: &mut Demo, s: &Space) -> io::Result<()> {
    let (n, ps) = (d.pages, page_size());
    let m: Mapping = s.map(0, n * ps)?;
    say!(
        "Reading memory never written needs no memory: every such page maps one\n\
         shared frame of zeroes, read-only (the zero page). Fault-around maps the\n\
         neighbours of a read fault in the same go, so there are fewer faults\n\
         than pages.\n"
    );
    say!("1. read all {n} pages");
    let all_zero = (0..n).all(|p| m.read(p * ps) == 0);
    let st = d.show("space", s)?;
    let (a, b) = d.moved(s)?;
    let sp = s.space_stats()?;
    d.check(all_zero, "every page reads as zeroes");
    d.check(
        kinds(&st, 0..n, Kind::Zero) && sp.zero_mapped == n as u64 && sp.resident == 0,
        "every page maps the zero frame; the space holds no frame",
    );
    let faults = b.zero_page_fault - a.zero_page_fault;
    d.check(
        b.demand_zero_fault == a.demand_zero_fault && faults >= 1 && faults < n as u64,
        &format!("{faults} zero-page faults for {n} pages, no frame allocated"),
    );

    say!("\n2. write page 5: its first write takes a zeroed frame of its own (demand zero)");
    m.write(5 * ps + 8, 0xfeed);
    let st = d.show("space", s)?;
    let (a, b) = d.moved(s)?;
    d.check(
        b.demand_zero_fault - a.demand_zero_fault == 1,
        "one demand-zero fault",
    );
    let rest_zero = (0..n).filter(|&p| p != 5).all(|p| m.read(p * ps) == 0);
    d.check(
        page_state::kind(st[5]) == Kind::Frame
            && m.read(5 * ps) == 0
            && m.read(5 * ps + 8) == 0xfeed
            && rest_zero,
        "page 5 has a frame, zero but for the word written; the others still read zeroes",
    );
    Ok(())
}

fn cow(d: &mut Demo, s: &Space) -> io::Result<()> {
    let (n, ps) = (d.pages, page_size());
    let ma = s.map(0, n * ps)?;
    say!(
        "A clone (PAGEARENA_IOC_CLONE) is a copy-on-write snapshot: it shares every\n\
         frame, read-only, and the first write on either side copies that one page.\n\
         When only one sharer is left, its write needs no copy: it reuses the frame.\n"
    );
    say!("1. write pages 0..16 of space a");
    for p in 0..16 {
        ma.write(p * ps, p as u64);
    }
    d.show("a", s)?;
    d.moved(s)?;

    say!("\n2. CLONE a");
    let c = s.clone_space()?;
    let mc = c.map(0, n * ps)?;
    let (sa, sc) = (d.show("a", s)?, d.show("clone", &c)?);
    d.moved(s)?;
    let same = (0..16).all(|p| page_state::payload(sa[p]) == page_state::payload(sc[p]));
    d.check(
        same && (0..16).all(|p| page_state::share_count(sa[p]) == 2),
        "the clone shares all 16 frames (share count 2), nothing copied",
    );

    say!("\n3. the clone writes pages 4..8");
    for p in 4..8 {
        mc.write(p * ps, 1000 + p as u64);
    }
    let (sa, sc) = (d.show("a", s)?, d.show("clone", &c)?);
    let (a, b) = d.moved(s)?;
    d.check(
        b.cow_fault - a.cow_fault == 4,
        "four COW faults: one copy per page written",
    );
    let copied: Vec<usize> = (0..16)
        .filter(|&p| page_state::payload(sa[p]) != page_state::payload(sc[p]))
        .collect();
    d.check(
        copied == [4, 5, 6, 7],
        &format!("only the written pages were copied (copied: {copied:?})"),
    );
    d.check(
        (0..16).all(|p| ma.read(p * ps) == p as u64)
            && (4..8).all(|p| mc.read(p * ps) == 1000 + p as u64),
        "a still reads its own data; the clone reads its writes",
    );

    say!("\n4. a writes pages 4..8: the clone has its own copies, so a is their last sharer");
    for p in 4..8 {
        ma.write(p * ps, 2000 + p as u64);
    }
    d.show("a", s)?;
    d.show("clone", &c)?;
    let (a, b) = d.moved(s)?;
    d.check(
        b.cow_reuse_fault - a.cow_reuse_fault == 4 && b.cow_fault == a.cow_fault,
        "four reuse faults and no copy: the last sharer writes in place",
    );
    d.check(
        (4..8).all(|p| mc.read(p * ps) == 1000 + p as u64),
        "the clone's data is untouched by a's writes",
    );
    Ok(())
}

fn fork(d: &mut Demo, s: &Space) -> io::Result<()> {
    let (n, ps) = (d.pages, page_size());
    let m = s.map(0, n * ps)?;
    say!(
        "In fork-COW mode (PAGEARENA_IOC_SET_FORK_MODE) a fork() child gets a\n\
         snapshot of the space, as with MAP_PRIVATE|MAP_ANONYMOUS memory: after the\n\
         fork, neither process sees the other's writes.\n"
    );
    s.set_fork_mode(uapi::PAGEARENA_FORK_COW)?;
    say!("1. write pages 0..16 (value 1), then fork()");
    for p in 0..16 {
        m.write(p * ps, 1);
    }
    let (to_child, to_parent) = (Pipe::new()?, Pipe::new()?);
    let pid = crate::dev::spawn_child(|| {
        // The child: write pages 0..8, let the parent look, wait for the
        // parent's writes, then check it sees none of them.
        for p in 0..8 {
            m.write(p * ps, 2);
        }
        to_parent.post();
        if !to_child.wait() {
            return 3;
        }
        let own = (0..8).all(|p| m.read(p * ps) == 2);
        let snap = (8..16).all(|p| m.read(p * ps) == 1);
        i32::from(!own) | (i32::from(!snap) << 1)
    })?;
    let posted = to_parent.wait();
    say!("2. the child wrote pages 0..8 (value 2)");
    d.show("parent", s)?;
    d.check(
        posted && (0..16).all(|p| m.read(p * ps) == 1),
        "the parent does not see the child's writes",
    );
    say!("3. the parent writes pages 8..16 (value 3)");
    for p in 8..16 {
        m.write(p * ps, 3);
    }
    to_child.post();
    let status = crate::dev::wait_child(pid)?;
    d.show("parent", s)?;
    let (a, b) = d.moved(s)?;
    d.check(
        status == Ok(0),
        &format!("the child saw its own writes and not the parent's (child exit {status:?})"),
    );
    d.check(
        b.fork_snapshot - a.fork_snapshot == 1
            && b.cow_fault - a.cow_fault + b.cow_reuse_fault - a.cow_reuse_fault >= 16,
        "one snapshot at fork; every page written after it was copied or reused",
    );
    Ok(())
}

/// The word at `w` of page `p` in the swap demo: a pattern per page and word.
fn pattern(p: usize, w: usize) -> u64 {
    crate::dev::xorshift(((p as u64) << 32 | w as u64) + 1)
}

fn swap(d: &mut Demo, s: &Space) -> io::Result<()> {
    let (n, ps) = (d.pages, page_size());
    say!(
        "Under memory pressure pages go to swap: a dirty page is written to a slot\n\
         and its frame freed; the next access reads it back (a major fault). A page\n\
         read back and not written since keeps its slot (the swap cache): taking it\n\
         out again needs no write. PAGEARENA_IOC_PAGEOUT forces this for a range.\n"
    );
    if d.last.nr_swap_slots == 0 {
        d.check(
            false,
            "the arena has swap (load the module with swap_path=/dev/zram0 or a file)",
        );
        return Ok(());
    }
    let m = s.map(0, n * ps)?;
    let words = ps / 8;
    let intact =
        |m: &Mapping| (0..n).all(|p| (0..words).all(|w| m.read(p * ps + w * 8) == pattern(p, w)));
    say!("1. fill all {n} pages, every word with its own pattern");
    for p in 0..n {
        for w in 0..words {
            m.write(p * ps + w * 8, pattern(p, w));
        }
    }
    d.show("space", s)?;
    d.moved(s)?;

    say!("\n2. PAGEOUT all {n} pages");
    let out = s.pageout(0, n as u64)?;
    let st = d.show("space", s)?;
    let (a, b) = d.moved(s)?;
    d.check(
        out.swapped == n as u64 && b.pswpout - a.pswpout == n as u64,
        &format!("all {n} pages written to swap (swapped {})", out.swapped),
    );
    d.check(
        kinds(&st, 0..n, Kind::Swap) && s.space_stats()?.resident == 0,
        "every page is in swap; the space holds no frame",
    );

    say!("\n3. read every word back");
    let ok = intact(&m);
    let st = d.show("space", s)?;
    let (a, b) = d.moved(s)?;
    d.check(ok, "every word came back as written (byte-identical)");
    d.check(
        b.pswpin - a.pswpin == n as u64 && b.pgmajfault > a.pgmajfault,
        &format!("{n} pages read from swap by major faults"),
    );
    d.check(
        kinds(&st, 0..n, Kind::Frame) && b.nr_swapcache - a.nr_swapcache == n as u64,
        "every page is in a frame again, and keeps its slot: the swap cache (nr_swapcache)",
    );

    say!("\n4. PAGEOUT again: nothing was written since, so every page still has its slot");
    let out = s.pageout(0, n as u64)?;
    d.show("space", s)?;
    let (a, b) = d.moved(s)?;
    d.check(
        out.clean == n as u64 && out.swapped == 0 && b.pswpout == a.pswpout,
        &format!(
            "the swap cache saved the write: {} dropped clean, {} written",
            out.clean, out.swapped
        ),
    );

    say!("\n5. read back, write page 0 (its slot goes: the copy in swap is stale), PAGEOUT");
    let ok = intact(&m);
    m.write(0, pattern(0, 0));
    let out = s.pageout(0, n as u64)?;
    d.show("space", s)?;
    let (a, b) = d.moved(s)?;
    d.check(ok, "every word came back as written, again");
    d.check(
        out.swapped == 1 && out.clean == n as u64 - 1 && b.pswpout - a.pswpout == 1,
        &format!(
            "only the written page was written to swap ({} written, {} clean)",
            out.swapped, out.clean
        ),
    );
    d.check(intact(&m), "and every word still reads as written");
    d.moved(s)?;
    Ok(())
}

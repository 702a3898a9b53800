//! `pagearena demo`: the arena's fault handling, step by step, with a map of
//! each space's pages after every step.

use crate::dev::{page_size, Mapping, Space};
use crate::uapi::{self, page_state, page_state::Kind};
use std::io;

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

fn show(name: &str, s: &Space, pages: usize) -> io::Result<()> {
    let st = s.space_stats()?;
    let map = page_map(&s.page_state(0, pages as u64)?);
    println!(
        "  {name:<6} [{map}]  resident {:>3}  zero {:>3}  shared {:>3}  pt nodes {}",
        st.resident, st.zero_mapped, st.shared, st.pt_nodes
    );
    Ok(())
}

fn counters(before: &uapi::PagearenaStats, s: &Space) -> io::Result<uapi::PagearenaStats> {
    let now = s.stats()?;
    println!(
        "  faults: zero-page {}, fault-around pages {}, demand-zero {}, cow {}, cow-reuse {}; free frames {} -> {}",
        now.zero_page_fault - before.zero_page_fault,
        now.fault_around - before.fault_around,
        now.demand_zero_fault - before.demand_zero_fault,
        now.cow_fault - before.cow_fault,
        now.cow_reuse_fault - before.cow_reuse_fault,
        before.nr_free,
        now.nr_free
    );
    Ok(now)
}

/// Runs the demo on a 64-page space.
pub fn run() -> io::Result<()> {
    let n = 64;
    let ps = page_size();
    println!("legend: . untouched  z zero frame  F private frame  S shared frame  w in swap\n");
    let a = Space::open()?;
    let ma: Mapping = a.map(0, n * ps)?;
    let mut st = a.stats()?;

    println!("1. read pages 0..16: the zero frame, mapped read-only (16 pages per fault)");
    for p in 0..16 {
        let _ = ma.read(p * ps);
    }
    show("a", &a, n)?;
    st = counters(&st, &a)?;

    println!("\n2. write pages 8..40: a zeroed frame for each on first write");
    for p in 8..40 {
        ma.write(p * ps, p as u64);
    }
    show("a", &a, n)?;
    st = counters(&st, &a)?;

    println!("\n3. CLONE: a copy-on-write snapshot shares every frame");
    let b = a.clone_space()?;
    let mb = b.map(0, n * ps)?;
    show("a", &a, n)?;
    show("clone", &b, n)?;
    st = counters(&st, &a)?;

    println!("\n4. the clone writes pages 8..16: private copies, a keeps its own");
    for p in 8..16 {
        mb.write(p * ps, 1000 + p as u64);
    }
    show("a", &a, n)?;
    show("clone", &b, n)?;
    st = counters(&st, &a)?;
    println!(
        "  a's page 8 holds {}, the clone's {}",
        ma.read(8 * ps),
        mb.read(8 * ps)
    );

    println!("\n5. a writes pages 8..16: it is the last sharer, so it reuses without copying");
    for p in 8..16 {
        ma.write(p * ps, 2000 + p as u64);
    }
    show("a", &a, n)?;
    show("clone", &b, n)?;
    st = counters(&st, &a)?;
    if st.nr_swap_slots == 0 {
        println!("\n(no swap: load with swap_path=FILE for the swap steps)");
        return Ok(());
    }

    println!("\n6. PAGEOUT pages 8..40 of a: its own frames (8..16) go to swap and are freed (w);\n   frames it shares with the clone stay (busy)");
    let out = a.pageout(8, 32)?;
    show("a", &a, n)?;
    let now = a.stats()?;
    println!(
        "  written {}, busy {}; pswpout {}; free frames {} -> {}",
        out.swapped,
        out.busy,
        now.pswpout - st.pswpout,
        st.nr_free,
        now.nr_free
    );
    st = now;

    println!("\n7. read pages 8..16: each comes back from swap, byte for byte (major faults)");
    let same = (8..16).all(|p| ma.read(p * ps) == 2000 + p as u64);
    show("a", &a, n)?;
    let now = a.stats()?;
    println!(
        "  contents intact: {same}; pgmajfault {}, pswpin {}",
        now.pgmajfault - st.pgmajfault,
        now.pswpin - st.pswpin
    );
    st = now;

    println!("\n8. PAGEOUT again: unwritten since, they are still in swap (swap cache): no write");
    let out = a.pageout(8, 8)?;
    show("a", &a, n)?;
    let now = a.stats()?;
    println!(
        "  dropped clean {}, written {}; pswpout {}",
        out.clean,
        out.swapped,
        now.pswpout - st.pswpout
    );
    Ok(())
}

//! A swap round trip: `PAGEARENA_IOC_PAGEOUT` writes a page to swap and frees
//! its frame; the next read brings it back byte for byte (a major fault);
//! unwritten since, it keeps its slot (the swap cache), so a second pageout
//! needs no write. Needs the module loaded with `swap_path=`.

use pagearena_samples::{expect, must};
use pagearena_tools::dev::{page_size, Space};
use pagearena_tools::uapi::page_state::{self, Kind};

fn main() {
    let ps = page_size();
    let s = must("open /dev/pagearena", Space::open());
    if must("STATS", s.stats()).nr_swap_slots == 0 {
        eprintln!("no swap: load the module with swap_path=/dev/zram0 (or a file)");
        std::process::exit(2);
    }
    let m = must("mmap", s.map(0, 4 * ps));
    for w in 0..ps / 8 {
        m.write(w * 8, w as u64 * 3 + 1);
    }
    let before = must("STATS", s.stats());
    let out = must("PAGEOUT", s.pageout(0, 1));
    let e = must("PAGE_STATE", s.page_state(0, 1))[0];
    println!(
        "pageout: {} written; page 0 is in swap slot {}",
        out.swapped,
        page_state::payload(e)
    );
    expect(
        out.swapped == 1 && page_state::kind(e) == Kind::Swap,
        "the page did not go to swap",
    );
    let same = (0..ps / 8).all(|w| m.read(w * 8) == w as u64 * 3 + 1);
    let after = must("STATS", s.stats());
    println!(
        "read back: contents {}, {} major fault(s), {} page(s) in the swap cache",
        if same { "identical" } else { "CHANGED" },
        after.pgmajfault - before.pgmajfault,
        after.nr_swapcache
    );
    expect(same, "the page came back changed");
    expect(
        after.pgmajfault - before.pgmajfault == 1,
        "no major fault read it back",
    );
    let again = must("PAGEOUT", s.pageout(0, 1));
    let end = must("STATS", s.stats());
    println!(
        "pageout again: {} dropped clean, {} written (pswpout +{})",
        again.clean,
        again.swapped,
        end.pswpout - after.pswpout
    );
    expect(
        again.clean == 1 && end.pswpout == after.pswpout,
        "the swap cache did not save the second write",
    );
}

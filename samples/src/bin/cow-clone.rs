//! `PAGEARENA_IOC_CLONE` returns a new fd whose space is a copy-on-write
//! snapshot: both share every frame until one side writes, and then only
//! that page is copied.

use pagearena_samples::{expect, must};
use pagearena_tools::dev::{page_size, Space};
use pagearena_tools::uapi::page_state;

fn main() {
    let ps = page_size();
    let a = must("open /dev/pagearena", Space::open());
    let ma = must("mmap", a.map(0, 4 * ps));
    for p in 0..4 {
        ma.write(p * ps, 100 + p as u64);
    }
    let b = must("CLONE", a.clone_space());
    let mb = must("mmap clone", b.map(0, 4 * ps));
    let shared = must("SPACE_STATS", b.space_stats()).shared;
    println!("after CLONE: {shared} of 4 pages shared");
    mb.write(0, 999);
    let (sa, sb) = (
        must("PAGE_STATE", a.page_state(0, 4)),
        must("PAGE_STATE", b.page_state(0, 4)),
    );
    println!(
        "clone wrote page 0: a has frame {}, clone has frame {}; page 1 is frame {} in both",
        page_state::payload(sa[0]),
        page_state::payload(sb[0]),
        page_state::payload(sb[1])
    );
    println!("a reads {}, clone reads {}", ma.read(0), mb.read(0));
    expect(shared == 4, "the clone does not share the frames");
    expect(
        ma.read(0) == 100 && mb.read(0) == 999,
        "a write leaked across the snapshot",
    );
    expect(
        sa[0] != sb[0] && page_state::payload(sa[1]) == page_state::payload(sb[1]),
        "copied more than the written page",
    );
}

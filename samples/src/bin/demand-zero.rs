//! The first write to a page takes a fresh frame, zeroed; the page's state
//! (like /proc/PID/pagemap) shows the frame.

use pagearena_samples::{expect, must};
use pagearena_tools::dev::{page_size, Space};
use pagearena_tools::uapi::page_state::{self, Kind};

fn main() {
    let space = must("open /dev/pagearena", Space::open());
    let m = must("mmap", space.map(0, 8 * page_size()));
    m.write(3 * page_size(), 0xfeed);
    let states = must("PAGE_STATE", space.page_state(0, 8));
    for (i, &e) in states.iter().enumerate() {
        println!(
            "page {i}: {:?} frame {} shared by {}",
            page_state::kind(e),
            page_state::payload(e),
            page_state::share_count(e)
        );
    }
    let rest: u64 = (1..page_size() / 8)
        .map(|w| m.read(3 * page_size() + 8 * w))
        .sum();
    expect(
        page_state::kind(states[3]) == Kind::Frame,
        "page 3 has no frame",
    );
    expect(
        page_state::kind(states[2]) == Kind::None,
        "page 2 was touched",
    );
    expect(rest == 0, "the new frame was not zeroed");
    expect(m.read(3 * page_size()) == 0xfeed, "the write did not stick");
    println!("the rest of page 3 reads zero: the frame was zeroed first");
}

//! Reading untouched memory maps the arena's single zero frame: a 64 MiB
//! read costs no data frame at all, only page-table nodes.

use pagearena_samples::{expect, must};
use pagearena_tools::dev::{page_size, Space};

fn main() {
    let space = must("open /dev/pagearena", Space::open());
    let pages = (64 << 20) / page_size();
    let before = must("STATS", space.stats());
    let m = must("mmap", space.map(0, pages * page_size()));
    let sum: u64 = (0..pages).map(|p| m.read(p * page_size())).sum();
    let after = must("STATS", space.stats());
    let st = must("SPACE_STATS", space.space_stats());
    println!("read {pages} pages: sum of first words = {sum}");
    println!(
        "zero-mapped {} pages, resident {}, page-table nodes {}",
        st.zero_mapped, st.resident, st.pt_nodes
    );
    println!(
        "frames used: {} (all page-table slabs: {} slab frames more)",
        before.nr_free - after.nr_free,
        after.nr_slab_frames - before.nr_slab_frames
    );
    expect(sum == 0, "untouched memory is not zero");
    expect(st.resident == 0, "a read took a data frame");
    expect(
        st.zero_mapped == pages as u64,
        "not every page maps the zero frame",
    );
}

//! Fork-COW mode: after `fork()`, the child sees a copy-on-write snapshot of
//! the space, like `MAP_PRIVATE | MAP_ANONYMOUS` memory; in the default mode
//! it would share the parent's memory.

use pagearena_samples::{expect, must};
use pagearena_tools::dev::{in_child, page_size, Space};
use pagearena_tools::uapi;

fn main() {
    let ps = page_size();
    let s = must("open /dev/pagearena", Space::open());
    must("SET_FORK_MODE", s.set_fork_mode(uapi::PAGEARENA_FORK_COW));
    let m = must("mmap", s.map(0, 2 * ps));
    m.write(0, 1);
    let child = must(
        "fork",
        in_child(|| {
            let saw = m.read(0);
            m.write(0, 2);
            if saw == 1 && m.read(0) == 2 {
                0
            } else {
                1
            }
        }),
    );
    println!(
        "child saw 1 and wrote 2: {child:?}; parent reads {}",
        m.read(0)
    );
    expect(child == Ok(0), "the child did not see the snapshot");
    expect(m.read(0) == 1, "the child's write reached the parent");
    let st = must("STATS", s.stats());
    println!(
        "fork snapshots {}, COW faults {}",
        st.fork_snapshot, st.cow_fault
    );
}

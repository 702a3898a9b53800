//! The fuzz driver (buddy + slab + page table together, `src/fuzz.rs`) on
//! random input: the same checks `cargo fuzz` runs, at `cargo test` time.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences(data in prop::collection::vec(any::<u8>(), 0..4000)) {
        pagearena_mm::fuzz::run(&data);
    }
}

#[test]
fn allocation_heavy_sequence_reaches_exhaustion() {
    // Op 0 with order 10, repeated: the 1100-frame arena has room for one such
    // block, so the rest hit NoMemory; then frees.
    let mut data = Vec::new();
    for _ in 0..10 {
        data.extend([0, 10]);
    }
    for i in 0..10 {
        data.extend([1, i]);
    }
    pagearena_mm::fuzz::run(&data);
}

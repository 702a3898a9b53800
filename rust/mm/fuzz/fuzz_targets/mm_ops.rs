#![no_main]
//! Random operation sequences through buddy + slab + page table together,
//! checked against reference models after every step (`pagearena_mm::fuzz`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pagearena_mm::fuzz::run(data);
});

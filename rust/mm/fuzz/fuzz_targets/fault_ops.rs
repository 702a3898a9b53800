#![no_main]
//! Random operation sequences through several spaces' fault decisions
//! sharing one pool, checked against a model (`pagearena_mm::fuzz_fault`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pagearena_mm::fuzz_fault::run_bytes(data);
});

//! The trace replay (`pagearena replay`): numbers worked out by hand on
//! small traces, for Belady's optimum and for the policies as the arena
//! runs them (no accessed bits: only faults and soft faults are seen).

use pagearena_mm::clock::Clock;
use pagearena_mm::lru::{ExactLru, Lru};
use pagearena_mm::replay::{belady, replay};

/// The classic trace of Belady's anomaly.
const CLASSIC: [u32; 12] = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];

#[test]
fn belady_on_the_classic_trace() {
    // 3 frames: misses 1 2 3 4 . . 5 . . 3 4 . = 7, of which 5 are first
    // touches: 2 major faults. 4 frames: 1 2 3 4 . . 5 . . . 4 . = 6 (4
    // evicted for 5, as it is used last): 1 major fault.
    assert_eq!(belady(&CLASSIC, 3), 2);
    assert_eq!(belady(&CLASSIC, 4), 1);
    // Everything fits: only first touches.
    assert_eq!(belady(&CLASSIC, 5), 0);
    assert_eq!(belady(&[], 3), 0);
}

#[test]
fn belady_on_a_loop_misses_once_per_pass_where_lru_misses_always() {
    // A loop over 4 pages with 3 frames, 10 passes: after the first pass MIN
    // keeps 2 of the 3 next pages, missing ~1 in 3 accesses (here 12 of 36);
    // every access after the first pass misses under a fault-order policy.
    let trace: Vec<u32> = (0..40).map(|i| i % 4).collect();
    assert_eq!(belady(&trace, 3), 12);
    let r = replay(&mut ExactLru::new(), 3, &trace);
    assert_eq!((r.first_touch, r.major), (4, 36));
}

#[test]
fn without_aging_the_fault_order_is_fifo() {
    // ExactLru never ages, so (no accessed bits) the arena sees only faults:
    // FIFO. FIFO on the classic trace: 3 frames, misses 1 2 3 4 1 2 5 . . 3 4 .
    // = 9 (4 major); 4 frames, 1 2 3 4 . . 5 1 2 3 4 5 = 10 (5 major):
    // Belady's anomaly, more memory and more faults.
    let r3 = replay(&mut ExactLru::new(), 3, &CLASSIC);
    let r4 = replay(&mut ExactLru::new(), 4, &CLASSIC);
    assert_eq!((r3.first_touch, r3.major, r3.soft), (5, 4, 0));
    assert_eq!((r4.first_touch, r4.major), (5, 5));
    assert!(r4.major > r3.major);
}

#[test]
fn everything_fits_no_major_fault_for_any_policy() {
    let trace: Vec<u32> = (0..500).map(|i| (i * 7) % 50).collect();
    for (name, r) in [
        ("lru", replay(&mut Lru::new(), 64, &trace)),
        ("clock", replay(&mut Clock::new(), 64, &trace)),
        ("fifo", replay(&mut ExactLru::new(), 64, &trace)),
    ] {
        assert_eq!((r.first_touch, r.major), (50, 0), "{name}");
    }
}

#[test]
fn no_policy_beats_the_optimum() {
    let mut x = 12345u64;
    let trace: Vec<u32> = (0..3000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A hot/cold mix over 200 pages.
            if x % 10 < 8 {
                (x >> 8) as u32 % 30
            } else {
                30 + (x >> 8) as u32 % 170
            }
        })
        .collect();
    let distinct = trace.iter().collect::<std::collections::HashSet<_>>().len() as u64;
    for frames in [10, 40, 80, 150] {
        let opt = belady(&trace, frames);
        for r in [
            replay(&mut Lru::new(), frames, &trace),
            replay(&mut Clock::new(), frames, &trace),
            replay(&mut ExactLru::new(), frames, &trace),
        ] {
            assert!(
                r.major >= opt,
                "{frames} frames: {} < optimum {opt}",
                r.major
            );
            assert_eq!(r.first_touch, distinct);
        }
    }
}

//! Host benchmarks of the mm core's hot operations (criterion).
//! `make bench`; numbers in Documentation/mm-core.rst.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use pagearena_mm::buddy::BuddyPages;
use pagearena_mm::host::{frame_table, HostArena};
use pagearena_mm::lru::Lru;
use pagearena_mm::memory::Pfn;
use pagearena_mm::pagetable::{PageTable, PageTableNodes, Pte};
use pagearena_mm::reclaim::ReclaimPolicy;
use pagearena_mm::slab::SlabCache;

const FRAMES: usize = 16384; // a 64 MiB arena

fn buddy(c: &mut Criterion) {
    for order in [0u32, 9] {
        let mut a = HostArena::new(FRAMES).unwrap();
        // Steady state: half the arena in use, scattered.
        let held: Vec<Pfn> = (0..FRAMES / 2)
            .map(|_| a.buddy.alloc(&a.frames, 0).unwrap())
            .collect();
        for p in held.iter().step_by(2) {
            a.buddy.free(&a.frames, *p, 0).unwrap();
        }
        c.bench_function(&format!("buddy order-{order} alloc+free"), |b| {
            b.iter(|| {
                let p = a.buddy.alloc(&a.frames, black_box(order)).unwrap();
                a.buddy.free(&a.frames, p, order).unwrap();
            })
        });
    }
}

fn slab(c: &mut Criterion) {
    for size in [64usize, 512] {
        let mut a = HostArena::new(FRAMES).unwrap();
        let mut cache = SlabCache::new("bench", 1, size, 8, None, false).unwrap();
        let HostArena { frames, mem, buddy } = &mut a;
        let mut pages = BuddyPages { buddy, frames };
        let held: Vec<_> = (0..1000)
            .map(|_| cache.alloc(frames, mem, &mut pages).unwrap())
            .collect();
        c.bench_function(&format!("slab {size} B alloc+free"), |b| {
            b.iter(|| {
                let o = cache.alloc(frames, mem, &mut pages).unwrap();
                cache.free(frames, mem, &mut pages, black_box(o)).unwrap();
            })
        });
        drop(held);
    }
}

fn pagetable(c: &mut Criterion) {
    let mut a = HostArena::new(FRAMES).unwrap();
    let HostArena { frames, mem, buddy } = &mut a;
    let mut pages = BuddyPages { buddy, frames };
    let mut nodes = PageTableNodes {
        frames,
        mem,
        pages: &mut pages,
    };
    let mut pt = PageTable::new();
    let n = 1u64 << 18; // 1 GiB of pages, mapped
    for i in 0..n {
        pt.set(mem, &mut nodes, i, Pte::frame(Pfn(i as u32), 0))
            .unwrap();
    }
    let mut x = 0x9e37_79b9u64;
    c.bench_function("pagetable lookup (1 GiB mapped, random index)", |b| {
        b.iter(|| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            black_box(pt.lookup(mem, (x >> 20) % n))
        })
    });
    c.bench_function("pagetable insert (existing path)", |b| {
        b.iter(|| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            pt.set(mem, &mut nodes, black_box((x >> 20) % n), Pte::zero())
                .unwrap()
        })
    });
}

fn lru(c: &mut Criterion) {
    // Reported per iteration: FRAMES / 2 victims (divide for ns per victim).
    c.bench_function("lru scan, 8192 victims (batches of 32)", |b| {
        b.iter_batched_ref(
            || {
                // Each input threads its lists through its own frame table.
                let frames = frame_table(FRAMES);
                let mut l = Lru::new();
                for f in 0..FRAMES as u32 {
                    l.insert(&frames, Pfn(f));
                    if f % 3 == 0 {
                        l.accessed(&frames, Pfn(f));
                    }
                }
                (frames, l)
            },
            |(frames, l)| {
                let mut v = [Pfn(0); 32];
                let mut n = 0;
                while n < FRAMES / 2 {
                    n += l.scan(frames, 256, &mut v, &mut |_| {});
                }
                n
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, buddy, slab, pagetable, lru);
criterion_main!(benches);

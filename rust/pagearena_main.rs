// SPDX-License-Identifier: GPL-2.0

//! pagearena: a miniature Linux memory manager over a private pool of frames,
//! reached through the misc device `/dev/pagearena`.
//!
//! This file is the crate root of the kernel module: parameters, load and
//! unload. The pieces it is made of:
//!
//! - [`uapi`]: ioctl numbers and argument types, shared verbatim with `tools/`;
//! - [`arena`]: the frame pool, its buddy allocator and slab caches, the zero
//!   frame, the event counters;
//! - [`space`]: one address space per `open()` of the device, its mmap and
//!   clone, fork-COW snapshots;
//! - [`slab_arc`]: reference-counted objects in the arena's slab caches
//!   (spaces live in `pa_space`);
//! - [`memory`]: the page-fault handler (zero page, demand zero, COW);
//! - [`rmap`]: the reverse map, zapping a page's PTEs in every process;
//! - [`vm_ops`]: a safe abstraction of `vm_operations_struct`;
//! - [`file`]: files of the device opened by the module (clone's new fd);
//! - [`ioctl`]: the ioctl dispatcher;
//! - [`debugfs`]: `vmstat`, `buddyinfo`, `slabinfo`, `spaces`;
//! - [`mm`]: the kernel-independent mm core (`rust/mm/src/`), the same source
//!   files that `cargo test` runs on the host;
//! - [`frames`]: the arena's pages from `alloc_pages`, as the core's frame memory;
//! - [`errno`]: the core's errors as errnos;
//! - [`selftest`]: the core run in the kernel (`selftest_core=1`).

use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

pub mod arena;
pub mod debugfs;
pub mod errno;
pub mod file;
pub mod frames;
pub mod ioctl;
pub mod memory;
pub mod mm;
pub mod rmap;
pub mod selftest;
pub mod slab_arc;
pub mod space;
pub mod uapi;
pub mod vm_ops;

module! {
    type: Pagearena,
    name: "pagearena",
    authors: ["pagearena developers"],
    description: "A miniature memory manager over a private arena of page frames",
    license: "GPL",
    params: {
        arena_mb: u32 {
            default: 64,
            description: "Size of the arena in MiB (1..=65536)",
        },
        selftest_warn: bool {
            default: false,
            description: "Test only: WARN once at load, to prove the test runner catches splats",
        },
        selftest_core: bool {
            default: false,
            description: "Run the mm core's self-test over real pages at load; fail the load if it fails",
        },
        fault_around_pages: u32 {
            default: 16,
            description: "Pages a read fault maps at once, a power of two up to 512 (0 or 1: off)",
        },
        selftest_fail_at_block: u32 {
            default: 0,
            description: "Test only: fail the load with ENOMEM at this block of the arena (1-based; 0: off)",
        },
        slab_debug: bool {
            default: false,
            description: "Red zones and poisoning in the arena's slab caches (like slub_debug=FZP)",
        },
    },
}

/// Largest accepted `arena_mb`: 64 GiB.
const ARENA_MB_MAX: u32 = 65536;

/// Fixed parameters of the arena, checked once at load.
///
/// # Invariants
///
/// `frames` is `arena_mb` MiB worth of pages, with `1 <= arena_mb <= ARENA_MB_MAX`.
#[derive(Clone, Copy)]
pub struct ArenaParams {
    /// Number of page frames in the arena.
    pub frames: u64,
}

impl ArenaParams {
    /// Reads and validates the module parameters (`EINVAL` if out of range).
    pub fn from_module_params() -> Result<Self> {
        let mb = module_parameters::arena_mb.value();
        if mb == 0 || mb > ARENA_MB_MAX {
            pr_err!("arena_mb={} is out of range 1..={}\n", mb, ARENA_MB_MAX);
            return Err(EINVAL);
        }
        Ok(Self {
            frames: u64::from(mb) * (1 << 20) / kernel::page::PAGE_SIZE as u64,
        })
    }
}

/// The module: the device, debugfs, and the arena they use.
///
/// Fields drop in order: the device goes first (no new opens; none are open,
/// or the module could not be unloading), then debugfs (waiting out readers),
/// then the arena, which checks that every frame came back.
#[pin_data(PinnedDrop)]
pub struct Pagearena {
    #[pin]
    _miscdev: MiscDeviceRegistration<space::Space>,
    _debugfs: debugfs::Debugfs,
    _arena: Pin<KBox<arena::Arena>>,
}

impl Pagearena {
    /// Takes the arena's memory and publishes the arena.
    fn setup() -> Result<(Pin<KBox<arena::Arena>>, debugfs::Debugfs)> {
        let params = ArenaParams::from_module_params()?;
        if module_parameters::selftest_core.value() {
            selftest::mm_core()?;
        }
        let frames = usize::try_from(params.frames)?;
        let around = module_parameters::fault_around_pages.value();
        if around > 512 || (around > 1 && !around.is_power_of_two()) {
            pr_err!(
                "fault_around_pages={} is not a power of two up to 512\n",
                around
            );
            return Err(EINVAL);
        }
        let fail_at = match module_parameters::selftest_fail_at_block.value() {
            0 => None,
            n => Some(n as usize - 1),
        };
        let init = arena::Arena::new(
            frames,
            module_parameters::slab_debug.value(),
            around as usize,
            fail_at,
        )?;
        let arena = KBox::pin_init(init, GFP_KERNEL)?;
        arena.as_ref().publish();
        let debugfs = debugfs::Debugfs::new()?;
        pr_info!(
            "loaded: {} frames of {} bytes, zero frame {}\n",
            frames,
            kernel::page::PAGE_SIZE,
            arena.zero.0
        );
        Ok((arena, debugfs))
    }
}

impl kernel::InPlaceModule for Pagearena {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        if module_parameters::selftest_warn.value() {
            kernel::warn_on!(true);
        }
        let (arena, debugfs) = match Self::setup() {
            Ok((a, d)) => (Ok(a), Ok(d)),
            Err(e) => (Err(e), Err(e)),
        };
        // Initialised in this order (the arena before anything that can call
        // into it), dropped in the declaration order above.
        try_pin_init!(Self {
            _arena: arena?,
            _debugfs: debugfs?,
            _miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"pagearena" }),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for Pagearena {
    fn drop(self: Pin<&mut Self>) {
        pr_info!("unloaded\n");
    }
}

// SPDX-License-Identifier: GPL-2.0

//! pagearena: a miniature Linux memory manager over a private pool of frames,
//! reached through the misc device `/dev/pagearena`.
//!
//! This file is the crate root of the kernel module: parameters, load and
//! unload. The pieces it is made of:
//!
//! - [`uapi`]: ioctl numbers and argument types, shared verbatim with `tools/`;
//! - [`space`]: one address space per `open()` of the device;
//! - [`ioctl`]: the ioctl dispatcher;
//! - [`mm`]: the kernel-independent mm core (`rust/mm/src/`), the same source
//!   files that `cargo test` runs on the host;
//! - [`frames`]: the arena's pages from `alloc_pages`, as the core's frame memory;
//! - [`errno`]: the core's errors as errnos;
//! - [`selftest`]: the core run in the kernel (`selftest_core=1`).

use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

pub mod errno;
pub mod frames;
pub mod ioctl;
pub mod mm;
pub mod selftest;
pub mod space;
pub mod uapi;

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

/// The module: owns the misc device registration.
#[pin_data(PinnedDrop)]
pub struct Pagearena {
    #[pin]
    _miscdev: MiscDeviceRegistration<space::Space>,
}

impl kernel::InPlaceModule for Pagearena {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let params = ArenaParams::from_module_params();
        if module_parameters::selftest_warn.value() {
            kernel::warn_on!(true);
        }
        try_pin_init!(Self {
            _miscdev <- {
                let frames = params?.frames;
                if module_parameters::selftest_core.value() {
                    selftest::mm_core()?;
                }
                pr_info!("loaded: {} frames of {} bytes\n", frames, kernel::page::PAGE_SIZE);
                MiscDeviceRegistration::register(MiscDeviceOptions { name: c"pagearena" })
            },
        })
    }
}

#[pinned_drop]
impl PinnedDrop for Pagearena {
    fn drop(self: Pin<&mut Self>) {
        pr_info!("unloaded\n");
    }
}

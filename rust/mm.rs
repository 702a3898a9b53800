// SPDX-License-Identifier: GPL-2.0

//! The mm core, compiled into the module from the same files as the host crate
//! `rust/mm` (whose `lib.rs` lists them too: keep the two lists equal, less the
//! host-only `host` and `fuzz`).
//!
//! The core has no `unsafe` in the module either (the host crate forbids it
//! too), and cannot name `kernel::`: the host crate, which has no `kernel`,
//! builds the very same files.

#![forbid(unsafe_code)]

#[path = "mm/src/buddy.rs"]
pub mod buddy;
#[path = "mm/src/clock.rs"]
pub mod clock;
#[path = "mm/src/error.rs"]
pub mod error;
#[path = "mm/src/fault.rs"]
pub mod fault;
#[path = "mm/src/frame.rs"]
pub mod frame;
#[path = "mm/src/list.rs"]
pub mod list;
#[path = "mm/src/lru.rs"]
pub mod lru;
#[path = "mm/src/memory.rs"]
pub mod memory;
#[path = "mm/src/pagetable.rs"]
pub mod pagetable;
#[path = "mm/src/pcp.rs"]
pub mod pcp;
#[path = "mm/src/policy.rs"]
pub mod policy;
#[path = "mm/src/reclaim.rs"]
pub mod reclaim;
#[path = "mm/src/slab.rs"]
pub mod slab;
#[path = "mm/src/swap.rs"]
pub mod swap;
#[path = "mm/src/vmscan.rs"]
pub mod vmscan;

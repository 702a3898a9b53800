// SPDX-License-Identifier: GPL-2.0

//! pagearena's mm core: the arena's memory-management algorithms, with no
//! kernel dependency, no `unsafe` and no allocation.
//!
//! The same source files build into the kernel module (listed again in
//! `rust/mm.rs`) and into this host crate, whose tests check them against
//! simple reference models. Siblings refer to each other as `super::`, which
//! is right in both.
//!
//! | module | Linux counterpart |
//! |---|---|
//! | [`memory`] | frame contents: `clear_page`, `copy_page` |
//! | [`frame`] | `struct page`, page flags |
//! | [`list`] | `list_head` over `page->lru` |
//! | [`buddy`] | `mm/page_alloc.c` |
//! | [`pcp`] | `mm/page_alloc.c` per-CPU page lists; `mm/swap.c` LRU-add batches |
//! | [`slab`] | `mm/slub.c` |
//! | [`pagetable`] | PGD/PUD/PMD/PTE |
//! | [`fault`] | `mm/memory.c`: zero page, demand zero, COW |
//! | [`reclaim`] | `mm/vmscan.c`: watermarks, policy |
//! | [`lru`], [`clock`] | `mm/swap.c` LRU lists; CLOCK |
//! | [`policy`] | the policy chosen at load |
//! | [`swap`] | `mm/swapfile.c` |
//! | [`vmscan`] | `mm/vmscan.c`: `shrink_folio_list`, `try_to_unmap`, `pageout` |

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

#[cfg(feature = "std")]
extern crate std;

pub mod buddy;
pub mod clock;
pub mod error;
pub mod fault;
pub mod frame;
pub mod list;
pub mod lru;
pub mod memory;
pub mod pagetable;
pub mod pcp;
pub mod policy;
pub mod reclaim;
pub mod slab;
pub mod swap;
pub mod vmscan;

#[cfg(feature = "std")]
pub mod fuzz;
#[cfg(feature = "std")]
pub mod fuzz_fault;
#[cfg(feature = "std")]
pub mod host;
#[cfg(feature = "std")]
pub mod replay;

//! User-space side of pagearena: the uapi (shared verbatim with the module),
//! device access, module loading and kernel-log reading for the tools.

#[path = "../../rust/uapi.rs"]
#[allow(dead_code)]
pub mod uapi;

pub mod bench;
pub mod bench_swap;
pub mod debugfs;
pub mod demo;
pub mod dev;
pub mod guest;
pub mod kmod;
pub mod kmsg;
pub mod page;
pub mod plot;
pub mod replay;
pub mod run;
pub mod stat;
pub mod top;
pub mod trace;

//! The in-guest test suite: each test is a function that returns `Ok(())` or
//! a description of what went wrong. `pagearena-test` runs them.

pub mod cli;
pub mod device;
pub mod mm_core;
pub mod paging;
pub mod reclaim;
pub mod run;
pub mod surface;
pub mod swap;

use std::path::PathBuf;

/// What a test may use: the module file and the parameters it is loaded with.
#[derive(Clone)]
pub struct Ctx {
    /// Path of `pagearena.ko`.
    pub module: PathBuf,
    /// Parameters of the standard load (`arena_mb=...`).
    pub params: String,
    /// `arena_mb` of the standard load.
    pub arena_mb: u64,
}

impl Ctx {
    /// Loads the module with `params` (nothing if already loaded is an error).
    pub fn load(&self, params: &str) -> std::io::Result<()> {
        crate::kmod::insmod(&self.module, params)
    }

    /// Unloads the module.
    pub fn unload(&self) -> std::io::Result<()> {
        crate::kmod::rmmod("pagearena")
    }

    /// Puts the module back in its standard load, whatever state a test left.
    pub fn restore(&self) -> Result<(), String> {
        if crate::kmod::is_loaded("pagearena") {
            return Ok(());
        }
        self.load(&self.params)
            .map_err(|e| format!("reloading the module: {e}"))
    }
}

/// A test's outcome.
pub type Outcome = Result<(), String>;

/// A named test.
#[derive(Clone, Copy)]
pub struct Test {
    /// Name printed in the TAP line.
    pub name: &'static str,
    /// The test.
    pub run: fn(&Ctx) -> Outcome,
}

/// Every test, in the order they run.
pub fn all() -> Vec<Test> {
    [
        device::TESTS,
        mm_core::TESTS,
        paging::TESTS,
        surface::TESTS,
        swap::TESTS,
        reclaim::TESTS,
        cli::TESTS,
        run::TESTS,
    ]
    .concat()
}

/// Fails with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

/// Checks that `r` failed with errno `want`.
pub fn expect_errno<T: std::fmt::Debug>(what: &str, r: std::io::Result<T>, want: i32) -> Outcome {
    match r {
        Err(e) if e.raw_os_error() == Some(want) => Ok(()),
        Err(e) => Err(format!(
            "{what}: expected errno {want} ({}), got {e}",
            std::io::Error::from_raw_os_error(want)
        )),
        Ok(v) => Err(format!(
            "{what}: expected errno {want}, but it succeeded with {v:?}"
        )),
    }
}

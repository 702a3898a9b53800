//! The mm core inside the kernel: the module's load-time self-test over real
//! pages (`selftest_core=1`), under KASAN and lockdep in the debug kernel.

use super::{ensure, Ctx, Outcome, Test};
use crate::kmsg::Kmsg;

/// The tests of this file.
pub const TESTS: &[Test] = &[Test {
    name: "mm core self-test over real pages passes at load (selftest_core=1)",
    run: core_selftest_in_kernel,
}];

fn core_selftest_in_kernel(ctx: &Ctx) -> Outcome {
    ctx.unload().map_err(|e| format!("rmmod: {e}"))?;
    let mut log = Kmsg::from_now().map_err(|e| format!("/dev/kmsg: {e}"))?;
    let loaded = ctx.load(&format!("{} selftest_core=1", ctx.params));
    let lines = log.read_new().map_err(|e| format!("/dev/kmsg: {e}"));
    let unloaded = if loaded.is_ok() { ctx.unload() } else { Ok(()) };
    ctx.restore()?;
    loaded.map_err(|e| format!("insmod selftest_core=1: {e}"))?;
    unloaded.map_err(|e| format!("rmmod after the self-test: {e}"))?;
    let lines = lines?;
    ensure(
        lines.iter().any(|l| l.contains("mm core self-test passed")),
        || format!("no pass line in the kernel log: {lines:?}"),
    )
}

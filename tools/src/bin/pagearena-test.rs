//! `pagearena-test`: the in-guest test runner. Loads the module, runs every
//! test (TAP lines `ok N - name` / `not ok N - name`), unloads the module,
//! then fails the run if the kernel log shows any warning, oops, KASAN or
//! lockdep report. Ends with the line `N passed, N failed`.

use clap::{Parser, ValueEnum};
use pagearena_tools::guest::{self, Ctx, Test};
use pagearena_tools::{kmod, kmsg};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, ValueEnum)]
enum Selftest {
    /// Add a test that always fails.
    Fail,
    /// Load the module with selftest_warn=1, which WARNs at load.
    Warn,
}

#[derive(Parser)]
#[command(
    version,
    about = "Run pagearena's in-guest test suite (as root, in a test VM)"
)]
struct Args {
    /// The module to test.
    #[arg(long, default_value = "build/debug/pagearena.ko")]
    module: PathBuf,
    /// arena_mb for the standard load.
    #[arg(long, default_value_t = 64)]
    arena_mb: u64,
    /// Run only tests whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// List the tests and exit.
    #[arg(long)]
    list: bool,
    /// Prove the runner catches failures: a failing test, or a WARN in the log.
    #[arg(long, value_enum)]
    selftest: Option<Selftest>,
}

fn always_fails(_: &Ctx) -> guest::Outcome {
    Err("deliberate failure (--selftest fail)".into())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut tests: Vec<Test> = guest::all();
    if matches!(args.selftest, Some(Selftest::Fail)) {
        tests.push(Test {
            name: "selftest: a deliberately failing test",
            run: always_fails,
        });
    }
    if let Some(f) = &args.filter {
        tests.retain(|t| t.name.contains(f.as_str()));
    }
    if args.list {
        tests.iter().for_each(|t| println!("{}", t.name));
        return ExitCode::SUCCESS;
    }

    let mut params = format!("arena_mb={}", args.arena_mb);
    if matches!(args.selftest, Some(Selftest::Warn)) {
        params.push_str(" selftest_warn=1");
    }
    let ctx = Ctx {
        module: args.module.clone(),
        params,
        arena_mb: args.arena_mb,
    };
    let (mut passed, mut failed) = (0u32, 0u32);
    let mut n = 0u32;
    let mut report = |ok: bool, name: &str, detail: &str, passed: &mut u32, failed: &mut u32| {
        n += 1;
        if ok {
            *passed += 1;
            println!("ok {n} - {name}");
        } else {
            *failed += 1;
            println!("not ok {n} - {name}");
            for l in detail.lines() {
                println!("#   {l}");
            }
        }
    };

    let mut log = match kmsg::Kmsg::from_now() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("pagearena-test: cannot read /dev/kmsg: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    println!("TAP version 13");
    println!("1..{}", tests.len() + 3);
    if kmod::is_loaded("pagearena") {
        let _ = ctx.unload();
    }
    let t0 = Instant::now();
    match ctx.load(&ctx.params) {
        Ok(()) => report(
            true,
            &format!("insmod {} {}", ctx.module.display(), ctx.params),
            "",
            &mut passed,
            &mut failed,
        ),
        Err(e) => {
            report(
                false,
                "insmod",
                &format!("{}: {e}", ctx.module.display()),
                &mut passed,
                &mut failed,
            );
            println!("{passed} passed, {failed} failed");
            return ExitCode::FAILURE;
        }
    }
    for t in &tests {
        let start = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| (t.run)(&ctx))).unwrap_or_else(|p| {
            Err(format!(
                "panicked: {:?}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or(p.downcast_ref::<&str>().copied())
            ))
        });
        // A test must leave the module loaded for the next one.
        let r = r.and(ctx.restore());
        let name = format!("{} ({} ms)", t.name, start.elapsed().as_millis());
        report(
            r.is_ok(),
            &name,
            r.as_ref().err().map_or("", String::as_str),
            &mut passed,
            &mut failed,
        );
    }
    let unload = ctx.unload();
    report(
        unload.is_ok(),
        "rmmod pagearena",
        &format!("{unload:?}"),
        &mut passed,
        &mut failed,
    );

    // Give printk a moment to flush, then read everything logged during the run.
    std::thread::sleep(std::time::Duration::from_millis(200));
    match log.read_new() {
        Ok(lines) => {
            let bad = kmsg::splats(&lines);
            let detail = if bad.is_empty() {
                String::new()
            } else {
                let mut d = String::from(
                    "kernel log lines that are splats (full log: logs/vm-*-last.log):\n",
                );
                for l in &bad {
                    d.push_str(l);
                    d.push('\n');
                }
                d
            };
            report(
                bad.is_empty(),
                &format!("kernel log is clean ({} lines scanned)", lines.len()),
                &detail,
                &mut passed,
                &mut failed,
            );
        }
        Err(e) => report(
            false,
            "kernel log is clean",
            &format!("reading /dev/kmsg: {e}"),
            &mut passed,
            &mut failed,
        ),
    }
    eprintln!("# suite took {:.1} s", t0.elapsed().as_secs_f64());
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

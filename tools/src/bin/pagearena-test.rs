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
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
enum Selftest {
    /// Add a test that always fails.
    Fail,
    /// Load the module with selftest_warn=1, which WARNs at load.
    Warn,
    /// Add a test that never returns, to show --timeout stops the run.
    Hang,
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
    /// Seconds one test may take; a test still running then fails the run,
    /// which stops at once (the kernel may be stuck).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// Runs `t` in its own thread; `None` if it has not finished after `timeout`.
fn run_with_timeout(t: Test, ctx: &Ctx, timeout: Duration) -> Option<guest::Outcome> {
    let (tx, rx) = mpsc::channel();
    let ctx = ctx.clone();
    thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| (t.run)(&ctx))).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or(p.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Err(format!("panicked: {msg}"))
        });
        let _ = tx.send(r);
    });
    rx.recv_timeout(timeout).ok()
}

/// TAP output: numbers the lines and counts the outcomes.
#[derive(Default)]
struct Tap {
    n: u32,
    passed: u32,
    failed: u32,
}

impl Tap {
    /// Prints `ok N - name`, or `not ok N - name` and `detail` as comments.
    fn report(&mut self, ok: bool, name: &str, detail: &str) {
        self.n += 1;
        if ok {
            self.passed += 1;
            println!("ok {} - {name}", self.n);
        } else {
            self.failed += 1;
            println!("not ok {} - {name}", self.n);
            for l in detail.lines() {
                println!("#   {l}");
            }
        }
    }

    /// Prints the closing line `N passed, N failed`.
    fn summary(&self) {
        println!("{} passed, {} failed", self.passed, self.failed);
    }
}

fn always_fails(_: &Ctx) -> guest::Outcome {
    Err("deliberate failure (--selftest fail)".into())
}

fn never_returns(_: &Ctx) -> guest::Outcome {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut tests: Vec<Test> = guest::all();
    match args.selftest {
        Some(Selftest::Fail) => tests.push(Test {
            name: "selftest: a deliberately failing test",
            run: always_fails,
        }),
        // First, so that the tests after it are reported as not run.
        Some(Selftest::Hang) => tests.insert(
            0,
            Test {
                name: "selftest: a test that never returns",
                run: never_returns,
            },
        ),
        _ => {}
    }
    if let Some(f) = &args.filter {
        tests.retain(|t| t.name.contains(f.as_str()));
    }
    if args.list {
        tests.iter().for_each(|t| println!("{}", t.name));
        return ExitCode::SUCCESS;
    }

    let mut params = format!("arena_mb={} slab_debug=1", args.arena_mb);
    if matches!(args.selftest, Some(Selftest::Warn)) {
        params.push_str(" selftest_warn=1");
    }
    let ctx = Ctx {
        module: args.module.clone(),
        params,
        arena_mb: args.arena_mb,
    };
    let mut tap = Tap::default();

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
        Ok(()) => tap.report(
            true,
            &format!("insmod {} {}", ctx.module.display(), ctx.params),
            "",
        ),
        Err(e) => {
            tap.report(false, "insmod", &format!("{}: {e}", ctx.module.display()));
            tap.summary();
            return ExitCode::FAILURE;
        }
    }
    for (i, t) in tests.iter().enumerate() {
        let start = Instant::now();
        let Some(r) = run_with_timeout(*t, &ctx, Duration::from_secs(args.timeout)) else {
            let why = format!("still running after {} s: stopping the run", args.timeout);
            tap.report(false, t.name, &why);
            for rest in &tests[i + 1..] {
                tap.report(false, rest.name, "not run: an earlier test timed out");
            }
            if let Ok(lines) = log.read_new() {
                for l in kmsg::splats(&lines) {
                    println!("#   kernel: {l}");
                }
            }
            tap.summary();
            // The stuck thread cannot be joined; leave now so the guest powers off.
            std::process::exit(1);
        };
        // A test must leave the module loaded for the next one.
        let r = r.and(ctx.restore());
        let name = format!("{} ({} ms)", t.name, start.elapsed().as_millis());
        tap.report(
            r.is_ok(),
            &name,
            r.as_ref().err().map_or("", String::as_str),
        );
    }
    let unload = ctx.unload();
    tap.report(unload.is_ok(), "rmmod pagearena", &format!("{unload:?}"));

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
            tap.report(
                bad.is_empty(),
                &format!("kernel log is clean ({} lines scanned)", lines.len()),
                &detail,
            );
        }
        Err(e) => tap.report(
            false,
            "kernel log is clean",
            &format!("reading /dev/kmsg: {e}"),
        ),
    }
    eprintln!("# suite took {:.1} s", t0.elapsed().as_secs_f64());
    tap.summary();
    if tap.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

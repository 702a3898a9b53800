//! `pagearena`: command-line access to `/dev/pagearena`.

use clap::{Parser, Subcommand};
use pagearena_tools::{debugfs, demo, dev::Space, page, plot, replay, stat, top, uapi};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(version, about = "Drive and inspect the pagearena kernel module")]
struct Cli {
    /// The device to open.
    #[arg(long, default_value = uapi::PAGEARENA_DEVICE, global = true)]
    device: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the arena's fixed parameters (PAGEARENA_IOC_INFO).
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the arena's counters (PAGEARENA_IOC_STATS), like /proc/vmstat;
    /// with -w, one line every SECONDS with per-second rates, like vmstat 1.
    #[command(alias = "stats")]
    Stat {
        /// Repeat every SECONDS, printing levels and per-second rates.
        #[arg(short = 'w', long = "wait", value_name = "SECONDS")]
        wait: Option<f64>,
        /// With -w: stop after COUNT lines.
        #[arg(short = 'n', long, value_name = "COUNT")]
        count: Option<u64>,
        /// Print JSON (with -w: one object per line, with the rates).
        #[arg(long)]
        json: bool,
    },
    /// Free blocks per order of the arena's buddy allocator (debugfs
    /// pagearena/buddyinfo, like /proc/buddyinfo).
    Buddyinfo {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The arena's slab caches (debugfs pagearena/slabinfo, like
    /// /proc/slabinfo).
    Slabinfo {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every live space: resident, zero-mapped and swapped pages, page-table
    /// nodes, VMAs and fork mode (debugfs pagearena/spaces).
    Spaces {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The state of a space's pages, one line each, like /proc/PID/pagemap
    /// decoded (PAGEARENA_IOC_PAGE_STATE): untouched, zero frame, frame
    /// (its pfn and share count) or swap (its slot), writable, dirty.
    Page {
        /// Which pages: PID:ADDR (the pages at address ADDR, hex with 0x, of
        /// process PID: the space its mapping there shows, a fork-COW
        /// child's snapshot too; needs CAP_SYS_PTRACE), or a space by an open
        /// file of the device: FD (inherited by this command, e.g.
        /// `exec 3<>/dev/pagearena; pagearena page 3`) or PID/FD (fd FD of
        /// process PID, taken with pidfd_getfd).
        target: String,
        /// [START] COUNT for FD and PID/FD (first page index, default 0);
        /// COUNT for PID:ADDR. COUNT defaults to 16.
        #[arg(num_args = 0..=2)]
        range: Vec<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show what the texts on paging say, checked on the arena: the zero
    /// page, copy-on-write, fork-COW isolation, a swap round trip and the
    /// swap cache. Exits non-zero if the arena did not do what it says.
    Demo {
        /// Which demo.
        #[arg(value_enum, default_value_t = demo::Which::All)]
        which: demo::Which,
        /// Print the checks and their results as JSON, without the narration.
        #[arg(long)]
        json: bool,
    },
    /// A live view of the arena: frames by state, buddy free blocks,
    /// slab caches, fault/reclaim/swap rates, spaces. q quits.
    Top {
        /// Print a refreshed text view instead of the terminal UI.
        #[arg(long)]
        plain: bool,
        /// Seconds between updates.
        #[arg(short = 'd', long, default_value_t = 1.0)]
        delay: f64,
        /// Stop after COUNT updates.
        #[arg(short = 'n', long, value_name = "COUNT")]
        count: Option<u64>,
        /// Write a picture of the view (120x40) to FILE (.svg or .png),
        /// after -n samples (default 2) -d apart, and exit.
        #[arg(long, value_name = "FILE")]
        picture: Option<PathBuf>,
    },
    /// Record the page references of a program on the arena from the
    /// arena's own fault events, aging every space every --idle-ms so later
    /// accesses fault again; writes a trace for `pagearena replay`. The
    /// program must use /dev/pagearena (the samples, the demos, the bench).
    Trace {
        /// Write the trace here (default: stdout).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Milliseconds between agings of every space (0: none, only first
        /// touches and what reclaim ages are seen).
        #[arg(long, default_value_t = 20)]
        idle_ms: u64,
        /// Events the kernel's ring holds between reads.
        #[arg(long, default_value_t = 1 << 20)]
        ring: u64,
        /// Print the summary as JSON on stderr.
        #[arg(long)]
        json: bool,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Run a program, unmodified, with its private anonymous memory and its
    /// heap on the arena (libpagearena_shim.so preloaded: fork-COW spaces,
    /// punched holes for munmap and MADV_DONTNEED); exits with its status.
    /// What is served and what is not: Documentation/user-guide.rst.
    Run {
        /// Fail a mapping the arena cannot take (ENOMEM) instead of using
        /// kernel memory for it.
        #[arg(long)]
        arena_only: bool,
        /// Print what the program put in the arena on stderr at the end.
        #[arg(long)]
        stats: bool,
        /// Write that as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Replay a page-reference trace (a text file of page numbers) through
    /// the core's replacement policies, as the arena runs them, for a range
    /// of memory sizes, against Belady's optimum (opt); print (and plot)
    /// major faults vs memory size.
    Replay {
        /// The trace file (page numbers, white space or commas, # comments;
        /// - for stdin).
        trace: PathBuf,
        /// Policies: lru, clock, fifo (the core's exact LRU, which without
        /// accessed bits sees fault order) and opt (Belady's optimum).
        #[arg(long, value_delimiter = ',', default_value = "lru,clock,fifo,opt")]
        policies: Vec<String>,
        /// Memory sizes in frames (default: --steps sizes up to the pages
        /// the trace touches).
        #[arg(long, value_delimiter = ',')]
        frames: Vec<usize>,
        /// Number of memory sizes without --frames.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Plot to this file (.png or .svg); may be given more than once.
        #[arg(long)]
        plot: Vec<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark the fault path against native anonymous memory, in this
    /// machine and run: first-touch writes, zero-page reads, COW after fork,
    /// 2-thread / 2-process scaling, and per-fault latency. Prints faults per
    /// second and ratios.
    Bench {
        /// Pages per workload (each COW round needs twice this in the arena).
        #[arg(long, default_value_t = 4096)]
        pages: usize,
        /// Rounds per workload; the median is reported.
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// Also save the JSON report to this file.
        #[arg(long)]
        save: Option<PathBuf>,
        /// Write plots into this directory: bench-throughput and
        /// bench-latency, each as .png and .svg.
        #[arg(long, value_name = "DIR")]
        plot: Option<PathBuf>,
    },
    /// Benchmark swapping: a working set twice the memory, the arena (loaded
    /// here with swap_path=/dev/zram0) against native memory in a memory
    /// cgroup of the same size swapping to another zram device; then the
    /// reclaim policies' major faults on three traces, with Belady's optimum.
    /// Loads and unloads the module itself; needs root, zram and cgroup v2.
    BenchSwap {
        /// The module file to load.
        #[arg(long)]
        module: PathBuf,
        /// Memory on each side, MiB (the arena; the cgroup's memory.max).
        #[arg(long, default_value_t = 32)]
        mem_mb: usize,
        /// Arena of the policy comparison, MiB.
        #[arg(long, default_value_t = 8)]
        policy_mb: usize,
        /// Rounds per workload; the median is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Print JSON instead of the tables.
        #[arg(long)]
        json: bool,
        /// Also save the JSON report to this file.
        #[arg(long)]
        save: Option<PathBuf>,
        /// Write plots into this directory: swap-throughput and
        /// swap-policies, each as .png and .svg.
        #[arg(long, value_name = "DIR")]
        plot: Option<PathBuf>,
    },
}

#[derive(serde::Serialize)]
struct InfoOut {
    uapi_version: u32,
    page_size: u32,
    arena_frames: u64,
    arena_bytes: u64,
}

/// A command's failure: what failed, printed once.
type Res = Result<(), String>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Run {
        arena_only,
        stats,
        report,
        cmd,
    } = &cli.cmd
    {
        return run_cmd(&cli.device, *arena_only, *stats, report.as_deref(), cmd);
    }
    let r = match cli.cmd {
        // Commands that need no open space of their own.
        Cmd::BenchSwap {
            module,
            mem_mb,
            policy_mb,
            rounds,
            json,
            save,
            plot,
        } => {
            let cfg = pagearena_tools::bench_swap::Config {
                module,
                mem_mb,
                rounds: rounds.max(1),
                policy_mb,
            };
            bench_swap(&cfg, json, save, plot)
        }
        Cmd::Replay {
            trace,
            policies,
            frames,
            steps,
            plot,
            json,
        } => replay_cmd(&trace, &policies, frames, steps, &plot, json),
        Cmd::Trace {
            output,
            idle_ms,
            ring,
            json,
            cmd,
        } => trace_cmd(&cli.device, output, idle_ms, ring, json, &cmd),
        Cmd::Buddyinfo { json } => buddyinfo(json),
        Cmd::Slabinfo { json } => slabinfo(json),
        Cmd::Spaces { json } => spaces(json),
        Cmd::Page {
            target,
            range,
            json,
        } => page_cmd(&target, &range, json),
        Cmd::Demo { which, json } => match demo::run(which, json) {
            Ok(r) => {
                if json {
                    print_json(&serde_json::json!({ "passed": demo::passed(&r), "demos": r }));
                }
                if demo::passed(&r) {
                    Ok(())
                } else {
                    Err("demo: a check failed (see above)".into())
                }
            }
            Err(e) => Err(format!(
                "demo: {e} (is the module loaded and {} readable?)",
                uapi::PAGEARENA_DEVICE
            )),
        },
        cmd => match Space::open_path(&cli.device) {
            Err(e) => Err(format!(
                "cannot open {}: {e} (is the module loaded? are you root?)",
                cli.device
            )),
            Ok(space) => match cmd {
                Cmd::Info { json } => info(&space, json),
                Cmd::Stat { wait, count, json } => stat_cmd(&space, wait, count, json),
                Cmd::Top {
                    plain,
                    delay,
                    count,
                    picture,
                } => match picture {
                    Some(path) => top::snapshot(&space, delay.max(0.1), count.unwrap_or(2), &path),
                    None => top::run(&space, delay.max(0.1), count, plain),
                }
                .map_err(|e| format!("top: {e}")),
                Cmd::Bench {
                    pages,
                    rounds,
                    json,
                    save,
                    plot,
                } => {
                    drop(space);
                    bench(pages, rounds, json, save, plot)
                }
                _ => unreachable!("handled above"),
            },
        },
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pagearena: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_cmd(
    device: &str,
    arena_only: bool,
    stats: bool,
    report: Option<&Path>,
    cmd: &[String],
) -> ExitCode {
    let cfg = pagearena_tools::run::Config {
        device,
        arena_only,
        cmd,
    };
    match pagearena_tools::run::run(&cfg) {
        Ok(o) => {
            if stats {
                eprint!("{}", pagearena_tools::run::summary(&o));
            }
            if let Some(path) = report {
                let text = serde_json::to_string_pretty(&o).unwrap_or_default();
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("pagearena: run: {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::from(o.exit_code.clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("pagearena: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn info(space: &Space, json: bool) -> Res {
    let i = space
        .info()
        .map_err(|e| format!("PAGEARENA_IOC_INFO: {e}"))?;
    let out = InfoOut {
        uapi_version: i.version,
        page_size: i.page_size,
        arena_frames: i.arena_frames,
        arena_bytes: i.arena_frames * u64::from(i.page_size),
    };
    if json {
        print_json(&out);
    } else {
        println!("uapi version   {}", out.uapi_version);
        println!("page size      {} bytes", out.page_size);
        println!(
            "arena          {} frames ({} MiB)",
            out.arena_frames,
            out.arena_bytes >> 20
        );
    }
    Ok(())
}

fn stat_cmd(space: &Space, wait: Option<f64>, count: Option<u64>, json: bool) -> Res {
    let read = || {
        space
            .stats()
            .map_err(|e| format!("PAGEARENA_IOC_STATS: {e}"))
    };
    let mut prev = read()?;
    let Some(secs) = wait else {
        if json {
            print_json(&stat::json(&prev));
        } else {
            print!("{}", stat::table(&prev));
        }
        return Ok(());
    };
    if secs.is_nan() || secs <= 0.0 {
        return Err("stat: -w SECONDS must be more than 0".into());
    }
    let mut t = std::time::Instant::now();
    for i in 0.. {
        if count.is_some_and(|c| i >= c) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        let now = read()?;
        let dt = t.elapsed().as_secs_f64();
        t = std::time::Instant::now();
        if json {
            let mut v = stat::json(&now);
            let rates: serde_json::Map<_, _> = stat::rates(&prev, &now, dt)
                .into_iter()
                .map(|(k, r)| (format!("{k}_per_sec"), serde_json::Value::from(r)))
                .collect();
            v["rates"] = rates.into();
            // What the rates are over (the sleep, plus the reading).
            v["interval_secs"] = dt.into();
            println!("{}", serde_json::to_string(&v).unwrap_or_default());
        } else {
            let cols = stat::vmstat_columns(&prev, &now, dt);
            if i % 20 == 0 {
                println!("{}", stat::vmstat_line(&cols, true));
            }
            println!("{}", stat::vmstat_line(&cols, false));
        }
        prev = now;
    }
    Ok(())
}

fn buddyinfo(json: bool) -> Res {
    let text = debugfs::read("buddyinfo").map_err(|e| e.to_string())?;
    let orders = debugfs::parse_buddyinfo(&text).map_err(|e| e.to_string())?;
    if json {
        let free: u64 = orders.iter().enumerate().map(|(o, n)| n << o).sum();
        print_json(&serde_json::json!({ "free_blocks": orders, "free_frames": free }));
        return Ok(());
    }
    let max = orders.iter().copied().max().unwrap_or(0).max(1);
    println!(
        "{:>5} {:>8} {:>10}  free blocks",
        "order", "blocks", "frames"
    );
    for (o, &n) in orders.iter().enumerate() {
        let w = (n * 40).div_ceil(max) as usize;
        println!(
            "{}",
            format!("{o:>5} {n:>8} {:>10}  {}", n << o, "#".repeat(w)).trim_end()
        );
    }
    Ok(())
}

fn slabinfo(json: bool) -> Res {
    let text = debugfs::read("slabinfo").map_err(|e| e.to_string())?;
    let slabs = debugfs::parse_slabinfo(&text).map_err(|e| e.to_string())?;
    if json {
        print_json(&slabs);
        return Ok(());
    }
    println!(
        "{:<16} {:>8} {:>8} {:>7} {:>8} {:>8} {:>7}",
        "cache", "active", "objs", "size", "per slab", "slabs", "frames"
    );
    for s in &slabs {
        println!(
            "{:<16} {:>8} {:>8} {:>7} {:>8} {:>8} {:>7}",
            s.name,
            s.active_objs,
            s.num_objs,
            s.objsize,
            s.objperslab,
            s.num_slabs,
            s.num_slabs * s.pagesperslab
        );
    }
    Ok(())
}

fn spaces(json: bool) -> Res {
    let text = debugfs::read("spaces").map_err(|e| e.to_string())?;
    let rows = debugfs::parse_spaces(&text).map_err(|e| e.to_string())?;
    if json {
        print_json(&rows);
        return Ok(());
    }
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>8} {:>5} mode",
        "id", "resident", "zero", "swapped", "pt_nodes", "vmas"
    );
    for s in &rows {
        println!(
            "{:>8} {:>10} {:>10} {:>10} {:>8} {:>5} {}",
            s.id, s.resident, s.zero, s.swapped, s.pt_nodes, s.vmas, s.mode
        );
    }
    Ok(())
}

fn page_cmd(target: &str, range: &[u64], json: bool) -> Res {
    let t = page::parse_target(target)?;
    let (start, entries, id, at) = if let page::Target::Addr { pid, addr } = t {
        if range.len() > 1 {
            return Err(format!("page {target}: only COUNT follows PID:ADDR"));
        }
        let count = range.first().copied().unwrap_or(16);
        let s =
            Space::open().map_err(|e| format!("cannot open {}: {e}", uapi::PAGEARENA_DEVICE))?;
        let (entries, id, start) = s.page_state_at(pid, addr, count).map_err(|e| {
            format!("PAGEARENA_IOC_PAGE_STATE_AT (process {pid}, address {addr:#x}): {e}")
        })?;
        (start, entries, id, format!("process {pid} at {addr:#x}: "))
    } else {
        let (start, count) = match *range {
            [] => (0, 16),
            [c] => (0, c),
            [s, c, ..] => (s, c),
        };
        let space = page::open(t).map_err(|e| format!("page {target}: {e}"))?;
        let entries = space
            .page_state(start, count)
            .map_err(|e| format!("PAGEARENA_IOC_PAGE_STATE (pages {start}..+{count}): {e}"))?;
        let id = space.space_stats().map(|s| s.id).unwrap_or(0);
        (start, entries, id, String::new())
    };
    let rows = page::rows(start, &entries);
    if json {
        print_json(&serde_json::json!({ "space": id, "pages": rows }));
    } else {
        println!(
            "{at}space {id}, pages {start}..{}",
            start + entries.len() as u64
        );
        print!("{}", page::table(&rows));
    }
    Ok(())
}

/// A progress bar on stderr when it is a terminal (indicatif hides itself
/// otherwise): a spinner with the current step.
fn spinner() -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// Runs a benchmark (`name`, for messages) with progress on stderr, saves
/// its JSON report to `save`, prints it with `json`; returns the report.
fn run_bench<R: serde::Serialize>(
    name: &str,
    run: impl FnOnce(&mut dyn FnMut(&str)) -> std::io::Result<R>,
    json: bool,
    save: Option<PathBuf>,
) -> Result<R, String> {
    let pb = spinner();
    let report = run(&mut |p| pb.set_message(p.to_string()));
    pb.finish_and_clear();
    let report = report.map_err(|e| format!("{name}: {e}"))?;
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Some(path) = save {
        std::fs::write(&path, &text)
            .map_err(|e| format!("{name}: cannot save {}: {e}", path.display()))?;
    }
    if json {
        println!("{text}");
    }
    Ok(report)
}

/// Writes plot `name` into `dir` as PNG and SVG with `draw`; says where.
fn plots(dir: &Path, name: &str, draw: impl Fn(&Path) -> std::io::Result<()>, json: bool) -> Res {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for ext in ["png", "svg"] {
        let p = dir.join(format!("{name}.{ext}"));
        draw(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if !json {
            println!("plot: {}", p.display());
        }
    }
    Ok(())
}

/// The arena-vs-native table.
fn print_rows(rows: &[pagearena_tools::bench::Row]) {
    println!(
        "{:<32} {:>14} {:>14} {:>7}  ratio (| = 1.0)",
        "workload", "arena pages/s", "native pages/s", "ratio"
    );
    for r in rows {
        println!(
            "{:<32} {:>14.0} {:>14.0} {:>7.2}  {}",
            r.workload,
            r.arena_per_sec,
            r.native_per_sec,
            r.ratio,
            bar(r.ratio)
        );
    }
}

fn throughput_groups(rows: &[pagearena_tools::bench::Row]) -> Vec<plot::Group> {
    rows.iter()
        .map(|r| (r.workload.clone(), vec![r.arena_per_sec, r.native_per_sec]))
        .collect()
}

fn bench(
    pages: usize,
    rounds: usize,
    json: bool,
    save: Option<PathBuf>,
    plot_dir: Option<PathBuf>,
) -> Res {
    use pagearena_tools::bench;
    if pages < 2 || rounds == 0 {
        return Err("bench: --pages must be at least 2 and --rounds at least 1".into());
    }
    let cfg = bench::Config { pages, rounds };
    let report = run_bench("bench", |p| bench::run(&cfg, p), json, save)?;
    if let Some(dir) = &plot_dir {
        let groups = throughput_groups(&report.rows);
        plots(
            dir,
            "bench-throughput",
            |p| {
                plot::bars(
                    p,
                    "fault path: arena vs native (faults/s, higher is better)",
                    "faults per second",
                    &["arena", "native"],
                    &groups,
                )
            },
            json,
        )?;
        let l = &report.latency;
        // The bins from the first to the last that any fault fell in.
        let used = |i: &usize| l.arena[*i] + l.native[*i] > 0;
        let first = (0..l.bin_ns.len()).find(used).unwrap_or(0);
        let last = (0..l.bin_ns.len()).rev().find(used).unwrap_or(0);
        let lat: Vec<plot::Group> = (first..=last)
            .map(|i| {
                let ns = l.bin_ns[i];
                let label = match ns {
                    0..1_000 => format!("{ns} ns"),
                    1_000..1_000_000 => format!("{} us", ns / 1_000),
                    _ => format!("{} ms", ns / 1_000_000),
                };
                (label, vec![l.arena[i] as f64, l.native[i] as f64])
            })
            .collect();
        plots(
            dir,
            "bench-latency",
            |p| {
                plot::bars(
                    p,
                    "per-fault latency, first-touch writes (faults per bin, up to)",
                    "faults",
                    &["arena", "native"],
                    &lat,
                )
            },
            json,
        )?;
    }
    if json {
        return Ok(());
    }
    println!(
        "{} pages per workload, median of {} rounds, {} CPUs, kernel {}\n",
        report.pages, report.rounds, report.cpus, report.kernel
    );
    print_rows(&report.rows);
    println!(
        "\nscaling over 1 thread: 2 threads {:.2}x arena, {:.2}x native; 2 processes {:.2}x arena, {:.2}x native",
        report.thread_scaling.0,
        report.thread_scaling.1,
        report.process_scaling.0,
        report.process_scaling.1
    );
    println!(
        "per-fault latency (first-touch write), median: arena {} ns, native {} ns",
        report.latency.median_ns.0, report.latency.median_ns.1
    );
    Ok(())
}

fn bench_swap(
    cfg: &pagearena_tools::bench_swap::Config,
    json: bool,
    save: Option<PathBuf>,
    plot_dir: Option<PathBuf>,
) -> Res {
    let run = |p: &mut dyn FnMut(&str)| pagearena_tools::bench_swap::run(cfg, p);
    let report = run_bench("bench-swap", run, json, save)?;
    if let Some(dir) = &plot_dir {
        let groups = throughput_groups(&report.rows);
        plots(
            dir,
            "swap-throughput",
            |p| {
                plot::bars(
                    p,
                    "swapping a working set 2x memory: arena vs native (pages/s)",
                    "pages per second",
                    &["arena", "native"],
                    &groups,
                )
            },
            json,
        )?;
        let pol: Vec<plot::Group> = report
            .policies
            .iter()
            .map(|p| {
                (
                    p.trace.clone(),
                    vec![p.lru as f64, p.clock as f64, p.belady as f64],
                )
            })
            .collect();
        plots(
            dir,
            "swap-policies",
            |p| {
                plot::bars(
                    p,
                    "major faults per trace (lower is better)",
                    "major faults",
                    &["lru", "clock", "opt (Belady)"],
                    &pol,
                )
            },
            json,
        )?;
    }
    if json {
        return Ok(());
    }
    println!(
        "{} MiB on each side, working set {} pages (2x), zram swap on both, median of {} rounds, kernel {}\n",
        report.mem_mb, report.pages, report.rounds, report.kernel
    );
    print_rows(&report.rows);
    println!(
        "\nmajor faults, arena of {} MiB ({} usable frames for Belady's optimum)\n",
        report.policy_mb, report.belady_frames
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9}",
        "trace", "accesses", "lru", "clock", "belady"
    );
    for p in &report.policies {
        println!(
            "{:<34} {:>9} {:>9} {:>9} {:>9}",
            p.trace, p.accesses, p.lru, p.clock, p.belady
        );
    }
    Ok(())
}

fn trace_cmd(
    device: &str,
    output: Option<PathBuf>,
    idle_ms: u64,
    ring: u64,
    json: bool,
    cmd: &[String],
) -> Res {
    let mut out: Box<dyn std::io::Write> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let (status, sum) = pagearena_tools::trace::run(
        device,
        cmd,
        &mut out,
        std::time::Duration::from_millis(idle_ms),
        ring,
    )
    .map_err(|e| format!("trace: {e}"))?;
    drop(out);
    if json {
        eprintln!("{}", serde_json::to_string(&sum).unwrap_or_default());
    } else {
        eprintln!(
            "trace: {} references to {} pages in {} spaces, {} lost, {} aging rounds{}",
            sum.references,
            sum.pages,
            sum.spaces,
            sum.lost,
            sum.idle_rounds,
            output.map_or(String::new(), |p| format!("; written to {}", p.display()))
        );
    }
    if status.success() {
        Ok(())
    } else {
        Err(format!("trace: {} {status}", cmd[0]))
    }
}

fn replay_cmd(
    path: &Path,
    policies: &[String],
    frames: Vec<usize>,
    steps: usize,
    plot_to: &[PathBuf],
    json: bool,
) -> Res {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let trace = replay::parse_trace(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if trace.is_empty() {
        return Err(format!("{}: no page numbers in the trace", path.display()));
    }
    for p in policies {
        if !replay::POLICIES.contains(&p.as_str()) {
            return Err(format!(
                "unknown policy {p:?} (known: {})",
                replay::POLICIES.join(", ")
            ));
        }
    }
    let sizes = if frames.is_empty() {
        replay::default_sizes(replay::distinct_pages(&trace), steps)
    } else {
        frames
    };
    let pb = indicatif::ProgressBar::new((policies.len() * sizes.len()) as u64);
    let r = replay::run(&trace, policies, &sizes, &mut |i, _| {
        pb.set_position(i as u64)
    });
    pb.finish_and_clear();
    let r = r.map_err(|e| e.to_string())?;
    let name = path
        .file_name()
        .map_or("stdin".into(), |n| n.to_string_lossy().to_string());
    for p in plot_to {
        replay::plot(&r, p, &format!("major faults vs memory: {name}"))
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if json {
        print_json(&r);
    } else {
        print!("{}", replay::table(&r));
        for p in plot_to {
            println!("plot: {}", p.display());
        }
    }
    Ok(())
}

/// A bar for a ratio: 20 columns per 1.0, a `|` at 1.0.
fn bar(ratio: f64) -> String {
    let n = (ratio * 20.0).round().clamp(0.0, 60.0) as usize;
    (0..n.max(21))
        .map(|i| match (i < n, i == 20) {
            (_, true) => '|',
            (true, _) => '#',
            _ => ' ',
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed_and_every_subcommand_has_help() {
        Cli::command().debug_assert();
        for sub in Cli::command().get_subcommands() {
            assert!(
                sub.get_about().is_some(),
                "{} has no --help text",
                sub.get_name()
            );
        }
    }

    #[test]
    fn arguments_parse_as_documented() {
        let c =
            Cli::try_parse_from(["pagearena", "stats", "-w", "2", "-n", "3", "--json"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Stat {
                wait: Some(w),
                count: Some(3),
                json: true
            } if w == 2.0
        ));
        let c = Cli::try_parse_from(["pagearena", "demo", "swap"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Demo {
                which: demo::Which::Swap,
                json: false
            }
        ));
        let c = Cli::try_parse_from(["pagearena", "demo", "--json"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Demo {
                which: demo::Which::All,
                json: true
            }
        ));
        assert!(Cli::try_parse_from(["pagearena", "demo", "nope"]).is_err());
        let c = Cli::try_parse_from(["pagearena", "page", "123/4", "8", "2"]).unwrap();
        assert!(matches!(c.cmd, Cmd::Page { ref range, .. } if range == &[8, 2]));
        assert!(Cli::try_parse_from(["pagearena", "page", "3", "1", "2", "3"]).is_err());
        let c = Cli::try_parse_from([
            "pagearena",
            "replay",
            "t.txt",
            "--policies",
            "lru,opt",
            "--frames",
            "4,8",
        ])
        .unwrap();
        match c.cmd {
            Cmd::Replay {
                policies, frames, ..
            } => {
                assert_eq!(policies, ["lru", "opt"]);
                assert_eq!(frames, [4, 8]);
            }
            _ => panic!("not replay"),
        }
    }

    #[test]
    fn ratio_bars_mark_one() {
        assert_eq!(bar(0.5), format!("{}{}|", "#".repeat(10), " ".repeat(10)));
        assert_eq!(bar(2.0).len(), 40);
    }
}

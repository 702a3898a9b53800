//! `pagearena`: command-line access to `/dev/pagearena`.

use clap::{Parser, Subcommand};
use pagearena_tools::{dev::Space, uapi};
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
    /// Show the arena's counters and frames (PAGEARENA_IOC_STATS).
    Stats {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Walk through zero page, demand zero, clone and copy-on-write on a
    /// small space, with a map of its pages after each step.
    Demo,
    /// Benchmark the fault path against native anonymous memory, in this
    /// machine and run: first-touch writes, zero-page reads, COW after fork,
    /// and 2-thread / 2-process scaling. Prints faults per second and ratios.
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
        save: Option<std::path::PathBuf>,
    },
    /// Benchmark swapping: a working set twice the memory, the arena (loaded
    /// here with swap_path=/dev/zram0) against native memory in a memory
    /// cgroup of the same size swapping to another zram device; then the
    /// reclaim policies' major faults on three traces, with Belady's optimum.
    /// Loads and unloads the module itself; needs root, zram and cgroup v2.
    BenchSwap {
        /// The module file to load.
        #[arg(long)]
        module: std::path::PathBuf,
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
        save: Option<std::path::PathBuf>,
    },
}

#[derive(serde::Serialize)]
struct InfoOut {
    uapi_version: u32,
    page_size: u32,
    arena_frames: u64,
    arena_bytes: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The one command that runs with the module unloaded (it loads it).
    if let Cmd::BenchSwap {
        module,
        mem_mb,
        policy_mb,
        rounds,
        json,
        save,
    } = cli.cmd
    {
        let cfg = pagearena_tools::bench_swap::Config {
            module,
            mem_mb,
            rounds: rounds.max(1),
            policy_mb,
        };
        return bench_swap(&cfg, json, save);
    }
    let space = match Space::open_path(&cli.device) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "pagearena: cannot open {}: {e} (is the module loaded? are you root?)",
                cli.device
            );
            return ExitCode::FAILURE;
        }
    };
    match cli.cmd {
        Cmd::Stats { json } => match space.stats() {
            Ok(s) => {
                print_stats(&s, json);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pagearena: STATS ioctl failed: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Demo => match pagearena_tools::demo::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pagearena demo: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Bench {
            pages,
            rounds,
            json,
            save,
        } => bench(pages, rounds, json, save),
        Cmd::BenchSwap { .. } => ExitCode::FAILURE,
        Cmd::Info { json } => match space.info() {
            Ok(i) => {
                let out = InfoOut {
                    uapi_version: i.version,
                    page_size: i.page_size,
                    arena_frames: i.arena_frames,
                    arena_bytes: i.arena_frames * u64::from(i.page_size),
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
                } else {
                    println!("uapi version   {}", out.uapi_version);
                    println!("page size      {} bytes", out.page_size);
                    println!(
                        "arena          {} frames ({} MiB)",
                        out.arena_frames,
                        out.arena_bytes >> 20
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pagearena: INFO ioctl failed: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs a benchmark (`name`, for messages) with progress on stderr, saves
/// its JSON report to `save`, prints it with `json`; returns the report if
/// the caller is to print its tables.
fn run_bench<R: serde::Serialize>(
    name: &str,
    run: impl FnOnce(&mut dyn FnMut(&str)) -> std::io::Result<R>,
    json: bool,
    save: Option<std::path::PathBuf>,
) -> Option<R> {
    let report = match run(&mut |p| eprint!("\r\x1b[K{p}")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("\npagearena {name}: {e}");
            return None;
        }
    };
    eprintln!("\r\x1b[K");
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Some(path) = save {
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("pagearena {name}: cannot save {}: {e}", path.display());
            return None;
        }
    }
    if json {
        println!("{text}");
    }
    Some(report)
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

fn bench(pages: usize, rounds: usize, json: bool, save: Option<std::path::PathBuf>) -> ExitCode {
    use pagearena_tools::bench;
    if pages < 2 || rounds == 0 {
        eprintln!("pagearena bench: --pages must be at least 2 and --rounds at least 1");
        return ExitCode::FAILURE;
    }
    let cfg = bench::Config { pages, rounds };
    let Some(report) = run_bench("bench", |p| bench::run(&cfg, p), json, save) else {
        return ExitCode::FAILURE;
    };
    if json {
        return ExitCode::SUCCESS;
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
    ExitCode::SUCCESS
}

fn bench_swap(
    cfg: &pagearena_tools::bench_swap::Config,
    json: bool,
    save: Option<std::path::PathBuf>,
) -> ExitCode {
    let run = |p: &mut dyn FnMut(&str)| pagearena_tools::bench_swap::run(cfg, p);
    let Some(report) = run_bench("bench-swap", run, json, save) else {
        return ExitCode::FAILURE;
    };
    if json {
        return ExitCode::SUCCESS;
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
    ExitCode::SUCCESS
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

fn print_stats(s: &uapi::PagearenaStats, json: bool) {
    let fields: [(&str, u64); 16] = [
        ("nr_frames", s.nr_frames),
        ("nr_free", s.nr_free),
        ("nr_spaces", s.nr_spaces),
        ("nr_pt_nodes", s.nr_pt_nodes),
        ("nr_slab_frames", s.nr_slab_frames),
        ("pgfault", s.pgfault),
        ("zero_page_fault", s.zero_page_fault),
        ("demand_zero_fault", s.demand_zero_fault),
        ("cow_fault", s.cow_fault),
        ("cow_reuse_fault", s.cow_reuse_fault),
        ("minor_fault", s.minor_fault),
        ("oom_fault", s.oom_fault),
        ("fault_around", s.fault_around),
        ("space_clone", s.space_clone),
        ("fork_snapshot", s.fork_snapshot),
        ("uapi_version", u64::from(s.version)),
    ];
    if json {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
            .collect();
        println!("{}", serde_json::to_string_pretty(&map).unwrap_or_default());
    } else {
        for (k, v) in fields {
            println!("{k:<18} {v}");
        }
    }
}

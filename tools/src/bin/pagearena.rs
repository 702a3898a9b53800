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

//! `pagearena replay TRACE`: a page-reference trace replayed on the host
//! through the core's own replacement policies, as the arena runs them
//! (`pagearena_mm::replay`), for a range of memory sizes, against Belady's
//! optimum: major faults vs memory size per policy.
//!
//! A trace is a text file of page numbers (decimal, or hex with `0x`),
//! separated by white space or commas; `#` starts a comment. A reference
//! may also be `SPACE:PAGE` (what `pagearena trace` writes): each distinct
//! pair is a page of its own.

use pagearena_mm::{
    clock::Clock,
    lru::{ExactLru, Lru},
    reclaim::ReclaimPolicy,
    replay::{belady, replay},
};
use serde::Serialize;
use std::io;

/// Policies `replay` knows, by name.
pub const POLICIES: [&str; 4] = ["lru", "clock", "fifo", "opt"];

/// A trace's page numbers from its text (`SPACE:PAGE` pairs numbered from
/// 2^31 up, in order of first appearance).
pub fn parse_trace(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    let mut pairs: std::collections::HashMap<(u64, u64), u32> = Default::default();
    let num = |t: &str| match t.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for tok in line.split(|c: char| c.is_whitespace() || c == ',') {
            if tok.is_empty() {
                continue;
            }
            let bad = || format!("line {}: {tok:?} is not a page number", n + 1);
            let v = match tok.split_once(':') {
                Some((sp, pg)) => {
                    let key = (num(sp).map_err(|_| bad())?, num(pg).map_err(|_| bad())?);
                    let next = (1u32 << 31) + pairs.len() as u32;
                    *pairs.entry(key).or_insert(next)
                }
                None => u32::try_from(num(tok).map_err(|_| bad())?).map_err(|_| bad())?,
            };
            out.push(v);
        }
    }
    Ok(out)
}

/// Pages `trace` touches (its first touches, which no policy avoids).
pub fn distinct_pages(trace: &[u32]) -> usize {
    trace.iter().collect::<std::collections::HashSet<_>>().len()
}

/// Memory sizes (frames) for a trace touching `distinct` pages: `steps`
/// sizes spread evenly from a tenth of it to all of it.
pub fn default_sizes(distinct: usize, steps: usize) -> Vec<usize> {
    let steps = steps.max(1);
    let mut v: Vec<usize> = (1..=steps)
        .map(|i| (distinct * i).div_ceil(steps).max(1))
        .collect();
    v.dedup();
    v
}

/// One policy's major faults at one memory size.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Point {
    /// Frames of memory.
    pub frames: usize,
    /// Major faults (misses on pages touched before).
    pub major: u64,
    /// Soft faults (accesses seen because aging unmapped the page); none
    /// for `opt`, which knows the future.
    pub soft: u64,
}

/// The whole replay.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// References in the trace.
    pub accesses: usize,
    /// Distinct pages (first touches: no policy avoids them).
    pub distinct: usize,
    /// Per policy, its points by memory size.
    pub policies: Vec<(String, Vec<Point>)>,
}

fn policy(name: &str) -> Option<Box<dyn ReclaimPolicy>> {
    match name {
        "lru" => Some(Box::new(Lru::new())),
        "clock" => Some(Box::new(Clock::new())),
        // The core's exact LRU: with no accessed bits it sees only faults,
        // so it evicts in fault order.
        "fifo" => Some(Box::new(ExactLru::new())),
        _ => None,
    }
}

/// Replays `trace` under each of `policies` at each of `sizes`.
pub fn run(
    trace: &[u32],
    policies: &[String],
    sizes: &[usize],
    progress: &mut dyn FnMut(usize, usize),
) -> io::Result<Report> {
    let distinct = distinct_pages(trace);
    let total = policies.len() * sizes.len();
    let mut out = Vec::new();
    for (i, name) in policies.iter().enumerate() {
        let mut pts = Vec::new();
        for (j, &frames) in sizes.iter().enumerate() {
            progress(i * sizes.len() + j, total);
            pts.push(if name == "opt" {
                Point {
                    frames,
                    major: belady(trace, frames),
                    soft: 0,
                }
            } else {
                let mut p = policy(name).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("unknown policy {name:?} (known: {})", POLICIES.join(", ")),
                    )
                })?;
                let r = replay(p.as_mut(), frames, trace);
                Point {
                    frames,
                    major: r.major,
                    soft: r.soft,
                }
            });
        }
        out.push((name.clone(), pts));
    }
    progress(total, total);
    Ok(Report {
        accesses: trace.len(),
        distinct,
        policies: out,
    })
}

/// The table: one row per memory size, one column per policy.
pub fn table(r: &Report) -> String {
    let mut s = format!(
        "{} references to {} pages; major faults (first touches not counted)\n\n{:>8}",
        r.accesses, r.distinct, "frames"
    );
    for (name, _) in &r.policies {
        s += &format!(" {name:>9}");
    }
    s.push('\n');
    let rows = r.policies.first().map_or(0, |p| p.1.len());
    for i in 0..rows {
        s += &format!("{:>8}", r.policies[0].1[i].frames);
        for (_, pts) in &r.policies {
            s += &format!(" {:>9}", pts[i].major);
        }
        s.push('\n');
    }
    s
}

/// Plots major faults vs memory size, one line per policy.
pub fn plot(r: &Report, path: &std::path::Path, title: &str) -> io::Result<()> {
    let series: Vec<crate::plot::Series> = r
        .policies
        .iter()
        .map(|(name, pts)| {
            let label = if name == "opt" {
                "opt (Belady)".to_string()
            } else {
                name.clone()
            };
            (
                label,
                pts.iter()
                    .map(|p| (p.frames as f64, p.major as f64))
                    .collect(),
            )
        })
        .collect();
    crate::plot::lines(path, title, "memory (frames)", "major faults", &series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_parse_numbers_hex_commas_and_comments() {
        let t = "# a trace\n1 2,3\n0x10  # sixteen\n\n7\n";
        assert_eq!(parse_trace(t), Ok(vec![1, 2, 3, 16, 7]));
        let e = parse_trace("1\n2 x\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("\"x\""), "{e}");
        // pagearena trace's SPACE:PAGE pairs: one page per distinct pair.
        let t = parse_trace("# trace\n7:0\n7:1\n8:0\n7:0\n").unwrap();
        assert_eq!(t[0], t[3]);
        assert!(t[0] != t[1] && t[0] != t[2] && t[1] != t[2]);
        assert!(parse_trace("7:x").is_err() && parse_trace("1:2:3").is_err());
    }

    #[test]
    fn sizes_spread_to_the_whole_set() {
        assert_eq!(default_sizes(100, 4), [25, 50, 75, 100]);
        assert_eq!(default_sizes(3, 10), [1, 2, 3]);
    }

    #[test]
    fn replay_numbers_on_the_classic_trace() {
        // Worked by hand (see rust/mm/tests/replay.rs): with 3 and 4 frames,
        // opt 2 and 1 major faults, fifo 4 and 5 (Belady's anomaly).
        let trace = parse_trace("1 2 3 4 1 2 5 1 2 3 4 5").unwrap();
        let names: Vec<String> = ["fifo", "opt"].map(String::from).into();
        let r = run(&trace, &names, &[3, 4], &mut |_, _| {}).unwrap();
        assert_eq!((r.accesses, r.distinct), (12, 5));
        let majors = |i: usize| r.policies[i].1.iter().map(|p| p.major).collect::<Vec<_>>();
        assert_eq!(majors(0), [4, 5]);
        assert_eq!(majors(1), [2, 1]);
        let t = table(&r);
        let row: Vec<&str> = t.lines().last().unwrap().split_whitespace().collect();
        assert_eq!(row, ["4", "5", "1"]);
        assert!(run(&trace, &["nope".into()], &[3], &mut |_, _| {}).is_err());
    }
}

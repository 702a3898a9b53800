//! `pagearena stat`: the arena's counters (`PAGEARENA_IOC_STATS`), like
//! `/proc/vmstat`, and per-second rates between two readings, like `vmstat 1`.

use crate::uapi::PagearenaStats;
use serde::Serialize;

/// Whether a counter is a level (frames now) or an event count (rates make
/// sense of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// How much of something there is now.
    Gauge,
    /// How many times something happened since load.
    Event,
}

/// Every counter of [`PagearenaStats`] but its version: name (as in the C
/// header and the uapi), value, kind.
pub fn counters(s: &PagearenaStats) -> Vec<(&'static str, u64, Kind)> {
    use Kind::{Event as E, Gauge as G};
    vec![
        ("nr_frames", s.nr_frames, G),
        ("nr_free", s.nr_free, G),
        ("nr_spaces", s.nr_spaces, G),
        ("nr_pt_nodes", s.nr_pt_nodes, G),
        ("nr_slab_frames", s.nr_slab_frames, G),
        ("nr_active", s.nr_active, G),
        ("nr_inactive", s.nr_inactive, G),
        ("nr_swap_slots", s.nr_swap_slots, G),
        ("nr_swap_used", s.nr_swap_used, G),
        ("nr_swapcache", s.nr_swapcache, G),
        ("watermark_min", s.watermark_min, G),
        ("watermark_low", s.watermark_low, G),
        ("watermark_high", s.watermark_high, G),
        ("pgfault", s.pgfault, E),
        ("zero_page_fault", s.zero_page_fault, E),
        ("demand_zero_fault", s.demand_zero_fault, E),
        ("cow_fault", s.cow_fault, E),
        ("cow_reuse_fault", s.cow_reuse_fault, E),
        ("minor_fault", s.minor_fault, E),
        ("oom_fault", s.oom_fault, E),
        ("fault_around", s.fault_around, E),
        ("space_clone", s.space_clone, E),
        ("fork_snapshot", s.fork_snapshot, E),
        ("pgmajfault", s.pgmajfault, E),
        ("pswpin", s.pswpin, E),
        ("pswpout", s.pswpout, E),
        ("swapcache_reclaim", s.swapcache_reclaim, E),
        ("zero_page_reclaim", s.zero_page_reclaim, E),
        ("swap_io_error", s.swap_io_error, E),
        ("pgscan", s.pgscan, E),
        ("pgsteal_clean", s.pgsteal_clean, E),
        ("pgsteal_dirty", s.pgsteal_dirty, E),
        ("pgdeactivate", s.pgdeactivate, E),
        ("pgactivate", s.pgactivate, E),
        ("allocstall", s.allocstall, E),
        ("kswapd_wakeup", s.kswapd_wakeup, E),
        ("pgsoftfault", s.pgsoftfault, E),
    ]
}

/// The full table: one `name value` line per counter.
pub fn table(s: &PagearenaStats) -> String {
    counters(s)
        .iter()
        .map(|(k, v, _)| format!("{k:<18} {v}\n"))
        .collect()
}

/// The counters as a JSON object (`uapi_version` too).
pub fn json(s: &PagearenaStats) -> serde_json::Value {
    let mut m: serde_json::Map<String, serde_json::Value> = counters(s)
        .into_iter()
        .map(|(k, v, _)| (k.to_string(), v.into()))
        .collect();
    m.insert("uapi_version".into(), s.version.into());
    m.into()
}

/// Per-second rates of the event counters from `a` to `b`, `secs` apart.
pub fn rates(a: &PagearenaStats, b: &PagearenaStats, secs: f64) -> Vec<(&'static str, f64)> {
    counters(a)
        .into_iter()
        .zip(counters(b))
        .filter(|((_, _, k), _)| *k == Kind::Event)
        .map(|((name, x, _), (_, y, _))| (name, y.saturating_sub(x) as f64 / secs.max(1e-9)))
        .collect()
}

/// The columns of one `stat -w` line: (header, width, value).
/// Levels are frames now; the rest are per second over the interval.
pub fn vmstat_columns(
    prev: &PagearenaStats,
    now: &PagearenaStats,
    secs: f64,
) -> Vec<(&'static str, usize, String)> {
    let r: std::collections::HashMap<_, _> = rates(prev, now, secs).into_iter().collect();
    let rate = |k: &str| format!("{:.0}", r.get(k).copied().unwrap_or(0.0));
    let steal = |k: &str| r.get(k).copied().unwrap_or(0.0);
    vec![
        ("free", 8, now.nr_free.to_string()),
        ("active", 8, now.nr_active.to_string()),
        ("inact", 8, now.nr_inactive.to_string()),
        ("swpd", 8, now.nr_swap_used.to_string()),
        ("flt/s", 8, rate("pgfault")),
        ("zero/s", 7, rate("zero_page_fault")),
        ("dz/s", 7, rate("demand_zero_fault")),
        ("cow/s", 7, rate("cow_fault")),
        ("maj/s", 7, rate("pgmajfault")),
        ("si/s", 7, rate("pswpin")),
        ("so/s", 7, rate("pswpout")),
        ("scan/s", 7, rate("pgscan")),
        (
            "steal/s",
            8,
            format!("{:.0}", steal("pgsteal_clean") + steal("pgsteal_dirty")),
        ),
        ("stall/s", 8, rate("allocstall")),
        ("oom/s", 6, rate("oom_fault")),
    ]
}

/// A `stat -w` header or line from [`vmstat_columns`].
pub fn vmstat_line(cols: &[(&str, usize, String)], header: bool) -> String {
    cols.iter()
        .map(|(h, w, v)| format!("{:>w$}", if header { *h } else { v.as_str() }, w = *w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stats_field_is_listed_once() {
        // version + reserved are one u64; every other u64 is a counter.
        let n = size_of::<PagearenaStats>() / 8 - 1;
        let s = PagearenaStats::default();
        let names: std::collections::BTreeSet<_> = counters(&s).iter().map(|c| c.0).collect();
        assert_eq!(counters(&s).len(), n);
        assert_eq!(names.len(), n);
    }

    #[test]
    fn counters_read_the_field_their_name_says() {
        // Each field gets a distinct value; the C header's field list (the
        // same names) checks the names, this checks the values behind them.
        let s = PagearenaStats {
            nr_free: 7,
            pswpout: 11,
            pgsteal_dirty: 13,
            watermark_high: 17,
            pgsoftfault: 19,
            ..Default::default()
        };
        let c: std::collections::HashMap<_, _> =
            counters(&s).into_iter().map(|(k, v, _)| (k, v)).collect();
        assert_eq!(
            (c["nr_free"], c["pswpout"], c["pgsteal_dirty"]),
            (7, 11, 13)
        );
        assert_eq!((c["watermark_high"], c["pgsoftfault"]), (17, 19));
        assert_eq!(c.values().sum::<u64>(), 7 + 11 + 13 + 17 + 19);
    }

    #[test]
    fn rates_are_events_per_second_and_levels_are_not_rated() {
        let a = PagearenaStats {
            pgfault: 100,
            nr_free: 50,
            ..Default::default()
        };
        let b = PagearenaStats {
            pgfault: 400,
            nr_free: 10,
            pswpout: 30,
            ..Default::default()
        };
        let r: std::collections::HashMap<_, _> = rates(&a, &b, 2.0).into_iter().collect();
        assert_eq!(r["pgfault"], 150.0);
        assert_eq!(r["pswpout"], 15.0);
        assert!(!r.contains_key("nr_free"));
        let cols = vmstat_columns(&a, &b, 2.0);
        let line = vmstat_line(&cols, false);
        let head = vmstat_line(&cols, true);
        assert_eq!(line.len(), head.len());
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((f[0], f[4], f[10]), ("10", "150", "15"));
    }
}

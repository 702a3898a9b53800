//! The module's debugfs files (`/sys/kernel/debug/pagearena/`), read and
//! parsed for `pagearena buddyinfo`, `slabinfo`, `spaces` and `top`.

use serde::Serialize;
use std::{io, path::PathBuf};

/// Where the module's debugfs files are.
pub const DIR: &str = "/sys/kernel/debug/pagearena";

/// Reads debugfs file `name`; the error names the file and what to do.
pub fn read(name: &str) -> io::Result<String> {
    let path = PathBuf::from(DIR).join(name);
    std::fs::read_to_string(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot read {}: {e} (is the module loaded, debugfs mounted on /sys/kernel/debug, and are you root?)",
                path.display()
            ),
        )
    })
}

fn bad(file: &str, line: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{DIR}/{file}: cannot parse {line:?}"),
    )
}

/// Field `i` of `line` of debugfs `file`, a number.
fn number(fields: &[&str], i: usize, file: &str, line: &str) -> io::Result<u64> {
    fields
        .get(i)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad(file, line))
}

/// Free blocks per order (`buddyinfo`: `Node 0, zone    Arena n0 n1 ...`).
pub fn parse_buddyinfo(text: &str) -> io::Result<Vec<u64>> {
    let line = text.lines().next().unwrap_or("");
    let rest = line
        .strip_prefix("Node 0, zone")
        .ok_or_else(|| bad("buddyinfo", line))?;
    rest.split_whitespace()
        .skip(1)
        .map(|n| n.parse().map_err(|_| bad("buddyinfo", line)))
        .collect()
}

/// One slab cache (`slabinfo` 2.1 line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Slab {
    /// Cache name.
    pub name: String,
    /// Objects in use.
    pub active_objs: u64,
    /// Objects in all slabs.
    pub num_objs: u64,
    /// Bytes per object.
    pub objsize: u64,
    /// Objects per slab.
    pub objperslab: u64,
    /// Frames per slab.
    pub pagesperslab: u64,
    /// Slabs with objects in use.
    pub active_slabs: u64,
    /// Slabs.
    pub num_slabs: u64,
}

/// The caches of `slabinfo` (`/proc/slabinfo` version 2.1).
pub fn parse_slabinfo(text: &str) -> io::Result<Vec<Slab>> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("slabinfo") || line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| number(&f, i, "slabinfo", line);
        // name a n size per pages : tunables x x x : slabdata act num x
        if f.len() != 16 || f[6] != ":" || f[11] != ":" {
            return Err(bad("slabinfo", line));
        }
        out.push(Slab {
            name: f[0].to_string(),
            active_objs: n(1)?,
            num_objs: n(2)?,
            objsize: n(3)?,
            objperslab: n(4)?,
            pagesperslab: n(5)?,
            active_slabs: n(13)?,
            num_slabs: n(14)?,
        });
    }
    Ok(out)
}

/// One space (`spaces` line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpaceRow {
    /// Space id.
    pub id: u64,
    /// Pages in a frame.
    pub resident: u64,
    /// Pages on the zero frame.
    pub zero: u64,
    /// Pages in swap.
    pub swapped: u64,
    /// Page-table nodes.
    pub pt_nodes: u64,
    /// VMAs mapping it.
    pub vmas: u64,
    /// `shared` or `fork-cow`.
    pub mode: String,
}

/// The spaces of `spaces`.
pub fn parse_spaces(text: &str) -> io::Result<Vec<SpaceRow>> {
    let mut lines = text.lines();
    let head = lines.next().unwrap_or("");
    let cols: Vec<&str> = head.split_whitespace().collect();
    if cols
        != [
            "id", "resident", "zero", "swapped", "pt_nodes", "vmas", "mode",
        ]
    {
        return Err(bad("spaces", head));
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let n = |i: usize| number(&f, i, "spaces", line);
            if f.len() != 7 {
                return Err(bad("spaces", line));
            }
            Ok(SpaceRow {
                id: n(0)?,
                resident: n(1)?,
                zero: n(2)?,
                swapped: n(3)?,
                pt_nodes: n(4)?,
                vmas: n(5)?,
                mode: f[6].to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buddyinfo_gives_free_blocks_per_order() {
        let t = "Node 0, zone    Arena      1      0      2      0      0      0      0      0      0      0     31\n";
        assert_eq!(
            parse_buddyinfo(t).unwrap(),
            [1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 31]
        );
        assert!(parse_buddyinfo("Node 0, zone Arena 1 x\n").is_err());
        assert!(parse_buddyinfo("garbage").is_err());
    }

    #[test]
    fn slabinfo_lines_parse_by_column() {
        let t = "slabinfo - version: 2.1\n# name            <active_objs> ...\n\
                 pa_space              3     16    256   16    1 : tunables    0    0    0 : slabdata      1      2      0\n";
        let s = parse_slabinfo(t).unwrap();
        assert_eq!(
            s,
            [Slab {
                name: "pa_space".into(),
                active_objs: 3,
                num_objs: 16,
                objsize: 256,
                objperslab: 16,
                pagesperslab: 1,
                active_slabs: 1,
                num_slabs: 2,
            }]
        );
        assert!(parse_slabinfo("x 1 2\n").is_err());
    }

    #[test]
    fn spaces_lines_parse_by_column() {
        let t = "      id   resident       zero    swapped pt_nodes  vmas mode\n\
                 \x20      4          1          3          9        4     1 shared\n\
                 \x20      5          0          0          0        0     0 fork-cow\n";
        let s = parse_spaces(t).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (
                s[0].id,
                s[0].resident,
                s[0].zero,
                s[0].swapped,
                s[0].pt_nodes,
                s[0].vmas
            ),
            (4, 1, 3, 9, 4, 1)
        );
        assert_eq!(s[1].mode, "fork-cow");
        // The old layout (no swapped column) is refused, not misread.
        assert!(parse_spaces("id resident zero pt_nodes vmas mode\n1 1 1 1 1 shared\n").is_err());
    }
}

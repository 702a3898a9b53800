//! `pagearena top`: a live view of the arena (ratatui): frames by state,
//! the buddy allocator's free blocks per order, the slab caches, fault,
//! reclaim and swap rates as sparklines, and the spaces by size. `q` quits.
//! `--plain` (or a terminal ratatui cannot drive: not a terminal, `TERM`
//! dumb, no size) prints the same as refreshed text instead.

use crate::debugfs::{self, Slab, SpaceRow};
use crate::dev::Space;
use crate::uapi::PagearenaStats;
use ratatui::{
    layout::{Constraint, Direction, Layout, Rect},
    style::{Color, Style},
    text::Line,
    widgets::{Bar, BarChart, BarGroup, Block, Borders, Gauge, Row, Sparkline, Table},
    Frame,
};
use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// Samples kept for the sparklines.
const HISTORY: usize = 120;

/// One reading of everything `top` shows.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// The counters.
    pub stats: PagearenaStats,
    /// Free blocks per order.
    pub buddy: Vec<u64>,
    /// The slab caches.
    pub slabs: Vec<Slab>,
    /// The spaces.
    pub spaces: Vec<SpaceRow>,
}

impl Sample {
    /// Reads the arena: the STATS ioctl on `s` and the debugfs files.
    pub fn read(s: &Space) -> io::Result<Self> {
        Ok(Self {
            stats: s
                .stats()
                .map_err(|e| io::Error::new(e.kind(), format!("PAGEARENA_IOC_STATS: {e}")))?,
            buddy: debugfs::parse_buddyinfo(&debugfs::read("buddyinfo")?)?,
            slabs: debugfs::parse_slabinfo(&debugfs::read("slabinfo")?)?,
            spaces: debugfs::parse_spaces(&debugfs::read("spaces")?)?,
        })
    }
}

/// Rates between two samples, per second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// Faults.
    pub faults: f64,
    /// Major faults (swap-ins by faults).
    pub major: f64,
    /// Frames reclaimed (clean and dirty).
    pub reclaim: f64,
    /// Pages read from swap.
    pub swap_in: f64,
    /// Pages written to swap.
    pub swap_out: f64,
}

impl Rates {
    /// The rates `top` shows, from `stat`'s per-second rates of every event.
    fn between(a: &PagearenaStats, b: &PagearenaStats, secs: f64) -> Self {
        let all: std::collections::HashMap<_, _> =
            crate::stat::rates(a, b, secs).into_iter().collect();
        let r = |k: &str| all.get(k).copied().unwrap_or(0.0);
        Self {
            faults: r("pgfault"),
            major: r("pgmajfault"),
            reclaim: r("pgsteal_clean") + r("pgsteal_dirty"),
            swap_in: r("pswpin"),
            swap_out: r("pswpout"),
        }
    }
}

/// What `top` shows: the last sample and the rates before it.
#[derive(Default)]
pub struct Model {
    /// The last sample.
    pub now: Sample,
    /// Rates, oldest first.
    pub history: VecDeque<Rates>,
    /// Seconds between samples.
    pub interval: f64,
}

impl Model {
    /// Adds sample `s`, taken `secs` after the last.
    pub fn push(&mut self, s: Sample, secs: f64) {
        if self.now.stats.version != 0 {
            self.history
                .push_back(Rates::between(&self.now.stats, &s.stats, secs));
            if self.history.len() > HISTORY {
                self.history.pop_front();
            }
        }
        self.now = s;
    }

    fn last(&self) -> Rates {
        self.history.back().copied().unwrap_or_default()
    }

    /// Frames by state: (name, frames). Data frames are on the active or
    /// inactive list; the swap cache is the part of them with a slot.
    pub fn frame_states(&self) -> Vec<(&'static str, u64)> {
        let s = &self.now.stats;
        let known = s.nr_free + s.nr_active + s.nr_inactive + s.nr_pt_nodes + s.nr_slab_frames + 1;
        vec![
            ("free", s.nr_free),
            ("active", s.nr_active),
            ("inactive", s.nr_inactive),
            ("swap cache", s.nr_swapcache),
            ("page tables", s.nr_pt_nodes),
            ("slab", s.nr_slab_frames),
            ("zero frame", 1),
            ("in flight", s.nr_frames.saturating_sub(known)),
        ]
    }

    /// Spaces, largest (resident + swapped) first.
    pub fn spaces_by_size(&self) -> Vec<&SpaceRow> {
        let mut v: Vec<&SpaceRow> = self.now.spaces.iter().collect();
        v.sort_by_key(|s| std::cmp::Reverse((s.resident + s.swapped, s.id)));
        v
    }
}

fn title(m: &Model) -> String {
    let s = &m.now.stats;
    format!(
        " pagearena top: {} frames ({} MiB), {} spaces, swap {}/{} slots, every {}s, q quits ",
        s.nr_frames,
        (s.nr_frames * crate::dev::page_size() as u64) >> 20,
        s.nr_spaces,
        s.nr_swap_used,
        s.nr_swap_slots,
        m.interval
    )
}

/// Draws the whole view.
pub fn draw(f: &mut Frame<'_>, m: &Model) {
    let outer = Block::default().borders(Borders::ALL).title(title(m));
    let area = outer.inner(f.area());
    f.render_widget(outer, f.area());
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Min(4),
        ])
        .split(area);
    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
        .split(rows[0]);
    draw_frames(f, m, top[0]);
    draw_buddy(f, m, top[1]);
    draw_rates(f, m, rows[1]);
    let bottom = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
        .split(rows[2]);
    draw_slabs(f, m, bottom[0]);
    draw_spaces(f, m, bottom[1]);
}

fn draw_frames(f: &mut Frame<'_>, m: &Model, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" frames by state ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let states = m.frame_states();
    let total = m.now.stats.nr_frames.max(1);
    let lines = Layout::default()
        .direction(Direction::Vertical)
        .constraints(vec![Constraint::Length(1); states.len()])
        .split(inner);
    let colors = [
        Color::Green,
        Color::Red,
        Color::Yellow,
        Color::Magenta,
        Color::Blue,
        Color::Cyan,
        Color::Gray,
        Color::White,
    ];
    for (i, (name, n)) in states.iter().enumerate() {
        if i >= lines.len() {
            break;
        }
        let g = Gauge::default()
            .gauge_style(Style::default().fg(colors[i % colors.len()]))
            .ratio((*n as f64 / total as f64).clamp(0.0, 1.0))
            .label(format!("{name:<11} {n:>8}"));
        f.render_widget(g, lines[i]);
    }
}

fn draw_buddy(f: &mut Frame<'_>, m: &Model, area: Rect) {
    let bars: Vec<Bar<'_>> = m
        .now
        .buddy
        .iter()
        .enumerate()
        .map(|(o, &n)| Bar::default().label(Line::from(o.to_string())).value(n))
        .collect();
    let chart = BarChart::default()
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" buddy: free blocks per order "),
        )
        .data(BarGroup::default().bars(&bars))
        .bar_width(3)
        .bar_gap(1);
    f.render_widget(chart, area);
}

fn draw_rates(f: &mut Frame<'_>, m: &Model, area: Rect) {
    let now = m.last();
    type Get = fn(&Rates) -> f64;
    let series: [(&str, f64, Get); 4] = [
        ("faults/s", now.faults, |r| r.faults),
        ("reclaimed/s", now.reclaim, |r| r.reclaim),
        ("swap in/s", now.swap_in, |r| r.swap_in),
        ("swap out/s", now.swap_out, |r| r.swap_out),
    ];
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints(vec![Constraint::Length(3); series.len()])
        .split(area);
    for (i, (name, v, get)) in series.iter().enumerate() {
        let width = rows[i].width.saturating_sub(2) as usize;
        let skip = m.history.len().saturating_sub(width);
        let data: Vec<u64> = m.history.iter().skip(skip).map(|r| get(r) as u64).collect();
        let s = Sparkline::default()
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {name} {v:.0} ")),
            )
            .data(&data)
            .style(Style::default().fg(Color::Cyan));
        f.render_widget(s, rows[i]);
    }
}

fn draw_slabs(f: &mut Frame<'_>, m: &Model, area: Rect) {
    let rows = m.now.slabs.iter().map(|s| {
        Row::new(vec![
            s.name.clone(),
            format!("{}/{}", s.active_objs, s.num_objs),
            s.objsize.to_string(),
            (s.num_slabs * s.pagesperslab).to_string(),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(8),
        ],
    )
    .header(
        Row::new(vec!["cache", "objs", "size", "frames"]).style(Style::default().fg(Color::Yellow)),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(" slab caches "),
    );
    f.render_widget(t, area);
}

fn draw_spaces(f: &mut Frame<'_>, m: &Model, area: Rect) {
    let rows = m.spaces_by_size().into_iter().map(|s| {
        Row::new(vec![
            s.id.to_string(),
            s.resident.to_string(),
            s.swapped.to_string(),
            s.zero.to_string(),
            s.vmas.to_string(),
            s.mode.clone(),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new(vec!["id", "resident", "swapped", "zero", "vmas", "mode"])
            .style(Style::default().fg(Color::Yellow)),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(" spaces by size "),
    );
    f.render_widget(t, area);
}

/// The plain-text view.
pub fn plain(m: &Model) -> String {
    let mut s = format!("{}\n\nframes by state\n", title(m).trim());
    let total = m.now.stats.nr_frames.max(1);
    for (name, n) in m.frame_states() {
        let w = ((n as f64 / total as f64) * 40.0).round() as usize;
        s += &format!("  {name:<11} {n:>8}  {}\n", "#".repeat(w.min(40)));
    }
    s += "\nbuddy free blocks per order\n ";
    for (o, n) in m.now.buddy.iter().enumerate() {
        s += &format!(" {o}:{n}");
    }
    let r = m.last();
    s += &format!(
        "\n\nrates  faults/s {:.0}  major/s {:.0}  reclaimed/s {:.0}  swap in/s {:.0}  swap out/s {:.0}\n",
        r.faults, r.major, r.reclaim, r.swap_in, r.swap_out
    );
    s += "\nslab caches\n";
    for c in &m.now.slabs {
        s += &format!(
            "  {:<14} {:>6}/{:<6} objs of {:>5} bytes, {} frames\n",
            c.name,
            c.active_objs,
            c.num_objs,
            c.objsize,
            c.num_slabs * c.pagesperslab
        );
    }
    s += "\nspaces by size\n        id  resident   swapped      zero  vmas mode\n";
    for sp in m.spaces_by_size() {
        s += &format!(
            "  {:>8} {:>9} {:>9} {:>9} {:>5} {}\n",
            sp.id, sp.resident, sp.swapped, sp.zero, sp.vmas, sp.mode
        );
    }
    s
}

fn rgb(c: Color) -> (u8, u8, u8) {
    match c {
        Color::Red => (208, 69, 58),
        Color::Green => (76, 175, 80),
        Color::Yellow => (224, 176, 32),
        Color::Blue => (74, 123, 208),
        Color::Magenta => (176, 74, 176),
        Color::Cyan => (48, 168, 184),
        Color::Gray => (160, 160, 160),
        _ => (232, 232, 232),
    }
}

/// One frame of the terminal view, `w` x `h` cells, row by row.
pub fn cells(m: &Model, w: u16, h: u16) -> io::Result<Vec<crate::plot::Cell>> {
    use ratatui::{backend::TestBackend, Terminal};
    let mut t = Terminal::new(TestBackend::new(w, h))?;
    t.draw(|f| draw(f, m))?;
    let buf = t.backend().buffer().clone();
    let mut out = Vec::with_capacity(usize::from(w) * usize::from(h));
    for y in 0..h {
        for x in 0..w {
            let c = &buf[(x, y)];
            out.push(crate::plot::Cell {
                sym: c.symbol().to_string(),
                fg: rgb(c.fg),
                bg: (c.bg != Color::Reset).then(|| rgb(c.bg)),
            });
        }
    }
    Ok(out)
}

/// [`cells`] as an SVG picture.
pub fn svg(m: &Model, w: u16, h: u16) -> io::Result<String> {
    let (cw, ch) = (8.4, 17.0);
    let hex = |(r, g, b): (u8, u8, u8)| format!("#{r:02x}{g:02x}{b:02x}");
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" \
         font-family=\"DejaVu Sans Mono, monospace\" font-size=\"14\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#1e1e1e\"/>\n",
        f64::from(w) * cw,
        f64::from(h) * ch
    );
    for (i, c) in cells(m, w, h)?.iter().enumerate() {
        let (fx, fy) = (
            (i % usize::from(w)) as f64 * cw,
            (i / usize::from(w)) as f64 * ch,
        );
        if let Some(bg) = c.bg {
            out += &format!(
                "<rect x=\"{fx:.1}\" y=\"{fy:.1}\" width=\"{cw}\" height=\"{ch}\" fill=\"{}\"/>\n",
                hex(bg)
            );
        }
        if c.sym.trim().is_empty() {
            continue;
        }
        let esc = c
            .sym
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        out += &format!(
            "<text x=\"{fx:.1}\" y=\"{:.1}\" fill=\"{}\">{esc}</text>\n",
            fy + ch * 0.78,
            hex(c.fg)
        );
    }
    out += "</svg>\n";
    Ok(out)
}

/// Writes a picture of the view (120x40 cells) after `samples` (at least
/// 2) samples of `s`, `interval` apart, to `path`: SVG for `.svg`, PNG
/// otherwise.
pub fn snapshot(s: &Space, interval: f64, samples: u64, path: &std::path::Path) -> io::Result<()> {
    let mut m = Model {
        interval,
        ..Default::default()
    };
    m.push(Sample::read(s)?, interval);
    for _ in 1..samples.max(2) {
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(interval));
        m.push(Sample::read(s)?, t.elapsed().as_secs_f64());
    }
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "svg") {
        std::fs::write(path, svg(&m, 120, 40)?).map_err(named)
    } else {
        crate::plot::screen(path, 120, 40, &cells(&m, 120, 40)?).map_err(named)
    }
}

/// Whether ratatui can drive this terminal.
fn tui_ok() -> bool {
    io::stdout().is_terminal()
        && io::stdin().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| t != "dumb")
        && ratatui::crossterm::terminal::size().is_ok_and(|(w, h)| w >= 60 && h >= 24)
}

/// Runs `top` on `s`: every `interval` seconds, `count` times (or until
/// `q`), as a terminal UI or, with `plain` or a terminal it cannot drive, as
/// text.
pub fn run(s: &Space, interval: f64, count: Option<u64>, plain_text: bool) -> io::Result<()> {
    let mut m = Model {
        interval,
        ..Default::default()
    };
    let mut last = Instant::now();
    m.push(Sample::read(s)?, interval);
    if plain_text || !tui_ok() {
        let clear = io::stdout().is_terminal();
        let mut n = 0;
        loop {
            let mut out = io::stdout().lock();
            if clear {
                write!(out, "\x1b[H\x1b[2J")?;
            } else if n > 0 {
                writeln!(out, "----")?;
            }
            write!(out, "{}", plain(&m))?;
            out.flush()?;
            n += 1;
            if count.is_some_and(|c| n >= c) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_secs_f64(interval));
            let t = last.elapsed().as_secs_f64();
            last = Instant::now();
            m.push(Sample::read(s)?, t);
        }
    }
    let mut term = ratatui::init();
    let r = (|| -> io::Result<()> {
        use ratatui::crossterm::event::{self, Event, KeyCode};
        let mut n = 0;
        loop {
            term.draw(|f| draw(f, &m))?;
            n += 1;
            if count.is_some_and(|c| n >= c) {
                return Ok(());
            }
            let deadline = Instant::now() + Duration::from_secs_f64(interval);
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if event::poll(left)? {
                    if let Event::Key(k) = event::read()? {
                        if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                            return Ok(());
                        }
                    }
                }
            }
            let t = last.elapsed().as_secs_f64();
            last = Instant::now();
            m.push(Sample::read(s)?, t);
        }
    })();
    ratatui::restore();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::{backend::TestBackend, Terminal};

    fn model() -> Model {
        let mut m = Model {
            interval: 1.0,
            ..Default::default()
        };
        let stats = PagearenaStats {
            version: 5,
            nr_frames: 16384,
            nr_free: 10000,
            nr_active: 3000,
            nr_inactive: 3000,
            nr_swapcache: 77,
            nr_pt_nodes: 300,
            nr_slab_frames: 4,
            nr_spaces: 2,
            pgfault: 1000,
            ..Default::default()
        };
        let sample = Sample {
            stats,
            buddy: vec![1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 9],
            slabs: vec![Slab {
                name: "pa_space".into(),
                active_objs: 2,
                num_objs: 16,
                objsize: 256,
                objperslab: 16,
                pagesperslab: 1,
                active_slabs: 1,
                num_slabs: 1,
            }],
            spaces: vec![
                SpaceRow {
                    id: 7,
                    resident: 10,
                    zero: 0,
                    swapped: 0,
                    pt_nodes: 3,
                    vmas: 1,
                    mode: "shared".into(),
                },
                SpaceRow {
                    id: 9,
                    resident: 5000,
                    zero: 1,
                    swapped: 4321,
                    pt_nodes: 20,
                    vmas: 1,
                    mode: "fork-cow".into(),
                },
            ],
        };
        m.push(sample.clone(), 1.0);
        let mut later = sample;
        later.stats.pgfault = 3500;
        later.stats.pswpout = 200;
        m.push(later, 2.0);
        m
    }

    fn screen(m: &Model, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, m)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
            .collect()
    }

    #[test]
    fn rates_are_per_second_between_samples() {
        let m = model();
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.last().faults, 1250.0);
        assert_eq!(m.last().swap_out, 100.0);
    }

    #[test]
    fn frame_states_add_up_to_the_arena() {
        let m = model();
        let st = m.frame_states();
        let sum: u64 = st
            .iter()
            .filter(|(n, _)| *n != "swap cache")
            .map(|(_, v)| v)
            .sum();
        assert_eq!(sum, 16384);
        assert_eq!(st[3], ("swap cache", 77));
    }

    #[test]
    fn layout_shows_every_panel_and_the_biggest_space_first() {
        let s = screen(&model(), 120, 40);
        for want in [
            "frames by state",
            "free",
            "swap cache",
            "buddy: free blocks per order",
            "faults/s 1250",
            "swap out/s 100",
            "slab caches",
            "pa_space",
            "spaces by size",
            "fork-cow",
            "q quits",
        ] {
            assert!(s.contains(want), "{want:?} missing from:\n{s}");
        }
        let (big, small) = (s.find("4321").unwrap(), s.find("shared").unwrap());
        assert!(big < small, "space 9 (the biggest) must come first:\n{s}");
    }

    #[test]
    fn svg_picture_is_the_screen() {
        let s = svg(&model(), 120, 40).unwrap();
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        // Every cell is its own text element: the panel titles' letters are there.
        assert!(s.matches("<text").count() > 500);
        assert!(s.contains(">q</text>"));
    }

    #[test]
    fn png_picture_is_valid() {
        let p = std::env::temp_dir().join(format!("pagearena-top-{}.png", std::process::id()));
        crate::plot::screen(&p, 120, 40, &cells(&model(), 120, 40).unwrap()).unwrap();
        assert!(crate::plot::valid(&p).unwrap());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn plain_view_has_the_same_facts() {
        let p = plain(&model());
        for want in [
            "active",
            "3000",
            "0:1 1:2 2:3",
            "faults/s 1250",
            "pa_space",
            "4321",
        ] {
            assert!(p.contains(want), "{want:?} missing from:\n{p}");
        }
    }
}

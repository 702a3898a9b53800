//! Plots (plotters): PNG or SVG, by the file's extension.
//!
//! Text is drawn with DejaVu Sans (Debian's `fonts-dejavu-core`, installed
//! by `scripts/deps.sh`), read at the first plot.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const SIZE: (u32, u32) = (900, 560);

const MONO: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";

fn font() -> io::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        for (family, path) in [("sans-serif", FONT), ("monospace", MONO)] {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("{path}: {e} (install fonts-dejavu-core)"))?;
            plotters::style::register_font(family, FontStyle::Normal, Box::leak(bytes.into()))
                .map_err(|_| format!("{path}: not a font plotters can use"))?;
        }
        Ok(())
    })
    .clone()
    .map_err(io::Error::other)
}

/// One cell of a character screen: its text and colours.
#[derive(Clone, Debug)]
pub struct Cell {
    /// What the cell shows.
    pub sym: String,
    /// Text colour.
    pub fg: (u8, u8, u8),
    /// Background colour, if not the screen's.
    pub bg: Option<(u8, u8, u8)>,
}

/// Draws a character screen of `cols` x `rows` cells (row by row) as a PNG.
pub fn screen(path: &Path, cols: usize, rows: usize, cells: &[Cell]) -> io::Result<()> {
    font()?;
    let (cw, ch) = (9i32, 18i32);
    let size = ((cols as i32 * cw) as u32, (rows as i32 * ch) as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&RGBColor(30, 30, 30)).map_err(err)?;
    for (i, c) in cells.iter().enumerate().take(cols * rows) {
        let (x, y) = ((i % cols) as i32 * cw, (i / cols) as i32 * ch);
        if let Some((r, g, b)) = c.bg {
            root.draw(&Rectangle::new(
                [(x, y), (x + cw, y + ch)],
                RGBColor(r, g, b).filled(),
            ))
            .map_err(err)?;
        }
        if !c.sym.trim().is_empty() {
            let (r, g, b) = c.fg;
            let style = ("monospace", 15).into_font().color(&RGBColor(r, g, b));
            root.draw(&Text::new(c.sym.clone(), (x, y + 1), style))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("plot: {e}"))
}

/// A white chart on `root` with `title`, label areas `(x, y)` and ranges:
/// the start every plot shares (a macro: the backends' types differ).
macro_rules! chart {
    ($root:expr, $title:expr, ($xa:expr, $ya:expr), $xr:expr, $yr:expr) => {{
        $root.fill(&WHITE).map_err(|e| e.to_string())?;
        ChartBuilder::on($root)
            .caption($title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size($xa)
            .y_label_area_size($ya)
            .build_cartesian_2d($xr, $yr)
            .map_err(|e| e.to_string())?
    }};
}

/// Draws chart `c`'s legend.
macro_rules! legend {
    ($c:expr) => {
        $c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())
    };
}

/// A series of a line plot: its name and its points.
pub type Series = (String, Vec<(f64, f64)>);

/// Lines, one per series, with a legend.
pub fn lines(path: &Path, title: &str, x: &str, y: &str, series: &[Series]) -> io::Result<()> {
    let pts = series.iter().flat_map(|s| s.1.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 1.0f64);
    for &(a, b) in pts {
        (x0, x1, y1) = (x0.min(a), x1.max(a), y1.max(b));
    }
    if x0 >= x1 {
        (x0, x1) = (x0.min(0.0), x0.max(0.0) + 1.0);
    }
    macro_rules! draw {
        () => {
            |root: &DrawingArea<_, Shift>| -> Result<(), String> {
                let mut c = chart!(root, title, (40, 70), x0..x1, 0.0..y1 * 1.05);
                c.configure_mesh()
                    .x_desc(x)
                    .y_desc(y)
                    .x_label_formatter(&|v| format!("{v:.0}"))
                    .y_label_formatter(&|v| format!("{v:.0}"))
                    .label_style(("sans-serif", 14))
                    .draw()
                    .map_err(|e| e.to_string())?;
                for (i, (name, p)) in series.iter().enumerate() {
                    let color = Palette99::pick(i).to_rgba();
                    c.draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
                        .map_err(|e| e.to_string())?
                        .label(name.as_str())
                        .legend(move |(a, b)| {
                            PathElement::new(vec![(a, b), (a + 20, b)], color.stroke_width(2))
                        });
                    c.draw_series(p.iter().map(|&q| Circle::new(q, 3, color.filled())))
                        .map_err(|e| e.to_string())?;
                }
                legend!(c)
            }
        };
    }
    render_with(path, draw!(), draw!())
}

/// One group of a bar plot: its label and one value per bar name.
pub type Group = (String, Vec<f64>);

/// Grouped bars: per group, one bar per name in `bars` (e.g. arena, native).
pub fn bars(path: &Path, title: &str, y: &str, bars: &[&str], groups: &[Group]) -> io::Result<()> {
    let ymax = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .fold(1.0f64, f64::max);
    let n = groups.len().max(1);
    let per = bars.len().max(1);
    macro_rules! draw {
        () => {
            |root: &DrawingArea<_, Shift>| -> Result<(), String> {
                let mut c = chart!(root, title, (60, 80), 0.0..n as f64, 0.0..ymax * 1.1);
                c.configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n * 2 + 1)
                    .x_label_formatter(&|v| {
                        let i = v.floor() as usize;
                        if (v - i as f64 - 0.5).abs() < 0.01 && i < groups.len() {
                            groups[i].0.clone()
                        } else {
                            String::new()
                        }
                    })
                    .y_desc(y)
                    .y_label_formatter(&|v| format!("{v:.0}"))
                    .label_style(("sans-serif", 13))
                    .draw()
                    .map_err(|e| e.to_string())?;
                let w = 0.8 / per as f64;
                for (b, name) in bars.iter().enumerate() {
                    let color = Palette99::pick(b).to_rgba();
                    c.draw_series(groups.iter().enumerate().filter_map(|(i, g)| {
                        let v = *g.1.get(b)?;
                        let x = i as f64 + 0.1 + b as f64 * w;
                        Some(Rectangle::new(
                            [(x, 0.0), (x + w * 0.95, v)],
                            color.filled(),
                        ))
                    }))
                    .map_err(|e| e.to_string())?
                    .label(*name)
                    .legend(move |(a, b)| {
                        Rectangle::new([(a, b - 5), (a + 14, b + 5)], color.filled())
                    });
                }
                legend!(c)
            }
        };
    }
    render_with(path, draw!(), draw!())
}

fn render_with(
    path: &Path,
    svg: impl Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
    png: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> io::Result<()> {
    font()?;
    if path.extension().is_some_and(|e| e == "svg") {
        let root = SVGBackend::new(path, SIZE).into_drawing_area();
        svg(&root).map_err(err)?;
        root.present().map_err(err)
    } else {
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        png(&root).map_err(err)?;
        root.present().map_err(err)
    }
}

/// Whether `path` holds a plot: a PNG with its signature and a non-empty
/// image, or an SVG document with drawing in it.
pub fn valid(path: &Path) -> io::Result<bool> {
    let b = std::fs::read(path)?;
    Ok(if path.extension().is_some_and(|e| e == "svg") {
        let t = String::from_utf8_lossy(&b);
        t.contains("<svg") && t.trim_end().ends_with("</svg>") && t.contains("<text")
    } else {
        b.len() > 1000 && b.starts_with(b"\x89PNG\r\n\x1a\n") && b[12..16] == *b"IHDR"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_bar_plots_are_valid_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("pagearena-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = vec![
            ("lru".to_string(), vec![(1.0, 9.0), (2.0, 4.0), (3.0, 1.0)]),
            ("opt".to_string(), vec![(1.0, 5.0), (2.0, 2.0), (3.0, 0.0)]),
        ];
        let g = vec![("first touch".to_string(), vec![3.0, 1.5])];
        for ext in ["png", "svg"] {
            let l = dir.join(format!("l.{ext}"));
            lines(&l, "t", "x", "y", &s).unwrap();
            assert!(valid(&l).unwrap(), "{}", l.display());
            let b = dir.join(format!("b.{ext}"));
            bars(&b, "t", "y", &["arena", "native"], &g).unwrap();
            assert!(valid(&b).unwrap(), "{}", b.display());
        }
        std::fs::write(dir.join("x.png"), b"not a png").unwrap();
        assert!(!valid(&dir.join("x.png")).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

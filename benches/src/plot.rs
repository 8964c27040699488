//! The benches' pictures: SVG files drawn with `plotters` (its SVG backend
//! only, no font library: text is left to the viewer, as `<text>`).
//!
//! - [`pause_histogram`]: the pause bench's pauses per configuration, as
//!   outlines over log-spaced buckets (a quarter of an octave each), so
//!   several modes can share one picture.
//! - [`mmu_curves`]: minimum mutator utilisation against window size, one
//!   line per configuration, the window on a log axis.
//! - [`ratio_bars`]: grouped bars of ratios against a baseline (the
//!   throughput bench's wall time and peak RSS against `Box` + mimalloc),
//!   with the 1.0 line drawn.
//!
//! Each returns the error of the drawing library or the file as a string,
//! for the bench to print; a picture that cannot be drawn never fails a
//! run whose tables were printed.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// The workspace's root folder (the benches crate's parent).
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the benches crate sits in the workspace")
}

/// A `--plots DIR` argument as a folder: a relative path is taken from the
/// workspace's root, where the bench was most likely typed (`cargo bench`
/// runs the bench binary in the benches crate's folder).
///
/// ```
/// use std::path::Path;
/// let d = tricolor_benches::plot::resolve_dir("docs/img".into());
/// assert!(d.ends_with("docs/img") && d.is_absolute());
/// assert_eq!(tricolor_benches::plot::resolve_dir("/tmp/p".into()), Path::new("/tmp/p"));
/// ```
pub fn resolve_dir(dir: PathBuf) -> PathBuf {
    if dir.is_absolute() {
        dir
    } else {
        workspace_root().join(dir)
    }
}

/// Where the benches write their pictures unless told otherwise:
/// `$CARGO_TARGET_DIR/plots`, else the workspace's `target/plots`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plots"),
        None => workspace_root().join("target/plots"),
    }
}

/// Size of every picture, in pixels.
const SIZE: (u32, u32) = (760, 440);

/// Line colours, one per series, in order (a colour-blind-safe palette:
/// Okabe and Ito's).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// An axis value with no needless decimals: `1000`, `2.5`, `0.25`.
fn short(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Buckets per doubling in [`pause_histogram`].
const BUCKETS_PER_OCTAVE: f64 = 4.0;

/// The bucket of a pause of `ns` nanoseconds: `floor(log2(ns) * 4)`.
fn bucket(ns: u64) -> i64 {
    ((ns.max(1) as f64).log2() * BUCKETS_PER_OCTAVE).floor() as i64
}

/// The lower edge of bucket `b`, in µs.
fn bucket_edge_us(b: i64) -> f64 {
    (b as f64 / BUCKETS_PER_OCTAVE).exp2() / 1e3
}

/// Writes a histogram of pauses (`series`: a label and its pauses in ns)
/// to `path`: the share of each series' pauses per log-spaced bucket, as an
/// outline per series, the pause (µs) on a log axis.
///
/// ```
/// let dir = std::env::temp_dir().join("tricolor-plot-doc-hist");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("pauses.svg");
/// tricolor_benches::plot::pause_histogram(
///     &path,
///     "Pauses",
///     &[("satb".to_string(), vec![20_000, 25_000, 40_000])],
/// )
/// .unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
/// ```
pub fn pause_histogram(
    path: &Path,
    title: &str,
    series: &[(String, Vec<u64>)],
) -> Result<(), String> {
    let all = series.iter().flat_map(|(_, v)| v.iter().copied());
    let (lo, hi) = all.fold((i64::MAX, i64::MIN), |(lo, hi), ns| {
        (lo.min(bucket(ns)), hi.max(bucket(ns)))
    });
    if lo > hi {
        return Err("no pauses to draw".into());
    }
    // Outlines: per series, the share of its pauses in each bucket.
    let outlines: Vec<(&String, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(label, v)| {
            let mut counts = vec![0u64; (hi - lo + 1) as usize];
            for &ns in v {
                counts[(bucket(ns) - lo) as usize] += 1;
            }
            let n = v.len() as f64;
            let mut pts = vec![(bucket_edge_us(lo), 0.0)];
            for (i, &c) in counts.iter().enumerate() {
                let b = lo + i as i64;
                let share = c as f64 / n;
                pts.push((bucket_edge_us(b), share));
                pts.push((bucket_edge_us(b + 1), share));
            }
            pts.push((bucket_edge_us(hi + 1), 0.0));
            (label, pts)
        })
        .collect();
    let top = outlines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0f64, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (bucket_edge_us(lo)..bucket_edge_us(hi + 1)).log_scale(),
            0.0..(top * 1.1).max(0.01),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("pause (µs, log scale)")
        .x_label_formatter(&|v| short(*v))
        .y_desc("share of the pauses")
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .draw()
        .map_err(err)?;
    for (i, (label, pts)) in outlines.into_iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Writes minimum-mutator-utilisation curves (`series`: a label and its
/// `(window in ms, MMU in 0..=1)` points) to `path`, the window on a log
/// axis.
///
/// ```
/// let dir = std::env::temp_dir().join("tricolor-plot-doc-mmu");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("mmu.svg");
/// let curve = vec![(1.0, 0.5), (10.0, 0.9), (1000.0, 0.999)];
/// tricolor_benches::plot::mmu_curves(&path, "MMU", &[("hybrid".to_string(), curve)]).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("hybrid"));
/// ```
pub fn mmu_curves(
    path: &Path,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if lo > hi {
        return Err("no MMU points to draw".into());
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((lo..hi.max(lo * 1.01)).log_scale(), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("window (ms, log scale)")
        .x_label_formatter(&|v| short(*v))
        .y_desc("minimum mutator utilisation")
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .draw()
        .map_err(err)?;
    for (i, (label, pts)) in series.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// One group of [`ratio_bars`]: its name and one ratio per bar label
/// (`None` where that bar is missing).
pub type BarGroup = (String, Vec<Option<f64>>);

/// Writes grouped bars to `path`: for each group, one bar per entry of
/// `bars` with its ratio, labelled with the value, and a dashed line at
/// 1.0 (the baseline).
///
/// ```
/// let dir = std::env::temp_dir().join("tricolor-plot-doc-bars");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("bars.svg");
/// let groups = vec![("binary-trees wall".to_string(), vec![Some(2.5), Some(1.0), Some(0.4)])];
/// let bars = ["tricolor", "box+mimalloc", "arena"].map(String::from);
/// tricolor_benches::plot::ratio_bars(&path, "Against Box", "× Box + mimalloc", &bars, &groups).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("2.50"));
/// ```
pub fn ratio_bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    bars: &[String],
    groups: &[BarGroup],
) -> Result<(), String> {
    let top = groups
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(1.0f64, f64::max);
    let n = groups.len().max(1) as f64;
    let per = bars.len().max(1) as f64;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..n, 0.0..top * 1.15)
        .map_err(err)?;
    let names: Vec<String> = groups.iter().map(|(g, _)| g.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| {
            // Label the middle of each group only.
            let i = x.floor();
            if (x - i - 0.5).abs() < 1e-6 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    let width = 0.8 / per;
    for (b, label) in bars.iter().enumerate() {
        let c = colour(b);
        let rects: Vec<Rectangle<(f64, f64)>> = groups
            .iter()
            .enumerate()
            .filter_map(|(g, (_, v))| {
                let r = (*v.get(b)?)?;
                let x0 = g as f64 + 0.1 + b as f64 * width;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, r)],
                    c.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(rects)
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        let values: Vec<Text<'_, (f64, f64), String>> = groups
            .iter()
            .enumerate()
            .filter_map(|(g, (_, v))| {
                let r = (*v.get(b)?)?;
                let x = g as f64 + 0.1 + b as f64 * width;
                Some(Text::new(
                    format!("{r:.2}"),
                    (x, r + top * 0.03),
                    ("sans-serif", 11),
                ))
            })
            .collect();
        chart.draw_series(values).map_err(err)?;
    }
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, 1.0), (n, 1.0)],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_values_are_short() {
        assert_eq!(short(1000.0), "1000");
        assert_eq!(short(1.0), "1");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(short(0.25), "0.25");
    }

    #[test]
    fn buckets_are_quarter_octaves() {
        assert_eq!(bucket(1024), 40);
        assert_eq!(bucket(1023), 39);
        assert!((bucket_edge_us(40) - 1.024).abs() < 1e-9);
        assert!(bucket_edge_us(41) > 1.2 && bucket_edge_us(41) < 1.22);
    }

    #[test]
    fn empty_input_is_an_error_not_a_blank_picture() {
        let dir = std::env::temp_dir().join("tricolor-plot-test-empty");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(pause_histogram(&dir.join("h.svg"), "t", &[("a".into(), vec![])]).is_err());
        assert!(mmu_curves(&dir.join("m.svg"), "t", &[]).is_err());
    }
}

//! Pictures of the results, drawn server-side as SVG (plotters' SVG backend): no JavaScript
//! and no external assets, so a page or a file that holds them is self-contained. Each chart
//! carries a `<title>` and `<desc>` for screen readers, and is `None` when there is nothing
//! to draw.

use std::collections::BTreeSet;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::results::{Point, Scaling, SeriesPoint, SeriesState, TimedChange};
use crate::workload::{Backend, Spec, SyncMode};

/// Width and height of a chart, in pixels: two fit side by side at 1280 px.
const HALF: (u32, u32) = (590, 320);

/// Font of captions and labels.
const FONT: &str = "sans-serif";

/// Colour of the `i`th series, the same on every chart.
fn colour(i: usize) -> RGBAColor {
    Palette99::pick(i).to_rgba()
}

/// Throughput (lines per second at the median) by pool size, one colour per backend and sync
/// mode: the measured points (dots), the Universal Scalability Law curve fitted to them (line)
/// with its 95 % band (shaded), and the ideal of linear scaling from one worker (faint line).
pub fn scaling_svg(points: &[Point], scaling: &[Scaling]) -> Option<String> {
    let measured: Vec<(&Point, f64)> = points
        .iter()
        .filter_map(|p| {
            let median = p.median_seconds.filter(|m| *m > 0.0)?;
            Some((p, p.spec.lines as f64 / median))
        })
        .collect();
    if measured.is_empty() {
        return None;
    }
    let max_workers = measured
        .iter()
        .map(|(p, _)| f64::from(p.spec.workers))
        .fold(1.0, f64::max);
    let max_throughput = measured.iter().map(|(_, x)| *x).fold(0.0, f64::max);
    svg(
        HALF,
        "Throughput by pool size",
        "Median lines per second of each backend and sync mode's latest sweep against the \
         number of workers (dots), with the fitted Universal Scalability Law curve (line) and \
         its 95 % band (shaded), and the ideal of linear scaling from one worker (faint line).",
        |root| {
            let mut chart = ChartBuilder::on(root)
                .caption("Throughput by pool size", (FONT, 16))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d(0.5..max_workers + 0.5, 0.0..max_throughput * 1.25)?;
            chart
                .configure_mesh()
                .max_light_lines(1)
                .max_light_lines(1)
                .x_desc("workers")
                .y_desc("lines per second (median)")
                .y_label_formatter(&|v| format!("{v:.0}"))
                .draw()?;
            for (i, s) in scaling.iter().enumerate() {
                let colour = colour(i);
                let mine: Vec<(f64, f64)> = measured
                    .iter()
                    .filter(|(p, _)| p.spec.backend == s.backend && p.spec.sync == s.sync)
                    .map(|(p, x)| (f64::from(p.spec.workers), *x))
                    .collect();
                if let Ok(fit) = &s.fit {
                    let steps = (0..=60).map(|k| 1.0 + (max_workers - 1.0) * f64::from(k) / 60.0);
                    let upper = steps
                        .clone()
                        .map(|n| (n, fit.band(n).1.min(max_throughput * 1.25)));
                    let lower = steps.clone().rev().map(|n| (n, fit.band(n).0));
                    chart.draw_series([Polygon::new(
                        upper.chain(lower).collect::<Vec<_>>(),
                        colour.mix(0.12).filled(),
                    )])?;
                    let curve = steps.map(|n| (n, fit.throughput(n)));
                    chart.draw_series(LineSeries::new(curve, colour.stroke_width(2)))?;
                }
                chart
                    .draw_series(mine.iter().map(|&xy| Circle::new(xy, 5, colour.filled())))?
                    .label(format!("{}/{}", s.backend, s.sync))
                    .legend(move |(x, y)| Circle::new((x + 8, y), 5, colour.filled()));
                if let Some(&(_, one)) = mine.iter().find(|(w, _)| *w == 1.0) {
                    let ideal = [(1.0, one), (max_workers, one * max_workers)];
                    chart.draw_series(LineSeries::new(ideal, colour.mix(0.35).stroke_width(1)))?;
                }
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        },
    )
}

/// Speedup over one worker by pool size, with its 95 % bootstrap interval, against the ideal
/// (speedup equal to the number of workers).
pub fn speedup_svg(points: &[Point]) -> Option<String> {
    let groups = groups(points.iter().map(|p| p.spec));
    let estimated: Vec<(&Point, f64, f64, f64)> = points
        .iter()
        .filter_map(|p| {
            let s = p.speedup?;
            Some((p, s.lower, s.value, s.upper))
        })
        .collect();
    if estimated.is_empty() {
        return None;
    }
    let max_workers = points
        .iter()
        .map(|p| f64::from(p.spec.workers))
        .fold(1.0, f64::max);
    let top = estimated
        .iter()
        .map(|e| e.3)
        .fold(max_workers, f64::max)
        .min(max_workers * 2.0);
    svg(
        HALF,
        "Speedup over one worker",
        "Speedup of each pool size over one worker, with its 95 % bootstrap interval, against \
         the ideal speedup equal to the number of workers.",
        |root| {
            let mut chart = ChartBuilder::on(root)
                .caption("Speedup over one worker", (FONT, 16))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(50)
                .build_cartesian_2d(0.5..max_workers + 0.5, 0.0..top * 1.1)?;
            chart
                .configure_mesh()
                .max_light_lines(1)
                .max_light_lines(1)
                .x_desc("workers")
                .y_desc("speedup (x)")
                .draw()?;
            chart
                .draw_series(LineSeries::new(
                    [(1.0, 1.0), (max_workers, max_workers)],
                    BLACK.mix(0.5),
                ))?
                .label("ideal")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.5)));
            for (i, key) in groups.iter().enumerate() {
                let colour = colour(i);
                // Side by side within a pool size, so the intervals do not hide each other.
                let offset = (i as f64 - (groups.len() as f64 - 1.0) / 2.0) * 0.06;
                let mine: Vec<_> = estimated
                    .iter()
                    .filter(|e| (e.0.spec.backend, e.0.spec.sync) == *key)
                    .map(|e| (f64::from(e.0.spec.workers) + offset, e.1, e.2, e.3))
                    .collect();
                chart
                    .draw_series(mine.iter().map(|&(x, lower, value, upper)| {
                        ErrorBar::new_vertical(x, lower, value, upper, colour.stroke_width(2), 6)
                    }))?
                    .label(format!("{}/{}", key.0, key.1))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        },
    )
}

/// The per-sweep median duration of every pool size of one backend and sync mode over time,
/// change points marked (a triangle; red when the detectors call it a regression).
pub fn history_svg(
    backend: Backend,
    sync: SyncMode,
    series: &[(Spec, Vec<SeriesPoint>)],
    changes: &[(TimedChange, bool)],
) -> Option<String> {
    let mine: Vec<&(Spec, Vec<SeriesPoint>)> = series
        .iter()
        .filter(|(s, points)| s.backend == backend && s.sync == sync && !points.is_empty())
        .collect();
    let all = mine.iter().flat_map(|(_, points)| points);
    let (first, last) = all
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.time), b.max(p.time))
        });
    if mine.is_empty() {
        return None;
    }
    let slowest = all.map(|p| p.median_seconds).fold(0.0, f64::max);
    let span = (last - first).max(60.0);
    let title = format!("Median duration over time: {backend}/{sync}");
    let description = format!(
        "Median run duration of each sweep of backend {backend} with sync mode {sync}, one \
         line per pool size, with detected change points marked."
    );
    svg(HALF, &title, &description, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(first - span * 0.02..first + span * 1.02, 0.0..slowest * 1.2)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .x_labels(5)
            .x_label_formatter(&|t| clock(*t, span))
            .x_desc("time (UTC)")
            .y_desc("seconds (median)")
            .draw()?;
        for (i, (spec, points)) in mine.iter().enumerate() {
            let colour = colour(i);
            let line: Vec<(f64, f64)> = points.iter().map(|p| (p.time, p.median_seconds)).collect();
            chart
                .draw_series(LineSeries::new(line, colour.stroke_width(2)))?
                .label(format!(
                    "{} worker{}",
                    spec.workers,
                    if spec.workers == 1 { "" } else { "s" }
                ))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            for (change, regression) in changes.iter().filter(|(c, _)| c.spec == *spec) {
                let at = points.iter().find(|p| p.sweep_id == change.sweep_id);
                if let Some(p) = at {
                    let style = if *regression { RED } else { BLACK };
                    chart.draw_series([TriangleMarker::new(
                        (p.time, p.median_seconds),
                        7,
                        style.filled(),
                    )])?;
                }
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// Where each combination's latest run wrote its records: a heat map of the share of records
/// per CPU number, one row per combination.
pub fn placement_svg(series: &[SeriesState]) -> Option<String> {
    let rows: Vec<(String, &std::collections::BTreeMap<u32, u64>)> = series
        .iter()
        .filter_map(|s| {
            let output = &s.latest.as_ref()?.measurement.as_ref()?.output;
            (!output.cpu_records.is_empty()).then(|| {
                let spec = s.spec;
                (
                    format!("{}/{}/{}", spec.backend, spec.sync, spec.workers),
                    &output.cpu_records,
                )
            })
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let cpus: Vec<u32> = rows
        .iter()
        .flat_map(|(_, records)| records.keys().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let height = (90 + 22 * rows.len() as u32).max(200);
    let description = "Share of each combination's records written on each CPU number in its \
                       latest run; darker is more. Rows are backend/sync/workers.";
    svg(
        (HALF.0, height),
        "CPU placement of the latest runs",
        description,
        |root| {
            let mut chart = ChartBuilder::on(root)
                .caption("CPU placement of the latest runs", (FONT, 16))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(130)
                // Integer ranges are inclusive here: n cells are 0..n-1.
                .build_cartesian_2d(
                    (0..cpus.len() as u32 - 1).into_segmented(),
                    (0..rows.len() as u32 - 1).into_segmented(),
                )?;
            let label = |v: &SegmentValue<u32>, names: &dyn Fn(usize) -> String| match v {
                SegmentValue::CenterOf(i) => names(*i as usize),
                _ => String::new(),
            };
            chart
                .configure_mesh()
                .max_light_lines(1)
                .max_light_lines(1)
                .disable_mesh()
                .x_labels(cpus.len())
                .y_labels(rows.len())
                .x_label_formatter(&|v| {
                    label(v, &|i| cpus.get(i).map_or_else(String::new, u32::to_string))
                })
                .y_label_formatter(&|v| {
                    label(v, &|i| {
                        rows.get(i).map_or_else(String::new, |r| r.0.clone())
                    })
                })
                .x_desc("CPU number")
                .draw()?;
            for (r, (_, records)) in rows.iter().enumerate() {
                let total = records.values().sum::<u64>().max(1) as f64;
                for (c, cpu) in cpus.iter().enumerate() {
                    let share = records.get(cpu).copied().unwrap_or(0) as f64 / total;
                    let (c, r) = (c as u32, r as u32);
                    chart.draw_series([Rectangle::new(
                        [
                            (SegmentValue::Exact(c), SegmentValue::Exact(r)),
                            (SegmentValue::Exact(c + 1), SegmentValue::Exact(r + 1)),
                        ],
                        shade(share).filled(),
                    )])?;
                }
            }
            Ok(())
        },
    )
}

/// Share of lines out of order in each combination's latest run, one bar per backend and sync
/// mode at each pool size: the race the `none` sync mode shows and the others prevent.
pub fn disorder_svg(series: &[SeriesState]) -> Option<String> {
    let bars: Vec<(Spec, f64)> = series
        .iter()
        .filter_map(|s| {
            let m = s.latest.as_ref()?.measurement.as_ref()?;
            Some((
                s.spec,
                m.output.disorder as f64 / s.spec.lines.max(1) as f64,
            ))
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let groups = groups(bars.iter().map(|(s, _)| *s));
    let sizes: Vec<u32> = bars
        .iter()
        .map(|(s, _)| s.workers)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let highest = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(0.01);
    svg(
        HALF,
        "Disorder by sync mode",
        "Share of output lines out of order in each combination's latest run, one bar per \
         backend and sync mode at each pool size.",
        |root| {
            let mut chart = ChartBuilder::on(root)
                .caption("Disorder by sync mode", (FONT, 16))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..sizes.len() as f64, 0.0..highest * 100.0 * 1.15)?;
            chart
                .configure_mesh()
                .max_light_lines(1)
                .max_light_lines(1)
                .disable_x_mesh()
                .x_labels(sizes.len() * 2 + 1)
                .x_label_formatter(&|x| {
                    let centre = x - x.floor();
                    let at = x.floor() as usize;
                    match sizes.get(at) {
                        Some(n) if (centre - 0.5).abs() < 1e-6 => format!("{n} workers"),
                        _ => String::new(),
                    }
                })
                .y_desc("lines out of order (%)")
                .draw()?;
            let width = 0.8 / groups.len() as f64;
            for (i, key) in groups.iter().enumerate() {
                let colour = colour(i);
                let mine = bars.iter().filter(|(s, _)| (s.backend, s.sync) == *key);
                chart
                    .draw_series(mine.filter_map(|(s, share)| {
                        let at = sizes.iter().position(|n| *n == s.workers)? as f64;
                        let left = at + 0.1 + width * i as f64;
                        Some(Rectangle::new(
                            [(left, 0.0), (left + width * 0.9, share * 100.0)],
                            colour.filled(),
                        ))
                    }))?
                    .label(format!("{}/{}", key.0, key.1))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                    });
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        },
    )
}

/// The distinct (backend, sync) pairs of `specs`, in the order first seen.
pub fn groups(specs: impl Iterator<Item = Spec>) -> Vec<(Backend, SyncMode)> {
    let mut groups = Vec::new();
    for spec in specs {
        let key = (spec.backend, spec.sync);
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    groups
}

/// A colour from white (0) to dark blue (1).
fn shade(share: f64) -> RGBColor {
    let t = share.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * t).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0))
}

/// Unix time `t` as a UTC clock time: with seconds when the chart spans less than ten
/// minutes, with the date when it spans more than a day.
fn clock(t: f64, span: f64) -> String {
    let Ok(since) = std::time::Duration::try_from_secs_f64(t) else {
        return String::new();
    };
    let text = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + since).to_string();
    let range = if span > 86_400.0 {
        5..16
    } else if span < 600.0 {
        11..19
    } else {
        11..16
    };
    text.get(range).unwrap_or_default().to_owned()
}

/// Draws the series labels of `chart` at `position`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 12))
        .draw()
}

/// What drawing on an SVG gives.
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// An SVG of `size` drawn by `draw`, with `title` and `description` for screen readers;
/// `None` if the drawing failed.
fn svg<F>(size: (u32, u32), title: &str, description: &str, draw: F) -> Option<String>
where
    F: for<'b> FnOnce(&DrawingArea<SVGBackend<'b>, Shift>) -> Drawn,
{
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).ok()?;
        draw(&root).ok()?;
        root.present().ok()?;
    }
    // Name the picture: role and title right after the opening tag.
    let open = out.find('>')?;
    let head = format!(
        " role=\"img\"><title>{}</title><desc>{}</desc>",
        escape(title),
        escape(description)
    );
    out.replace_range(open..=open, &head);
    Some(out)
}

/// `text` with the characters XML gives meaning to replaced by entities.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests;

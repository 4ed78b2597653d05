//! The charts drawn from known points: what each holds, and what each says when empty.

use super::*;
use crate::record::fixtures::measured;
use crate::results::scaling;

fn point(workers: u32, seconds: f64) -> Point {
    let mut run = measured(workers, 1.0);
    run.measurement.as_mut().expect("m").duration_seconds = seconds;
    Point::of(run.spec, std::slice::from_ref(&run), &[], 0.1)
}

/// Whether `svg` is one whole, named picture holding `texts`.
fn check(svg: &str, texts: &[&str]) {
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    assert!(svg.contains("role=\"img\"><title>"), "named");
    for text in texts {
        assert!(svg.contains(text), "{text} missing from {svg}");
    }
}

#[test]
fn the_scaling_chart_has_its_series_axes_fit_and_band() {
    let points: Vec<Point> = (1..=5)
        .map(|n| point(n, 0.1 * (1.0 + 0.2 * f64::from(n - 1)) / f64::from(n)))
        .collect();
    let svg = scaling_svg(&points, &scaling(&points)).expect("chart");
    check(
        &svg,
        &[
            "Throughput by pool size",
            "workers",
            "lines per second",
            "thread/lock",
        ],
    );
    assert!(svg.matches("<circle").count() >= 5, "a marker per point");
    assert!(svg.contains("<polygon"), "the fit's band");
    assert!(
        svg.contains("<polyline") || svg.contains("<path"),
        "lines drawn"
    );
}

#[test]
fn nothing_measured_is_no_chart() {
    let mut failed = point(1, 0.1);
    failed.median_seconds = None;
    failed.speedup = None;
    assert_eq!(scaling_svg(std::slice::from_ref(&failed), &[]), None);
    assert_eq!(speedup_svg(&[failed]), None);
    assert_eq!(history_svg(Backend::Thread, SyncMode::Lock, &[], &[]), None);
    assert_eq!(placement_svg(&[]), None);
    assert_eq!(disorder_svg(&[]), None);
}

#[test]
fn the_history_marks_change_points_and_regressions() {
    let spec = measured(2, 1.0).spec;
    let points: Vec<SeriesPoint> = (0..30)
        .map(|i| SeriesPoint {
            sweep_id: i,
            time: 1.8e9 + 300.0 * i as f64,
            median_seconds: if i < 20 { 0.1 } else { 0.13 },
        })
        .collect();
    let change = TimedChange {
        spec,
        change: crate::analysis::changes::Change {
            index: 20,
            mean_before: 0.1,
            mean_after: 0.13,
            ratio: 1.3,
            pvalue: 1e-6,
            detector: crate::analysis::changes::Detector::Edivisive,
        },
        sweep_id: 20,
        time: points[20].time,
        causes: Vec::new(),
    };
    let svg = history_svg(
        spec.backend,
        spec.sync,
        &[(spec, points)],
        &[(change, true)],
    )
    .expect("chart");
    check(
        &svg,
        &[
            "Median duration over time: thread/lock",
            "2 workers",
            "time (UTC)",
        ],
    );
    assert!(svg.contains("#FF0000"), "the regression in red: {svg}");
}

#[test]
fn placement_and_disorder_draw_a_cell_and_a_bar_per_combination() {
    let states: Vec<SeriesState> = (1..=3)
        .map(|n| {
            let run = measured(n, 1.0);
            let spec = run.spec;
            SeriesState {
                spec,
                latest: Some(run),
                last_success_at: None,
                point: None,
                detection: None,
                tally: crate::results::counters::Tally::new(&spec),
            }
        })
        .collect();
    let placement = placement_svg(&states).expect("heat map");
    check(
        &placement,
        &["CPU placement", "CPU number", "thread/lock/3"],
    );
    let disorder = disorder_svg(&states).expect("bars");
    check(
        &disorder,
        &[
            "Disorder by sync mode",
            "2 workers",
            "lines out of order (%)",
        ],
    );
    assert!(disorder.matches("<rect").count() > 3, "{disorder}");
}

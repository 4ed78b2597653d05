//! Pictures of a sweep, drawn server-side as SVG (plotters' SVG backend): no JavaScript and
//! no external assets, so a page or a file that holds one is self-contained.

use plotters::prelude::*;

use crate::results::{Point, Scaling};

/// Width and height of a chart, in pixels.
const SIZE: (u32, u32) = (760, 420);

/// Throughput (lines per second at the median) by pool size, one colour per backend and sync
/// mode, with the Universal Scalability Law curve fitted to each (dashed) and the ideal of
/// linear scaling from one worker (dotted). Empty when no point has a median.
pub fn scaling_svg(points: &[Point], scaling: &[Scaling]) -> String {
    let measured: Vec<(&Point, f64)> = points
        .iter()
        .filter_map(|p| {
            let median = p.median_seconds.filter(|m| *m > 0.0)?;
            Some((p, p.spec.lines as f64 / median))
        })
        .collect();
    if measured.is_empty() {
        return String::new();
    }
    let max_workers = measured
        .iter()
        .map(|(p, _)| f64::from(p.spec.workers))
        .fold(1.0, f64::max);
    let max_throughput = measured.iter().map(|(_, x)| *x).fold(0.0, f64::max);
    let mut svg = String::new();
    let drawn = draw(&mut svg, &measured, scaling, max_workers, max_throughput);
    if drawn.is_err() {
        return String::new();
    }
    svg
}

fn draw(
    svg: &mut String,
    measured: &[(&Point, f64)],
    scaling: &[Scaling],
    max_workers: f64,
    max_throughput: f64,
) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(text)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Throughput by pool size", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5..max_workers + 0.5, 0.0..max_throughput * 1.25)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc("workers")
        .y_desc("lines per second (median)")
        .draw()
        .map_err(text)?;
    for (i, s) in scaling.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let mine: Vec<(f64, f64)> = measured
            .iter()
            .filter(|(p, _)| p.spec.backend == s.backend && p.spec.sync == s.sync)
            .map(|(p, x)| (f64::from(p.spec.workers), *x))
            .collect();
        let name = format!("{}/{}", s.backend, s.sync);
        chart
            .draw_series(LineSeries::new(mine.clone(), colour.stroke_width(2)))
            .map_err(text)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
        chart
            .draw_series(mine.iter().map(|&xy| Circle::new(xy, 4, colour.filled())))
            .map_err(text)?;
        if let Some(&(_, one)) = mine.iter().find(|(w, _)| *w == 1.0) {
            let ideal = [(1.0, one), (max_workers, one * max_workers)];
            chart
                .draw_series(DashedLineSeries::new(ideal, 2, 4, colour.mix(0.4).into()))
                .map_err(text)?;
        }
        if let Ok(fit) = &s.fit {
            let curve = (0..=60).map(|k| {
                let n = 1.0 + (max_workers - 1.0) * f64::from(k) / 60.0;
                (n, fit.throughput(n))
            });
            chart
                .draw_series(DashedLineSeries::new(curve, 8, 4, colour.stroke_width(1)))
                .map_err(text)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(text)?;
    root.present().map_err(text)?;
    Ok(())
}

/// An error of the drawing library, as text.
fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::scaling;
    use crate::run::fixtures::measured;

    fn point(workers: u32, seconds: f64) -> Point {
        let mut run = measured(workers, 1.0);
        run.measurement.as_mut().expect("m").duration_seconds = seconds;
        Point::of(run.spec, std::slice::from_ref(&run), &[], 0.1)
    }

    #[test]
    fn the_scaling_chart_has_its_series_axes_and_fit() {
        let points: Vec<Point> = (1..=5)
            .map(|n| point(n, 0.1 * (1.0 + 0.2 * f64::from(n - 1)) / f64::from(n)))
            .collect();
        let svg = scaling_svg(&points, &scaling(&points));
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        for text in [
            "Throughput by pool size",
            "workers",
            "lines per second",
            "thread/lock",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.matches("<circle").count() >= 5, "a marker per point");
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "lines drawn"
        );
    }

    #[test]
    fn no_measured_point_is_no_chart() {
        let mut failed = point(1, 0.1);
        failed.median_seconds = None;
        assert_eq!(scaling_svg(&[failed], &[]), "");
    }
}

//! The landing page: one self-contained HTML page (inline CSS and SVG, no JavaScript, no
//! external assets) that says at the top how the last sweep and the regression detection
//! went and which signal of the node's watch moved, then shows the scaling, the history, the
//! CPU placement and the disorder as charts, and the latest sweep and the change points as
//! tables.

use std::fmt::Write as _;

use super::chart::{self, escape};
use super::report::{self, HEADER};
use crate::analysis::attribution;
use crate::results::alerts::AlertState;
use crate::results::{Point, SeriesPoint, SeriesState, Snapshot, TimedChange};
use crate::workload::Spec;

/// Sweeps of each combination's history the page draws.
pub const HISTORY: usize = 100;

/// Change points listed in the page's table.
const MAX_CHANGES: usize = 50;

/// The page's style: readable at 1280 px, two charts a row on wide screens, one on narrow.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#f6f7f9}\
main{max-width:1240px;margin:0 auto;padding:16px}\
h1{font-size:1.5rem;margin:.2em 0}h2{font-size:1.2rem;margin:1.4em 0 .5em}\
nav a{margin-right:1em}\
.status{display:grid;grid-template-columns:1fr 1fr;gap:12px}\
.card{background:#fff;border-left:6px solid #888;padding:8px 12px}\
.card h2{margin:.2em 0;font-size:1rem}.card p{margin:.3em 0}\
.ok{border-color:#1a7f37}.warn{border-color:#bf8700}.bad{border-color:#cf222e}.idle{border-color:#888}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:12px}\
figure{margin:0;background:#fff;padding:4px}figure svg{width:100%;height:auto}\
.placeholder{background:#fff;padding:24px;color:#555}\
table{border-collapse:collapse;background:#fff;font-size:.85rem}\
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eef}\
td:nth-child(-n+2),td:last-child{text-align:left}\
.scroll{overflow-x:auto}";

/// The landing page of `snapshot`, with each combination's recent per-sweep medians from
/// `histories`; `now` (Unix seconds) dates the status.
pub fn landing_page(
    snapshot: &Snapshot,
    histories: &[(Spec, Vec<SeriesPoint>)],
    now: f64,
) -> String {
    let series = &snapshot.series;
    let changes = changes(series);
    let mut html = String::with_capacity(64 * 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>copybench_exporter</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head><body><main>\
         <h1>copybench_exporter</h1><nav><a href=\"metrics\">Metrics</a>\
         <a href=\"api/v1/runs\">Recent runs (JSON)</a>\
         <a href=\"api/v1/changes\">Change points (JSON)</a>\
         <a href=\"probe?backend=thread&amp;sync=none&amp;workers=2&amp;lines=1000\">Probe example</a>\
         <a href=\"-/healthy\">Health</a><a href=\"-/ready\">Readiness</a>\
         <span>version {}</span></nav>\
         <section class=\"status\" aria-label=\"Status\">{}{}{}</section>",
        env!("CARGO_PKG_VERSION"),
        sweep_card(snapshot, now),
        detection_card(series, &changes),
        watch_card(&snapshot.alerts),
    );
    scaling_section(&mut html, snapshot);
    html.push_str("<h2>Duration history</h2><div class=\"charts\">");
    for (backend, sync) in chart::groups(series.iter().map(|s| s.spec)) {
        figure(
            &mut html,
            chart::history_svg(backend, sync, histories, &changes),
            &format!("{backend}/{sync}: no finished sweep yet."),
        );
    }
    html.push_str("</div><h2>Placement and disorder</h2><div class=\"charts\">");
    figure(
        &mut html,
        chart::placement_svg(series),
        "No CPU placement yet: no run has completed.",
    );
    figure(
        &mut html,
        chart::disorder_svg(series),
        "No disorder yet: no run has completed.",
    );
    html.push_str("</div>");
    sweep_table(&mut html, series);
    html.push_str("<h2>Change points</h2>");
    change_table(&mut html, &changes);
    html.push_str("</main></body></html>\n");
    html
}

/// The throughput and speedup charts and the fits in words.
fn scaling_section(html: &mut String, snapshot: &Snapshot) {
    let points: Vec<Point> = snapshot
        .series
        .iter()
        .filter_map(|s| s.point.clone())
        .collect();
    html.push_str("<h2>Scaling</h2><div class=\"charts\">");
    figure(
        html,
        chart::scaling_svg(&points, &snapshot.scaling),
        "No measured point yet: throughput by pool size is drawn after the first sweep.",
    );
    figure(
        html,
        chart::speedup_svg(&points),
        "No speedup yet: it needs a sweep with a 1-worker combination.",
    );
    html.push_str("</div><ul>");
    for fit in &snapshot.scaling {
        let _ = write!(html, "<li>{}</li>", escape(&report::scaling_line(fit)));
    }
    html.push_str("</ul>");
}

/// The latest sweep's table, with the same cells as the `run` command's.
fn sweep_table(html: &mut String, series: &[SeriesState]) {
    html.push_str("<h2>Latest sweep</h2><div class=\"scroll\"><table><tr>");
    for h in HEADER {
        let _ = write!(html, "<th scope=\"col\">{h}</th>");
    }
    html.push_str("</tr>");
    for state in series {
        html.push_str("<tr>");
        for cell in report::row(&state.spec, state.point.as_ref(), state.latest.as_ref()) {
            let _ = write!(html, "<td>{}</td>", escape(&cell));
        }
        html.push_str("</tr>");
    }
    html.push_str(
        "</table></div><p>Statistics cover each combination's runs in its latest finished \
         sweep; the output columns and status, its newest run.</p>",
    );
}

/// Every change point of `series`, newest first, each with whether it is the regression of
/// its combination.
fn changes(series: &[SeriesState]) -> Vec<(TimedChange, bool)> {
    let mut changes: Vec<(TimedChange, bool)> = series
        .iter()
        .filter_map(|s| s.detection.as_ref())
        .flat_map(|d| {
            d.changes.iter().map(move |c| {
                let regression = d.regression.as_ref();
                let is = regression.is_some_and(|r| r.change.index == c.change.index);
                (c.clone(), is)
            })
        })
        .collect();
    changes.sort_by(|a, b| b.0.time.total_cmp(&a.0.time));
    changes
}

/// The status of the last sweep: when the newest run ended, how many combinations are ok.
fn sweep_card(snapshot: &Snapshot, now: f64) -> String {
    let latest: Vec<_> = snapshot
        .series
        .iter()
        .filter_map(|s| s.latest.as_ref())
        .collect();
    let Some(newest) = latest.iter().map(|r| r.finished_at).reduce(f64::max) else {
        return card(
            "idle",
            "Last sweep",
            "<p>Not run yet: no combination has run. The first sweep starts at start-up \
             (<code>[schedule] run_at_start</code>) or after the interval.</p>",
        );
    };
    let failed: Vec<String> = snapshot
        .series
        .iter()
        .filter_map(|s| {
            let f = s.latest.as_ref()?.failure.as_ref()?;
            Some(format!(
                "{}/{}/{}: {}",
                s.spec.backend, s.spec.sync, s.spec.workers, f.reason
            ))
        })
        .collect();
    let quality = |f: fn(&Point) -> bool| {
        snapshot
            .series
            .iter()
            .filter(|s| s.point.as_ref().is_some_and(f))
            .count()
    };
    let (noisy, throttled) = (quality(|p| p.noisy), quality(|p| p.throttled_runs > 0));
    let class = if failed.len() == latest.len() {
        "bad"
    } else if !failed.is_empty() || noisy + throttled > 0 {
        "warn"
    } else {
        "ok"
    };
    let mut body = format!(
        "<p>Newest run ended {} ({} ago). {} of {} combinations ran; {} ok, {} failed.</p>",
        clock(newest),
        humantime::format_duration(std::time::Duration::from_secs(
            (now - newest).max(0.0) as u64
        )),
        latest.len(),
        snapshot.series.len(),
        latest.len() - failed.len(),
        failed.len(),
    );
    if !failed.is_empty() {
        let _ = write!(body, "<p>Failed: {}.</p>", escape(&failed.join(", ")));
    }
    if noisy + throttled > 0 {
        let _ = write!(
            body,
            "<p>{noisy} noisy (CV above <code>max_cv</code>), {throttled} throttled by the CPU \
             quota: read those numbers with care.</p>"
        );
    }
    if let Some(seconds) = snapshot.totals.last_sweep_seconds {
        let _ = write!(
            body,
            "<p>Sweeps completed since start: {}; the last took {seconds:.1} s.</p>",
            snapshot.totals.sweeps_completed
        );
    }
    card(class, "Last sweep", &body)
}

/// The status of regression detection: regressions first, or how many combinations are clear.
fn detection_card(series: &[SeriesState], changes: &[(TimedChange, bool)]) -> String {
    // Combinations the detectors have looked at a sweep of.
    let checked = series
        .iter()
        .filter(|s| s.detection.is_some() && s.point.is_some())
        .count();
    if checked == 0 {
        return card(
            "idle",
            "Regression detection",
            "<p>Not run yet: the detectors run after each finished sweep.</p>",
        );
    }
    let regressions: Vec<String> = series
        .iter()
        .filter_map(|s| {
            let r = s.detection.as_ref()?.regression.as_ref()?;
            Some(format!(
                "<li><strong>{}/{}/{}</strong> {:.1} % slower since sweep {} ({})</li>",
                s.spec.backend,
                s.spec.sync,
                s.spec.workers,
                (r.change.ratio - 1.0) * 100.0,
                r.sweep_id,
                clock(r.time)
            ))
        })
        .collect();
    if regressions.is_empty() {
        card(
            "ok",
            "Regression detection",
            &format!(
                "<p>No regression in {checked} combinations; {} change points in their recent \
                 history.</p>",
                changes.len()
            ),
        )
    } else {
        card(
            "bad",
            "Regression detection",
            &format!(
                "<p>{} REGRESSION(S):</p><ul>{}</ul>",
                regressions.len(),
                regressions.concat()
            ),
        )
    }
}

/// Which signal of the node's watch moved: the alerts firing, or that none is.
fn watch_card(state: &AlertState) -> String {
    let transients: u64 = state.transients.values().sum();
    let contended = if state.contended {
        " The latest sweep was contended by other tasks; the detectors skipped it."
    } else {
        ""
    };
    let (class, firing) = if state.firing.is_empty() {
        (
            "ok",
            "<p>No host, workload, scaling or contention alert.</p>".to_owned(),
        )
    } else {
        let items: String = (state.firing.iter())
            .map(|span| format!("<li>{}</li>", escape(&report::alert_line(span))))
            .collect();
        let count = state.firing.len();
        ("bad", format!("<p>{count} ALERT(S):</p><ul>{items}</ul>"))
    };
    let notes: String = (report::watch_lines(state).iter())
        .map(|line| format!("<p>{}</p>", escape(line)))
        .collect();
    let body = format!(
        "{firing}<p>{transients} changes went away before they alerted.{contended}</p>{notes}"
    );
    card(class, "Host, workload, scaling", &body)
}

/// A status card of `class` (ok, warn, bad, idle) with `title` and the HTML `body`.
fn card(class: &str, title: &str, body: &str) -> String {
    format!("<div class=\"card {class}\"><h2>{title}</h2>{body}</div>")
}

/// Appends `svg` as a figure, or `placeholder` when there is none.
fn figure(html: &mut String, svg: Option<String>, placeholder: &str) {
    match svg {
        Some(svg) => {
            let _ = write!(html, "<figure>{svg}</figure>");
        }
        None => {
            let _ = write!(html, "<p class=\"placeholder\">{}</p>", escape(placeholder));
        }
    }
}

/// The table of the newest change points.
fn change_table(html: &mut String, changes: &[(TimedChange, bool)]) {
    if changes.is_empty() {
        html.push_str("<p>No change points yet.</p>");
        return;
    }
    html.push_str(
        "<div class=\"scroll\"><table><tr><th>backend</th><th>sync</th><th>workers</th>\
         <th>sweep</th><th>time</th><th>after/before</th><th>p-value</th><th>detector</th>\
         <th>verdict</th><th>what changed on the node</th></tr>",
    );
    for (c, regression) in changes.iter().take(MAX_CHANGES) {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}x</td>\
             <td>{:.1e}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
            c.spec.backend,
            c.spec.sync,
            c.spec.workers,
            c.sweep_id,
            clock(c.time),
            c.change.ratio,
            c.change.pvalue,
            c.change.detector,
            if *regression { "REGRESSION" } else { "" },
            escape(&attribution::describe(&c.causes))
        );
    }
    html.push_str("</table></div>");
}

/// Unix time `t` as "YYYY-MM-DD HH:MM:SS UTC".
fn clock(t: f64) -> String {
    std::time::Duration::try_from_secs_f64(t).map_or_else(
        |_| "-".to_owned(),
        |t| {
            let text = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + t).to_string();
            format!("{} UTC", text.trim_end_matches('Z').replacen('T', " ", 1))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::attribution::{Cause, Evidence};
    use crate::analysis::changes::{Change, Detector};
    use crate::analysis::watch::Signal;
    use crate::record::fixtures::measured;
    use crate::record::{FailureReason, RunRecord};
    use crate::results::Detection;
    use crate::results::alerts::AlertSpan;
    use crate::results::counters::{Tally, Totals};
    use crate::workload::{Backend, SyncMode};

    fn state(spec: Spec, point: Option<Point>, latest: Option<RunRecord>) -> SeriesState {
        SeriesState {
            spec,
            latest,
            last_success_at: None,
            point,
            detection: None,
            tally: Tally::new(&spec),
        }
    }

    fn snapshot(series: Vec<SeriesState>) -> Snapshot {
        let scaling = crate::results::scaling(series.iter().filter_map(|s| s.point.as_ref()));
        Snapshot {
            series,
            totals: Totals {
                sweeps_completed: 1,
                last_sweep_seconds: Some(12.0),
                ..Totals::default()
            },
            scaling,
            alerts: Default::default(),
            host: None,
        }
    }

    fn run(spec: Spec, seconds: f64) -> RunRecord {
        let mut run = measured(spec.workers, 1.8e9);
        run.spec = spec;
        run.measurement.as_mut().expect("m").duration_seconds = seconds;
        run
    }

    /// Every combination of the default workload, measured, with 100 sweeps of history and
    /// a regression in one of them.
    fn full() -> (Snapshot, Vec<(Spec, Vec<SeriesPoint>)>) {
        let mut series = Vec::new();
        let mut histories = Vec::new();
        for backend in Backend::ALL {
            for sync in SyncMode::ALL {
                let specs: Vec<Spec> = (1..=4)
                    .map(|workers| Spec {
                        backend: *backend,
                        sync: *sync,
                        workers,
                        lines: 5000,
                        reread: true,
                    })
                    .collect();
                let runs: Vec<Vec<RunRecord>> = specs
                    .iter()
                    .map(|s| {
                        let base =
                            0.2 * (1.0 + 0.3 * f64::from(s.workers - 1)) / f64::from(s.workers);
                        [1.0, 1.02, 0.98, 1.01, 0.99]
                            .map(|k| run(*s, base * k))
                            .to_vec()
                    })
                    .collect();
                for (spec, mine) in specs.iter().zip(&runs) {
                    let point = Point::of(*spec, mine, &runs[0], 0.1);
                    let mut s = state(*spec, Some(point), mine.last().cloned());
                    let history: Vec<SeriesPoint> = (0..HISTORY as i64)
                        .map(|i| SeriesPoint {
                            sweep_id: i,
                            time: 1.8e9 - 300.0 * (HISTORY as f64 - i as f64),
                            median_seconds: 0.1 * (1.0 + 0.01 * ((i * 7919) % 11) as f64),
                        })
                        .collect();
                    let change = TimedChange {
                        spec: *spec,
                        change: Change {
                            index: 80,
                            mean_before: 0.1,
                            mean_after: 0.12,
                            ratio: 1.2,
                            pvalue: 1e-6,
                            detector: Detector::Edivisive,
                        },
                        sweep_id: 80,
                        time: history[80].time,
                        causes: vec![Cause {
                            name: "cpuset",
                            evidence: Evidence::Fact {
                                before: "0-3".into(),
                                after: "0".into(),
                                time: history[80].time,
                            },
                        }],
                    };
                    s.detection = Some(Detection {
                        regression: (spec.workers == 2 && *sync == SyncMode::None)
                            .then(|| change.clone()),
                        changes: vec![change],
                    });
                    series.push(s);
                    histories.push((*spec, history));
                }
            }
        }
        (snapshot(series), histories)
    }

    #[test]
    fn a_full_page_has_every_chart_the_status_and_stays_under_200_kb() {
        let (mut snapshot, histories) = full();
        snapshot.alerts.firing.push(AlertSpan {
            signal: Signal::Workload(((Backend::Process, SyncMode::None), 2)),
            started_at: 1.8e9,
            ended_at: None,
            ratio: Some(1.2),
            causes: vec![Cause {
                name: "cpu_pressure_share",
                evidence: Evidence::Context {
                    before: 0.01,
                    after: 0.4,
                },
            }],
        });
        snapshot.alerts.contended = true;
        let key = ((Backend::Process, SyncMode::Ordered), 1);
        snapshot.alerts.sensitivity = [(Signal::Workload(key), 0.45)].into();
        snapshot.alerts.warming = vec![Signal::Workload(key)];
        let page = landing_page(&snapshot, &histories, 1.8e9 + 60.0);
        assert!(page.len() < 200 * 1024, "{} bytes", page.len());
        assert_eq!(
            page.matches("<svg").count(),
            2 + 6 + 2,
            "scaling, speedup, 6 histories, placement, disorder"
        );
        assert_eq!(
            page.matches("<title>").count(),
            1 + 10,
            "every chart is named"
        );
        assert!(
            page.contains("card ok\"><h2>Last sweep") && page.contains("(1m ago)"),
            "{page}"
        );
        assert!(page.contains("card bad\"><h2>Regression detection"));
        assert!(page.contains("<strong>process/none/2</strong> 20.0 % slower since sweep 80"));
        assert!(
            page.contains("REGRESSION</td><td>cpuset 0-3 -&gt; 0</td>"),
            "{page}"
        );
        // Which signal moved.
        assert!(
            page.contains("card bad\"><h2>Host, workload, scaling"),
            "{page}"
        );
        assert!(page.contains("<li>workload process/none workers=2  2027-01-15T08:00:00Z -&gt; firing  ratio 1.200  on the node: cpu_pressure_share 0.0100 -&gt; 0.400</li>"), "{page}");
        assert!(page.contains("The latest sweep was contended") && page.contains("alert yet: 1."));
        assert!(page.contains("on 0 of 1 series; the least sensitive (process/ordered workers=1 workload) finds one of 45 %"), "{page}");
        assert!(!page.contains("<script"), "no JavaScript");
        assert!(
            !page.contains("src=\"http") && !page.contains("href=\"http"),
            "no external asset"
        );
    }

    #[test]
    fn before_the_first_sweep_every_part_says_not_run_yet() {
        let spec = measured(1, 0.0).spec;
        let mut unrun = state(spec, None, None);
        unrun.detection = Some(Detection::default());
        let page = landing_page(&snapshot(vec![unrun]), &[], 1.8e9);
        assert!(
            page.contains("card idle\"><h2>Last sweep</h2><p>Not run yet"),
            "{page}"
        );
        assert!(page.contains("card idle\"><h2>Regression detection</h2><p>Not run yet"));
        assert_eq!(page.matches("<svg").count(), 0);
        assert_eq!(page.matches("class=\"placeholder\"").count(), 5, "{page}");
        assert!(page.contains("not run yet</td>"));
    }

    #[test]
    fn after_an_all_failed_sweep_the_page_says_why() {
        let specs: Vec<Spec> = (1..=2).map(|n| measured(n, 0.0).spec).collect();
        let series = specs
            .iter()
            .map(|s| {
                let mut failed =
                    RunRecord::failed(s, 1.8e9, FailureReason::Io, "disk <full>".to_owned());
                failed.finished_at = 1.8e9;
                state(
                    *s,
                    Some(Point::of(*s, std::slice::from_ref(&failed), &[], 0.1)),
                    Some(failed),
                )
            })
            .collect();
        let page = landing_page(&snapshot(series), &[], 1.8e9 + 5.0);
        assert!(page.contains("card bad\"><h2>Last sweep"), "{page}");
        assert!(page.contains("0 ok, 2 failed") && page.contains("thread/lock/1: io"));
        assert!(page.contains("FAILED (io): disk &lt;full&gt;"));
        assert_eq!(page.matches("<svg").count(), 0);
    }

    #[test]
    fn the_page_and_the_table_show_the_same_cells() {
        let runs: Vec<RunRecord> = [2.0, 2.1, 1.9]
            .map(|s| run(measured(2, 0.0).spec, s))
            .to_vec();
        let point = Point::of(runs[0].spec, &runs, &runs, 0.1);
        let cells = report::row(&point.spec, Some(&point), runs.last());
        let page = landing_page(
            &snapshot(vec![state(point.spec, Some(point), runs.last().cloned())]),
            &[],
            1.8e9,
        );
        let row: String = cells
            .iter()
            .map(|c| format!("<td>{}</td>", escape(c)))
            .collect();
        assert!(page.contains(&row), "{row} not in {page}");
    }
}

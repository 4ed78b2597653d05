//! How trustworthy the node's alerts are ([`Watch`]: host, workload and scaling signals,
//! CUSUM detectors with thresholds for autocorrelated noise, persistence, contention), on data
//! with a known answer:
//!
//! - **Real noise at the daemon's cadence**, each recording in `tests/fixtures/cadence/`
//!   (one folder a machine: the daemon's own sweeps 45 s apart on a shared VM, with a
//!   busy-loop neighbour and a CPU quota at known times) through the same cases. First the
//!   recording replayed as it is: every event raised. Then block-bootstrap sequences of its
//!   sweeps outside the caused events (blocks of 8 sweeps, so the noise keeps its memory
//!   and every sweep keeps its runs together): false alerts per 1,000 sweeps **per node**
//!   (all signals together, after persistence); and shifts injected after 400 sweeps, into
//!   one combination's runs (+5, +10, +20 %) or into every run (host-wide): the share found
//!   within 5 and 10 sweeps, the median delay in sweeps and in minutes, and for a host-wide
//!   shift how many workload or scaling alerts it raised besides the host alert. The
//!   sequences are watched on the daemon's timeline, a scheduled sweep every 300 s (the
//!   default interval: the persistence in minutes and the contention window count in it):
//!   every k-th recorded sweep is a scheduled one (k = 300 s over the recording's cadence,
//!   one stretch per phase), so the noise keeps the memory it has from one scheduled sweep to
//!   the next and an episode of the host lasts as many minutes as it did. As the daemon does,
//!   a suspected change gets up to 3 confirmation sweeps, kept to the
//!   single-worker and suspected combinations: the sweeps recorded right after the scheduled
//!   one (a cadence apart: the daemon runs them `confirm_interval` apart), each its result a
//!   minute and a sweep's duration per run it made after the sweep before. A recording whose
//!   sweeps were each followed by a burst of rounds (`BURST_ROUNDS`) also measures
//!   confirmations run at once instead: the burst's next rounds.
//! - **Per series**, one detector alone: synthetic AR(1) noise with the memory and spread of
//!   the recordings' workload signals, independent noise at CV 3, 5 and 10 % (to compare
//!   with `cargo bench --bench changepoints`), and the older back-to-back recordings
//!   (`tests/fixtures/noise-*.csv`).
//! - **Ablation** on the real noise, every row on the same draws: what each part adds
//!   (normalization by the sweep's single-worker runs, thresholds for the measured memory,
//!   skipping contended sweeps, persistence, a ratio's combination itself slower,
//!   confirmation sweeps).
//!
//! First, why the host reference is the workload itself at one thread: across the calm sweeps
//! (no caused event, no build beside them) the correlation of each combination's fastest run
//! with the same sweep's reference, and, in a recording made while sweeps still began with
//! it, with the fixed 1,000-line calibration. The recorded combinations hold the reference
//! (thread/none/1), so the other 17 have workload series.
//!
//! `cargo bench --bench alerts` (COPYBENCH_BENCH_TRIALS sequences per case, default 200;
//! COPYBENCH_BENCH_SYNC, e.g. `none,ordered`, keeps only the runs of those sync modes, to
//! measure a configuration with fewer combinations on the same recordings;
//! COPYBENCH_BENCH_RECORDINGS, e.g. `xeon-2`, measures only those recordings;
//! COPYBENCH_BENCH_BRIEF=1 stops at each recording's false alerts and detection table;
//! COPYBENCH_BENCH_MAX_CONTENTION, COPYBENCH_BENCH_ALERT_AFTER and
//! COPYBENCH_BENCH_HOST_ALERT_AFTER (seconds) and COPYBENCH_BENCH_CONFIRM_FROM set
//! `[analysis] max_contention`, `alert_after`, `host_alert_after` and `confirm_from` of the
//! daemon's detectors).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use copybench_exporter::analysis::cusum::{self, Detector, Event};
use copybench_exporter::analysis::signals::{
    Key, Run, Signals, full_width, of_sweep, paired_rounds,
};
use copybench_exporter::analysis::stats::median;
use copybench_exporter::analysis::threshold::{long_run_ratio, phi_eff};
use copybench_exporter::analysis::watch::{Alert, Settings, Signal, Watch};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ContinuousCDF, Normal};

mod recording;

/// The recordings at cadence, one folder each.
const RECORDINGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cadence");
/// The daemon's default interval (seconds).
const DEFAULT_INTERVAL: f64 = 300.0;
/// A default sweep's wall time (about 6 s): a confirmation's result comes this much after
/// its scheduled sweep's, in proportion to the runs it made.
const SWEEP_SECONDS: f64 = 6.0;
/// The daemon's confirmations (`[analysis] confirm_sweeps`, `confirm_interval`).
fn confirmations() -> Confirm {
    let analysis = copybench_exporter::config::Analysis::default();
    Confirm {
        sweeps: analysis.confirm_sweeps as usize,
        after: Some(analysis.confirm_interval.as_secs_f64()),
        rounds: None,
        retries: 0,
    }
}

/// Confirmation sweeps while a change is suspected, of the recorded sweeps' rounds.
#[derive(Clone, Copy)]
struct Confirm {
    /// At most this many after a scheduled sweep, each...
    sweeps: usize,
    /// ...this many seconds after the sweep before (the sequence's next sweep, made a
    /// cadence later), or at once (`None`: as many rounds of the burst recorded right after
    /// the sweep).
    after: Option<f64>,
    /// Rounds of each confirmation at once (`None`: as many as the sweep's).
    rounds: Option<usize>,
    /// A contended scheduled sweep is run again, whole, up to this many times `after` apart
    /// (the sweeps recorded after it), until one is not contended (not the daemon's).
    retries: usize,
}

impl Confirm {
    /// None at all.
    const NONE: Confirm = Confirm {
        sweeps: 0,
        after: None,
        rounds: None,
        retries: 0,
    };
}

/// Sweeps before an injected shift: into one series, and into the recording's bootstrap
/// (most of its sweeps were contended and are skipped: 400 hold about 100 usable ones, what
/// a baseline takes), and sweeps watched after it.
const BEFORE: usize = 130;
const BEFORE_REAL: usize = 400;
const AFTER: usize = 10;
/// Bootstrap blocks, in sweeps.
const BLOCK: usize = 8;

/// A backend and sync, e.g. "thread/none".
type Group = String;

/// One recorded sweep: its start (seconds since the recording's), its runs, its calibration
/// (seconds), the most builds seen beside it, whether the daemon ran it to confirm a
/// suspicion, and the burst of rounds recorded at once after it, if any.
#[derive(Clone)]
struct Sweep {
    time: f64,
    /// When its last run ended.
    end: f64,
    runs: Vec<Run<Group>>,
    calibration: Option<f64>,
    builders: u32,
    confirmation: bool,
    burst: Option<Box<Sweep>>,
    /// On the daemon's timeline, the sweeps recorded right after this one: its
    /// confirmations a minute apart.
    next: Vec<Sweep>,
}

/// A recording's sweeps and its caused events (start, end, kind).
fn load(dir: &Path) -> (Vec<Sweep>, Vec<(f64, f64, String)>) {
    let mut gz = Vec::new();
    std::fs::File::open(dir.join("runs.csv.gz"))
        .and_then(|f| flate2::read::GzDecoder::new(f).read_to_end(&mut gz))
        .expect("runs.csv.gz");
    let mut sweeps: BTreeMap<i64, Sweep> = BTreeMap::new();
    let mut times = csv::Reader::from_path(dir.join("sweeps.csv")).expect("sweeps.csv");
    for row in times.records().map(|r| r.expect("sweeps row")) {
        let sweep = Sweep {
            time: row[1].parse().expect("t"),
            end: row[1].parse().expect("t"),
            runs: Vec::new(),
            calibration: row[2].parse().ok(),
            builders: row[3].parse().expect("builders_max"),
            confirmation: row.get(5) == Some("1"),
            burst: None,
            next: Vec::new(),
        };
        sweeps.insert(row[0].parse().expect("sweep"), sweep);
    }
    let syncs = std::env::var("COPYBENCH_BENCH_SYNC").ok();
    let kept = |sync: &str| {
        syncs
            .as_ref()
            .is_none_or(|s| s.split(',').any(|k| k == sync))
    };
    let mut reader = csv::Reader::from_reader(gz.as_slice());
    for row in reader.records().map(|r| r.expect("runs row")) {
        let number = |i: usize| row[i].parse::<f64>().ok();
        if &row[6] == "1" || !kept(&row[4]) {
            continue; // the warm-up, or a sync mode left out
        }
        let (group, workers) = (
            format!("{}/{}", &row[3], &row[4]),
            row[5].parse().expect("w"),
        );
        let run = Run {
            reference: group == "thread/none" && workers == 1,
            group,
            workers,
            round: row[1].parse().expect("round"),
            seconds: number(8).filter(|_| &row[7] == "1"),
            disturbed: &row[9] == "1",
            throttled: &row[10] == "1",
            contention_seconds: number(11).unwrap_or(0.0) + number(12).unwrap_or(0.0),
            full_width: full_width(workers, Some(RECORDED_CPUS)),
        };
        let sweep = sweeps
            .get_mut(&row[0].parse().expect("sweep"))
            .expect("its sweep");
        sweep.end = sweep.end.max(number(2).expect("t"));
        sweep.runs.push(run);
    }
    let events = recording::caused(&dir.join("events.csv"));
    (with_bursts(sweeps.into_values().collect()), events)
}

/// The first sweep after each scheduled one, if it is a confirmation that began within 30 s
/// of its end (a burst of `bench/record-cadence.sh`'s BURST_ROUNDS), is kept with that sweep
/// as its burst; the others stay as they are, in time order.
fn with_bursts(mut sweeps: Vec<Sweep>) -> Vec<Sweep> {
    sweeps.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut out: Vec<Sweep> = Vec::with_capacity(sweeps.len());
    for sweep in sweeps {
        match out.last_mut() {
            Some(last)
                if sweep.confirmation
                    && !last.confirmation
                    && last.burst.is_none()
                    && sweep.time - last.end < 30.0 =>
            {
                last.burst = Some(Box::new(sweep));
            }
            _ => out.push(sweep),
        }
    }
    out
}

/// How many rounds `sweep` ran.
fn rounds_of(sweep: &Sweep) -> usize {
    let rounds: BTreeSet<u32> = sweep.runs.iter().map(|r| r.round).collect();
    rounds.len()
}

/// The CPUs of every recording's VM (their READMEs), which their runs were allowed.
const RECORDED_CPUS: u32 = 2;

/// A sweep's runs with `factor` applied to each run's time.
fn scaled(sweep: &Sweep, factor: impl Fn(&Run<Group>) -> f64) -> Signals<Group> {
    let runs: Vec<Run<Group>> = sweep
        .runs
        .iter()
        .map(|r| Run {
            seconds: r.seconds.map(|s| s * factor(r)),
            ..r.clone()
        })
        .collect();
    of_sweep(&runs)
}

/// A block bootstrap of `n` sweeps from `quiet` (runs of consecutive sweep indices).
fn bootstrap<'a>(rng: &mut StdRng, quiet: &'a [Vec<Sweep>], n: usize) -> Vec<&'a Sweep> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let stretch = &quiet[rng.random_range(0..quiet.len())];
        let start = rng.random_range(0..stretch.len().saturating_sub(BLOCK).max(1));
        out.extend(stretch[start..].iter().take(BLOCK));
    }
    out.truncate(n);
    out
}

/// Which alarms count for a shift of `target` (`None`: host-wide).
fn is_found(alert: &Alert<Group>, target: &Option<(Group, u32)>) -> bool {
    matches!(alert.event, Event::Alarm(_))
        && match (target, &alert.signal) {
            (None, Signal::Host) => true,
            (Some(key), Signal::Workload(k) | Signal::Scaling(k)) => k == key,
            _ => false,
        }
}

/// A variant of the node's detectors, for the ablation.
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    settings: Settings,
    /// Workload signals are the raw medians, not normalized by the sweep.
    raw: bool,
    /// Confirmation sweeps while a change is suspected.
    confirm: Confirm,
}

fn step(
    watch: &mut Watch<Group>,
    variant: &Variant,
    time: f64,
    signals: &Signals<Group>,
) -> Vec<Alert<Group>> {
    if variant.raw {
        let raw = Signals {
            workload: signals.raw.clone(),
            ..signals.clone()
        };
        return watch.step(time, &raw);
    }
    watch.step(time, signals)
}

/// What one scheduled sweep and its confirmations raised: each alert with the seconds from the
/// scheduled sweep's start to the end of the sweep that raised it; whether the scheduled
/// sweep was contended; and the confirmations' runs.
struct Watched {
    alerts: Vec<(Alert<Group>, f64)>,
    contended: bool,
    confirmation_runs: usize,
}

/// The sweep `scheduled` (at `time`) through the watch, then (with retries) the sweeps
/// recorded after it while they are contended, then, while the watch suspects a change, up
/// to `variant.confirm` confirmations, kept to the single-worker runs and the suspected
/// combinations' as the daemon's confirmation sweep is: the next sweeps recorded after it,
/// or at once the next rounds of its burst while it has enough left. Each takes a default
/// sweep's duration per run it made, in proportion.
fn watch_sweep(
    watch: &mut Watch<Group>,
    variant: &Variant,
    time: f64,
    scheduled: &Sweep,
    factor: &dyn Fn(&Run<Group>) -> f64,
) -> Watched {
    let signals = scaled(scheduled, factor);
    let mut contended = variant.settings.contended(&signals);
    let mut elapsed = SWEEP_SECONDS;
    let mut alerts: Vec<(Alert<Group>, f64)> = step(watch, variant, time, &signals)
        .into_iter()
        .map(|a| (a, elapsed))
        .collect();
    let Confirm {
        sweeps,
        after,
        rounds,
        retries,
    } = variant.confirm;
    let rounds = rounds.unwrap_or_else(|| rounds_of(scheduled));
    let mut next = scheduled.next.iter();
    let mut confirmation_runs = 0;
    for _ in 0..retries {
        let (true, Some(after), Some(retry)) = (contended, after, next.next()) else {
            break;
        };
        elapsed += after + SWEEP_SECONDS;
        let signals = scaled(retry, factor);
        contended = variant.settings.contended(&signals);
        confirmation_runs += retry.runs.len();
        alerts.extend(
            step(watch, variant, time + elapsed, &signals)
                .into_iter()
                .map(|a| (a, elapsed)),
        );
    }
    for n in 0..sweeps {
        let suspected = watch.suspected();
        if suspected.is_empty() {
            break;
        }
        let wanted = |r: &Run<Group>| {
            let key = (r.group.clone(), r.workers);
            r.workers == 1 || suspected.iter().any(|s| s.key() == Some(&key))
        };
        let from_burst = scheduled.burst.as_deref().filter(|_| after.is_none());
        let from_burst = from_burst.and_then(|burst| {
            let first = burst.runs.iter().map(|r| r.round).min()? as usize;
            let last = burst.runs.iter().map(|r| r.round).max()? as usize;
            let span = first + n * rounds..first + (n + 1) * rounds;
            (span.end <= last + 1).then(|| {
                burst
                    .runs
                    .iter()
                    .filter(|r| span.contains(&(r.round as usize)))
                    .cloned()
                    .collect::<Vec<_>>()
            })
        });
        let runs: Vec<Run<Group>> = match (from_burst, after) {
            (Some(runs), _) => runs,
            (None, Some(after)) => match next.next() {
                Some(sweep) => {
                    elapsed += after;
                    sweep.runs.clone()
                }
                None => break,
            },
            _ => break,
        };
        let kept = Sweep {
            runs: runs.into_iter().filter(|r| wanted(r)).collect(),
            burst: None,
            next: Vec::new(),
            ..scheduled.clone()
        };
        confirmation_runs += kept.runs.len();
        elapsed += SWEEP_SECONDS * kept.runs.len() as f64 / scheduled.runs.len().max(1) as f64;
        let confirmation = scaled(&kept, factor);
        alerts.extend(
            step(watch, variant, time + elapsed, &confirmation)
                .into_iter()
                .map(|a| (a, elapsed)),
        );
    }
    Watched {
        alerts,
        contended,
        confirmation_runs,
    }
}

/// A trial that found its shift: scheduled sweeps after the shift, usable (uncontended) ones
/// among them, and the seconds from the start of the last of them to the end of the sweep
/// that raised the alarm (itself or a confirmation).
#[derive(Clone, Copy)]
struct Hit {
    sweeps: usize,
    usable: usize,
    seconds: f64,
}

impl Hit {
    /// Minutes from the shift to the alarm with sweeps `interval` seconds apart.
    fn minutes(&self, interval: f64) -> f64 {
        ((self.sweeps - 1) as f64 * interval + self.seconds) / 60.0
    }
}

/// Detection of shifts: each trial, and the other alarms of them all.
#[derive(Default)]
struct Found {
    trials: Vec<Trial>,
    others: usize,
}

/// One trial of a shift: the combination shifted (none for host-wide or a single series), its
/// hit if any, and its workload detector's sensitivity within 5 usable sweeps just before the
/// shift.
struct Trial {
    target: Option<Key<Group>>,
    hit: Option<Hit>,
    sensitivity: Option<f64>,
}

impl Found {
    /// The hits of the trials that found their shift within their horizon.
    fn hits(&self) -> impl Iterator<Item = &Hit> {
        self.trials.iter().filter_map(|t| t.hit.as_ref())
    }

    /// The share of trials found within `n` sweeps (`usable`: within `n` usable sweeps).
    fn within(&self, n: usize, usable: bool) -> f64 {
        let found = (self.hits())
            .filter(|d| if usable { d.usable } else { d.sweeps } <= n)
            .count();
        pct(found, self.trials.len())
    }

    /// Per shifted combination: its sweep-to-sweep `spread`, the median of its detector's
    /// sensitivity within 5 usable sweeps before the shift, trials, and the share found within
    /// 5 sweeps and within 5 usable ones; then the same over the trials whose detector was
    /// rated to find 10 % within 5 usable sweeps, and over the others.
    fn by_target(&self, spread: &BTreeMap<Key<Group>, f64>) -> String {
        let mut by: BTreeMap<&Key<Group>, (Vec<f64>, [usize; 3])> = BTreeMap::new();
        let mut classes = [[0; 3]; 2];
        for Trial {
            target,
            hit,
            sensitivity,
        } in &self.trials
        {
            let Some(key) = target else { continue };
            let n = [
                1,
                usize::from(hit.is_some_and(|h| h.sweeps <= 5)),
                usize::from(hit.is_some_and(|h| h.usable <= 5)),
            ];
            let entry = by.entry(key).or_default();
            entry.0.extend(sensitivity);
            let class = &mut classes[usize::from(sensitivity.is_some_and(|r| r <= 0.10))];
            for i in 0..3 {
                entry.1[i] += n[i];
                class[i] += n[i];
            }
        }
        let mut rows: Vec<_> = (by.into_iter())
            .map(|(key, (rated, n))| {
                let sd = spread.get(key).copied().unwrap_or(f64::NAN);
                (sd, key, median(&rated), n)
            })
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let each: Vec<String> = (rows.iter())
            .map(|(sd, (group, workers), rated, [n, in5, us5])| {
                let rated = rated.map_or("-".to_owned(), |r| format!("{:.0} %", r * 100.0));
                let (in5, us5) = (pct(*in5, *n), pct(*us5, *n));
                format!(
                    "{group}/{workers} {:.1} % {rated} {n} {in5:.0}/{us5:.0}",
                    sd * 100.0
                )
            })
            .collect();
        let class = |[n, in5, us5]: [usize; 3]| {
            format!(
                "{n} trials, {:.0} % within 5 sweeps, {:.0} % within 5 usable",
                pct(in5, n),
                pct(us5, n)
            )
        };
        format!(
            "  by combination (its spread from sweep to sweep; its detector's sensitivity within 5 usable sweeps; trials, % found within 5 / within 5 usable sweeps): {}\n  rated to find 10 % within 5 usable sweeps: {}; not: {}",
            each.join(", "),
            class(classes[1]),
            class(classes[0])
        )
    }

    /// The median delay of those found within 10 sweeps, in `unit` of a hit.
    fn delay(&self, unit: impl Fn(&Hit) -> f64) -> Option<f64> {
        let delays: Vec<f64> = self
            .hits()
            .filter(|d| d.sweeps <= AFTER)
            .map(unit)
            .collect();
        median(&delays)
    }
}

/// Each combination's robust spread of its workload signal from one uncontended sweep to the
/// next in the `quiet` stretches (1.4826 MAD of the steps over the square root of 2).
fn spread(quiet: &[Vec<Sweep>], settings: &Settings) -> BTreeMap<Key<Group>, f64> {
    let mut steps: BTreeMap<Key<Group>, Vec<f64>> = BTreeMap::new();
    for stretch in quiet {
        let signals: Vec<Signals<Group>> = (stretch.iter())
            .filter(|s| !s.confirmation)
            .map(|s| of_sweep(&s.runs))
            .filter(|s| !settings.contended(s))
            .collect();
        for pair in signals.windows(2) {
            for (key, after) in &pair[1].workload {
                if let Some(before) = pair[0].workload.get(key) {
                    steps.entry(key.clone()).or_default().push(after - before);
                }
            }
        }
    }
    (steps.into_iter())
        .filter_map(|(key, s)| Some((key, recording::step_spread(&s)?)))
        .collect()
}

/// Sweeps watched after a shift in the real noise: enough for 10 usable ones.
const AFTER_REAL: usize = 60;

/// A recording's quiet stretches and its combinations.
struct Noise<'a> {
    quiet: &'a [Vec<Sweep>],
    keys: &'a [(Group, u32)],
}

fn detect(
    rng: &mut StdRng,
    noise: &Noise,
    variant: &Variant,
    shift: f64,
    host_wide: bool,
    trials: usize,
) -> Found {
    let (quiet, keys) = (noise.quiet, noise.keys);
    let mut found = Found::default();
    for _ in 0..trials {
        let target = (!host_wide).then(|| keys[rng.random_range(0..keys.len())].clone());
        let mut watch = Watch::new(variant.settings);
        let (mut usable, mut hit, mut sensitivity) = (0, None, None);
        let seq = bootstrap(rng, quiet, BEFORE_REAL + AFTER_REAL);
        for (i, scheduled) in seq.into_iter().enumerate() {
            let after = i >= BEFORE_REAL;
            if let (BEFORE_REAL, Some(key)) = (i, &target) {
                sensitivity = watch.sensitivity(5).remove(&Signal::Workload(key.clone()));
            }
            let factor = |r: &Run<Group>| match &target {
                _ if !after => 1.0,
                None => 1.0 + shift,
                Some((g, w)) if !r.reference && r.group == *g && r.workers == *w => 1.0 + shift,
                Some(_) => 1.0,
            };
            let time = i as f64 * DEFAULT_INTERVAL;
            let watched = watch_sweep(&mut watch, variant, time, scheduled, &factor);
            usable += usize::from(after && !watched.contended);
            for (alert, seconds) in watched.alerts {
                if !after || !matches!(alert.event, Event::Alarm(_)) {
                    continue;
                }
                if is_found(&alert, &target) {
                    hit = hit.or(Some(Hit {
                        sweeps: i + 1 - BEFORE_REAL,
                        usable,
                        seconds,
                    }));
                } else if i < BEFORE_REAL + AFTER {
                    found.others += 1;
                }
            }
        }
        found.trials.push(Trial {
            target,
            hit,
            sensitivity,
        });
    }
    found
}

/// False alerts on bootstrap sequences of quiet sweeps.
struct FalseAlerts {
    /// Alarms of the host, workload and scaling signals per 1,000 scheduled sweeps.
    rate: f64,
    /// Every signal's count.
    by_kind: BTreeMap<&'static str, usize>,
    /// The confirmations' runs per 1,000 scheduled sweeps' runs.
    confirmation_cost: f64,
    /// The series whose thresholds were for their own memory, longer than their kind's, at
    /// the end of a sequence: in how many sequences.
    own_memory: BTreeMap<String, usize>,
}

fn false_alerts(rng: &mut StdRng, noise: &Noise, variant: &Variant, trials: usize) -> FalseAlerts {
    let (mut alarms, mut sweeps, mut runs, mut confirmation_runs) = (BTreeMap::new(), 0, 0, 0);
    let mut own_memory = BTreeMap::new();
    for _ in 0..trials {
        let mut watch = Watch::new(variant.settings);
        for (i, scheduled) in bootstrap(rng, noise.quiet, 1_000).into_iter().enumerate() {
            runs += scheduled.runs.len();
            let time = i as f64 * DEFAULT_INTERVAL;
            let watched = watch_sweep(&mut watch, variant, time, scheduled, &|_| 1.0);
            confirmation_runs += watched.confirmation_runs;
            for (alert, _) in watched.alerts {
                if matches!(alert.event, Event::Alarm(_)) {
                    *alarms.entry(alert.signal.name()).or_insert(0) += 1;
                }
            }
            sweeps += 1;
        }
        let [_, workload, scaling] = watch.memory();
        for (group, workers) in noise.keys {
            for (signal, kind) in [
                (Signal::Workload((group.clone(), *workers)), workload),
                (Signal::Scaling((group.clone(), *workers)), scaling),
            ] {
                if watch.memory_of(&signal).is_some_and(|own| own > kind) {
                    let name = format!("{} {group}/{workers}", signal.name());
                    *own_memory.entry(name).or_insert(0) += 1;
                }
            }
        }
    }
    // Contention alerts are not false: the recording's quiet stretches had builds beside them.
    let total: usize = alarms
        .iter()
        .filter(|(k, _)| **k != "contention")
        .map(|(_, n)| n)
        .sum();
    FalseAlerts {
        rate: total as f64 * 1_000.0 / sweeps as f64,
        by_kind: alarms,
        confirmation_cost: confirmation_runs as f64 * 1_000.0 / runs.max(1) as f64,
        own_memory,
    }
}

fn pct(n: usize, of: usize) -> f64 {
    n as f64 * 100.0 / of.max(1) as f64
}

fn row(label: &str, f: &Found) {
    let show = |d: Option<f64>| d.map_or_else(|| "-".to_owned(), |d| format!("{d:.1}"));
    println!(
        "{label:<24} {:>6.1}% {:>6.1}% {:>6.1}% {:>6.1}% {:>6} {:>8} {:>6.2}",
        f.within(5, false),
        f.within(10, false),
        f.within(5, true),
        f.within(10, true),
        show(f.delay(|h| h.sweeps as f64)),
        show(f.delay(|h| h.minutes(DEFAULT_INTERVAL))),
        f.others as f64 / f.trials.len() as f64
    );
}

/// Pearson's correlation of `pairs`.
fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (sxy, sxx, syy) = pairs.iter().fold((0.0, 0.0, 0.0), |(c, a, b), (x, y)| {
        (
            c + (x - mx) * (y - my),
            a + (x - mx).powi(2),
            b + (y - my).powi(2),
        )
    });
    sxy / (sxx * syy).sqrt()
}

/// How well the host reference and the old calibration track the combinations: per
/// combination, the correlation over `calm` sweeps of its log fastest run with each.
fn reference_correlation(calm: &[&Sweep]) {
    let signals: Vec<(Signals<Group>, Option<f64>)> = calm
        .iter()
        .map(|s| (of_sweep(&s.runs), s.calibration.map(f64::ln)))
        .collect();
    let keys: Vec<(Group, u32)> = signals[0].0.raw.keys().cloned().collect();
    let (mut with_reference, mut with_calibration) = (Vec::new(), Vec::new());
    for key in &keys {
        // (the combination, the reference, the calibration if the sweep made one)
        let triples: Vec<(f64, f64, Option<f64>)> = signals
            .iter()
            .filter_map(|(s, calibration)| Some((*s.raw.get(key)?, s.host?, *calibration)))
            .collect();
        with_reference.push(correlation(
            &triples.iter().map(|t| (t.0, t.1)).collect::<Vec<_>>(),
        ));
        let calibrated: Vec<(f64, f64)> =
            triples.iter().filter_map(|t| Some((t.0, t.2?))).collect();
        if calibrated.len() > 2 {
            with_calibration.push(correlation(&calibrated));
        }
    }
    let describe = |mut r: Vec<f64>| {
        r.sort_by(f64::total_cmp);
        format!(
            "{:.2} ({:.2}-{:.2})",
            median(&r).unwrap_or(f64::NAN),
            r[0],
            r[r.len() - 1]
        )
    };
    let calibration = if with_calibration.is_empty() {
        "(the recording's sweeps made no calibration: the reference ran in every round)".to_owned()
    } else {
        format!(
            "and {} with its 1,000-line calibration",
            describe(with_calibration)
        )
    };
    println!(
        "host reference: over {} calm sweeps a combination's log fastest run correlates {} with the sweep's reference (thread/none/1, the workload's input) {calibration} (median and range of {} combinations)",
        calm.len(),
        describe(with_reference),
        keys.len()
    );
}

/// Where the workload signal's noise comes from, over the uncontended sweeps of `quiet`: each
/// round's time of a combination against the median of the other single-worker series in
/// the same round (as the signal takes them), split into what varies from round to round
/// within a sweep and what varies from sweep to sweep (the host's state of the minute, which
/// more rounds cannot remove), and
/// the spread a sweep's signal may have for the detection goal: +10 % found within 5 sweeps
/// in 90 % at one false alarm in 40,000 sweeps per series (a fixed test over the 5 sweeps,
/// the best any detector does with independent sweeps).
fn noise_floor(quiet: &[Vec<Sweep>]) {
    let settings = Settings::default();
    let mut rounds: BTreeMap<(Group, u32), Vec<Vec<f64>>> = BTreeMap::new();
    for sweep in quiet.iter().flatten() {
        if !settings.contended(&of_sweep(&sweep.runs)) {
            for (key, paired) in paired_rounds(&sweep.runs) {
                if paired.len() < 3 {
                    continue;
                }
                rounds.entry(key).or_default().push(paired);
            }
        }
    }
    let variance = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / x.len() as f64;
        x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0)
    };
    let (mut within, mut between, mut per_sweep) = (Vec::new(), Vec::new(), Vec::new());
    let mut sweeps = 0;
    for sweeps_of in rounds.values().filter(|s| s.len() >= 10) {
        sweeps = sweeps.max(sweeps_of.len());
        let w = sweeps_of.iter().map(|r| variance(r)).sum::<f64>() / sweeps_of.len() as f64;
        let n = sweeps_of.iter().map(Vec::len).sum::<usize>() as f64 / sweeps_of.len() as f64;
        let means: Vec<f64> = sweeps_of
            .iter()
            .map(|r| r.iter().sum::<f64>() / r.len() as f64)
            .collect();
        let total = variance(&means);
        within.push(w);
        between.push((total - w / n).max(0.0));
        per_sweep.push(n);
    }
    if within.is_empty() {
        println!("workload noise: too few uncontended sweeps to split");
        return;
    }
    let (w, b, n) = (
        median(&within).unwrap_or(f64::NAN),
        median(&between).unwrap_or(f64::NAN),
        median(&per_sweep).unwrap_or(f64::NAN),
    );
    let at = |rounds: f64| 100.0 * (b + w / rounds).sqrt();
    let normal = Normal::standard();
    let z = |p: f64| normal.inverse_cdf(p);
    let goal = 100.0 * 1.1f64.ln() * 5f64.sqrt() / (z(1.0 - 1.0 / 40_000.0) + z(0.9));
    println!(
        "workload noise, each round against the same round's other single-worker runs ({sweeps} uncontended sweeps, median of {} combinations): {:.1} % from round to round, {:.1} % from sweep to sweep that more rounds cannot remove; a sweep's mean varies {:.1} % at its {n:.0} rounds, {:.1} % at 20, {:.1} % at any number; the goal (+10 % within 5 sweeps in 90 %, 1 false alarm in 40,000 sweeps per series) needs at most {goal:.1} %",
        within.len(),
        100.0 * w.sqrt(),
        100.0 * b.sqrt(),
        at(n),
        at(20.0),
        100.0 * b.sqrt()
    );
}

/// The recording replayed as it is (its scheduled sweeps; bursts are for confirmations):
/// every event, and the caused events' times.
fn replay(sweeps: &[Sweep], events: &[(f64, f64, String)], cadence: f64) {
    println!(
        "the recording replayed ({} sweeps, {cadence:.0} s apart)",
        sweeps.len()
    );
    for (start, end, what) in events {
        println!("  caused: {what} from {start:.0} s to {end:.0} s");
    }
    let mut watch = Watch::new(Settings::default());
    let mut contended = 0;
    for sweep in sweeps {
        let signals = of_sweep(&sweep.runs);
        contended += usize::from(Settings::default().contended(&signals));
        for alert in watch.step(sweep.time, &signals) {
            if !matches!(alert.event, Event::Suspect) {
                println!(
                    "  at {:>6.0} s  {:<24} {:?}",
                    sweep.time,
                    format!("{:?}", alert.signal),
                    alert.event
                );
            }
        }
    }
    println!(
        "  contended sweeps: {contended} of {}; memory (effective AR(1)) host {:.2}, workload {:.2}, scaling {:.2}",
        sweeps.len(),
        watch.memory()[0],
        watch.memory()[1],
        watch.memory()[2]
    );
}

fn main() {
    let trials: usize = std::env::var("COPYBENCH_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let only = std::env::var("COPYBENCH_BENCH_RECORDINGS").ok();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(RECORDINGS)
        .expect("recordings")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_dir())
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            only.as_ref()
                .is_none_or(|o| o.split(',').any(|k| k == name))
        })
        .collect();
    dirs.sort();
    let mut rng = StdRng::seed_from_u64(20);
    let mut quiet = Vec::new();
    for dir in &dirs {
        quiet.push(recording(&mut rng, dir, trials));
    }
    if !brief() {
        per_series(&mut rng, &quiet, trials);
    }
}

/// Whether COPYBENCH_BENCH_BRIEF asks for each recording's false alerts and detection table
/// only (no ablation, retries, confirmation table or per-series cases).
fn brief() -> bool {
    std::env::var_os("COPYBENCH_BENCH_BRIEF").is_some()
}

/// One recording at cadence: the reference's correlation, the replay, then false alerts,
/// detection and the ablation on bootstrap sequences of its quiet stretches, which it returns.
fn recording(rng: &mut StdRng, dir: &Path, trials: usize) -> Vec<Vec<Sweep>> {
    println!();
    println!(
        "== recording {} (its README.md says how it was made)",
        dir.file_name().unwrap_or_default().to_string_lossy()
    );
    let (sweeps, events) = load(dir);
    let cadence = {
        let scheduled: Vec<f64> = sweeps
            .iter()
            .filter(|s| !s.confirmation)
            .map(|s| s.time)
            .collect();
        let gaps: Vec<f64> = scheduled.windows(2).map(|w| w[1] - w[0]).collect();
        median(&gaps).expect("two scheduled sweeps or more")
    };
    let bursts = sweeps.iter().filter(|s| s.burst.is_some()).count();
    // Quiet stretches: consecutive sweeps that began outside the caused events (and a sweep
    // either side); calm ones had no build beside them either.
    let caused = |t: f64| {
        events
            .iter()
            .any(|(s, e, _)| t >= s - cadence && t <= e + cadence)
    };
    let calm: Vec<&Sweep> = sweeps
        .iter()
        .filter(|s| !caused(s.time) && s.builders == 0 && !s.confirmation)
        .collect();
    reference_correlation(&calm);
    replay(&sweeps, &events, cadence);
    if bursts > 0 {
        println!(
            "  {bursts} of its sweeps have a burst of rounds recorded at once after them: the confirmations' runs"
        );
    }

    let quiet = quiet_stretches(&sweeps, caused);
    if quiet.is_empty() {
        println!("no quiet stretch of {BLOCK} sweeps or more: nothing to measure");
        return quiet;
    }
    noise_floor(&quiet);
    let keys: Vec<(Group, u32)> = {
        let first = of_sweep(&quiet[0][0].runs);
        first.raw.keys().cloned().collect()
    };
    let variants = ablation();
    let stride = ((DEFAULT_INTERVAL / cadence).round() as usize).max(1);
    let scheduled = at_daemon_cadence(&quiet, stride, confirmations().sweeps);
    let noise = Noise {
        quiet: &scheduled,
        keys: &keys,
    };

    println!();
    println!(
        "real noise at the daemon's cadence: {} quiet sweeps in {} stretches, every {stride}th a scheduled sweep ({:.0} s apart; {} stretches, one per phase), {} combinations; {trials} sequences per case",
        quiet.iter().map(Vec::len).sum::<usize>(),
        quiet.len(),
        cadence * stride as f64,
        scheduled.len(),
        keys.len()
    );
    let full = &variants[variants.len() - 1];
    println!(
        "contended: contention above {}",
        full.settings.max_contention
    );
    let quiet_run = false_alerts(rng, &noise, full, trials / 4);
    println!(
        "false alerts per node per 1,000 sweeps: {:.2} of the host, workload and scaling signals together ({:?}; {} sequences of 1,000 sweeps); confirmations (at most {}) ran {:.1} runs per 1,000 of the scheduled sweeps'",
        quiet_run.rate,
        quiet_run.by_kind,
        trials / 4,
        full.confirm.sweeps,
        quiet_run.confirmation_cost
    );
    println!(
        "  thresholds for a series' own memory, longer than its kind's, at the end of a sequence (of {}): {:?}",
        trials / 4,
        quiet_run.own_memory
    );
    println!(
        "found within 5 and 10 sweeps, and within 5 and 10 usable (uncontended) sweeps; median delay of those found within 10 sweeps, in sweeps and in minutes (a sweep every 300 s, confirmations a minute apart); other alerts per trial"
    );
    println!(
        "{:<24} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8} {:>6}",
        "shift", "5", "10", "5 us.", "10 us.", "delay", "minutes", "others"
    );
    for host_wide in [false, true] {
        for shift in [0.05, 0.10, 0.20] {
            let label = format!(
                "{} +{:.0} %",
                if host_wide {
                    "host-wide"
                } else {
                    "one combination"
                },
                shift * 100.0
            );
            let found = detect(rng, &noise, full, shift, host_wide, trials);
            row(&label, &found);
            if !host_wide && shift == 0.10 {
                println!("{}", found.by_target(&spread(&quiet, &full.settings)));
            }
        }
    }
    if brief() {
        return quiet;
    }
    ablation_table(&noise, &variants, trials);
    // Its own draws, so that the tables after it read the same noise as without it.
    retry_table(&mut StdRng::seed_from_u64(21), &noise, full, trials);
    if bursts > 0 {
        confirmation_table(rng, &noise, full, trials);
    }
    quiet
}

/// The stretches of consecutive scheduled sweeps (the bootstrap makes its own confirmation
/// sweeps) that began outside the caused events, of a bootstrap block or longer.
fn quiet_stretches(sweeps: &[Sweep], caused: impl Fn(f64) -> bool) -> Vec<Vec<Sweep>> {
    let mut quiet: Vec<Vec<Sweep>> = vec![Vec::new()];
    for sweep in sweeps.iter().filter(|s| !s.confirmation) {
        if caused(sweep.time) {
            quiet.push(Vec::new());
        } else if let Some(last) = quiet.last_mut() {
            last.push(sweep.clone());
        }
    }
    quiet.retain(|q| q.len() >= BLOCK);
    quiet
}

/// The daemon's timeline from a recording's quiet stretches: every `stride`th sweep a
/// scheduled one (a stretch for each phase, of at least half a bootstrap block), each
/// carrying the `confirmations` sweeps recorded right after it, its confirmations a cadence
/// apart. So the noise keeps the memory it has from one scheduled sweep to the next, and an
/// episode of the host as many minutes as it lasted.
fn at_daemon_cadence(quiet: &[Vec<Sweep>], stride: usize, confirmations: usize) -> Vec<Vec<Sweep>> {
    let mut scheduled = Vec::new();
    for stretch in quiet {
        for phase in 0..stride.min(stretch.len()) {
            let sweeps: Vec<Sweep> = (phase..stretch.len())
                .step_by(stride)
                .map(|i| Sweep {
                    next: stretch[i + 1..]
                        .iter()
                        .take(confirmations)
                        .cloned()
                        .collect(),
                    ..stretch[i].clone()
                })
                .collect();
            if sweeps.len() >= BLOCK / 2 {
                scheduled.push(sweeps);
            }
        }
    }
    scheduled
}

/// What each part of the watch adds, on bootstrap sequences of `quiet`: false alerts, and a
/// one-combination and a host-wide +10 % found, for each of `variants`. Every variant on the
/// same draws (its own generator, seeded alike), so that the rows differ by what the variants
/// do, not by the sequences they drew.
fn ablation_table(noise: &Noise, variants: &[Variant], trials: usize) {
    println!();
    println!(
        "ablation on the real noise, every row on the same draws: false alerts per node per 1,000 sweeps; one combination +10 %; host-wide +10 % within 10 sweeps"
    );
    println!(
        "{:<52} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>8}",
        "", "false/1k", "within 5", "within 10", "5 usable", "10 usable", "min@300s", "host 10"
    );
    for variant in variants {
        let rng = &mut StdRng::seed_from_u64(22);
        let quiet_run = false_alerts(rng, noise, variant, trials / 4);
        let f = detect(rng, noise, variant, 0.10, false, trials);
        let host = detect(rng, noise, variant, 0.10, true, trials);
        let minutes = f.delay(|h| h.minutes(DEFAULT_INTERVAL));
        println!(
            "{:<52} {:>9.2} {:>8.1}% {:>8.1}% {:>9.1}% {:>9.1}% {:>9} {:>7.1}%",
            variant.name,
            quiet_run.rate,
            f.within(5, false),
            f.within(10, false),
            f.within(5, true),
            f.within(10, true),
            minutes.map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
            host.within(10, false)
        );
    }
}

/// A variant's false alerts on the quiet noise, and a one-combination and a host-wide +10 %
/// found, in that order of draws.
fn at_ten_percent(
    rng: &mut StdRng,
    noise: &Noise,
    variant: &Variant,
    trials: usize,
) -> (FalseAlerts, Found, Found) {
    let quiet_run = false_alerts(rng, noise, variant, trials / 4);
    let one = detect(rng, noise, variant, 0.10, false, trials);
    let host = detect(rng, noise, variant, 0.10, true, trials);
    (quiet_run, one, host)
}

/// A contended scheduled sweep run again a minute later, up to N times, until one is not
/// contended: false alerts, what the extra sweeps and confirmations cost, and +10 % found.
fn retry_table(rng: &mut StdRng, noise: &Noise, full: &Variant, trials: usize) {
    println!();
    println!(
        "contended sweeps run again a minute later (not the daemon's), up to N times: false alerts per node per 1,000 sweeps, the extra sweeps' and confirmations' runs per 1,000 scheduled ones; +10 % found"
    );
    println!(
        "{:<10} {:>9} {:>7} {:>9} {:>9} {:>10} {:>10}",
        "N", "false/1k", "cost", "one in 5", "one in 10", "host in 5", "host in 10"
    );
    for retries in [0, 1, 3] {
        let confirm = Confirm {
            retries,
            ..full.confirm
        };
        let variant = Variant { confirm, ..*full };
        let (quiet_run, one, host) = at_ten_percent(rng, noise, &variant, trials);
        println!(
            "{retries:<10} {:>9.2} {:>7.0} {:>8.1}% {:>8.1}% {:>9.1}% {:>9.1}%",
            quiet_run.rate,
            quiet_run.confirmation_cost,
            one.within(5, false),
            one.within(10, false),
            host.within(5, false),
            host.within(10, false),
        );
    }
}

/// Confirmations a minute apart (the daemon's) against confirmations at once, drawn from
/// the bursts recorded right after each sweep: false alerts, what they cost, and a
/// one-combination and a host-wide +10 % found.
fn confirmation_table(rng: &mut StdRng, noise: &Noise, full: &Variant, trials: usize) {
    println!();
    println!(
        "confirmations: none, a minute apart (the daemon's), or at once from the recorded bursts; at most N, each of a sweep's rounds or as many as said; false alerts per node per 1,000 sweeps, the confirmations' runs per 1,000 scheduled ones; +10 % found"
    );
    println!(
        "{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>9} {:>10}",
        "N",
        "false/1k",
        "cost",
        "one in 5",
        "one in 10",
        "one 10 us",
        "one min@300",
        "host in 10",
        "host 10 us"
    );
    let at_once = Confirm {
        after: None,
        ..full.confirm
    };
    let longer = |rounds| Confirm {
        sweeps: 1,
        after: None,
        rounds: Some(rounds),
        retries: 0,
    };
    for confirm in [Confirm::NONE, full.confirm, at_once, longer(10), longer(20)] {
        let variant = Variant { confirm, ..*full };
        let (quiet_run, one, host) = at_ten_percent(rng, noise, &variant, trials);
        let minutes = one.delay(|h| h.minutes(DEFAULT_INTERVAL));
        println!(
            "{:<20} {:>9.2} {:>7.0} {:>8.1}% {:>8.1}% {:>8.1}% {:>10} {:>8.1}% {:>9.1}%",
            match (confirm.sweeps, confirm.after) {
                (0, _) => "none".to_owned(),
                (n, Some(_)) => format!("{n} apart"),
                (n, None) => format!(
                    "{n} at once{}",
                    confirm
                        .rounds
                        .map_or_else(String::new, |r| format!(", {r} rounds"))
                ),
            },
            quiet_run.rate,
            quiet_run.confirmation_cost,
            one.within(5, false),
            one.within(10, false),
            one.within(10, true),
            minutes.map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
            host.within(10, false),
            host.within(10, true),
        );
    }
}

/// The ablation's variants, each adding one part to the one before; the last is the daemon's.
fn ablation() -> Vec<Variant> {
    let defaults = Settings::default();
    let knob = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let full = Settings {
        max_contention: knob("COPYBENCH_BENCH_MAX_CONTENTION", defaults.max_contention),
        confirm_from: knob("COPYBENCH_BENCH_CONFIRM_FROM", defaults.confirm_from),
        host: cusum::Settings {
            persistence_seconds: knob(
                "COPYBENCH_BENCH_HOST_ALERT_AFTER",
                defaults.host.persistence_seconds,
            ),
            ..defaults.host
        },
        relative: cusum::Settings {
            persistence_seconds: knob(
                "COPYBENCH_BENCH_ALERT_AFTER",
                defaults.relative.persistence_seconds,
            ),
            ..defaults.relative
        },
        ..defaults
    };
    let bare = Settings {
        relative: cusum::Settings {
            persistence: 1,
            ..full.relative
        },
        host: cusum::Settings {
            persistence: 1,
            persistence_seconds: 0.0,
            hold: 0.0,
            ..full.host
        },
        max_contention: f64::INFINITY,
        max_full_width_contention: f64::INFINITY,
        memory: false,
        slower_itself: false,
        ..full
    };
    let gated = Settings {
        max_contention: full.max_contention,
        ..bare
    };
    let gated_wide = Settings {
        max_full_width_contention: full.max_full_width_contention,
        ..gated
    };
    let memory = Settings {
        memory: true,
        ..gated_wide
    };
    vec![
        Variant {
            name: "raw medians, thresholds for independent noise",
            settings: bare,
            raw: true,
            confirm: Confirm::NONE,
        },
        Variant {
            name: "+ normalized by the sweep's single-worker runs",
            settings: bare,
            raw: false,
            confirm: Confirm::NONE,
        },
        Variant {
            name: "+ contended sweeps skipped (1-worker runs' waits)",
            settings: gated,
            raw: false,
            confirm: Confirm::NONE,
        },
        Variant {
            name: "+ and the full-width runs' waits",
            settings: gated_wide,
            raw: false,
            confirm: Confirm::NONE,
        },
        Variant {
            name: "+ thresholds for the measured memory",
            settings: memory,
            raw: false,
            confirm: Confirm::NONE,
        },
        Variant {
            name: "+ persistence",
            settings: Settings {
                slower_itself: false,
                ..full
            },
            raw: false,
            confirm: Confirm::NONE,
        },
        Variant {
            name: "+ a ratio's combination itself slower",
            settings: full,
            raw: false,
            confirm: Confirm::NONE,
        },
        Variant {
            name: "+ confirmation sweeps (the daemon's detectors)",
            settings: full,
            raw: false,
            confirm: confirmations(),
        },
    ]
}

/// One detector on one series: synthetic and older recorded noise.
fn per_series(rng: &mut StdRng, recordings: &[Vec<Vec<Sweep>>], trials: usize) {
    // The memory and spread of the real workload signals (uncontended ones), each recording's
    // series apart.
    let mut series: BTreeMap<(usize, Group, u32), Vec<f64>> = BTreeMap::new();
    for (i, quiet) in recordings.iter().enumerate() {
        for sweep in quiet.iter().flatten() {
            let signals = of_sweep(&sweep.runs);
            if !Settings::default().contended(&signals) {
                for ((group, workers), value) in signals.workload {
                    series.entry((i, group, workers)).or_default().push(value);
                }
            }
        }
    }
    let ratios: Vec<f64> = series
        .values()
        .filter_map(|s| long_run_ratio(s, 8))
        .collect();
    let phi = median(&ratios).map_or(0.0, phi_eff);
    let sds: Vec<f64> = series
        .values()
        .filter_map(|s| {
            let m = s.iter().sum::<f64>() / s.len() as f64;
            Some((s.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (s.len() as f64 - 1.0)).sqrt())
                .filter(|v| v.is_finite())
        })
        .collect();
    let sd = median(&sds).unwrap_or(0.1);
    println!();
    println!(
        "one series, one detector (the workload settings; {trials} series per case; shift after {BEFORE} sweeps)"
    );
    println!(
        "{:<34} {:>6} {:>9} {:>10} {:>6} {:>9}",
        "noise", "shift", "within 5", "within 10", "delay", "false/1k"
    );
    type Make = Box<dyn Fn(&mut StdRng, usize) -> Vec<f64>>;
    let arl = cusum::Settings::relative().arl;
    let mut cases: Vec<(String, Make, f64)> = vec![(
        format!("AR(1) fitted: phi {phi:.2}, sd {:.1} %", sd * 100.0),
        Box::new(move |rng: &mut StdRng, n| ar1(rng, phi, sd, n)),
        arl,
    )];
    for cv in [0.03, 0.05, 0.10] {
        let sigma = (1.0f64 + cv * cv).ln().sqrt();
        cases.push((
            format!("independent, CV {:.0} %", cv * 100.0),
            Box::new(move |rng: &mut StdRng, n| ar1(rng, 0.0, sigma, n)),
            arl,
        ));
    }
    // At the false-alarm rate of `cargo bench --bench changepoints`'s detectors (0.41 per
    // 1,000 sweeps per series), to compare like with like.
    let sigma = (1.0f64 + 0.05 * 0.05).ln().sqrt();
    cases.push((
        "independent, CV 5 %, ARL 2,500".to_owned(),
        Box::new(move |rng: &mut StdRng, n| ar1(rng, 0.0, sigma, n)),
        2_500.0,
    ));
    for (name, make, arl) in &cases {
        let false_rate = series_false_alarms(rng, |rng| make(rng, 2_000), (trials, *arl));
        for shift in [0.05, 0.10, 0.20] {
            let f = series_detect(rng, |rng| make(rng, BEFORE + AFTER), shift, (trials, *arl));
            println!(
                "{name:<34} {:>5.0}% {:>8.1}% {:>9.1}% {:>6} {:>9.2}",
                shift * 100.0,
                f.within(5, false),
                f.within(10, false),
                f.delay(|h| h.sweeps as f64)
                    .map_or("-".into(), |d| format!("{d:.0}")),
                false_rate
            );
        }
    }
    for path in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).expect("fixtures")
    {
        let path = path.expect("entry").path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("noise-"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("fixture");
        let values: Vec<f64> = text
            .lines()
            .filter_map(|l| l.split(',').nth(1)?.parse::<f64>().ok())
            .map(f64::ln)
            .collect();
        let name = format!(
            "back to back: {}",
            path.file_stem().unwrap_or_default().to_string_lossy()
        );
        // Blocks of the recording, so its memory stays.
        let blocks = |rng: &mut StdRng, n: usize| {
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                let start = rng.random_range(0..values.len() - BLOCK);
                out.extend_from_slice(&values[start..start + BLOCK]);
            }
            out.truncate(n);
            out
        };
        let false_rate = series_false_alarms(rng, |rng| blocks(rng, values.len()), (trials, arl));
        let f = series_detect(rng, |rng| blocks(rng, BEFORE + AFTER), 0.10, (trials, arl));
        println!(
            "{name:<34} {:>5.0}% {:>8.1}% {:>9.1}% {:>6} {:>9.2}",
            10.0,
            f.within(5, false),
            f.within(10, false),
            f.delay(|h| h.sweeps as f64)
                .map_or("-".into(), |d| format!("{d:.0}")),
            false_rate
        );
    }
}

fn normal(rng: &mut StdRng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// AR(1) log noise with coefficient `phi` and marginal spread `sd`.
fn ar1(rng: &mut StdRng, phi: f64, sd: f64, n: usize) -> Vec<f64> {
    let mut x = sd * normal(rng);
    (0..n)
        .map(|_| {
            x = phi * x + (1.0 - phi * phi).sqrt() * sd * normal(rng);
            x
        })
        .collect()
}

/// A watched series: the detector's events with their index; its memory re-estimated as the
/// watch does (every 12 values, from the values so far).
fn watch_series(values: &[f64], arl: f64, mut on: impl FnMut(usize, Event)) {
    let mut detector = Detector::new(cusum::Settings {
        arl,
        ..cusum::Settings::relative()
    });
    let mut phi = 0.3;
    for (i, value) in values.iter().enumerate() {
        if let Some(event) = detector.step(Some(*value), i as f64 * 45.0, phi) {
            on(i, event);
        }
        if (i + 1).is_multiple_of(12) {
            let history = detector.history();
            if history.len() >= 48 {
                phi = long_run_ratio(&history[history.len().saturating_sub(288)..], 8)
                    .map_or(phi, phi_eff);
            }
        }
    }
}

fn series_detect(
    rng: &mut StdRng,
    make: impl Fn(&mut StdRng) -> Vec<f64>,
    shift: f64,
    (trials, arl): (usize, f64),
) -> Found {
    let mut found = Found::default();
    for _ in 0..trials {
        let mut values = make(rng);
        for v in values.iter_mut().skip(BEFORE) {
            *v += shift.ln_1p();
        }
        let mut hit = None;
        watch_series(&values, arl, |i, event| {
            if i >= BEFORE && matches!(event, Event::Alarm(_)) {
                hit = hit.or(Some(i + 1 - BEFORE));
            }
        });
        let hit = hit.map(|sweeps| Hit {
            sweeps,
            usable: sweeps,
            seconds: SWEEP_SECONDS,
        });
        found.trials.push(Trial {
            target: None,
            hit,
            sensitivity: None,
        });
    }
    found
}

fn series_false_alarms(
    rng: &mut StdRng,
    make: impl Fn(&mut StdRng) -> Vec<f64>,
    (trials, arl): (usize, f64),
) -> f64 {
    let (mut alarms, mut sweeps) = (0, 0);
    for _ in 0..trials {
        let values = make(rng);
        sweeps += values.len();
        watch_series(&values, arl, |_, event| {
            alarms += usize::from(matches!(event, Event::Alarm(_)))
        });
    }
    alarms as f64 * 1_000.0 / sweeps as f64
}

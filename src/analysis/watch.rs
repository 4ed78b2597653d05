//! A node's alerts from its sweeps: one CUSUM detector per signal ([`super::signals`]), the
//! host's one per node, each with a threshold for the measured memory of its kind or, where
//! that is longer, of its own series, and the contention rule beside them. The daemon and the
//! offline replay both feed sweeps through [`Watch::step`], so they raise the same alerts
//! from the same history.
//!
//! Contended sweeps (pressure or steal beyond `max_contention` in the 1-worker runs or beyond
//! `max_full_width_contention` in the full-width ones, or a throttled run) are
//! skipped by every detector, and counted instead: contention over at least
//! `contention_share` of the sweeps of the last `contention_window` seconds is one alert for
//! the node; a contended stretch of two sweeps or more that ends before that is a transient.
//!
//! A workload or scaling alarm also needs the combination itself to have got slower: its own
//! time (its fastest run) since the change began above what it was before. A ratio also grows
//! when its reference gets faster (a VM's single thread that switches between two speeds,
//! with parallel runs that follow it less), and then nothing got slower.

use std::collections::{BTreeMap, VecDeque};

use super::cusum::{Change, Detector, Event, KEPT, Settings as Cusum, State};
use super::signals::{Key, Signals};
use super::stats::median;
use super::threshold::{long_run_ratio, phi_eff};

/// Lags of the long-run variance behind a kind's memory.
const LAGS: usize = 8;
/// The memory is re-estimated every this many sweeps...
const MEMORY_EVERY: usize = 12;
/// ...from at most this many latest values of each series...
const MEMORY_VALUES: usize = 288;
/// ...once a series has this many; before, this prior.
const MEMORY_MIN_VALUES: usize = 48;
const MEMORY_PRIOR: f64 = 0.3;
/// A series' own memory counts once it has this many values: one series' estimate varies
/// more than the median of a kind's (its standard error on independent noise is about
/// 3.2/√n in the long-run ratio, 0.26 at this many).
const OWN_MEMORY_MIN_VALUES: usize = 144;

/// How a node is watched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The workload and scaling detectors.
    pub relative: Cusum,
    /// The host detector.
    pub host: Cusum,
    /// A sweep is contended above this share of pressure and steal in its 1-worker runs...
    pub max_contention: f64,
    /// ...or above this share in its full-width runs (one worker per CPU).
    pub max_full_width_contention: f64,
    /// Contention alerts when this share of the window's sweeps was contended...
    pub contention_share: f64,
    /// ...over this many seconds (and at least three sweeps).
    pub contention_window: f64,
    /// Thresholds for each kind's measured memory; `false`: for independent noise.
    pub memory: bool,
    /// A workload or scaling alarm also needs the combination's own time to be slower than
    /// before the change: a ratio that grew because its reference got faster is no slowdown.
    pub slower_itself: bool,
    /// A detector whose sum is past this share of its threshold suspects a change, and a
    /// confirmation sweep is worth running.
    pub confirm_from: f64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            relative: Cusum::relative(),
            host: Cusum::host(),
            max_contention: 0.05,
            max_full_width_contention: 0.35,
            contention_share: 0.8,
            contention_window: 1_800.0,
            memory: true,
            slower_itself: true,
            confirm_from: 0.5,
        }
    }
}

impl Settings {
    /// Whether the detectors skip the sweep of `signals`.
    pub fn contended<G: Ord>(&self, signals: &Signals<G>) -> bool {
        signals.contended(self.max_contention, self.max_full_width_contention)
    }
}

/// Which signal an event is of.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal<G> {
    /// The node's own speed.
    Host,
    /// Others wanted the node's CPUs, or the quota held it back.
    Contention,
    /// A combination against the same sweep's single-worker runs.
    Workload(Key<G>),
    /// A multi-worker combination against its own 1-worker runs.
    Scaling(Key<G>),
}

/// The kinds of signal, by name.
pub const SIGNALS: [&str; 4] = ["host", "contention", "workload", "scaling"];

impl<G> Signal<G> {
    /// The signal's kind, one of [`SIGNALS`].
    pub fn name(&self) -> &'static str {
        SIGNALS[match self {
            Signal::Host => 0,
            Signal::Contention => 1,
            Signal::Workload(_) => 2,
            Signal::Scaling(_) => 3,
        }]
    }

    /// The combination a workload or scaling signal is of.
    pub fn key(&self) -> Option<&Key<G>> {
        match self {
            Signal::Workload(key) | Signal::Scaling(key) => Some(key),
            Signal::Host | Signal::Contention => None,
        }
    }
}

/// An event of one signal after one sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert<G> {
    /// Whose.
    pub signal: Signal<G>,
    /// What happened.
    pub event: Event,
}

/// The contention rule's state.
#[derive(Clone, Debug, Default)]
struct Contention {
    /// The sweeps of the window: time, contended.
    recent: VecDeque<(f64, bool)>,
    /// The start of the current contended stretch, and its length in sweeps.
    stretch: Option<(f64, usize)>,
    alarm: Option<f64>,
}

impl Contention {
    fn step(&mut self, time: f64, contended: bool, settings: &Settings) -> Option<Event> {
        self.recent.push_back((time, contended));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| time - t > settings.contention_window)
        {
            self.recent.pop_front();
        }
        let share =
            self.recent.iter().filter(|(_, c)| *c).count() as f64 / self.recent.len() as f64;
        let change = |onset| Change { onset, shift: 0.0 };
        if let Some(onset) = self.alarm {
            if share <= 1.0 - settings.contention_share {
                self.alarm = None;
                self.stretch = None;
                return Some(Event::Resolved(change(onset)));
            }
            return None;
        }
        if contended {
            let (onset, sweeps) = self.stretch.get_or_insert((time, 0));
            *sweeps += 1;
            let onset = *onset;
            if self.recent.len() >= 3 && share >= settings.contention_share {
                // The contention began with the window's first contended sweep, even if a
                // calm one broke the stretch since.
                let first = self.recent.iter().find(|(_, c)| *c).map_or(onset, |s| s.0);
                let onset = onset.min(first);
                self.alarm = Some(onset);
                return Some(Event::Alarm(change(onset)));
            }
            return None;
        }
        match self.stretch.take() {
            Some((onset, sweeps)) if sweeps >= 2 => Some(Event::Transient(change(onset))),
            _ => None,
        }
    }
}

/// A node's detectors.
#[derive(Clone, Debug)]
pub struct Watch<G: Ord> {
    settings: Settings,
    host: Detector,
    workload: BTreeMap<Key<G>, Detector>,
    scaling: BTreeMap<Key<G>, Detector>,
    contention: Contention,
    /// The effective AR(1) coefficient of the host, workload and scaling series.
    memory: [f64; 3],
    /// Each workload and scaling series' own, once it has enough values.
    own_memory: BTreeMap<Signal<G>, f64>,
    /// Each combination's own time.
    own: BTreeMap<Key<G>, OwnTime>,
    sweeps: usize,
}

/// A combination's own time (the log of its fastest run) in the sweeps the detectors took.
#[derive(Clone, Debug, Default)]
struct OwnTime {
    /// Time of the sweep, value; at most [`KEPT`].
    values: VecDeque<(f64, f64)>,
}

impl OwnTime {
    fn push(&mut self, time: f64, value: f64) {
        self.values.push_back((time, value));
        if self.values.len() > KEPT {
            self.values.pop_front();
        }
    }

    /// How much slower it got at `onset`: its median since then less that of up to `window`
    /// values before it. `None` when either side has none.
    fn rise_since(&self, onset: f64, window: usize) -> Option<f64> {
        let at = self.values.partition_point(|(t, _)| *t < onset);
        let side = |range| median(&self.values.range(range).map(|v| v.1).collect::<Vec<_>>());
        Some(side(at..self.values.len())? - side(at.saturating_sub(window)..at)?)
    }
}

impl<G: Ord + Clone> Watch<G> {
    /// A watch with no history.
    pub fn new(settings: Settings) -> Watch<G> {
        let prior = if settings.memory { MEMORY_PRIOR } else { 0.0 };
        Watch {
            settings,
            host: Detector::new(settings.host),
            workload: BTreeMap::new(),
            scaling: BTreeMap::new(),
            contention: Contention::default(),
            memory: [prior; 3],
            own_memory: BTreeMap::new(),
            own: BTreeMap::new(),
            sweeps: 0,
        }
    }

    /// Takes the sweep that began at `time` (seconds): its events, in signal order.
    pub fn step(&mut self, time: f64, signals: &Signals<G>) -> Vec<Alert<G>> {
        let settings = self.settings;
        let contended = settings.contended(signals);
        let mut alerts = Vec::new();
        let mut push = |signal: Signal<G>, event: Option<Event>| {
            alerts.extend(event.map(|event| Alert { signal, event }));
        };
        push(
            Signal::Host,
            self.host
                .step(signals.host.filter(|_| !contended), time, self.memory[0]),
        );
        push(
            Signal::Contention,
            self.contention.step(time, contended, &settings),
        );
        if !contended {
            for (key, value) in &signals.raw {
                self.own.entry(key.clone()).or_default().push(time, *value);
            }
        }
        let own = &self.own;
        for (detectors, values, phi, kind) in [
            (
                &mut self.workload,
                &signals.workload,
                self.memory[1],
                Signal::Workload as fn(_) -> _,
            ),
            (
                &mut self.scaling,
                &signals.scaling,
                self.memory[2],
                Signal::Scaling,
            ),
        ] {
            for key in values.keys() {
                detectors
                    .entry(key.clone())
                    .or_insert_with(|| Detector::new(settings.relative));
            }
            for (key, detector) in detectors.iter_mut() {
                let value = values.get(key).copied().filter(|_| !contended);
                let signal = kind(key.clone());
                let phi = at_least(phi, self.own_memory.get(&signal));
                let slower = |change: &Change| {
                    !settings.slower_itself
                        || (own.get(key))
                            .and_then(|t| t.rise_since(change.onset, settings.relative.window))
                            .is_none_or(|rise| rise > 0.0)
                };
                push(signal, detector.step_gated(value, time, phi, slower));
            }
        }
        self.sweeps += 1;
        if settings.memory && self.sweeps.is_multiple_of(MEMORY_EVERY) {
            self.memory = [
                pooled_memory([&self.host].into_iter()),
                pooled_memory(self.workload.values()),
                pooled_memory(self.scaling.values()),
            ];
            self.own_memory = (self.relative())
                .filter_map(|(signal, d)| {
                    Some((signal, phi_eff(long_run(d, OWN_MEMORY_MIN_VALUES)?)))
                })
                .collect();
        }
        alerts
    }

    /// How the node is watched.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The host, workload and scaling signals whose sums are past `confirm_from` of their
    /// thresholds and not alerting: what one more sweep now would confirm or dismiss sooner
    /// than the next scheduled one.
    pub fn suspected(&self) -> Vec<Signal<G>> {
        let share = self.settings.confirm_from;
        (self.detectors())
            .filter(|(_, d)| d.suspicious(share))
            .map(|(signal, _)| signal)
            .collect()
    }

    /// Each workload and scaling detector's [`Detector::sensitivity`] within `sweeps`: the
    /// slowdown of its combination it finds in that many usable sweeps (infinite when it would
    /// find none; absent while it warms up).
    pub fn sensitivity(&self, sweeps: usize) -> BTreeMap<Signal<G>, f64> {
        (self.relative())
            .filter_map(|(signal, d)| Some((signal, d.sensitivity(sweeps)?)))
            .collect()
    }

    /// The host, workload and scaling signals whose detectors are still building their
    /// baselines: none of them can alert yet.
    pub fn warming(&self) -> Vec<Signal<G>> {
        (self.detectors())
            .filter(|(_, d)| d.state() == State::Warmup)
            .map(|(signal, _)| signal)
            .collect()
    }

    /// The host detector, then each workload and scaling one, with its signal.
    fn detectors(&self) -> impl Iterator<Item = (Signal<G>, &Detector)> {
        std::iter::once((Signal::Host, &self.host)).chain(self.relative())
    }

    /// Each workload and scaling detector, with its signal.
    fn relative(&self) -> impl Iterator<Item = (Signal<G>, &Detector)> {
        let workload = (self.workload.iter()).map(|(key, d)| (Signal::Workload(key.clone()), d));
        let scaling = (self.scaling.iter()).map(|(key, d)| (Signal::Scaling(key.clone()), d));
        workload.chain(scaling)
    }

    /// The effective AR(1) coefficients of the host, workload and scaling series: a kind's
    /// thresholds are for at least this memory.
    pub fn memory(&self) -> [f64; 3] {
        self.memory
    }

    /// The effective AR(1) coefficient the threshold of `signal`'s detector is for: its kind's
    /// memory, or its own series' where that is longer (a series whose noise wanders for
    /// longer than its kind's, e.g. as the host's single-thread speed changes).
    /// `None` for contention, which has no threshold.
    pub fn memory_of(&self, signal: &Signal<G>) -> Option<f64> {
        let kind = match signal {
            Signal::Host => self.memory[0],
            Signal::Workload(_) => self.memory[1],
            Signal::Scaling(_) => self.memory[2],
            Signal::Contention => return None,
        };
        Some(at_least(kind, self.own_memory.get(signal)))
    }
}

/// The memory a threshold is for: its kind's, or its own series' where that is longer. The
/// own estimate is noisier (one series, not the median of a kind's), and here it only ever
/// raises a threshold.
fn at_least(kind: f64, own: Option<&f64>) -> f64 {
    own.map_or(kind, |own| own.max(kind))
}

/// The effective AR(1) coefficient of a kind: the median long-run variance ratio of its
/// series' latest values, the prior while they are too few.
fn pooled_memory<'a>(detectors: impl Iterator<Item = &'a Detector>) -> f64 {
    let ratios: Vec<f64> = detectors
        .filter_map(|d| long_run(d, MEMORY_MIN_VALUES))
        .collect();
    super::stats::median(&ratios).map_or(MEMORY_PRIOR, phi_eff)
}

/// The long-run variance ratio of a detector's latest values (before its guard), once it has
/// `min_values` of them.
fn long_run(detector: &Detector, min_values: usize) -> Option<f64> {
    let history = detector.history();
    let latest = &history[history.len().saturating_sub(MEMORY_VALUES)..];
    (history.len() >= min_values && latest.len() >= MEMORY_MIN_VALUES)
        .then(|| long_run_ratio(latest, LAGS))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::super::signals::{Run, of_sweep};
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn normal(rng: &mut StdRng) -> f64 {
        let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// A sweep of 5 rounds of groups 0..4 at 1 and 2 workers and a reference: a shared
    /// host state of 8 %, 5 % of each run's own; `factor(group, workers, reference)` scales
    /// a run, `contention` is every run's share.
    fn sweep(
        rng: &mut StdRng,
        factor: impl Fn(u32, u32, bool) -> f64,
        contention: f64,
    ) -> Signals<u32> {
        let host = (0.08 * normal(rng)).exp();
        let mut runs = Vec::new();
        for round in 0..5 {
            for (group, workers, reference) in (0..4)
                .flat_map(|g| [(g, 1, false), (g, 2, false)])
                .chain([(9, 1, true)])
            {
                let seconds = host * (0.05 * normal(rng)).exp() * factor(group, workers, reference);
                runs.push(Run {
                    group,
                    workers,
                    reference,
                    round,
                    seconds: Some(seconds),
                    disturbed: false,
                    throttled: false,
                    contention_seconds: contention * seconds,
                    full_width: false,
                });
            }
        }
        of_sweep(&runs)
    }

    /// Runs `sweeps` sweeps a minute apart; the alarms and contention events with their
    /// sweep index.
    fn watch(
        sweeps: usize,
        mut make: impl FnMut(usize, &mut StdRng) -> Signals<u32>,
    ) -> Vec<(usize, Alert<u32>)> {
        let mut rng = StdRng::seed_from_u64(11);
        let mut watch = Watch::new(Settings::default());
        (0..sweeps)
            .flat_map(|i| {
                let signals = make(i, &mut rng);
                watch
                    .step(i as f64 * 60.0, &signals)
                    .into_iter()
                    .map(move |a| (i, a))
            })
            .filter(|(_, a)| !matches!(a.event, Event::Suspect))
            .collect()
    }

    #[test]
    fn a_series_that_wanders_longer_than_its_kind_gets_a_threshold_for_its_own_memory() {
        // Group 0's 2-worker runs wander slowly (AR(1), 0.9) beside independent noise in the
        // rest: its workload and scaling thresholds are for its memory.
        let mut rng = StdRng::seed_from_u64(5);
        let mut watch = Watch::new(Settings::default());
        let mut wander = 0.0;
        for i in 0..300 {
            wander = 0.9 * wander + 0.1 * (1.0 - 0.81f64).sqrt() * normal(&mut rng);
            let slow = wander.exp();
            let signals = sweep(
                &mut rng,
                |g, w, _| if (g, w) == (0, 2) { slow } else { 1.0 },
                0.0,
            );
            watch.step(f64::from(i) * 300.0, &signals);
        }
        let [_, workload, scaling] = watch.memory();
        assert!(workload < 0.3 && scaling < 0.3, "{:?}", watch.memory());
        for signal in [Signal::Workload((0, 2)), Signal::Scaling((0, 2))] {
            let own = watch.memory_of(&signal).expect("a threshold");
            assert!(own > 0.5, "{signal:?}: {own}");
        }
        // The others' thresholds stay near their kind's, which the one series does not move.
        for group in 1..4 {
            for signal in [Signal::Workload((group, 2)), Signal::Scaling((group, 2))] {
                let memory = watch.memory_of(&signal).expect("a threshold");
                assert!(memory < 0.3, "{signal:?}: {memory}");
            }
        }
        assert_eq!(watch.memory_of(&Signal::Contention), None);
    }

    #[test]
    fn a_host_wide_slowdown_is_one_host_alert_and_one_combination_its_own() {
        let host_wide = watch(200, |i, rng| {
            sweep(rng, |_, _, _| if i >= 120 { 1.5 } else { 1.0 }, 0.0)
        });
        let alarms: Vec<_> = host_wide
            .iter()
            .filter(|(_, a)| matches!(a.event, Event::Alarm(_)))
            .collect();
        assert_eq!(alarms.len(), 1, "{host_wide:?}");
        assert_eq!(alarms[0].1.signal, Signal::Host);
        // Three sweeps and 30 minutes (30 sweeps here) of persistence, over which the change
        // held: its excursion may start a few sweeps before it, its values of the first 15
        // minutes must have moved as well.
        assert!((145..160).contains(&alarms[0].0), "{alarms:?}");

        let one = watch(160, |i, rng| {
            sweep(
                rng,
                |g, w, _| {
                    if i >= 120 && (g, w) == (2, 2) {
                        1.3
                    } else {
                        1.0
                    }
                },
                0.0,
            )
        });
        let alarms: Vec<_> = one
            .iter()
            .filter(|(_, a)| matches!(a.event, Event::Alarm(_)))
            .map(|(i, a)| (*i, a.signal.clone()))
            .collect();
        assert!(
            alarms.iter().any(|(_, s)| *s == Signal::Workload((2, 2))),
            "{one:?}"
        );
        assert!(
            alarms.iter().all(|(i, s)| (120..130).contains(i)
                && matches!(s, Signal::Workload((2, 2)) | Signal::Scaling((2, 2)))),
            "{one:?}"
        );
    }

    #[test]
    fn a_noisier_combination_is_watched_less_sensitively() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut watch = Watch::new(Settings::default());
        assert!(watch.sensitivity(5).is_empty(), "nothing before a sweep");
        for i in 0..100 {
            // Group 3's runs move together by 15 % from sweep to sweep.
            let wobble = (0.15 * normal(&mut rng)).exp();
            let factor = move |g, _, _| if g == 3 { wobble } else { 1.0 };
            watch.step(i as f64 * 60.0, &sweep(&mut rng, factor, 0.0));
        }
        let sensitivity = watch.sensitivity(5);
        assert_eq!(sensitivity.len(), 8 + 4, "{sensitivity:?}");
        let quiet = sensitivity[&Signal::Workload((0, 2))];
        let noisy = sensitivity[&Signal::Workload((3, 2))];
        assert!((0.05..0.15).contains(&quiet), "{sensitivity:?}");
        assert!(noisy > 2.0 * quiet, "{sensitivity:?}");
    }

    #[test]
    fn the_detectors_warm_up_on_uncontended_sweeps_only() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut watch = Watch::new(Settings::default());
        assert_eq!(watch.warming(), [Signal::Host], "the host's before a sweep");
        let warm = |watch: &Watch<u32>| watch.sensitivity(5).len();
        // 8 workload and 4 scaling detectors beside the host's, none armed by contended sweeps.
        for i in 0..100 {
            watch.step(i as f64 * 60.0, &sweep(&mut rng, |_, _, _| 1.0, 0.5));
        }
        assert_eq!((watch.warming().len(), warm(&watch)), (1 + 8 + 4, 0));
        let mut armed = None;
        for i in 100..200 {
            watch.step(i as f64 * 60.0, &sweep(&mut rng, |_, _, _| 1.0, 0.0));
            if watch.warming().is_empty() {
                armed = armed.or(Some(i - 100 + 1));
            }
        }
        // The 24 values of the shortest baseline and a guard of 8 before the first it judges.
        assert_eq!(armed, Some(24 + 8 + 1), "uncontended sweeps to arm them");
        assert_eq!(warm(&watch), 8 + 4);
    }

    #[test]
    fn a_ratio_that_grew_because_its_reference_got_faster_is_no_slowdown() {
        // From sweep 100 every single-worker run, the reference's included, takes 20 % less
        // time and the 2-worker runs, which follow the single thread's speed only in part,
        // 10 % less: their ratios grow by 12.5 %, and they are faster.
        let alarms = |settings: Settings| {
            let mut rng = StdRng::seed_from_u64(7);
            let mut watch = Watch::new(settings);
            let mut alarms = Vec::new();
            for i in 0..160 {
                let factor = move |_, w, _| match (i >= 100, w) {
                    (true, 1) => 0.8,
                    (true, _) => 0.9,
                    (false, _) => 1.0,
                };
                let alerts = watch.step(i as f64 * 60.0, &sweep(&mut rng, factor, 0.0));
                alarms.extend(
                    (alerts.into_iter())
                        .filter(|a| matches!(a.event, Event::Alarm(_)))
                        .map(|a| a.signal),
                );
            }
            alarms
        };
        let by_ratio = alarms(Settings {
            slower_itself: false,
            ..Settings::default()
        });
        assert!(
            by_ratio.contains(&Signal::Scaling((0, 2))),
            "the ratios alone alarm: {by_ratio:?}"
        );
        assert_eq!(alarms(Settings::default()), [], "nothing got slower");
    }

    #[test]
    fn a_change_is_suspected_before_it_alarms() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut watch = Watch::new(Settings::default());
        let slow = |i: usize| {
            move |g, w, _| {
                if i >= 100 && (g, w) == (1, 2) {
                    1.5
                } else {
                    1.0
                }
            }
        };
        let mut suspected_then_alarm = None;
        for i in 0..110 {
            let before = watch.suspected();
            let alerts = watch.step(i as f64 * 60.0, &sweep(&mut rng, slow(i), 0.0));
            if let Some(alarm) = alerts.iter().find(|a| matches!(a.event, Event::Alarm(_))) {
                suspected_then_alarm = Some((i, before, alarm.signal.clone()));
                break;
            }
        }
        let (i, before, alarmed) = suspected_then_alarm.expect("an alarm");
        assert!(i >= 100, "an alarm before the change, at sweep {i}");
        assert!(before.contains(&alarmed), "{before:?} before {alarmed:?}");
        assert!(alarmed.key() == Some(&(1, 2)), "{alarmed:?}");
        assert!(
            !watch.suspected().contains(&alarmed),
            "an alarm is no longer a suspicion"
        );
    }

    #[test]
    fn contention_that_passes_is_a_transient_and_contention_that_stays_alerts() {
        let passing = watch(120, |i, rng| {
            sweep(
                rng,
                |_, _, _| 1.0,
                if (80..88).contains(&i) { 0.5 } else { 0.0 },
            )
        });
        assert_eq!(
            passing
                .iter()
                .map(|(i, a)| (*i, a.signal.clone(), a.event))
                .collect::<Vec<_>>(),
            vec![(
                88,
                Signal::Contention,
                Event::Transient(Change {
                    onset: 4_800.0,
                    shift: 0.0
                })
            )]
        );
        let staying = watch(150, |i, rng| {
            sweep(
                rng,
                |_, _, _| if i >= 80 { 1.6 } else { 1.0 },
                if i >= 80 { 0.5 } else { 0.0 },
            )
        });
        // 80 % of 30 minutes: the 25th contended sweep; nothing else meanwhile.
        assert_eq!(staying.len(), 1, "{staying:?}");
        assert_eq!(staying[0].1.signal, Signal::Contention);
        assert!(matches!(staying[0].1.event, Event::Alarm(_)));
        assert!((100..110).contains(&staying[0].0), "{staying:?}");
        // One calm sweep in the middle does not move when the contention began.
        let broken = watch(150, |i, rng| {
            let contention = if i >= 80 && i != 90 { 0.5 } else { 0.0 };
            sweep(rng, |_, _, _| 1.0, contention)
        });
        let alarm = broken
            .iter()
            .find(|(_, a)| matches!(a.event, Event::Alarm(_)))
            .expect("an alarm");
        assert_eq!(
            alarm.1.event,
            Event::Alarm(Change {
                onset: 4_800.0,
                shift: 0.0
            }),
            "{broken:?}"
        );
    }
}

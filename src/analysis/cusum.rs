//! A sequential slowdown detector for one series of per-sweep values (natural logs, larger
//! is slower): a one-sided CUSUM against a rolling robust baseline, with persistence before
//! it alarms, and a memory of changes that went away.
//!
//! After each sweep, [`Detector::step`] standardizes the value against the baseline (the
//! winsorized mean and spread of up to 96 values before the latest 8, so a change does not
//! hide in its own baseline for 8 sweeps), clips it at 3 (real noise has heavy tails) and adds
//! it, less k, to the sum. When the sum passes the threshold for the noise's memory
//! ([`super::threshold`]) the excursion is *suspect*; it *alarms* once it has lasted the
//! persistence (sweeps and seconds), its median moved by at least the smallest slowdown worth
//! an alert, its latest values are not back, and, with a persistence in seconds, the change
//! held over all of it (its values of the first half of those seconds and of the second half
//! both moved), and whatever its caller asks besides ([`Detector::step_gated`]). An excursion
//! that falls back to zero before that is a *transient*. An
//! alarm whose level comes back is *resolved*, and its values stay out of later baselines;
//! one that holds for 288 sweeps becomes the new normal (*accepted*). [`Detector::sensitivity`]
//! says how large a slowdown it finds within a given number of sweeps.

use std::collections::VecDeque;

use super::stats::median;
use super::threshold::threshold;

/// Values within this many spreads of the median are kept as they are in the baseline.
const WINSOR: f64 = 3.0;
/// The baseline's spread is inflated by 1 + 4 (1/n − 1/window) while it has fewer values.
const WARMUP_INFLATION: f64 = 4.0;
/// An alarm is resolved when the median of this many latest values is back.
const WENT_AWAY: usize = 3;
/// Sweeps in alarm after which its level is the new normal.
const ACCEPT_AFTER: usize = 288;
/// Consecutive missing sweeps after which an excursion (not an alarm) is stale.
const MAX_GAP: usize = 12;
/// The overshoot Siegmund's approximation adds to a CUSUM's threshold (2 × 0.583).
const SIEGMUND: f64 = 1.166;
/// Values kept: enough for the baseline and for the memory estimate.
pub const KEPT: usize = 288 + 8;

/// How one kind of series is watched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The reference value k: how many spreads above the baseline a value must be to count.
    pub k: f64,
    /// Standardized values are clipped at this before they are added.
    pub clip: f64,
    /// Values the baseline is taken from, at most.
    pub window: usize,
    /// The latest values left out of the baseline.
    pub guard: usize,
    /// Values the baseline needs before the detector speaks (warm-up).
    pub min_window: usize,
    /// Sweeps between false alarms on unchanged noise, on average (sets the threshold).
    pub arl: f64,
    /// An alarm needs its excursion to span this many values...
    pub persistence: usize,
    /// ...and this many seconds since its first value.
    pub persistence_seconds: f64,
    /// The alarming value's own standardized value must be at least this.
    pub hold: f64,
    /// The smallest slowdown (relative, 0.05 = +5 %) that alarms.
    pub min_magnitude: f64,
}

impl Settings {
    /// A combination's time against the same sweep's reference, or its scaling: 1 false
    /// alarm in 40,000 sweeps, two sweeps of persistence.
    pub fn relative() -> Settings {
        Settings {
            k: 0.75,
            clip: 3.0,
            window: 96,
            guard: 8,
            min_window: 24,
            arl: 40_000.0,
            persistence: 2,
            persistence_seconds: 0.0,
            hold: 0.0,
            min_magnitude: 0.05,
        }
    }

    /// The host's own speed: 1 in 10,000 sweeps, three sweeps and 30 minutes of
    /// persistence, and the alarming sweep itself still slow.
    pub fn host() -> Settings {
        Settings {
            arl: 10_000.0,
            persistence: 3,
            persistence_seconds: 1_800.0,
            hold: 0.75,
            ..Settings::relative()
        }
    }
}

/// The level and spread a series is judged against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Baseline {
    /// Winsorized mean.
    pub mean: f64,
    /// Winsorized standard deviation, inflated while the window is short.
    pub sd: f64,
}

/// A change, as the detector saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// When its first value was measured (seconds, the caller's clock).
    pub onset: f64,
    /// Its size: the median of its values less the baseline's mean (natural log).
    pub shift: f64,
}

impl Change {
    /// The size as a ratio to the baseline (1.10 = 10 % slower).
    pub fn ratio(&self) -> f64 {
        self.shift.exp()
    }
}

/// What a sweep changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// The sum passed the threshold for the first time in this excursion.
    Suspect,
    /// The change held long enough: alert.
    Alarm(Change),
    /// An excursion past the threshold fell back before it alarmed.
    Transient(Change),
    /// An alarm's level came back.
    Resolved(Change),
    /// An alarm held so long that its level is the new normal.
    Accepted(Change),
}

/// Where a detector stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Too few values for a baseline yet.
    Warmup,
    /// Nothing past the threshold.
    Idle,
    /// Past the threshold, not yet persistent.
    Pending,
    /// Alerting.
    Alarm,
}

/// An excursion of the sum above zero.
#[derive(Clone, Debug, Default)]
struct Excursion {
    /// Its values...
    values: Vec<f64>,
    /// ...and when each was measured.
    times: Vec<f64>,
    reached: bool,
}

impl Excursion {
    /// When its first value was measured.
    fn onset(&self) -> f64 {
        self.times[0]
    }

    /// Whether it held over the `persistence` seconds before `now`: the median of its values
    /// of the first half of them, and of the second half, both at least `bar`. So the
    /// persistence is the change's own, not that of a small drift the excursion began with
    /// before a short episode. A first half with no values is the latest value before it; no
    /// persistence in seconds holds at once.
    fn held(&self, now: f64, persistence: f64, bar: f64) -> bool {
        if persistence <= 0.0 {
            return true;
        }
        let (from, split) = (now - persistence, now - persistence / 2.0);
        let at = self.times.partition_point(|t| *t <= split);
        let start = self.times.partition_point(|t| *t < from);
        let first = &self.values[start.min(at.saturating_sub(1))..at];
        let second = &self.values[at..];
        median(first).is_some_and(|m| m >= bar) && median(second).is_none_or(|m| m >= bar)
    }
}

/// A standing alarm: its baseline is frozen.
#[derive(Clone, Debug)]
struct Alarm {
    baseline: Baseline,
    change: Change,
    /// Values since the onset, the excursion's included.
    since_onset: usize,
    sweeps: usize,
}

/// One series' detector.
#[derive(Clone, Debug)]
pub struct Detector {
    settings: Settings,
    /// The latest values, and whether each is kept out of baselines.
    values: VecDeque<(f64, bool)>,
    sum: f64,
    threshold: f64,
    excursion: Option<Excursion>,
    alarm: Option<Alarm>,
    gap: usize,
}

impl Detector {
    /// A detector with no history.
    pub fn new(settings: Settings) -> Detector {
        Detector {
            settings,
            values: VecDeque::new(),
            sum: 0.0,
            threshold: f64::INFINITY,
            excursion: None,
            alarm: None,
            gap: 0,
        }
    }

    /// Takes the sweep at `time` (seconds): its `value` (`None` when the series has no
    /// usable value this sweep: nothing changes then), with the threshold for noise of
    /// effective AR(1) coefficient `phi`.
    pub fn step(&mut self, value: Option<f64>, time: f64, phi: f64) -> Option<Event> {
        self.step_gated(value, time, phi, |_| true)
    }

    /// [`Detector::step`] with one more condition for an alarm, asked once all the others
    /// hold: `gate(change)`.
    pub fn step_gated(
        &mut self,
        value: Option<f64>,
        time: f64,
        phi: f64,
        gate: impl Fn(&Change) -> bool,
    ) -> Option<Event> {
        let Some(y) = value.filter(|v| v.is_finite()) else {
            self.gap += 1;
            if self.gap >= MAX_GAP && self.alarm.is_none() {
                self.restart();
            }
            return None;
        };
        self.gap = 0;
        let baseline = match &self.alarm {
            Some(alarm) => Some(alarm.baseline),
            None => self.baseline(),
        };
        self.values.push_back((y, false));
        if self.values.len() > KEPT {
            self.values.pop_front();
        }
        let baseline = baseline?;
        self.threshold = threshold(phi, self.settings.arl);
        if self.alarm.is_some() {
            return self.watch_alarm(baseline);
        }
        self.accumulate(y, time, baseline, gate)
    }

    /// The CUSUM step outside an alarm.
    fn accumulate(
        &mut self,
        y: f64,
        time: f64,
        baseline: Baseline,
        gate: impl Fn(&Change) -> bool,
    ) -> Option<Event> {
        let s = &self.settings;
        let z = ((y - baseline.mean) / baseline.sd).min(s.clip);
        self.sum = (self.sum + z - s.k).max(0.0);
        if self.sum == 0.0 {
            let ended = self.excursion.take()?;
            return ended.reached.then(|| {
                Event::Transient(Change {
                    onset: ended.onset(),
                    shift: median(&ended.values).unwrap_or(y) - baseline.mean,
                })
            });
        }
        let excursion = self.excursion.get_or_insert_with(Excursion::default);
        excursion.values.push(y);
        excursion.times.push(time);
        if self.sum < self.threshold {
            return None;
        }
        let first = !excursion.reached;
        excursion.reached = true;
        let change = Change {
            onset: excursion.onset(),
            shift: median(&excursion.values).unwrap_or(y) - baseline.mean,
        };
        // Held long enough, and still there: the median of its latest values (as many as an
        // alarm's resolution looks at) is not yet back. A sum still high from a change that
        // already went away does not alarm.
        let floor = s.min_magnitude.ln_1p();
        let bar = baseline.mean + floor.max(change.shift / 2.0);
        let latest = &excursion.values[excursion.values.len().saturating_sub(WENT_AWAY)..];
        let persistent = excursion.values.len() >= s.persistence
            && time - excursion.onset() >= s.persistence_seconds
            && z >= s.hold
            && change.shift >= floor
            && median(latest).is_some_and(|m| m >= bar)
            && excursion.held(time, s.persistence_seconds, bar)
            && gate(&change);
        if persistent {
            self.alarm = Some(Alarm {
                baseline,
                change,
                since_onset: excursion.values.len(),
                sweeps: 0,
            });
            self.excursion = None;
            self.sum = 0.0;
            return Some(Event::Alarm(change));
        }
        first.then_some(Event::Suspect)
    }

    /// A sweep during an alarm: did its level come back, or has it become the normal?
    fn watch_alarm(&mut self, baseline: Baseline) -> Option<Event> {
        let alarm = self.alarm.as_mut()?;
        alarm.sweeps += 1;
        alarm.since_onset += 1;
        let latest: Vec<f64> = self
            .values
            .iter()
            .rev()
            .take(WENT_AWAY)
            .map(|v| v.0)
            .collect();
        let back = latest.len() == WENT_AWAY
            && median(&latest).is_some_and(|m| m < baseline.mean + alarm.change.shift / 2.0);
        let (change, since_onset) = (alarm.change, alarm.since_onset);
        if back {
            // What went away stays out of later baselines.
            let from = self.values.len().saturating_sub(since_onset);
            for value in self.values.iter_mut().skip(from) {
                value.1 = true;
            }
            self.restart();
            return Some(Event::Resolved(change));
        }
        if alarm.sweeps >= ACCEPT_AFTER {
            let keep = since_onset.min(self.values.len());
            self.values.drain(..self.values.len() - keep);
            self.restart();
            return Some(Event::Accepted(change));
        }
        None
    }

    fn restart(&mut self) {
        self.sum = 0.0;
        self.excursion = None;
        self.alarm = None;
    }

    /// The baseline from the values before the guard, `None` while there are too few.
    fn baseline(&self) -> Option<Baseline> {
        let s = &self.settings;
        let before_guard = self.history();
        let window = &before_guard[before_guard.len().saturating_sub(s.window)..];
        if window.len() < s.min_window.max(2) {
            return None;
        }
        let centre = median(window)?;
        let deviations: Vec<f64> = window.iter().map(|v| (v - centre).abs()).collect();
        let mad = (1.4826 * median(&deviations)?).max(1e-12);
        let winsorized: Vec<f64> = window
            .iter()
            .map(|v| v.clamp(centre - WINSOR * mad, centre + WINSOR * mad))
            .collect();
        let n = winsorized.len() as f64;
        let mean = winsorized.iter().sum::<f64>() / n;
        let variance = winsorized.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let inflation = 1.0 + WARMUP_INFLATION * (1.0 / n - 1.0 / s.window as f64).max(0.0);
        Some(Baseline {
            mean,
            sd: variance.sqrt().max(1e-9) * inflation,
        })
    }

    /// Whether the sum is past `share` of the threshold outside an alarm: a change may be
    /// starting, and one more value now would tell sooner than waiting for the next sweep.
    pub fn suspicious(&self, share: f64) -> bool {
        self.alarm.is_none() && self.sum >= share * self.threshold
    }

    /// The smallest slowdown (relative, 0.10 = +10 %) that, once it holds, this detector
    /// alarms on within `sweeps` usable sweeps on average, at its baseline's spread and its
    /// threshold now: a step of z spreads adds z - k a sweep, and the sum reaches the
    /// threshold h after about (h + 1.166) / (z - k) sweeps (Siegmund's approximation).
    /// Infinite when no slowdown would (the clipped gain is too small, or `sweeps` is below
    /// the persistence); `None` while it warms up.
    pub fn sensitivity(&self, sweeps: usize) -> Option<f64> {
        let s = &self.settings;
        let baseline = self.baseline().filter(|_| self.threshold.is_finite())?;
        let z = s.k + (self.threshold + SIEGMUND) / sweeps.max(1) as f64;
        Some(if sweeps < s.persistence || z > s.clip {
            f64::INFINITY
        } else {
            (baseline.sd * z).exp_m1().max(s.min_magnitude)
        })
    }

    /// Where the detector stands.
    pub fn state(&self) -> State {
        if self.alarm.is_some() {
            State::Alarm
        } else if self.excursion.as_ref().is_some_and(|e| e.reached) {
            State::Pending
        } else if self.threshold.is_finite() {
            State::Idle
        } else {
            State::Warmup
        }
    }

    /// The values that may enter a baseline, oldest first, less the latest `guard` of them
    /// (a change may already be there): what the baseline and the noise's memory are
    /// estimated from, so that a change does not raise its own threshold either.
    pub fn history(&self) -> Vec<f64> {
        let mut kept: Vec<f64> = self.values.iter().filter(|v| !v.1).map(|v| v.0).collect();
        kept.truncate(kept.len().saturating_sub(self.settings.guard));
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn normal(rng: &mut StdRng) -> f64 {
        let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Feeds `values` one a minute; the events with their sweep index.
    fn run(detector: &mut Detector, values: &[f64]) -> Vec<(usize, Event)> {
        values
            .iter()
            .enumerate()
            .filter_map(|(i, &v)| Some((i, detector.step(Some(v), i as f64 * 60.0, 0.0)?)))
            .collect()
    }

    /// The share of `trials` in which `warm` (a detector after its warm-up) alarms within
    /// `sweeps` on noise of spread `sd` shifted by `ratio`.
    fn found_within(warm: &Detector, sd: f64, ratio: f64, sweeps: usize, trials: usize) -> f64 {
        let mut rng = StdRng::seed_from_u64(7);
        let found = (0..trials)
            .filter(|_| {
                let mut detector = warm.clone();
                (0..sweeps).any(|i| {
                    let y = sd * normal(&mut rng) + ratio.ln();
                    let event = detector.step(Some(y), (200 + i) as f64 * 60.0, 0.0);
                    matches!(event, Some(Event::Alarm(_)))
                })
            })
            .count();
        found as f64 / trials as f64
    }

    #[test]
    fn a_lower_share_of_the_threshold_suspects_a_change_sooner() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut warm = Detector::new(Settings::relative());
        let noise: Vec<f64> = (0..100).map(|_| 0.05 * normal(&mut rng)).collect();
        run(&mut warm, &noise);
        assert!(!warm.suspicious(0.25), "suspicious on its own noise");
        // A step of 1.75 spreads adds about 1 to the sum a sweep.
        let suspected_after = |share: f64| {
            let mut detector = warm.clone();
            (0..20).position(|i| {
                detector.step(Some(0.05 * 1.75), (100 + i) as f64 * 60.0, 0.0);
                detector.suspicious(share)
            })
        };
        let (early, late) = (suspected_after(0.25), suspected_after(0.5));
        assert!(early.is_some() && late.is_some(), "{early:?} {late:?}");
        assert!(
            early < late,
            "a quarter after {early:?} sweeps, half after {late:?}"
        );
    }

    #[test]
    fn the_sensitivity_is_the_slowdown_found_within_its_sweeps_about_half_the_time() {
        let mut rng = StdRng::seed_from_u64(3);
        for sd in [0.03, 0.05] {
            let mut warm = Detector::new(Settings::relative());
            assert_eq!(warm.sensitivity(5), None, "warming up");
            for i in 0..200 {
                warm.step(Some(sd * normal(&mut rng)), i as f64 * 60.0, 0.0);
            }
            let r = warm.sensitivity(5).expect("warmed up");
            // 0.75 + (6.9 + 1.2) / 5 = 2.4 spreads.
            assert!((r.ln_1p() / sd - 2.4).abs() < 0.3, "sd {sd}: +{r:.3}");
            let at = |f: f64| found_within(&warm, sd, 1.0 + r * f, 5, 400);
            let (half, at_it, half_again) = (at(0.5), at(1.0), at(1.5));
            assert!(half < 0.1, "sd {sd}: half of it found in {half}");
            assert!((0.3..0.8).contains(&at_it), "sd {sd}: found in {at_it}");
            assert!(half_again > 0.9, "sd {sd}: 1.5 times found in {half_again}");
            assert_eq!(
                warm.sensitivity(1),
                Some(f64::INFINITY),
                "below the persistence"
            );
        }
    }

    #[test]
    fn a_sustained_shift_alarms_once_and_a_short_one_is_a_transient() {
        let mut rng = StdRng::seed_from_u64(1);
        let noise: Vec<f64> = (0..260).map(|_| 0.05 * normal(&mut rng)).collect();
        // +30 % from sweep 200 on: an alarm within a few sweeps, its size near the shift.
        let shifted: Vec<f64> = (0..260)
            .map(|i| noise[i] + if i >= 200 { 0.3f64.ln_1p() } else { 0.0 })
            .collect();
        let mut detector = Detector::new(Settings::relative());
        let events = run(&mut detector, &shifted);
        let alarms: Vec<_> = events
            .iter()
            .filter_map(|(i, e)| match e {
                Event::Alarm(c) => Some((*i, *c)),
                _ => None,
            })
            .collect();
        assert_eq!(alarms.len(), 1, "{events:?}");
        let (at, change) = alarms[0];
        assert!((200..206).contains(&at), "alarm at {at}");
        assert!((change.ratio() - 1.3).abs() < 0.05, "{change:?}");
        assert_eq!(change.onset, 200.0 * 60.0);
        assert_eq!(detector.state(), State::Alarm);

        // +30 % for four sweeps only (clipped at 3, the fewest that pass the threshold):
        // past it, never persistent with K = 6.
        let brief: Vec<f64> = (0..260)
            .map(|i| {
                noise[i]
                    + if (200..204).contains(&i) {
                        0.3f64.ln_1p()
                    } else {
                        0.0
                    }
            })
            .collect();
        let mut detector = Detector::new(Settings {
            persistence: 6,
            ..Settings::relative()
        });
        let events = run(&mut detector, &brief);
        assert!(
            events.iter().any(|(_, e)| *e == Event::Suspect),
            "{events:?}"
        );
        assert!(
            events.iter().any(|(_, e)| matches!(e, Event::Transient(_))),
            "{events:?}"
        );
        assert!(!events.iter().any(|(_, e)| matches!(e, Event::Alarm(_))));
    }

    #[test]
    fn persistence_in_seconds_is_the_change_s_own_not_a_small_drift_s_before_it() {
        // Host settings (30 minutes), a sweep every 5 minutes, noise of spread 0.03: a drift
        // of 1.5 spreads for 20 minutes starts the excursion, then +12 % for 20 minutes. At
        // the episode's fourth sweep the excursion is 35 minutes old, its median past +5 %
        // and its latest values too, but the change itself held 20 minutes: a transient, not
        // an alarm.
        let series = |level: &dyn Fn(usize) -> Option<f64>| -> Vec<(usize, Event)> {
            let mut detector = Detector::new(Settings::host());
            (0..140)
                .filter_map(|i| {
                    let y = level(i).unwrap_or(if i % 2 == 0 { 0.03 } else { -0.03 });
                    Some((i, detector.step(Some(y), i as f64 * 300.0, 0.0)?))
                })
                .collect()
        };
        let episode = series(&|i| match i {
            100..104 => Some(0.045),
            104..108 => Some(0.12),
            _ => None,
        });
        let alarmed = |events: &[(usize, Event)]| {
            (events.iter()).find_map(|(i, e)| matches!(e, Event::Alarm(_)).then_some(*i))
        };
        assert_eq!(alarmed(&episode), None, "{episode:?}");
        assert!(
            episode.iter().any(|(_, e)| *e == Event::Suspect),
            "{episode:?}"
        );
        assert!(
            (episode.iter()).any(|(_, e)| matches!(e, Event::Transient(_))),
            "{episode:?}"
        );
        // The same +12 % for good alarms once it has held 30 minutes.
        let step = series(&|i| (i >= 100).then_some(0.12));
        assert_eq!(alarmed(&step), Some(106), "{step:?}");
    }

    #[test]
    fn an_alarm_whose_level_returns_is_resolved_and_kept_out_of_the_baseline() {
        let mut rng = StdRng::seed_from_u64(2);
        let values: Vec<f64> = (0..300)
            .map(|i| 0.05 * normal(&mut rng) + if (150..170).contains(&i) { 0.4 } else { 0.0 })
            .collect();
        let mut detector = Detector::new(Settings::relative());
        let events = run(&mut detector, &values);
        let resolved = events
            .iter()
            .find(|(_, e)| matches!(e, Event::Resolved(_)))
            .expect("resolved");
        assert!((170..175).contains(&resolved.0), "{events:?}");
        assert_eq!(detector.state(), State::Idle);
        // The slow stretch is not in what later baselines see.
        assert!(detector.history().iter().all(|v| *v < 0.3));
    }

    #[test]
    fn warm_up_and_missing_values_are_told_apart() {
        let mut detector = Detector::new(Settings::relative());
        assert_eq!(detector.state(), State::Warmup);
        // 24 values before a guard of 8.
        for i in 0..32 {
            assert_eq!(
                detector.step(Some((i % 3) as f64 * 0.01), i as f64, 0.0),
                None
            );
        }
        assert_eq!(detector.state(), State::Warmup);
        detector.step(Some(0.0), 32.0, 0.0);
        assert_eq!(detector.state(), State::Idle);
        // A missing value changes nothing; a slow one starts an excursion short of the
        // threshold.
        assert_eq!(detector.step(None, 33.0, 0.0), None);
        assert_eq!(detector.step(Some(0.05), 34.0, 0.0), None);
        assert_eq!(detector.state(), State::Idle);
        assert!(detector.sum > 0.0 && detector.sum < detector.threshold);
    }

    /// False alarms per 1,000 sweeps on AR(1) noise with the table's threshold for ARL
    /// 1,000 (K = 1, no magnitude floor: the bare CUSUM the table was made for).
    fn false_alarm_rate(phi: f64) -> f64 {
        let mut rng = StdRng::seed_from_u64(3);
        let settings = Settings {
            arl: 1_000.0,
            persistence: 1,
            min_magnitude: -1.0,
            ..Settings::relative()
        };
        let (mut alarms, mut sweeps) = (0, 0);
        for _ in 0..25 {
            let mut detector = Detector::new(settings);
            let mut x = 0.0;
            for i in 0..2_000 {
                x = phi * x + (1.0 - phi * phi).sqrt() * normal(&mut rng);
                // Sweeps in alarm (until it resolves) are not watched, so not counted.
                sweeps += usize::from(detector.state() == State::Idle);
                let event = detector.step(Some(x), i as f64, phi);
                alarms += usize::from(matches!(event, Some(Event::Alarm(_))));
            }
        }
        alarms as f64 * 1_000.0 / sweeps as f64
    }

    #[test]
    fn the_threshold_holds_its_false_alarm_rate_on_autocorrelated_noise() {
        // Nominal 1 per 1,000 at φ = 0.5; 50,000 sweeps give about ±0.15 of sampling
        // error. The threshold for independent noise gives about 25 there. (Independent noise
        // and the node's rates: `cargo bench --bench alerts`.)
        let rate = false_alarm_rate(0.5);
        assert!((0.5..1.8).contains(&rate), "{rate:.2} per 1,000");
    }
}

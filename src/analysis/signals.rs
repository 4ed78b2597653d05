//! What one sweep says, as three signals that cannot be confused (natural logs; larger is
//! slower):
//!
//! - **host**: the reference run's fastest time in the sweep: how fast the node did the
//!   basic work just then. Everything on the node moves it: a kernel, a slower CPU, a
//!   neighbour. (Interference only ever adds time, so a sweep's fastest run is steadier from
//!   sweep to sweep than its median: 8.3 % against 9.6 % on the recorded noise.)
//! - **workload** of a combination: the median over the sweep's rounds of its time less the
//!   median of the same round's other single-worker runs (the reference's included). The
//!   host's state of that moment, shared by the round's runs, cancels; what is left moved for
//!   this combination alone. Round by round, not a sweep's fastest runs against each other's:
//!   those come from different rounds, so the host's state during each is not shared (on the
//!   recording of today's defaults, `xeon-3`, a series varies 3.5-6.8 % from sweep to sweep
//!   against 7.5-14.9 %). The medians, not means: the single-worker runs are at nearly one
//!   level but for one wild series (the slower, bimodal `ordered` process one), which a mean
//!   would pass on to every other.
//! - **scaling** of a combination with N > 1 workers: the median, over the sweep's rounds,
//!   of its time over the same round's 1-worker run of its backend and sync. It grows when
//!   parallel runs lose what a single worker does not (a tighter CPU limit, a smaller cpuset,
//!   contention on the appends).
//!
//! And whether the sweep was **contended**: other tasks wanted the CPUs (pressure and steal
//! during the 1-worker runs, which cause none themselves, or during the full-width runs, one
//! worker per CPU, which any other task that wants a CPU makes wait) or the quota throttled a
//! run. A single-thread reference cannot cancel a loss of parallel capacity, so the detectors
//! skip contended sweeps and the contention is reported on its own. (Something that keeps one
//! of two CPUs busy leaves the 1-worker runs a CPU of their own: on the recordings their
//! full-width runs waited 0.02-0.2 of their time on a calm host and about 0.5 then.)

use std::collections::BTreeMap;

use super::stats::median;

/// Fewest usable runs (or rounds) a series needs in a sweep.
const MIN_RUNS: usize = 3;
/// Fewest single-worker series the workload signal is taken against.
const MIN_POOL: usize = 3;

/// One run of a sweep, as the signals read it. `G` names a combination's backend and sync.
#[derive(Clone, Debug, PartialEq)]
pub struct Run<G> {
    /// The combination's backend and sync.
    pub group: G,
    /// Workers in its pool.
    pub workers: u32,
    /// The host reference run, not a combination's.
    pub reference: bool,
    /// The round of the sweep it ran in.
    pub round: u32,
    /// Its duration, if it succeeded.
    pub seconds: Option<f64>,
    /// The host disturbed it (its time does not count).
    pub disturbed: bool,
    /// The CPU quota throttled it.
    pub throttled: bool,
    /// Seconds other tasks wanted the CPUs while it ran (pressure plus steal).
    pub contention_seconds: f64,
    /// It was [`full_width`].
    pub full_width: bool,
}

impl<G> Run<G> {
    /// Its duration if it counts in a median: successful and undisturbed.
    fn usable(&self) -> Option<f64> {
        self.seconds.filter(|s| *s > 0.0 && !self.disturbed)
    }
}

/// Whether a run of `workers` allowed `cpus` CPUs is full-width: more than one worker, one
/// per CPU, so that any other task that wants a CPU makes it wait.
pub fn full_width(workers: u32, cpus: Option<u32>) -> bool {
    workers > 1 && cpus == Some(workers)
}

/// A combination: backend and sync, and workers.
pub type Key<G> = (G, u32);

/// One sweep's signals. A series with too few usable runs is absent.
#[derive(Clone, Debug, PartialEq)]
pub struct Signals<G: Ord> {
    /// Median over the successful 1-worker runs of the time others wanted the CPUs, as a
    /// share of the run's duration.
    pub contention: Option<f64>,
    /// The same over the successful full-width runs.
    pub full_width_contention: Option<f64>,
    /// Some run was throttled by the CPU quota.
    pub throttled: bool,
    /// The host signal.
    pub host: Option<f64>,
    /// Each combination's fastest time (log seconds), before any normalization.
    pub raw: BTreeMap<Key<G>, f64>,
    /// Each combination's workload signal.
    pub workload: BTreeMap<Key<G>, f64>,
    /// Each multi-worker combination's scaling signal.
    pub scaling: BTreeMap<Key<G>, f64>,
}

impl<G: Ord> Signals<G> {
    /// Whether detectors should skip this sweep: throttled, contention above `max`, or the
    /// full-width runs' above `max_full_width`.
    pub fn contended(&self, max: f64, max_full_width: f64) -> bool {
        self.throttled
            || self.contention.is_some_and(|c| c > max)
            || self
                .full_width_contention
                .is_some_and(|c| c > max_full_width)
    }
}

/// The signals of one sweep's `runs` (the warm-up left out by the caller).
pub fn of_sweep<G: Ord + Clone>(runs: &[Run<G>]) -> Signals<G> {
    let shares = |of: fn(&Run<G>) -> bool| {
        let shares: Vec<f64> = (runs.iter().filter(|r| of(r)))
            .filter_map(|r| Some(r.contention_seconds / r.seconds.filter(|s| *s > 0.0)?))
            .collect();
        median(&shares)
    };
    let log_fastest = |times: Vec<f64>| {
        (times.len() >= MIN_RUNS).then(|| times.iter().copied().fold(f64::INFINITY, f64::min).ln())
    };
    let mut times: BTreeMap<Key<G>, Vec<f64>> = BTreeMap::new();
    for run in runs.iter().filter(|r| !r.reference) {
        if let Some(seconds) = run.usable() {
            times
                .entry((run.group.clone(), run.workers))
                .or_default()
                .push(seconds);
        }
    }
    let raw: BTreeMap<Key<G>, f64> = times
        .into_iter()
        .filter_map(|(key, t)| Some((key, log_fastest(t)?)))
        .collect();
    let host = log_fastest(
        runs.iter()
            .filter(|r| r.reference)
            .filter_map(Run::usable)
            .collect(),
    );
    Signals {
        contention: shares(|r| r.workers == 1),
        full_width_contention: shares(|r| r.full_width),
        throttled: runs.iter().any(|r| r.throttled),
        host,
        workload: workload(runs),
        scaling: scaling(runs),
        raw,
    }
}

/// Each combination's rounds of a sweep's `runs`, each its log time less the median of the
/// same round's other single-worker runs (the reference's included; at least 3 of them).
/// The reference has none.
pub fn paired_rounds<G: Ord + Clone>(runs: &[Run<G>]) -> BTreeMap<Key<G>, Vec<f64>> {
    // Each round's log times by combination; `None` is the reference.
    let mut rounds: BTreeMap<u32, BTreeMap<Option<Key<G>>, f64>> = BTreeMap::new();
    for run in runs {
        if let Some(seconds) = run.usable() {
            let key = (!run.reference).then(|| (run.group.clone(), run.workers));
            let time = rounds
                .entry(run.round)
                .or_default()
                .entry(key)
                .or_insert(f64::INFINITY);
            *time = time.min(seconds.ln());
        }
    }
    let mut paired: BTreeMap<Key<G>, Vec<f64>> = BTreeMap::new();
    for times in rounds.values() {
        let singles: Vec<(&Option<Key<G>>, f64)> = (times.iter())
            .filter(|(key, _)| key.as_ref().is_none_or(|k| k.1 == 1))
            .map(|(key, t)| (key, *t))
            .collect();
        for (key, time) in times.iter().filter_map(|(k, t)| Some((k.as_ref()?, t))) {
            let others: Vec<f64> = (singles.iter())
                .filter(|(k, _)| k.as_ref() != Some(key))
                .map(|(_, t)| *t)
                .collect();
            if others.len() >= MIN_POOL
                && let Some(pool) = median(&others)
            {
                paired.entry(key.clone()).or_default().push(time - pool);
            }
        }
    }
    paired
}

/// Each combination against the other single-worker series of the sweep, round by round: the
/// median of its [`paired_rounds`]. A round's runs share the host's state of that moment,
/// which a sweep's fastest runs, taken from different rounds, do not.
fn workload<G: Ord + Clone>(runs: &[Run<G>]) -> BTreeMap<Key<G>, f64> {
    paired_rounds(runs)
        .into_iter()
        .filter(|(_, p)| p.len() >= MIN_RUNS)
        .filter_map(|(key, p)| Some((key, median(&p)?)))
        .collect()
}

/// Each multi-worker combination over its 1-worker partner (the reference's runs are the
/// partner of its own backend and sync), round by round.
fn scaling<G: Ord + Clone>(runs: &[Run<G>]) -> BTreeMap<Key<G>, f64> {
    let mut by_round: BTreeMap<(G, u32, u32), f64> = BTreeMap::new();
    for run in runs {
        if let Some(seconds) = run.usable() {
            by_round.insert((run.group.clone(), run.workers, run.round), seconds);
        }
    }
    let mut ratios: BTreeMap<Key<G>, Vec<f64>> = BTreeMap::new();
    for ((group, workers, round), seconds) in by_round.iter().filter(|(k, _)| k.1 > 1) {
        if let Some(single) = by_round.get(&(group.clone(), 1, *round)) {
            ratios
                .entry((group.clone(), *workers))
                .or_default()
                .push((seconds / single).ln());
        }
    }
    ratios
        .into_iter()
        .filter(|(_, r)| r.len() >= MIN_RUNS)
        .filter_map(|(key, r)| Some((key, median(&r)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep of 5 rounds: groups "a" and "b" at 1 and 2 workers, three more 1-worker
    /// groups and a reference; `slow(group, workers)` scales a combination's times, `host`
    /// every run's.
    fn sweep(host: f64, slow: impl Fn(&str, u32) -> f64) -> Vec<Run<&'static str>> {
        let mut runs = Vec::new();
        for round in 0..5 {
            let wobble = 1.0 + 0.01 * f64::from(round);
            for (group, workers, base) in [
                ("a", 1, 1.0),
                ("a", 2, 0.6),
                ("b", 1, 2.0),
                ("b", 2, 1.5),
                ("c", 1, 0.5),
                ("d", 1, 0.7),
                ("e", 1, 0.9),
                ("ref", 1, 0.3),
            ] {
                let seconds = base * host * wobble * slow(group, workers);
                runs.push(Run {
                    group,
                    workers,
                    reference: group == "ref",
                    round,
                    seconds: Some(seconds),
                    disturbed: false,
                    throttled: false,
                    contention_seconds: 0.01 * seconds,
                    full_width: full_width(workers, Some(2)),
                });
            }
        }
        runs
    }

    #[test]
    fn a_host_wide_change_moves_the_host_signal_only() {
        let before = of_sweep(&sweep(1.0, |_, _| 1.0));
        let after = of_sweep(&sweep(1.2, |_, _| 1.0));
        assert!((after.host.unwrap() - before.host.unwrap() - 1.2f64.ln()).abs() < 1e-9);
        for (key, value) in &after.workload {
            assert!((value - before.workload[key]).abs() < 1e-9, "{key:?}");
        }
        for (key, value) in &after.scaling {
            assert!((value - before.scaling[key]).abs() < 1e-9, "{key:?}");
        }
        assert_eq!(after.workload.len(), 7);
        assert_eq!(after.scaling.len(), 2);
        assert!((after.contention.unwrap() - 0.01).abs() < 1e-9);
    }

    /// The series whose values moved from `before` to `after`, and by how much.
    fn moved(
        after: &BTreeMap<Key<&'static str>, f64>,
        before: &BTreeMap<Key<&'static str>, f64>,
    ) -> Vec<(Key<&'static str>, f64)> {
        after
            .iter()
            .filter(|(k, v)| (*v - before[*k]).abs() > 1e-9)
            .map(|(k, v)| (*k, v - before[k]))
            .collect()
    }

    #[test]
    fn one_combination_moves_its_own_workload_and_scaling_signals() {
        let before = of_sweep(&sweep(1.0, |_, _| 1.0));
        let after = of_sweep(&sweep(
            1.0,
            |g, w| if (g, w) == ("b", 2) { 1.1 } else { 1.0 },
        ));
        let workload = moved(&after.workload, &before.workload);
        assert_eq!(workload.len(), 1);
        assert_eq!(workload[0].0, ("b", 2));
        assert!((workload[0].1 - 1.1f64.ln()).abs() < 1e-9);
        let scaling = moved(&after.scaling, &before.scaling);
        assert_eq!(scaling.len(), 1);
        assert!((scaling[0].1 - 1.1f64.ln()).abs() < 1e-9);
        assert_eq!(after.host, before.host);
    }

    #[test]
    fn a_wild_single_worker_series_at_the_edge_of_the_pool_moves_only_its_own_signal() {
        let before = of_sweep(&sweep(1.0, |_, _| 1.0));
        // b, the slowest single-worker series (as the bimodal `ordered` ones are), three times
        // as slow this sweep: its own signal moves, and the others' do not (the median of
        // their pool is where it was; a mean would move each by ln 3 / 5).
        let after = of_sweep(&sweep(
            1.0,
            |g, w| if (g, w) == ("b", 1) { 3.0 } else { 1.0 },
        ));
        let workload = moved(&after.workload, &before.workload);
        assert_eq!(workload.len(), 1, "{workload:?}");
        assert_eq!(workload[0].0, ("b", 1));
        assert!((workload[0].1 - 3f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn a_host_that_changes_speed_between_rounds_moves_no_workload_signal() {
        // The host is a third slower from round 2 on, and a's 2-worker runs of rounds 0 and 1
        // were disturbed: its usable runs are all slow ones. Against the same rounds' single
        // workers nothing moved; its fastest run against theirs (from the fast rounds) would
        // have made it 1.35 times slower.
        let before = of_sweep(&sweep(1.0, |_, _| 1.0));
        let mut runs = sweep(1.0, |_, _| 1.0);
        for run in &mut runs {
            if run.round >= 2 {
                run.seconds = run.seconds.map(|s| s * 1.35);
            } else if (run.group, run.workers) == ("a", 2) {
                run.disturbed = true;
            }
        }
        let after = of_sweep(&runs);
        assert_eq!(after.workload.len(), before.workload.len());
        for (key, value) in &after.workload {
            assert!(
                (value - before.workload[key]).abs() < 0.02,
                "{key:?}: {value} against {}",
                before.workload[key]
            );
        }
    }

    #[test]
    fn the_reference_is_the_one_worker_partner_of_its_own_group() {
        let mut runs = sweep(1.0, |_, _| 1.0);
        for round in 0..5 {
            runs.push(Run {
                workers: 2,
                reference: false,
                round,
                seconds: Some(0.45),
                ..runs[7].clone()
            });
        }
        let signals = of_sweep(&runs);
        let scaling = signals.scaling[&("ref", 2)];
        assert!((scaling - 1.5f64.ln()).abs() < 0.05, "{scaling}");
        assert!(
            !signals.raw.contains_key(&("ref", 1)),
            "the reference has no series"
        );
    }

    #[test]
    fn failed_disturbed_and_throttled_runs_are_told_apart() {
        let mut runs = sweep(1.0, |_, _| 1.0);
        // Three of a's five 2-worker runs fail: too few for its medians and its scaling.
        for run in runs
            .iter_mut()
            .filter(|r| (r.group, r.workers) == ("a", 2))
            .take(3)
        {
            run.seconds = None;
        }
        runs[0].disturbed = true;
        let signals = of_sweep(&runs);
        assert!(!signals.raw.contains_key(&("a", 2)));
        assert!(!signals.scaling.contains_key(&("a", 2)));
        assert!(signals.raw.contains_key(&("a", 1)));
        assert!(!signals.contended(0.05, 0.35));
        runs[1].throttled = true;
        let signals = of_sweep(&runs);
        assert!(signals.contended(0.05, 0.35));
        for run in &mut runs {
            run.contention_seconds = run.seconds.unwrap_or(0.0) * 0.5;
            run.throttled = false;
        }
        assert!(of_sweep(&runs).contended(0.05, 0.35));
    }

    #[test]
    fn full_width_runs_that_waited_make_a_sweep_contended_on_their_own() {
        // Something keeps one of the two CPUs busy: the 1-worker runs keep a CPU of their
        // own, the 2-worker ones wait half their time.
        let mut runs = sweep(1.0, |_, _| 1.0);
        for run in runs.iter_mut().filter(|r| r.full_width) {
            run.contention_seconds = run.seconds.unwrap_or(0.0) * 0.5;
        }
        let signals = of_sweep(&runs);
        assert!((signals.contention.unwrap() - 0.01).abs() < 1e-9);
        assert!((signals.full_width_contention.unwrap() - 0.5).abs() < 1e-9);
        assert!(signals.contended(0.05, 0.35));
        // The waits of a calm host's full-width runs (their own coordination) are not.
        for run in runs.iter_mut().filter(|r| r.full_width) {
            run.contention_seconds = run.seconds.unwrap_or(0.0) * 0.2;
        }
        assert!(!of_sweep(&runs).contended(0.05, 0.35));
        // One worker per CPU, more than one; unknown CPUs (an earlier version's runs) are not.
        assert!(full_width(2, Some(2)) && full_width(4, Some(4)));
        assert!(!full_width(1, Some(1)) && !full_width(2, Some(4)) && !full_width(2, None));
    }
}

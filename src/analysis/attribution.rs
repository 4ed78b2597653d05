//! Why a change happened: what changed on the node between the sweeps before it and the sweeps
//! after it, as a ranked list of likely causes with the evidence either side.
//!
//! - **Facts** (kernel, boot, CPU model and microcode, online CPUs, cpuset, quota, governor)
//!   that took a new value near the change, the nearest first: a reboot into a new kernel, a
//!   smaller cpuset.
//! - **Context** that moved well beyond its own wandering between the sweeps before and the
//!   sweeps after (medians of each side), in the direction that slows runs down for a
//!   slowdown (more throttling, steal, waiting for a CPU or for memory, involuntary context
//!   switches or migrations per second of run, a slower host reference, a lower CPU
//!   frequency) and the other way for a speed-up; the largest move first.
//!
//! When nothing moved, the attribution is empty and says so. Pure functions.

use serde::Serialize;

use super::stats::median;

/// How a context quantity is judged. All but [`Kind::Speed`] slow runs down when they grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A share of time (0 to 1): it moved when it rose by at least [`Settings::min_share`]
    /// and to at least twice what it was, or fell as far.
    Share,
    /// A rate or a count: it moved when one side is at least [`Settings::min_rate_ratio`]
    /// times the other.
    Rate,
    /// A time that wanders a little from sweep to sweep: it moved when one side is at least
    /// [`Settings::min_time_ratio`] times the other.
    Time,
    /// A speed, judged as a time, that slows runs down when it falls.
    Speed,
}

/// A context quantity of one sweep: its name, how it is judged, its value if known.
pub type Context = (&'static str, Kind, Option<f64>);

/// One sweep as the attribution reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sweep {
    /// When it began, Unix seconds.
    pub time: f64,
    /// The node's facts (name, value if the host shows it).
    pub facts: Vec<(&'static str, Option<String>)>,
    /// The context of its runs.
    pub context: Vec<Context>,
}

/// The bounds of the attribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Sweeps read either side of the change.
    pub window: usize,
    /// Fewest sweeps with a value either side for a context quantity to be judged.
    pub min_sweeps: usize,
    /// A share's least rise (or fall).
    pub min_share: f64,
    /// A rate's least ratio.
    pub min_rate_ratio: f64,
    /// A time's least ratio.
    pub min_time_ratio: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: 10,
            min_sweeps: 3,
            min_share: 0.05,
            min_rate_ratio: 2.0,
            min_time_ratio: 1.1,
        }
    }
}

/// What shows a cause.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Evidence {
    /// A fact took a new value at `time`.
    Fact {
        /// Its value before.
        before: String,
        /// Its value after.
        after: String,
        /// When the first sweep with the new value began, Unix seconds.
        time: f64,
    },
    /// A context quantity's median moved.
    Context {
        /// The median of the sweeps before.
        before: f64,
        /// The median of the sweeps after.
        after: f64,
    },
}

/// A likely cause of a change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cause {
    /// What changed: a fact's or a context quantity's name.
    pub name: &'static str,
    /// The evidence.
    #[serde(flatten)]
    pub evidence: Evidence,
}

impl Cause {
    /// One line: "kernel 6.1.0-18 -> 6.1.0-21", "cpu_pressure_share 0.01 -> 0.4".
    pub fn describe(&self) -> String {
        match &self.evidence {
            Evidence::Fact { before, after, .. } => format!("{} {before} -> {after}", self.name),
            Evidence::Context { before, after } => {
                format!("{} {} -> {}", self.name, short(*before), short(*after))
            }
        }
    }
}

/// A number in three significant digits.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

/// The causes, most likely first, as one line; "nothing on the node explains it" without one.
pub fn describe(causes: &[Cause]) -> String {
    if causes.is_empty() {
        return "nothing on the node explains it".to_owned();
    }
    causes
        .iter()
        .map(Cause::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The likely causes of a change that began at `onset` (a slowdown if `slower`, else a
/// speed-up), from `sweeps` in time order: the facts that changed within the window around it
/// (nearest first), then the context that moved across it the way that explains the change
/// (largest move first).
pub fn attribute(sweeps: &[Sweep], onset: f64, slower: bool, settings: &Settings) -> Vec<Cause> {
    let first_after = sweeps.partition_point(|s| s.time < onset);
    let from = first_after.saturating_sub(settings.window);
    let to = (first_after + settings.window).min(sweeps.len());
    let mut causes = facts(&sweeps[from..to], onset);
    causes.extend(context(
        &sweeps[from..first_after],
        &sweeps[first_after..to],
        slower,
        settings,
    ));
    causes
}

/// The facts that took a new value between two neighbouring sweeps of `sweeps`, each at the
/// change nearest `onset`.
fn facts(sweeps: &[Sweep], onset: f64) -> Vec<Cause> {
    let mut found: Vec<(f64, Cause)> = Vec::new();
    for pair in sweeps.windows(2) {
        for (name, after) in &pair[1].facts {
            let before = pair[0].facts.iter().find(|(n, _)| n == name);
            let (Some((_, Some(before))), Some(after)) = (before, after) else {
                continue;
            };
            if before == after {
                continue;
            }
            let distance = (pair[1].time - onset).abs();
            let cause = Cause {
                name,
                evidence: Evidence::Fact {
                    before: before.clone(),
                    after: after.clone(),
                    time: pair[1].time,
                },
            };
            match found.iter_mut().find(|(_, c)| c.name == *name) {
                Some(nearest) if nearest.0 <= distance => {}
                Some(nearest) => *nearest = (distance, cause),
                None => found.push((distance, cause)),
            }
        }
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    found.into_iter().map(|(_, cause)| cause).collect()
}

/// The least share a share's ratio is taken from.
const SHARE_FLOOR: f64 = 0.01;

/// The context quantities whose medians moved between `before` and `after`, largest move
/// (by ratio) first.
fn context(before: &[Sweep], after: &[Sweep], slower: bool, settings: &Settings) -> Vec<Cause> {
    let values = |sweeps: &[Sweep], name: &str| -> Vec<f64> {
        sweeps
            .iter()
            .filter_map(|s| s.context.iter().find(|(n, _, _)| *n == name)?.2)
            .filter(|v| v.is_finite())
            .collect()
    };
    let names = after.first().map_or(&[][..], |s| s.context.as_slice());
    let mut moved: Vec<(f64, Cause)> = Vec::new();
    for (name, kind, _) in names {
        let (b, a) = (values(before, name), values(after, name));
        if b.len() < settings.min_sweeps || a.len() < settings.min_sweeps {
            continue;
        }
        let (Some(b), Some(a)) = (median(&b), median(&a)) else {
            continue;
        };
        let (low, high) = (b.min(a), b.max(a));
        // Moves are ranked by their ratio; a share is counted from 1 % up, so that one rising
        // from nothing is not infinitely large.
        let floor = if *kind == Kind::Share {
            SHARE_FLOOR
        } else {
            0.0
        };
        let ratio = high / low.max(floor);
        let moved_enough = match kind {
            Kind::Share => high - low >= settings.min_share && ratio >= 2.0,
            Kind::Rate => ratio >= settings.min_rate_ratio,
            Kind::Time | Kind::Speed => ratio >= settings.min_time_ratio,
        };
        // Which way explains the change: a slowdown needs what slows runs down to grow.
        let grew = a > b;
        let explains = grew == (slower != (*kind == Kind::Speed));
        if high > 0.0 && moved_enough && explains {
            let score = ratio.ln();
            let evidence = Evidence::Context {
                before: b,
                after: a,
            };
            moved.push((score, Cause { name, evidence }));
        }
    }
    moved.sort_by(|x, y| y.0.total_cmp(&x.0));
    moved.into_iter().map(|(_, cause)| cause).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 sweeps a minute apart, a change at the 11th (600 s): `cpuset` and `kernel` as
    /// `fact(i)` says, CPU pressure and involuntary switches as `context(i)` says, with a
    /// little wobble of their own.
    fn history(
        fact: impl Fn(usize) -> (&'static str, &'static str),
        context: impl Fn(usize) -> (f64, f64),
    ) -> Vec<Sweep> {
        (0..20)
            .map(|i| {
                let (kernel, cpuset) = fact(i);
                let (pressure, switches) = context(i);
                let wobble = 1.0 + 0.03 * ((i * 7 % 5) as f64 - 2.0) / 2.0;
                Sweep {
                    time: 60.0 * i as f64,
                    facts: vec![
                        ("kernel", Some(kernel.to_owned())),
                        ("cpuset", Some(cpuset.to_owned())),
                        ("governor", None),
                    ],
                    context: vec![
                        ("cpu_pressure_share", Kind::Share, Some(pressure * wobble)),
                        (
                            "involuntary_switches_per_second",
                            Kind::Rate,
                            Some(switches * wobble),
                        ),
                        ("host_reference_seconds", Kind::Time, Some(0.2 * wobble)),
                    ],
                }
            })
            .collect()
    }

    const ONSET: f64 = 600.0;

    #[test]
    fn a_fact_that_changed_at_the_change_is_named_with_its_values() {
        let sweeps = history(
            |i| ("6.1.0-18", if i < 10 { "0-3" } else { "0" }),
            |_| (0.01, 40.0),
        );
        let causes = attribute(&sweeps, ONSET, true, &Settings::default());
        assert_eq!(
            causes,
            [Cause {
                name: "cpuset",
                evidence: Evidence::Fact {
                    before: "0-3".into(),
                    after: "0".into(),
                    time: 600.0
                }
            }]
        );
        assert_eq!(describe(&causes), "cpuset 0-3 -> 0");
    }

    #[test]
    fn context_that_jumped_is_named_largest_move_first() {
        let sweeps = history(
            |_| ("6.1.0-18", "0-3"),
            |i| if i < 10 { (0.01, 40.0) } else { (0.35, 130.0) },
        );
        let causes = attribute(&sweeps, ONSET, true, &Settings::default());
        let names: Vec<&str> = causes.iter().map(|c| c.name).collect();
        // Pressure rose 35-fold, switches 3.25-fold: both, pressure first.
        assert_eq!(
            names,
            ["cpu_pressure_share", "involuntary_switches_per_second"]
        );
        let Evidence::Context { before, after } = causes[0].evidence else {
            panic!("{causes:?}")
        };
        assert!((before - 0.01).abs() < 0.001 && (after - 0.35).abs() < 0.02);
    }

    #[test]
    fn a_fact_and_context_together_put_the_fact_first_and_the_nearest_fact_first() {
        let sweeps = history(
            |i| {
                (
                    if i < 4 {
                        "6.1.0-17"
                    } else if i < 10 {
                        "6.1.0-18"
                    } else {
                        "6.1.0-21"
                    },
                    if i < 12 { "0-3" } else { "0-1" },
                )
            },
            |i| if i < 10 { (0.0, 40.0) } else { (0.0, 100.0) },
        );
        let causes = attribute(&sweeps, ONSET, true, &Settings::default());
        let lines: Vec<String> = causes.iter().map(Cause::describe).collect();
        // The kernel of 600 s, not the older one of 240 s; the cpuset two sweeps later.
        assert_eq!(
            lines,
            [
                "kernel 6.1.0-18 -> 6.1.0-21",
                "cpuset 0-3 -> 0-1",
                "involuntary_switches_per_second 40.0 -> 100"
            ]
        );
    }

    #[test]
    fn only_moves_that_explain_the_direction_of_the_change_are_named() {
        // Pressure fell and switches rose: a slowdown is the switches', a speed-up the
        // pressure's.
        let sweeps = history(
            |_| ("6.1.0-18", "0-3"),
            |i| if i < 10 { (0.3, 40.0) } else { (0.01, 130.0) },
        );
        let named = |slower| -> Vec<&str> {
            attribute(&sweeps, ONSET, slower, &Settings::default())
                .iter()
                .map(|c| c.name)
                .collect()
        };
        assert_eq!(named(true), ["involuntary_switches_per_second"]);
        assert_eq!(named(false), ["cpu_pressure_share"]);
    }

    #[test]
    fn nothing_moved_says_so() {
        let sweeps = history(|_| ("6.1.0-18", "0-3"), |_| (0.02, 40.0));
        let causes = attribute(&sweeps, ONSET, true, &Settings::default());
        assert_eq!(causes, []);
        assert_eq!(describe(&causes), "nothing on the node explains it");
        // Too few sweeps after the change to judge the context: still no cause.
        assert_eq!(
            attribute(&sweeps[..11], ONSET, true, &Settings::default()),
            []
        );
    }
}

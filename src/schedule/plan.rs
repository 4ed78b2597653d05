//! The order of a sweep's runs: every configured combination and the host reference,
//! `repeats` times in shuffled rounds.

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

use crate::config::Workload;
use crate::workload::Spec;

/// Every combination the workload settings ask for on a host with `usable_cpus` CPUs, the
/// host reference among them when `workload.reference` asks for it, in a stable order:
/// backend, sync, workers.
pub fn combinations(workload: &Workload, usable_cpus: u32) -> Vec<Spec> {
    let mut specs = Vec::new();
    if workload.reference {
        specs.push(Spec::reference(workload.lines, workload.reread));
    }
    for &backend in &workload.backends {
        for &sync in &workload.sync {
            for workers in workload.workers.sizes(usable_cpus) {
                specs.push(Spec {
                    backend,
                    sync,
                    workers,
                    lines: workload.lines,
                    reread: workload.reread,
                });
            }
        }
    }
    specs.sort_by_key(|s| (s.backend, s.sync, s.workers));
    specs.dedup();
    specs
}

/// One run of a sweep's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// What to run.
    pub spec: Spec,
    /// Whether it is the sweep's warm-up run (recorded, not counted).
    pub warmup: bool,
    /// Its round: 0 for the warm-up, then 1 up to `repeats`.
    pub round: u32,
}

/// The order of a sweep's runs: an optional warm-up run of the first spec, then `repeats`
/// rounds that each run every spec once in a fresh random order. No spec runs twice in a row
/// (when there are two or more), so slow drift of the host spreads over all specs instead of
/// landing on one.
pub fn plan(specs: &[Spec], repeats: u32, warmup: bool, rng: &mut impl Rng) -> Vec<Planned> {
    let mut order: Vec<Planned> = Vec::with_capacity(specs.len() * repeats as usize + 1);
    if warmup && let Some(&spec) = specs.first() {
        order.push(Planned {
            spec,
            warmup: true,
            round: 0,
        });
    }
    for round_number in 1..=repeats {
        let mut round = specs.to_vec();
        round.shuffle(rng);
        if round.len() > 1 && order.last().is_some_and(|last| last.spec == round[0]) {
            let other = rng.random_range(1..round.len());
            round.swap(0, other);
        }
        order.extend(round.into_iter().map(|spec| Planned {
            spec,
            warmup: false,
            round: round_number,
        }));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Workers;
    use crate::workload::{Backend, SyncMode};
    use rand::SeedableRng;

    #[test]
    fn combinations_cover_every_setting_once_in_order() {
        let workload = Workload {
            backends: vec![Backend::Thread, Backend::Process],
            sync: vec![SyncMode::Lock, SyncMode::None],
            workers: Workers::List(vec![3, 1, 3]),
            ..Workload::default()
        };
        let specs = combinations(&workload, 2);
        assert_eq!(specs.len(), 8);
        assert_eq!(
            (specs[0].backend, specs[0].sync, specs[0].workers),
            (Backend::Process, SyncMode::None, 1)
        );
        assert_eq!(
            (specs[7].backend, specs[7].sync, specs[7].workers),
            (Backend::Thread, SyncMode::Lock, 3)
        );
        let auto = Workload {
            workers: Workers::Auto,
            ..workload
        };
        let sizes: Vec<u32> = combinations(&auto, 2)
            .iter()
            .map(|s| s.workers)
            .take(3)
            .collect();
        assert_eq!(
            sizes,
            [1, 2, 3],
            "1 up to the usable CPUs, plus one oversubscribed"
        );
    }

    #[test]
    fn the_host_reference_is_swept_whatever_the_combinations_unless_turned_off() {
        let workload = Workload {
            backends: vec![Backend::Process],
            sync: vec![SyncMode::Lock],
            workers: Workers::List(vec![2]),
            lines: 700,
            ..Workload::default()
        };
        let specs = combinations(&workload, 2);
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[1], Spec::reference(700, true));
        assert!(specs[1].is_reference());
        let without = Workload {
            reference: false,
            ..workload
        };
        assert_eq!(combinations(&without, 2).len(), 1);
    }

    #[test]
    fn plans_repeat_every_spec_in_shuffled_rounds_never_back_to_back() {
        let specs = combinations(&Workload::default(), 2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let order = plan(&specs, 5, true, &mut rng);
            assert_eq!(order.len(), specs.len() * 5 + 1);
            assert!(order[0].warmup && order.iter().skip(1).all(|p| !p.warmup));
            for spec in &specs {
                let counted = order
                    .iter()
                    .filter(|p| !p.warmup && p.spec == *spec)
                    .count();
                assert_eq!(counted, 5);
            }
            assert!(
                order.windows(2).all(|w| w[0].spec != w[1].spec),
                "a spec ran twice in a row"
            );
        }
        let order = plan(&specs[..1], 3, false, &mut rng);
        assert_eq!(order.len(), 3, "one spec can only repeat back to back");
    }
}

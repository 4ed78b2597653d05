//! Judges a run's output without trusting the workers: the original experiment's disorder count,
//! lost and repeated lines, torn records, and where the records say they ran.
//!
//! A well-formed record is five lines: `current pid:P`, `total threads:T`, `CPU number:C`,
//! `lineK` and a blank line. Writers that append concurrently can interleave these lines.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::host::AllowedCpus;

/// Everything the output says about a run; flattened into the run record, so these are also
/// the keys of `run --json` and `/api/v1/runs`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Positions p (1-based) among the output's `lineK` lines whose line is not `line{p}`:
    /// exactly the original experiment's check.
    pub disorder: u64,
    /// `lineK` lines beyond one per expected input line (repeats and out-of-range numbers).
    pub duplicates: u64,
    /// Input lines that never reached the output.
    pub missing: u64,
    /// Records whose five lines are not contiguous and in order (another writer cut in).
    pub torn_records: u64,
    /// Distinct writer pids seen.
    pub pids: u64,
    /// Smallest `total threads` value seen (0 if none).
    pub threads_min: u64,
    /// Largest `total threads` value seen.
    pub threads_max: u64,
    /// Records per CPU number.
    #[serde(with = "cpu_keys")]
    pub cpu_records: BTreeMap<u32, u64>,
    /// Distinct CPUs the records name.
    pub cpus_used: u64,
    /// CPU numbers in the records that the process was not allowed to run on (a failed run's
    /// message names them; not kept in the record).
    #[serde(skip)]
    pub cpus_outside_allowed: Vec<u32>,
}

impl Verification {
    /// Faults that make the run a failure: lost or repeated lines, impossible CPU numbers.
    /// Disorder and torn records are what is measured, not faults.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.missing > 0 {
            problems.push(format!(
                "{} input lines missing from the output",
                self.missing
            ));
        }
        if self.duplicates > 0 {
            problems.push(format!("{} duplicate lines in the output", self.duplicates));
        }
        if !self.cpus_outside_allowed.is_empty() {
            problems.push(format!(
                "records name CPUs {:?} outside the allowed set",
                self.cpus_outside_allowed
            ));
        }
        problems
    }
}

/// Analyses `output` of a run over `lines` input lines.
pub fn verify(output: &[u8], lines: u64, allowed: &AllowedCpus) -> Verification {
    let text: Vec<&[u8]> = output.split(|&b| b == b'\n').collect();
    let mut v = Verification::default();
    let mut seen = vec![false; usize::try_from(lines).unwrap_or(0)];
    let mut pids = BTreeSet::new();
    let mut threads = Vec::new();
    let mut position = 0u64;
    for (i, line) in text.iter().enumerate() {
        if let Some(k) = field(line, b"line") {
            position += 1;
            if k != position {
                v.disorder += 1;
            }
            match usize::try_from(k)
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|k| seen.get_mut(k))
            {
                Some(slot) if !*slot => *slot = true,
                _ => v.duplicates += 1,
            }
        } else if let Some(pid) = field(line, b"current pid:") {
            pids.insert(pid);
            if !is_intact_record(&text[i..]) {
                v.torn_records += 1;
            }
        } else if let Some(t) = field(line, b"total threads:") {
            threads.push(t);
        } else if let Some(cpu) = field(line, b"CPU number:").and_then(|c| u32::try_from(c).ok()) {
            *v.cpu_records.entry(cpu).or_default() += 1;
            if !allowed.contains(cpu) && !v.cpus_outside_allowed.contains(&cpu) {
                v.cpus_outside_allowed.push(cpu);
            }
        }
    }
    v.missing = seen.iter().filter(|&&s| !s).count() as u64;
    v.pids = pids.len() as u64;
    v.threads_min = threads.iter().copied().min().unwrap_or(0);
    v.threads_max = threads.iter().copied().max().unwrap_or(0);
    v.cpus_used = v.cpu_records.len() as u64;
    v
}

/// The number after `prefix` when `line` is exactly `prefix` followed by decimal digits.
fn field(line: &[u8], prefix: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Whether the record starting at `lines[0]` has its five lines contiguous and in order.
fn is_intact_record(lines: &[&[u8]]) -> bool {
    matches!(lines, [_, threads, cpu, token, blank, ..]
        if field(threads, b"total threads:").is_some()
            && field(cpu, b"CPU number:").is_some()
            && field(token, b"line").is_some()
            && blank.is_empty())
}

/// JSON object keys are strings; serde's flattening cannot turn them back into numbers by
/// itself, so the CPU map converts its keys explicitly.
mod cpu_keys {
    use std::collections::BTreeMap;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(map: &BTreeMap<u32, u64>, s: S) -> Result<S::Ok, S::Error> {
        let keyed: BTreeMap<String, u64> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        keyed.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, u64>, D::Error> {
        BTreeMap::<String, u64>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| Ok((k.parse().map_err(D::Error::custom)?, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: u32, threads: u32, cpu: u32, line: u64) -> String {
        format!("current pid:{pid}\ntotal threads:{threads}\nCPU number:{cpu}\nline{line}\n\n")
    }

    fn output(order: &[u64]) -> Vec<u8> {
        order
            .iter()
            .map(|&l| record(7, 1, 0, l))
            .collect::<String>()
            .into_bytes()
    }

    fn all_cpus() -> AllowedCpus {
        (0..4).collect()
    }

    /// The original experiment's check, written as it was: walk the tokens, count mismatches.
    fn original_disorder(output: &[u8]) -> u64 {
        let text = String::from_utf8_lossy(output);
        let tokens = text.lines().filter(|l| l.starts_with("line"));
        tokens
            .enumerate()
            .filter(|(i, t)| *t != format!("line{}", i + 1))
            .count() as u64
    }

    #[test]
    fn in_order_output_is_clean() {
        let out = output(&[1, 2, 3, 4]);
        let v = verify(&out, 4, &all_cpus());
        assert_eq!(
            (v.disorder, v.duplicates, v.missing, v.torn_records),
            (0, 0, 0, 0)
        );
        assert_eq!((v.pids, v.threads_min, v.threads_max), (1, 1, 1));
        assert_eq!(v.cpu_records, BTreeMap::from([(0, 4)]));
        assert!(v.problems().is_empty());
    }

    #[test]
    fn swapped_lines_count_as_disorder_like_the_original() {
        let out = output(&[2, 1, 3, 5, 4]);
        let v = verify(&out, 5, &all_cpus());
        assert_eq!(v.disorder, 4);
        assert_eq!(v.disorder, original_disorder(&out));
        assert_eq!((v.duplicates, v.missing), (0, 0));
        assert!(
            v.problems().is_empty(),
            "disorder alone is a measurement, not a fault"
        );
    }

    #[test]
    fn duplicated_and_missing_lines_are_faults() {
        let out = output(&[1, 2, 2, 4]);
        let v = verify(&out, 4, &all_cpus());
        assert_eq!((v.duplicates, v.missing), (1, 1));
        assert_eq!(v.disorder, original_disorder(&out));
        assert_eq!(v.problems().len(), 2);

        let short = output(&[1, 2]);
        let v = verify(&short, 4, &all_cpus());
        assert_eq!((v.duplicates, v.missing, v.disorder), (0, 2, 0));
        assert_eq!(v.disorder, original_disorder(&short));
    }

    #[test]
    fn interleaved_fields_are_torn_records() {
        let out = "current pid:1\ncurrent pid:2\ntotal threads:1\ncpu\n\
                   total threads:1\nCPU number:0\nCPU number:1\nline1\n\nline2\n\n"
            .replace("cpu\n", "");
        let v = verify(out.as_bytes(), 2, &all_cpus());
        assert_eq!(v.torn_records, 2);
        assert_eq!(v.pids, 2);
        assert_eq!(v.cpu_records, BTreeMap::from([(0, 1), (1, 1)]));
        assert_eq!((v.disorder, v.missing, v.duplicates), (0, 0, 0));
        assert_eq!(v.disorder, original_disorder(out.as_bytes()));

        let mut half = record(3, 2, 1, 1);
        half.push_str("current pid:4\ntotal threads:2\n");
        half.push_str(&record(5, 2, 1, 2));
        let v = verify(half.as_bytes(), 2, &all_cpus());
        assert_eq!(v.torn_records, 1, "only the record cut short is torn");
    }

    #[test]
    fn cpus_outside_the_allowed_set_are_faults() {
        let out = record(1, 1, 22, 1);
        let v = verify(out.as_bytes(), 1, &all_cpus());
        assert_eq!(v.cpus_outside_allowed, vec![22]);
        assert_eq!(v.problems().len(), 1);
    }

    #[test]
    fn out_of_range_and_malformed_tokens() {
        let out = "line1\nline9\nlinex\nline\n";
        let v = verify(out.as_bytes(), 2, &all_cpus());
        assert_eq!((v.disorder, v.duplicates, v.missing), (1, 1, 1));
    }

    #[test]
    fn the_current_affinity_mask_is_not_empty() {
        let allowed = crate::host::AllowedCpus::current().expect("sched_getaffinity");
        let cpu = nix::sched::sched_getcpu().expect("sched_getcpu");
        assert!(allowed.contains(u32::try_from(cpu).expect("cpu")));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// One line of an output, well formed or not.
        fn line() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                (0u64..400).prop_map(|k| format!("line{k}").into_bytes()),
                (0u32..5000).prop_map(|p| format!("current pid:{p}").into_bytes()),
                (0u32..64).prop_map(|t| format!("total threads:{t}").into_bytes()),
                (0u32..4096).prop_map(|c| format!("CPU number:{c}").into_bytes()),
                Just(Vec::new()),
                proptest::collection::vec(any::<u8>(), 0..24),
            ]
        }

        fn lines_of(output: &[u8]) -> u64 {
            output
                .split(|&b| b == b'\n')
                .filter(|l| field(l, b"line").is_some())
                .count() as u64
        }

        proptest! {
            #[test]
            fn any_output_is_analysed_and_its_counts_add_up(
                parts in proptest::collection::vec(line(), 0..300),
                lines in 0u64..300,
            ) {
                let output = parts.join(&b'\n');
                let allowed = AllowedCpus::from_iter([0, 1]);
                let v = verify(&output, lines, &allowed);
                let tokens = lines_of(&output);
                prop_assert!(v.missing <= lines);
                prop_assert_eq!(tokens, lines - v.missing + v.duplicates);
                prop_assert!(v.disorder <= tokens);
                let records = output
                    .split(|&b| b == b'\n')
                    .filter(|l| field(l, b"current pid:").is_some())
                    .count() as u64;
                prop_assert!(v.torn_records <= records);
                prop_assert!(v.threads_min <= v.threads_max);
                prop_assert_eq!(v.cpus_used, v.cpu_records.len() as u64);
            }

            #[test]
            fn shuffled_dropped_and_repeated_lines_are_counted_exactly(
                (order, dropped, repeated) in (1usize..200).prop_flat_map(|n| (
                    Just((1..=n as u64).collect::<Vec<_>>()).prop_shuffle(),
                    proptest::collection::btree_set(1..=n as u64, 0..n.min(20)),
                    proptest::collection::vec(1..=n as u64, 0..10),
                )),
            ) {
                let n = order.len() as u64;
                let mut written: Vec<u64> =
                    order.into_iter().filter(|k| !dropped.contains(k)).collect();
                let repeats: Vec<u64> =
                    repeated.into_iter().filter(|k| !dropped.contains(k)).collect();
                written.extend(&repeats);
                let v = verify(&output(&written), n, &AllowedCpus::from_iter([0]));
                prop_assert_eq!(v.missing, dropped.len() as u64);
                prop_assert_eq!(v.duplicates, repeats.len() as u64);
                // The original check: positions p whose line is not line{p}.
                let disorder = written
                    .iter()
                    .enumerate()
                    .filter(|(p, k)| **k != *p as u64 + 1)
                    .count() as u64;
                prop_assert_eq!(v.disorder, disorder);
                prop_assert_eq!(v.torn_records, 0);
            }
        }
    }
}

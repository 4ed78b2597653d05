//! What the host gives the workload and what it takes away: the CPU quota and cpuset of the
//! exporter's own cgroup, and, around each run, how often the quota throttled it, how much
//! time the hypervisor stole, and how long tasks waited for a CPU (pressure).
//!
//! Both cgroup versions are read: v1's `cpu` controller (`cpu.cfs_quota_us`,
//! `cpu.cfs_period_us`, `cpu.stat` with `throttled_time` in ns) where the process has one,
//! else v2's unified hierarchy (`cpu.max`, `cpu.stat` with `throttled_usec`, `cpu.pressure`).
//! The cgroup is located from `/proc/self/cgroup` and `/proc/self/mountinfo` at each run, so a
//! process moved into another cgroup is followed (and the run it moved during is disturbed).
//! The parsers are pure functions over file text, tested on fixtures of both versions. [`facts`] reads what the node is, once a sweep.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use nix::sched::{CpuSet, sched_getaffinity};
use nix::unistd::Pid;
use procfs::process::MountInfos;
use procfs::{CpuPressure, ProcessCGroups};
use procfs::{CurrentSI, FromBufRead};
use serde::{Deserialize, Serialize};

pub mod facts;

/// The CPUs this process may run on (its affinity mask), which worker processes inherit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedCpus(BTreeSet<u32>);

impl AllowedCpus {
    /// Reads the calling process's affinity mask.
    pub fn current() -> io::Result<Self> {
        let set = sched_getaffinity(Pid::from_raw(0)).map_err(io::Error::from)?;
        let cpus = (0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .filter_map(|cpu| u32::try_from(cpu).ok())
            .collect();
        Ok(AllowedCpus(cpus))
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: u32) -> bool {
        self.0.contains(&cpu)
    }

    /// How many CPUs the set holds.
    pub fn len(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<u32> for AllowedCpus {
    fn from_iter<I: IntoIterator<Item = u32>>(cpus: I) -> Self {
        AllowedCpus(cpus.into_iter().collect())
    }
}

/// The CPUs the exporter may use: its CPU quota and its affinity mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capacity {
    /// The tightest CPU quota of its cgroup, in cores; `None` without one.
    pub quota_cores: Option<f64>,
    /// CPUs in its affinity mask (its cpuset).
    pub cpuset_cpus: u32,
}

impl Capacity {
    /// The capacity of the calling process now.
    pub fn current() -> Capacity {
        Capacity {
            quota_cores: CpuCgroup::current().and_then(|c| c.quota_cores()),
            cpuset_cpus: AllowedCpus::current().map_or(1, |a| a.len()),
        }
    }

    /// Whole CPUs the workload can keep busy at once: the lower of the quota (rounded up)
    /// and the cpuset, at least 1.
    pub fn usable(&self) -> u32 {
        let quota = self.quota_cores.map_or(u32::MAX, |q| {
            q.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
        });
        quota.min(self.cpuset_cpus).max(1)
    }
}

/// Which cgroup interface governs the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// The v1 `cpu` controller.
    V1,
    /// The v2 unified hierarchy.
    V2,
}

/// The directory of the cgroup whose CPU controller applies to this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuCgroup {
    /// Which interface.
    pub version: Version,
    /// The cgroup's directory.
    pub dir: PathBuf,
    /// Where its hierarchy is mounted: quotas are looked up from `dir` up to here.
    pub mount: PathBuf,
}

/// Throttling counters of a cgroup (`cpu.stat`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Throttling {
    /// Enforcement periods that had runnable tasks.
    pub periods: u64,
    /// Periods in which the quota ran out.
    pub throttled_periods: u64,
    /// Time the group's tasks were held back, in seconds.
    pub throttled_seconds: f64,
}

impl CpuCgroup {
    /// The CPU cgroup of the calling process, if one is mounted where this process can see it.
    pub fn current() -> Option<CpuCgroup> {
        let cgroups = std::fs::read("/proc/self/cgroup").ok()?;
        let mounts = std::fs::read("/proc/self/mountinfo").ok()?;
        locate(&cgroups, &mounts)
    }

    /// The tightest CPU quota on the way from this cgroup up to its hierarchy's root, in
    /// cores; `None` when nothing limits it.
    pub fn quota_cores(&self) -> Option<f64> {
        let mut tightest: Option<f64> = None;
        let mut dir = self.dir.as_path();
        loop {
            let quota = match self.version {
                Version::V1 => parse_v1_quota(
                    &read(&dir.join("cpu.cfs_quota_us")).unwrap_or_default(),
                    &read(&dir.join("cpu.cfs_period_us")).unwrap_or_default(),
                ),
                Version::V2 => parse_v2_max(&read(&dir.join("cpu.max")).unwrap_or_default()),
            };
            if let Some(quota) = quota {
                tightest = Some(tightest.map_or(quota, |t| t.min(quota)));
            }
            match dir.parent() {
                Some(parent) if dir != self.mount && parent.starts_with(&self.mount) => {
                    dir = parent
                }
                _ => return tightest,
            }
        }
    }

    /// The cgroup's throttling counters now.
    pub fn throttling(&self) -> Option<Throttling> {
        parse_cpu_stat(&read(&self.dir.join("cpu.stat"))?, self.version)
    }

    /// Seconds tasks of this cgroup have waited for a CPU (v2 `cpu.pressure`), if kept.
    fn pressure_seconds(&self) -> Option<f64> {
        match self.version {
            Version::V2 => parse_pressure(&read(&self.dir.join("cpu.pressure"))?),
            Version::V1 => None,
        }
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Finds the CPU cgroup from the text of `/proc/self/cgroup` and `/proc/self/mountinfo`: the
/// v1 hierarchy with the `cpu` controller if there is one, else the v2 hierarchy.
pub fn locate(cgroups: &[u8], mountinfo: &[u8]) -> Option<CpuCgroup> {
    let cgroups = ProcessCGroups::from_buf_read(cgroups).ok()?.0;
    let mounts = MountInfos::from_buf_read(mountinfo).ok()?.0;
    let v1 = cgroups
        .iter()
        .find(|c| c.hierarchy != 0 && c.controllers.iter().any(|n| n == "cpu"));
    let (version, group) = match v1 {
        Some(group) => (Version::V1, group),
        None => (Version::V2, cgroups.iter().find(|c| c.hierarchy == 0)?),
    };
    let mount = mounts.iter().find(|m| match version {
        Version::V1 => m.fs_type == "cgroup" && m.super_options.contains_key("cpu"),
        Version::V2 => m.fs_type == "cgroup2",
    })?;
    // The mount shows the hierarchy from `root` down; the process's path is from the top.
    let relative = Path::new(&group.pathname)
        .strip_prefix(&mount.root)
        .ok()?
        .to_owned();
    Some(CpuCgroup {
        version,
        dir: mount.mount_point.join(relative),
        mount: mount.mount_point.clone(),
    })
}

/// Cores allowed by v2 `cpu.max` (`"30000 100000"` is 0.3; `"max 100000"` is no limit).
pub fn parse_v2_max(text: &str) -> Option<f64> {
    let mut fields = text.split_whitespace();
    let quota: f64 = fields.next()?.parse().ok()?;
    let period: f64 = fields.next().unwrap_or("100000").parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// Cores allowed by v1 `cpu.cfs_quota_us` over `cpu.cfs_period_us` (-1 is no limit).
pub fn parse_v1_quota(quota: &str, period: &str) -> Option<f64> {
    let quota: f64 = quota.trim().parse().ok()?;
    let period: f64 = period.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// The throttling counters of a `cpu.stat` file of either version.
pub fn parse_cpu_stat(text: &str, version: Version) -> Option<Throttling> {
    let value = |key: &str| -> Option<u64> {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            (name == key).then(|| value.trim().parse().ok())?
        })
    };
    let throttled_seconds = match version {
        Version::V1 => value("throttled_time")? as f64 / 1e9,
        Version::V2 => value("throttled_usec")? as f64 / 1e6,
    };
    Some(Throttling {
        periods: value("nr_periods")?,
        throttled_periods: value("nr_throttled")?,
        throttled_seconds,
    })
}

/// Seconds of the `some` total of a pressure file (`/proc/pressure/cpu`, `cpu.pressure`).
pub fn parse_pressure(text: &str) -> Option<f64> {
    let pressure = CpuPressure::from_buf_read(text.as_bytes()).ok()?;
    Some(pressure.some.total as f64 / 1e6)
}

/// The counters that change during a run, read at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    throttling: Option<Throttling>,
    steal_seconds: Option<f64>,
    /// CPU pressure, and whether it is the cgroup's (else the host's).
    pressure_seconds: Option<(bool, f64)>,
    /// The host's CPUs, over which steal is summed.
    host_cpus: u32,
}

/// What the host did to one run: differences of two [`Sample`]s. `None` where the host does
/// not keep the counter (no CPU cgroup, no steal accounting, no pressure stall information).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disturbance {
    /// Enforcement periods during the run.
    pub total_periods: Option<u64>,
    /// Periods in which the quota ran out.
    pub throttled_periods: Option<u64>,
    /// Time held back by the quota.
    pub throttled_seconds: Option<f64>,
    /// Time the hypervisor gave the host's CPUs to others, summed over the host's CPUs.
    pub steal_seconds: Option<f64>,
    /// Time tasks waited for a CPU (pressure stall information, `some`).
    pub cpu_pressure_seconds: Option<f64>,
}

/// One clock tick (`USER_HZ`) in seconds: the unit the kernel counts steal in, per CPU.
pub fn tick_seconds() -> f64 {
    1.0 / procfs::ticks_per_second().max(1) as f64
}

impl Sample {
    /// Reads the counters of `cgroup` and of the host now.
    pub fn now(cgroup: Option<&CpuCgroup>) -> Sample {
        let stats = procfs::KernelStats::current().ok();
        let steal_seconds = stats
            .as_ref()
            .and_then(|s| Some(s.total.steal? as f64 * tick_seconds()));
        let host_cpus = stats.map_or(1, |s| u32::try_from(s.cpu_time.len()).unwrap_or(1));
        let pressure_seconds = cgroup
            .and_then(CpuCgroup::pressure_seconds)
            .map(|p| (true, p))
            .or_else(|| {
                Some((
                    false,
                    parse_pressure(&read(Path::new("/proc/pressure/cpu"))?)?,
                ))
            });
        Sample {
            throttling: cgroup.and_then(CpuCgroup::throttling),
            steal_seconds,
            pressure_seconds,
            host_cpus,
        }
    }

    /// The host's CPUs when the sample was taken.
    pub fn host_cpus(&self) -> u32 {
        self.host_cpus
    }

    /// What changed from `self` to `later`.
    pub fn until(&self, later: &Sample) -> Disturbance {
        let both = |a: Option<Throttling>, b: Option<Throttling>| a.zip(b);
        let throttling = both(self.throttling, later.throttling);
        let diff = |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0));
        Disturbance {
            total_periods: throttling.map(|(a, b)| b.periods.saturating_sub(a.periods)),
            throttled_periods: throttling
                .map(|(a, b)| b.throttled_periods.saturating_sub(a.throttled_periods)),
            throttled_seconds: throttling
                .map(|(a, b)| (b.throttled_seconds - a.throttled_seconds).max(0.0)),
            steal_seconds: diff(self.steal_seconds, later.steal_seconds),
            // Two readings of different sources (the cgroup's, the host's) do not subtract.
            cpu_pressure_seconds: match (self.pressure_seconds, later.pressure_seconds) {
                (Some((a, x)), Some((b, y))) if a == b => Some((y - x).max(0.0)),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_CGROUP: &str = "9:name=systemd:/\n3:cpuset:/\n2:cpuacct:/pod\n\
                             1:cpu:/kubepods/pod1/c1\n0::/\n";
    const V1_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2_CGROUP: &str = "0::/kubepods.slice/pod1.slice/cri-c1.scope\n";
    /// A container that sees its own cgroup as the root of the mount (cgroup namespace).
    const V2_MOUNTS: &str = "\
1320 1319 0:30 /kubepods.slice/pod1.slice/cri-c1.scope /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw,nsdelegate
";

    #[test]
    fn the_cpu_cgroup_is_found_in_either_version() {
        let v1 = locate(V1_CGROUP.as_bytes(), V1_MOUNTS.as_bytes()).expect("v1");
        assert_eq!(v1.version, Version::V1);
        assert_eq!(v1.dir, Path::new("/sys/fs/cgroup/cpu/kubepods/pod1/c1"));
        assert_eq!(v1.mount, Path::new("/sys/fs/cgroup/cpu"));
        let v2 = locate(V2_CGROUP.as_bytes(), V2_MOUNTS.as_bytes()).expect("v2");
        assert_eq!(v2.version, Version::V2);
        assert_eq!(v2.dir, Path::new("/sys/fs/cgroup"));
        let hybrid = locate(V2_CGROUP.as_bytes(), V1_MOUNTS.as_bytes()).expect("hybrid");
        assert_eq!(
            hybrid.dir,
            Path::new("/sys/fs/cgroup/unified/kubepods.slice/pod1.slice/cri-c1.scope")
        );
        let no_cgroup_fs = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n";
        assert_eq!(locate(V2_CGROUP.as_bytes(), no_cgroup_fs.as_bytes()), None);
    }

    #[test]
    fn quotas_of_both_versions() {
        assert_eq!(parse_v2_max("30000 100000\n"), Some(0.3));
        assert_eq!(parse_v2_max("max 100000\n"), None);
        assert_eq!(parse_v2_max("200000 50000"), Some(4.0));
        assert_eq!(parse_v1_quota("-1\n", "100000\n"), None);
        assert_eq!(parse_v1_quota("150000\n", "100000\n"), Some(1.5));
        assert_eq!(parse_v1_quota("junk", "100000"), None);
    }

    #[test]
    fn throttling_counters_of_both_versions() {
        let v1 =
            "nr_periods 7\nnr_throttled 6\nthrottled_time 337000000\nnr_bursts 0\nburst_time 0\n";
        assert_eq!(
            parse_cpu_stat(v1, Version::V1),
            Some(Throttling {
                periods: 7,
                throttled_periods: 6,
                throttled_seconds: 0.337
            })
        );
        let v2 = "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\n\
                  nr_throttled 4\nthrottled_usec 250000\nnr_bursts 0\nburst_usec 0\n";
        assert_eq!(
            parse_cpu_stat(v2, Version::V2),
            Some(Throttling {
                periods: 10,
                throttled_periods: 4,
                throttled_seconds: 0.25
            })
        );
        // A v2 file without the cpu controller enabled has usage only.
        assert_eq!(parse_cpu_stat("usage_usec 5\n", Version::V2), None);
    }

    #[test]
    fn pressure_totals_and_differences() {
        let psi = "some avg10=4.16 avg60=10.23 avg300=6.65 total=93946816\n\
                   full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(psi), Some(93.946816));
        let before = Sample {
            throttling: Some(Throttling {
                periods: 10,
                throttled_periods: 1,
                throttled_seconds: 0.5,
            }),
            steal_seconds: Some(100.0),
            pressure_seconds: None,
            host_cpus: 2,
        };
        let after = Sample {
            throttling: Some(Throttling {
                periods: 17,
                throttled_periods: 7,
                throttled_seconds: 0.75,
            }),
            steal_seconds: Some(100.25),
            pressure_seconds: Some((true, 3.0)),
            host_cpus: 2,
        };
        let d = before.until(&after);
        assert_eq!(
            (d.total_periods, d.throttled_periods, d.throttled_seconds),
            (Some(7), Some(6), Some(0.25))
        );
        assert_eq!(d.steal_seconds, Some(0.25));
        assert_eq!(d.cpu_pressure_seconds, None);
    }

    #[test]
    fn usable_cpus_are_the_lower_of_quota_and_cpuset() {
        let capacity = |quota_cores, cpuset_cpus| Capacity {
            quota_cores,
            cpuset_cpus,
        };
        assert_eq!(capacity(None, 24).usable(), 24);
        assert_eq!(capacity(Some(2.0), 24).usable(), 2);
        assert_eq!(capacity(Some(0.3), 24).usable(), 1);
        assert_eq!(capacity(Some(2.5), 24).usable(), 3);
        assert_eq!(capacity(Some(8.0), 4).usable(), 4);
        assert!(Capacity::current().cpuset_cpus >= 1);
    }

    #[test]
    fn this_process_has_readable_counters() {
        let sample = Sample::now(CpuCgroup::current().as_ref());
        assert!(sample.steal_seconds.is_some(), "steal is in /proc/stat");
    }
}

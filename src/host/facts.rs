//! What the node is, read at the start of every sweep and kept with it in the history: the
//! kernel and the boot, the CPU model and its microcode, the online CPUs, the exporter's CPU
//! quota and cpuset, the frequency governor and the CPUs' current frequency where the host
//! shows them, and memory pressure. A change point can then be set beside what changed on the
//! node, and `copybench_host_info` shows the node's identity to dashboards.
//!
//! Every fact is optional: a host that does not show one (no `cpufreq` in a VM, no pressure
//! stall information) leaves it out. The parsers are pure functions over file text.

use std::collections::BTreeSet;
use std::path::Path;

use procfs::{CpuInfo, Current, MemoryPressure};
use serde::{Deserialize, Serialize};

use super::{AllowedCpus, CpuCgroup};

/// What the node was during one sweep.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// The kernel's release (`uname -r`).
    pub kernel: Option<String>,
    /// The boot's random id: it changes at every reboot.
    pub boot_id: Option<String>,
    /// The first CPU's model name.
    pub cpu_model: Option<String>,
    /// The first CPU's microcode revision.
    pub microcode: Option<String>,
    /// The CPUs the kernel has online, as a list ("0-3,6").
    pub online_cpus: Option<String>,
    /// The CPUs the exporter may run on (its cpuset), as a list.
    pub cpuset: Option<String>,
    /// The exporter's CPU quota in cores; `None` without one.
    pub cpu_quota_cores: Option<f64>,
    /// The first CPU's frequency governor.
    pub governor: Option<String>,
    /// The online CPUs' mean current frequency in hertz.
    pub cpu_frequency_hertz: Option<f64>,
    /// Share of the last 60 s in which some task waited for memory (0 to 1).
    pub memory_pressure: Option<f64>,
}

impl Facts {
    /// The facts of this node and process now.
    pub fn current() -> Facts {
        let cpuinfo = CpuInfo::current().ok();
        let field = |name: &str| {
            cpuinfo
                .as_ref()
                .and_then(|c| c.get_field(0, name))
                .map(str::to_owned)
        };
        Facts {
            kernel: read_line("/proc/sys/kernel/osrelease"),
            boot_id: read_line("/proc/sys/kernel/random/boot_id"),
            cpu_model: field("model name"),
            microcode: field("microcode"),
            online_cpus: read_line("/sys/devices/system/cpu/online"),
            cpuset: AllowedCpus::current().ok().map(|a| cpu_list(&a.0)),
            cpu_quota_cores: CpuCgroup::current().and_then(|c| c.quota_cores()),
            governor: read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            cpu_frequency_hertz: cpuinfo.as_ref().and_then(mean_frequency),
            memory_pressure: MemoryPressure::current()
                .ok()
                .map(|p| f64::from(p.some.avg60) / 100.0),
        }
    }
}

/// The first line of a small file, trimmed; `None` if it cannot be read or is empty.
fn read_line(path: impl AsRef<Path>) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// The mean of the CPUs' `cpu MHz`, in hertz.
fn mean_frequency(cpuinfo: &CpuInfo) -> Option<f64> {
    let mhz: Vec<f64> = (0..cpuinfo.num_cores())
        .filter_map(|cpu| cpuinfo.get_field(cpu, "cpu MHz")?.trim().parse().ok())
        .collect();
    (!mhz.is_empty()).then(|| mhz.iter().sum::<f64>() / mhz.len() as f64 * 1e6)
}

/// CPUs as the kernel writes a list: ascending, consecutive CPUs as ranges ("0-3,6,8-9").
pub fn cpu_list(cpus: &BTreeSet<u32>) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &cpu in cpus {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => runs.push((cpu, cpu)),
        }
    }
    runs.iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_written_as_the_kernel_writes_them() {
        let list = |cpus: &[u32]| cpu_list(&cpus.iter().copied().collect());
        assert_eq!(list(&[]), "");
        assert_eq!(list(&[3]), "3");
        assert_eq!(list(&[0, 1]), "0-1");
        assert_eq!(list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(list(&[5, 10, 22]), "5,10,22");
        assert_eq!(list(&[0, 1, 2, 4, 5, 6, 7]), "0-2,4-7");
    }

    #[test]
    fn this_host_shows_its_kernel_boot_cpus_and_cpuset() {
        let facts = Facts::current();
        let kernel = facts.kernel.expect("a kernel release");
        assert!(
            kernel.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{kernel}"
        );
        assert_eq!(facts.boot_id.expect("a boot id").len(), 36);
        assert!(facts.online_cpus.is_some_and(|c| c.starts_with('0')));
        let cpuset = facts.cpuset.expect("a cpuset");
        assert!(
            !cpuset.is_empty()
                && cpuset
                    .chars()
                    .all(|c| c.is_ascii_digit() || ",-".contains(c))
        );
        assert!(facts.cpu_frequency_hertz.is_none_or(|hz| hz > 1e6));
        assert!(
            facts
                .memory_pressure
                .is_none_or(|p| (0.0..=1.0).contains(&p))
        );
    }
}

//! What Linux tells a process about itself and the machine: resident memory
//! and memory available from `/proc`, machine-wide CPU time from
//! `/proc/stat`, the load average, and this process's CPU-time clocks.
//!
//! Every reader returns `None` (or zero, for the clocks' failures that cannot
//! happen on Linux) instead of failing where `/proc` is missing or a field is
//! absent, so a benchmark still prints the rest of its figures.
//!
//! The clocks and the clock-tick rate come from `rustix`, which makes the
//! system calls without `unsafe` in this crate.

use std::time::Duration;

use rustix::time::{clock_gettime, ClockId};

/// A `kB` field of a `/proc` file in `Name:   123 kB` form, in KiB.
fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A field of `/proc/self/status` given in kB (`VmRSS`, `VmHWM`, …), in
/// KiB.
///
/// ```
/// # use tricolor_testkit::procfs;
/// if cfg!(target_os = "linux") {
///     assert!(procfs::status_kib("VmRSS").unwrap() > 0);
///     assert_eq!(procfs::status_kib("NoSuchField"), None);
/// }
/// ```
pub fn status_kib(field: &str) -> Option<u64> {
    kib_field(&std::fs::read_to_string("/proc/self/status").ok()?, field)
}

/// This process's resident memory now (`VmRSS`), in bytes.
///
/// ```
/// # use tricolor_testkit::procfs;
/// if cfg!(target_os = "linux") {
///     assert!(procfs::rss_bytes().unwrap() <= procfs::peak_rss_bytes().unwrap());
/// }
/// ```
pub fn rss_bytes() -> Option<u64> {
    status_kib("VmRSS").map(|k| k << 10)
}

/// This process's peak resident memory (`VmHWM`, the high-water mark), in
/// bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM").map(|k| k << 10)
}

/// Memory available to start new work without swapping (`MemAvailable` of
/// `/proc/meminfo`), in bytes.
///
/// ```
/// # use tricolor_testkit::procfs;
/// if cfg!(target_os = "linux") {
///     assert!(procfs::mem_available_bytes().unwrap() > 0);
/// }
/// ```
pub fn mem_available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&info, "MemAvailable").map(|k| k << 10)
}

/// The contents of `/proc/loadavg`, trimmed (`"0.52 0.58 0.59 1/467 12345"`).
pub fn load_average() -> Option<String> {
    Some(
        std::fs::read_to_string("/proc/loadavg")
            .ok()?
            .trim()
            .to_string(),
    )
}

/// CPU time of the whole machine since boot, summed over its CPUs, from the
/// `cpu` line of `/proc/stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineCpu {
    /// Busy seconds: user, nice, system, irq and softirq.
    pub busy: f64,
    /// Seconds stolen by the hypervisor.
    pub steal: f64,
}

/// The machine's CPU time so far; take two readings and subtract.
///
/// ```
/// # use tricolor_testkit::procfs;
/// if cfg!(target_os = "linux") {
///     let cpu = procfs::machine_cpu().unwrap();
///     assert!(cpu.busy > 0.0 && cpu.steal >= 0.0);
/// }
/// ```
pub fn machine_cpu() -> Option<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0.0) / hz;
    // user nice system idle iowait irq softirq steal ...
    Some(MachineCpu {
        busy: at(0) + at(1) + at(2) + at(5) + at(6),
        steal: at(7),
    })
}

fn clock(id: ClockId) -> Duration {
    let ts = clock_gettime(id);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of this process so far: every thread, finished ones included
/// (`CLOCK_PROCESS_CPUTIME_ID`).
///
/// ```
/// # use tricolor_testkit::procfs;
/// let before = procfs::process_cpu();
/// let mut x = 0u64;
/// for i in 0..1_000_000u64 {
///     x = x.wrapping_mul(31).wrapping_add(i);
/// }
/// std::hint::black_box(x);
/// assert!(procfs::process_cpu() >= before);
/// ```
pub fn process_cpu() -> Duration {
    clock(ClockId::ProcessCPUTime)
}

/// CPU time of the calling thread so far (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu() -> Duration {
    clock(ClockId::ThreadCPUTime)
}

/// User and system CPU time of this process so far (every thread, finished
/// ones included), from `/proc/self/stat`, in clock ticks' resolution
/// (usually 10 ms).
///
/// ```
/// # use tricolor_testkit::procfs;
/// if cfg!(target_os = "linux") {
///     let (user, sys) = procfs::user_and_system_cpu().unwrap();
///     println!("user {user:?}, system {sys:?}");
/// }
/// ```
pub fn user_and_system_cpu() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, field 2, is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let secs = |t: u64| Duration::from_nanos(t.saturating_mul(1_000_000_000) / hz);
    Some((secs(ticks(14)?), secs(ticks(15)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kib_fields() {
        let text = "Name:\tx\nVmHWM:\t  123456 kB\nVmRSS:\t     42 kB\n";
        assert_eq!(kib_field(text, "VmHWM"), Some(123456));
        assert_eq!(kib_field(text, "VmRSS"), Some(42));
        assert_eq!(kib_field(text, "Vm"), None);
        assert_eq!(kib_field(text, "Name"), None);
    }

    #[test]
    fn clocks_move_forward() {
        let (p, t) = (process_cpu(), thread_cpu());
        let mut x = 1u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu() > p);
        assert!(thread_cpu() > t);
        assert!(thread_cpu() <= process_cpu());
    }
}

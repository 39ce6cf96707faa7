//! What `/proc` says about a running server: memory, CPU time, open file descriptors.
//!
//! Linux only, like the server's own fd handling. Tests use these to assert behaviour that can
//! only be seen from outside the process (memory stays bounded, the loop does not spin, fds are
//! given back), never to time how fast something is.

use std::time::Duration;

/// A `kB` field of `/proc/<pid>/status` (e.g. `VmRSS`, `VmHWM`), in KiB.
#[track_caller]
pub fn status_kib(pid: u32, field: &str) -> u64 {
    crate::load::procfs::status_field_kib(pid, field)
        .unwrap_or_else(|e| panic!("{field} of /proc/{pid}/status: {e}"))
}

/// Resident memory now, in KiB.
#[track_caller]
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// Peak resident memory since start or the last [`reset_peak_rss`], in KiB.
#[track_caller]
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

/// Peak memory since [`reset_peak_rss`] when that worked (`reset` true), else memory now: the
/// best "how high did it get" this kernel allows.
#[track_caller]
pub fn peak_or_current_rss_kib(pid: u32, reset: bool) -> u64 {
    if reset {
        peak_rss_kib(pid)
    } else {
        rss_kib(pid)
    }
}

/// Reset the peak (`VmHWM`) to the current RSS, so a later [`peak_rss_kib`] measures only what
/// happened after this call. Returns false where the kernel does not allow it.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// CPU time (user + system) the process has used so far.
#[track_caller]
pub fn cpu_time(pid: u32) -> Duration {
    crate::load::procfs::cpu_time(pid).unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"))
}

/// Number of open file descriptors.
#[track_caller]
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/fd: {e}"))
        .count()
}

/// Wait (up to `deadline`) until `probe` returns true, checking every few milliseconds; returns
/// the last value it saw. For state only `/proc` shows, where no read with a deadline can wait.
pub fn wait_for<T>(
    deadline: Duration,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let end = std::time::Instant::now() + deadline;
    loop {
        let v = probe();
        if done(&v) || std::time::Instant::now() >= end {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

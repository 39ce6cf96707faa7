//! What the operating system says about a process: CPU time and resident memory of the server
//! (from `/proc/<pid>/stat` and `/proc/<pid>/status`), the generator thread's CPU time, and its
//! file-descriptor limit.

use std::io;
use std::time::Duration;

// The server reads its own /proc/self/status the same way.
use lanchat_server::memory::status_kib;

/// One look at a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU time so far, in seconds (clock-tick resolution, usually 10 ms).
    pub cpu_s: f64,
    /// Resident set size now (`VmRSS`), in bytes.
    pub rss: u64,
    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub peak_rss: u64,
}

/// Read CPU time and memory of process `pid`.
///
/// # Errors
/// The process is gone, or its `/proc` files are not in the expected format.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(ProcSample {
        cpu_s: cpu_time(pid)?.as_secs_f64(),
        rss: status_kib(&status, "VmRSS:").ok_or_else(|| bad(pid, "status"))? * 1024,
        peak_rss: status_kib(&status, "VmHWM:").ok_or_else(|| bad(pid, "status"))? * 1024,
    })
}

/// User plus system CPU time process `pid` has used so far (clock-tick resolution).
///
/// # Errors
/// The process is gone, or `/proc/<pid>/stat` is not in the expected format.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| bad(pid, "stat"))?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// A `kB` field of `/proc/<pid>/status` (`field` without its colon, e.g. `VmRSS`), in KiB.
///
/// # Errors
/// The process is gone, or the field is missing.
pub fn status_field_kib(pid: u32, field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_kib(&status, &format!("{field}:")).ok_or_else(|| bad(pid, "status"))
}

fn bad(pid: u32, file: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("/proc/{pid}/{file} is not in the expected format"),
    )
}

/// Whether process `pid` has exited: gone, or a zombie its parent has not reaped yet (either
/// way its sockets are closed).
pub fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => fields_after_name(&stat)
            .and_then(|mut fields| fields.next())
            .is_some_and(|state| matches!(state, "Z" | "X")),
        Err(_) => true,
    }
}

/// The fields of a `/proc/<pid>/stat` line after the command name (field 2), from the state
/// (field 3) on. The name may contain spaces and parentheses, so they start after the last `)`.
fn fields_after_name(stat: &str) -> Option<std::str::SplitAsciiWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_ascii_whitespace())
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let mut fields = fields_after_name(stat)?.skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// User plus system CPU time the calling thread has used (the generator runs on one thread;
/// in a test the server may be another thread of the same process).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid and writable for the duration of the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_paren() {
        let stat = "4242 (odd) name)) S 1 4242 4242 0 -1 4194560 300 0 0 0 157 23 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(180));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn a_zombie_has_exited_as_much_as_a_reaped_process() {
        assert!(!has_exited(std::process::id()));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("run true");
        let pid = child.id();
        // Exited, not reaped yet: a zombie, whose sockets are closed all the same.
        let exited = crate::procfs::wait_for(Duration::from_secs(10), || has_exited(pid), |&e| e);
        assert!(exited, "a zombie counts as exited");
        child.wait().expect("reap");
        assert!(has_exited(pid));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss > 0 && s.peak_rss >= s.rss, "{s:?}");
    }
}

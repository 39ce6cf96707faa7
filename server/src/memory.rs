//! Giving heap memory back to the operating system at the right moments, and what it says the
//! server holds ([`resident`]).
//!
//! Write buffers are freed as soon as they drain, so an idle connection holds none. With glibc's
//! defaults that is costly under load: every free that leaves more than 128 KiB unused at the top
//! of the heap shrinks it (`brk`), and the next poll round grows it again and page-faults every
//! page back in (a third of the server's CPU in `make load`'s fan-out, see docs/BENCHMARKS.md).
//! And after a burst, memory freed below a live allocation is never returned at all.
//!
//! So the binary turns glibc's automatic trimming off ([`tune_allocator`]) and the event loop
//! trims explicitly ([`trim`]) a little after a burst of frees: memory is reused while traffic
//! flows and handed back once it stops. Other allocators: both are no-ops.

/// Stop glibc from shrinking the heap on every large free and from serving buffers of up to
/// 32 MiB with `mmap` (each would be faulted in afresh); [`trim`] takes over. Process-wide, so
/// called by the binary, not the library.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before the loop starts.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

/// Return every whole free page of the heap to the OS (`malloc_trim(0)` releases free pages in
/// the middle of the heap too, not only at its top).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks and releases only pages that hold no
    // allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The server's resident memory, as the OS reports it; `None` where it cannot be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resident {
    /// Resident set size now, in bytes (`VmRSS`).
    pub now: Option<u64>,
    /// The most it has been, in bytes (`VmHWM`).
    pub peak: Option<u64>,
}

/// This process's resident memory now and at its peak, from `/proc/self/status` (Linux);
/// unknown elsewhere, or when the file cannot be read. One small file read: callers that may
/// be asked often keep the answer for a while (see `crate::stats`).
pub fn resident() -> Resident {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Resident::default();
    };
    let bytes = |key| status_kib(&status, key).map(|kib| kib.saturating_mul(1024));
    Resident {
        now: bytes("VmRSS:"),
        peak: bytes("VmHWM:"),
    }
}

/// The value of a `Key:   123 kB` line of a `/proc/<pid>/status` text (`key` with its colon),
/// in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values_in_kib() {
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t     512 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(512));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(status_kib("VmRSS:\tlots kB", "VmRSS:"), None);
    }

    #[test]
    fn this_process_has_a_resident_size_on_linux() {
        let r = resident();
        if cfg!(target_os = "linux") {
            let (now, peak) = (r.now.expect("VmRSS"), r.peak.expect("VmHWM"));
            assert!(now > 0 && peak > 0, "{r:?}");
        }
    }
}

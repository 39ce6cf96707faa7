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
//! flows and handed back once it stops, the blocks glibc's thread cache kept from the burst
//! included. Other allocators: both are no-ops.

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
/// the middle of the heap too, not only at its top), the pages under the blocks glibc's thread
/// cache held included ([`flush_thread_cache`]).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes the allocator's own locks and releases only pages that
        // hold no allocation. The first also merges the small free blocks, so that the
        // flush's blocks are carved from free space.
        unsafe {
            libc::malloc_trim(0);
        }
        flush_thread_cache();
        // SAFETY: as above.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// glibc's thread cache: size classes of small blocks (chunks of 32 to 1,040 bytes, every 16).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const CACHE_CLASSES: usize = 64;

/// Blocks the thread cache keeps per class (glibc's default `tcache_count`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const CACHE_DEPTH: usize = 7;

/// Swap the blocks glibc's thread cache holds for blocks carved from free space, so that
/// `malloc_trim` can return the pages the cached ones were on.
///
/// The cache keeps the last blocks freed of each small size (up to 7 of each of 64 sizes)
/// and `malloc_trim` counts them as in use. After a burst those are blocks from all over the
/// burst's heap, each keeping its page resident (measured: the heap of a 2,000-client join
/// storm ~200 KB smaller at rest without them; docs/BENCHMARKS.md, "Memory at rest"). A
/// block freed goes to the cache while it has room, so: take the cached blocks of each size
/// out (`taken`), take as many again (`filler`: after the first trim's merge, best fit puts
/// them in the holes between live blocks, on pages resident anyway), free the filler first,
/// which fills the cache, then the taken blocks, which the full cache now refuses: they go
/// back to the heap, to be merged and trimmed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn flush_thread_cache() {
    for class in 0..CACHE_CLASSES {
        // The largest request whose chunk (request + 8-byte header, rounded up to 16) is of
        // this class.
        let size = 24 + 16 * class;
        let mut taken = [std::ptr::null_mut::<libc::c_void>(); CACHE_DEPTH];
        let mut filler = [std::ptr::null_mut::<libc::c_void>(); CACHE_DEPTH];
        for p in taken.iter_mut().chain(filler.iter_mut()) {
            // SAFETY: a plain allocation, freed below (free(NULL) if it failed is a no-op).
            *p = unsafe { libc::malloc(size) };
        }
        for p in filler.into_iter().chain(taken) {
            // SAFETY: each pointer came from malloc above and is freed once.
            unsafe { libc::free(p) };
        }
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

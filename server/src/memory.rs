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

/// How thoroughly [`trim`] works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimDepth {
    /// Traffic is still flowing: one `malloc_trim`, as cheap as a trim gets.
    Shallow,
    /// Nothing is left to send anywhere: glibc's thread cache is emptied too
    /// ([`flush_thread_cache`]), and the heap trimmed again after it.
    Deep,
}

/// Return every whole free page of the heap to the OS (`malloc_trim(0)` releases free pages in
/// the middle of the heap too, not only at its top); at [`TrimDepth::Deep`], the pages under
/// the blocks glibc's thread cache held included. The deep trim's extra work (~900 small
/// allocations and a second walk of the heap) is for the quiet after a burst, not for a loop
/// that is still sending: the loop asks for it only when no connection has output pending.
pub fn trim(depth: TrimDepth) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes the allocator's own locks and releases only pages that
        // hold no allocation. The first also merges the small free blocks, so that what lies
        // after a cached block is one free block when the flush grows it.
        unsafe {
            libc::malloc_trim(0);
        }
        #[cfg(target_pointer_width = "64")]
        if depth == TrimDepth::Deep {
            // Twice: the second pass takes what the first put back (blocks a live block
            // follows). Measured after a storm: 4-12 pages holding only cached blocks at rest
            // after two passes, 21-42 after one.
            flush_thread_cache();
            flush_thread_cache();
            // SAFETY: as above.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
    let _ = depth;
}

/// glibc's thread cache: size classes of small blocks (chunks of 32 to 1,040 bytes, every 16).
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
const CACHE_CLASSES: usize = 64;

/// Blocks the thread cache keeps per class (glibc's default `tcache_count`).
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
const CACHE_DEPTH: usize = 7;

/// What a cached block is grown to before it is freed: past the cache's largest class.
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
const PAST_CACHE: usize = 8192;

/// Empty glibc's thread cache into the heap, so that `malloc_trim` can return the pages its
/// blocks were on.
///
/// The cache keeps the last blocks freed of each small size (up to 7 of each of 64 sizes,
/// ~240 KB) and `malloc_trim` counts them as in use. After a burst those are blocks from all
/// over the burst's heap, each keeping its page resident: measured, a 2,000-client join
/// storm's heap ~400 KB larger at rest with the cache than without it (docs/BENCHMARKS.md,
/// "Memory at rest"). glibc has no call to empty it, and a small block freed goes back to it
/// while it has room. So every cached block is taken out and grown past the cache's sizes
/// before it is freed, highest address first: in place when the space after it is free
/// (freed just before, if it was the next cached block), so it merges with that space and is
/// never cached again. A block that has to move (a live block follows it) goes back to the
/// cache; it lies next to a live block then, on a page that stays resident anyway. Where a
/// size had fewer than 7 cached, taking 7 makes glibc refill the cache from free blocks of
/// that size (holes between live blocks, on such pages too).
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
fn flush_thread_cache() {
    let mut taken = [std::ptr::null_mut::<libc::c_void>(); CACHE_CLASSES * CACHE_DEPTH];
    for (i, p) in taken.iter_mut().enumerate() {
        // The largest request whose chunk (request + 8-byte header, rounded up to 16) is of
        // class `i / CACHE_DEPTH`: served from the cache while it holds one.
        let size = 24 + 16 * (i / CACHE_DEPTH);
        // SAFETY: a plain allocation, freed below (NULL if it failed: skipped).
        *p = unsafe { libc::malloc(size) };
    }
    taken.sort_unstable_by(|a, b| b.cmp(a));
    for p in taken.into_iter().filter(|p| !p.is_null()) {
        // SAFETY: `p` came from malloc above and is freed once: realloc either takes it and
        // returns the block to free, or fails (NULL) and leaves `p` to be freed.
        unsafe {
            let grown = libc::realloc(p, PAST_CACHE);
            libc::free(if grown.is_null() { p } else { grown });
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

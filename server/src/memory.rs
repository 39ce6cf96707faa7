//! Giving heap memory back to the operating system at the right moments.
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

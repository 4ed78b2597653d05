//! How the daemon's allocator gives memory back. glibc keeps what large answers free (the
//! runs API's megabytes) in per-thread heaps, and after the first large block is freed it
//! raises its threshold for giving large blocks a mapping of their own; together they keep
//! a flood's resident memory long after the flood. Here blocks from 128 KiB up always get a
//! mapping of their own, returned to the system when freed, and there are at most two heaps.

/// Sets the allocator up; call once at start, before other threads.
pub fn give_large_blocks_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters and is called before other threads run;
    // a refused setting (returning 0) leaves glibc's default, which is still correct.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

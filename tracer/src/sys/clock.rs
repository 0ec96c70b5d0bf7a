//! The clocks: `CLOCK_BOOTTIME` is the kernel's for record timestamps,
//! `CLOCK_REALTIME` the wall clock they are shown in.

/// Reads clock `id` in nanoseconds.
pub fn ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec, which clock_gettime only writes.
    unsafe { libc::clock_gettime(id, &raw mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// The kernel's clock for record timestamps (`bpf_ktime_get_boot_ns`), in ns.
pub fn boot_ns() -> u64 {
    u64::try_from(ns(libc::CLOCK_BOOTTIME)).unwrap_or(0)
}

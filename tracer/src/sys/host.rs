//! The host's configuration as sysconf reports it, and its time zone.

/// Processors online, physical memory pages and the page size (0 when
/// unknown), as a capture file's machine information records them.
pub fn memory_and_cpus() -> (u64, u64, u64) {
    let get = |name| {
        // SAFETY: sysconf has no preconditions.
        u64::try_from(unsafe { libc::sysconf(name) }).unwrap_or(0)
    };
    (
        get(libc::_SC_NPROCESSORS_ONLN),
        get(libc::_SC_PHYS_PAGES),
        get(libc::_SC_PAGESIZE),
    )
}

/// The clock ticks per second `/proc` counts times in (`USER_HZ`).
pub fn clock_ticks_per_sec() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0)
}

/// The local time zone's offset from UTC at `epoch_secs`, in seconds.
pub fn utc_offset_s(epoch_secs: i64) -> i64 {
    let secs = epoch_secs as libc::time_t;
    // SAFETY: a zeroed tm is a valid value; localtime_r writes only into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a time_t and a tm for the call.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    tm.tm_gmtoff
}

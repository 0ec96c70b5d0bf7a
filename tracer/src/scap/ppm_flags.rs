//! Native flag values turned into libscap's own encodings (`PPM_*`), which
//! sysdig expects in files: open flags, open modes, clone and mmap flags.
//! The bit-for-bit choices follow libscap's driver, quirks included (any
//! bit of `O_TMPFILE` or `O_SYNC` sets the scap flag), so sysdig shows what
//! it would have shown had it captured the event itself.

/// The native bits of a scap value: each scap bit set gives its native bits.
fn unmap_bits(value: u64, table: impl IntoIterator<Item = (u64, u32)>) -> u64 {
    table
        .into_iter()
        .filter(|(_, ppm)| value & u64::from(*ppm) != 0)
        .fold(0, |acc, (native, _)| acc | native)
}

/// Table of `(native bits, scap bit)`: the scap bit is set when any native bit is.
fn map_bits(value: u64, table: &[(u64, u32)]) -> u32 {
    table
        .iter()
        .filter(|(native, _)| value & native != 0)
        .fold(0, |acc, (_, ppm)| acc | ppm)
}

const O_ACCMODE: u64 = 3;
const O_CREAT: u64 = 0o100;
const O_TMPFILE: u64 = 0o20_200_000;

/// Open flags beyond the access mode.
const OPEN_BITS: &[(u64, u32)] = &[
    (O_CREAT, 0x4),
    (0o2000, 0x8),         // O_APPEND
    (0o10000, 0x10),       // O_DSYNC
    (0o200, 0x20),         // O_EXCL
    (0o4000, 0x40),        // O_NONBLOCK
    (0o4_010_000, 0x80),   // O_SYNC (= __O_SYNC | O_DSYNC)
    (0o1000, 0x100),       // O_TRUNC
    (0o40000, 0x200),      // O_DIRECT
    (0o200_000, 0x400),    // O_DIRECTORY
    (0o100_000, 0x800),    // O_LARGEFILE
    (0o2_000_000, 0x1000), // O_CLOEXEC
    (O_TMPFILE, 0x2000),
];

pub fn open_flags(flags: u64) -> u32 {
    let access = match flags & O_ACCMODE {
        1 => 0x2, // PPM_O_WRONLY
        2 => 0x3, // PPM_O_RDWR
        _ => 0x1, // PPM_O_RDONLY
    };
    access | map_bits(flags, OPEN_BITS)
}

/// The native flags of scap's open flags. `O_SYNC` and `O_TMPFILE` hold
/// `O_DSYNC` and `O_DIRECTORY`, and libscap sets their scap bit for any of
/// their bits: those scap bits are read as the smaller flag.
pub fn native_open_flags(ppm: u64) -> u64 {
    let access = match ppm & 3 {
        0x2 => 1,
        0x3 => 2,
        _ => 0,
    };
    let exact = OPEN_BITS.iter().map(|&(native, bit)| match bit {
        0x80 => (0o10000, bit),
        0x2000 => (0o200_000, bit),
        _ => (native, bit),
    });
    access | unmap_bits(ppm, exact)
}

/// The mode of an open: only meaningful, and only kept, when it creates.
pub fn open_mode(flags: u64, mode: u64) -> u32 {
    if flags & (O_CREAT | O_TMPFILE) == 0 {
        return 0;
    }
    // PPM_S_* share the native permission bit layout.
    (mode & 0o7777) as u32
}

const CLONE_BITS: &[(u64, u32)] = &[
    (0x400, 0x1),               // CLONE_FILES
    (0x200, 0x2),               // CLONE_FS
    (0x8000_0000, 0x4),         // CLONE_IO
    (0x0800_0000, 0x8),         // CLONE_NEWIPC
    (0x4000_0000, 0x10),        // CLONE_NEWNET
    (0x0002_0000, 0x20),        // CLONE_NEWNS
    (0x2000_0000, 0x40),        // CLONE_NEWPID
    (0x0400_0000, 0x80),        // CLONE_NEWUTS
    (0x8000, 0x100),            // CLONE_PARENT
    (0x0010_0000, 0x200),       // CLONE_PARENT_SETTID
    (0x2000, 0x400),            // CLONE_PTRACE
    (0x800, 0x800),             // CLONE_SIGHAND
    (0x0004_0000, 0x1000),      // CLONE_SYSVSEM
    (0x0001_0000, 0x2000),      // CLONE_THREAD
    (0x0080_0000, 0x4000),      // CLONE_UNTRACED
    (0x100, 0x8000),            // CLONE_VM
    (0x1000_0000, 0x10_0000),   // CLONE_NEWUSER
    (0x0020_0000, 0x80_0000),   // CLONE_CHILD_CLEARTID
    (0x0100_0000, 0x100_0000),  // CLONE_CHILD_SETTID
    (0x0008_0000, 0x200_0000),  // CLONE_SETTLS
    (0x4000, 0x800_0000),       // CLONE_VFORK
    (0x0200_0000, 0x1000_0000), // CLONE_NEWCGROUP
];

pub fn clone_flags(flags: u64) -> u32 {
    map_bits(flags, CLONE_BITS)
}

/// The native clone flags of scap's.
pub fn native_clone_flags(ppm: u64) -> u64 {
    unmap_bits(ppm, CLONE_BITS.iter().copied())
}

/// What a new thread shares: the flags pthread_create passes, for clone
/// calls whose flags sdtrace does not see (fork, vfork, clone3).
pub const THREAD_CLONE_FLAGS: u64 = 0x0001_0000 | 0x100 | 0x200 | 0x400 | 0x800;

/// fcntl commands are values, not bits: each has a scap number of its own.
pub fn fcntl_cmd(cmd: u64) -> u8 {
    match cmd {
        0 => 1,     // F_DUPFD
        1 => 2,     // F_GETFD
        2 => 3,     // F_SETFD
        3 => 4,     // F_GETFL
        4 => 5,     // F_SETFL
        5 => 6,     // F_GETLK
        6 => 8,     // F_SETLK
        7 => 9,     // F_SETLKW
        8 => 10,    // F_SETOWN
        9 => 12,    // F_GETOWN
        10 => 13,   // F_SETSIG
        11 => 15,   // F_GETSIG
        15 => 21,   // F_SETOWN_EX
        16 => 22,   // F_GETOWN_EX
        36 => 30,   // F_OFD_GETLK
        37 => 31,   // F_OFD_SETLK
        38 => 32,   // F_OFD_SETLKW
        1024 => 23, // F_SETLEASE
        1025 => 24, // F_GETLEASE
        1026 => 27, // F_NOTIFY
        1029 => 25, // F_CANCELLK
        1030 => 26, // F_DUPFD_CLOEXEC
        1031 => 28, // F_SETPIPE_SZ
        1032 => 29, // F_GETPIPE_SZ
        _ => 0,     // UNKNOWN
    }
}

/// The native fcntl command of scap's number.
pub fn native_fcntl_cmd(ppm: u64) -> u64 {
    (0..2048)
        .find(|&cmd| u64::from(fcntl_cmd(cmd)) == ppm && ppm != 0)
        .unwrap_or(0)
}

/// What vfork passes: the child borrows the parent's memory until it execs.
pub const VFORK_CLONE_FLAGS: u64 = 0x100 | 0x4000;

const MMAP_PROT_BITS: &[(u64, u32)] = &[
    (0x1, 0x1),
    (0x2, 0x2),
    (0x4, 0x4),
    (0x0100_0000, 0x10), // PROT_GROWSDOWN
    (0x0200_0000, 0x20), // PROT_GROWSUP
];

pub fn mmap_prot(prot: u64) -> u32 {
    map_bits(prot, MMAP_PROT_BITS)
}

/// The native protection of scap's.
pub fn native_mmap_prot(ppm: u64) -> u64 {
    unmap_bits(ppm, MMAP_PROT_BITS.iter().copied())
}

const MMAP_BITS: &[(u64, u32)] = &[
    (0x1, 0x1),       // MAP_SHARED
    (0x2, 0x2),       // MAP_PRIVATE
    (0x10, 0x4),      // MAP_FIXED
    (0x20, 0x8),      // MAP_ANONYMOUS
    (0x40, 0x10),     // MAP_32BIT
    (0x4000, 0x40),   // MAP_NORESERVE
    (0x8000, 0x80),   // MAP_POPULATE
    (0x10000, 0x100), // MAP_NONBLOCK
    (0x100, 0x200),   // MAP_GROWSDOWN
    (0x800, 0x400),   // MAP_DENYWRITE
    (0x1000, 0x800),  // MAP_EXECUTABLE
    (0x2000, 0x4000), // MAP_LOCKED
];

pub fn mmap_flags(flags: u64) -> u32 {
    map_bits(flags, MMAP_BITS)
}

/// The native mmap flags of scap's.
pub fn native_mmap_flags(ppm: u64) -> u64 {
    unmap_bits(ppm, MMAP_BITS.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_as_libscap_encodes_them() {
        assert_eq!(open_flags(0), 0x1);
        // O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC
        assert_eq!(open_flags(0o2_001_101), 0x2 | 0x4 | 0x100 | 0x1000);
        assert_eq!(open_flags(2), 0x3);
        assert_eq!(open_mode(0o100, 0o100_644), 0o644);
        assert_eq!(open_mode(0, 0o644), 0);
    }

    #[test]
    fn scap_values_go_back_to_native() {
        for flags in [0, 1, 2, 0o2_001_101, 0o4_000 | 0o200_000] {
            assert_eq!(native_open_flags(u64::from(open_flags(flags))), flags);
        }
        assert_eq!(
            native_clone_flags(u64::from(clone_flags(THREAD_CLONE_FLAGS))),
            THREAD_CLONE_FLAGS
        );
        assert_eq!(native_mmap_flags(u64::from(mmap_flags(0x22))), 0x22);
        assert_eq!(native_fcntl_cmd(u64::from(fcntl_cmd(1030))), 1030);
    }

    #[test]
    fn clone_flags_of_a_thread() {
        let f = clone_flags(THREAD_CLONE_FLAGS);
        assert_eq!(f, 0x2000 | 0x8000 | 0x2 | 0x1 | 0x800);
    }
}

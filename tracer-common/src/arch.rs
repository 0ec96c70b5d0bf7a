//! The architectures sdtrace traces, and their syscall numbers as sdtrace's
//! canonical ones.
//!
//! sdtrace numbers syscalls the x86_64 way everywhere past the kernel: the
//! capture table ([`crate::syscalls`]), the names ([`crate::syscall_names`]),
//! the filter, the decoders and the scap event table. Another architecture's
//! native numbers are translated once, in the kernel, through the spec
//! table userspace loads (each native slot carries its canonical number in
//! [`crate::SyscallSpec::nr`]), so a record is in canonical numbers from the
//! moment it is written, whichever machine wrote it. Every arm64 syscall has
//! an x86_64 counterpart; arm64 lacks many of x86_64's (`open`, `stat`,
//! `fork`, ...: only their `*at` and `clone` forms), which
//! [`Arch::has_syscall`] says.

#[path = "syscall_arch_table.rs"]
mod table;

use table::AARCH64_BELOW_UNIFIED;

/// In the tables: no syscall has this native number.
const NONE: u16 = u16::MAX;
/// From this number on (Linux 5.1's unified numbering) every architecture
/// numbers its syscalls alike.
pub const UNIFIED_FROM: u16 = 403;

crate::wire_enum! {
    /// An architecture sdtrace runs on. Sent in records streams and capture
    /// files as `u8`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Arch: u8 {
        X86_64 = 1,
        Aarch64 = 2,
    }
}

impl Arch {
    /// The architecture this binary was built for (the kernel it traces).
    #[cfg(not(target_arch = "aarch64"))]
    pub const HOST: Self = Self::X86_64;
    /// The architecture this binary was built for (the kernel it traces).
    #[cfg(target_arch = "aarch64")]
    pub const HOST: Self = Self::Aarch64;

    /// Every architecture, in wire order.
    pub const ALL: [Self; 2] = [Self::X86_64, Self::Aarch64];

    /// The kernel's name for it (`uname -m`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }

    /// The architecture `name` means: `uname -m`'s name, or Debian's and
    /// Docker's (`amd64`, `arm64`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "x86_64" | "amd64" => Some(Self::X86_64),
            "aarch64" | "arm64" => Some(Self::Aarch64),
            _ => None,
        }
    }

    /// The canonical number of native syscall `native`; `None` where this
    /// architecture has no syscall of that number.
    pub fn canonical(self, native: u32) -> Option<u16> {
        let native = u16::try_from(native).ok()?;
        match self {
            Self::X86_64 => Some(native),
            Self::Aarch64 if native >= UNIFIED_FROM => Some(native),
            Self::Aarch64 => match AARCH64_BELOW_UNIFIED[usize::from(native)] {
                NONE => None,
                nr => Some(nr),
            },
        }
    }

    /// The native number of canonical syscall `nr` on this architecture;
    /// `None` where it has no such syscall (`open` on arm64).
    pub fn native(self, nr: u16) -> Option<u16> {
        match self {
            Self::X86_64 => Some(nr),
            Self::Aarch64 if nr >= UNIFIED_FROM => Some(nr),
            Self::Aarch64 => AARCH64_BELOW_UNIFIED
                .iter()
                .position(|&c| c == nr)
                .map(|n| n as u16),
        }
    }

    /// Whether this architecture has canonical syscall `nr`.
    pub fn has_syscall(self, nr: u16) -> bool {
        self.native(nr).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall_names::{nr, SYSCALL_NAMES};

    #[test]
    fn arm64_numbers_become_x86_64_ones() {
        let a = Arch::Aarch64;
        // asm-generic: openat 56, close 57, read 63, clone 220, execve 221.
        assert_eq!(a.canonical(56), Some(nr::OPENAT));
        assert_eq!(a.canonical(57), Some(nr::CLOSE));
        assert_eq!(a.canonical(63), Some(nr::READ));
        assert_eq!(a.canonical(220), Some(nr::CLONE));
        assert_eq!(a.canonical(221), Some(nr::EXECVE));
        assert_eq!(a.canonical(435), Some(435)); // clone3, unified
        assert_eq!(a.canonical(244), None); // arch-specific range
        assert_eq!(a.native(nr::OPENAT), Some(56));
        for missing in [nr::OPEN, nr::STAT, nr::LSTAT, nr::FORK, nr::VFORK, nr::POLL] {
            assert!(
                !a.has_syscall(missing),
                "{}",
                SYSCALL_NAMES[missing as usize]
            );
        }
        assert!(Arch::X86_64.has_syscall(nr::OPEN));
    }

    #[test]
    fn the_table_is_one_to_one() {
        let mut seen = [false; 512];
        for native in 0..512 {
            if let Some(c) = Arch::Aarch64.canonical(native) {
                assert!(!seen[usize::from(c)], "canonical {c} twice");
                seen[usize::from(c)] = true;
                assert_eq!(Arch::Aarch64.native(c), Some(native as u16));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_name(a.name()), Some(a));
            assert_eq!(Arch::try_from(a as u8), Ok(a));
        }
        assert_eq!(Arch::from_name("arm64"), Some(Arch::Aarch64));
    }
}

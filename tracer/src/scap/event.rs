//! libscap's event table as data: the layout of every event code, and which
//! enter and exit events stand for each native syscall. The table itself is
//! generated ([`super::table`]).

use super::table::{EVENTS, SYSCALLS};

/// libscap's parameter types (`enum ppm_param_type`), as stored in files.
pub mod pt {
    pub const INT8: u8 = 1;
    pub const INT16: u8 = 2;
    pub const INT32: u8 = 3;
    pub const INT64: u8 = 4;
    pub const UINT8: u8 = 5;
    pub const UINT16: u8 = 6;
    pub const UINT32: u8 = 7;
    pub const UINT64: u8 = 8;
    pub const CHARBUF: u8 = 9;
    pub const BYTEBUF: u8 = 10;
    pub const ERRNO: u8 = 11;
    pub const SOCKADDR: u8 = 12;
    pub const SOCKTUPLE: u8 = 13;
    pub const FD: u8 = 14;
    pub const PID: u8 = 15;
    pub const FDLIST: u8 = 16;
    pub const FSPATH: u8 = 17;
    pub const SYSCALLID: u8 = 18;
    pub const SIGTYPE: u8 = 19;
    pub const RELTIME: u8 = 20;
    pub const ABSTIME: u8 = 21;
    pub const DYN: u8 = 27;
    pub const FLAGS8: u8 = 28;
    pub const FLAGS16: u8 = 29;
    pub const FLAGS32: u8 = 30;
    pub const UID: u8 = 31;
    pub const GID: u8 = 32;
    pub const SIGSET: u8 = 34;
    pub const MODE: u8 = 42;
    pub const FSRELPATH: u8 = 43;
}

/// One parameter of an event layout.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub ty: u8,
}

impl Param {
    pub const fn new(name: &'static str, ty: u8) -> Self {
        Self { name, ty }
    }

    /// Bytes a fixed-size value of this type takes; `None` for variable ones.
    pub fn fixed_size(&self) -> Option<usize> {
        Some(match self.ty {
            pt::INT8 | pt::UINT8 | pt::SIGTYPE | pt::FLAGS8 => 1,
            pt::INT16 | pt::UINT16 | pt::SYSCALLID | pt::FLAGS16 => 2,
            pt::INT32 | pt::UINT32 | pt::FLAGS32 | pt::UID | pt::GID | pt::MODE | pt::SIGSET => 4,
            pt::INT64 | pt::UINT64 | pt::ERRNO | pt::FD | pt::PID | pt::RELTIME | pt::ABSTIME => 8,
            _ => return None,
        })
    }
}

/// The layout of one event code.
#[derive(Debug)]
pub struct EventInfo {
    pub name: &'static str,
    /// `EF_*` flags.
    pub flags: u32,
    pub params: &'static [Param],
}

impl EventInfo {
    pub const fn new(name: &'static str, flags: u32, params: &'static [Param]) -> Self {
        Self {
            name,
            flags,
            params,
        }
    }
}

/// `EF_CREATES_FD | EF_USES_FD`: events sysdig resolves an fd for.
const EF_FD: u32 = 1 | 4;

/// Whether sysdig gives syscall `nr`'s events fd fields: `None` for
/// syscalls it only knows generically (sdtrace then decides alone).
pub fn syscall_has_fd(nr: u16) -> Option<bool> {
    let (enter, exit, _) = syscall_events(nr);
    if enter == GENERIC_E {
        return None;
    }
    let flags = info(enter)?.flags | info(exit)?.flags;
    Some(flags & EF_FD != 0)
}

/// `PPME_GENERIC_E`: a syscall without its own layout (ID, nativeID).
pub const GENERIC_E: u16 = 0;
/// `PPME_GENERIC_X` (ID).
pub const GENERIC_X: u16 = 1;
/// `PPME_PROCEXIT_1_E`: status, ret, sig, core.
pub const PROCEXIT: u16 = 186;

/// `PPME_NA2`: an unused internal event without parameters, which sysdig
/// reads and never shows; sdtrace's data rides on it when no other event can
/// carry it.
pub const CARRIER: u16 = 235;

/// The layout of event `code`.
pub fn info(code: u16) -> Option<&'static EventInfo> {
    EVENTS.get(usize::from(code))
}

/// The events standing for native syscall `nr`: `(enter, exit, ppm syscall code)`.
pub fn syscall_events(nr: u16) -> (u16, u16, u16) {
    SYSCALLS
        .get(usize::from(nr))
        .copied()
        .unwrap_or((GENERIC_E, GENERIC_X, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_known_layouts() {
        let (e, x, _) = syscall_events(257);
        assert_eq!(info(e).unwrap().name, "openat");
        let names: Vec<_> = info(x).unwrap().params.iter().map(|p| p.name).collect();
        assert_eq!(names, ["fd", "dirfd", "name", "flags", "mode", "dev"]);
        assert_eq!(info(PROCEXIT).unwrap().name, "procexit");
        assert_eq!(info(GENERIC_E).unwrap().params.len(), 2);
        // newfstatat has no layout of its own in this libscap.
        assert_eq!(syscall_events(262).0, GENERIC_E);
        assert_eq!(syscall_has_fd(262), None);
        assert_eq!(syscall_has_fd(0), Some(true)); // read
        assert_eq!(syscall_has_fd(9), Some(false)); // mmap
        assert_eq!(syscall_has_fd(257), Some(true)); // openat
    }
}

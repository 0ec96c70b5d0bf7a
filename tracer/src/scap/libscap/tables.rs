//! The state blocks libscap writes before the events: machine info, the
//! process list (nine versions), one fd list per thread, and the users and
//! groups. They seed sdtrace's process and fd tables as `/proc` seeds them
//! live.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::state::{FdInfo, FdKind, L4Proto};

pub const MI: u32 = 0x201;
pub const MI_INT: u32 = 0x8002_ABCD;
pub const PL_V1: u32 = 0x202;
pub const PL_V1_INT: u32 = 0x8000_ABCD;
pub const PL_V2: u32 = 0x207;
pub const PL_V2_INT: u32 = 0x8013_ABCD;
pub const PL_V3: u32 = 0x209;
pub const PL_V3_INT: u32 = 0x8014_ABCD;
pub const PL_V4: u32 = 0x210;
pub const PL_V5: u32 = 0x211;
pub const PL_V6: u32 = 0x212;
pub const PL_V7: u32 = 0x213;
pub const PL_V8: u32 = 0x214;
pub const PL_V9: u32 = 0x215;
pub const FDL: u32 = 0x203;
pub const FDL_INT: u32 = 0x8001_ABCD;
pub const FDL_V2: u32 = 0x218;
pub const IL: u32 = 0x205;
pub const IL_INT: u32 = 0x8011_ABCD;
pub const IL_V2: u32 = 0x219;
pub const UL: u32 = 0x206;
pub const UL_INT: u32 = 0x8012_ABCD;
pub const UL_V2: u32 = 0x220;

/// A thread of the process list.
#[derive(Clone, Debug, Default)]
pub struct ThreadEntry {
    pub tid: u64,
    pub pid: u64,
    pub ptid: u64,
    pub comm: String,
    /// argv[0].
    pub exe: String,
    pub exepath: String,
    /// argv[1..].
    pub args: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
}

/// A state block, by its type: which table, in which version (`sized`:
/// each entry starts with its length).
enum State {
    Machine,
    Processes(u8),
    Fds { sized: bool },
    Users { sized: bool },
    Interfaces,
}

impl State {
    fn of(ty: u32) -> Option<State> {
        Some(match ty {
            MI | MI_INT => State::Machine,
            PL_V1 | PL_V1_INT => State::Processes(1),
            PL_V2 | PL_V2_INT => State::Processes(2),
            PL_V3 | PL_V3_INT => State::Processes(3),
            PL_V4 => State::Processes(4),
            PL_V5 => State::Processes(5),
            PL_V6 => State::Processes(6),
            PL_V7 => State::Processes(7),
            PL_V8 => State::Processes(8),
            PL_V9 => State::Processes(9),
            FDL | FDL_INT => State::Fds { sized: false },
            FDL_V2 => State::Fds { sized: true },
            UL | UL_INT => State::Users { sized: false },
            UL_V2 => State::Users { sized: true },
            IL | IL_INT | IL_V2 => State::Interfaces,
            _ => return None,
        })
    }
}

/// What the blocks before the first event said.
#[derive(Debug, Default)]
pub struct FileTables {
    pub hostname: String,
    /// Boot time, ns since the epoch (0 when the file does not say).
    pub boot_epoch_ns: u64,
    pub threads: Vec<ThreadEntry>,
    pub fds: HashMap<u64, Vec<(i64, FdInfo)>>,
    /// `/etc/passwd` and `/etc/group` texts rebuilt from the user list.
    pub passwd: String,
    pub group: String,
}

/// A block that does not read as its type says.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} ends inside an entry")]
pub struct TableError {
    pub what: &'static str,
}

impl FileTables {
    /// Takes one block before the events; `Ok(false)` for a type it does not know.
    ///
    /// # Errors
    /// When the block's entries overrun it.
    pub fn add(&mut self, ty: u32, body: &[u8]) -> Result<bool, TableError> {
        match State::of(ty) {
            Some(State::Machine) => self.machine(body),
            Some(State::Processes(version)) => self.processes(body, version)?,
            Some(State::Fds { sized }) => self.fd_list(body, sized)?,
            Some(State::Users { sized }) => self.users(body, sized)?,
            // sdtrace does not show interfaces.
            Some(State::Interfaces) => {}
            None => return Ok(false),
        }
        Ok(true)
    }

    /// Whether `ty` is one of the state block types.
    pub fn knows(ty: u32) -> bool {
        State::of(ty).is_some()
    }

    fn machine(&mut self, body: &[u8]) {
        let mut c = Cursor::new(body, "machine info");
        let hostname = c.skip(20).and_then(|()| c.take(128)).ok();
        if let Some(h) = hostname {
            self.hostname = String::from_utf8_lossy(super::params::text(h)).into_owned();
        }
        self.boot_epoch_ns = c.u64().unwrap_or(0);
    }

    fn processes(&mut self, body: &[u8], version: u8) -> Result<(), TableError> {
        let mut c = Cursor::new(body, "process list");
        while c.remaining() >= 4 {
            let start = c.at;
            let entry_len = if version >= 9 { c.u32()? as usize } else { 0 };
            let mut t = ThreadEntry {
                tid: c.u64()?,
                pid: c.u64()?,
                ptid: c.u64()?,
                ..ThreadEntry::default()
            };
            if version >= 6 {
                c.u64()?; // sid
            }
            if version >= 8 {
                c.u64()?; // vpgid
            }
            t.comm = c.str16()?;
            t.exe = c.str16()?;
            t.exepath = if version >= 7 {
                c.str16()?
            } else {
                t.exe.clone()
            };
            t.args = nul_separated(c.bytes16()?);
            t.cwd = c.str16()?;
            c.u64()?; // fdlimit
            c.u32()?; // flags
            t.uid = c.u32()?;
            t.gid = c.u32()?;
            if version >= 2 {
                c.skip(3 * 4 + 2 * 8)?; // memory and page-fault counters
            }
            if version >= 3 {
                c.bytes16()?; // env
            }
            if version >= 4 {
                c.skip(16)?; // vtid, vpid
                c.bytes16()?; // cgroups
            }
            if version >= 5 {
                c.bytes16()?; // root
            }
            if entry_len > 0 {
                // Later fields are read only when present; skip them all.
                let end = start + entry_len;
                if c.at > end {
                    return Err(TableError {
                        what: "process list",
                    });
                }
                c.at = end;
            }
            self.threads.push(t);
        }
        Ok(())
    }

    fn fd_list(&mut self, body: &[u8], v2: bool) -> Result<(), TableError> {
        let mut c = Cursor::new(body, "fd list");
        let tid = c.u64()?;
        let fds = self.fds.entry(tid).or_default();
        while c.remaining() >= 4 {
            let start = c.at;
            let entry_len = if v2 { c.u32()? as usize } else { 0 };
            let fd = c.u64()? as i64;
            c.u64()?; // inode
            let ty = c.u8()?;
            let left = entry_len.saturating_sub(c.at - start);
            let info = fd_entry(&mut c, ty, left)?;
            if entry_len > 0 {
                let end = start + entry_len;
                if c.at > end {
                    return Err(TableError { what: "fd list" });
                }
                c.at = end;
            }
            if let Some(info) = info {
                fds.push((fd, info));
            }
        }
        Ok(())
    }

    fn users(&mut self, body: &[u8], v2: bool) -> Result<(), TableError> {
        let mut c = Cursor::new(body, "user list");
        while c.remaining() >= 4 {
            let start = c.at;
            let entry_len = if v2 { c.u32()? as usize } else { 0 };
            if c.u8()? == 0 {
                let (uid, gid) = (c.u32()?, c.u32()?);
                let (name, home, shell) = (c.str16()?, c.str16()?, c.str16()?);
                let _ = writeln!(self.passwd, "{name}:x:{uid}:{gid}::{home}:{shell}");
            } else {
                let gid = c.u32()?;
                let name = c.str16()?;
                let _ = writeln!(self.group, "{name}:x:{gid}:");
            }
            if entry_len > 0 {
                c.at = (start + entry_len).max(c.at);
            }
        }
        Ok(())
    }
}

/// One fd of an fd list, as sdtrace describes it; `None` for kinds with
/// nothing to describe.
fn fd_entry(c: &mut Cursor<'_>, ty: u8, left: usize) -> Result<Option<FdInfo>, TableError> {
    let v4 = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
    let v6 = |b: &[u8]| {
        let a: [u8; 16] = b.try_into().expect("16 bytes");
        let a = Ipv6Addr::from(a);
        a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
    };
    let l4 = |p: u8| match p {
        2 => L4Proto::Tcp,
        3 => L4Proto::Udp,
        4 => L4Proto::Icmp,
        5 => L4Proto::Raw,
        _ => L4Proto::Unknown,
    };
    Ok(Some(match ty {
        3 | 4 => {
            let alen = if ty == 3 { 4 } else { 16 };
            let (src, dst) = (c.take(alen)?, c.take(alen)?);
            let (sport, dport) = (c.u16()?, c.u16()?);
            let proto = l4(c.u8()?);
            let ip = if ty == 3 { v4 } else { v6 };
            FdInfo::ip_socket(
                proto,
                Some(SocketAddr::new(ip(src), sport)),
                Some(SocketAddr::new(ip(dst), dport)),
                false,
                0,
            )
        }
        5 | 6 => {
            let addr = c.take(if ty == 5 { 4 } else { 16 })?;
            let port = c.u16()?;
            let proto = l4(c.u8()?);
            let ip = if ty == 5 { v4(addr) } else { v6(addr) };
            FdInfo::ip_socket(proto, Some(SocketAddr::new(ip, port)), None, true, 0)
        }
        8 => {
            c.skip(16)?;
            FdInfo::new(FdKind::Unix, c.str16()?, 0)
        }
        16 => {
            let flags = super::super::ppm_flags::native_open_flags(u64::from(c.u32()?));
            let name = c.str16()?;
            // A device number follows when the entry has room for it.
            if left >= 4 + 2 + name.len() + 4 {
                c.u32()?;
            }
            FdInfo::path(name, flags as u32)
        }
        1 => FdInfo::path(c.str16()?, 0),
        2 => FdInfo::new(FdKind::Directory, c.str16()?, 0),
        7 => FdInfo::new(FdKind::Pipe, c.str16()?, 0),
        9 => FdInfo::new(FdKind::Event, c.str16()?, 0),
        10 => FdInfo::new(FdKind::Other, c.str16()?, 0),
        11 => FdInfo::new(FdKind::Signalfd, c.str16()?, 0),
        12 => FdInfo::new(FdKind::Eventpoll, c.str16()?, 0),
        13 => FdInfo::new(FdKind::Inotify, c.str16()?, 0),
        14 => FdInfo::new(FdKind::Timerfd, c.str16()?, 0),
        15 => FdInfo::new(FdKind::Netlink, c.str16()?, 0),
        17 => FdInfo::new(FdKind::Bpf, c.str16()?, 0),
        18 => FdInfo::new(FdKind::Userfaultfd, c.str16()?, 0),
        19 => FdInfo::new(FdKind::IoUring, c.str16()?, 0),
        20 => FdInfo::new(FdKind::Memfd, c.str16()?, 0),
        21 => FdInfo::new(FdKind::Pidfd, c.str16()?, 0),
        _ => return Ok(None),
    }))
}

fn nul_separated(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Reads little-endian fields of a block body in order.
struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(body: &'a [u8], what: &'static str) -> Self {
        Self { body, at: 0, what }
    }

    fn remaining(&self) -> usize {
        self.body.len().saturating_sub(self.at)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TableError> {
        let b = self
            .body
            .get(self.at..self.at + n)
            .ok_or(TableError { what: self.what })?;
        self.at += n;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<(), TableError> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8, TableError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, TableError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Result<u32, TableError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64, TableError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn bytes16(&mut self) -> Result<&'a [u8], TableError> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }

    fn str16(&mut self) -> Result<String, TableError> {
        let b = self.bytes16()?;
        Ok(String::from_utf8_lossy(super::params::text(b)).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str16(b: &mut Vec<u8>, s: &str) {
        b.extend_from_slice(&(s.len() as u16).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    }

    /// One thread as process list `version` lays it out.
    fn thread(version: u8, tid: u64, pid: u64, comm: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for id in [tid, pid, 1] {
            b.extend_from_slice(&id.to_le_bytes());
        }
        if version >= 6 {
            b.extend_from_slice(&0u64.to_le_bytes());
        }
        if version >= 8 {
            b.extend_from_slice(&0u64.to_le_bytes());
        }
        str16(&mut b, comm);
        str16(&mut b, comm);
        if version >= 7 {
            str16(&mut b, &format!("/usr/bin/{comm}"));
        }
        str16(&mut b, "-a\0-b\0");
        str16(&mut b, "/srv");
        b.extend_from_slice(&1024u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&33u32.to_le_bytes());
        b.extend_from_slice(&44u32.to_le_bytes());
        if version >= 2 {
            b.extend_from_slice(&[0; 28]);
        }
        if version >= 3 {
            str16(&mut b, "A=1\0");
        }
        if version >= 4 {
            b.extend_from_slice(&[0; 16]);
            str16(&mut b, "cpu=/\0");
        }
        if version >= 5 {
            str16(&mut b, "/");
        }
        if version >= 9 {
            // A newer writer's tail, which this reader skips by length.
            b.extend_from_slice(&[0xab; 37]);
            let len = (b.len() + 4) as u32;
            b.splice(0..0, len.to_le_bytes());
        }
        b
    }

    #[test]
    fn every_process_list_version_reads() {
        let types = [
            PL_V1, PL_V2, PL_V3, PL_V4, PL_V5, PL_V6, PL_V7, PL_V8, PL_V9,
        ];
        for (i, ty) in types.into_iter().enumerate() {
            let version = i as u8 + 1;
            let mut body = thread(version, 5, 5, "nginx");
            body.extend(thread(version, 6, 5, "nginx"));
            body.extend_from_slice(&[0, 0]); // padding
            let mut t = FileTables::default();
            assert_eq!(t.add(ty, &body), Ok(true), "version {version}");
            let got: Vec<_> = t.threads.iter().map(|t| (t.tid, t.pid)).collect();
            assert_eq!(got, [(5, 5), (6, 5)], "version {version}");
            let first = &t.threads[0];
            assert_eq!(
                (
                    first.comm.as_str(),
                    first.args.as_slice(),
                    first.cwd.as_str(),
                    first.uid,
                    first.gid
                ),
                (
                    "nginx",
                    &["-a".to_owned(), "-b".to_owned()][..],
                    "/srv",
                    33,
                    44
                ),
                "version {version}"
            );
            let exepath = if version >= 7 {
                "/usr/bin/nginx"
            } else {
                "nginx"
            };
            assert_eq!(first.exepath, exepath);
        }
    }

    #[test]
    fn fd_lists_name_files_and_sockets() {
        let mut v1 = 9u64.to_le_bytes().to_vec();
        // fd 3: IPv4 socket 10.0.0.1:5000 -> 10.0.0.2:80, tcp.
        v1.extend_from_slice(&3u64.to_le_bytes());
        v1.extend_from_slice(&0u64.to_le_bytes());
        v1.push(3);
        v1.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        v1.extend_from_slice(&5000u16.to_le_bytes());
        v1.extend_from_slice(&80u16.to_le_bytes());
        v1.push(2);
        // fd 4: a file.
        v1.extend_from_slice(&4u64.to_le_bytes());
        v1.extend_from_slice(&0u64.to_le_bytes());
        v1.push(1);
        str16(&mut v1, "/var/log/x");
        let mut t = FileTables::default();
        t.add(FDL, &v1).unwrap();
        let names: Vec<_> = t.fds[&9]
            .iter()
            .map(|(fd, i)| (*fd, i.name.clone()))
            .collect();
        assert_eq!(
            names,
            [
                (3, "10.0.0.1:5000->10.0.0.2:80".to_owned()),
                (4, "/var/log/x".to_owned())
            ]
        );
        // V2: a file with flags and a device, entries sized.
        let mut entry = Vec::new();
        entry.extend_from_slice(&5u64.to_le_bytes());
        entry.extend_from_slice(&0u64.to_le_bytes());
        entry.push(16);
        entry.extend_from_slice(&0x2u32.to_le_bytes()); // PPM_O_WRONLY
        str16(&mut entry, "/tmp/out");
        entry.extend_from_slice(&0x801u32.to_le_bytes());
        let mut v2 = 9u64.to_le_bytes().to_vec();
        v2.extend_from_slice(&((entry.len() + 4) as u32).to_le_bytes());
        v2.extend(entry);
        t.add(FDL_V2, &v2).unwrap();
        let (fd, info) = t.fds[&9].last().unwrap();
        assert_eq!((*fd, info.name.as_str(), info.flags), (5, "/tmp/out", 1));
        // An entry overrunning its block is an error, not a guess.
        assert!(t.add(FDL, &v1[..v1.len() - 3]).is_err());
    }

    #[test]
    fn users_become_passwd_and_group_lines() {
        let mut b = Vec::new();
        b.push(0);
        b.extend_from_slice(&1000u32.to_le_bytes());
        b.extend_from_slice(&1000u32.to_le_bytes());
        for s in ["ubuntu", "/home/ubuntu", "/bin/bash"] {
            str16(&mut b, s);
        }
        b.push(1);
        b.extend_from_slice(&27u32.to_le_bytes());
        str16(&mut b, "sudo");
        let mut t = FileTables::default();
        t.add(UL, &b).unwrap();
        assert_eq!(t.passwd, "ubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n");
        assert_eq!(t.group, "sudo:x:27:\n");
    }
}

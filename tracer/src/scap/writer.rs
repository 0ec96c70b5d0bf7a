//! `-w`: writes the capture as scap files, rotating them like sysdig's
//! `-C` (size), `-G` (seconds) and `-W` (number of files kept).
//!
//! Every file stands alone: it starts with the section header, machine
//! info, users, and the process and fd tables as they are when the file is
//! opened, so sysdig (and `sdtrace -r`) can read any one of a rotated set.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use super::block::{self, *};
use super::encode::{self, EventHead};
use super::ppm_flags;
use super::sidecar;
use crate::decode::{Body, Record};
use crate::event::clock::Clock;
use crate::state::{FdInfo, FdKind, L4Proto, Process, ProcessTable, Users};
use tracer_common::arch::Arch;

/// When to start a new file (sysdig's `-C`, `-G`, `-W`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rotation {
    /// `-C`: bytes (before compression) after which a new file starts.
    pub bytes: Option<u64>,
    /// `-G`: seconds of capture after which a new file starts.
    pub seconds: Option<u64>,
    /// `-W`: at most this many files; the oldest is overwritten.
    pub files: Option<u32>,
}

impl Rotation {
    fn active(&self) -> bool {
        self.bytes.is_some() || self.seconds.is_some()
    }
}

/// What a file says about the capture as a whole (sdtrace's header block).
#[derive(Debug, Serialize, Deserialize)]
pub struct CaptureInfo {
    pub sdtrace: String,
    /// The machine's architecture. Syscall numbers in records are
    /// canonical (x86_64's) whichever it is (`tracer_common::arch`); the
    /// argument values are its own. Files and agents from before arm64
    /// support were all x86_64.
    #[serde(default = "arch_serde::x86_64", with = "arch_serde")]
    pub arch: Arch,
    pub clock: Clock,
    /// The host's `/etc/passwd` and `/etc/group` when the capture ran.
    pub passwd: String,
    pub group: String,
}

/// [`CaptureInfo::arch`] as `uname -m` names it.
mod arch_serde {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use tracer_common::arch::Arch;

    pub(super) fn x86_64() -> Arch {
        Arch::X86_64
    }

    pub(super) fn serialize<S: Serializer>(arch: &Arch, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(arch.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arch, D::Error> {
        let name = String::deserialize(d)?;
        Arch::from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown architecture `{name}`")))
    }
}

/// The state a file starts from (sdtrace's state block).
#[derive(Serialize, Deserialize)]
pub struct StartState {
    pub processes: Vec<Process>,
}

/// Most of sdtrace's items an exit event carries beside its own parameters
/// (a record with full buffers and paths stays under it).
const EXIT_SIDECAR_MAX: usize = 28_000;

/// Flush the in-memory block buffer to the file once it holds this much.
const FLUSH_AT: usize = 1 << 20;

pub struct ScapWriter {
    base: PathBuf,
    gzip: bool,
    rotation: Rotation,
    info: CaptureInfo,
    users: Users,
    sink: Option<Sink>,
    /// The file `sink` writes.
    current: PathBuf,
    buf: Vec<u8>,
    /// Uncompressed bytes in the current file.
    file_bytes: u64,
    /// Kernel time of the first record in the current file.
    file_start_ns: Option<u64>,
    /// Files opened so far.
    opened: u64,
    /// sdtrace's items not yet carried by an event.
    pending: Vec<u8>,
    /// Time of the last event written (epoch ns).
    last_ts: u64,
}

/// `e`, saying which file it happened to.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
        }
    }
}

impl ScapWriter {
    /// Opens the first file and writes its header from `procs`.
    ///
    /// # Errors
    /// When the file cannot be created or written.
    pub fn create(
        path: &Path,
        gzip: bool,
        rotation: Rotation,
        info: CaptureInfo,
        procs: &ProcessTable,
    ) -> io::Result<Self> {
        let users = Users::parse(&info.passwd, &info.group);
        let mut w = Self {
            base: path.to_owned(),
            gzip,
            rotation,
            info,
            users,
            sink: None,
            current: PathBuf::new(),
            buf: Vec::with_capacity(FLUSH_AT + (64 << 10)),
            file_bytes: 0,
            file_start_ns: None,
            opened: 0,
            pending: Vec::new(),
            last_ts: 0,
        };
        w.open_next(procs)?;
        Ok(w)
    }

    /// The file the capture is being written to now.
    pub fn current_path(&self) -> PathBuf {
        self.path_of(self.opened.saturating_sub(1))
    }

    fn path_of(&self, n: u64) -> PathBuf {
        if !self.rotation.active() {
            return self.base.clone();
        }
        let n = match self.rotation.files {
            Some(keep) if keep > 0 => n % u64::from(keep),
            _ => n,
        };
        let mut name = self.base.clone().into_os_string();
        name.push(n.to_string());
        PathBuf::from(name)
    }

    fn open_next(&mut self, procs: &ProcessTable) -> io::Result<()> {
        self.close_current()?;
        let path = self.path_of(self.opened);
        let file = File::create(&path).map_err(|e| named(&path, e))?;
        let file = BufWriter::with_capacity(1 << 16, file);
        self.current = path;
        self.sink = Some(if self.gzip {
            Sink::Gzip(GzEncoder::new(file, flate2::Compression::fast()))
        } else {
            Sink::Plain(file)
        });
        self.opened += 1;
        self.file_bytes = 0;
        self.file_start_ns = None;
        // Answers already given are part of the state written below, but
        // for those the caches keep (cgroups, containers, pods), which a
        // reader of this file alone needs again.
        drop(procs.procfs().journal().take());
        self.write_header(procs);
        let lasting = procs.procfs().journal().lasting();
        if !lasting.is_empty() {
            let json = serde_json::to_vec(&lasting).expect("plain data serializes");
            sidecar::push(&mut self.pending, sidecar::ANSWERS, &json);
        }
        self.flush_buf()
    }

    fn close_current(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.carry_pending(self.last_ts);
        }
        self.flush_buf()?;
        match self.sink.take() {
            Some(s) => s.finish().map_err(|e| named(&self.current, e)),
            None => Ok(()),
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if let Some(sink) = &mut self.sink {
            // A full disk: what reached the file before is whole blocks
            // and reads back; the error says which file stopped.
            sink.write_all(&self.buf)
                .map_err(|e| named(&self.current, e))?;
            self.file_bytes += self.buf.len() as u64;
        }
        self.buf.clear();
        Ok(())
    }

    /// Starts a new file if the current one is full or old enough; called
    /// before the record at `ts_ns` is applied to `procs`, so the new file's
    /// state does not already hold that record's effect.
    ///
    /// # Errors
    /// When a new file cannot be created.
    pub fn before_record(&mut self, ts_ns: u64, procs: &ProcessTable) -> io::Result<()> {
        let start = *self.file_start_ns.get_or_insert(ts_ns);
        let full = self
            .rotation
            .bytes
            .is_some_and(|max| self.file_bytes + self.buf.len() as u64 >= max);
        let old = self
            .rotation
            .seconds
            .is_some_and(|s| ts_ns.saturating_sub(start) >= s.saturating_mul(1_000_000_000));
        if full || old {
            self.open_next(procs)?;
            self.file_start_ns = Some(ts_ns);
        }
        Ok(())
    }

    /// Writes one handled record: the `/proc` answers its handling used,
    /// the record itself, and — when `shown` — its scap events.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn record(
        &mut self,
        raw: &[u8],
        rec: &Record<'_>,
        procs: &ProcessTable,
        shown: bool,
    ) -> io::Result<()> {
        let answers = procs.procfs().journal().take();
        if !answers.is_empty() {
            let json = serde_json::to_vec(&answers).map_err(io::Error::other)?;
            sidecar::push(&mut self.pending, sidecar::ANSWERS, &json);
        }
        let event = shown && matches!(rec.body, Body::Syscall(_) | Body::Exit(_));
        if !event {
            let kind = if shown {
                sidecar::SHOWN
            } else {
                sidecar::CONTEXT
            };
            sidecar::push(&mut self.pending, kind, raw);
            return Ok(());
        }
        let ts = self.info.clock.epoch_ns(rec.hdr.ts_ns);
        // The exit event must stay below readers' 64 KiB block limit, with
        // its own buffers and paths beside the record.
        if self.pending.len() + raw.len() > EXIT_SIDECAR_MAX {
            self.carry_pending(ts);
        }
        sidecar::push(&mut self.pending, sidecar::SHOWN, raw);
        let pending = std::mem::take(&mut self.pending);
        self.events(rec, procs, ts, &pending);
        self.pending = pending;
        self.pending.clear();
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Writes what is pending on internal events of its own.
    fn carry_pending(&mut self, ts: u64) {
        let head = EventHead { cpu: 0, ts, tid: 0 };
        for chunk in self.pending.chunks(encode::CHUNK) {
            encode::carrier(&mut self.buf, &head, chunk);
        }
        self.pending.clear();
        self.last_ts = ts;
    }

    fn events(&mut self, rec: &Record<'_>, procs: &ProcessTable, exit_ts: u64, sidecar: &[u8]) {
        self.last_ts = exit_ts;
        match &rec.body {
            Body::Syscall(ev) => {
                let known = rec.hdr.flags & tracer_common::HDR_NO_LATENCY == 0;
                let enter_ts = if known {
                    exit_ts.saturating_sub(rec.hdr.latency_ns)
                } else {
                    exit_ts
                };
                encode::syscall(&mut self.buf, rec, ev, procs, (enter_ts, exit_ts), sidecar);
            }
            Body::Exit(exit) => {
                let head = EventHead {
                    cpu: rec.hdr.cpu,
                    ts: exit_ts,
                    tid: u64::from(rec.hdr.tid),
                };
                encode::procexit(&mut self.buf, &head, exit, sidecar);
            }
            // clone and execve events describe these.
            Body::Fork(_) | Body::Exec { .. } => {}
        }
    }

    /// Flushes and closes the last file.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn finish(mut self) -> io::Result<()> {
        self.close_current()
    }

    fn write_header(&mut self, procs: &ProcessTable) {
        let b = &mut self.buf;
        block::write(b, SECTION_HEADER, |b| {
            b.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&2u16.to_le_bytes());
            b.extend_from_slice(&u64::MAX.to_le_bytes());
        });
        block::write(b, MACHINE_INFO, machine_info);
        let info = serde_json::to_vec(&self.info).expect("plain data serializes");
        block::write(b, SDTRACE_HEADER, |b| b.extend_from_slice(&info));
        let processes = procs.snapshot();
        block::write(b, USER_LIST_V2, |b| user_list(b, &self.users));
        block::write(b, PROCESS_LIST_V9, |b| {
            for p in processes.iter().filter(|p| p.is_alive()) {
                for &tid in p.tids() {
                    process_entry(b, p, tid);
                }
            }
        });
        for p in processes
            .iter()
            .filter(|p| p.is_alive() && !p.fds.is_empty())
        {
            block::write(b, FD_LIST_V2, |b| fd_list(b, p));
        }
        let state = StartState { processes };
        let json = serde_json::to_vec(&state).expect("plain data serializes");
        block::write(b, SDTRACE_STATE, |b| b.extend_from_slice(&json));
    }
}

// The longest strings libscap's fixed-size buffers take from list blocks
// (scap.h, less the NUL it adds): a longer one makes it refuse the whole
// file ("invalid argslen"), so a process with a 25 KB command line would
// make a capture unreadable.
const PATH_MAX_LEN: usize = 1023;
const ARGS_MAX_LEN: usize = 4095;
const CREDENTIAL_MAX_LEN: usize = 255;

/// A length-prefixed string, as scap's list blocks store them, cut to
/// `max` bytes.
fn put_str(b: &mut Vec<u8>, s: &[u8], max: usize) {
    let s = &s[..s.len().min(max)];
    b.extend_from_slice(&(s.len() as u16).to_le_bytes());
    b.extend_from_slice(s);
}

/// Writes an entry whose first field is its own length, then patches it.
fn entry(b: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let at = b.len();
    b.extend_from_slice(&0u32.to_le_bytes());
    fill(b);
    let len = (b.len() - at) as u32;
    b[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

fn machine_info(b: &mut Vec<u8>) {
    let (cpus, pages, page) = crate::sys::host::memory_and_cpus();
    let max_pid = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    b.extend_from_slice(&(cpus.max(1) as u32).to_le_bytes());
    b.extend_from_slice(&(pages * page).to_le_bytes());
    b.extend_from_slice(&max_pid.to_le_bytes());
    let mut name = [0u8; 128];
    let host = host.trim().as_bytes();
    let n = host.len().min(127);
    name[..n].copy_from_slice(&host[..n]);
    b.extend_from_slice(&name);
    b.extend_from_slice(&[0u8; 32]);
}

fn user_list(b: &mut Vec<u8>, users: &Users) {
    let mut all: Vec<_> = users.users().collect();
    all.sort_by_key(|(uid, _)| *uid);
    for (uid, u) in all {
        entry(b, |b| {
            b.push(0); // USERBLOCK_TYPE_USER
            b.extend_from_slice(&uid.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            put_str(b, u.name.as_bytes(), CREDENTIAL_MAX_LEN);
            put_str(b, u.home.as_bytes(), PATH_MAX_LEN);
            put_str(b, u.shell.as_bytes(), PATH_MAX_LEN);
        });
    }
    let mut groups: Vec<_> = users.groups().collect();
    groups.sort_by_key(|(gid, _)| *gid);
    for (gid, g) in groups {
        entry(b, |b| {
            b.push(1); // USERBLOCK_TYPE_GROUP
            b.extend_from_slice(&gid.to_le_bytes());
            put_str(b, g.name.as_bytes(), CREDENTIAL_MAX_LEN);
        });
    }
}

/// One thread in process list layout v9 (up to the root directory, the
/// fields this sysdig reads).
fn process_entry(b: &mut Vec<u8>, p: &Process, tid: u32) {
    entry(b, |b| {
        for id in [tid, p.tgid, p.ppid, 0, 0] {
            b.extend_from_slice(&u64::from(id).to_le_bytes());
        }
        put_str(b, p.comm.as_bytes(), PATH_MAX_LEN);
        put_str(b, p.exe.as_bytes(), PATH_MAX_LEN);
        put_str(b, p.exepath.as_bytes(), PATH_MAX_LEN);
        let mut args = Vec::new();
        for a in &p.args {
            args.extend_from_slice(a.as_bytes());
            args.push(0);
        }
        put_str(b, &args, ARGS_MAX_LEN);
        put_str(b, p.cwd.as_bytes(), PATH_MAX_LEN);
        b.extend_from_slice(&(1u64 << 20).to_le_bytes()); // fdlimit
                                                          // A thread shares its process's fds, cwd and memory: sysdig keeps
                                                          // the fds of a thread without these flags apart from its process's.
        let flags = if tid == p.tgid {
            0
        } else {
            ppm_flags::clone_flags(ppm_flags::THREAD_CLONE_FLAGS)
        };
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&p.uid.to_le_bytes());
        b.extend_from_slice(&p.gid.to_le_bytes());
        b.extend_from_slice(&[0u8; 12]); // vm size, rss, swap
        b.extend_from_slice(&[0u8; 16]); // page faults
        put_str(b, b"", 0); // env
        b.extend_from_slice(&i64::from(tid).to_le_bytes()); // vtid
        b.extend_from_slice(&i64::from(p.tgid).to_le_bytes()); // vpid
        put_str(b, b"", 0); // cgroups
        put_str(b, b"/", PATH_MAX_LEN); // root
    });
}

// scap's fd types and layer-4 protocols.
const FD_FILE_V2: u8 = 16;
const FD_DIRECTORY: u8 = 2;
const FD_IPV4_SOCK: u8 = 3;
const FD_IPV6_SOCK: u8 = 4;
const FD_IPV4_SERVSOCK: u8 = 5;
const FD_IPV6_SERVSOCK: u8 = 6;
const FD_FIFO: u8 = 7;
const FD_UNIX_SOCK: u8 = 8;
const FD_EVENT: u8 = 9;
const FD_UNSUPPORTED: u8 = 10;
const FD_SIGNALFD: u8 = 11;
const FD_EVENTPOLL: u8 = 12;
const FD_INOTIFY: u8 = 13;
const FD_TIMERFD: u8 = 14;
const FD_NETLINK: u8 = 15;

fn l4(proto: L4Proto) -> u8 {
    match proto {
        L4Proto::Tcp => 2,
        L4Proto::Udp => 3,
        L4Proto::Raw => 5,
        _ => 0,
    }
}

fn fd_list(b: &mut Vec<u8>, p: &Process) {
    b.extend_from_slice(&u64::from(p.tgid).to_le_bytes());
    let mut fds: Vec<(i32, &FdInfo)> = p.fds.iter().collect();
    fds.sort_by_key(|(fd, _)| *fd);
    for (fd, info) in fds {
        entry(b, |b| {
            b.extend_from_slice(&i64::from(fd).to_le_bytes());
            b.extend_from_slice(&0u64.to_le_bytes()); // ino
            fd_body(b, info);
        });
    }
}

fn fd_body(b: &mut Vec<u8>, info: &FdInfo) {
    let ip = |a: IpAddr, b: &mut Vec<u8>| match a {
        IpAddr::V4(v) => b.extend_from_slice(&v.octets()),
        IpAddr::V6(v) => b.extend_from_slice(&v.octets()),
    };
    match (info.kind, info.local, info.remote) {
        (FdKind::Ipv4 | FdKind::Ipv6, Some(local), Some(remote)) => {
            let v4 = local.is_ipv4() && remote.is_ipv4();
            b.push(if v4 { FD_IPV4_SOCK } else { FD_IPV6_SOCK });
            // Client first, as sysdig's fd.name reads cip:cport->sip:sport.
            let (c, s) = if info.server {
                (remote, local)
            } else {
                (local, remote)
            };
            ip(c.ip(), b);
            ip(s.ip(), b);
            b.extend_from_slice(&c.port().to_le_bytes());
            b.extend_from_slice(&s.port().to_le_bytes());
            b.push(l4(info.l4proto));
        }
        (FdKind::Ipv4 | FdKind::Ipv6, Some(local), None) => {
            b.push(if local.is_ipv4() {
                FD_IPV4_SERVSOCK
            } else {
                FD_IPV6_SERVSOCK
            });
            ip(local.ip(), b);
            b.extend_from_slice(&local.port().to_le_bytes());
            b.push(l4(info.l4proto));
        }
        (FdKind::File | FdKind::Memfd, ..) => {
            b.push(FD_FILE_V2);
            b.extend_from_slice(&ppm_flags::open_flags(u64::from(info.flags)).to_le_bytes());
            put_str(b, info.name.as_bytes(), PATH_MAX_LEN);
            b.extend_from_slice(&0u32.to_le_bytes()); // dev
        }
        (FdKind::Unix, ..) => {
            b.push(FD_UNIX_SOCK);
            b.extend_from_slice(&[0u8; 16]);
            put_str(b, info.name.as_bytes(), PATH_MAX_LEN);
        }
        (kind, ..) => {
            b.push(match kind {
                FdKind::Directory => FD_DIRECTORY,
                FdKind::Pipe => FD_FIFO,
                FdKind::Event => FD_EVENT,
                FdKind::Signalfd => FD_SIGNALFD,
                FdKind::Eventpoll => FD_EVENTPOLL,
                FdKind::Inotify => FD_INOTIFY,
                FdKind::Timerfd => FD_TIMERFD,
                FdKind::Netlink => FD_NETLINK,
                _ => FD_UNSUPPORTED,
            });
            put_str(b, info.name.as_bytes(), PATH_MAX_LEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scap::reader::ScapReader;
    use crate::state::ProcFs;

    /// A rotated file stands alone: a container seen in an earlier file
    /// keeps its cgroup (and so its name) in the later ones.
    #[test]
    fn a_rotated_file_carries_the_cgroups_known_before_it() {
        let dir = std::env::temp_dir().join(format!("sdtrace-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let procs = ProcessTable::restore(ProcFs::new("/nonexistent").journaled(), Vec::new());
        let path = procs
            .procfs()
            .journal()
            .cgroup_path(7, false, || Some("/docker/abc".into()));
        assert_eq!(path.as_deref(), Some("/docker/abc"));
        let info = CaptureInfo {
            sdtrace: "test".into(),
            arch: Arch::X86_64,
            clock: Clock::fixed(0, 0),
            passwd: String::new(),
            group: String::new(),
        };
        let rotation = Rotation {
            bytes: Some(1),
            ..Rotation::default()
        };
        let base = dir.join("cap.scap");
        let mut w = ScapWriter::create(&base, false, rotation, info, &procs).unwrap();
        w.before_record(1, &procs).unwrap();
        let second = w.current_path();
        w.finish().unwrap();
        assert_ne!(second, base.with_file_name("cap.scap0"), "rotated");

        let mut reader = ScapReader::open(&second).unwrap();
        let replay = crate::journal::Journal::replaying();
        assert!(reader.next_item(&replay).unwrap().is_none());
        let path = replay.cgroup_path(7, false, || None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(path.as_deref(), Some("/docker/abc"));
    }
}

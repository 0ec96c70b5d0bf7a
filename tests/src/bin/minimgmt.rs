//! `minimgmt`: a small event-driven configuration daemon that behaves like
//! mgmt, for the convergence tests. It keeps up to three resources in their
//! wanted state and repairs them as soon as inotify says something changed:
//!
//! - a file (`--file PATH --content TEXT [--mode OCTAL]`): watched itself
//!   and through its parent directory (replacement by rename, or the file
//!   missing); repaired in place (`open(O_WRONLY|O_TRUNC|O_CREAT)`, write,
//!   fsync, fchmod when the mode differs, close), or only chmodded when
//!   just the mode differs;
//! - a package (`--pkg NAME --deb PATH`): checked with `dpkg-query`,
//!   installed with `dpkg -i`; its removal noticed by the deletion of
//!   `/var/lib/dpkg/info/NAME.list`;
//! - a service (`--svc NAME [--pidfile PATH]`): the init script
//!   `/etc/init.d/NAME`, checked with `status`, started with `start`; its
//!   stop noticed by the deletion of the pidfile. After the file was
//!   repaired it is restarted (mgmt's file -> svc refresh edge).
//!
//! It checks state, never trusts an event, so its own writes (which fire
//! its own watches) find everything correct and change nothing. Every
//! action is one line on stderr starting with `minimgmt: `; `minimgmt:
//! converged` ends the start-up pass.
use std::{
    collections::BTreeSet,
    ffi::{CString, OsStr},
    fs::{self, OpenOptions},
    io::{self, Read, Write},
    os::unix::{
        ffi::OsStrExt,
        fs::{OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The dpkg database lock every dpkg run holds while it changes the system.
const DPKG_LOCK: &str = "/var/lib/dpkg/lock";
const DPKG_INFO: &str = "/var/lib/dpkg/info";
/// How long a repair waits for somebody else's dpkg run to finish.
const LOCK_WAIT: Duration = Duration::from_secs(60);

const FILE_MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVE_SELF
    | libc::IN_DELETE_SELF;
const DIR_MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_CLOSE_WRITE
    | libc::IN_ATTRIB;

fn log(line: &str) {
    // One write per line, so lines of a daemon and its children never mix.
    let _ = io::stderr().write_all(format!("minimgmt: {line}\n").as_bytes());
}

struct FileRes {
    path: PathBuf,
    content: Vec<u8>,
    mode: u32,
    /// The watch on the file itself and the inode it is on.
    watch: Option<(i32, u64, u64)>,
    dir_watch: i32,
}

struct PkgRes {
    name: String,
    deb: PathBuf,
    watch: i32,
}

struct SvcRes {
    name: String,
    pidfile: PathBuf,
    watch: i32,
}

struct Config {
    file: Option<(PathBuf, Vec<u8>, u32)>,
    pkg: Option<(String, PathBuf)>,
    svc: Option<(String, PathBuf)>,
}

fn usage() -> ! {
    log("usage: minimgmt [--file PATH --content TEXT [--mode OCTAL]] [--pkg NAME --deb PATH] [--svc NAME [--pidfile PATH]]");
    std::process::exit(2)
}

fn parse_args() -> Config {
    let mut args = std::env::args_os().skip(1);
    let (mut file, mut content, mut mode) = (None, None, 0o644);
    let (mut pkg, mut deb, mut svc, mut pidfile) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.to_str().unwrap_or_else(|| usage()) {
            "--file" => file = Some(PathBuf::from(value())),
            "--content" => content = Some(value().as_bytes().to_vec()),
            "--mode" => {
                mode =
                    u32::from_str_radix(&value().to_string_lossy(), 8).unwrap_or_else(|_| usage());
            }
            "--pkg" => pkg = Some(value().to_string_lossy().into_owned()),
            "--deb" => deb = Some(PathBuf::from(value())),
            "--svc" => svc = Some(value().to_string_lossy().into_owned()),
            "--pidfile" => pidfile = Some(PathBuf::from(value())),
            _ => usage(),
        }
    }
    let file = match (file, content) {
        (Some(f), Some(c)) => Some((f, c, mode)),
        (None, None) => None,
        _ => usage(),
    };
    let pkg = match (pkg, deb) {
        (Some(p), Some(d)) => Some((p, d)),
        (None, None) => None,
        _ => usage(),
    };
    let svc = svc.map(|name| {
        let pidfile = pidfile.unwrap_or_else(|| PathBuf::from(format!("/run/{name}.pid")));
        (name, pidfile)
    });
    Config { file, pkg, svc }
}

struct Inotify(i32);

impl Inotify {
    fn new() -> io::Result<Self> {
        // SAFETY: no pointers; the descriptor is owned by the returned value.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(fd))
    }

    fn add(&self, path: &Path, mask: u32) -> io::Result<i32> {
        let c = cstr(path);
        // SAFETY: c is a NUL-terminated path that outlives the call.
        let wd = unsafe { libc::inotify_add_watch(self.0, c.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(wd)
    }

    /// Blocks for the next batch of events: (watch, mask, name).
    fn read(&self) -> io::Result<Vec<(i32, u32, Vec<u8>)>> {
        let mut buf = [0u8; 8192];
        let n = loop {
            // SAFETY: buf is valid for buf.len() bytes.
            let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                break usize::try_from(n).expect("read returns at most buf.len()");
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let header = std::mem::size_of::<libc::inotify_event>();
        let mut events = Vec::new();
        let mut at = 0;
        while at + header <= n {
            // SAFETY: the kernel wrote a whole inotify_event at `at`;
            // read_unaligned copes with the byte buffer's alignment.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let len = ev.len as usize;
            let name = &buf[at + header..at + header + len];
            let name = name.split(|&b| b == 0).next().unwrap_or_default().to_vec();
            events.push((ev.wd, ev.mask, name));
            at += header + len;
        }
        Ok(events)
    }
}

fn cstr(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL")
}

/// `lstat(path)` as mgmt's `os.Lstat` makes it: (dev, ino, mode), or `None`
/// when the path does not exist.
fn lstat(path: &Path) -> Option<(u64, u64, u32)> {
    let c = cstr(path);
    // SAFETY: an all-zero stat is a valid value for lstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st is a valid, writable stat.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino, st.st_mode))
}

impl FileRes {
    fn name(&self) -> &OsStr {
        self.path.file_name().expect("the managed file has a name")
    }

    /// Watches the file itself when it exists and the watch is not already
    /// on this inode (a rename-over leaves the watch on the old one).
    fn rewatch(&mut self, inotify: &Inotify) {
        if let Err(e) = self.watch_file(inotify) {
            log(&format!("file {}: watch: {e}", self.path.display()));
        }
    }

    /// Watches the file itself unless the watch is already on its inode.
    fn watch_file(&mut self, inotify: &Inotify) -> io::Result<()> {
        let current = lstat(&self.path);
        if let (Some((_, d, i)), Some((dev, ino, _))) = (self.watch, current) {
            if (d, i) == (dev, ino) {
                return Ok(());
            }
        }
        self.watch = None;
        let wd = inotify.add(&self.path, FILE_MASK)?;
        // The inode watched is the one there now (it may have changed
        // again in between: the next event re-checks it).
        let (dev, ino, _) = lstat(&self.path).ok_or(io::ErrorKind::NotFound)?;
        self.watch = Some((wd, dev, ino));
        log(&format!("file {}: watching", self.path.display()));
        Ok(())
    }

    /// Checks content and mode; repairs what differs. Whether it changed anything.
    fn check(&mut self, inotify: &Inotify) -> io::Result<bool> {
        let p = self.path.display().to_string();
        let current = lstat(&self.path);
        let mut content = Vec::new();
        if current.is_some() {
            match fs::File::open(&self.path) {
                Ok(mut f) => {
                    f.read_to_end(&mut content)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let mode_ok = current.is_some_and(|(_, _, m)| m & 0o7777 == self.mode);
        let changed = if current.is_none() || content != self.content {
            let mut f = OpenOptions::new()
                .write(true)
                .truncate(true)
                .create(true)
                .mode(self.mode)
                .open(&self.path)?;
            f.write_all(&self.content)?;
            f.sync_all()?;
            let what = if f.metadata()?.permissions().mode() & 0o7777 == self.mode {
                "content"
            } else {
                f.set_permissions(fs::Permissions::from_mode(self.mode))?;
                "content and mode"
            };
            drop(f);
            log(&format!("file {p}: repaired {what}"));
            true
        } else if mode_ok {
            log(&format!("file {p}: ok"));
            false
        } else {
            fs::set_permissions(&self.path, fs::Permissions::from_mode(self.mode))?;
            log(&format!("file {p}: repaired mode {:o}", self.mode));
            true
        };
        self.rewatch(inotify);
        Ok(changed)
    }
}

/// Runs `program args` with its output captured; its stdout when it succeeded.
fn run(program: &str, args: &[&OsStr]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Waits until no process holds dpkg's lock (a `dpkg -r` by somebody else
/// deletes the .list file before it finishes). Tests the lock, never takes it.
fn wait_dpkg_idle() {
    let deadline = Instant::now() + LOCK_WAIT;
    let Ok(lock) = fs::File::open(DPKG_LOCK) else {
        return;
    };
    loop {
        // SAFETY: an all-zero flock is valid; the fields set below describe
        // a write lock on the whole file.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: the fd is open and fl is a valid, writable flock.
        let r = unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&lock),
                libc::F_GETLK,
                &mut fl,
            )
        };
        if r != 0 || fl.l_type == libc::F_UNLCK as libc::c_short || Instant::now() >= deadline {
            return;
        }
        // Polling another process's lock: there is no event for its release.
        thread::sleep(Duration::from_millis(50));
    }
}

impl PkgRes {
    fn check(&self) -> Result<bool, String> {
        wait_dpkg_idle();
        let status = run(
            "dpkg-query",
            &[
                OsStr::new("-W"),
                OsStr::new("-f=${Status}"),
                OsStr::new(&self.name),
            ],
        )
        .unwrap_or_default();
        if status.trim() == "install ok installed" {
            log(&format!("pkg {}: ok", self.name));
            return Ok(false);
        }
        run("dpkg", &[OsStr::new("-i"), self.deb.as_os_str()])?;
        log(&format!("pkg {}: installed", self.name));
        Ok(true)
    }
}

impl SvcRes {
    fn script(&self) -> String {
        format!("/etc/init.d/{}", self.name)
    }

    /// Starts the service when it is not running; restarts it when
    /// `refresh` names what changed. Whether it acted.
    fn check(&self, refresh: Option<&str>) -> Result<bool, String> {
        let script = self.script();
        if run(&script, &[OsStr::new("status")]).is_err() {
            run(&script, &[OsStr::new("start")])?;
            log(&format!("svc {}: started", self.name));
            return Ok(true);
        }
        if let Some(what) = refresh {
            run(&script, &[OsStr::new("restart")])?;
            log(&format!("svc {}: restarted (refresh: {what})", self.name));
            return Ok(true);
        }
        log(&format!("svc {}: ok", self.name));
        Ok(false)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dirty {
    Pkg,
    File,
    Svc,
}

fn main() -> ExitCode {
    let config = parse_args();
    match daemon(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log(&format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn daemon(config: Config) -> io::Result<()> {
    let inotify = Inotify::new()?;
    let file = match config.file {
        Some((path, content, mode)) => {
            let parent = path.parent().unwrap_or(Path::new("/")).to_owned();
            // The file first, as mgmt does: when it is missing that fails,
            // and the parent's watch stands in for it until it appears.
            let mut f = FileRes {
                path,
                content,
                mode,
                watch: None,
                dir_watch: -1,
            };
            if let Err(e) = f.watch_file(&inotify) {
                log(&format!("file {}: missing ({e})", f.path.display()));
            }
            f.dir_watch = inotify.add(&parent, DIR_MASK)?;
            log(&format!(
                "file {}: watching {}",
                f.path.display(),
                parent.display()
            ));
            Some(f)
        }
        None => None,
    };
    let pkg = match config.pkg {
        Some((name, deb)) => {
            let watch = inotify.add(Path::new(DPKG_INFO), libc::IN_DELETE | libc::IN_MOVED_FROM)?;
            log(&format!("pkg {name}: watching {DPKG_INFO}"));
            Some(PkgRes { name, deb, watch })
        }
        None => None,
    };
    let svc = match config.svc {
        Some((name, pidfile)) => {
            let dir = pidfile.parent().unwrap_or(Path::new("/")).to_owned();
            let watch = inotify.add(&dir, libc::IN_DELETE | libc::IN_MOVED_FROM)?;
            log(&format!("svc {name}: watching {}", dir.display()));
            Some(SvcRes {
                name,
                pidfile,
                watch,
            })
        }
        None => None,
    };
    let mut daemon = Daemon {
        inotify,
        file,
        pkg,
        svc,
    };
    daemon.pass([Dirty::Pkg, Dirty::File, Dirty::Svc].into(), true);
    log("converged");
    loop {
        let dirty = daemon.changed()?;
        if !dirty.is_empty() {
            daemon.pass(dirty, false);
        }
    }
}

struct Daemon {
    inotify: Inotify,
    file: Option<FileRes>,
    pkg: Option<PkgRes>,
    svc: Option<SvcRes>,
}

impl Daemon {
    /// Checks (and repairs) the resources in `dirty`, in dependency order:
    /// the package, the file, then the service, restarted when the file
    /// changed (except at start-up, where it starts after the file anyway).
    fn pass(&mut self, dirty: BTreeSet<Dirty>, startup: bool) {
        let mut refresh = None;
        if dirty.contains(&Dirty::Pkg) {
            if let Some(p) = &self.pkg {
                if let Err(e) = p.check() {
                    log(&format!("pkg {}: failed: {e}", p.name));
                }
            }
        }
        if dirty.contains(&Dirty::File) {
            if let Some(f) = &mut self.file {
                match f.check(&self.inotify) {
                    Ok(true) if !startup => refresh = Some(format!("file {}", f.path.display())),
                    Ok(_) => {}
                    Err(e) => log(&format!("file {}: failed: {e}", f.path.display())),
                }
            }
        }
        if dirty.contains(&Dirty::Svc) || refresh.is_some() {
            if let Some(s) = &self.svc {
                if let Err(e) = s.check(refresh.as_deref()) {
                    log(&format!("svc {}: failed: {e}", s.name));
                }
            }
        }
    }

    /// Blocks for the next batch of inotify events; the resources they concern.
    fn changed(&mut self) -> io::Result<BTreeSet<Dirty>> {
        let mut dirty = BTreeSet::new();
        for (wd, mask, name) in self.inotify.read()? {
            if mask & libc::IN_Q_OVERFLOW != 0 {
                dirty.extend([Dirty::Pkg, Dirty::File, Dirty::Svc]);
                continue;
            }
            if let Some(f) = &mut self.file {
                if f.watch.is_some_and(|(w, _, _)| w == wd) {
                    if mask & libc::IN_IGNORED != 0 {
                        f.watch = None;
                    }
                    dirty.insert(Dirty::File);
                } else if wd == f.dir_watch && name == f.name().as_bytes() {
                    dirty.insert(Dirty::File);
                }
            }
            if let Some(p) = &self.pkg {
                if wd == p.watch && name == format!("{}.list", p.name).as_bytes() {
                    dirty.insert(Dirty::Pkg);
                }
            }
            if let Some(s) = &self.svc {
                let pidfile = s.pidfile.file_name().map(OsStrExt::as_bytes);
                if wd == s.watch && Some(name.as_slice()) == pidfile {
                    dirty.insert(Dirty::Svc);
                }
            }
        }
        Ok(dirty)
    }
}

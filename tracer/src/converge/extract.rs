//! From one event to the fact the convergence engine needs: paths made
//! absolute (through the process's cwd and its fd table for dirfd-relative
//! calls), open flags read as what they do to the file, inotify buffers
//! parsed.

use tracer_common::syscall_names::nr;

use crate::decode::args::{arg_named, ArgValue};
use crate::decode::kpath::TRUNCATED_PREFIX;
use crate::decode::{kernel_path, Body, SyscallEvent};
use crate::event::extract::EventView;
use crate::state::{resolve, FdKind, AT_FDCWD};

use super::engine::{Engine, ProcessInfo};
use super::inotify;
use super::model::{Actor, Fact, FileOp};
use super::resource;

const O_ACCMODE: u32 = 0o3;
const O_CREAT: u32 = 0o100;
const O_EXCL: u32 = 0o200;
const O_TRUNC: u32 = 0o1000;
const O_APPEND: u32 = 0o2000;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const ENOENT: i64 = 2;

fn actor_of(view: &EventView<'_>, pid: u32) -> Actor {
    let p = view.process();
    let container = container_of(view);
    Actor {
        pid,
        comm: p.map_or_else(|| comm(view), |p| p.comm.clone()),
        exe: p.map(|p| p.exepath.clone()).unwrap_or_default(),
        container,
    }
}

/// The container's name (its short id until the runtime has answered).
fn container_of(view: &EventView<'_>) -> Option<String> {
    view.meta
        .map(|m| m.name.clone())
        .or_else(|| match view.place {
            Some(crate::container::Place::Container(c)) => Some(c.short_id().to_owned()),
            _ => None,
        })
}

/// A path as a resource names it: qualified by its container.
fn qualified(view: &EventView<'_>, path: String) -> String {
    match container_of(view) {
        Some(c) => resource::in_container(&c, &path),
        None => path,
    }
}

fn comm(view: &EventView<'_>) -> String {
    let c = &view.rec.hdr.comm;
    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    String::from_utf8_lossy(&c[..end]).into_owned()
}

/// The absolute path of a path argument, resolved against its dirfd
/// argument (or the cwd).
fn path_arg(
    view: &EventView<'_>,
    ev: &SyscallEvent<'_>,
    dirfd: Option<&str>,
    name: &str,
) -> Option<String> {
    let h = &view.rec.hdr;
    let Some(ArgValue::Path(p)) = arg_named(h.nr, ev, name) else {
        return None;
    };
    let p = String::from_utf8_lossy(p);
    let dirfd = match dirfd.and_then(|d| arg_named(h.nr, ev, d)) {
        Some(ArgValue::Dirfd(d)) => i32::try_from(d).unwrap_or(AT_FDCWD),
        _ => AT_FDCWD,
    };
    let base = if p.starts_with('/') {
        ""
    } else if dirfd == AT_FDCWD {
        view.process().map_or("", |p| p.cwd.as_str())
    } else {
        view.procs
            .fd(h.tgid, dirfd)
            .filter(|d| d.kind.is_path())
            .map_or("", |d| d.name.as_str())
    };
    let out = resolve(base, &p);
    out.starts_with('/').then_some(out)
}

/// The file behind an fd argument (`fd` for most calls): where the
/// kernel's dentry walk found it, else the fd table's name.
fn fd_path(view: &EventView<'_>, ev: &SyscallEvent<'_>) -> Option<String> {
    if let Some(path) = kernel_path(ev).filter(|p| !p.starts_with(TRUNCATED_PREFIX)) {
        return Some(path);
    }
    let fd = i32::try_from(ev.args[0] as i64).ok()?;
    let info = view.procs.fd(view.rec.hdr.tgid, fd)?;
    matches!(info.kind, FdKind::File | FdKind::Directory).then(|| info.name.clone())
}

/// Feeds `view`'s fact, if it has one. Process lifecycle always counts
/// (ownership is by ancestry); the rest only for events the filter shows.
pub fn feed(engine: &mut Engine, view: &EventView<'_>, shown: bool) {
    let h = &view.rec.hdr;
    let pid = h.tgid;
    let actor = |p: u32| actor_of(view, p);
    let ts = h.ts_ns;
    // The entry hook is attached in this mode: a change is timed from when
    // it entered the kernel (a watcher can hear of it before it returns).
    let entered = ts.saturating_sub(h.latency_ns);
    if !engine.knows(pid) {
        let mut at = pid;
        let ancestors = std::iter::from_fn(|| {
            let p = view.procs.parent(at)?;
            (p.tgid != at).then(|| {
                at = p.tgid;
                at
            })
        });
        engine.place(pid, ancestors.take(64));
        if let Some(p) = view.process() {
            engine.recognise_late(pid, || ProcessInfo::of(p));
        }
    }
    let ev = match &view.rec.body {
        Body::Exit(_) => {
            if h.tid == h.tgid {
                engine.observe(entered, ts, &Fact::Exit { pid }, &actor);
            }
            return;
        }
        Body::Syscall(ev) => ev,
        // The pipeline keeps fork and exec records to itself; the exec is
        // seen at its syscall's return, in the new image.
        _ => return,
    };
    let ok = h.ret >= 0;
    if matches!(h.nr, nr::EXECVE | nr::EXECVEAT) && h.ret == 0 {
        if let Some(p) = view.process() {
            let me = ProcessInfo::of(p);
            let fact = Fact::Exec {
                pid,
                comm: me.comm,
                exe: me.exe,
                argv: &me.argv,
            };
            engine.observe(entered, ts, &fact, &actor);
        }
        return;
    }
    if !shown {
        return;
    }
    let file = |path: Option<String>, op: FileOp, engine: &mut Engine| {
        if let Some(path) = path.map(|p| qualified(view, p)) {
            engine.observe(
                entered,
                ts,
                &Fact::File {
                    pid,
                    path: &path,
                    op,
                },
                &actor,
            );
        }
    };
    match h.nr {
        nr::OPEN | nr::OPENAT | nr::OPENAT2 | nr::CREAT if ok => {
            let Some(fd) = view.fd().filter(|f| f.kind == FdKind::File) else {
                return;
            };
            let flags = if h.nr == nr::CREAT { 0o1101 } else { fd.flags };
            let op = if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                // It made the file (mkstemp's): a scratch file it removes
                // again is no resource.
                FileOp::Create
            } else if flags & O_ACCMODE == 0 {
                if !engine.inspects_matter(pid) {
                    return;
                }
                FileOp::Read
            } else if flags & O_TRUNC != 0 {
                FileOp::Truncate
            } else {
                // Opening for writing changes nothing until a write.
                return;
            };
            file(Some(fd.name.clone()), op, engine);
        }
        nr::WRITE | nr::PWRITE64 | nr::WRITEV | nr::PWRITEV | nr::PWRITEV2 if h.ret > 0 => {
            // A daemon's stdio and appends are its logs, not its resources
            // (an outsider's `echo >> file` is a change: stdout dup'ed).
            let log = |fd: &crate::state::FdInfo| ev.args[0] <= 2 || fd.flags & O_APPEND != 0;
            let counts = view.fd().is_some_and(|f| {
                f.kind == FdKind::File && !(log(f) && engine.inspects_matter(pid))
            });
            if counts {
                file(fd_path(view, ev), FileOp::Write, engine);
            }
        }
        nr::READ | nr::PREAD64 | nr::READV if h.ret > 0 => {
            if !engine.inspects_matter(pid) {
                return;
            }
            let Some(fd) = view.fd() else {
                return;
            };
            match fd.kind {
                FdKind::Inotify => {
                    let Some(ArgValue::Buffer(buf)) = arg_named(h.nr, ev, "data") else {
                        return;
                    };
                    let ifd = ev.args[0] as i32;
                    let events = inotify::parse(buf);
                    engine.observe(entered, ts, &Fact::Inotify { pid, ifd, events }, &actor);
                }
                FdKind::File => file(Some(fd.name.clone()), FileOp::Read, engine),
                _ => {}
            }
        }
        nr::INOTIFY_ADD_WATCH => {
            let Some(path) = path_arg(view, ev, None, "name").map(|p| qualified(view, p)) else {
                return;
            };
            let ifd = ev.args[0] as i32;
            let wd = if ok { Ok(h.ret as i32) } else { Err(-h.ret) };
            engine.observe(
                entered,
                ts,
                &Fact::Watch {
                    pid,
                    ifd,
                    path: &path,
                    wd,
                    existing: false,
                },
                &actor,
            );
        }
        nr::FCHMOD if ok => file(fd_path(view, ev), FileOp::Chmod, engine),
        nr::CHMOD if ok => file(path_arg(view, ev, None, "filename"), FileOp::Chmod, engine),
        nr::FCHMODAT if ok => file(
            path_arg(view, ev, Some("dirfd"), "filename"),
            FileOp::Chmod,
            engine,
        ),
        nr::FCHOWN if ok => file(fd_path(view, ev), FileOp::Chown, engine),
        nr::CHOWN | nr::LCHOWN if ok => {
            file(path_arg(view, ev, None, "path"), FileOp::Chown, engine)
        }
        nr::FCHOWNAT if ok => file(
            path_arg(view, ev, Some("dirfd"), "pathname"),
            FileOp::Chown,
            engine,
        ),
        nr::FTRUNCATE if ok => file(fd_path(view, ev), FileOp::Truncate, engine),
        nr::TRUNCATE if ok => file(path_arg(view, ev, None, "path"), FileOp::Truncate, engine),
        nr::UNLINK | nr::RMDIR if ok => {
            file(path_arg(view, ev, None, "path"), FileOp::Unlink, engine)
        }
        nr::UNLINKAT if ok => file(
            path_arg(view, ev, Some("dirfd"), "name"),
            FileOp::Unlink,
            engine,
        ),
        nr::MKDIR if ok => file(path_arg(view, ev, None, "path"), FileOp::Create, engine),
        nr::MKDIRAT if ok => file(
            path_arg(view, ev, Some("dirfd"), "path"),
            FileOp::Create,
            engine,
        ),
        nr::SYMLINK | nr::LINK if ok => file(
            path_arg(view, ev, None, "newpath").or_else(|| path_arg(view, ev, None, "linkpath")),
            FileOp::Create,
            engine,
        ),
        nr::SYMLINKAT if ok => file(
            path_arg(view, ev, Some("linkdirfd"), "linkpath"),
            FileOp::Create,
            engine,
        ),
        nr::LINKAT if ok => file(
            path_arg(view, ev, Some("newdir"), "newpath"),
            FileOp::Create,
            engine,
        ),
        nr::RENAME | nr::RENAMEAT | nr::RENAMEAT2 if ok => {
            let (fromdir, todir) = if h.nr == nr::RENAME {
                (None, None)
            } else {
                (Some("olddirfd"), Some("newdirfd"))
            };
            let (Some(from), Some(to)) = (
                path_arg(view, ev, fromdir, "oldpath"),
                path_arg(view, ev, todir, "newpath"),
            ) else {
                return;
            };
            let (from, to) = (qualified(view, from), qualified(view, to));
            engine.observe(
                entered,
                ts,
                &Fact::Rename {
                    pid,
                    from: &from,
                    to: &to,
                },
                &actor,
            );
        }
        // A look that found the file gone saw its deletion.
        nr::LSTAT | nr::STAT | nr::NEWFSTATAT | nr::STATX if ok || h.ret == -ENOENT => {
            if !engine.inspects_matter(pid) {
                return;
            }
            let at = matches!(h.nr, nr::NEWFSTATAT | nr::STATX).then_some("dirfd");
            let nofollow = match h.nr {
                nr::LSTAT => true,
                nr::NEWFSTATAT | nr::STATX => {
                    matches!(arg_named(h.nr, ev, "flags"), Some(ArgValue::Hex(f)) if f & AT_SYMLINK_NOFOLLOW != 0)
                }
                _ => false,
            };
            let op = if nofollow {
                FileOp::Lstat
            } else {
                FileOp::Stat
            };
            file(path_arg(view, ev, at, "path"), op, engine);
        }
        _ => {}
    }
}

/// The syscalls the mode reads beyond the ones the kernel always forwards
/// to keep the process and fd tables exact (`STATE_SYSCALLS`: opens, close,
/// dup, fcntl, chdir, clone, exec, inotify_init1...): what changes or
/// inspects files, and reads of inotify fds.
#[must_use]
pub fn syscalls() -> std::collections::BTreeSet<u16> {
    [
        nr::WRITE,
        nr::PWRITE64,
        nr::WRITEV,
        nr::PWRITEV,
        nr::PWRITEV2,
        nr::READ,
        nr::PREAD64,
        nr::READV,
        nr::INOTIFY_ADD_WATCH,
        nr::FCHMOD,
        nr::CHMOD,
        nr::FCHMODAT,
        nr::FCHOWN,
        nr::CHOWN,
        nr::LCHOWN,
        nr::FCHOWNAT,
        nr::FTRUNCATE,
        nr::TRUNCATE,
        nr::UNLINK,
        nr::UNLINKAT,
        nr::RMDIR,
        nr::MKDIR,
        nr::MKDIRAT,
        nr::SYMLINK,
        nr::SYMLINKAT,
        nr::LINK,
        nr::LINKAT,
        nr::RENAME,
        nr::RENAMEAT,
        nr::RENAMEAT2,
        nr::LSTAT,
        nr::STAT,
        nr::NEWFSTATAT,
        nr::STATX,
        nr::EVENTFD2,
        nr::MEMFD_CREATE,
    ]
    .into_iter()
    .collect()
}

//! Behaviour of the tables against fake `/proc` trees built in temp dirs.
//! The socket tables are real `/proc/net` files recorded from a kernel (see
//! `tracer/tests/fixtures/procnet/README.md` for which fd is which socket).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;
use tracer_common::abi::{O_CLOEXEC, O_DIRECTORY};

const NET_A: u64 = 4_026_531_833;
const NET_B: u64 = 4_026_532_999;
const SEC: u64 = 1_000_000_000;

/// A fake `/proc` in a temp dir.
struct FakeProc {
    dir: tempfile::TempDir,
}

struct Pid<'a> {
    pid: u32,
    ppid: u32,
    comm: &'a str,
    argv: &'a [&'a str],
    exe: &'a str,
    cwd: &'a str,
    net_ns: u64,
}

impl FakeProc {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn procfs(&self) -> ProcFs {
        ProcFs::new(self.dir.path())
    }

    fn pid_dir(&self, pid: u32) -> PathBuf {
        self.dir.path().join(pid.to_string())
    }

    fn add(&self, p: &Pid<'_>) {
        let d = self.pid_dir(p.pid);
        for sub in ["ns", "fd", "fdinfo", "task", "net"] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        let Pid {
            pid, ppid, comm, ..
        } = *p;
        let tty = if pid == 100 { 34816 } else { 0 };
        fs::write(
            d.join("stat"),
            format!("{pid} ({comm}) S {ppid} {pid} {pid} {tty} -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {} 12345 67\n", 1000 + pid),
        )
        .unwrap();
        let uid = if pid == 1 { 0 } else { 1000 };
        fs::write(
            d.join("status"),
            format!("Name:\t{comm}\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t{ppid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t100\t100\t100\t100\n"),
        )
        .unwrap();
        let mut cmdline = Vec::new();
        for a in p.argv {
            cmdline.extend_from_slice(a.as_bytes());
            cmdline.push(0);
        }
        fs::write(d.join("cmdline"), cmdline).unwrap();
        fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
        if !p.exe.is_empty() {
            symlink(p.exe, d.join("exe")).unwrap();
            symlink(p.cwd, d.join("cwd")).unwrap();
            symlink("pid:[4026531836]", d.join("ns/pid")).unwrap();
            symlink("mnt:[4026531832]", d.join("ns/mnt")).unwrap();
            symlink(format!("net:[{}]", p.net_ns), d.join("ns/net")).unwrap();
        }
        self.thread(pid, pid);
        // Every process of a network namespace sees the same tables.
        if p.net_ns == NET_A {
            self.recorded_net(pid);
        }
    }

    fn thread(&self, pid: u32, tid: u32) {
        fs::create_dir_all(self.pid_dir(pid).join("task").join(tid.to_string())).unwrap();
    }

    fn fd(&self, pid: u32, fd: i32, target: &str, flags: u32) {
        let d = self.pid_dir(pid);
        symlink(target, d.join("fd").join(fd.to_string())).unwrap();
        fs::write(
            d.join("fdinfo").join(fd.to_string()),
            format!("pos:\t0\nflags:\t0{flags:o}\nmnt_id:\t26\n"),
        )
        .unwrap();
    }

    /// The recorded socket tables as this pid's `net/`.
    fn recorded_net(&self, pid: u32) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/procnet");
        for f in ["tcp", "tcp6", "udp", "udp6", "unix"] {
            fs::copy(src.join(f), self.pid_dir(pid).join("net").join(f)).unwrap();
        }
    }
}

/// init, a login shell, a Python server with three threads and the recorded
/// sockets, a kernel thread, and a process in another network namespace.
fn system() -> FakeProc {
    let fp = FakeProc::new();
    let base = Pid {
        pid: 0,
        ppid: 0,
        comm: "",
        argv: &[],
        exe: "",
        cwd: "/",
        net_ns: NET_A,
    };
    fp.add(&Pid {
        pid: 1,
        comm: "systemd",
        argv: &["/sbin/init", "splash"],
        exe: "/usr/lib/systemd/systemd",
        ..base
    });
    fp.add(&Pid {
        pid: 2,
        comm: "kthreadd",
        exe: "",
        ..base
    });
    fp.add(&Pid {
        pid: 100,
        ppid: 1,
        comm: "bash",
        argv: &["-bash"],
        exe: "/usr/bin/bash",
        cwd: "/home/alice",
        ..base
    });
    fp.add(&Pid {
        pid: 200,
        ppid: 100,
        comm: "python3",
        argv: &["python3", "srv.py", "--port", "8080"],
        exe: "/usr/bin/python3.12",
        cwd: "/srv/app",
        ..base
    });
    fp.thread(200, 201);
    fp.thread(200, 202);
    fp.fd(200, 0, "/dev/pts/0", 0o2);
    fp.fd(200, 1, "pipe:[555]", 0o1);
    for (fd, ino) in [
        (3, 12205),
        (4, 12206),
        (5, 12207),
        (6, 12208),
        (7, 12209),
        (8, 12210),
        (9, 12211),
        (11, 12212),
        (12, 12213),
    ] {
        fp.fd(200, fd, &format!("socket:[{ino}]"), 0o2);
    }
    fp.fd(200, 13, "/var/log/app.log", 0o2_102_001);
    fp.fd(200, 14, "/srv", O_DIRECTORY | O_CLOEXEC);
    fp.fd(200, 15, "anon_inode:[eventpoll]", O_CLOEXEC | 0o2);
    fp.fd(200, 16, "anon_inode:inotify", 0o4000);
    fp.fd(200, 17, "socket:[99999]", 0o2);
    fp.add(&Pid {
        pid: 300,
        ppid: 1,
        comm: "nginx",
        argv: &["nginx: master"],
        exe: "/usr/sbin/nginx",
        net_ns: NET_B,
        ..base
    });
    fs::write(
        fp.pid_dir(300).join("net/tcp"),
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
         0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n",
    )
    .unwrap();
    fp.fd(300, 6, "socket:[4242]", 0o2);
    // The same inode as a socket of netns A: must not be labelled from A.
    fp.fd(300, 7, "socket:[12206]", 0o2);
    fp
}

fn ticks_ns(ticks: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap();
    ticks * (SEC / hz)
}

#[test]
fn bootstrap_reads_processes() {
    let fp = system();
    let t = ProcessTable::bootstrap(fp.procfs()).unwrap();
    assert_eq!(t.len(), 5);

    let py = t.process(200).unwrap();
    assert_eq!(
        (py.ppid, py.comm.as_str(), py.exe.as_str()),
        (100, "python3", "python3")
    );
    assert_eq!(py.exepath, "/usr/bin/python3.12");
    assert_eq!(py.args, ["srv.py", "--port", "8080"]);
    assert_eq!(py.cmdline, "python3 srv.py --port 8080");
    assert_eq!(py.cwd, "/srv/app");
    assert_eq!((py.uid, py.gid), (1000, 100));
    assert_eq!(py.start_ns, ticks_ns(1200));
    assert_eq!(
        (py.pid_ns, py.mnt_ns, py.net_ns),
        (4_026_531_836, 4_026_531_832, NET_A)
    );
    let mut tids = py.tids().to_vec();
    tids.sort_unstable();
    assert_eq!(tids, [200, 201, 202]);
    assert_eq!(t.thread_tgid(202), Some(200));
    assert_eq!(t.thread_tgid(200), Some(200));
    assert_eq!(t.thread_tgid(999), None);

    assert_eq!(t.process(100).unwrap().tty, 34816);
    assert_eq!(t.process(1).unwrap().cmdline, "systemd splash");

    let kthread = t.process(2).unwrap();
    assert_eq!(
        (kthread.exe.as_str(), kthread.exepath.as_str()),
        ("kthreadd", "")
    );
    assert!(kthread.args.is_empty());

    assert_eq!(t.parent(200).unwrap().comm, "bash");
    assert_eq!(t.ancestor(200, 0).unwrap().tgid, 200);
    assert_eq!(t.ancestor(200, 2).unwrap().comm, "systemd");
    assert!(t.ancestor(200, 3).is_none());
}

#[test]
fn bootstrap_labels_fds() {
    let fp = system();
    let t = ProcessTable::bootstrap(fp.procfs()).unwrap();
    let fd = |n| t.fd(200, n).unwrap();
    let summary = |n| {
        let f = fd(n);
        (f.type_char(), f.name.as_str(), f.server, f.l4proto.as_str())
    };
    assert_eq!(summary(0), ('f', "/dev/pts/0", false, "<NA>"));
    assert_eq!(summary(1), ('p', "pipe:[555]", false, "<NA>"));
    // IPv4: listener, client and accepted ends of one connection.
    assert_eq!(summary(3), ('4', "127.0.0.1:8080", true, "tcp"));
    assert_eq!(
        summary(4),
        ('4', "127.0.0.1:42274->127.0.0.1:8080", false, "tcp")
    );
    assert_eq!(
        summary(5),
        ('4', "127.0.0.1:42274->127.0.0.1:8080", true, "tcp")
    );
    assert_eq!(
        (fd(5).cport(), fd(5).sport(), fd(5).lport(), fd(5).rport()),
        (Some(42274), Some(8080), Some(8080), Some(42274))
    );
    assert_eq!((fd(4).cport(), fd(4).sport()), (Some(42274), Some(8080)));
    // IPv6, the same shapes.
    assert_eq!(summary(6), ('6', "::1:8443", true, "tcp"));
    assert_eq!(summary(7), ('6', "::1:55162->::1:8443", false, "tcp"));
    assert_eq!(summary(8), ('6', "::1:55162->::1:8443", true, "tcp"));
    assert_eq!(fd(8).type_name(), "ipv6");
    assert_eq!(fd(8).sip(), Some("::1".parse().unwrap()));
    // UDP: bound only, and connected over IPv6.
    assert_eq!(summary(9), ('4', "0.0.0.0:5353", true, "udp"));
    assert_eq!(
        summary(11),
        ('6', "fd00::2:51510->fd00::2:53", false, "udp")
    );
    assert_eq!(summary(12), ('u', "/tmp/sdtrace-rec.sock", false, "<NA>"));
    assert_eq!(summary(13), ('f', "/var/log/app.log", false, "<NA>"));
    assert!(fd(13).cloexec());
    assert_eq!(fd(14).kind, FdKind::Directory);
    assert_eq!(fd(15).kind, FdKind::Eventpoll);
    assert_eq!(fd(16).type_name(), "inotify");
    // A socket in no table (netlink, say) keeps its raw name.
    assert_eq!(summary(17), ('o', "socket:[99999]", false, "<NA>"));

    // Another network namespace is read from its own tables.
    assert_eq!(t.fd(300, 6).unwrap().name, "0.0.0.0:80");
    assert_eq!(t.fd(300, 7).unwrap().kind, FdKind::Other);
}

#[test]
fn fork_exec_exit_and_reap() {
    let fp = system();
    let mut t = ProcessTable::bootstrap(fp.procfs())
        .unwrap()
        .with_grace_ns(5 * SEC);
    let t0 = 100 * SEC;
    t.fork(&Fork {
        parent_tid: 201,
        parent_tgid: 200,
        child_tid: 400,
        child_tgid: 400,
        ts_ns: t0,
    });
    let child = t.process(400).unwrap();
    assert_eq!(
        (child.ppid, child.comm.as_str(), child.cwd.as_str()),
        (200, "python3", "/srv/app")
    );
    assert_eq!(child.cmdline, "python3 srv.py --port 8080");
    assert_eq!(child.start_ns, t0);
    assert_eq!(child.tids(), [400]);
    assert_eq!(
        t.fd(400, 4).unwrap().name,
        "127.0.0.1:42274->127.0.0.1:8080"
    );
    assert_eq!(t.ancestor(400, 3).unwrap().comm, "systemd");

    t.exec(&Exec {
        tid: 400,
        tgid: 400,
        old_tid: 400,
        exe_path: "./bin/../bin/tool",
        args: b"tool\0-v\0x y\0",
        comm: "tool",
        ts_ns: t0 + 1,
    });
    let child = t.process(400).unwrap();
    assert_eq!(child.exepath, "/srv/app/bin/tool");
    assert_eq!(
        (child.exe.as_str(), child.args.as_slice()),
        ("tool", &["-v".to_owned(), "x y".to_owned()][..])
    );
    assert_eq!(child.cmdline, "tool -v x y");
    assert!(t.fd(400, 13).is_none(), "cloexec fd survived exec");
    assert!(t.fd(400, 14).is_none(), "cloexec directory survived exec");
    assert!(t.fd(400, 4).is_some());
    assert!(t.fd(200, 13).is_some(), "the parent's table changed");

    let t1 = t0 + 2 * SEC;
    t.exit(400, 400, 256, t1);
    let gone = t.process(400).unwrap();
    assert_eq!(
        gone.exit,
        Some(Exit {
            code: 256,
            ts_ns: t1
        })
    );
    assert_eq!(
        t.thread_tgid(400),
        Some(400),
        "late events must still resolve"
    );
    t.reap(t1 + 5 * SEC - 1);
    assert!(t.process(400).is_some());
    t.reap(t1 + 5 * SEC);
    assert!(t.process(400).is_none());
    assert_eq!(t.thread_tgid(400), None);

    // A late event for the reaped pid: /proc has nothing, and that is remembered.
    assert!(t.process_or_load(400).is_none());
    fp.add(&Pid {
        pid: 400,
        ppid: 1,
        comm: "zombie",
        argv: &["z"],
        exe: "/z",
        cwd: "/",
        net_ns: NET_A,
    });
    assert!(
        t.process_or_load(400).is_none(),
        "a dead pid was read again"
    );
}

#[test]
fn reused_pid_is_not_reaped_with_its_predecessor() {
    let fp = system();
    let mut t = ProcessTable::bootstrap(fp.procfs())
        .unwrap()
        .with_grace_ns(5 * SEC);
    t.fork(&Fork {
        parent_tid: 100,
        parent_tgid: 100,
        child_tid: 500,
        child_tgid: 500,
        ts_ns: SEC,
    });
    t.exit(500, 500, 0, 2 * SEC);
    // pid 500 comes back as a child of nginx before the old one is reaped.
    t.fork(&Fork {
        parent_tid: 300,
        parent_tgid: 300,
        child_tid: 500,
        child_tgid: 500,
        ts_ns: 3 * SEC,
    });
    t.reap(60 * SEC);
    let p = t.process(500).unwrap();
    assert_eq!((p.comm.as_str(), p.ppid, p.exit), ("nginx", 300, None));
}

#[test]
fn threads_are_not_processes() {
    let fp = system();
    let mut t = ProcessTable::bootstrap(fp.procfs())
        .unwrap()
        .with_grace_ns(SEC);
    let n = t.len();
    t.fork(&Fork {
        parent_tid: 200,
        parent_tgid: 200,
        child_tid: 203,
        child_tgid: 200,
        ts_ns: 10,
    });
    assert_eq!(t.len(), n);
    assert_eq!(t.thread_tgid(203), Some(200));
    assert!(t.process(200).unwrap().tids().contains(&203));

    // A thread that started before attach but after the /proc read exits.
    t.exit(299, 200, 0, 15);
    assert!(t.process(200).unwrap().is_alive());

    // A non-leader thread exits: the process lives on.
    t.exit(203, 200, 0, 20);
    assert!(t.process(200).unwrap().is_alive());
    assert_eq!(t.thread_tgid(203), None);

    // A non-leader thread execs: it takes the leader's pid, the others die.
    t.exec(&Exec {
        tid: 200,
        tgid: 200,
        old_tid: 202,
        exe_path: "/bin/sh",
        args: b"sh\0",
        comm: "sh",
        ts_ns: 30,
    });
    let p = t.process(200).unwrap();
    assert_eq!(p.tids(), [200]);
    assert_eq!(p.exe, "sh");
    assert_eq!(t.thread_tgid(201), None);
    assert_eq!(t.thread_tgid(202), None);

    // The leader exiting ends the process even with threads left.
    t.fork(&Fork {
        parent_tid: 200,
        parent_tgid: 200,
        child_tid: 204,
        child_tgid: 200,
        ts_ns: 40,
    });
    t.exit(200, 200, 9, 50);
    assert_eq!(t.process(200).unwrap().exit.map(|e| e.code), Some(9));
    t.reap(50 + SEC);
    assert!(t.process(200).is_none());
    assert_eq!(t.thread_tgid(204), None);
}

#[test]
fn cwd_and_relative_opens() {
    let fp = system();
    let mut t = ProcessTable::bootstrap(fp.procfs()).unwrap();
    t.open(200, AT_FDCWD, 20, "data/../b.txt", 0);
    assert_eq!(t.fd(200, 20).unwrap().name, "/srv/app/b.txt");
    t.open(200, 14, 21, "conf/./../app.toml", 0);
    assert_eq!(t.fd(200, 21).unwrap().name, "/srv/app.toml");
    t.open(200, 14, 22, "/etc//hosts", 0);
    assert_eq!(t.fd(200, 22).unwrap().name, "/etc/hosts");
    t.open(200, 21, 23, "x", 0);
    assert_eq!(
        t.fd(200, 23).unwrap().name,
        "/srv/app.toml/x",
        "a file dirfd is still a base (ENOTDIR is the kernel's call)"
    );
    t.open(200, 77, 24, "y/../z", 0);
    assert_eq!(
        t.fd(200, 24).unwrap().name,
        "z",
        "unknown dirfd keeps the path relative"
    );
    t.open(200, AT_FDCWD, 25, ".", O_DIRECTORY);
    assert_eq!(t.fd(200, 25).unwrap().type_name(), "directory");

    t.chdir(200, "../../tmp/./x");
    assert_eq!(t.process(200).unwrap().cwd, "/tmp/x");
    t.chdir(200, "/var/lib");
    t.chdir(200, "..");
    assert_eq!(t.process(200).unwrap().cwd, "/var");
    t.fchdir(200, 14);
    assert_eq!(t.process(200).unwrap().cwd, "/srv");
    t.fchdir(200, 3); // a socket: ignored
    assert_eq!(t.process(200).unwrap().cwd, "/srv");
    // Threads share the cwd: it is the process's.
    t.fork(&Fork {
        parent_tid: 200,
        parent_tgid: 200,
        child_tid: 205,
        child_tgid: 200,
        ts_ns: 1,
    });
    t.fork(&Fork {
        parent_tid: 205,
        parent_tgid: 200,
        child_tid: 600,
        child_tgid: 600,
        ts_ns: 2,
    });
    assert_eq!(t.process(600).unwrap().cwd, "/srv");
}

#[test]
fn dup_close_and_cloexec() {
    let fp = system();
    let mut t = ProcessTable::bootstrap(fp.procfs()).unwrap();
    t.dup(200, 0, 30, false);
    t.dup(200, 13, 31, true); // dup3(O_CLOEXEC)
    t.dup(200, 13, 32, false); // dup2 clears the bit
    t.dup(200, 1, 4, false); // dup2 over an open socket
    assert_eq!(t.fd(200, 4).unwrap().kind, FdKind::Pipe);
    t.close(200, 0);
    assert!(t.fd(200, 0).is_none());
    assert_eq!(t.fd(200, 30).unwrap().name, "/dev/pts/0");
    t.set_cloexec(200, 30, true);
    t.dup(200, 88, 5, false); // unknown source: the target is closed anyway
    assert!(t.fd(200, 5).is_none());

    t.exec(&Exec {
        tid: 200,
        tgid: 200,
        old_tid: 200,
        exe_path: "/bin/true",
        args: b"true\0",
        comm: "true",
        ts_ns: 1,
    });
    let left: std::collections::BTreeSet<i32> = t
        .process(200)
        .unwrap()
        .fds
        .iter()
        .map(|(fd, _)| fd)
        .collect();
    assert!(
        !left.contains(&13) && !left.contains(&31) && !left.contains(&30) && !left.contains(&15)
    );
    assert!(left.contains(&32) && left.contains(&1) && left.contains(&4));
}

#[test]
fn socket_events() {
    let fp = system();
    let mut t = ProcessTable::bootstrap(fp.procfs()).unwrap();
    let (inet, inet6, unix) = (
        libc::AF_INET.cast_unsigned(),
        libc::AF_INET6.cast_unsigned(),
        libc::AF_UNIX.cast_unsigned(),
    );
    let stream = (libc::SOCK_STREAM | libc::SOCK_CLOEXEC).cast_unsigned();

    t.socket(100, 3, inet, stream, 0);
    let s = t.fd(100, 3).unwrap();
    assert_eq!(
        (s.type_char(), s.l4proto, s.cloexec(), s.name.as_str()),
        ('4', L4Proto::Tcp, true, "")
    );
    let tuple = SockTuple {
        proto: L4Proto::Tcp,
        local: "10.0.0.5:51000".parse().unwrap(),
        remote: "93.184.216.34:443".parse().unwrap(),
    };
    t.connected(100, 3, &tuple);
    let s = t.fd(100, 3).unwrap();
    assert_eq!(s.name, "10.0.0.5:51000->93.184.216.34:443");
    assert!(s.cloexec(), "connect kept the socket's flags");
    assert_eq!(s.rip(), Some("93.184.216.34".parse().unwrap()));

    t.socket(100, 4, inet6, libc::SOCK_STREAM.cast_unsigned(), 0);
    t.bind(100, 4, "[::]:8080".parse().unwrap());
    t.listen(100, 4);
    assert_eq!(t.fd(100, 4).unwrap().name, ":::8080");
    let tuple = SockTuple {
        proto: L4Proto::Tcp,
        local: "[2001:db8::1]:8080".parse().unwrap(),
        remote: "[2001:db8::2]:40000".parse().unwrap(),
    };
    t.accepted(100, 5, &tuple, 0);
    let a = t.fd(100, 5).unwrap();
    assert_eq!(
        (a.type_name(), a.name.as_str(), a.server),
        ("ipv6", "2001:db8::2:40000->2001:db8::1:8080", true)
    );
    assert_eq!(a.cip(), Some("2001:db8::2".parse().unwrap()));

    t.socket(100, 6, unix, libc::SOCK_STREAM.cast_unsigned(), 0);
    t.unix_connected(100, 6, "/run/docker.sock");
    assert_eq!(
        (
            t.fd(100, 6).unwrap().type_char(),
            t.fd(100, 6).unwrap().name.as_str()
        ),
        ('u', "/run/docker.sock")
    );
    t.unix_accepted(200, 12, 40, 0);
    assert_eq!(t.fd(200, 40).unwrap().name, "/tmp/sdtrace-rec.sock");

    t.socket(
        100,
        7,
        inet,
        libc::SOCK_DGRAM.cast_unsigned(),
        libc::IPPROTO_ICMP.cast_unsigned(),
    );
    assert_eq!(t.fd(100, 7).unwrap().l4proto.as_str(), "icmp");
    t.socketpair(100, [8, 9], unix, libc::SOCK_STREAM.cast_unsigned(), 0);
    assert_eq!(t.fd(100, 9).unwrap().kind, FdKind::Unix);
    t.pipe(100, [10, 11], 777, O_CLOEXEC);
    assert_eq!(t.fd(100, 11).unwrap().name, "pipe:[777]");
    t.anon(100, 12, FdKind::Event, 0);
    assert_eq!(
        (
            t.fd(100, 12).unwrap().type_name(),
            t.fd(100, 12).unwrap().type_char()
        ),
        ("event", 'e')
    );
    t.anon(100, 13, FdKind::Timerfd, 0);
    assert_eq!(t.fd(100, 13).unwrap().name, "anon_inode:[timerfd]");
    t.memfd(100, 14, "jit", 0);
    assert_eq!(t.fd(100, 14).unwrap().type_char(), 'm');
}

#[test]
fn lazy_fallbacks() {
    let fp = system();
    let mut t = ProcessTable::bootstrap(fp.procfs()).unwrap();

    // A process that started after bootstrap is read on first sight.
    fp.add(&Pid {
        pid: 700,
        ppid: 100,
        comm: "vim",
        argv: &["vim", "notes"],
        exe: "/usr/bin/vim",
        cwd: "/home/alice",
        net_ns: NET_A,
    });
    fp.fd(700, 3, "/home/alice/notes", 0o2);
    assert!(t.process(700).is_none());
    assert_eq!(t.process_or_load(700).unwrap().cmdline, "vim notes");
    assert_eq!(t.fd(700, 3).unwrap().name, "/home/alice/notes");
    // Events for it work too, and a relative open uses its cwd.
    t.open(700, AT_FDCWD, 4, ".notes.swp", 0);
    assert_eq!(t.fd(700, 4).unwrap().name, "/home/alice/.notes.swp");

    // An unknown pid with no /proc entry is tried once.
    assert!(t.process_or_load(800).is_none());
    t.open(800, AT_FDCWD, 3, "x", 0);
    assert!(t.process(800).is_none());
    // Once it execs (/proc hid it: hidepid), the exec record makes it known.
    t.exec(&Exec {
        tid: 800,
        tgid: 800,
        old_tid: 800,
        exe_path: "/bin/cat",
        args: b"cat\0/etc/motd\0",
        comm: "cat",
        ts_ns: 1,
    });
    assert_eq!(t.process(800).unwrap().cmdline, "cat /etc/motd");
    t.open(800, AT_FDCWD, 3, "/etc/motd", 0);
    assert_eq!(t.fd(800, 3).unwrap().name, "/etc/motd");

    // An fd opened while filtered out: read once, then cached.
    fp.fd(200, 40, "/var/lib/db/wal", 0o2);
    assert!(t.fd(200, 40).is_none());
    assert_eq!(t.fd_or_load(200, 40).unwrap().name, "/var/lib/db/wal");
    fs::remove_file(fp.pid_dir(200).join("fd/40")).unwrap();
    assert!(t.fd_or_load(200, 40).is_some(), "answer was not cached");

    // A miss is cached as well, until an event creates the fd.
    assert!(t.fd_or_load(200, 41).is_none());
    fp.fd(200, 41, "/late", 0);
    assert!(
        t.fd_or_load(200, 41).is_none(),
        "a missing fd was read again"
    );
    t.open(200, AT_FDCWD, 41, "/opened", 0);
    assert_eq!(t.fd_or_load(200, 41).unwrap().name, "/opened");

    // A socket newer than the bootstrap tables makes them be read again.
    let tcp = fp.pid_dir(200).join("net/tcp");
    // (Only pid 200's copy changes; the table is re-read through the fd's owner.)
    let mut text = fs::read_to_string(&tcp).unwrap();
    text.push_str("   5: 0100007F:1F91 0100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 77777 1 0000000000000000 20 0 0 10 -1\n");
    fs::write(&tcp, text).unwrap();
    fp.fd(200, 42, "socket:[77777]", 0o2);
    assert_eq!(
        t.fd_or_load(200, 42).unwrap().name,
        "127.0.0.1:8081->127.0.0.1:49152"
    );

    // A dirfd-relative open through an fd we only learn of lazily.
    fp.fd(200, 43, "/opt", O_DIRECTORY);
    t.open(200, 43, 44, "tool/bin", 0);
    assert_eq!(t.fd(200, 44).unwrap().name, "/opt/tool/bin");
}

#[test]
fn bootstrap_from_the_real_proc_finds_itself() {
    let t = ProcessTable::bootstrap(ProcFs::default()).unwrap();
    let me = t
        .process(std::process::id())
        .expect("own process not bootstrapped");
    assert_eq!(Path::new(&me.exepath), std::env::current_exe().unwrap());
    assert_eq!(Path::new(&me.cwd), std::env::current_dir().unwrap());
    // SAFETY: gettid has no preconditions.
    let tid = u32::try_from(unsafe { libc::gettid() }).unwrap();
    assert_eq!(t.thread_tgid(tid), Some(std::process::id()));
    assert!(me
        .fds
        .iter()
        .any(|(_, f)| f.kind == FdKind::File || f.kind == FdKind::Pipe));
}

/// A capture file carries the journal of `/proc` answers; replaying it must
/// rebuild the very same table, lazy fd loads and socket tables included.
#[test]
fn journal_replays_to_the_same_table() {
    let fake = FakeProc::new();
    fake.add(&Pid {
        pid: 1,
        ppid: 0,
        comm: "init",
        argv: &["/sbin/init"],
        exe: "/sbin/init",
        cwd: "/",
        net_ns: NET_A,
    });
    fake.add(&Pid {
        pid: 100,
        ppid: 1,
        comm: "bash",
        argv: &["bash", "-l"],
        exe: "/bin/bash",
        cwd: "/home/u",
        net_ns: NET_A,
    });
    let mut live = ProcessTable::bootstrap(fake.procfs().journaled()).unwrap();
    symlink("/tmp/late", fake.pid_dir(100).join("fd/7")).unwrap();
    live.fd_or_load(100, 7);
    live.fd_or_load(100, 8);
    live.process_or_load(4242);
    let journal = live.procfs().journal().take();
    assert!(journal.len() >= 5, "{journal:?}");

    let replay = ProcFs::replaying();
    replay.journal().replay(journal);
    let mut again = ProcessTable::bootstrap(replay).unwrap();
    assert_eq!(again.fd_or_load(100, 7), live.fd(100, 7));
    assert_eq!(again.fd_or_load(100, 7).unwrap().name, "/tmp/late");
    assert!(again.fd_or_load(100, 8).is_none());
    assert!(again.process_or_load(4242).is_none());
    let dump = |t: &ProcessTable| {
        let mut v: Vec<String> = t.iter().map(|p| format!("{p:?}")).collect();
        v.sort();
        v
    };
    assert_eq!(dump(&again), dump(&live));
    assert_eq!(again.len(), 2);
}

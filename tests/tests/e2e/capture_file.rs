//! Capture files: `-w` on a live capture then `-r` gives the live run's
//! events, field for field; Debian's sysdig reads the same file and prints
//! the same events and fields; a damaged file is read up to its last good
//! block and the error says where; tshark reads it too ([`tshark`]).
mod tshark;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Read,
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
};

use serde_json::Value;
use tests::recorder::{self, Recorder};
use tests::sysdig::without_unix_addresses;
use tests::{e2e, require_program, Session, TempDir, Tracer};

/// The workload's name: its children have it as their parent's.
const WORKLOAD: &str = "scapwork";
const BASE_FILTER: &str = "proc.name=scapwork or proc.pname=scapwork";

/// A shell script doing a little of everything: files created, read,
/// renamed, removed, a failed open, children, a loopback TCP connection.
fn workload_script(dir: &Path) -> PathBuf {
    let script = dir.join(WORKLOAD);
    fs::write(
        &script,
        r#"#!/bin/sh
# Absolute paths: sysdig 0.29 can lose the cwd of a vfork child that runs
# before its parent's vfork returns, and would print relative names.
cd "$1"
# The same for its fds: the test's spawn sets our stdout in a vfork child,
# and sysdig then sometimes (1 run in 7) names nothing for fd 1 of the
# children; opened here, every process's stdout is known from an open.
exec >/dev/null
cp /etc/hostname "$1/a.txt"
cat "$1/a.txt"
ls -la "$1"
mkdir -p "$1/sub"
mv "$1/a.txt" "$1/sub/b.txt"
chmod 600 "$1/sub/b.txt"
cat "$1/sub/b.txt" "$1/nonexistent"
rm -r "$1/sub"
perl -MIO::Socket::INET -e 'IO::Socket::INET->new("127.0.0.1:$ARGV[0]")->print("ping\n")' "$2"
head -c 64 /dev/urandom
cat "$1/done-marker"
"#,
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("done-marker"), "done\n").unwrap();
    script
}

/// Runs the workload against a loopback listener; returns the port.
fn run_workload(dir: &Path) -> u16 {
    let script = workload_script(dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        got
    });
    let status = Command::new(&script)
        .arg(dir)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "workload failed: {status:?}");
    assert_eq!(server.join().unwrap(), "ping\n");
    port
}

/// A shell with a 30 KB command line, alive while it is held.
struct LongCommandLine(std::process::Child);

impl LongCommandLine {
    fn start() -> Self {
        // `; :` keeps the shell from exec'ing sleep, which would drop the
        // long argument.
        let child = Command::new("sh")
            .args(["-c", "sleep 60; :", &"x".repeat(30_000)])
            .spawn()
            .expect("sh runs");
        Self(child)
    }
}

impl Drop for LongCommandLine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A capture the workload ran under: the file, the workload's directory,
/// the port it connected to, and what `sdtrace -w` said on stderr.
struct Recorded {
    file: PathBuf,
    work: PathBuf,
    port: u16,
    stderr: Vec<String>,
}

/// Runs the workload under `sdtrace -w <dir>/<name> <args>`.
fn record_workload(tracer: &Tracer, dir: &TempDir, name: &str, args: &[&str]) -> Recorded {
    let file = dir.path().join(name);
    let recorder = Recorder::start(tracer, &file, args);
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    let port = run_workload(&work);
    let stderr = recorder.stop();
    Recorded {
        file,
        work,
        port,
        stderr,
    }
}

/// The fields that differ between two runs over the same events: the event
/// number counts each run's own events, and each run samples the boot to
/// wall clock offset at its own start.
fn comparable(ev: &Value) -> Value {
    let mut ev = ev.clone();
    if let Some(map) = ev.as_object_mut() {
        for key in ["evt.num", "evt.time", "evt.rawtime"] {
            map.remove(key);
        }
    }
    ev
}

/// Events grouped by thread, each thread's in the order printed. Two
/// sdtrace instances run their own probes, which take their own timestamps:
/// syscalls of different threads finishing within microseconds of each
/// other on different CPUs may be ordered either way. A thread's own
/// syscalls never are.
fn per_thread(mut events: Vec<Value>) -> Vec<Value> {
    events.sort_by_key(|e| e.get("thread.tid").and_then(Value::as_i64));
    events
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

e2e!(write_then_read_gives_the_live_events, |tracer| {
    let dir = TempDir::new("scap-rw");
    let file = dir.path().join("capture.scap");
    let session = Session::start(&tracer, &["-c", BASE_FILTER]);
    let recorder = Recorder::start_beside(&session, &tracer, &file, &[]);
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    run_workload(&work);
    session.wait_for("the workload's last open", |e| {
        e.get("fd.name").and_then(Value::as_str) == Some(work.join("done-marker").to_str().unwrap())
    });
    recorder.stop();
    let live = session.stop();
    assert!(live.status.success());

    let out = recorder::read(&tracer, &file, &["-j", "-c", BASE_FILTER]);
    assert!(
        out.status.success(),
        "sdtrace -r failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Vec<Value> = json_lines(&out.stdout);
    let live = per_thread(live.events.iter().map(comparable).collect());
    let read = per_thread(read.iter().map(comparable).collect());
    assert!(
        live.len() >= 30,
        "the workload makes dozens of events: {live:?}"
    );
    for (i, (l, r)) in live.iter().zip(&read).enumerate() {
        assert_eq!(
            l, r,
            "event {i} (by thread) differs between the live run and -r"
        );
    }
    assert_eq!(live.len(), read.len(), "live and -r saw as many events");
    let types: BTreeSet<&str> = read
        .iter()
        .filter_map(|e| e.get("evt.type").and_then(Value::as_str))
        .collect();
    for t in ["execve", "openat", "read", "write", "connect", "procexit"] {
        assert!(types.contains(t), "{t} in the capture: {types:?}");
    }
});

// A filtered capture keeps only matching events, yet reads back with the
// state its events need (the fds opened by events it did not keep).
e2e!(filtered_write_keeps_the_state_its_events_need, |tracer| {
    let dir = TempDir::new("scap-filtered");
    let Recorded { file, work, .. } = record_workload(
        &tracer,
        &dir,
        "reads.scap.gz",
        &["-z", "-c", "evt.type=read and proc.pname=scapwork"],
    );
    let mut magic = [0u8; 2];
    fs::File::open(&file)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(magic, [0x1f, 0x8b], "-z writes gzip");
    let out = recorder::read(&tracer, &file, &["-p", "%evt.type %fd.name"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let marker = format!("read {}", work.join("done-marker").display());
    assert!(text.lines().any(|l| l == marker), "{marker:?} in:\n{text}");
    assert!(text.lines().all(|l| l.starts_with("read ")), "{text}");
});

e2e!(
    a_truncated_capture_reads_up_to_its_last_good_block,
    |tracer| {
        let dir = TempDir::new("scap-cut");
        let Recorded { file, .. } =
            record_workload(&tracer, &dir, "whole.scap", &["-c", BASE_FILTER]);
        let whole = recorder::read(&tracer, &file, &["-p", "%evt.num %evt.type"]);
        assert!(whole.status.success());
        let whole_lines = String::from_utf8_lossy(&whole.stdout).lines().count();
        assert!(whole_lines > 20);

        let bytes = fs::read(&file).unwrap();
        let cut = dir.path().join("cut.scap");
        fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let part = recorder::read(&tracer, &cut, &["-p", "%evt.num %evt.type"]);
        let stderr = String::from_utf8_lossy(&part.stderr);
        assert!(!part.status.success(), "a cut file is an error");
        assert!(
            stderr.contains("truncated block at offset") && stderr.contains("cut.scap"),
            "{stderr}"
        );
        let part_lines: Vec<String> = String::from_utf8_lossy(&part.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let whole_text = String::from_utf8_lossy(&whole.stdout);
        assert!(!part_lines.is_empty() && part_lines.len() < whole_lines);
        assert!(
            whole_text.lines().zip(&part_lines).all(|(a, b)| a == b),
            "what was read before the cut is what the whole file gives"
        );

        // A block past the middle whose length field is damaged.
        let mut at = 0;
        while at < bytes.len() / 2 {
            at += u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        let mut damaged = bytes.clone();
        damaged[at + 4..at + 8].copy_from_slice(&7u32.to_le_bytes());
        let bad = dir.path().join("bad.scap");
        fs::write(&bad, &damaged).unwrap();
        let out = recorder::read(&tracer, &bad, &["-p", "%evt.num"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains(&format!(
                "corrupt block at offset {at}: length 7 is impossible"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
);

/// The ones sysdig 0.29 cannot evaluate, with why; sdtrace must still run them.
struct Filter {
    text: String,
    sysdig_lacks: Option<&'static str>,
}

fn filters(work: &Path, port: u16) -> Vec<Filter> {
    let w = work.display();
    let both = |t: String| Filter {
        text: t,
        sysdig_lacks: None,
    };
    let mut all: Vec<Filter> = [
        "evt.type=openat",
        "evt.type in (open, openat, openat2)",
        "evt.type=openat and fd.name contains sub",
        "evt.res=SUCCESS",
        "evt.res!=SUCCESS",
        "evt.failed=true",
        "proc.name=cat",
        "proc.name in (cat, ls, mv)",
        "proc.name=scapwork",
        "proc.pname=scapwork",
        "not proc.name=scapwork",
        "evt.type=execve",
        "evt.type=execve and evt.res=SUCCESS",
        "evt.type in (clone, clone3, fork, vfork)",
        "evt.type=procexit",
        "evt.type=close",
        "evt.type=read and fd.num>=0",
        "evt.type=write",
        "evt.type in (read, write) and fd.type=file",
        "fd.type=file",
        "fd.type=ipv4",
        "fd.typechar=f",
        "fd.name endswith b.txt",
        "fd.filename=a.txt",
        "fd.directory contains sub",
        "evt.type=connect",
        "fd.sip=127.0.0.1",
        // sdtrace knows a stream socket is TCP from socket() on; sysdig 0.29
        // from its connect: compared where both know.
        "fd.l4proto=tcp and evt.type in (connect, write, close)",
        "evt.type in (mkdir, mkdirat)",
        "evt.type in (rename, renameat, renameat2)",
        "evt.type in (unlink, unlinkat)",
        "evt.type in (chmod, fchmodat)",
        "evt.type=socket",
        "evt.type=mmap",
        "evt.type=fcntl",
        "evt.type in (dup, dup2, dup3)",
        "evt.arg.name contains b.txt",
        "evt.is_open_read=true",
        "evt.is_open_write=true",
        "evt.is_io=true",
        "evt.is_io_read=true",
        "evt.is_io_write=true",
        "user.name=root",
        "user.uid=0",
        "proc.cmdline contains sub/b.txt",
        "proc.exe contains cat",
        "proc.args contains b.txt",
        "evt.type=openat and evt.res=ENOENT",
        "evt.rawres<0",
        "evt.rawres>=0 and evt.type=openat",
        "(evt.type=openat or evt.type=open) and not fd.name startswith /usr",
        "proc.aname=scapwork",
        "fd.name icontains B.TXT",
        "evt.cpu>=0",
        "fd.name glob '*.txt'",
        "fd.name pmatch (/tmp)",
        "evt.is_open_exec=true",
        "proc.exepath contains bin",
        "evt.arg.flags contains O_CREAT",
        "evt.buffer contains ping",
        "fd.is_server=false",
        "evt.type=openat and fd.name=/etc/ld.so.cache",
    ]
    .into_iter()
    .map(|t| both(t.to_owned()))
    .collect();
    for (t, why) in [
        (
            "fd.name bcontains 2f737562",
            "no bcontains (added in libs 0.10)",
        ),
        ("fd.name iglob '*B.TXT'", "no iglob"),
        ("proc.aname intersects (scapwork, init)", "no intersects"),
        ("tolower(proc.name)=cat", "no field transformers"),
        ("fd.name=val(fd.name)", "no val()"),
    ] {
        all.push(Filter {
            text: t.to_owned(),
            sysdig_lacks: Some(why),
        });
    }
    all.push(both(format!("fd.name startswith {w}")));
    all.push(both(format!("fd.sport={port}")));
    all.push(both(format!(
        "fd.name contains {w} and evt.type in (openat, unlinkat)"
    )));
    all
}

const FORMATS: &[&str] = &[
    "%evt.num %proc.name %evt.type %evt.res %fd.name",
    "%evt.num %thread.tid %proc.pid %proc.ppid %proc.name %proc.pname",
    "%evt.num %fd.num %fd.type %fd.typechar %fd.name",
    "%evt.num %proc.exe %proc.args %proc.cmdline",
    "%evt.num %user.name %user.uid %proc.cwd",
    "%evt.num %evt.rawtime %evt.cpu %evt.dir",
    "%evt.num %fd.sip %fd.sport %fd.cip %fd.l4proto",
    "%evt.num %evt.rawres %evt.failed %evt.type",
    "%evt.num %fd.filename %fd.directory %evt.arg.name",
    "*%evt.num %proc.name %fd.name",
    "%evt.num %evt.latency %evt.type",
];

/// Event names sysdig has a layout for (`sysdig -L`); others it only knows
/// as generic syscalls, without a return value.
fn sysdig_events(sysdig: &Path) -> BTreeSet<String> {
    let out = Command::new(sysdig).arg("-L").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches(['>', '<', ' ']);
            Some(l.split('(').next()?.trim().to_owned())
        })
        .filter(|n| !n.is_empty())
        .collect()
}

fn run_lines(cmd: &mut Command) -> Result<Vec<String>, String> {
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            text.lines().last().unwrap_or("")
        ));
    }
    Ok(text.lines().map(str::to_owned).collect())
}

/// Syscalls sysdig 0.29 reports under another event's name.
const SYSDIG_EVENT_NAMES: &[(&str, &str)] = &[
    ("dup2", "dup"),
    ("dup3", "dup"),
    ("pread64", "pread"),
    ("pwrite64", "pwrite"),
    ("accept4", "accept"),
    ("pipe2", "pipe"),
    ("eventfd2", "eventfd"),
    ("signalfd4", "signalfd"),
    ("inotify_init1", "inotify_init"),
    ("prlimit64", "prlimit"),
    ("umount2", "umount"),
];

/// Where sysdig 0.29 shows nothing and sdtrace shows a value, so sysdig
/// skips a line that sdtrace prints: (syscall, field in the format or filter).
const SYSDIG_HAS_NO_VALUE: &[(&str, &str, &str)] = &[
    // Their exit events hold the id, not a return value.
    (
        "getuid",
        "evt.rawres",
        "the get*id exits carry an id, not a result",
    ),
    (
        "geteuid",
        "evt.rawres",
        "the get*id exits carry an id, not a result",
    ),
    (
        "getgid",
        "evt.rawres",
        "the get*id exits carry an id, not a result",
    ),
    (
        "getegid",
        "evt.rawres",
        "the get*id exits carry an id, not a result",
    ),
    // This sysdig's layouts for these have no parameters at all.
    (
        "getpeername",
        "evt.rawres",
        "no parameters in this sysdig's layout",
    ),
    (
        "getsockname",
        "evt.rawres",
        "no parameters in this sysdig's layout",
    ),
];

/// sdtrace's lines that sysdig cannot print for `text` (a format or filter).
fn sysdig_lacks(line: &str, text: &str) -> Option<&'static str> {
    let ty = line.split(' ').nth(1)?;
    SYSDIG_HAS_NO_VALUE
        .iter()
        .find(|(sys, field, _)| *sys == ty && text.contains(field))
        .map(|(_, _, why)| *why)
}

/// sdtrace's line with syscall names as sysdig 0.29 spells them.
fn as_sysdig_names(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            SYSDIG_EVENT_NAMES
                .iter()
                .find(|(ours, _)| *ours == w)
                .map_or(w, |(_, theirs)| theirs)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The events about a process's stdin (fd 0), by number. sysdig 0.29 was
/// seen naming the shell's children's inherited stdin after another of the
/// shell's descriptors (its original stderr, or the script it reads); not
/// reproduced with hand-made captures, so these events are counted apart.
fn events_on_stdin(tracer: &Tracer, file: &Path) -> BTreeSet<u64> {
    let lines = run_lines(Command::new(&tracer.bin).arg("-r").arg(file).args([
        "--stats-interval",
        "0",
        "-c",
        &format!("({BASE_FILTER}) and fd.num=0"),
        "-p",
        "%evt.num",
    ]))
    .unwrap_or_else(|e| panic!("sdtrace -r: {e}"));
    lines.iter().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Lines compared, lines of syscalls sysdig only knows generically (not
/// compared), and differing lines of events on stdin ([`events_on_stdin`]).
#[derive(Debug)]
struct Counts {
    lines: usize,
    generic: usize,
    stdin_lines: usize,
}

/// What each tool printed for one filter and format; the first two words
/// of every line are our probe (`evt.num evt.type`).
fn compare(
    tracer: &Tracer,
    sysdig: &Path,
    file: &Path,
    filter: &str,
    format: &str,
    known: &BTreeSet<String>,
    on_stdin: &BTreeSet<u64>,
) -> Result<Counts, String> {
    // The probe says which event a line is, and whether sysdig has its layout.
    let probe = format!("%evt.num %evt.type {}", format.trim_start_matches('*'));
    let probe = if format.starts_with('*') {
        format!("*{probe}")
    } else {
        probe
    };
    let filter = if filter.is_empty() {
        format!("({BASE_FILTER})")
    } else {
        format!("({BASE_FILTER}) and ({filter})")
    };
    let ours = run_lines(Command::new(&tracer.bin).arg("-r").arg(file).args([
        "--stats-interval",
        "0",
        "-p",
        &probe,
        "-c",
        &filter,
    ]))
    .map_err(|e| format!("sdtrace failed: {e}"))?;
    // sysdig prints enter and exit events; sdtrace one line per syscall,
    // the exit's (procexit is an enter event in scap).
    let scope = "(evt.dir=< or evt.type=procexit)";
    let sysdig_filter = format!("{filter} and {scope}");
    let theirs =
        run_lines(
            Command::new(sysdig)
                .arg("-r")
                .arg(file)
                .args(["-p", &probe, &sysdig_filter]),
        )
        .map_err(|e| format!("sysdig failed: {e}"))?;
    // A syscall this sysdig only knows generically has no return value,
    // and maybe no name: its lines are counted, not compared.
    let ours: Vec<String> = ours
        .iter()
        .filter(|l| sysdig_lacks(l, &format!("{format} {filter}")).is_none())
        .map(|l| as_sysdig_names(l))
        .collect();
    let theirs: Vec<String> = theirs.iter().map(|l| without_unix_addresses(l)).collect();
    let is_known = |l: &&String| l.split(' ').nth(1).is_some_and(|t| known.contains(t));
    let generic = ours.iter().filter(|l| !is_known(l)).count();
    let ours: Vec<&String> = ours.iter().filter(is_known).collect();
    let theirs: Vec<&String> = theirs.iter().filter(is_known).collect();
    // Keyed by event number: sysdig and sdtrace print each event once.
    let key = |l: &&String| l.split(' ').next().and_then(|n| n.parse::<u64>().ok());
    let ours_by: BTreeMap<u64, &String> = ours.iter().filter_map(|l| Some((key(l)?, *l))).collect();
    let theirs_by: BTreeMap<u64, &String> =
        theirs.iter().filter_map(|l| Some((key(l)?, *l))).collect();
    let mut stdin_lines = 0;
    let nums: BTreeSet<u64> = ours_by.keys().chain(theirs_by.keys()).copied().collect();
    for n in nums {
        let (o, t) = (ours_by.get(&n), theirs_by.get(&n));
        if o == t {
            continue;
        }
        if on_stdin.contains(&n) {
            stdin_lines += 1;
            continue;
        }
        let show = |l: Option<&&String>| l.map_or("(no line)".to_owned(), |l| (*l).clone());
        return Err(format!(
            "event {n} differs:\nsdtrace: {}\nsysdig:  {}",
            show(o),
            show(t)
        ));
    }
    Ok(Counts {
        lines: ours.len(),
        generic,
        stdin_lines,
    })
}

e2e!(sysdig_reads_our_capture_as_we_do, |tracer, test| {
    let Some(sysdig) = require_program(test, "sysdig") else {
        return;
    };
    let dir = TempDir::new("scap-sysdig");
    // libscap refuses a whole file whose process list holds a string longer
    // than its fixed buffers, and nodes run processes with command lines of
    // tens of kilobytes (a CI runner did).
    let _long_cmdline = LongCommandLine::start();
    // Unfiltered: sysdig knows the fds a process inherits only from its
    // ancestors' events (or the process list at the start).
    let Recorded {
        file, work, port, ..
    } = record_workload(&tracer, &dir, "mix.scap", &[]);
    if let Some(keep) = std::env::var_os("SDTRACE_KEEP_CAPTURE") {
        fs::copy(&file, keep).unwrap();
    }
    let known = sysdig_events(&sysdig);
    let on_stdin = events_on_stdin(&tracer, &file);
    assert!(
        known.contains("openat"),
        "sysdig -L lists events: {known:?}"
    );

    let mut failures = Vec::new();
    let mut lacking = Vec::new();
    let mut total = Counts {
        lines: 0,
        generic: 0,
        stdin_lines: 0,
    };
    let mut add = |c: Counts| {
        total.lines += c.lines;
        total.generic += c.generic;
        total.stdin_lines += c.stdin_lines;
    };
    for f in filters(&work, port) {
        match (
            compare(
                &tracer, &sysdig, &file, &f.text, FORMATS[0], &known, &on_stdin,
            ),
            f.sysdig_lacks,
        ) {
            (Ok(c), None) => add(c),
            (Err(e), None) => failures.push(format!("filter {:?}: {e}", f.text)),
            (Err(e), Some(why)) if e.starts_with("sysdig failed") => {
                lacking.push(format!("{:?}: {why}", f.text));
            }
            (r, Some(why)) => failures.push(format!(
                "filter {:?} was expected to fail in sysdig ({why}), got {r:?}",
                f.text
            )),
        }
    }
    for format in FORMATS {
        match compare(&tracer, &sysdig, &file, "", format, &known, &on_stdin) {
            Ok(c) => add(c),
            Err(e) => failures.push(format!("format {format:?}: {e}")),
        }
    }
    eprintln!(
        "compared {} lines: {} of syscalls sysdig 0.29 only knows generically (by event \
         number only), {} of events on stdin that differ; sysdig lacks: {lacking:?}",
        total.lines, total.generic, total.stdin_lines
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(total.lines > 500, "the comparison covered real output");
    assert!(
        total.stdin_lines * 100 < total.lines,
        "the stdin divergence stays a corner: {} of {}",
        total.stdin_lines,
        total.lines
    );
});

/// 30 000 one-byte reads by `syscall-loop`, with their buffers.
fn one_byte_reads() {
    let status = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
        .args(["read", "30000"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

// `-C 1 -W 2`: a new file every megabyte, the oldest overwritten, each
// file readable on its own, and the last one holding the last events.
e2e!(rotated_files_each_read_alone, |tracer| {
    let dir = TempDir::new("scap-rotate");
    let base = dir.path().join("rot.scap");
    let recorder = Recorder::start(
        &tracer,
        &base,
        &["-C", "1", "-W", "2", "-c", "proc.name=syscall-loop"],
    );
    // A few MB of capture.
    one_byte_reads();
    recorder.stop();
    let files: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("rot.scap{i}")))
        .collect();
    assert!(files[0].is_file() && files[1].is_file(), "two files kept");
    assert!(
        !files[2].exists(),
        "-W 2 wraps around instead of a third file"
    );
    assert!(!base.exists(), "rotated names carry a number");
    let mut total = 0;
    for f in &files[..2] {
        let out = recorder::read(
            &tracer,
            f,
            &["-c", "evt.type=read", "-p", "%evt.type %fd.name"],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().all(|l| l == "read /dev/zero"),
            "each file knows the fds from its own start: {}",
            text.lines().find(|l| *l != "read /dev/zero").unwrap_or("")
        );
        total += text.lines().count();
        let size = fs::metadata(f).unwrap().len();
        assert!(
            size < 2_000_000,
            "{} is {size} bytes with -C 1",
            f.display()
        );
    }
    assert!(
        total > 1000,
        "the kept files hold the loop's reads: {total}"
    );
});

// `-w` onto a full filesystem: the error names the file, and what was
// written before reads back up to its last whole block.
e2e!(
    a_full_disk_names_the_file_and_keeps_what_was_written,
    |tracer| {
        let dir = TempDir::new("scap-full");
        let mount = dir.path().join("small");
        fs::create_dir(&mount).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(&mount)
            .status()
            .unwrap();
        assert!(mounted.success(), "mount a 512 KiB tmpfs");
        let file = mount.join("full.scap");
        let _turn = tests::session::serial();
        let watch = tests::session::spawn_attached(
            "sdtrace -w",
            Command::new(&tracer.bin).arg("-w").arg(&file).args([
                "--stats-interval",
                "0",
                "-c",
                "proc.name=syscall-loop",
            ]),
            tests::watch::Stdout::Null,
        );
        // Far more than 512 KiB.
        one_byte_reads();
        let (status, out) = watch.wait(std::time::Duration::from_secs(30));
        let stderr = out.stderr.join("\n");
        let unmount = |mount: &Path| {
            let _ = Command::new("umount").arg(mount).status();
        };
        let read = Command::new(&tracer.bin)
            .arg("-r")
            .arg(&file)
            .args(["--stats-interval", "0", "-p", "%evt.num"])
            .output()
            .unwrap();
        unmount(&mount);
        assert!(!status.success(), "a full disk is an error: {stderr}");
        assert!(
            stderr.contains(&format!("{}: No space left on device", file.display())),
            "the error names the file: {stderr}"
        );
        let read_err = String::from_utf8_lossy(&read.stderr);
        let lines = String::from_utf8_lossy(&read.stdout).lines().count();
        assert!(
            lines > 1000,
            "what was written reads back: {lines} lines, {read_err}"
        );
        // The last write may stop mid-block (read to the block before it,
        // and said) or fail whole (the file ends on a block boundary).
        assert!(
            read_err.trim().is_empty() || read_err.contains("truncated block at offset"),
            "{read_err}"
        );
    }
);

//! The workload of the kernel matrix (`cargo xtask kernels`): what sdtrace
//! must see on every kernel, done by one process whose facts (pids, ports,
//! cgroup ids, counts) it prints as one JSON line, so that the host can check
//! sdtrace's capture of it event by event.
//!
//!     kernel-smoke run              open, a directory's open, connect/accept, fork+exec+exit,
//!                                   a move into new cgroups, a paced loop
//!     kernel-smoke storm SECONDS    threads exec'ing while others open
//!                                   numbered paths (the PREEMPT_RT check)
//!
//! Runs as root in a bare initramfs as well as on the host: it needs only
//! the standard library, libc and /proc.
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// getppid calls of the paced loop: few enough that no kernel's ring fills.
const LOOP_CALLS: u64 = 10_000;
/// The exit status of the exec'd child.
const CHILD_EXIT: i32 = 7;
/// Where the storm's callers open their numbered paths (never created).
const STORM_DIR: &str = "/tmp/ksmoke-storm";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("run") => run(),
        Some("child") => child(&args[2]),
        Some("cgchild") => cgchild(&args[2]),
        Some("tick") => Ok(()),
        Some("storm") => storm(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10)),
        _ => Err("usage: kernel-smoke run | storm SECONDS".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kernel-smoke: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

fn err(what: &str) -> impl FnOnce(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn run() -> Result<()> {
    let me = std::env::current_exe().map_err(err("current_exe"))?;
    let pid = std::process::id();

    let open_marker = format!("/tmp/ksmoke-open-{pid}");
    fs::write(&open_marker, b"x").map_err(err("open marker"))?;
    // An openat with O_DIRECTORY, whose bit arm64 encodes differently
    // (the matrix checks a capture from each architecture names it alike).
    fs::read_dir("/tmp").map_err(err("read_dir"))?;

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(err("bind"))?;
    let server_port = listener.local_addr().map_err(err("local_addr"))?.port();
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, server_port)).map_err(err("connect"))?;
    let client_port = client.local_addr().map_err(err("local_addr"))?.port();
    let (_served, _) = listener.accept().map_err(err("accept"))?;

    let child_marker = format!("/tmp/ksmoke-child-{pid}");
    fs::write(&child_marker, b"x").map_err(err("child marker"))?;
    let child = Command::new(&me)
        .args(["child", &child_marker])
        .spawn()
        .map_err(err("spawn child"))?;
    let child_pid = child.id();
    let status = child.wait_with_output().map_err(err("wait child"))?.status;
    if status.code() != Some(CHILD_EXIT) {
        return Err(format!("the child ended with {status}"));
    }

    let cg = cgroup_move(&me, pid)?;

    for _ in 0..LOOP_CALLS / 100 {
        for _ in 0..100 {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        }
        std::thread::sleep(Duration::from_micros(500));
    }

    let facts = format!(
        concat!(
            "{{\"pid\":{},\"open\":\"{}\",\"server_port\":{},\"client_port\":{},",
            "\"child_pid\":{},\"child_marker\":\"{}\",\"child_exit\":{},",
            "\"cg_pid\":{},\"cg_marker\":\"{}\",\"cg2_id\":{},\"cg1_id\":{},\"getppid\":{}}}"
        ),
        pid,
        open_marker,
        server_port,
        client_port,
        child_pid,
        child_marker,
        CHILD_EXIT,
        cg.pid,
        cg.marker,
        cg.v2_id,
        cg.v1_id
            .map_or_else(|| "null".to_owned(), |id| id.to_string()),
        LOOP_CALLS,
    );
    println!("{facts}");
    Ok(())
}

fn child(marker: &str) -> Result<()> {
    fs::File::open(marker).map_err(err("child open"))?;
    std::process::exit(CHILD_EXIT);
}

/// Waits for a byte on stdin (its parent has moved it by then), then opens
/// `marker` from its new cgroups.
fn cgchild(marker: &str) -> Result<()> {
    let mut byte = [0u8; 1];
    std::io::stdin()
        .read_exact(&mut byte)
        .map_err(err("cgchild wait"))?;
    fs::File::open(marker).map_err(err("cgchild open"))?;
    Ok(())
}

struct Moved {
    pid: u32,
    marker: String,
    v2_id: u64,
    v1_id: Option<u64>,
}

/// Starts a child, moves it into a new cgroup v2 directory (and a new one in
/// a v1 hierarchy, where there is one), then lets it open a marker.
/// A cgroup's id is its directory's inode number.
fn cgroup_move(me: &Path, pid: u32) -> Result<Moved> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").map_err(err("mountinfo"))?;
    let v2 = mount_of(&mounts, |fstype, _| fstype == "cgroup2")
        .ok_or("no cgroup2 mount (the guest's init mounts one)")?;
    // The v1 hierarchy sdtrace reads ids from: memory's, else pids' (its
    // order of preference begins so; the guests mount one of the two).
    let v1 = ["memory", "pids"].iter().find_map(|controller| {
        mount_of(&mounts, |fstype, opts| {
            fstype == "cgroup" && opts.split(',').any(|o| o == *controller)
        })
    });
    let name = format!("ksmoke-{pid}");
    let marker = format!("/tmp/ksmoke-cgroup-{pid}");
    fs::write(&marker, b"x").map_err(err("cgroup marker"))?;

    let mut child = Command::new(me)
        .args(["cgchild", &marker])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(err("spawn cgchild"))?;
    let child_pid = child.id();
    let enter = |root: &Path| -> Result<u64> {
        let dir = root.join(&name);
        fs::create_dir_all(&dir).map_err(err("mkdir cgroup"))?;
        fs::write(dir.join("cgroup.procs"), child_pid.to_string()).map_err(err("cgroup.procs"))?;
        Ok(fs::metadata(&dir).map_err(err("stat cgroup"))?.ino())
    };
    let v2_id = enter(&v2)?;
    let v1_id = v1.as_deref().map(enter).transpose()?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"go")
        .map_err(err("release cgchild"))?;
    let status = child.wait().map_err(err("wait cgchild"))?;
    if !status.success() {
        return Err(format!("the cgroup child ended with {status}"));
    }
    // Empty now: removable, so a second run starts clean.
    let _ = fs::remove_dir(v2.join(&name));
    if let Some(v1) = &v1 {
        let _ = fs::remove_dir(v1.join(&name));
    }
    Ok(Moved {
        pid: child_pid,
        marker,
        v2_id,
        v1_id,
    })
}

/// The mount point of the first mount whose type and super options pass.
fn mount_of(mountinfo: &str, want: impl Fn(&str, &str) -> bool) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut r = right.split_whitespace();
        let (fstype, _source, opts) = (r.next()?, r.next()?, r.next().unwrap_or(""));
        if !want(fstype, opts) {
            return None;
        }
        Some(PathBuf::from(left.split_whitespace().nth(4)?))
    })
}

/// Two threads exec a short-lived child over and over while two others open
/// `STORM_DIR/<tid>/<n>` for `seconds`: a record assembled in a per-CPU slot
/// by one program and overwritten by another would show a path that does
/// not match its thread, or a command line that is not a tick's.
fn storm(seconds: u64) -> Result<()> {
    let me = std::env::current_exe().map_err(err("current_exe"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let opens = Arc::new(AtomicU64::new(0));
    let execs = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (stop, opens) = (stop.clone(), opens.clone());
        threads.push(std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = fs::File::open(format!("{STORM_DIR}/{tid}/{n}"));
                n += 1;
                // Bursts, not a flood: at most ~10 000 a second, so that
                // what the host checks stays a few megabytes.
                if n.is_multiple_of(20) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            opens.fetch_add(n, Ordering::Relaxed);
        }));
    }
    for _ in 0..2 {
        let (stop, execs, me) = (stop.clone(), execs.clone(), me.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tick = format!("{n}");
                if Command::new(&me)
                    .args(["tick", &tick])
                    .status()
                    .is_ok_and(|s| s.success())
                {
                    n += 1;
                }
            }
            execs.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| "a storm thread panicked".to_owned())?;
    }
    println!(
        "{{\"storm_dir\":\"{STORM_DIR}\",\"storm_opens\":{},\"storm_execs\":{}}}",
        opens.load(Ordering::Relaxed),
        execs.load(Ordering::Relaxed)
    );
    Ok(())
}

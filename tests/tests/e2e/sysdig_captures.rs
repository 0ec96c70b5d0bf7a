//! `-r` on captures sysdig wrote: libscap's state blocks and enter and
//! exit events, in the block versions of the libscap that wrote them. For
//! each exit event (and procexit) sdtrace prints the number, process,
//! parent, type, fd name and result Debian's sysdig 0.29 prints; where the
//! two differ the difference is one listed here, with its reason. `follow`
//! stitches the connection such a capture holds.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use tests::sysdig::without_unix_addresses;
use tests::{require_binary, require_program, TempDir};

const FORMAT: &str =
    "*%evt.num %proc.name %proc.pname %evt.type %fd.name %evt.res %proc.pid %thread.tid";
/// sysdig prints enter and exit events; sdtrace one line per syscall, the
/// exit's (procexit is an enter event in scap).
const SYSDIG_SCOPE: &str = "evt.dir=< or evt.type=procexit";
/// Where fields are in a line of [`FORMAT`].
const PNAME: usize = 2;
const FD_NAME: usize = 4;
const PID: usize = 6;
const TID: usize = 7;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/sysdig")
        .join(name)
}

struct Run {
    lines: Vec<String>,
    ok: bool,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        lines: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sdtrace(bin: &Path, file: &Path) -> Run {
    run(Command::new(bin)
        .arg("-r")
        .arg(file)
        .args(["--stats-interval", "0", "-p", FORMAT]))
}

fn sysdig(sysdig: &Path, file: &Path) -> Run {
    run(Command::new(sysdig)
        .arg("-r")
        .arg(file)
        .args(["-p", FORMAT, SYSDIG_SCOPE]))
}

/// Why sdtrace's line differs from sysdig's, when every difference is a
/// known one: the parent of a thread, and the fd name in these ways.
fn documented(ours: &str, theirs: &str) -> Option<Vec<&'static str>> {
    let (mut o, t): (Vec<&str>, Vec<&str>) =
        (ours.split(' ').collect(), theirs.split(' ').collect());
    if o.len() != t.len() {
        return None;
    }
    let mut why = Vec::new();
    if o[PNAME] != t[PNAME] && o[PID] != o[TID] {
        why.push(
            "a thread other than its process's first: sysdig's proc.pname is the thread that \
             created it, sdtrace's the process's parent",
        );
        o[PNAME] = t[PNAME];
    }
    if (0..o.len()).any(|i| i != FD_NAME && o[i] != t[i]) {
        return None;
    }
    let ty = o[3];
    match (o[FD_NAME], t[FD_NAME]) {
        (a, b) if a == b => {}
        ("<NA>", "") => why.push(
            "an fd the file never described (opened before the capture by a process its \
             process list lacks), or a pipe's at its creation: sysdig prints an empty name, \
             sdtrace that it does not know",
        ),
        ("", path) if ty == "connect" && path.starts_with('/') => why.push(
            "a unix connect that failed: sysdig names the fd from the file's tuple at the \
             connect, sdtrace from the connect on",
        ),
        (path, "") if path.starts_with('/') || path == "pipe" => why.push(
            "an fd sysdig 0.29 leaves unnamed after a failed unix connect or an old-layout \
             pipe; sdtrace keeps the path or says pipe",
        ),
        _ => return None,
    }
    Some(why)
}

/// Compares line by line; returns the documented differences by reason.
fn compare(ours: &[String], theirs: &[String]) -> Result<Vec<(&'static str, usize)>, String> {
    let theirs: Vec<String> = theirs.iter().map(|l| without_unix_addresses(l)).collect();
    if ours.len() != theirs.len() {
        let n = |l: &str| l.split(' ').next().unwrap_or("").to_owned();
        let first = ours
            .iter()
            .zip(&theirs)
            .find(|(a, b)| n(a) != n(b))
            .map(|(a, b)| format!("\nsdtrace: {a}\nsysdig:  {b}"));
        return Err(format!(
            "{} lines from sdtrace, {} from sysdig{}",
            ours.len(),
            theirs.len(),
            first.unwrap_or_default()
        ));
    }
    let mut reasons: Vec<(&'static str, usize)> = Vec::new();
    for (o, t) in ours.iter().zip(&theirs) {
        if o == t {
            continue;
        }
        let whys =
            documented(o, t).ok_or_else(|| format!("lines differ:\nsdtrace: {o}\nsysdig:  {t}"))?;
        for why in whys {
            match reasons.iter_mut().find(|(r, _)| *r == why) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        }
    }
    Ok(reasons)
}

/// sdtrace's binary and sysdig's, or `None` (said) when one is missing.
fn sdtrace_and_sysdig(test: &str) -> Option<(PathBuf, PathBuf)> {
    Some((require_binary(test)?, require_program(test, "sysdig")?))
}

#[test]
fn sysdigs_captures_read_as_sysdig_reads_them() {
    let Some((bin, sysdig_bin)) = sdtrace_and_sysdig("sysdigs_captures_read_as_sysdig_reads_them")
    else {
        return;
    };
    let (mut lines, mut fd_names) = (0, 0);
    for (file, at_least) in [("curl_google.scap", 590), ("single_ipv6_conn.scap", 14)] {
        let path = capture(file);
        let (ours, theirs) = (sdtrace(&bin, &path), sysdig(&sysdig_bin, &path));
        assert!(ours.ok, "sdtrace -r {file}: {}", ours.stderr);
        assert!(theirs.ok, "sysdig -r {file}: {}", theirs.stderr);
        assert!(ours.lines.len() >= at_least, "{file}: {:?}", ours.lines);
        let reasons = compare(&ours.lines, &theirs.lines).unwrap_or_else(|e| panic!("{file}: {e}"));
        eprintln!(
            "{file}: {} lines compared; documented differences: {reasons:#?}",
            ours.lines.len()
        );
        lines += ours.lines.len();
        fd_names += reasons
            .iter()
            .filter(|(r, _)| !r.starts_with("a thread"))
            .map(|(_, n)| n)
            .sum::<usize>();
    }
    // The threads' parent aside, differences stay a corner.
    assert!(
        fd_names * 20 < lines,
        "documented fd name differences: {fd_names} of {lines} lines"
    );
}

/// The same capture with comment options (pcapng's, added by Wireshark's
/// editcap): sysdig 0.29 cannot read its section header; sdtrace reads it
/// as the capture without comments.
#[test]
fn a_capture_with_comments_reads_as_without_them() {
    let Some((bin, sysdig_bin)) =
        sdtrace_and_sysdig("a_capture_with_comments_reads_as_without_them")
    else {
        return;
    };
    let commented = sdtrace(&bin, &capture("curl_google_comments.scap"));
    let plain = sdtrace(&bin, &capture("curl_google.scap"));
    assert!(commented.ok, "{}", commented.stderr);
    assert_eq!(commented.lines, plain.lines);
    let theirs = sysdig(&sysdig_bin, &capture("curl_google_comments.scap"));
    assert!(
        !theirs.ok && theirs.stderr.contains("truncated"),
        "sysdig 0.29 refuses the commented file: {:?}",
        theirs.stderr
    );
}

/// A file cut inside a block: both read the events before the cut; sdtrace
/// then says where the file stops making sense.
#[test]
fn a_cut_capture_reads_to_its_last_whole_block() {
    let Some((bin, sysdig_bin)) = sdtrace_and_sysdig("a_cut_capture_reads_to_its_last_whole_block")
    else {
        return;
    };
    let dir = TempDir::new("sysdig-cut");
    let whole = Command::new("gzip")
        .arg("-dc")
        .arg(capture("curl_google.scap"))
        .output()
        .unwrap()
        .stdout;
    let cut = dir.path().join("cut.scap");
    fs::write(&cut, &whole[..100_000]).unwrap();
    let (ours, theirs) = (sdtrace(&bin, &cut), sysdig(&sysdig_bin, &cut));
    assert!(!ours.ok && !theirs.ok, "a cut file is an error for both");
    assert!(
        ours.stderr.contains("truncated block at offset 99992"),
        "sdtrace names the offset: {}",
        ours.stderr
    );
    assert!(ours.lines.len() > 200, "{:?}", ours.lines);
    compare(&ours.lines, &theirs.lines).unwrap();
}

/// `follow -r` on sysdig's capture of one IPv6 connection: the client's
/// connect and the server's accept stitched into one trace.
#[test]
fn follow_reads_a_sysdig_capture() {
    let name = "follow_reads_a_sysdig_capture";
    let Some(bin) = require_binary(name) else {
        return;
    };
    let out = Command::new(&bin)
        .args(["follow", "-r"])
        .arg(capture("single_ipv6_conn.scap"))
        .args(["--conn", "[2001:db8::3]:1234"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("trace 1: [25888] [2001:db8::4]:54405->[2001:db8::3]:1234"),
        "{text}"
    );
    for what in [
        "accept fd=4",
        "connect res=-115(EINPROGRESS)",
        "data=this is a test.",
    ] {
        assert!(text.contains(what), "{what} in:\n{text}");
    }
    assert!(text.contains("hop 1: [25886]: accepted"), "{text}");
}

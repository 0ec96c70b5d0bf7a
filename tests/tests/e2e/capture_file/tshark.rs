//! A second reader of our captures: Debian's `tshark` (Wireshark 4.0's
//! sysdig event dissector, which shares no code with libscap or sdtrace)
//! opens them and shows one "Sysdig Event" frame per event block. Frame
//! numbers are sysdig's event numbers (both count sdtrace's internal
//! carrier events), so every event `sdtrace -r` prints is tshark's frame of
//! the same number: same syscall, thread and time, its enter event just
//! before it, and for a few kinds of event the same decoded parameters.
use std::{collections::BTreeSet, fs, path::Path, process::Command};

use serde_json::Value;
use tests::{e2e, recorder, require_program, TempDir};
use tracer::scap::{
    block::EVENT_V2,
    event::{self, CARRIER},
};
use tracer_common::syscall_names::SYSCALL_NAMES;

use super::{record_workload, Recorded, BASE_FILTER, SYSDIG_EVENT_NAMES};

/// The fields asked of tshark, in the order [`Frame::parse`] reads them.
/// The parameter fields are Wireshark 4.0's names: its generator named each
/// shared parameter field after one event that has it (`openat2.name` is
/// every event's `name`, `ptrace.data` every `data`).
const FIELDS: &[&str] = &[
    "frame.number",
    "frame.time_epoch",
    "sysdig.event_type",
    "sysdig.thread_id",
    "_ws.col.Info",
    "sysdig.param.openat2.fd",
    "sysdig.param.openat2.name",
    "sysdig.param.accept.tuple",
    "sysdig.param.execve.comm",
    "sysdig.param.ptrace.data",
    "sysdig.param.syscall.nativeID",
];

/// One frame as tshark decoded it.
#[derive(Debug)]
struct Frame {
    /// Seconds since the epoch, nanoseconds after the point.
    time: String,
    code: u16,
    tid: u64,
    /// The event's name, the Info column's first word.
    name: String,
    fd: Option<i64>,
    path: Option<Vec<u8>>,
    tuple: Option<Vec<u8>>,
    comm: Option<String>,
    data: Option<Vec<u8>>,
    /// A generic event's native syscall number.
    native: Option<usize>,
}

impl Frame {
    fn parse(line: &str, expect_number: usize) -> Self {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), FIELDS.len(), "one column per field: {line:?}");
        assert_eq!(
            f[0].parse::<usize>().ok(),
            Some(expect_number),
            "frames in order: {line:?}"
        );
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            time: f[1].to_owned(),
            code: f[2].parse().unwrap_or_else(|e| panic!("{e}: {line:?}")),
            tid: f[3].parse().unwrap_or_else(|e| panic!("{e}: {line:?}")),
            name: f[4].split(',').next().unwrap_or("").trim().to_owned(),
            fd: f[5].parse().ok(),
            path: some(f[6]).map(|h| hex(&h)),
            tuple: some(f[7]).map(|h| hex(&h)),
            comm: some(f[8]),
            data: some(f[9]).map(|h| hex(&h)),
            native: f[10].parse().ok(),
        }
    }

    fn is_carrier(&self) -> bool {
        self.code == CARRIER
    }
}

/// Bytes from tshark's hex (`2f6574` or `2f:65:74`; `<MISSING>` for a
/// parameter of length 0).
fn hex(s: &str) -> Vec<u8> {
    if s == "<MISSING>" {
        return Vec::new();
    }
    let digits: Vec<u8> = s.bytes().filter(|&c| c != b':').collect();
    digits
        .chunks(2)
        .map(|p| {
            let p = std::str::from_utf8(p).expect("ascii hex");
            u8::from_str_radix(p, 16).unwrap_or_else(|e| panic!("{e}: {s:?}"))
        })
        .collect()
}

/// The file's event blocks, walked apart from any reader: (all, carriers).
fn event_blocks(file: &Path) -> (usize, usize) {
    let bytes = fs::read(file).unwrap();
    let (mut at, mut all, mut carriers) = (0, 0, 0);
    while at + 8 <= bytes.len() {
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let (ty, len) = (word(at), word(at + 4) as usize);
        assert!(len >= 12, "block at {at} has length {len}");
        if ty == EVENT_V2 {
            all += 1;
            // Block header 8, then cpu 2, ts 8, tid 8, len 4, type 2.
            let code = u16::from_le_bytes(bytes[at + 30..at + 32].try_into().unwrap());
            carriers += usize::from(code == CARRIER);
        }
        at += len;
    }
    assert_eq!(at, bytes.len(), "whole blocks to the end");
    (all, carriers)
}

/// sdtrace's name as this tshark's event table spells it (the names come
/// from libscap's table, as sysdig 0.29's do).
fn scap_name(ours: &str) -> &str {
    SYSDIG_EVENT_NAMES
        .iter()
        .find(|(o, _)| *o == ours)
        .map_or(ours, |(_, theirs)| theirs)
}

/// How tshark names the event sdtrace printed as `ty`.
#[derive(Debug, PartialEq)]
enum Naming {
    /// By its name.
    Same,
    /// As a generic `syscall` whose native number (on the enter event) is `ty`'s.
    Generic,
    /// `Unknown syscall N`: code N is newer than this tshark's event table
    /// (Wireshark 4.0's lacks libscap 0.29's last codes, e.g. mprotect's),
    /// and it is `ty`'s in libscap's table.
    Unknown,
    Other,
}

fn naming(f: &Frame, ty: &str) -> Naming {
    let ty = scap_name(ty);
    if f.name == ty {
        return Naming::Same;
    }
    if f.name == "syscall" {
        return match f.native {
            Some(n) if SYSCALL_NAMES.get(n).map(|s| scap_name(s)) != Some(ty) => Naming::Other,
            _ => Naming::Generic,
        };
    }
    if f.name == format!("Unknown syscall {}", f.code)
        && event::info(f.code).is_some_and(|i| i.name == ty)
    {
        return Naming::Unknown;
    }
    Naming::Other
}

fn str_of<'a>(ev: &'a Value, key: &str) -> &'a str {
    ev.get(key).and_then(Value::as_str).unwrap_or("")
}

fn int_of(ev: &Value, key: &str) -> i64 {
    ev.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{key} in {ev}"))
}

e2e!(tshark_reads_our_capture_as_we_do, |tracer, test| {
    let Some(tshark) = require_program(test, "tshark") else {
        return;
    };
    let dir = TempDir::new("scap-tshark");
    let Recorded {
        file,
        work,
        port,
        stderr,
    } = record_workload(&tracer, &dir, "tshark.scap", &["-c", BASE_FILTER]);
    if let Some(keep) = std::env::var_os("SDTRACE_KEEP_CAPTURE") {
        fs::copy(&file, keep).unwrap();
    }

    let out = Command::new(&tshark)
        .arg("-n")
        .arg("-r")
        .arg(&file)
        .args(["-T", "fields", "-E", "occurrence=f"])
        .args(FIELDS.iter().flat_map(|f| ["-e", f]))
        .output()
        .unwrap();
    let tshark_err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {tshark_err}");
    let frames: Vec<Frame> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .enumerate()
        .map(|(i, l)| Frame::parse(l, i + 1))
        .collect();

    let out = recorder::read(
        &tracer,
        &file,
        &[
            "-j",
            "-p",
            "*%evt.num %evt.rawtime %evt.latency %thread.tid %evt.type %evt.rawres \
             %evt.arg.name %proc.name %fd.sip %fd.sport",
        ],
    );
    assert!(
        out.status.success(),
        "sdtrace -r failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = super::json_lines(&out.stdout);

    // Counts: a frame per event block, and sdtrace reads back every event it wrote.
    let (blocks, carriers) = event_blocks(&file);
    let carrier_frames = frames.iter().filter(|f| f.is_carrier()).count();
    let wrote: usize = stderr
        .iter()
        .find_map(|l| {
            l.strip_prefix("sdtrace: wrote ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("sdtrace -w says how many events it wrote: {stderr:?}"));
    eprintln!(
        "tshark: {} frames ({carrier_frames} of sdtrace's carrier events), {blocks} event blocks \
         in the file, {carriers} of them carriers; sdtrace wrote {wrote} events and -r printed {}",
        frames.len(),
        events.len()
    );
    assert_eq!(frames.len(), blocks, "one tshark frame per event block");
    assert_eq!(
        carrier_frames, carriers,
        "carriers are the frames of type {CARRIER}"
    );
    assert_eq!(events.len(), wrote, "-r prints every event -w wrote");
    assert!(events.len() >= 30, "the workload makes dozens of events");

    // Each event sdtrace prints is the frame of its number, and the frame
    // before it is its enter event when it has one; no other frame is left.
    let mut claimed = BTreeSet::new();
    let mut failures = Vec::new();
    let mut generic = 0;
    let mut unknown = BTreeSet::new();
    let at = |ns: u64| format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    for ev in &events {
        let num = usize::try_from(int_of(ev, "evt.num")).unwrap();
        let ty = str_of(ev, "evt.type");
        let Some(exit) = num.checked_sub(1).and_then(|i| frames.get(i)) else {
            failures.push(format!("event {num} ({ty}) has no frame"));
            continue;
        };
        claimed.insert(num);
        let raw = u64::try_from(int_of(ev, "evt.rawtime")).unwrap();
        let tid = u64::try_from(int_of(ev, "thread.tid")).unwrap();
        let exit_named = naming(exit, ty);
        if exit_named == Naming::Other || exit.tid != tid || exit.time != at(raw) {
            failures.push(format!(
                "event {num}: sdtrace {ty} tid {tid} at {}, tshark {exit:?}",
                at(raw)
            ));
            continue;
        }
        if exit_named == Naming::Unknown {
            unknown.insert(format!("{ty} ({})", exit.code));
        }
        let enter = frames
            .get(num.wrapping_sub(2))
            .filter(|f| !f.is_carrier() && !claimed.contains(&(num - 1)));
        let Some(enter) = enter.filter(|f| f.tid == tid && naming(f, ty) != Naming::Other) else {
            continue;
        };
        claimed.insert(num - 1);
        let latency = u64::try_from(int_of(ev, "evt.latency")).unwrap();
        if enter.code + 1 != exit.code || enter.time != at(raw - latency) {
            failures.push(format!(
                "event {num}: enter {enter:?} does not pair with exit {exit:?} (latency {latency})"
            ));
        }
        // A generic enter event names the syscall by its native number.
        if enter.name == "syscall" {
            generic += 1;
            if enter.native.is_none() {
                failures.push(format!(
                    "event {num}: generic {ty} without its number: {enter:?}"
                ));
            }
        }
    }
    for (i, f) in frames.iter().enumerate() {
        if !f.is_carrier() && !claimed.contains(&(i + 1)) {
            failures.push(format!(
                "frame {} is no event sdtrace printed: {f:?}",
                i + 1
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Decoded parameters of a few kinds of event.
    let frame_of = |ev: &Value| &frames[usize::try_from(int_of(ev, "evt.num")).unwrap() - 1];
    let of_type = |t: &'static str| events.iter().filter(move |e| str_of(e, "evt.type") == t);
    let mut opens = 0;
    for ev in of_type("openat") {
        let f = frame_of(ev);
        let mut name = str_of(ev, "evt.arg.name").as_bytes().to_vec();
        name.push(0);
        assert_eq!(
            f.fd,
            Some(int_of(ev, "evt.rawres")),
            "openat's fd: {ev} {f:?}"
        );
        assert_eq!(f.path.as_ref(), Some(&name), "openat's name: {ev} {f:?}");
        opens += 1;
    }
    let marker = work.join("done-marker");
    assert!(
        of_type("openat").any(|e| str_of(e, "evt.arg.name") == marker.to_str().unwrap()),
        "the workload's last open is in the capture"
    );
    let mut execs = 0;
    for ev in of_type("execve").filter(|e| int_of(e, "evt.rawres") == 0) {
        let f = frame_of(ev);
        assert_eq!(
            f.comm.as_deref(),
            Some(str_of(ev, "proc.name")),
            "execve's comm: {f:?}"
        );
        execs += 1;
    }
    let connect = of_type("connect")
        .find(|e| e.get("fd.sport").and_then(Value::as_u64) == Some(u64::from(port)))
        .unwrap_or_else(|| panic!("the workload's connect to port {port}"));
    assert_eq!(str_of(connect, "fd.sip"), "127.0.0.1");
    // AF_INET, source address and port, destination address and port.
    let tuple = frame_of(connect).tuple.clone().expect("connect's tuple");
    assert_eq!(tuple.len(), 13, "an IPv4 tuple: {tuple:?}");
    assert_eq!(tuple[0], 2, "AF_INET");
    assert_eq!(tuple[7..11], [127, 0, 0, 1], "to loopback");
    assert_eq!(
        u16::from_le_bytes([tuple[11], tuple[12]]),
        port,
        "to the listener"
    );
    let ping = of_type("write")
        .find(|e| frame_of(e).data.as_deref() == Some(b"ping\n"))
        .expect("tshark shows the bytes written to the listener");
    assert_eq!(str_of(ping, "proc.name"), "perl");
    assert_eq!(int_of(ping, "evt.rawres"), 5);
    eprintln!(
        "tshark agrees on {} events ({generic} generic; codes it does not name: {unknown:?}), \
         {opens} openat names and fds, {execs} execve commands, the connect's tuple and the \
         written bytes",
        events.len()
    );
    // Anything but its warning about running as root.
    for line in tshark_err
        .lines()
        .filter(|l| !l.starts_with("Running as user"))
    {
        eprintln!("tshark said: {line}");
    }
});

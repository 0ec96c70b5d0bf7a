//! What one kernel's smoke output must show, checked event by event against
//! the facts the workload printed: `sdtrace check` loaded every program, the
//! capture holds the open with its `fd.name`, both ends of a loopback
//! connection with their tuples, the child's fork, exec and exit, the moved
//! child's new cgroup ids, every call of the paced loop and no drop; and the
//! storm's records all decode to what their thread did.

use std::collections::BTreeMap;

use serde_json::Value;

/// The output of `smoke.sh`, by section.
pub(super) struct Sections {
    pub release: Option<String>,
    parts: BTreeMap<String, String>,
    /// The packed sections' bytes (a capture file is not text).
    binary: BTreeMap<String, Vec<u8>>,
}

/// The mark of a section a guest sent gzipped and base64-encoded.
const PACKED: &str = " gzip+base64";

impl Sections {
    pub(super) fn parse(data: &str) -> Self {
        let mut parts: BTreeMap<String, String> = BTreeMap::new();
        let mut release = None;
        let mut current: Option<String> = None;
        for line in data.lines() {
            // The serial port may turn "\n" into "\r\n".
            let line = line.trim_end_matches('\r');
            if let Some(name) = line.strip_prefix("==ksmoke== ") {
                if let Some(r) = name.strip_prefix("kernel ") {
                    release = Some(r.to_owned());
                }
                current = Some(name.to_owned());
                parts.entry(name.to_owned()).or_default();
                continue;
            }
            if let Some(name) = &current {
                let part = parts.entry(name.clone()).or_default();
                part.push_str(line);
                part.push('\n');
            }
        }
        let mut binary = BTreeMap::new();
        let parts = parts
            .into_iter()
            .map(|(name, text)| match name.strip_suffix(PACKED) {
                Some(plain) => {
                    let bytes = unpack(&text);
                    binary.insert(plain.to_owned(), bytes.clone());
                    (
                        plain.to_owned(),
                        String::from_utf8(bytes).unwrap_or_default(),
                    )
                }
                None => (name, text),
            })
            .collect();
        Self {
            release,
            parts,
            binary,
        }
    }

    /// A packed section's bytes (empty when it is missing or does not decode).
    pub(super) fn bytes(&self, name: &str) -> &[u8] {
        self.binary.get(name).map_or(&[], Vec::as_slice)
    }

    pub(super) fn get(&self, name: &str) -> &str {
        self.parts.get(name).map_or("", String::as_str)
    }

    /// Whether the run printed section `name`.
    pub(super) fn has(&self, name: &str) -> bool {
        self.parts.contains_key(name)
    }

    pub(super) fn complete(&self) -> bool {
        self.parts.contains_key("end")
    }

    fn json(&self, name: &str) -> Option<Value> {
        serde_json::from_str(self.get(name).trim()).ok()
    }

    fn events(&self, name: &str) -> Vec<Value> {
        self.get(name)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The verdict on one kernel.
#[derive(Default)]
pub(super) struct Outcome {
    /// The hook `sdtrace check` attached, e.g. `tp_btf/sys_exit`.
    pub hook: String,
    pub fallbacks: Vec<String>,
    /// `sdtrace check`'s load-and-attach time.
    pub load_ms: Option<f64>,
    /// The most instructions one program cost the verifier.
    pub max_insns: Option<u64>,
    /// What was seen, briefly, for the table.
    pub notes: Vec<String>,
    pub failures: Vec<String>,
}

impl Outcome {
    pub(super) fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    fn need(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

/// A gzipped, base64-encoded section's bytes (empty when it does not
/// decode: the checks then say what is missing).
fn unpack(text: &str) -> Vec<u8> {
    use base64::Engine;
    use std::io::Read;
    let compact: String = text.split_whitespace().collect();
    let Ok(gz) = base64::engine::general_purpose::STANDARD.decode(compact) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut out)
        .is_err()
    {
        return Vec::new();
    }
    out
}

fn str_of<'a>(e: &'a Value, key: &str) -> Option<&'a str> {
    e.get(key)?.as_str()
}

fn int_of(e: &Value, key: &str) -> Option<i64> {
    let v = e.get(key)?;
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// Checks everything one kernel's run printed.
pub(super) fn check(s: &Sections) -> Outcome {
    let mut o = Outcome::default();
    if !s.complete() {
        o.failures
            .push("the smoke script did not finish (see the console log)".to_owned());
    }
    check_load(s, &mut o);
    if o.hook.is_empty() {
        return o;
    }
    check_smoke(s, &mut o);
    check_storm(s, &mut o);
    o
}

/// The most instructions one program may cost a kernel's verifier: a
/// quarter of its 1 M limit, since older verifiers prune less (6.1 needed
/// ten times what 6.18 does for the same program).
pub(super) const INSNS_BUDGET: u64 = 250_000;

fn check_load(s: &Sections, o: &mut Outcome) {
    let Some(report) = s.json("check") else {
        let why = s.get("check-stderr").trim();
        o.failures.push(format!("sdtrace check failed: {why}"));
        return;
    };
    o.hook = str_of(&report, "hook").unwrap_or_default().to_owned();
    o.fallbacks = report["fallbacks"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    o.load_ms = report["total_ms"].as_f64();
    o.max_insns = report["programs"]
        .as_array()
        .and_then(|p| p.iter().filter_map(|p| p["verified_insns"].as_u64()).max());
    let programs = report["programs"].as_array().map_or(0, Vec::len);
    o.need(programs > 0, || {
        "sdtrace check loaded no program".to_owned()
    });
    let max = o.max_insns;
    o.need(max.is_none_or(|n| n <= INSNS_BUDGET), || {
        format!(
            "a program cost the verifier {max:?} instructions, over the budget of {INSNS_BUDGET}"
        )
    });
}

fn check_smoke(s: &Sections, o: &mut Outcome) {
    let Some(facts) = s.json("smoke-facts") else {
        o.failures.push(format!(
            "kernel-smoke run printed no facts: {}",
            s.get("smoke-facts-stderr").trim()
        ));
        return;
    };
    let events = s.events("smoke-events");
    let fact = |k: &str| int_of(&facts, k);
    let text = |k: &str| str_of(&facts, k).unwrap_or_default().to_owned();
    let find = |pred: &dyn Fn(&Value) -> bool| events.iter().find(|e| pred(e));
    let is = |e: &Value, ty: &str, pid: Option<i64>| {
        str_of(e, "evt.type") == Some(ty) && pid.is_some() && int_of(e, "proc.pid") == pid
    };
    let pid = fact("pid");

    let open = text("open");
    o.need(
        find(&|e| is(e, "openat", pid) && str_of(e, "fd.name") == Some(open.as_str())).is_some(),
        || format!("no openat of {open} with its fd.name"),
    );

    let (server, client) = (fact("server_port"), fact("client_port"));
    o.need(
        find(&|e| {
            is(e, "connect", pid)
                && int_of(e, "fd.sport") == server
                && str_of(e, "fd.sip") == Some("127.0.0.1")
        })
        .is_some(),
        || format!("no connect to 127.0.0.1:{server:?} with its tuple"),
    );
    o.need(
        find(&|e| {
            (is(e, "accept", pid) || is(e, "accept4", pid))
                && int_of(e, "fd.cport") == client
                && int_of(e, "fd.sport") == server
        })
        .is_some(),
        || format!("no accept from port {client:?} with its tuple"),
    );

    let child = fact("child_pid");
    o.need(
        find(&|e| {
            is(e, "execve", child)
                && int_of(e, "evt.rawres") == Some(0)
                && int_of(e, "proc.ppid") == pid
                && str_of(e, "proc.cmdline").is_some_and(|c| c.contains(" child "))
        })
        .is_some(),
        || format!("no execve of the child {child:?} with its parent and command line"),
    );
    let child_marker = text("child_marker");
    o.need(
        find(&|e| {
            is(e, "openat", child)
                && int_of(e, "proc.ppid") == pid
                && str_of(e, "fd.name") == Some(child_marker.as_str())
        })
        .is_some(),
        || format!("no openat of {child_marker} by the exec'd child"),
    );
    o.need(find(&|e| is(e, "procexit", child)).is_some(), || {
        format!("no procexit of the child {child:?}")
    });

    let cg_pid = fact("cg_pid");
    let cg_marker = text("cg_marker");
    let (v2, v1) = (fact("cg2_id"), fact("cg1_id"));
    let moved =
        find(&|e| is(e, "openat", cg_pid) && str_of(e, "fd.name") == Some(cg_marker.as_str()));
    match moved {
        None => o
            .failures
            .push(format!("no openat of {cg_marker} by the moved child")),
        Some(e) => {
            o.need(int_of(e, "cgroup.id") == v2, || {
                format!(
                    "the moved child's cgroup.id is {:?}, its new cgroup v2 is {v2:?}",
                    int_of(e, "cgroup.id")
                )
            });
            if v1.is_some() {
                o.need(int_of(e, "cgroup.v1id") == v1, || {
                    format!(
                        "the moved child's cgroup.v1id is {:?}, its new v1 cgroup is {v1:?}",
                        int_of(e, "cgroup.v1id")
                    )
                });
            }
        }
    }

    let want = fact("getppid").unwrap_or(0);
    let seen = events.iter().filter(|e| is(e, "getppid", pid)).count() as i64;
    o.need(seen == want, || {
        format!("{seen} of {want} getppid calls seen")
    });
    check_stats(s.json("smoke-stats").as_ref(), "smoke", o);
    o.notes.push(format!(
        "open, connect/accept, fork/exec/exit, cgroup v2{}, {seen}/{want} getppid",
        if v1.is_some() { "+v1" } else { "" }
    ));
}

/// 0 drops, 0 undecodable records, 0 records without their captures.
fn check_stats(stats: Option<&Value>, name: &str, o: &mut Outcome) {
    let Some(stats) = stats else {
        o.failures
            .push(format!("the {name} capture wrote no statistics"));
        return;
    };
    for key in ["dropped", "decode_errors", "stage_misses"] {
        let n = stats[key].as_u64();
        o.need(n == Some(0), || format!("{name}: {key} = {n:?}"));
    }
}

fn check_storm(s: &Sections, o: &mut Outcome) {
    let Some(facts) = s.json("storm-facts") else {
        o.failures.push(format!(
            "kernel-smoke storm printed no facts: {}",
            s.get("storm-facts-stderr").trim()
        ));
        return;
    };
    let dir = format!("{}/", str_of(&facts, "storm_dir").unwrap_or("/nonexistent"));
    let (mut opens, mut execs, mut wrong) = (0i64, 0i64, Vec::new());
    for e in s.events("storm-events") {
        let tid = int_of(&e, "thread.tid");
        match str_of(&e, "evt.type") {
            Some("openat") => {
                let name = str_of(&e, "fd.name").unwrap_or_default();
                let Some(rest) = name.strip_prefix(dir.as_str()) else {
                    continue;
                };
                opens += 1;
                let named = rest.split('/').next().and_then(|t| t.parse::<i64>().ok());
                let numbered = rest
                    .split('/')
                    .nth(1)
                    .is_some_and(|n| n.parse::<u64>().is_ok());
                if named != tid || !numbered {
                    wrong.push(format!("thread {tid:?} opened {name}"));
                }
            }
            Some("execve") => {
                let cmdline = str_of(&e, "proc.cmdline").unwrap_or_default();
                let words: Vec<&str> = cmdline.split(' ').collect();
                match words.as_slice() {
                    [_, "tick", n] if n.parse::<u64>().is_ok() => execs += 1,
                    [_, "storm", _] => {}
                    _ => wrong.push(format!("an execve with the command line {cmdline:?}")),
                }
            }
            _ => {}
        }
    }
    let want_opens = int_of(&facts, "storm_opens").unwrap_or(-1);
    let want_execs = int_of(&facts, "storm_execs").unwrap_or(-1);
    o.need(wrong.is_empty(), || {
        format!(
            "storm: {} records decoded wrong, e.g. {}",
            wrong.len(),
            wrong.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        )
    });
    o.need(opens == want_opens && execs == want_execs, || {
        format!("storm: saw {opens} of {want_opens} opens and {execs} of {want_execs} execs")
    });
    check_stats(s.json("storm-stats").as_ref(), "storm", o);
    o.notes.push(format!(
        "storm {opens} opens + {execs} execs, {} wrong",
        wrong.len()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &str, storm: &str) -> String {
        format!(
            "noise\n==ksmoke== kernel 6.1.0-57-amd64\n\
             ==ksmoke== check\n\
             {{\"kernel\":\"6.1.0-57-amd64\",\"hook\":\"tp_btf/sys_exit\",\"fallbacks\":[],\
               \"programs\":[{{\"name\":\"sys_exit_btf\",\"kind\":\"tp_btf\",\"load_ms\":1.0,\"verified_insns\":3000}}],\"total_ms\":240.0}}\n\
             ==ksmoke== smoke-facts\n\
             {{\"pid\":10,\"open\":\"/tmp/o\",\"server_port\":5000,\"client_port\":6000,\"child_pid\":11,\
               \"child_marker\":\"/tmp/c\",\"child_exit\":7,\"cg_pid\":12,\"cg_marker\":\"/tmp/g\",\
               \"cg2_id\":100,\"cg1_id\":200,\"getppid\":2}}\n\
             ==ksmoke== smoke-events\n{events}\
             ==ksmoke== smoke-stats\n{{\"dropped\":0,\"decode_errors\":0,\"stage_misses\":0}}\n\
             ==ksmoke== storm-facts\n{{\"storm_dir\":\"/tmp/s\",\"storm_opens\":2,\"storm_execs\":1}}\n\
             ==ksmoke== storm-events\n{storm}\
             ==ksmoke== storm-stats\n{{\"dropped\":0,\"decode_errors\":0,\"stage_misses\":0}}\n\
             ==ksmoke== end\n"
        )
    }

    const GOOD_EVENTS: &str = r#"{"evt.type":"openat","proc.pid":10,"fd.name":"/tmp/o"}
{"evt.type":"connect","proc.pid":10,"fd.sport":5000,"fd.sip":"127.0.0.1"}
{"evt.type":"accept4","proc.pid":10,"fd.cport":6000,"fd.sport":5000}
{"evt.type":"execve","proc.pid":11,"proc.ppid":10,"evt.rawres":0,"proc.cmdline":"kernel-smoke child /tmp/c"}
{"evt.type":"openat","proc.pid":11,"proc.ppid":10,"fd.name":"/tmp/c"}
{"evt.type":"procexit","proc.pid":11}
{"evt.type":"openat","proc.pid":12,"fd.name":"/tmp/g","cgroup.id":100,"cgroup.v1id":200}
{"evt.type":"getppid","proc.pid":10}
{"evt.type":"getppid","proc.pid":10}
"#;

    const GOOD_STORM: &str = r#"{"thread.tid":"21","evt.type":"openat","fd.name":"/tmp/s/21/0"}
{"thread.tid":"22","evt.type":"openat","fd.name":"/tmp/s/22/0"}
{"thread.tid":"23","evt.type":"execve","proc.cmdline":"kernel-smoke tick 0"}
{"thread.tid":"20","evt.type":"execve","proc.cmdline":"kernel-smoke storm 6"}
"#;

    #[test]
    fn a_complete_run_passes() {
        let o = check(&Sections::parse(&run(GOOD_EVENTS, GOOD_STORM)));
        assert!(o.passed(), "{:?}", o.failures);
        assert_eq!(o.hook, "tp_btf/sys_exit");
        assert_eq!(o.max_insns, Some(3000));
        assert_eq!(o.load_ms, Some(240.0));
    }

    #[test]
    fn each_missing_event_is_named() {
        let events = GOOD_EVENTS
            .lines()
            .filter(|l| !l.contains("procexit") && !l.contains("\"getppid\""))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .replace("\"cgroup.id\":100", "\"cgroup.id\":1");
        let o = check(&Sections::parse(&run(&events, GOOD_STORM)));
        let all = o.failures.join("\n");
        assert!(all.contains("no procexit of the child Some(11)"), "{all}");
        assert!(all.contains("0 of 2 getppid"), "{all}");
        assert!(all.contains("cgroup.id is Some(1)"), "{all}");
        assert_eq!(o.failures.len(), 3, "{all}");
    }

    #[test]
    fn a_storm_record_of_another_thread_fails() {
        let storm = GOOD_STORM.replace(
            "\"22\",\"evt.type\":\"openat\"",
            "\"21\",\"evt.type\":\"openat\"",
        );
        let o = check(&Sections::parse(&run(GOOD_EVENTS, &storm)));
        let all = o.failures.join("\n");
        assert!(all.contains("1 records decoded wrong"), "{all}");
        assert!(all.contains("thread Some(21) opened /tmp/s/22/0"), "{all}");
    }

    #[test]
    fn packed_sections_are_unpacked() {
        use base64::Engine;
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"a\":1}\n").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let (head, tail) = b64.split_at(b64.len() / 2);
        let text = format!("==ksmoke== check gzip+base64\n{head}\r\n{tail}\n==ksmoke== end\n");
        let s = Sections::parse(&text);
        assert_eq!(s.get("check"), "{\"a\":1}\n");
        assert!(s.complete());
    }

    #[test]
    fn a_program_over_the_instruction_budget_fails() {
        let text = run(GOOD_EVENTS, GOOD_STORM)
            .replace("\"verified_insns\":3000", "\"verified_insns\":250001");
        let o = check(&Sections::parse(&text));
        assert_eq!(o.failures.len(), 1, "{:?}", o.failures);
        assert!(
            o.failures[0].contains("over the budget of 250000"),
            "{:?}",
            o.failures
        );
    }

    #[test]
    fn an_unfinished_run_fails() {
        let text = run(GOOD_EVENTS, GOOD_STORM).replace("==ksmoke== end\n", "");
        assert!(!check(&Sections::parse(&text)).passed());
        let o = check(&Sections::parse(
            "==ksmoke== kernel 5.10\n==ksmoke== check-stderr\nrefused\n",
        ));
        assert!(o
            .failures
            .iter()
            .any(|f| f.contains("sdtrace check failed")));
    }
}

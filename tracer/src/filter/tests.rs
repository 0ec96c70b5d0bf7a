//! Parser, checker, evaluator and push-down tests, with property tests for
//! "no input panics", "printing re-parses to the same tree" and "the
//! push-down never drops an event the filter accepts".

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;

use proptest::prelude::*;
use tracer_common::syscall_names::{nr, SYSCALL_NAMES};

use super::*;
use crate::fields::{FieldArg, FieldId, FieldRef, Value};

/// A mock event: the fields the tests filter on.
#[derive(Clone, Debug)]
struct Ev {
    /// `None` for a procexit record.
    nr: Option<u32>,
    pid: u32,
    name: String,
    fd_name: Option<String>,
    res: &'static str,
    rawres: i64,
    latency: Option<u64>,
    cip: Option<IpAddr>,
    sport: Option<u64>,
    ancestors: Vec<&'static str>,
    arg_fd: Option<i64>,
    cgroup: u64,
    cwd: Option<&'static str>,
    exepath: Option<&'static str>,
    buffer: Option<&'static [u8]>,
}

impl Ev {
    fn syscall(nr: u16, pid: u32, name: &str) -> Ev {
        Ev {
            nr: Some(u32::from(nr)),
            pid,
            name: name.to_owned(),
            fd_name: None,
            res: "SUCCESS",
            rawres: 0,
            latency: None,
            cip: None,
            sport: None,
            ancestors: Vec::new(),
            arg_fd: None,
            cgroup: 1,
            cwd: None,
            exepath: None,
            buffer: None,
        }
    }

    fn type_name(&self) -> Cow<'_, str> {
        match self.nr {
            None => PROCEXIT.into(),
            Some(n) => match SYSCALL_NAMES.get(n as usize) {
                Some(name) if !name.is_empty() => (*name).into(),
                _ => format!("syscall_{n}").into(),
            },
        }
    }
}

impl FieldSource for Ev {
    fn value(&mut self, field: &FieldRef) -> Option<Value<'_>> {
        Some(match (field.id, &field.arg) {
            (FieldId::EvtType, _) => Value::Str(self.type_name()),
            (FieldId::ProcPid, _) => Value::U64(u64::from(self.pid)),
            (FieldId::ProcName, _) => Value::Str(Cow::Borrowed(&self.name)),
            (FieldId::FdName, _) => Value::Str(Cow::Borrowed(self.fd_name.as_deref()?)),
            (FieldId::EvtRes, _) => Value::Str(Cow::Borrowed(self.res)),
            (FieldId::EvtRawres, _) => Value::I64(self.rawres),
            (FieldId::EvtFailed, _) => Value::Bool(self.rawres < 0),
            (FieldId::EvtLatency, _) => Value::U64(self.latency?),
            (FieldId::FdCip, _) => Value::Ip(self.cip?),
            (FieldId::FdSport, _) => Value::U64(self.sport?),
            (FieldId::ProcPname, _) => Value::Str(Cow::Borrowed(self.ancestors.first()?)),
            (FieldId::ProcAname, FieldArg::Index(0)) => Value::Str(Cow::Borrowed(&self.name)),
            (FieldId::ProcAname, FieldArg::Index(i)) => Value::Str(Cow::Borrowed(
                self.ancestors.get(usize::try_from(*i - 1).ok()?)?,
            )),
            (FieldId::EvtArg, FieldArg::Name(n)) if n == "fd" => Value::I64(self.arg_fd?),
            (FieldId::CgroupId, _) => Value::U64(self.cgroup),
            (FieldId::ProcCwd, _) => Value::Str(Cow::Borrowed(self.cwd?)),
            (FieldId::ProcExepath, _) => Value::Str(Cow::Borrowed(self.exepath?)),
            (FieldId::EvtBuffer, _) => Value::Bytes(Cow::Borrowed(self.buffer?)),
            _ => return None,
        })
    }
}

fn parse(src: &str) -> Filter {
    Filter::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse:\n{e}"))
}

fn errors(src: &str) -> FilterErrors {
    match Filter::parse(src) {
        Ok(f) => panic!("{src:?} should not parse, got {f}"),
        Err(e) => e,
    }
}

/// (column, message) of every error.
fn error_list(src: &str) -> Vec<(usize, String)> {
    let errs = errors(src);
    errs.errors
        .iter()
        .map(|e| (errs.column(e), e.kind.to_string()))
        .collect()
}

fn sample() -> Ev {
    let mut ev = Ev::syscall(nr::OPENAT, 1234, "cat");
    ev.fd_name = Some("/etc/passwd".into());
    ev.res = "ENOENT";
    ev.rawres = -2;
    ev.latency = Some(15_000_000);
    ev.cip = Some("10.0.0.1".parse().unwrap());
    ev.sport = Some(443);
    ev.ancestors = vec!["bash", "sshd", "systemd"];
    ev.arg_fd = Some(3);
    ev.cwd = Some("/etc");
    ev.buffer = Some(b"aGVsbG8=");
    ev
}

fn check(src: &str) -> bool {
    parse(src).matches(&mut sample())
}

#[test]
fn every_operator() {
    let cases = [
        ("proc.name = cat", true),
        ("proc.name == cat", true),
        ("proc.name = dog", false),
        ("proc.name != dog", true),
        ("proc.name != cat", false),
        ("proc.pid < 1235", true),
        ("proc.pid < 1234", false),
        ("proc.pid <= 1234", true),
        ("proc.pid > 1233", true),
        ("proc.pid > 1234", false),
        ("proc.pid >= 1234", true),
        ("fd.name contains passw", true),
        ("fd.name contains shadow", false),
        ("fd.name icontains PASSW", true),
        ("fd.name startswith /etc/", true),
        ("fd.name startswith /tmp", false),
        ("fd.name endswith passwd", true),
        ("fd.name glob /etc/*", true),
        ("fd.name glob /e?c/[op]asswd", true),
        ("fd.name glob /tmp/*", false),
        ("evt.type in (open, openat)", true),
        ("evt.type in (read, write)", false),
        ("proc.pid in (1, 1234, 99)", true),
        ("fd.name exists", true),
        ("fd.cip exists", true),
        ("fd.lip exists", false),
        ("evt.rawres < 0", true),
        ("evt.failed = true", true),
        ("evt.failed != false", true),
        ("evt.latency > 10ms", true),
        ("evt.latency > 15ms", false),
        ("evt.latency = 15000000", true),
        ("fd.cip = 10.0.0.1", true),
        ("fd.cip = ::ffff:10.0.0.1", true),
        ("fd.cip in (10.0.0.2, 10.0.0.3)", false),
        ("fd.sport = 443", true),
        ("evt.res = ENOENT", true),
        ("evt.arg.fd = 3", false), // evt.arg is a string field; the mock gives an integer
        ("evt.arg.fd exists", true),
        ("proc.aname[1] = bash", true),
        ("proc.aname[2] = sshd", true),
        ("proc.aname[0] = cat", true),
        ("proc.aname = sshd", true),
        ("proc.aname = init", false),
        ("proc.aname exists", true),
        ("proc.pname = bash", true),
    ];
    for (src, want) in cases {
        assert_eq!(check(src), want, "{src}");
    }
}

#[test]
fn missing_fields_make_comparisons_false() {
    let mut ev = Ev::syscall(nr::GETPID, 1, "init");
    for src in [
        "fd.name = x",
        "fd.name != x",
        "fd.name contains x",
        "fd.name exists",
        "proc.aname = x",
        "proc.aname != x",
    ] {
        assert!(!parse(src).matches(&mut ev), "{src}");
    }
    for src in ["not fd.name = x", "not fd.name exists", "not fd.name != x"] {
        assert!(parse(src).matches(&mut ev), "{src}");
    }
}

#[test]
fn boolean_structure() {
    assert!(check("proc.name = cat and fd.name exists"));
    assert!(!check("proc.name = cat and not fd.name exists"));
    assert!(check("proc.name = dog or proc.pid = 1234"));
    assert!(check("not (proc.name = dog or proc.pid = 1)"));
    assert!(check("not not proc.name = cat"));
}

#[test]
fn precedence_matches_sysdig() {
    let a = "proc.name = a or proc.name = b and not proc.name = c";
    let b = "proc.name = a or (proc.name = b and (not proc.name = c))";
    assert_eq!(parse(a).expr(), parse(b).expr());
    assert_eq!(
        parse(a).to_string(),
        "proc.name = a or (proc.name = b and not proc.name = c)"
    );
    let c = "not proc.name = a and proc.name = b";
    assert!(matches!(parse(c).expr(), Expr::And(items) if matches!(items[0], Expr::Not(_))));
}

#[test]
fn bare_words_and_quotes() {
    assert!(check("proc.name=cat"));
    assert!(check("fd.name=/etc/passwd"));
    assert!(check("evt.type in (open,openat)"));
    assert!(check("fd.name = \"/etc/passwd\""));
    assert!(check("fd.name = '/etc/passwd'"));
    assert!(check(r#"fd.name != "a \"quoted\" \\ name\t""#));
    let f = parse(r#"fd.name in ("c d", 'it"s', x, "y")"#);
    assert_eq!(f.to_string(), r#"fd.name in ("c d", "it\"s", x, y)"#);
    assert!(parse("proc.name=in").matches(&mut Ev::syscall(0, 1, "in")));
    assert!(parse("(proc.name=cat)and(proc.pid=1234)").matches(&mut sample()));
}

#[test]
fn fields_lists_what_is_read() {
    let f = parse("evt.latency > 1 and (proc.name = a or proc.name = b) and evt.arg[0] exists");
    let got: Vec<String> = f.fields().map(ToString::to_string).collect();
    assert_eq!(got, ["evt.latency", "proc.name", "evt.arg[0]"]);
    assert!(f.uses(FieldId::EvtLatency));
    assert!(!f.uses(FieldId::FdName));
}

#[test]
fn renders_errors_with_carets() {
    let e = errors("proc.nam=cat and evt.type=openat");
    assert_eq!(
        e.to_string(),
        "sdtrace: filter error at column 1: unknown field `proc.nam` (did you mean `proc.name`?)\n  \
         proc.nam=cat and evt.type=openat\n  ^^^^^^^^"
    );
    let e = errors("proc.name contians x and evt.type=opneat");
    assert_eq!(
        e.to_string(),
        "sdtrace: filter error at column 11: unknown operator `contians` (did you mean `contains`?)\n  \
         proc.name contians x and evt.type=opneat\n            ^^^^^^^^\n\
         sdtrace: filter error at column 35: unknown event type `opneat` (did you mean `openat`?)\n  \
         proc.name contians x and evt.type=opneat\n                                    ^^^^^^"
    );
}

#[test]
fn every_error_kind_with_its_column() {
    let cases: &[(&str, &[(usize, &str)])] = &[
        ("", &[(1, "empty filter")]),
        ("   ", &[(1, "empty filter")]),
        ("proc.pid=abc", &[(10, "`abc` is not a valid unsigned integer for `proc.pid` (expected a number from 0 up)")]),
        ("fd.sport = 70000", &[(12, "`70000` is not a valid port for `fd.sport` (expected a number from 0 to 65535)")]),
        ("fd.cip = 1.2.3", &[(10, "`1.2.3` is not a valid IP address for `fd.cip` (expected an address like 10.0.0.1 or ::1)")]),
        ("evt.failed = yes", &[(14, "`yes` is not a valid boolean for `evt.failed` (use true or false)")]),
        ("proc.name < 3", &[(11, "operator `<` does not apply to string field `proc.name`")]),
        ("proc.pid contains 3", &[(10, "operator `contains` does not apply to unsigned integer field `proc.pid`")]),
        ("evt.type=opneat", &[(10, "unknown event type `opneat` (did you mean `openat`?)")]),
        ("evt.type in (read, wirte)", &[(20, "unknown event type `wirte` (did you mean `write`?)")]),
        ("proc.name exits", &[(11, "unknown operator `exits` (did you mean `exists`?)")]),
        ("proc.name bogus x", &[(11, "unknown operator `bogus`")]),
        ("xyz.abc = 1", &[(1, "unknown field `xyz.abc`")]),
        ("proc.name[1] = x", &[(1, "field `proc.name` takes no argument")]),
        ("evt.arg = x", &[(1, "field `evt.arg` needs an argument, as in `evt.arg.name = /etc/passwd`")]),
        ("proc.aname[x] = a", &[(1, "field `proc.aname` takes an index in brackets, as in `proc.aname[1]`, not `x`")]),
        ("(proc.name = a", &[(1, "unclosed `(`")]),
        ("proc.name = a)", &[(14, "unexpected `)`; expected `and`, `or` or the end of the filter")]),
        ("proc.name = a b", &[(15, "unexpected `b`; expected `and`, `or` or the end of the filter")]),
        ("proc.name =", &[(12, "unexpected end of filter; expected a value")]),
        ("proc.name", &[(10, "unexpected end of filter; expected an operator after the field")]),
        ("proc.name and proc.pid = 1", &[(11, "unexpected `and`; expected an operator after the field")]),
        ("proc.name ~ x", &[(11, "unexpected `~`; expected an operator (=, !=, <, <=, >, >=, contains, in, exists, ...)")]),
        ("proc.name in x", &[(14, "unexpected `x`; expected `(` and a list of values after `in`")]),
        ("proc.name in (a b)", &[(17, "unexpected `b`; expected `,` or `)`")]),
        ("proc.name = \"abc", &[(13, "unterminated string")]),
        ("proc.name = \"a\\qb\"", &[(15, "unknown escape `\\q` in string")]),
        ("and", &[(1, "unexpected `and`; expected a field name, `not` or `(`")]),
        ("= x", &[(1, "unexpected `=`; expected a field name, `not` or `(`")]),
        ("proc.name = a or", &[(17, "unexpected end of filter; expected a field name, `not` or `(`")]),
    ];
    for (src, want) in cases {
        let got = error_list(src);
        let want: Vec<(usize, String)> = want.iter().map(|(c, m)| (*c, (*m).to_owned())).collect();
        assert_eq!(got, want, "{src:?}");
    }
}

#[test]
fn reports_every_problem_at_once() {
    let got = error_list(
        "proc.nam=cat and proc.pid=abc or evt.type in (opn, read) and fd.nme contians x",
    );
    let cols: Vec<usize> = got.iter().map(|(c, _)| *c).collect();
    assert_eq!(cols, [1, 27, 47, 62, 69], "{got:#?}");
    // A syntax error stops the parse, but the comparisons before it are still checked.
    let got = error_list("proc.nam = x and (proc.pid = 1");
    assert_eq!(got.len(), 2, "{got:#?}");
}

#[test]
fn nesting_is_capped_without_overflow() {
    let deep = format!(
        "{}proc.pid = 1{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    parse(&deep);
    let too_deep = format!(
        "{}proc.pid = 1{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        error_list(&too_deep),
        [(
            MAX_DEPTH + 1,
            format!("nesting deeper than {MAX_DEPTH} levels")
        )]
    );
    for huge in [
        "(".repeat(100_000),
        "not ".repeat(100_000),
        "((not ".repeat(50_000),
    ] {
        assert!(Filter::parse(&huge).is_err());
    }
}

#[test]
fn columns_count_characters_and_carets_follow_tabs() {
    let e = errors("fd.name = \"é\" and\tprc.name = x");
    assert_eq!(e.column(&e.errors[0]), 19);
    let carets = format!(
        "\n  fd.name = \"é\" and\tprc.name = x\n  {}\t^^^^^^^^",
        " ".repeat(17)
    );
    assert!(e.to_string().ends_with(&carets), "{e}");
    let e = errors("proc.pid = 1 and\n  prc.name = x");
    assert_eq!(e.column(&e.errors[0]), 3);
    assert!(
        e.to_string().ends_with("\n    prc.name = x\n    ^^^^^^^^"),
        "{e}"
    );
}

#[test]
fn round_trips_through_display() {
    for src in [
        "proc.name=cat and evt.type=openat",
        "a.b exists",
        "proc.name = a or proc.name = b and not proc.name = c",
        "(proc.name = a or proc.name = b) and not (fd.name contains x and fd.name exists)",
        "not not fd.name glob \"/a b/*\"",
        "fd.name in (\"a,b\", 'c)', \"and\", \"=x\", \"\")",
        "((proc.name = a and proc.pid = 1) and proc.pid = 2)",
        "evt.arg.fd = 3 or evt.arg[1] = x or proc.aname[2] = sshd",
    ] {
        let Ok(f) = Filter::parse(src) else { continue };
        let printed = f.to_string();
        let again = parse(&printed);
        assert_eq!(again.expr(), f.expr(), "{src} printed as {printed}");
        assert_eq!(again.to_string(), printed);
    }
}

fn names(set: &SyscallSet) -> Vec<&'static str> {
    set.iter()
        .map(|n| SYSCALL_NAMES.get(n as usize).copied().unwrap_or(""))
        .collect()
}

#[test]
fn pushdown_examples() {
    let p = parse("proc.name = cat").pushdown();
    assert_eq!(
        p,
        PushDown {
            syscalls: None,
            procexit: true,
            tgids: None,
            comms: Some(BTreeSet::from([b"cat".to_vec()])),
            cgroups: None,
        }
    );

    let p = parse("evt.type startswith open").pushdown();
    let set = p.syscalls.unwrap();
    let named: Vec<_> = names(&set).into_iter().filter(|n| !n.is_empty()).collect();
    assert_eq!(
        named,
        [
            "open",
            "openat",
            "open_by_handle_at",
            "open_tree",
            "openat2"
        ]
    );
    // A number missing from the table (a newer kernel's syscall) is named
    // `syscall_<nr>`, which does not start with `open`.
    assert_eq!(set.len(), 5);
    assert!(!p.procexit);
    let set = parse("evt.type startswith syscall_45")
        .pushdown()
        .syscalls
        .unwrap();
    assert_eq!(
        set.iter().collect::<Vec<_>>(),
        [451, 452, 453, 454, 455, 456, 457, 458, 459]
    );
    let set = parse("evt.type in (open, openat)")
        .pushdown()
        .syscalls
        .unwrap();
    assert_eq!(names(&set), ["open", "openat"]);

    let p = parse("not evt.type in (read, write)").pushdown();
    let set = p.syscalls.unwrap();
    assert!(!set.contains(0) && !set.contains(1) && set.contains(2));
    assert!(
        set.contains(500),
        "numbers without a name may have any other name"
    );
    assert!(p.procexit);
    assert_eq!(set.len(), 510);

    let p = parse("evt.type = procexit").pushdown();
    assert!(p.syscalls.unwrap().is_empty() && p.procexit);

    let p = parse("proc.name = averyverylongname16").pushdown();
    assert_eq!(p.comms, Some(BTreeSet::new()));

    let p = parse("proc.pid in (1, 2, 3) and proc.pid = 2 or proc.pid = 7").pushdown();
    assert_eq!(p.tgids, Some(BTreeSet::from([2, 7])));

    assert_eq!(parse("proc.pid = 1 or fd.name = x").pushdown().tgids, None);
    assert_eq!(parse("proc.pid != 1").pushdown().tgids, None);
    assert_eq!(
        parse("not proc.pid != 1").pushdown().tgids,
        Some(BTreeSet::from([1]))
    );
    assert_eq!(parse("not proc.pid in (1, 2)").pushdown().tgids, None);
    assert_eq!(
        parse("proc.pid = 5000000000").pushdown().tgids,
        Some(BTreeSet::new())
    );
    assert_eq!(parse("fd.name = x").pushdown(), PushDown::all());
    assert_eq!(parse("proc.aname = bash").pushdown(), PushDown::all());

    let task = |tgid, comm: &'static [u8]| TaskKey {
        tgid,
        comm,
        cgroup: 1,
    };
    let p = parse("evt.type = openat and proc.name in (cat, vi) and proc.pid = 9").pushdown();
    assert!(p.admits_syscall(u32::from(nr::OPENAT), &task(9, b"cat")));
    assert!(!p.admits_syscall(u32::from(nr::READ), &task(9, b"cat")));
    assert!(!p.admits_syscall(u32::from(nr::OPENAT), &task(8, b"cat")));
    assert!(!p.admits_syscall(u32::from(nr::OPENAT), &task(9, b"ls")));
    assert!(!p.admits_procexit(&task(9, b"cat")));

    let p = parse("cgroup.id in (7, 8) or (cgroup.id = 9 and proc.name = cat)").pushdown();
    assert_eq!(p.cgroups, Some(BTreeSet::from([7, 8, 9])));
    assert_eq!(p.comms, None, "the other branch admits any name");
    assert_eq!(parse("cgroup.id != 7").pushdown().cgroups, None);
    assert_eq!(
        parse("not cgroup.id != 7").pushdown().cgroups,
        Some(BTreeSet::from([7]))
    );
}

// ---- property tests ----

fn leaf() -> impl Strategy<Value = String> {
    let evt_names = prop::sample::select(vec![
        "open",
        "openat",
        "read",
        "write",
        "execve",
        "procexit",
        "getpid",
        "syscall_451",
        "syscall_500",
    ]);
    let evt_frags =
        prop::sample::select(vec!["op", "at", "o?en*", "*at", "re", "", "proc", "[rw]*"]);
    let evt = prop_oneof![
        (prop::sample::select(vec!["=", "!="]), evt_names.clone())
            .prop_map(|(o, v)| format!("evt.type {o} {v}")),
        prop::collection::vec(evt_names, 1..4)
            .prop_map(|v| format!("evt.type in ({})", v.join(", "))),
        (
            prop::sample::select(vec![
                "contains",
                "icontains",
                "startswith",
                "endswith",
                "glob"
            ]),
            evt_frags
        )
            .prop_map(|(o, v)| format!("evt.type {o} \"{v}\"")),
        Just("evt.type exists".to_owned()),
    ];
    let pids = prop::sample::select(vec!["0", "1", "5", "42", "4000000000", "5000000000"]);
    let pid = prop_oneof![
        (
            prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]),
            pids.clone()
        )
            .prop_map(|(o, v)| format!("proc.pid {o} {v}")),
        prop::collection::vec(pids, 1..4).prop_map(|v| format!("proc.pid in ({})", v.join(", "))),
        Just("proc.pid exists".to_owned()),
    ];
    let comms = prop::sample::select(vec![
        "cat",
        "bash",
        "sh",
        "averyverylongna",
        "averyverylongname16",
        "ca",
    ]);
    let name = prop_oneof![
        (
            prop::sample::select(vec![
                "=",
                "!=",
                "contains",
                "startswith",
                "glob",
                "endswith"
            ]),
            comms.clone()
        )
            .prop_map(|(o, v)| format!("proc.name {o} {v}")),
        prop::collection::vec(comms, 1..4).prop_map(|v| format!("proc.name in ({})", v.join(", "))),
        Just("proc.name exists".to_owned()),
    ];
    let other = prop_oneof![
        (
            prop::sample::select(vec!["=", "!=", "contains", "startswith"]),
            prop::sample::select(vec!["/etc/passwd", "/tmp", "x"])
        )
            .prop_map(|(o, v)| format!("fd.name {o} {v}")),
        Just("fd.name exists".to_owned()),
        (
            prop::sample::select(vec!["=", "!="]),
            prop::sample::select(vec!["SUCCESS", "ENOENT"])
        )
            .prop_map(|(o, v)| format!("evt.res {o} {v}")),
    ];
    let cgroups = prop::sample::select(vec!["1", "2774", "9000"]);
    let cgroup = prop_oneof![
        (
            prop::sample::select(vec!["=", "!=", "<", ">="]),
            cgroups.clone()
        )
            .prop_map(|(o, v)| format!("cgroup.id {o} {v}")),
        prop::collection::vec(cgroups, 1..3)
            .prop_map(|v| format!("cgroup.id in ({})", v.join(", "))),
    ];
    // Transformers: exact through evt.type's finite universe, "all" elsewhere.
    let evt_xform = prop_oneof![
        (
            prop::sample::select(vec![
                "toupper(evt.type)",
                "tolower(evt.type)",
                "basename(evt.type)"
            ]),
            prop::sample::select(vec!["=", "!=", "startswith", "contains"]),
            prop::sample::select(vec![
                "OPENAT",
                "openat",
                "READ",
                "read",
                "syscall_500",
                "SYSCALL_451",
                "PROCEXIT",
                "procexit"
            ]),
        )
            .prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        (
            prop::sample::select(vec!["=", "!=", "<", ">"]),
            prop::sample::select(vec!["3", "4", "6", "11"]),
        )
            .prop_map(|(o, v)| format!("len(evt.type) {o} {v}")),
    ];
    let name_xform = prop_oneof![
        (
            prop::sample::select(vec![
                ("tolower(proc.name)", "cat"),
                ("toupper(proc.name)", "CAT"),
                ("toupper(proc.name)", "READ"),
                ("basename(proc.name)", "Cat"),
                ("tolower(toupper(proc.name))", "bash"),
            ]),
            prop::sample::select(vec!["=", "!=", "startswith", "in"]),
        )
            .prop_map(|((f, v), o)| if o == "in" {
                format!("{f} in ({v}, sh)")
            } else {
                format!("{f} {o} {v}")
            }),
        (
            prop::sample::select(vec!["=", "!=", "<", ">"]),
            prop::sample::select(vec!["2", "3", "4", "15"]),
        )
            .prop_map(|(o, v)| format!("len(proc.name) {o} {v}")),
    ];
    let intersects = prop_oneof![
        prop::collection::vec(
            prop::sample::select(vec!["open", "read", "syscall_451", "procexit"]),
            1..3
        )
        .prop_map(|v| format!("evt.type intersects ({})", v.join(", "))),
        prop::collection::vec(prop::sample::select(vec!["cat", "sh", "Cat"]), 1..3)
            .prop_map(|v| format!("proc.name intersects ({})", v.join(", "))),
        prop::collection::vec(prop::sample::select(vec!["1", "5", "2774"]), 1..3)
            .prop_map(|v| format!("proc.pid intersects ({})", v.join(", "))),
    ];
    // Comparisons of two fields: never decidable in the kernel.
    let two_fields = prop::sample::select(vec![
        "evt.type = val(proc.name)",
        "evt.type != val(proc.name)",
        "proc.name = val(evt.type)",
        "proc.name != tolower(evt.type)",
        "toupper(proc.name) = toupper(evt.type)",
        "len(proc.name) = len(evt.type)",
        "proc.pid = val(cgroup.id)",
        "cgroup.id != val(proc.pid)",
        "proc.pid < len(proc.name)",
        "cgroup.id in val(proc.pid)",
        "proc.pid intersects val(cgroup.id)",
        "fd.name = val(proc.exepath)",
        "fd.name != val(proc.exepath)",
        "proc.name startswith val(evt.type)",
        "evt.type startswith tolower(proc.name)",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        3 => evt,
        3 => pid,
        3 => name,
        2 => other,
        2 => cgroup,
        2 => evt_xform,
        3 => name_xform,
        2 => intersects,
        3 => two_fields,
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    leaf().prop_recursive(5, 32, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn event() -> impl Strategy<Value = Ev> {
    (
        prop::sample::select(vec![
            None,
            Some(0u32),
            Some(1),
            Some(2),
            Some(59),
            Some(257),
            Some(39),
            Some(437),
            Some(451),
            Some(500),
        ]),
        prop::sample::select(vec![0u32, 1, 5, 42, 4_000_000_000]),
        prop::sample::select(vec![
            "cat",
            "bash",
            "sh",
            "averyverylongna",
            "ca",
            "x",
            "Cat",
            "read",
            "open",
        ]),
        prop::sample::select(vec![None, Some("/etc/passwd"), Some("/tmp/x")]),
        prop::sample::select(vec!["SUCCESS", "ENOENT"]),
        prop::sample::select(vec![1u64, 2774, 9000]),
        prop::sample::select(vec![None, Some("/etc/passwd"), Some("/bin/cat")]),
    )
        .prop_map(|(nr, pid, name, fd_name, res, cgroup, exepath)| Ev {
            nr,
            fd_name: fd_name.map(str::to_owned),
            res,
            cgroup,
            exepath,
            ..Ev::syscall(0, pid, name)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_any_text(src in "\\PC{0,80}") {
        let _ = Filter::parse(&src).map(|f| f.matches(&mut sample())).map_err(|e| e.to_string());
    }

    #[test]
    fn never_panics_on_filter_like_text(src in "[a-z.()\\[\\]=!<>\"' ,\\\\0-9_\t\né*?-]{0,60}") {
        if let Ok(f) = Filter::parse(&src) {
            f.matches(&mut sample());
            f.pushdown();
            let printed = f.to_string();
            let again = Filter::parse(&printed).expect("printed filter parses");
            prop_assert_eq!(again.expr(), f.expr());
        } else if let Err(e) = Filter::parse(&src) {
            prop_assert!(!e.errors.is_empty());
            let _ = e.to_string();
        }
    }

    #[test]
    fn display_round_trips(src in filter_text()) {
        let f = Filter::parse(&src).expect("generated filters are valid");
        let again = Filter::parse(&f.to_string()).expect("printed filter parses");
        prop_assert_eq!(again.expr(), f.expr());
        prop_assert_eq!(again.to_string(), f.to_string());
    }

    #[test]
    fn any_value_round_trips(value in "\\PC{0,20}|[\"'\\\\ ,()=<>!\t\n]{0,8}") {
        let expr = Expr::Cmp(Comparison {
            lhs: FieldText { field: "fd.name".into(), field_span: 0..0, transformers: Vec::new(), span: 0..0 },
            op: Op::In,
            op_span: 0..0,
            operand: Operand::List(vec![Literal { text: value.clone(), span: 0..0 }, Literal { text: "x".into(), span: 0..0 }]),
        });
        let printed = expr.to_string();
        let f = Filter::parse(&printed).expect("printed filter parses");
        prop_assert_eq!(f.expr(), &expr, "printed as {}", printed);
    }

    #[test]
    fn a_clause_selects_exactly_its_value(value in "\\PC{0,20}|[\"'\\\\ ,()=<>!\t\n\r\0]{0,8}") {
        let text = clause::text_is("fd.name", &value);
        let f = Filter::parse(&text).expect("a clause parses");
        let mut ev = Ev::syscall(nr::OPENAT, 1, "cat");
        ev.fd_name = Some(value.clone());
        prop_assert!(f.matches(&mut ev), "{} misses {:?}", text, value);
        ev.fd_name = Some(format!("{value}x"));
        prop_assert!(!f.matches(&mut ev), "{} matches more than {:?}", text, value);
    }

    #[test]
    fn pushdown_never_drops_a_match(src in filter_text(), events in prop::collection::vec(event(), 16)) {
        let f = Filter::parse(&src).expect("generated filters are valid");
        let p = f.pushdown();
        for mut ev in events {
            if f.matches(&mut ev) {
                let task = TaskKey { tgid: ev.pid, comm: ev.name.as_bytes(), cgroup: ev.cgroup };
                let admitted = match ev.nr {
                    Some(nr) => p.admits_syscall(nr, &task),
                    None => p.admits_procexit(&task),
                };
                prop_assert!(admitted, "{} accepts {:?} but push-down {:?} drops it", src, ev, p);
            }
        }
    }

    #[test]
    fn a_decided_filter_is_decided_for_every_event_alike(
        src in filter_text(),
        events in prop::collection::vec(event(), 8),
    ) {
        // What cgroup muting relies on: a verdict from some fields holds
        // for every event that has the same values there.
        let f = Filter::parse(&src).expect("generated filters are valid");
        let known = |id| matches!(id, FieldId::ProcPid | FieldId::CgroupId);
        for ev in &events {
            let Some(verdict) = f.decide(&mut ev.clone(), &known) else { continue };
            for other in &events {
                let mut alike = Ev { pid: ev.pid, cgroup: ev.cgroup, ..other.clone() };
                prop_assert_eq!(
                    f.matches(&mut alike), verdict,
                    "{} decided {} from {:?} but not for {:?}", src, verdict, ev, alike
                );
            }
        }
    }
}

/// A source that knows container fields only.
struct ContainerOnly(&'static str);

impl FieldSource for ContainerOnly {
    fn value(&mut self, field: &FieldRef) -> Option<Value<'_>> {
        match field.id {
            FieldId::ContainerName => Some(Value::Str(Cow::Borrowed(self.0))),
            FieldId::ContainerId => Some(Value::Str(Cow::Borrowed("3f5b0c1d2e4a"))),
            _ => None,
        }
    }
}

#[test]
fn container_fields_decide_what_they_can() {
    let known = |id| crate::container::decided_by_cgroup(id);
    let decide = |src: &str, name| {
        Filter::parse(src)
            .unwrap()
            .decide(&mut ContainerOnly(name), &known)
    };
    let web_opens = "container.name=web and evt.type=openat";
    assert_eq!(decide(web_opens, "db"), Some(false));
    assert_eq!(decide(web_opens, "host"), Some(false));
    assert_eq!(decide(web_opens, "web"), None);
    assert_eq!(decide("container.name=web or evt.type=openat", "db"), None);
    assert_eq!(
        decide("container.name=web or evt.type=openat", "web"),
        Some(true)
    );
    assert_eq!(decide("not container.name=web", "web"), Some(false));
    assert_eq!(
        decide("not (container.name=web and proc.name=nginx)", "db"),
        Some(true)
    );
    assert_eq!(
        decide(
            "container.name in (web, db) and container.id startswith 3f5b",
            "db"
        ),
        Some(true)
    );
    // Compared with a field of the event: not decided by the container.
    assert_eq!(decide("container.name = val(proc.name)", "web"), None);
    // A metadata field the runtime did not give is absent: no match.
    assert_eq!(
        decide("container.image = nginx and evt.type=openat", "web"),
        Some(false)
    );
}

#[test]
fn generated_filters_are_not_vacuous() {
    // The push-down property is only worth something if the generated filters
    // accept a fair share of events and push something down.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut accepted, mut total, mut narrowed) = (0, 0, 0);
    for _ in 0..300 {
        let src = filter_text().new_tree(&mut runner).unwrap().current();
        let f = parse(&src);
        if f.pushdown() != PushDown::all() {
            narrowed += 1;
        }
        for _ in 0..8 {
            let mut ev = event().new_tree(&mut runner).unwrap().current();
            total += 1;
            accepted += usize::from(f.matches(&mut ev));
        }
    }
    assert!(
        accepted * 10 > total && accepted * 10 < total * 9,
        "{accepted}/{total} accepted"
    );
    assert!(
        narrowed > 50,
        "{narrowed}/300 filters pushed something down"
    );
}

#[test]
fn direction_values_are_bare_operator_characters() {
    let f = parse("evt.dir=< or evt.dir = >");
    assert_eq!(f.to_string(), "evt.dir = \"<\" or evt.dir = \">\"");
    assert_eq!(parse(&f.to_string()).expr(), f.expr());
}

#[test]
fn path_glob_and_byte_operators() {
    let yes = |src: &str| assert!(parse(src).matches(&mut sample()), "{src} should match");
    let no = |src: &str| assert!(!parse(src).matches(&mut sample()), "{src} should not match");
    yes("fd.name pmatch (/etc)");
    yes("fd.name pmatch (/usr, /etc/)");
    yes("fd.name pmatch (/etc/passwd)");
    no("fd.name pmatch (/et, /etc/passwd/x)");
    yes("fd.name iglob /ETC/*WD");
    yes("fd.name regex '^/etc/pass(wd|word)$'");
    no("fd.name regex '^/usr'");
    let e = errors("fd.name regex '(unclosed'");
    assert!(e.to_string().contains("regular expression"), "{e}");
    no("fd.name glob /ETC/*WD");
    // "/etc" is 2f 65 74 63.
    yes("fd.name bstartswith 2f657463");
    yes("fd.name bcontains '70 61 73 73'");
    no("fd.name bcontains 0000");
    let e = errors("fd.name bcontains xyz");
    assert!(e.to_string().contains("hex"), "{e}");
    assert_eq!(e.column(&e.errors[0]), 19);
    let e = errors("fd.name pmatch /etc");
    assert!(e.to_string().contains("pmatch"), "{e}");
    let e = errors("proc.pid iglob 1*");
    assert!(e.to_string().contains("does not apply"), "{e}");
    // Round trip through Display.
    for src in [
        "fd.name pmatch (/a, \"/b c\")",
        "fd.name iglob X*",
        "fd.name bcontains 0a0b",
    ] {
        let f = parse(src);
        assert_eq!(parse(&f.to_string()).expr(), f.expr(), "{src}");
    }
}

#[test]
fn intersects_operator() {
    let yes = |src: &str| assert!(check(src), "{src} should match");
    let no = |src: &str| assert!(!check(src), "{src} should not match");
    yes("evt.type intersects (open, openat)");
    no("evt.type intersects (read, write)");
    yes("proc.pid intersects (1, 1234)");
    // A list field: some ancestor is in the list.
    yes("proc.aname intersects (init, sshd)");
    no("proc.aname intersects (init, cat)");
    yes("not fd.name intersects (/tmp)");
    assert_eq!(
        error_list("proc.name intersects x"),
        [(
            22,
            "unexpected `x`; expected `(` and a list of values after `intersects`".to_owned()
        )]
    );
    let f = parse("proc.name intersects (a,b)");
    assert_eq!(f.to_string(), "proc.name intersects (a, b)");
    let p = parse("evt.type intersects (open, openat)").pushdown();
    assert_eq!(names(&p.syscalls.unwrap()), ["open", "openat"]);
    let p = parse("proc.name intersects (cat, sh) and proc.pid intersects (1, 2)").pushdown();
    assert_eq!(
        p.comms,
        Some(BTreeSet::from([b"cat".to_vec(), b"sh".to_vec()]))
    );
    assert_eq!(p.tgids, Some(BTreeSet::from([1, 2])));
}

#[test]
fn transformers() {
    let yes = |src: &str| assert!(check(src), "{src} should match");
    let no = |src: &str| assert!(!check(src), "{src} should not match");
    yes("toupper(proc.name) = CAT");
    no("toupper(proc.name) = cat");
    yes("tolower(toupper(proc.name)) = cat");
    yes("basename(fd.name) = passwd");
    yes("toupper(basename(fd.name)) in (PASSWD, SHADOW)");
    yes("tolower( basename( fd.name ) ) glob pass*");
    yes("len(fd.name) = 11");
    yes("len(fd.name) > 10 and len(fd.name) <= 11");
    yes("len(basename(fd.name)) = 6");
    // A list: each ancestor is transformed; len counts them.
    yes("toupper(proc.aname) = SSHD");
    yes("len(proc.aname) = 3");
    yes("len(toupper(proc.aname)) = 3");
    yes("len(proc.aname[1]) = 4");
    // b64 decodes; text that is not base64 has no value.
    yes("b64(evt.buffer) = hello");
    yes("b64(evt.buffer) bcontains 6c6c");
    yes("len(b64(evt.buffer)) = 5");
    no("b64(proc.name) exists");
    yes("not b64(proc.name) exists");
    no("b64(proc.name) != x");
    // Missing fields stay missing.
    let mut bare = Ev::syscall(nr::GETPID, 1, "init");
    for src in [
        "len(fd.name) = 0",
        "tolower(fd.name) != x",
        "len(proc.aname) > 0",
    ] {
        assert!(!parse(src).matches(&mut bare), "{src}");
    }
    assert!(parse("len(proc.aname) = 0").matches(&mut bare));

    // Transformers count as fields read.
    let f = parse("len(proc.aname) > 1 and tolower(fd.name) = x");
    let got: Vec<String> = f.fields().map(ToString::to_string).collect();
    assert_eq!(got, ["proc.aname", "fd.name"]);
}

#[test]
fn transformer_errors_have_carets() {
    let cases: &[(&str, &[(usize, &str)])] = &[
        ("tolower(proc.pid) = 1", &[(1, "transformer `tolower` does not apply to unsigned integer `proc.pid`")]),
        ("len(proc.pid) = 1", &[(1, "transformer `len` does not apply to unsigned integer `proc.pid`")]),
        ("basename(evt.buffer) = x", &[(1, "transformer `basename` does not apply to bytes `evt.buffer`")]),
        ("toupper(len(fd.name)) = 1", &[(1, "transformer `toupper` does not apply to unsigned integer `len(fd.name)`")]),
        ("proc.pid = 1 or tolower(len(basename(fd.name))) = 1", &[(17, "transformer `tolower` does not apply to unsigned integer `len(basename(fd.name))`")]),
        ("len(fd.name) = abc", &[(16, "`abc` is not a valid unsigned integer for `len(fd.name)` (expected a number from 0 up)")]),
        ("len(fd.name) contains 1", &[(14, "operator `contains` does not apply to unsigned integer field `len(fd.name)`")]),
        ("tolwer(fd.name) = x", &[(1, "unknown transformer `tolwer` (did you mean `tolower`?) (transformers: tolower, toupper, b64, basename, len)")]),
        ("val(fd.name) = x", &[(1, "`val(...)` names a field on the right-hand side only; write the field itself on the left")]),
        ("tolower(fd.name = x", &[(17, "unexpected `=`; expected `)` closing the transformer")]),
        ("tolower() = x", &[(9, "unexpected `)`; expected a field name or a transformer")]),
        ("tolower(fd.nme) = x", &[(9, "unknown field `fd.nme` (did you mean `fd.name`?)")]),
        ("len(fd.name) in (1, x)", &[(21, "`x` is not a valid unsigned integer for `len(fd.name)` (expected a number from 0 up)")]),
    ];
    for (src, want) in cases {
        let got = error_list(src);
        let want: Vec<(usize, String)> = want.iter().map(|(c, m)| (*c, (*m).to_owned())).collect();
        assert_eq!(got, want, "{src:?}");
    }
    let e = errors("proc.name = a and toupper(proc.pid) = 1");
    assert!(
        e.to_string()
            .ends_with("proc.name = a and toupper(proc.pid) = 1\n                    ^^^^^^^"),
        "{e}"
    );
    // Nesting counts against the depth cap; no input overflows anything.
    let deep = |n: usize| format!("{}fd.name{} = x", "tolower(".repeat(n), ")".repeat(n));
    parse(&deep(MAX_DEPTH - 1));
    assert_eq!(
        error_list(&deep(MAX_DEPTH + 1)),
        [(
            8 * MAX_DEPTH + 1,
            format!("nesting deeper than {MAX_DEPTH} levels")
        )]
    );
    assert!(Filter::parse(&"len(".repeat(100_000)).is_err());
    assert!(Filter::parse(&format!("fd.name = {}", "tolower(".repeat(100_000))).is_err());
}

#[test]
fn comparing_two_fields() {
    let yes = |src: &str| assert!(check(src), "{src} should match");
    let no = |src: &str| assert!(!check(src), "{src} should not match");
    yes("proc.pid = val(proc.pid)");
    no("proc.pid != val(proc.pid)");
    yes("proc.aname[0] = val(proc.name)");
    no("proc.name = val(proc.pname)");
    yes("proc.name != val(proc.pname)");
    // Text operators take the other field's value as their operand.
    yes("fd.name startswith val(proc.cwd)");
    yes("fd.name pmatch val(proc.cwd)");
    yes("fd.name contains val(proc.cwd)");
    yes("fd.name icontains toupper(proc.cwd)");
    yes("fd.name glob val(fd.name)");
    no("fd.name endswith val(proc.cwd)");
    yes("fd.name in val(fd.name)");
    yes("fd.name intersects val(fd.name)");
    // Integers of any kind compare as numbers.
    yes("fd.sport < val(proc.pid)");
    no("fd.sport >= val(proc.pid)");
    yes("len(fd.name) < val(proc.pid)");
    yes("len(proc.aname) = len(proc.aname)");
    yes("proc.pid > len(proc.aname)");
    yes("fd.cip = val(fd.cip)");
    yes("evt.failed = val(evt.failed)");
    // A transformer on the right reads a field too, without val().
    yes("proc.name = tolower(proc.name)");
    no("proc.name = toupper(proc.name)");
    yes("toupper(proc.name) = toupper(proc.name)");
    yes("b64(evt.buffer) = b64(evt.buffer)");
    // A list on the left: some ancestor compares.
    yes("proc.aname = val(proc.pname)");
    no("proc.aname = val(proc.name)");
    // No value on either side: no match, `!=` included.
    no("fd.name = val(proc.exepath)");
    no("fd.name != val(proc.exepath)");
    yes("not fd.name = val(proc.exepath)");
    no("proc.name != b64(proc.name)");
    let mut ev = sample();
    ev.exepath = Some("/etc/passwd");
    assert!(parse("fd.name = val(proc.exepath)").matches(&mut ev));

    let f = parse("fd.name = val(proc.exepath) and evt.latency < val(evt.latency)");
    let got: Vec<String> = f.fields().map(ToString::to_string).collect();
    assert_eq!(got, ["fd.name", "proc.exepath", "evt.latency"]);
    assert!(parse("evt.rawres < val(fd.num)").uses(FieldId::FdNum));
    assert!(parse("proc.pid = val(evt.rawres)").uses(FieldId::EvtRawres));

    let cases: &[(&str, &[(usize, &str)])] = &[
        ("proc.name = val(proc.pid)", &[(13, "`val(proc.pid)` (unsigned integer) cannot be compared with `proc.name` (string)")]),
        ("evt.latency > val(evt.rawtime)", &[(15, "`val(evt.rawtime)` (timestamp) cannot be compared with `evt.latency` (duration)")]),
        ("fd.cip = val(fd.sport)", &[(10, "`val(fd.sport)` (port) cannot be compared with `fd.cip` (IP address)")]),
        ("proc.name = len(fd.name)", &[(13, "`len(fd.name)` (unsigned integer) cannot be compared with `proc.name` (string)")]),
        ("proc.name = val(proc.aname)", &[(13, "`proc.aname` is a list of values; compare one of them (`proc.aname[1]`) or count them (`len(proc.aname)`)")]),
        ("proc.name regex val(proc.cwd)", &[(17, "operator `regex` takes a literal, not a field")]),
        ("proc.name = val(tolower(proc.cwd))", &[(17, "unexpected `tolower`; expected a field name inside `val(...)`")]),
        ("proc.name = val(proc.cwd", &[(25, "unexpected end of filter; expected `)` closing `val(`")]),
        ("proc.name = val(proc.nam)", &[(17, "unknown field `proc.nam` (did you mean `proc.name`?)")]),
        ("proc.nam = val(proc.nme)", &[(1, "unknown field `proc.nam` (did you mean `proc.name`?)"), (16, "unknown field `proc.nme` (did you mean `proc.name`?)")]),
        ("proc.pid contains val(proc.name)", &[(10, "operator `contains` does not apply to unsigned integer field `proc.pid`")]),
        ("proc.name = tolower(proc.pid)", &[(13, "transformer `tolower` does not apply to unsigned integer `proc.pid`")]),
    ];
    for (src, want) in cases {
        let got = error_list(src);
        let want: Vec<(usize, String)> = want.iter().map(|(c, m)| (*c, (*m).to_owned())).collect();
        assert_eq!(got, want, "{src:?}");
    }
    // A value that only looks like val() is a value when quoted.
    assert!(parse("proc.name = \"val(x)\"").matches(&mut Ev::syscall(0, 1, "val(x)")));
    assert!(parse("proc.name = val").matches(&mut Ev::syscall(0, 1, "val")));
}

#[test]
fn two_field_comparisons_are_not_pushed_down() {
    for src in [
        "fd.name = val(proc.exepath)",
        "evt.type = val(proc.name)",
        "proc.name = val(evt.type)",
        "proc.pid = val(cgroup.id)",
        "cgroup.id in val(proc.pid)",
        "proc.name = tolower(proc.name)",
        "not evt.type != val(proc.name)",
    ] {
        assert_eq!(parse(src).pushdown(), PushDown::all(), "{src}");
    }
    let p = parse("evt.type = open and proc.name = val(proc.pname)").pushdown();
    assert_eq!(names(&p.syscalls.unwrap()), ["open"]);
    assert_eq!(p.comms, None);
}

#[test]
fn transformers_push_down_only_event_types() {
    let p = parse("toupper(evt.type) = OPENAT").pushdown();
    assert_eq!(names(&p.syscalls.unwrap()), ["openat"]);
    assert!(!p.procexit);
    let p = parse("not toupper(evt.type) != PROCEXIT").pushdown();
    assert!(p.syscalls.unwrap().is_empty() && p.procexit);
    let set = parse("len(evt.type) = 4").pushdown().syscalls.unwrap();
    assert!(names(&set).iter().all(|n| n.len() == 4) && set.contains(0));
    for src in [
        "tolower(proc.name) = cat",
        "len(proc.name) = 3",
        "basename(proc.name) in (cat, sh)",
        "len(proc.aname) = 3",
        "tolower(proc.aname) = bash",
    ] {
        assert_eq!(parse(src).pushdown(), PushDown::all(), "{src}");
    }
}

#[test]
fn unnamed_syscalls_by_number() {
    let p = parse("evt.type = syscall_451").pushdown();
    assert_eq!(p.syscalls.unwrap().iter().collect::<Vec<_>>(), [451]);
    assert!(!p.procexit);
    let p = parse("evt.type in (syscall_400, open)").pushdown();
    assert_eq!(p.syscalls.unwrap().iter().collect::<Vec<_>>(), [2, 400]);
    let mut ev = Ev::syscall(451, 1, "x");
    assert!(parse("evt.type = syscall_451").matches(&mut ev));
    assert!(!parse("evt.type = syscall_452").matches(&mut ev));
    assert_eq!(
        error_list("evt.type = syscall_2"),
        [(
            12,
            "unknown event type `syscall_2` (did you mean `open`?)".to_owned()
        )]
    );
    assert_eq!(
        error_list("evt.type in (syscall_512, syscall_0451)"),
        [
            (14, "unknown event type `syscall_512`".to_owned()),
            (27, "unknown event type `syscall_0451`".to_owned())
        ]
    );
}

#[test]
fn transformers_and_fields_round_trip() {
    for src in [
        "tolower(basename(fd.name)) = passwd",
        "len(proc.aname) > 1 and not toupper(proc.name) in (A, \"b c\")",
        "fd.name = val(proc.exepath)",
        "fd.name startswith val( proc.cwd )",
        "proc.name = tolower(proc.pname) or proc.aname[2] != val(proc.aname[3])",
        "b64(evt.buffer) bcontains 00 or len(b64(evt.buffer)) = len(fd.name)",
        "proc.name intersects (a, \"val(x)\", val)",
        "evt.type in (syscall_451, open)",
        "evt.arg.fd = val(evt.arg[0])",
    ] {
        let f = parse(src);
        let printed = f.to_string();
        let again = parse(&printed);
        assert_eq!(again.expr(), f.expr(), "{src} printed as {printed}");
        assert_eq!(again.to_string(), printed);
    }
    assert_eq!(
        parse("fd.name startswith val( proc.cwd )").to_string(),
        "fd.name startswith val(proc.cwd)"
    );
}

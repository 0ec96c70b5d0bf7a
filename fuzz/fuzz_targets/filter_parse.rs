//! Any text through the whole filter pipeline must not panic: parse, check,
//! compile, evaluate against an event that has every field, push down, and
//! print. Two properties are checked on the way:
//!
//! - a filter prints as text that parses to the same tree;
//! - the push-down admits the event whenever the filter accepts it.
//!
//! Invalid UTF-8 reaches the parser as replacement characters, as it would
//! from a command line read lossily.
#![no_main]

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use tracer::fields::{FieldArg, FieldId, FieldRef, FieldType, Value};
use tracer::filter::{FieldSource, Filter, TaskKey};
use tracer_common::syscall_names::nr;

/// `openat` by `cat` (pid 42, cgroup 42), with a value for every field and
/// three ancestors.
struct AnyEvent;

impl FieldSource for AnyEvent {
    fn value(&mut self, field: &FieldRef) -> Option<Value<'_>> {
        if let FieldArg::Index(i) = field.arg {
            if i > 3 {
                return None;
            }
        }
        let text = |s: &'static str| Some(Value::Str(Cow::Borrowed(s)));
        match field.id {
            FieldId::EvtType => return text("openat"),
            FieldId::ProcName => return text("cat"),
            FieldId::ProcPid | FieldId::CgroupId => return Some(Value::U64(42)),
            _ => {}
        }
        Some(match field.def().ty {
            FieldType::Str => Value::Str(Cow::Borrowed("/etc/Passwd")),
            FieldType::Bytes => Value::Bytes(Cow::Borrowed(b"aGVsbG8=")),
            FieldType::U64 | FieldType::Port | FieldType::RelTimeNs | FieldType::AbsTimeNs => {
                Value::U64(42)
            }
            FieldType::I64 => Value::I64(-2),
            FieldType::Bool => Value::Bool(true),
            FieldType::IpAddr => Value::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let filter = match Filter::parse(&src) {
        Ok(filter) => filter,
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "a refused filter says why");
            // The caret rendering slices the text at every error's span.
            let _ = errors.to_string();
            return;
        }
    };
    let printed = filter.to_string();
    let again = Filter::parse(&printed)
        .unwrap_or_else(|e| panic!("{src:?} printed as {printed:?}, which does not parse:\n{e}"));
    assert_eq!(
        again.expr(),
        filter.expr(),
        "{src:?} printed as {printed:?}"
    );

    let matched = filter.matches(&mut AnyEvent);
    let pushdown = filter.pushdown();
    if matched {
        let task = TaskKey {
            tgid: 42,
            comm: b"cat",
            cgroup: 42,
        };
        assert!(
            pushdown.admits_syscall(u32::from(nr::OPENAT), &task),
            "{src:?} accepts the event but {pushdown:?} drops it"
        );
    }
    let _ = filter.fields().count();
});

//! Turning matched events into lines: sysdig's default text line, or one JSON
//! object per event; and the statistics that report drops.

pub mod format;
pub mod printer;
pub mod stats;
pub mod tally;

use std::io;

use crate::event::extract::{event_type, EventView};
use crate::event::num;
use crate::fields::{FieldId, FieldRef, Value};

/// Fields of every `-j` object, in this order; fields without a value for an
/// event are left out.
pub const JSON_FIELDS: &[FieldId] = &[
    FieldId::EvtNum,
    FieldId::EvtTime,
    FieldId::EvtRawtime,
    FieldId::EvtCpu,
    FieldId::EvtDir,
    FieldId::EvtType,
    FieldId::EvtRes,
    FieldId::EvtRawres,
    FieldId::EvtLatency,
    FieldId::EvtInfo,
    FieldId::ProcPid,
    FieldId::ProcPpid,
    FieldId::ProcName,
    FieldId::ProcExepath,
    FieldId::ProcCmdline,
    FieldId::ProcCwd,
    FieldId::ThreadTid,
    FieldId::UserUid,
    FieldId::UserName,
    FieldId::FdNum,
    FieldId::FdName,
    FieldId::FdType,
    FieldId::FdCip,
    FieldId::FdCport,
    FieldId::FdSip,
    FieldId::FdSport,
    FieldId::FdL4proto,
    FieldId::NsPid,
    FieldId::NsMnt,
    FieldId::NsNet,
    FieldId::CgroupId,
    FieldId::CgroupV1id,
];

/// How matched events are printed.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Format {
    /// `evt.num evt.time evt.cpu proc.name (thread.tid) evt.dir evt.type evt.info`
    #[default]
    Text,
    /// One JSON object per event with [`JSON_FIELDS`].
    Json,
    /// A `-p` format.
    Custom(format::OutputFormat),
    /// `-j` with `-p`: one JSON object with the format's fields.
    CustomJson(format::OutputFormat),
}

impl Format {
    /// The format `-p` (a preset name or a format) and `-j` ask for; the
    /// error is the format's, with its caret.
    pub fn from_options(print: Option<&str>, json: bool) -> Result<Format, String> {
        let custom = print
            .map(|p| {
                format::OutputFormat::parse(format::print_preset(p)).map_err(|e| e.to_string())
            })
            .transpose()?;
        Ok(match (custom, json) {
            (Some(p), true) => Format::CustomJson(p),
            (Some(p), false) => Format::Custom(p),
            (None, true) => Format::Json,
            (None, false) => Format::Text,
        })
    }

    /// Whether it prints field `id`.
    pub fn uses(&self, id: FieldId) -> bool {
        match self {
            Format::Custom(p) | Format::CustomJson(p) => p.fields().any(|f| f.id == id),
            Format::Text | Format::Json => false,
        }
    }
}

/// Writes one event into `out` (a reused buffer), newline included; `false`
/// when a `-p` format skips it (a field without a value and no `*`).
pub fn write_event(out: &mut Vec<u8>, format: &Format, view: &EventView<'_>) -> bool {
    match format {
        Format::Text => write_text(out, view),
        Format::Json => write_json(
            out,
            JSON_FIELDS.iter().map(|&id| {
                let field = FieldRef::plain(id);
                (field.to_string(), view.get(&field))
            }),
        ),
        Format::Custom(f) => return f.write(out, view),
        Format::CustomJson(f) => write_json(
            out,
            f.exprs().map(|e| (e.to_string(), e.eval(|f| view.get(f)))),
        ),
    }
    true
}

fn write_text(out: &mut Vec<u8>, v: &EventView<'_>) {
    let h = &v.rec.hdr;
    num::push_u64(out, v.num);
    out.push(b' ');
    v.clock.write_time(out, h.ts_ns);
    out.push(b' ');
    num::push_u64(out, u64::from(h.cpu));
    out.push(b' ');
    match v.get(&FieldRef::plain(FieldId::ProcName)) {
        Some(Value::Str(s)) => out.extend_from_slice(s.as_bytes()),
        _ => out.extend_from_slice(b"<NA>"),
    }
    out.extend_from_slice(b" (");
    num::push_u64(out, u64::from(h.tid));
    out.extend_from_slice(if matches!(v.rec.body, crate::decode::Body::Syscall(_)) {
        b") < "
    } else {
        b") > "
    });
    out.extend_from_slice(event_type(v.rec).as_bytes());
    out.push(b' ');
    v.write_info(out);
    out.push(b'\n');
}

/// One object of the fields that have a value, keyed by field name.
fn write_json<'v>(out: &mut Vec<u8>, fields: impl Iterator<Item = (String, Option<Value<'v>>)>) {
    out.push(b'{');
    let mut first = true;
    for (key, value) in fields {
        let Some(value) = value else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = serde_json::to_writer(&mut *out, &key);
        out.push(b':');
        let _ = match value {
            Value::Str(s) => serde_json::to_writer(&mut *out, s.as_ref()),
            Value::Bytes(b) => serde_json::to_writer(&mut *out, &String::from_utf8_lossy(&b)),
            Value::U64(n) => serde_json::to_writer(&mut *out, &n),
            Value::I64(n) => serde_json::to_writer(&mut *out, &n),
            Value::Bool(b) => serde_json::to_writer(&mut *out, &b),
            Value::Ip(ip) => serde_json::to_writer(&mut *out, &ip.to_string()),
        };
    }
    out.extend_from_slice(b"}\n");
}

/// Whether a write error means the reader went away (`sdtrace | head`): a
/// normal end, not an error to report.
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

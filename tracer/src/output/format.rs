//! sysdig's `-p` output formats: text with `%field` references, `%field:N`
//! to pad a value to N columns, and a leading `*` to print events even when
//! some field has no value (without it, such events are skipped, as sysdig
//! does). `\n` and `\t` are escapes; `%%` is a literal percent sign. As in
//! newer libsinsp, a field may be wrapped in transformers:
//! `%tolower(basename(fd.name))`, `%len(proc.aname)`.

use std::fmt;

use crate::event::extract::EventView;
use crate::fields::{parse_field_ref, FieldExpr, FieldRef, Transformer, Value};

use crate::event::num::{push_i64, push_u64};

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Field { expr: FieldExpr, width: usize },
}

/// A parsed `-p` format.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputFormat {
    pieces: Vec<Piece>,
    /// `*` prefix: print events with missing fields as `<NA>`.
    print_missing: bool,
}

/// A problem in a format string, with the column it starts at.
#[derive(Debug, PartialEq, Eq)]
pub struct FormatError {
    pub source: String,
    /// 0-based character column.
    pub column: usize,
    pub width: usize,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sdtrace: format error at column {}: {}",
            self.column + 1,
            self.message
        )?;
        writeln!(f, "  {}", self.source)?;
        write!(
            f,
            "  {}{}",
            " ".repeat(self.column),
            "^".repeat(self.width.max(1))
        )
    }
}

impl std::error::Error for FormatError {}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '[' | ']' | '-')
}

impl OutputFormat {
    pub fn parse(src: &str) -> Result<OutputFormat, FormatError> {
        let chars: Vec<char> = src.chars().collect();
        let mut i = 0;
        let print_missing = chars.first() == Some(&'*');
        if print_missing {
            i = 1;
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let err = |column: usize, width: usize, message: String| FormatError {
            source: src.to_owned(),
            column,
            width,
            message,
        };
        while i < chars.len() {
            match chars[i] {
                '\\' if i + 1 < chars.len() && matches!(chars[i + 1], 'n' | 't' | '\\') => {
                    text.push(match chars[i + 1] {
                        'n' => '\n',
                        't' => '\t',
                        _ => '\\',
                    });
                    i += 2;
                }
                '%' if chars.get(i + 1) == Some(&'%') => {
                    text.push('%');
                    i += 2;
                }
                '%' => {
                    // Transformers: `name(` each, innermost last.
                    let mut calls = Vec::new();
                    let mut start = i + 1;
                    loop {
                        let mut end = start;
                        while end < chars.len() && chars[end].is_ascii_alphanumeric() {
                            end += 1;
                        }
                        if end == start || chars.get(end) != Some(&'(') {
                            break;
                        }
                        let name: String = chars[start..end].iter().collect();
                        let t = Transformer::from_name(&name).ok_or_else(|| {
                            err(start, end - start, format!("unknown transformer `{name}`"))
                        })?;
                        calls.push((t, start, end - start));
                        start = end + 1;
                    }
                    let mut end = start;
                    while end < chars.len() && is_field_char(chars[end]) {
                        // A bracketed argument runs to its `]`: label keys
                        // hold `/` (`k8s.pod.label[app.kubernetes.io/name]`).
                        if chars[end] == '[' {
                            if let Some(close) = chars[end..].iter().position(|&c| c == ']') {
                                end += close + 1;
                                continue;
                            }
                        }
                        end += 1;
                    }
                    // A trailing dot ends a sentence, not a field name.
                    while end > start && calls.is_empty() && chars[end - 1] == '.' {
                        end -= 1;
                    }
                    let name: String = chars[start..end].iter().collect();
                    if name.is_empty() {
                        return Err(err(
                            i,
                            1,
                            "`%` must be followed by a field name (write `%%` for a percent sign)"
                                .into(),
                        ));
                    }
                    let field = parse_field_ref(&name)
                        .map_err(|e| err(start, end - start, e.to_string()))?;
                    for _ in &calls {
                        if chars.get(end) != Some(&')') {
                            return Err(err(end, 1, "expected `)` closing the transformer".into()));
                        }
                        end += 1;
                    }
                    let expr = FieldExpr {
                        field,
                        transformers: calls.iter().rev().map(|&(t, _, _)| t).collect(),
                    };
                    if let Err(e) = expr.ty() {
                        let (_, column, width) = calls[calls.len() - 1 - e.index];
                        let inner = FieldExpr {
                            field: expr.field.clone(),
                            transformers: expr.transformers[..e.index].to_vec(),
                        };
                        return Err(err(
                            column,
                            width,
                            format!(
                                "transformer `{}` does not apply to {} `{inner}`",
                                e.transformer, e.ty
                            ),
                        ));
                    }
                    let mut width = 0;
                    i = end;
                    if chars.get(i) == Some(&':')
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                    {
                        let mut j = i + 1;
                        while j < chars.len() && chars[j].is_ascii_digit() {
                            j += 1;
                        }
                        let digits: String = chars[i + 1..j].iter().collect();
                        width = digits.parse().map_err(|_| {
                            err(i + 1, j - i - 1, "field width is too large".into())
                        })?;
                        i = j;
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Field { expr, width });
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(OutputFormat {
            pieces,
            print_missing,
        })
    }

    /// Every field the format reads.
    pub fn fields(&self) -> impl Iterator<Item = &FieldRef> {
        self.exprs().map(|e| &e.field)
    }

    /// Every field the format prints, with its transformers.
    pub fn exprs(&self) -> impl Iterator<Item = &FieldExpr> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field { expr, .. } => Some(expr),
            Piece::Text(_) => None,
        })
    }

    /// Writes the event's line (newline included) into `out`; `false`, with
    /// `out` unchanged, when a field has no value and `*` was not given.
    pub fn write(&self, out: &mut Vec<u8>, view: &EventView<'_>) -> bool {
        let start = out.len();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                Piece::Field { expr, width } => {
                    let before = out.len();
                    match expr.eval(|f| view.get(f)) {
                        Some(value) => write_value(out, &value),
                        None if self.print_missing => out.extend_from_slice(b"<NA>"),
                        None => {
                            out.truncate(start);
                            return false;
                        }
                    }
                    let written = out.len() - before;
                    if written < *width {
                        out.resize(out.len() + width - written, b' ');
                    }
                }
            }
        }
        out.push(b'\n');
        true
    }
}

/// A field value as text.
pub fn write_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Str(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bytes(b) => out.extend_from_slice(b),
        Value::U64(n) => push_u64(out, *n),
        Value::I64(n) => push_i64(out, *n),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Ip(ip) => out.extend_from_slice(ip.to_string().as_bytes()),
    }
}

/// sysdig's `-pc` and `-pk` (`-p c`, `-p k`): the default line with the
/// container, or the pod and container, of each event; other text as given.
pub fn print_preset(format: &str) -> &str {
    match format {
        "c" => "*%evt.num %evt.time %evt.cpu %container.name (%container.id) %proc.name (%thread.tid) %evt.dir %evt.type %evt.info",
        "k" => "*%evt.num %evt.time %evt.cpu %k8s.ns.name %k8s.pod.name %container.name (%container.id) %proc.name (%thread.tid) %evt.dir %evt.type %evt.info",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, tests::syscall_record};
    use crate::event::clock::Clock;
    use crate::state::{ProcFs, ProcessTable, Users};
    use tracer_common::{syscall_names::nr, CaptureKind};

    fn render(format: &str, bytes: &[u8]) -> Option<String> {
        let f = OutputFormat::parse(format).unwrap();
        let rec = decode(bytes).unwrap();
        let procs = ProcessTable::new(ProcFs::new("/nonexistent-proc"));
        let users = Users::parse("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n");
        let clock = Clock::now();
        let view = EventView {
            num: 7,
            rec: &rec,
            procs: &procs,
            users: &users,
            clock: &clock,
            latency: false,
            buffers: crate::event::info::BufferMode::Dots,
            place: None,
            meta: None,
            pod: None,
            node: None,
        };
        let mut out = Vec::new();
        f.write(&mut out, &view)
            .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn fields_widths_and_escapes() {
        let rec = syscall_record(
            nr::OPENAT,
            -2,
            [(-100i64) as u64, 0, 0, 0, 0, 0],
            &[(0, CaptureKind::UserStr, b"/x")],
        );
        assert_eq!(
            render(
                "%evt.num:4|%proc.name %evt.type %evt.res 100%% %evt.arg.name\\tuid=%user.name",
                &rec
            )
            .as_deref(),
            Some("7   |cat openat ENOENT 100% /x\tuid=root\n")
        );
    }

    #[test]
    fn missing_fields_skip_the_event_unless_starred() {
        let rec = syscall_record(nr::GETPPID, 1, [0; 6], &[]);
        assert_eq!(render("%proc.name %fd.name", &rec), None);
        assert_eq!(
            render("*%proc.name %fd.name", &rec).as_deref(),
            Some("cat <NA>\n")
        );
        assert_eq!(
            render("%proc.name ends here.", &rec).as_deref(),
            Some("cat ends here.\n")
        );
    }

    #[test]
    fn kname_is_the_kernel_path_and_names_an_unknown_fd() {
        let rec = syscall_record(
            nr::FCHOWN,
            0,
            [5, 0, 0, 0, 0, 0],
            &[(0, CaptureKind::FilePathArgFd, b"\0new\0tmp\0")],
        );
        // The fd table (empty here) does not know fd 5: fd.name falls back.
        assert_eq!(
            render("%fd.num %fd.kname %fd.name", &rec).as_deref(),
            Some("5 /tmp/new /tmp/new\n")
        );
        let rec = syscall_record(
            nr::FCHMOD,
            0,
            [5, 0o600, 0, 0, 0, 0],
            &[(0, CaptureKind::FilePathArgFd, b"\0new\0tmp\0")],
        );
        // As in sysdig, fchmod has no fd fields; fd.kname is there.
        assert_eq!(
            render("*%fd.num %fd.kname %fd.name", &rec).as_deref(),
            Some("<NA> /tmp/new <NA>\n")
        );
        let rec = syscall_record(nr::FSYNC, -9, [5, 0, 0, 0, 0, 0], &[]);
        assert_eq!(render("%fd.kname", &rec), None);
    }

    #[test]
    fn bracketed_keys_run_to_their_bracket() {
        let f = OutputFormat::parse("%k8s.pod.label[app.kubernetes.io/name]/%k8s.ns.label.team.")
            .unwrap();
        let names: Vec<String> = f.fields().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "k8s.pod.label[app.kubernetes.io/name]",
                "k8s.ns.label[team]"
            ]
        );
    }

    #[test]
    fn errors_point_at_the_field() {
        let e = OutputFormat::parse("%evt.num %proc.nam").unwrap_err();
        assert_eq!(e.column, 10);
        assert!(e.message.contains("proc.name"), "{}", e.message);
        assert!(e.to_string().ends_with("          ^^^^^^^^"), "{e}");
        assert_eq!(OutputFormat::parse("50% done").unwrap_err().column, 2);
        assert!(OutputFormat::parse("%proc.aname[2] %evt.arg[0]").is_ok());
        let e = OutputFormat::parse("%evt.num %tolower(proc.pid)").unwrap_err();
        assert_eq!((e.column, e.width), (10, 7));
        assert_eq!(
            e.message,
            "transformer `tolower` does not apply to unsigned integer `proc.pid`"
        );
        let e = OutputFormat::parse("%tolwer(proc.name)").unwrap_err();
        assert_eq!(
            (e.column, e.message.as_str()),
            (1, "unknown transformer `tolwer`")
        );
        let e = OutputFormat::parse("%tolower(proc.name").unwrap_err();
        assert_eq!(e.column, 18);
    }

    #[test]
    fn transformers() {
        let rec = syscall_record(
            nr::OPENAT,
            3,
            [(-100i64) as u64, 0, 0, 0, 0, 0],
            &[(0, CaptureKind::UserStr, b"/Etc/Passwd")],
        );
        assert_eq!(
            render(
                "%toupper(proc.name) %len(evt.arg.name):4|%tolower(basename(evt.arg.name)).",
                &rec
            )
            .as_deref(),
            Some("CAT 11  |passwd.\n")
        );
        // No parent in this process table: no ancestors to count, no parent name.
        assert_eq!(render("%len(proc.aname)", &rec).as_deref(), Some("0\n"));
        assert_eq!(render("%tolower(proc.aname)", &rec), None);
        let f = OutputFormat::parse("%len(basename(fd.name)) %proc.name").unwrap();
        let exprs: Vec<String> = f.exprs().map(ToString::to_string).collect();
        assert_eq!(exprs, ["len(basename(fd.name))", "proc.name"]);
        let fields: Vec<String> = f.fields().map(ToString::to_string).collect();
        assert_eq!(fields, ["fd.name", "proc.name"]);
    }

    #[test]
    fn pc_and_pk_are_sysdigs_presets() {
        for preset in ["c", "k"] {
            let text = print_preset(preset);
            let format = OutputFormat::parse(text).unwrap_or_else(|e| panic!("-p{preset}: {e}"));
            assert!(format
                .fields()
                .any(|f| f.id == crate::fields::FieldId::ContainerName));
        }
        assert!(print_preset("k").contains("%k8s.pod.name"));
        assert_eq!(print_preset("%proc.name"), "%proc.name");
    }
}

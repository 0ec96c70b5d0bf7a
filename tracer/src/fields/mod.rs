//! The field registry: every field name the filter language, the output
//! formats and `--list-fields` share, with its type and the argument it takes.
//!
//! The registry only describes fields. Extracting a value from an event is the
//! event side's job: it implements `filter::FieldSource` by matching on
//! [`FieldId`].

mod registry;
pub mod transform;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use tracer_common::syscall_names::SYSCALL_NAMES;

pub use registry::{FieldId, FIELDS};
pub use transform::{FieldExpr, Transformer};

/// How many ancestors a list of ancestors (plain `proc.aname`) holds at most;
/// a bound, so that a parent loop in a broken process table cannot hang.
pub const MAX_ANCESTORS: i64 = 64;

/// `evt.type` of syscall `nr`: its name, or `syscall_<nr>` for numbers the
/// table does not name (the decoder and the filter's push-down agree on it).
pub fn syscall_name(nr: u32) -> Cow<'static, str> {
    match SYSCALL_NAMES.get(nr as usize) {
        Some(name) if !name.is_empty() => Cow::Borrowed(name),
        _ => Cow::Owned(format!("syscall_{nr}")),
    }
}

/// The type of a field's values; it decides which literals and operators a
/// filter may use with the field, and which [`Value`] variant the event side
/// returns for it (noted on each variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text; [`Value::Str`].
    Str,
    /// Unsigned integer; [`Value::U64`].
    U64,
    /// Signed integer; [`Value::I64`].
    I64,
    /// `true`/`false`; [`Value::Bool`].
    Bool,
    /// IPv4 or IPv6 address; [`Value::Ip`].
    IpAddr,
    /// TCP/UDP port; [`Value::U64`].
    Port,
    /// A duration in nanoseconds; [`Value::U64`].
    RelTimeNs,
    /// Nanoseconds since the epoch; [`Value::U64`].
    AbsTimeNs,
    /// Raw bytes; [`Value::Bytes`] (string operators apply to them).
    Bytes,
}

impl FieldType {
    /// Name shown in `--list-fields` and in type errors.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::U64 => "unsigned integer",
            FieldType::I64 => "integer",
            FieldType::Bool => "boolean",
            FieldType::IpAddr => "IP address",
            FieldType::Port => "port",
            FieldType::RelTimeNs => "duration",
            FieldType::AbsTimeNs => "timestamp",
            FieldType::Bytes => "bytes",
        }
    }

    /// Integer-valued types, compared numerically.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::U64
                | FieldType::I64
                | FieldType::Port
                | FieldType::RelTimeNs
                | FieldType::AbsTimeNs
        )
    }

    /// Types the string operators (`contains`, `glob`, ...) apply to.
    pub fn is_textual(self) -> bool {
        matches!(self, FieldType::Str | FieldType::Bytes)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What argument a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldArgKind {
    /// None: `proc.name`.
    None,
    /// A required index: `field[2]`.
    Index,
    /// A required name: `field.name`.
    Name,
    /// A name or an index: `evt.arg.fd`, `evt.arg[0]`.
    IndexOrName,
    /// An optional index: `proc.aname[2]`, or plain `proc.aname` (any ancestor).
    IndexOptional,
    /// A required key, any text in brackets or a name after a dot:
    /// `container.label[io.kubernetes.pod.name]`, `k8s.pod.label.app`.
    Key,
}

/// One row of the registry.
#[derive(Clone, Copy, Debug)]
pub struct FieldDef {
    pub id: FieldId,
    pub name: &'static str,
    /// The part before the first dot: `evt`, `proc`, `fd`, ...
    pub class: &'static str,
    pub ty: FieldType,
    pub arg: FieldArgKind,
    pub desc: &'static str,
    /// A filter using the field, for `--list-fields` and the docs.
    pub example: &'static str,
}

/// The argument of one field reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldArg {
    None,
    Index(i64),
    Name(String),
}

/// A resolved field reference such as `proc.aname[2]` or `evt.arg.fd`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub id: FieldId,
    pub arg: FieldArg,
}

impl FieldRef {
    /// A reference without an argument.
    pub fn plain(id: FieldId) -> FieldRef {
        FieldRef {
            id,
            arg: FieldArg::None,
        }
    }

    pub fn def(&self) -> &'static FieldDef {
        self.id.def()
    }

    /// Whether the reference names a list of values rather than one: plain
    /// `proc.aname`, every ancestor's name. A filter compares each (true when
    /// one passes) and `len()` counts them; elsewhere it reads as the parent's.
    pub fn is_list(&self) -> bool {
        self.id == FieldId::ProcAname && self.arg == FieldArg::None
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id.def().name)?;
        match &self.arg {
            FieldArg::None => Ok(()),
            FieldArg::Index(i) => write!(f, "[{i}]"),
            // A key may hold dots, slashes, anything: brackets keep it whole.
            FieldArg::Name(n) if matches!(self.id.def().arg, FieldArgKind::Key) => {
                write!(f, "[{n}]")
            }
            FieldArg::Name(n) => write!(f, ".{n}"),
        }
    }
}

impl FieldId {
    /// The registry row of this field.
    pub fn def(self) -> &'static FieldDef {
        &FIELDS[self as usize]
    }
}

/// A field's value for one event, as the event side hands it to the filter
/// and the output. Borrowed where the event or the process table already
/// holds the bytes, so that evaluating a filter allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    U64(u64),
    I64(i64),
    Bool(bool),
    Ip(IpAddr),
}

impl Value<'_> {
    /// The value with its borrowed bytes copied.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::U64(n) => Value::U64(n),
            Value::I64(n) => Value::I64(n),
            Value::Bool(b) => Value::Bool(b),
            Value::Ip(ip) => Value::Ip(ip),
        }
    }
}

/// Every field, in registry order.
pub fn all() -> &'static [FieldDef] {
    FIELDS
}

/// `sdtrace --list-fields`: every field by class, with its type, argument,
/// description and an example, as `sysdig -l` lists them.
pub fn listing() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut class = "";
    for def in FIELDS {
        if def.class != class {
            class = def.class;
            let _ = write!(
                out,
                "{}Field Class: {class}\n\n",
                if out.is_empty() { "" } else { "\n" }
            );
        }
        let name = match def.arg {
            FieldArgKind::None => def.name.to_owned(),
            FieldArgKind::Index => format!("{}[N]", def.name),
            FieldArgKind::Name => format!("{}.NAME", def.name),
            FieldArgKind::IndexOrName => format!("{}.NAME, {}[N]", def.name, def.name),
            FieldArgKind::IndexOptional => format!("{}, {}[N]", def.name, def.name),
            FieldArgKind::Key => format!("{}[KEY], {}.KEY", def.name, def.name),
        };
        let _ = writeln!(out, "{name:<24} ({}) {}", def.ty, def.desc);
        let _ = writeln!(out, "{:<24} e.g. {}", "", def.example);
    }
    out
}

/// The registry row named exactly `name` (without any argument).
pub fn lookup(name: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|d| d.name == name)
}

/// Why a field reference did not resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldRefError {
    #[error("unknown field `{name}`{}", did_you_mean(.suggestion.as_deref()))]
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("field `{field}` takes no argument")]
    UnexpectedArg { field: &'static str },
    #[error("field `{field}` needs an argument, as in `{example}`")]
    MissingArg {
        field: &'static str,
        example: &'static str,
    },
    #[error("field `{field}` takes an index in brackets, as in `{field}[1]`, not `{arg}`")]
    BadIndex { field: &'static str, arg: String },
    #[error("field `{field}` takes an index in brackets (`{field}[1]`), not a name")]
    IndexOnly { field: &'static str },
    #[error("field `{field}` takes a name after a dot (`{field}.name`), not an index")]
    NameOnly { field: &'static str },
}

/// ` (did you mean `x`?)`, or nothing.
pub(crate) fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The candidate closest to `word`, if it is close enough to be a likely typo:
/// at most a third of the word's length in edits (transpositions count once).
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Resolves `evt.arg.fd`, `evt.arg[0]`, `proc.aname[2]`, `proc.name` against
/// the registry.
pub fn parse_field_ref(text: &str) -> Result<FieldRef, FieldRefError> {
    let (base, bracket) = match text.find('[') {
        Some(open) if text.ends_with(']') => (&text[..open], Some(&text[open + 1..text.len() - 1])),
        _ => (text, None),
    };
    if let Some(def) = lookup(base) {
        return resolve_arg(def, bracket);
    }
    // `evt.arg.fd`: a field taking a name, followed by `.name`.
    if bracket.is_none() {
        if let Some(def) = FIELDS.iter().find(|d| {
            base.len() > d.name.len() + 1
                && base.starts_with(d.name)
                && base.as_bytes()[d.name.len()] == b'.'
        }) {
            let name = &base[def.name.len() + 1..];
            return match def.arg {
                FieldArgKind::Name | FieldArgKind::IndexOrName | FieldArgKind::Key => {
                    Ok(FieldRef {
                        id: def.id,
                        arg: FieldArg::Name(name.to_owned()),
                    })
                }
                FieldArgKind::Index | FieldArgKind::IndexOptional => {
                    Err(FieldRefError::IndexOnly { field: def.name })
                }
                FieldArgKind::None => Err(FieldRefError::Unknown {
                    name: text.to_owned(),
                    suggestion: closest(text, FIELDS.iter().map(|d| d.name)),
                }),
            };
        }
    }
    Err(FieldRefError::Unknown {
        name: base.to_owned(),
        suggestion: closest(base, FIELDS.iter().map(|d| d.name)),
    })
}

fn resolve_arg(def: &'static FieldDef, bracket: Option<&str>) -> Result<FieldRef, FieldRefError> {
    let index = |arg: &str| -> Result<FieldArg, FieldRefError> {
        match arg.trim().parse::<u32>() {
            Ok(i) => Ok(FieldArg::Index(i64::from(i))),
            Err(_) => Err(FieldRefError::BadIndex {
                field: def.name,
                arg: arg.to_owned(),
            }),
        }
    };
    let arg = match (def.arg, bracket) {
        (FieldArgKind::None, None) | (FieldArgKind::IndexOptional, None) => FieldArg::None,
        (FieldArgKind::None, Some(_)) => {
            return Err(FieldRefError::UnexpectedArg { field: def.name })
        }
        (
            FieldArgKind::Index
            | FieldArgKind::Name
            | FieldArgKind::IndexOrName
            | FieldArgKind::Key,
            None,
        ) => {
            return Err(FieldRefError::MissingArg {
                field: def.name,
                example: def.example,
            })
        }
        (FieldArgKind::Name, Some(_)) => return Err(FieldRefError::NameOnly { field: def.name }),
        (FieldArgKind::Key, Some(key)) if !key.is_empty() => FieldArg::Name(key.to_owned()),
        (FieldArgKind::Key, Some(_)) => {
            return Err(FieldRefError::MissingArg {
                field: def.name,
                example: def.example,
            })
        }
        (
            FieldArgKind::Index | FieldArgKind::IndexOrName | FieldArgKind::IndexOptional,
            Some(arg),
        ) => index(arg)?,
    };
    Ok(FieldRef { id: def.id, arg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        for (i, def) in FIELDS.iter().enumerate() {
            assert_eq!(
                def.id as usize, i,
                "row {} is out of FieldId order",
                def.name
            );
            assert_eq!(def.id.def().name, def.name);
        }
    }

    #[test]
    fn names_are_unique_and_classes_match_prefixes() {
        let mut names: Vec<_> = FIELDS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
        for def in FIELDS {
            assert_eq!(def.name.split('.').next(), Some(def.class), "{}", def.name);
            assert!(
                !def.desc.is_empty() && def.example.contains(def.name),
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn label_keys() {
        let label = |key: &str| {
            Ok(FieldRef {
                id: FieldId::ContainerLabel,
                arg: FieldArg::Name(key.to_owned()),
            })
        };
        // Keys with dots and slashes, in brackets or after the dot.
        assert_eq!(
            parse_field_ref("container.label[io.kubernetes.pod.name]"),
            label("io.kubernetes.pod.name")
        );
        assert_eq!(
            parse_field_ref("container.label[sdt.rt/team]"),
            label("sdt.rt/team")
        );
        assert_eq!(parse_field_ref("container.label.app"), label("app"));
        assert_eq!(
            parse_field_ref("container.label.app").unwrap().to_string(),
            "container.label[app]"
        );
        assert!(matches!(
            parse_field_ref("container.label"),
            Err(FieldRefError::MissingArg { .. })
        ));
        assert!(matches!(
            parse_field_ref("container.label[]"),
            Err(FieldRefError::MissingArg { .. })
        ));
    }

    #[test]
    fn resolves_arguments() {
        assert_eq!(
            parse_field_ref("proc.name"),
            Ok(FieldRef::plain(FieldId::ProcName))
        );
        assert_eq!(
            parse_field_ref("evt.arg.fd"),
            Ok(FieldRef {
                id: FieldId::EvtArg,
                arg: FieldArg::Name("fd".into())
            })
        );
        assert_eq!(
            parse_field_ref("evt.arg[0]"),
            Ok(FieldRef {
                id: FieldId::EvtArg,
                arg: FieldArg::Index(0)
            })
        );
        assert_eq!(
            parse_field_ref("proc.aname[2]"),
            Ok(FieldRef {
                id: FieldId::ProcAname,
                arg: FieldArg::Index(2)
            })
        );
        assert_eq!(
            parse_field_ref("proc.aname"),
            Ok(FieldRef::plain(FieldId::ProcAname))
        );
        assert_eq!(
            parse_field_ref("k8s.pod.label[app.kubernetes.io/name]"),
            Ok(FieldRef {
                id: FieldId::K8sPodLabel,
                arg: FieldArg::Name("app.kubernetes.io/name".into())
            })
        );
        assert_eq!(
            parse_field_ref("k8s.ns.label.team"),
            Ok(FieldRef {
                id: FieldId::K8sNsLabel,
                arg: FieldArg::Name("team".into())
            })
        );
        assert_eq!(
            parse_field_ref("k8s.pod.labels"),
            Ok(FieldRef::plain(FieldId::K8sPodLabels))
        );
        assert_eq!(
            parse_field_ref("k8s.pod.label.app").unwrap().to_string(),
            "k8s.pod.label[app]"
        );
        assert!(matches!(
            parse_field_ref("k8s.pod.label[]"),
            Err(FieldRefError::MissingArg { .. })
        ));
        for text in [
            "evt.arg[0]",
            "evt.arg.fd",
            "proc.aname[3]",
            "fd.name",
            "k8s.pod.label[app.kubernetes.io/name]",
        ] {
            assert_eq!(parse_field_ref(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn reports_bad_references() {
        assert_eq!(
            parse_field_ref("proc.nam"),
            Err(FieldRefError::Unknown {
                name: "proc.nam".into(),
                suggestion: Some("proc.name")
            })
        );
        assert!(matches!(
            parse_field_ref("proc.name[1]"),
            Err(FieldRefError::UnexpectedArg { .. })
        ));
        assert!(matches!(
            parse_field_ref("evt.arg"),
            Err(FieldRefError::MissingArg { .. })
        ));
        assert!(matches!(
            parse_field_ref("proc.aname[x]"),
            Err(FieldRefError::BadIndex { .. })
        ));
        assert!(matches!(
            parse_field_ref("proc.aname.x"),
            Err(FieldRefError::IndexOnly { .. })
        ));
        assert!(matches!(
            parse_field_ref("proc.name.x"),
            Err(FieldRefError::Unknown { .. })
        ));
        assert_eq!(
            parse_field_ref("").unwrap_err().to_string(),
            "unknown field ``"
        );
    }
}

//! Resolves every field of a parsed filter against the registry and
//! type-checks every operator and literal, collecting all the problems.
//! The result is a tree of typed comparisons ready to compile.

use std::net::IpAddr;

use tracer_common::syscall_names::SYSCALL_NAMES;
use tracer_common::SYSCALL_SLOTS;

use super::ast::{Comparison, Expr, FieldText, Literal, Op, Operand};
use super::error::{ErrorKind, FilterError};
use crate::fields::{closest, parse_field_ref, FieldExpr, FieldId, FieldType};

/// The event type of the record a process's exit produces; not a syscall.
pub const PROCEXIT: &str = "procexit";

/// A checked filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Typed {
    And(Vec<Typed>),
    Or(Vec<Typed>),
    Not(Box<Typed>),
    Cmp(TypedCmp),
}

/// A comparison whose fields are resolved and typed and whose literals are
/// parsed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TypedCmp {
    pub lhs: FieldExpr,
    /// The type of the left side's values, its transformers applied.
    pub ty: FieldType,
    pub op: Op,
    /// The literals, for an operator that takes them.
    pub values: Vec<Scalar>,
    /// The field compared with, for `val(...)` or a transformer on the right.
    pub rhs: Option<FieldExpr>,
}

/// A literal converted to its field's type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Text(String),
    /// Bytes written in hex, for `bcontains` and `bstartswith`.
    Bytes(Vec<u8>),
    Int(i128),
    Bool(bool),
    Ip(IpAddr),
}

pub(crate) fn check(expr: &Expr) -> Result<Typed, Vec<FilterError>> {
    let mut errors = Vec::new();
    let typed = check_expr(expr, &mut errors);
    if errors.is_empty() {
        Ok(typed.expect("no errors means every comparison checked"))
    } else {
        Err(errors)
    }
}

/// Checks comparisons outside a tree, for a filter whose syntax is broken.
pub(crate) fn check_comparisons(comparisons: &[Comparison], errors: &mut Vec<FilterError>) {
    for cmp in comparisons {
        let _ = check_cmp(cmp, errors);
    }
}

fn check_expr(expr: &Expr, errors: &mut Vec<FilterError>) -> Option<Typed> {
    let all = |items: &[Expr], errors: &mut Vec<FilterError>| -> Option<Vec<Typed>> {
        // Check every item, even after one fails, to report everything.
        let checked: Vec<_> = items.iter().map(|e| check_expr(e, errors)).collect();
        checked.into_iter().collect()
    };
    match expr {
        Expr::And(items) => all(items, errors).map(Typed::And),
        Expr::Or(items) => all(items, errors).map(Typed::Or),
        Expr::Not(inner) => check_expr(inner, errors).map(|t| Typed::Not(Box::new(t))),
        Expr::Cmp(cmp) => check_cmp(cmp, errors).map(Typed::Cmp),
    }
}

fn op_applies(op: Op, ty: FieldType) -> bool {
    match op {
        Op::Eq | Op::Ne | Op::In | Op::Intersects | Op::Exists => true,
        Op::Lt | Op::Le | Op::Gt | Op::Ge => ty.is_numeric(),
        Op::Contains
        | Op::IContains
        | Op::StartsWith
        | Op::EndsWith
        | Op::Glob
        | Op::IGlob
        | Op::BContains
        | Op::BStartsWith
        | Op::PMatch
        | Op::Regex => ty.is_textual(),
    }
}

/// Which types a field may be compared with: text with text, integers with
/// integers, and otherwise the same type (a duration is not a timestamp).
/// libsinsp asks for the very same type; ports, pids and `len()` are all
/// integers here, so comparing them is allowed.
fn comparable(a: FieldType, b: FieldType) -> bool {
    let class = |t: FieldType| match t {
        FieldType::Str | FieldType::Bytes => FieldType::Str,
        FieldType::U64 | FieldType::I64 | FieldType::Port => FieldType::U64,
        other => other,
    };
    class(a) == class(b)
}

/// Resolves a field with its transformers; on failure records why.
fn check_field(text: &FieldText, errors: &mut Vec<FilterError>) -> Option<(FieldExpr, FieldType)> {
    let field = match parse_field_ref(&text.field) {
        Ok(field) => field,
        Err(e) => {
            errors.push(FilterError {
                kind: e.into(),
                span: text.field_span.clone(),
            });
            return None;
        }
    };
    let expr = FieldExpr {
        field,
        transformers: text
            .transformers
            .iter()
            .rev()
            .map(|a| a.transformer)
            .collect(),
    };
    match expr.ty() {
        Ok((ty, _)) => Some((expr, ty)),
        Err(e) => {
            let inner = FieldExpr {
                field: expr.field.clone(),
                transformers: expr.transformers[..e.index].to_vec(),
            };
            errors.push(FilterError {
                kind: ErrorKind::TransformerType {
                    transformer: e.transformer.name(),
                    ty: e.ty,
                    list: e.list,
                    arg: inner.to_string(),
                },
                span: text.transformers[text.transformers.len() - 1 - e.index]
                    .span
                    .clone(),
            });
            None
        }
    }
}

/// Checks the field on the right of `lhs op val(...)`.
fn check_rhs(
    cmp: &Comparison,
    text: &FieldText,
    lhs_ty: Option<FieldType>,
    errors: &mut Vec<FilterError>,
) -> Option<FieldExpr> {
    let (rhs, rhs_ty) = check_field(text, errors)?;
    let problem = if rhs.field.is_list() && !rhs.counts_list() {
        Some(ErrorKind::ListOnRight {
            field: rhs.field.to_string(),
        })
    } else if cmp.op == Op::Regex {
        Some(ErrorKind::NeedsLiteral {
            op: cmp.op.as_str(),
        })
    } else {
        lhs_ty
            .filter(|&ty| !comparable(ty, rhs_ty))
            .map(|lhs_ty| ErrorKind::FieldTypeMismatch {
                lhs: cmp.lhs.to_string(),
                lhs_ty,
                rhs: if text.transformers.is_empty() {
                    format!("val({text})")
                } else {
                    text.to_string()
                },
                rhs_ty,
            })
    };
    match problem {
        Some(kind) => {
            errors.push(FilterError {
                kind,
                span: text.span.clone(),
            });
            None
        }
        None => Some(rhs),
    }
}

fn check_cmp(cmp: &Comparison, errors: &mut Vec<FilterError>) -> Option<TypedCmp> {
    let lhs = check_field(&cmp.lhs, errors);
    let lhs = match lhs {
        Some((_, ty)) if !op_applies(cmp.op, ty) => {
            errors.push(FilterError {
                kind: ErrorKind::OperatorType {
                    op: cmp.op.as_str(),
                    field: cmp.lhs.to_string(),
                    ty,
                },
                span: cmp.op_span.clone(),
            });
            None
        }
        other => other,
    };
    let literals: &[Literal] = match &cmp.operand {
        Operand::None => &[],
        Operand::One(lit) => std::slice::from_ref(lit),
        Operand::List(items) => items,
        Operand::Field(text) => {
            // Checked even when the left side failed, to report everything.
            let rhs = check_rhs(cmp, text, lhs.as_ref().map(|(_, ty)| *ty), errors);
            let ((lhs, ty), rhs) = (lhs?, rhs?);
            return Some(TypedCmp {
                lhs,
                ty,
                op: cmp.op,
                values: Vec::new(),
                rhs: Some(rhs),
            });
        }
    };
    let (lhs, ty) = lhs?;
    // Event types compared for equality must name one: `evt.type=opneat` is a typo.
    let names_event_type = lhs.field.id == FieldId::EvtType
        && lhs.transformers.is_empty()
        && matches!(cmp.op, Op::Eq | Op::Ne | Op::In | Op::Intersects);
    let mut values = Vec::with_capacity(literals.len());
    let mut ok = true;
    let hex_operand = matches!(cmp.op, Op::BContains | Op::BStartsWith);
    for lit in literals {
        let parsed = if hex_operand {
            hex_bytes(&lit.text)
                .map(Scalar::Bytes)
                .ok_or("expected bytes in hex, like 48545450")
        } else if cmp.op == Op::Regex {
            regex::bytes::Regex::new(&lit.text)
                .map(|_| Scalar::Text(lit.text.clone()))
                .map_err(|_| "not a valid regular expression")
        } else {
            scalar(&lit.text, ty)
        };
        match parsed {
            Ok(value) => {
                if names_event_type && !is_event_type(&lit.text) {
                    errors.push(FilterError {
                        kind: ErrorKind::UnknownEventType {
                            name: lit.text.clone(),
                            suggestion: event_type_suggestion(&lit.text),
                        },
                        span: lit.span.clone(),
                    });
                    ok = false;
                }
                values.push(value);
            }
            Err(hint) => {
                errors.push(FilterError {
                    kind: ErrorKind::BadLiteral {
                        value: lit.text.clone(),
                        field: cmp.lhs.to_string(),
                        ty,
                        hint,
                    },
                    span: lit.span.clone(),
                });
                ok = false;
            }
        }
    }
    ok.then_some(TypedCmp {
        lhs,
        ty,
        op: cmp.op,
        values,
        rhs: None,
    })
}

/// `48 54 54 50` or `48545450` to bytes; `None` for anything else.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Names `evt.type` can take: every syscall in the table, `procexit`, and
/// `syscall_<nr>`, the decoder's name for a number the table does not name.
pub fn is_event_type(name: &str) -> bool {
    name == PROCEXIT
        || (!name.is_empty() && SYSCALL_NAMES.contains(&name))
        || unnamed_syscall(name).is_some_and(|nr| !has_name(nr))
}

/// The number in `syscall_<nr>` (written as the decoder writes it, below
/// [`SYSCALL_SLOTS`], the numbers the probes see).
pub(crate) fn unnamed_syscall(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("syscall_")?;
    let nr: u32 = digits.parse().ok()?;
    (nr < SYSCALL_SLOTS && digits == nr.to_string()).then_some(nr)
}

fn has_name(nr: u32) -> bool {
    SYSCALL_NAMES
        .get(nr as usize)
        .is_some_and(|name| !name.is_empty())
}

/// The event type a mistyped one probably meant: `syscall_2` is `open`.
fn event_type_suggestion(name: &str) -> Option<&'static str> {
    if let Some(nr) = unnamed_syscall(name) {
        return SYSCALL_NAMES.get(nr as usize).copied();
    }
    let names = SYSCALL_NAMES
        .iter()
        .copied()
        .filter(|n| !n.is_empty())
        .chain([PROCEXIT]);
    closest(name, names)
}

/// Converts a literal to `ty`; on failure, a hint for the message.
fn scalar(text: &str, ty: FieldType) -> Result<Scalar, &'static str> {
    match ty {
        FieldType::Str | FieldType::Bytes => Ok(Scalar::Text(text.to_owned())),
        FieldType::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Scalar::Bool(true)),
            "false" => Ok(Scalar::Bool(false)),
            _ => Err("use true or false"),
        },
        FieldType::IpAddr => text
            .parse()
            .map(Scalar::Ip)
            .map_err(|_| "expected an address like 10.0.0.1 or ::1"),
        FieldType::U64 | FieldType::AbsTimeNs => integer(text)
            .filter(|n| u64::try_from(*n).is_ok())
            .map(Scalar::Int)
            .ok_or("expected a number from 0 up"),
        FieldType::Port => integer(text)
            .filter(|n| u16::try_from(*n).is_ok())
            .map(Scalar::Int)
            .ok_or("expected a number from 0 to 65535"),
        FieldType::I64 => integer(text)
            .filter(|n| i64::try_from(*n).is_ok())
            .map(Scalar::Int)
            .ok_or("expected a number"),
        FieldType::RelTimeNs => duration_ns(text)
            .filter(|n| u64::try_from(*n).is_ok())
            .map(Scalar::Int)
            .ok_or("expected nanoseconds, or a number with a unit: ns, us, ms, s"),
    }
}

/// A decimal or `0x` hexadecimal integer, with an optional sign.
fn integer(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            i128::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<i128>().ok()?
        }
        None => return None,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `1500`, `10ms`, `2s`: a duration in nanoseconds.
fn duration_ns(text: &str) -> Option<i128> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: i128 = match unit {
        "" | "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return None,
    };
    integer(number)?.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(integer("42"), Some(42));
        assert_eq!(integer("-7"), Some(-7));
        assert_eq!(integer("0x1f"), Some(31));
        assert_eq!(integer("0x"), None);
        assert_eq!(integer("1e3"), None);
        assert_eq!(
            integer("99999999999999999999999999999999999999999999"),
            None
        );
        assert_eq!(duration_ns("10ms"), Some(10_000_000));
        assert_eq!(duration_ns("3"), Some(3));
        assert_eq!(duration_ns("3h"), None);
        assert_eq!(
            scalar("65536", FieldType::Port),
            Err("expected a number from 0 to 65535")
        );
        assert_eq!(
            scalar("-1", FieldType::U64),
            Err("expected a number from 0 up")
        );
        assert_eq!(scalar("-1", FieldType::I64), Ok(Scalar::Int(-1)));
        assert_eq!(scalar("TRUE", FieldType::Bool), Ok(Scalar::Bool(true)));
        assert!(scalar("::1", FieldType::IpAddr).is_ok());
    }

    #[test]
    fn event_types() {
        assert!(is_event_type("openat"));
        assert!(is_event_type("procexit"));
        assert!(!is_event_type(""));
        assert!(!is_event_type("opneat"));
        // Numbers the table does not name, as the decoder names them.
        assert!(is_event_type("syscall_451"));
        assert!(is_event_type("syscall_400"));
        assert!(is_event_type("syscall_511"));
        assert!(!is_event_type("syscall_512"));
        assert!(!is_event_type("syscall_0451"));
        assert!(!is_event_type("syscall_+451"));
        assert!(!is_event_type("syscall_"));
        // A named number is never called syscall_<nr>.
        assert!(!is_event_type("syscall_2"));
        assert_eq!(event_type_suggestion("syscall_2"), Some("open"));
        assert_eq!(unnamed_syscall("syscall_99999999999999999999"), None);
    }
}

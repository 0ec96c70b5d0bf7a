//! Filter errors: each one a message and the span of source it is about,
//! rendered with the filter text and a caret line under the span.

use std::fmt;
use std::ops::Range;

use crate::fields::{did_you_mean, FieldRefError, FieldType};

/// Byte range into the filter text.
pub type Span = Range<usize>;

/// What is wrong at one place in a filter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("empty filter")]
    Empty,
    #[error("unexpected `{found}`; expected {expected}")]
    Unexpected {
        found: String,
        expected: &'static str,
    },
    #[error("unexpected end of filter; expected {expected}")]
    UnexpectedEnd { expected: &'static str },
    #[error("unclosed `(`")]
    UnclosedParen,
    #[error("unterminated string")]
    UnterminatedString,
    #[error("unknown escape `\\{0}` in string")]
    BadEscape(char),
    #[error("nesting deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("unknown operator `{op}`{}", did_you_mean(.suggestion.as_deref()))]
    UnknownOperator {
        op: String,
        suggestion: Option<&'static str>,
    },
    #[error(transparent)]
    Field(#[from] FieldRefError),
    #[error("operator `{op}` does not apply to {ty} field `{field}`")]
    OperatorType {
        op: &'static str,
        field: String,
        ty: FieldType,
    },
    #[error("`{value}` is not a valid {ty} for `{field}`{}", hint_suffix(.hint))]
    BadLiteral {
        value: String,
        field: String,
        ty: FieldType,
        hint: &'static str,
    },
    #[error("unknown event type `{name}`{}", did_you_mean(.suggestion.as_deref()))]
    UnknownEventType {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("unknown transformer `{name}`{} (transformers: tolower, toupper, b64, basename, len)", did_you_mean(.suggestion.as_deref()))]
    UnknownTransformer {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error(
        "`val(...)` names a field on the right-hand side only; write the field itself on the left"
    )]
    ValOnLeft,
    #[error("transformer `{transformer}` does not apply to {}{ty} `{arg}`", list_of(*.list))]
    TransformerType {
        transformer: &'static str,
        ty: FieldType,
        list: bool,
        arg: String,
    },
    #[error("`{rhs}` ({rhs_ty}) cannot be compared with `{lhs}` ({lhs_ty})")]
    FieldTypeMismatch {
        lhs: String,
        lhs_ty: FieldType,
        rhs: String,
        rhs_ty: FieldType,
    },
    #[error("`{field}` is a list of values; compare one of them (`{field}[1]`) or count them (`len({field})`)")]
    ListOnRight { field: String },
    #[error("operator `{op}` takes a literal, not a field")]
    NeedsLiteral { op: &'static str },
    #[error("`{name}` is not a syscall on {arch}{}", instead_suffix(*.instead))]
    NotOnArch {
        name: String,
        arch: &'static str,
        instead: Option<&'static str>,
    },
}

fn instead_suffix(instead: Option<&str>) -> String {
    instead.map_or_else(String::new, |i| format!(" (it calls {i} instead)"))
}

fn list_of(list: bool) -> &'static str {
    if list {
        "a list of "
    } else {
        ""
    }
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" ({hint})")
    }
}

/// One problem in a filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub kind: ErrorKind,
    pub span: Span,
}

/// Every problem found in a filter, with the filter text to render them against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterErrors {
    pub source: String,
    pub errors: Vec<FilterError>,
}

impl FilterErrors {
    /// 1-based column (in characters, on its line) where an error starts.
    pub fn column(&self, error: &FilterError) -> usize {
        let start = clamp(&self.source, error.span.start);
        let line_start = self.source[..start].rfind('\n').map_or(0, |i| i + 1);
        self.source[line_start..start].chars().count() + 1
    }
}

/// The nearest char boundary at or before `at`, inside the text.
fn clamp(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

impl fmt::Display for FilterErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, error) in self.errors.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            let src = &self.source;
            let start = clamp(src, error.span.start);
            let end = clamp(src, error.span.end.max(start));
            let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
            let end = end.min(line_end);
            writeln!(
                f,
                "sdtrace: filter error at column {}: {}",
                self.column(error),
                error.kind
            )?;
            writeln!(f, "  {}", &src[line_start..line_end])?;
            // Keep tabs under tabs so the carets line up with the text above.
            let pad: String = src[line_start..start]
                .chars()
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = src[start..end].chars().count().max(1);
            write!(f, "  {pad}{}", "^".repeat(width))?;
        }
        Ok(())
    }
}

impl std::error::Error for FilterErrors {}

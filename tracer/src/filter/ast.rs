//! The filter as written: comparisons joined by `and`, `or`, `not`, with the
//! source span of every field, operator and value.
//!
//! `Display` prints a tree back as filter text that parses to the same tree:
//! compound operands are always parenthesised, values are quoted whenever a
//! bare word would read differently.

use std::fmt;

use super::error::Span;
use crate::fields::Transformer;

#[derive(Clone, Debug)]
pub enum Expr {
    /// Two or more operands joined by `and` at one level of parentheses.
    And(Vec<Expr>),
    /// Two or more operands joined by `or` at one level of parentheses.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Comparison),
}

/// `field op value`.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The field as written, with any transformers: `proc.name`,
    /// `evt.arg[0]`, `tolower(basename(fd.name))`.
    pub lhs: FieldText,
    pub op: Op,
    pub op_span: Span,
    pub operand: Operand,
}

/// A field and the transformers around it, as written.
#[derive(Clone, Debug)]
pub struct FieldText {
    /// The field: `proc.name`, `evt.arg[0]`, `evt.arg.fd`.
    pub field: String,
    pub field_span: Span,
    /// Outermost first, as written: `tolower(basename(fd.name))` is
    /// `[tolower, basename]`.
    pub transformers: Vec<Applied>,
    /// The whole expression.
    pub span: Span,
}

/// One transformer as written, with the span of its name.
#[derive(Clone, Debug)]
pub struct Applied {
    pub transformer: Transformer,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    /// `exists` takes none.
    None,
    One(Literal),
    /// `in (a, b, "c d")`.
    List(Vec<Literal>),
    /// Another field of the same event: `val(proc.exepath)`, or a field
    /// with transformers (`tolower(proc.name)`), as libsinsp takes them.
    Field(FieldText),
}

/// A value as written, unquoted and unescaped.
#[derive(Clone, Debug)]
pub struct Literal {
    pub text: String,
    pub span: Span,
}

// Two trees are equal when they say the same thing; spans only record where
// they said it, so equality ignores them (the round-trip tests rely on this).
impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Literal {}

impl PartialEq for Applied {
    fn eq(&self, other: &Self) -> bool {
        self.transformer == other.transformer
    }
}
impl Eq for Applied {}

impl PartialEq for FieldText {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.transformers == other.transformers
    }
}
impl Eq for FieldText {}

impl PartialEq for Comparison {
    fn eq(&self, other: &Self) -> bool {
        self.lhs == other.lhs && self.op == other.op && self.operand == other.operand
    }
}
impl Eq for Comparison {}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Expr::And(a), Expr::And(b)) | (Expr::Or(a), Expr::Or(b)) => a == b,
            (Expr::Not(a), Expr::Not(b)) => a == b,
            (Expr::Cmp(a), Expr::Cmp(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Expr {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=` or `==`.
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    Glob,
    /// `glob`, ignoring ASCII case.
    IGlob,
    /// Contains the bytes written in hex (`evt.buffer bcontains 48545450`).
    BContains,
    /// Starts with the bytes written in hex.
    BStartsWith,
    /// Path match: equal to one of the listed paths or inside one of them.
    PMatch,
    /// Regular expression search (Rust `regex` syntax).
    Regex,
    In,
    /// The field's values and the list share a value. For a one-valued
    /// field, `in`; for plain `proc.aname`, some ancestor is in the list.
    Intersects,
    Exists,
}

impl Op {
    /// Operators written as words, for parsing and for suggestions.
    pub const WORDS: &'static [(&'static str, Op)] = &[
        ("contains", Op::Contains),
        ("icontains", Op::IContains),
        ("startswith", Op::StartsWith),
        ("endswith", Op::EndsWith),
        ("glob", Op::Glob),
        ("iglob", Op::IGlob),
        ("bcontains", Op::BContains),
        ("bstartswith", Op::BStartsWith),
        ("pmatch", Op::PMatch),
        ("regex", Op::Regex),
        ("in", Op::In),
        ("intersects", Op::Intersects),
        ("exists", Op::Exists),
    ];

    /// Operators written as symbols, longest first so that `<=` wins over `<`.
    pub const SYMBOLS: &'static [(&'static str, Op)] = &[
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::BContains => "bcontains",
            Op::BStartsWith => "bstartswith",
            Op::PMatch => "pmatch",
            Op::Regex => "regex",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::Exists => "exists",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Characters that end a bare (unquoted) value.
pub(crate) fn ends_bare_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | ',' | '"' | '\'')
}

/// Whether `text` prints as a bare word and reads back as the same value. More
/// cautious than the parser: values starting with operator characters or
/// spelled like keywords are quoted too, for the reader's sake.
fn prints_bare(text: &str) -> bool {
    !text.is_empty()
        && !matches!(text, "and" | "or" | "not")
        && !text.starts_with(['=', '!', '<', '>', '\\'])
        && !text.chars().any(|c| ends_bare_value(c) || c.is_control())
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if prints_bare(&self.text) {
            return f.write_str(&self.text);
        }
        f.write_str("\"")?;
        for c in self.text.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                '\0' => f.write_str("\\0")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Display for FieldText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.transformers {
            write!(f, "{}(", t.transformer)?;
        }
        f.write_str(&self.field)?;
        for _ in &self.transformers {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.lhs, self.op)?;
        match &self.operand {
            Operand::None => Ok(()),
            Operand::One(lit) => write!(f, " {lit}"),
            // A bare field on the right would read as a value.
            Operand::Field(field) if field.transformers.is_empty() => write!(f, " val({field})"),
            Operand::Field(field) => write!(f, " {field}"),
            Operand::List(items) => {
                f.write_str(" (")?;
                for (i, lit) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{lit}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Expr {
    fn fmt_operand(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(_) | Expr::Or(_) => write!(f, "({self})"),
            _ => write!(f, "{self}"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                let joiner = if matches!(self, Expr::And(_)) {
                    " and "
                } else {
                    " or "
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(joiner)?;
                    }
                    item.fmt_operand(f)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_str("not ")?;
                inner.fmt_operand(f)
            }
            Expr::Cmp(cmp) => write!(f, "{cmp}"),
        }
    }
}

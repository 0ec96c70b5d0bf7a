//! Checked tree to evaluator: literals are already parsed, `in` lists become
//! hash sets or sorted slices, `icontains` needles are lowercased and globs
//! tokenised, so that evaluating an event allocates nothing. Transformers
//! that make new text (`tolower`, `b64`) and comparisons with another field
//! (`val(...)`, whose test is built per event) do allocate.

use std::collections::HashSet;
use std::net::IpAddr;

use super::ast::Op;
use super::check::{Scalar, Typed, TypedCmp};
use super::glob::Glob;
use super::FieldSource;
use crate::fields::{FieldArg, FieldExpr, FieldId, FieldRef, FieldType, Value, MAX_ANCESTORS};

#[derive(Debug)]
pub(crate) enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Leaf(Leaf),
}

#[derive(Debug)]
pub(crate) struct Leaf {
    /// The field and the transformers applied to its values.
    pub lhs: FieldExpr,
    pub source: Source,
    /// `!=`: the value is present and fails the test.
    pub negate: bool,
    pub op: Op,
    pub rhs: Rhs,
}

/// Which values of the left side the test sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The field's one value.
    One,
    /// Each value of a list field (plain `proc.aname`): true when one passes.
    AnyOf,
    /// `len()` of a list field: the number of its values.
    Count,
}

/// What the left side is compared with.
#[derive(Debug)]
pub(crate) enum Rhs {
    /// Literals, compiled into the test.
    Literal(Test),
    /// Another field of the same event (`val(...)`): the test is built from
    /// its value for each event; no value, no match.
    Field(FieldExpr),
}

/// The test a present value must pass.
#[derive(Debug)]
pub(crate) enum Test {
    Exists,
    TextEq(Box<[u8]>),
    TextIn(HashSet<Box<[u8]>>),
    Contains(Box<[u8]>),
    /// The needle is ASCII-lowercased; matching folds ASCII case only.
    IContains(Box<[u8]>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
    Glob(Glob),
    /// The pattern is ASCII-lowercased; values are lowercased before matching.
    IGlob(Glob),
    /// Paths: a value matches one equal to it or a directory containing it.
    PMatch(Box<[Box<[u8]>]>),
    Regex(regex::bytes::Regex),
    Num(NumOp, i128),
    /// Sorted, for binary search.
    NumIn(Box<[i128]>),
    /// Which of false/true pass.
    Bool {
        pass_false: bool,
        pass_true: bool,
    },
    IpIn(Box<[IpAddr]>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

pub(crate) fn compile(typed: &Typed) -> Node {
    match typed {
        Typed::And(items) => Node::And(items.iter().map(compile).collect()),
        Typed::Or(items) => Node::Or(items.iter().map(compile).collect()),
        Typed::Not(inner) => Node::Not(Box::new(compile(inner))),
        Typed::Cmp(cmp) => Node::Leaf(leaf(cmp)),
    }
}

fn text(s: &Scalar) -> Box<[u8]> {
    match s {
        Scalar::Text(t) => t.as_bytes().into(),
        Scalar::Bytes(b) => b.as_slice().into(),
        _ => Box::default(),
    }
}

fn int(s: &Scalar) -> i128 {
    match s {
        Scalar::Int(n) => *n,
        _ => 0,
    }
}

fn leaf(cmp: &TypedCmp) -> Leaf {
    let source = if cmp.lhs.counts_list() {
        Source::Count
    } else if cmp.lhs.field.is_list() {
        Source::AnyOf
    } else {
        Source::One
    };
    let rhs = match &cmp.rhs {
        Some(field) => Rhs::Field(field.clone()),
        None => Rhs::Literal(literal_test(cmp)),
    };
    Leaf {
        lhs: cmp.lhs.clone(),
        source,
        negate: cmp.op == Op::Ne,
        op: cmp.op,
        rhs,
    }
}

fn literal_test(cmp: &TypedCmp) -> Test {
    let first = cmp.values.first();
    let one_text = || first.map(text).unwrap_or_default();
    match (cmp.op, cmp.ty) {
        (Op::Exists, _) => Test::Exists,
        (Op::Contains, _) => Test::Contains(one_text()),
        (Op::IContains, _) => Test::IContains(one_text().to_ascii_lowercase().into()),
        (Op::StartsWith, _) => Test::StartsWith(one_text()),
        (Op::EndsWith, _) => Test::EndsWith(one_text()),
        (Op::Glob, _) => Test::Glob(Glob::new(&one_text())),
        (Op::IGlob, _) => Test::IGlob(Glob::new(&one_text().to_ascii_lowercase())),
        (Op::BContains, _) => Test::Contains(one_text()),
        (Op::BStartsWith, _) => Test::StartsWith(one_text()),
        (Op::PMatch, _) => Test::PMatch(cmp.values.iter().map(text).collect()),
        // Checked when the filter was checked, so it compiles.
        (Op::Regex, _) => match first {
            Some(Scalar::Text(re)) => {
                regex::bytes::Regex::new(re).map_or(Test::Exists, Test::Regex)
            }
            _ => Test::Exists,
        },
        (Op::Eq | Op::Ne | Op::In | Op::Intersects, FieldType::Str | FieldType::Bytes) => {
            if matches!(cmp.op, Op::In | Op::Intersects) {
                Test::TextIn(cmp.values.iter().map(text).collect())
            } else {
                Test::TextEq(one_text())
            }
        }
        (Op::Eq | Op::Ne | Op::In | Op::Intersects, FieldType::Bool) => {
            let has = |b| cmp.values.contains(&Scalar::Bool(b));
            Test::Bool {
                pass_false: has(false),
                pass_true: has(true),
            }
        }
        (Op::Eq | Op::Ne | Op::In | Op::Intersects, FieldType::IpAddr) => Test::IpIn(
            cmp.values
                .iter()
                .filter_map(|v| match v {
                    Scalar::Ip(ip) => Some(ip.to_canonical()),
                    _ => None,
                })
                .collect(),
        ),
        (Op::In | Op::Intersects, _) => {
            let mut list: Vec<i128> = cmp.values.iter().map(int).collect();
            list.sort_unstable();
            list.dedup();
            Test::NumIn(list.into())
        }
        (op, _) => Test::Num(num_op(op), first.map(int).unwrap_or_default()),
    }
}

fn num_op(op: Op) -> NumOp {
    match op {
        Op::Lt => NumOp::Lt,
        Op::Le => NumOp::Le,
        Op::Gt => NumOp::Gt,
        Op::Ge => NumOp::Ge,
        _ => NumOp::Eq,
    }
}

/// The test `op` makes against one value of another field; `None` when the
/// value is of no use to the operator (which type checking rules out).
fn test_against(op: Op, value: &Value<'_>) -> Option<Test> {
    let text = || bytes(value).map(Box::<[u8]>::from);
    Some(match op {
        Op::Eq | Op::Ne | Op::In | Op::Intersects => match value {
            Value::Str(_) | Value::Bytes(_) => Test::TextEq(text()?),
            Value::U64(_) | Value::I64(_) => Test::Num(NumOp::Eq, number(value)?),
            Value::Bool(b) => Test::Bool {
                pass_false: !b,
                pass_true: *b,
            },
            Value::Ip(ip) => Test::IpIn(Box::new([ip.to_canonical()])),
        },
        Op::Lt | Op::Le | Op::Gt | Op::Ge => Test::Num(num_op(op), number(value)?),
        Op::Contains | Op::BContains => Test::Contains(text()?),
        Op::IContains => Test::IContains(text()?.to_ascii_lowercase().into()),
        Op::StartsWith | Op::BStartsWith => Test::StartsWith(text()?),
        Op::EndsWith => Test::EndsWith(text()?),
        Op::Glob => Test::Glob(Glob::new(&text()?)),
        Op::IGlob => Test::IGlob(Glob::new(&text()?.to_ascii_lowercase())),
        Op::PMatch => Test::PMatch(Box::new([text()?])),
        Op::Regex | Op::Exists => return None,
    })
}

fn bytes<'v>(value: &'v Value<'_>) -> Option<&'v [u8]> {
    match value {
        Value::Str(s) => Some(s.as_bytes()),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

fn contains_ascii_nocase(hay: &[u8], lower_needle: &[u8]) -> bool {
    lower_needle.is_empty()
        || hay
            .windows(lower_needle.len())
            .any(|w| w.eq_ignore_ascii_case(lower_needle))
}

impl Test {
    /// Whether a present value passes. A value of the wrong variant for the
    /// field's type (an event-side bug) passes nothing.
    pub(super) fn passes(&self, value: &Value<'_>) -> bool {
        match self {
            Test::Exists => true,
            Test::TextEq(lit) => bytes(value) == Some(&**lit),
            Test::TextIn(set) => bytes(value).is_some_and(|b| set.contains(b)),
            Test::Contains(lit) => bytes(value)
                .is_some_and(|b| lit.is_empty() || b.windows(lit.len()).any(|w| w == &**lit)),
            Test::IContains(lit) => bytes(value).is_some_and(|b| contains_ascii_nocase(b, lit)),
            Test::StartsWith(lit) => bytes(value).is_some_and(|b| b.starts_with(lit)),
            Test::EndsWith(lit) => bytes(value).is_some_and(|b| b.ends_with(lit)),
            Test::Glob(glob) => bytes(value).is_some_and(|b| glob.matches(b)),
            Test::IGlob(glob) => {
                bytes(value).is_some_and(|b| glob.matches(&b.to_ascii_lowercase()))
            }
            Test::Regex(re) => bytes(value).is_some_and(|b| re.is_match(b)),
            Test::PMatch(paths) => {
                bytes(value).is_some_and(|b| paths.iter().any(|p| path_within(b, p)))
            }
            Test::Num(op, lit) => {
                let Some(v) = number(value) else { return false };
                match op {
                    NumOp::Eq => v == *lit,
                    NumOp::Lt => v < *lit,
                    NumOp::Le => v <= *lit,
                    NumOp::Gt => v > *lit,
                    NumOp::Ge => v >= *lit,
                }
            }
            Test::NumIn(list) => number(value).is_some_and(|v| list.binary_search(&v).is_ok()),
            Test::Bool {
                pass_false,
                pass_true,
            } => match value {
                Value::Bool(true) => *pass_true,
                Value::Bool(false) => *pass_false,
                _ => false,
            },
            Test::IpIn(list) => match value {
                Value::Ip(ip) => list.contains(&ip.to_canonical()),
                _ => false,
            },
        }
    }
}

/// Whether `path` is `dir` or lies below it (`/etc` matches `/etc/passwd`,
/// not `/etcetera`).
fn path_within(path: &[u8], dir: &[u8]) -> bool {
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest[0] == b'/' || dir.ends_with(b"/"),
        None => false,
    }
}

fn number(value: &Value<'_>) -> Option<i128> {
    match value {
        Value::U64(n) => Some(i128::from(*n)),
        Value::I64(n) => Some(i128::from(*n)),
        _ => None,
    }
}

impl Leaf {
    /// sysdig's semantics: a comparison on a field the event lacks is false
    /// (so is one with another field the event lacks); `exists` is the
    /// presence test.
    fn eval<S: FieldSource + ?Sized>(&self, src: &mut S) -> bool {
        match &self.rhs {
            Rhs::Literal(test) => self.eval_with(test, src),
            Rhs::Field(rhs) => {
                let Some(value) = rhs.eval(|f| src.value(f).map(Value::into_owned)) else {
                    return false;
                };
                test_against(self.op, &value).is_some_and(|test| self.eval_with(&test, src))
            }
        }
    }

    fn eval_with<S: FieldSource + ?Sized>(&self, test: &Test, src: &mut S) -> bool {
        let field = &self.lhs.field;
        match self.source {
            Source::One => src.value(field).is_some_and(|v| self.passes(test, v)),
            // libsinsp walks the ancestors, parent first, and matches on the first
            // that passes (`!=` included: some ancestor differs).
            Source::AnyOf => (1..=MAX_ANCESTORS)
                .map_while(|level| {
                    let field = FieldRef {
                        id: field.id,
                        arg: FieldArg::Index(level),
                    };
                    src.value(&field).map(|v| self.passes(test, v))
                })
                .any(|passed| passed),
            Source::Count => {
                let count = (1..=MAX_ANCESTORS)
                    .take_while(|&level| {
                        src.value(&FieldRef {
                            id: field.id,
                            arg: FieldArg::Index(level),
                        })
                        .is_some()
                    })
                    .count();
                test.passes(&Value::U64(count as u64)) != self.negate
            }
        }
    }

    /// Whether one value of the field passes: transformed, then tested. A
    /// value that does not transform (`b64` of text that is not base64) is
    /// like a missing one.
    fn passes(&self, test: &Test, value: Value<'_>) -> bool {
        self.lhs
            .transform(value)
            .is_some_and(|v| test.passes(&v) != self.negate)
    }

    /// Whether a leaf compared with literals passes for an event whose field
    /// has `value`; `None` for a leaf compared with another field.
    pub(super) fn passes_value(&self, value: Value<'_>) -> Option<bool> {
        match &self.rhs {
            Rhs::Literal(test) => Some(self.passes(test, value)),
            Rhs::Field(_) => None,
        }
    }
}

impl Node {
    pub(super) fn eval<S: FieldSource + ?Sized>(&self, src: &mut S) -> bool {
        match self {
            Node::And(items) => items.iter().all(|n| n.eval(src)),
            Node::Or(items) => items.iter().any(|n| n.eval(src)),
            Node::Not(inner) => !inner.eval(src),
            Node::Leaf(leaf) => leaf.eval(src),
        }
    }

    /// The filter's result for every event that has the values `src` gives
    /// for the fields `known` admits, whatever the other fields: `None` when
    /// the others can still change it (Kleene's three-valued logic).
    pub(super) fn decide<S: FieldSource + ?Sized>(
        &self,
        src: &mut S,
        known: &impl Fn(FieldId) -> bool,
    ) -> Option<bool> {
        match self {
            Node::And(items) | Node::Or(items) => {
                // One operand with this value decides the whole; otherwise
                // any undecided operand leaves the whole undecided.
                let decisive = matches!(self, Node::Or(_));
                let mut whole = Some(!decisive);
                for n in items {
                    match n.decide(src, known) {
                        Some(v) if v == decisive => return Some(decisive),
                        None => whole = None,
                        Some(_) => {}
                    }
                }
                whole
            }
            Node::Not(inner) => inner.decide(src, known).map(|b| !b),
            Node::Leaf(leaf) => leaf.reads_only(known).then(|| leaf.eval(src)),
        }
    }
}

impl Leaf {
    /// Whether every field the leaf reads is one `known` admits.
    fn reads_only(&self, known: &impl Fn(FieldId) -> bool) -> bool {
        let rhs_known = match &self.rhs {
            Rhs::Literal(_) => true,
            Rhs::Field(rhs) => known(rhs.field.id),
        };
        self.source == Source::One && known(self.lhs.field.id) && rhs_known
    }
}

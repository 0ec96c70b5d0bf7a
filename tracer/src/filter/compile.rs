//! Checked tree to evaluator: literals are already parsed, `in` lists become
//! hash sets or sorted slices, `icontains` needles are lowercased and globs
//! tokenised, so that evaluating an event allocates nothing.

use std::collections::HashSet;
use std::net::IpAddr;

use super::ast::Op;
use super::check::{Scalar, Typed, TypedCmp};
use super::glob::Glob;
use super::FieldSource;
use crate::fields::{FieldArg, FieldId, FieldRef, FieldType, Value};

/// How many ancestors plain `proc.aname` walks at most; a bound, so that a
/// parent loop in a broken process table cannot hang the evaluator.
pub const MAX_ANCESTORS: i64 = 64;

#[derive(Debug)]
pub(crate) enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Leaf(Leaf),
}

#[derive(Debug)]
pub(crate) struct Leaf {
    pub field: FieldRef,
    /// Plain `proc.aname`: true when any ancestor passes the test.
    pub any_ancestor: bool,
    /// `!=`: the value is present and fails `test`.
    pub negate: bool,
    pub test: Test,
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
    let any_ancestor = cmp.field.id == FieldId::ProcAname && cmp.field.arg == FieldArg::None;
    let first = cmp.values.first();
    let one_text = || first.map(text).unwrap_or_default();
    let negate = cmp.op == Op::Ne;
    let test = match (cmp.op, cmp.ty) {
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
        (Op::Eq | Op::Ne | Op::In, FieldType::Str | FieldType::Bytes) => {
            if cmp.op == Op::In {
                Test::TextIn(cmp.values.iter().map(text).collect())
            } else {
                Test::TextEq(one_text())
            }
        }
        (Op::Eq | Op::Ne | Op::In, FieldType::Bool) => {
            let has = |b| cmp.values.contains(&Scalar::Bool(b));
            Test::Bool {
                pass_false: has(false),
                pass_true: has(true),
            }
        }
        (Op::Eq | Op::Ne | Op::In, FieldType::IpAddr) => Test::IpIn(
            cmp.values
                .iter()
                .filter_map(|v| match v {
                    Scalar::Ip(ip) => Some(ip.to_canonical()),
                    _ => None,
                })
                .collect(),
        ),
        (Op::In, _) => {
            let mut list: Vec<i128> = cmp.values.iter().map(int).collect();
            list.sort_unstable();
            list.dedup();
            Test::NumIn(list.into())
        }
        (op, _) => {
            let num_op = match op {
                Op::Lt => NumOp::Lt,
                Op::Le => NumOp::Le,
                Op::Gt => NumOp::Gt,
                Op::Ge => NumOp::Ge,
                _ => NumOp::Eq,
            };
            Test::Num(num_op, first.map(int).unwrap_or_default())
        }
    };
    Leaf {
        field: cmp.field.clone(),
        any_ancestor,
        negate,
        test,
    }
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
    pub fn passes(&self, value: &Value<'_>) -> bool {
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
    /// sysdig's semantics: a comparison on a field the event lacks is false;
    /// `exists` is the presence test.
    fn eval<S: FieldSource + ?Sized>(&self, src: &mut S) -> bool {
        if !self.any_ancestor {
            return src
                .value(&self.field)
                .is_some_and(|v| self.test.passes(&v) != self.negate);
        }
        // libsinsp walks the ancestors, parent first, and matches on the first
        // that passes (`!=` included: some ancestor differs).
        (1..=MAX_ANCESTORS)
            .map_while(|level| {
                let field = FieldRef {
                    id: self.field.id,
                    arg: FieldArg::Index(level),
                };
                src.value(&field)
                    .map(|v| self.test.passes(&v) != self.negate)
            })
            .any(|passed| passed)
    }
}

impl Node {
    pub fn eval<S: FieldSource + ?Sized>(&self, src: &mut S) -> bool {
        match self {
            Node::And(items) => items.iter().all(|n| n.eval(src)),
            Node::Or(items) => items.iter().any(|n| n.eval(src)),
            Node::Not(inner) => !inner.eval(src),
            Node::Leaf(leaf) => leaf.eval(src),
        }
    }
}

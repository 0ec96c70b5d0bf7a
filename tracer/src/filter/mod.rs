//! The `-c` filter language, as sysdig's: parse -> check -> compile ->
//! evaluate, plus the part of a filter the kernel can test ([`PushDown`]).
//!
//! ```text
//! proc.name=cat and (evt.type in (open, openat) or fd.name startswith /etc)
//! tolower(basename(fd.name)) = passwd and fd.name != val(proc.exepath)
//! ```
//!
//! [`Filter::parse`] reports every problem at once ([`FilterErrors`] renders
//! each with a caret under its column). [`Filter::matches`] pulls field values
//! through [`FieldSource`], which the event side implements. [`clause`]
//! writes filter text the other way, from a field and its value.

mod arch;
mod ast;
mod check;
pub mod clause;
mod compile;
mod error;
mod glob;
mod parser;
mod pushdown;
#[cfg(test)]
mod tests;

use std::fmt;

pub use crate::fields::MAX_ANCESTORS;
pub use arch::ArchProblems;
pub use ast::{Applied, Comparison, Expr, FieldText, Literal, Op, Operand};
pub use check::{is_event_type, PROCEXIT};
pub use error::{ErrorKind, FilterError, FilterErrors, Span};
pub use parser::MAX_DEPTH;
pub use pushdown::{PushDown, SyscallSet, TaskKey};

use crate::fields::{FieldId, FieldRef, Value};

/// Field values of one event, as the filter asks for them.
///
/// Return `None` when the event has no value for the field (`fd.name` on a
/// `getpid`); the comparison is then false. Return the [`Value`] variant that
/// matches the field's [`FieldType`](crate::fields::FieldType). Values may
/// borrow from `self`, so an implementation over a borrowed event and borrowed
/// process tables hands out its strings without copying them.
///
/// Plain `proc.aname` ("any ancestor") is asked as `proc.aname[1]`,
/// `proc.aname[2]`, ... until `None`.
pub trait FieldSource {
    fn value(&mut self, field: &FieldRef) -> Option<Value<'_>>;
}

/// A parsed, checked and compiled filter.
pub struct Filter {
    /// The text it was parsed from, which the spans point into.
    source: String,
    expr: Expr,
    root: compile::Node,
    fields: Vec<FieldRef>,
}

impl Filter {
    /// Parses and checks `src`; on failure, every problem found.
    pub fn parse(src: &str) -> Result<Filter, FilterErrors> {
        let parsed = parser::parse(src);
        let fail = |errors| FilterErrors {
            source: src.to_owned(),
            errors,
        };
        let Some(expr) = parsed.expr else {
            let mut errors = parsed.errors;
            check::check_comparisons(&parsed.comparisons, &mut errors);
            errors.sort_by_key(|e| e.span.start);
            return Err(fail(errors));
        };
        let typed = check::check(&expr).map_err(fail)?;
        let root = compile::compile(&typed);
        let mut fields = Vec::new();
        collect_fields(&typed, &mut fields);
        Ok(Filter {
            source: src.to_owned(),
            expr,
            root,
            fields,
        })
    }

    /// Whether the event `src` describes passes the filter.
    pub fn matches<S: FieldSource + ?Sized>(&self, src: &mut S) -> bool {
        self.root.eval(src)
    }

    /// The result for every event whose fields that `known` admits have
    /// the values `src` gives; `None` when other fields still matter.
    pub fn decide<S: FieldSource + ?Sized>(
        &self,
        src: &mut S,
        known: &impl Fn(FieldId) -> bool,
    ) -> Option<bool> {
        self.root.decide(src, known)
    }

    /// Every distinct field the filter reads, in order of first use.
    pub fn fields(&self) -> impl Iterator<Item = &FieldRef> {
        self.fields.iter()
    }

    /// Whether the filter reads `id` (with any argument).
    pub fn uses(&self, id: FieldId) -> bool {
        self.fields.iter().any(|f| f.id == id)
    }

    /// The filter as parsed.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// What the kernel may drop without changing which events match.
    pub fn pushdown(&self) -> PushDown {
        pushdown::pushdown(&self.root)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Filter")
            .field(&self.expr.to_string())
            .finish()
    }
}

fn collect_fields(typed: &check::Typed, out: &mut Vec<FieldRef>) {
    match typed {
        check::Typed::And(items) | check::Typed::Or(items) => {
            items.iter().for_each(|t| collect_fields(t, out))
        }
        check::Typed::Not(inner) => collect_fields(inner, out),
        check::Typed::Cmp(cmp) => {
            for expr in std::iter::once(&cmp.lhs).chain(&cmp.rhs) {
                if !out.contains(&expr.field) {
                    out.push(expr.field.clone());
                }
            }
        }
    }
}

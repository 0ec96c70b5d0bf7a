//! `sdtrace follow -j` prints spans, not events: one JSON object per span,
//! a trace's spans together, parents first. Here they are grouped back into
//! traces and walked by their parent links.
use std::fmt;

use serde_json::Value;
use tests::EventExt;

/// The spans of one trace, in the order sdtrace printed them.
pub(super) struct Trace {
    pub spans: Vec<Value>,
}

/// Splits the spans into traces, checking what the output promises: a
/// trace's spans are printed together, each after its parent.
pub(super) fn traces(spans: &[Value]) -> Vec<Trace> {
    let mut found: Vec<(i64, Trace)> = Vec::new();
    for span in spans {
        let id = span
            .int_field("trace")
            .unwrap_or_else(|| panic!("a span without a trace number: {span}"));
        match found.last_mut() {
            Some((last, trace)) if *last == id => trace.spans.push(span.clone()),
            _ => {
                assert!(
                    found.iter().all(|(seen, _)| *seen != id),
                    "trace {id}'s spans are not printed together: {span}"
                );
                found.push((
                    id,
                    Trace {
                        spans: vec![span.clone()],
                    },
                ));
            }
        }
    }
    for (_, trace) in &found {
        for (i, span) in trace.spans.iter().enumerate() {
            if let Some(parent) = span.parent() {
                assert!(
                    trace.spans[..i].iter().any(|s| s.id() == parent),
                    "span {} printed before its parent {parent}\n{trace}",
                    span.id()
                );
            }
        }
    }
    found.into_iter().map(|(_, trace)| trace).collect()
}

/// Reading one span.
pub(super) trait SpanExt {
    fn id(&self) -> i64;
    fn parent(&self) -> Option<i64>;
    fn kind(&self) -> &str;
    /// Its events; an absent list reads as empty.
    fn events(&self) -> &[Value];
    /// Its first event whose `evt.type` is one of `types`.
    fn first_event(&self, types: &[&str]) -> Option<&Value> {
        self.events()
            .iter()
            .find(|e| e.evt_type().is_some_and(|t| types.contains(&t)))
    }
}

impl SpanExt for Value {
    fn id(&self) -> i64 {
        self.int_field("span")
            .unwrap_or_else(|| panic!("a span without a span number: {self}"))
    }

    fn parent(&self) -> Option<i64> {
        self.int_field("parent")
    }

    fn kind(&self) -> &str {
        self.str_field("kind")
            .unwrap_or_else(|| panic!("a span without a kind: {self}"))
    }

    fn events(&self) -> &[Value] {
        self.get("events")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

impl Trace {
    pub(super) fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.spans.iter().filter(|s| s.kind() == kind).collect()
    }

    /// The trace's root: its one span without a parent.
    pub(super) fn root(&self) -> &Value {
        let roots: Vec<&Value> = self.spans.iter().filter(|s| s.parent().is_none()).collect();
        assert_eq!(roots.len(), 1, "one root span in\n{self}");
        roots[0]
    }

    /// The one child of `parent` of `kind`; panics with the trace otherwise.
    pub(super) fn child(&self, parent: &Value, kind: &str) -> &Value {
        let children: Vec<&Value> = self
            .spans
            .iter()
            .filter(|s| s.parent() == Some(parent.id()) && s.kind() == kind)
            .collect();
        assert_eq!(
            children.len(),
            1,
            "one {kind} span under span {} in\n{self}",
            parent.id()
        );
        children[0]
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for span in &self.spans {
            writeln!(f, "{span}")?;
        }
        Ok(())
    }
}

/// The `rel_ms` of an event (a number on every event).
pub(super) fn event_ms(event: &Value) -> f64 {
    event
        .get("rel_ms")
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no numeric rel_ms in event {event}"))
}

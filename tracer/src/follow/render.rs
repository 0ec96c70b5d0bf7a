//! A finished trace as text (one timeline, indented by hop) or as JSON
//! (one object per span, with its parent's id, for trace viewers).

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::event::clock::Clock;

use super::trace::{Kind, Line, Span, Trace};

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// When the trace began: its first span's start or first event.
fn first_ts(t: &Trace) -> u64 {
    t.spans
        .iter()
        .flat_map(|s| std::iter::once(s.start).chain(s.lines.iter().map(|l| l.ts)))
        .min()
        .unwrap_or(0)
}

/// `nginx[812]`, with ` @web` for a container and ` pod=ns/name` for a pod.
fn who_label(s: &Span, tid: u32) -> String {
    let mut out = format!("{}[{tid}]", s.who.name);
    match (&s.who.container_name, &s.who.container_id) {
        (Some(name), _) => {
            let _ = write!(out, " @{name}");
        }
        (None, Some(id)) => {
            let _ = write!(out, " @{id}");
        }
        _ => {}
    }
    if let Some(pod) = &s.who.pod {
        let _ = write!(out, " pod={pod}");
    }
    out
}

/// The first write back on a server's connection: when it answered.
fn first_answer(s: &Span) -> Option<u64> {
    s.lines
        .iter()
        .find(|l| {
            l.fd_name.as_deref() == s.lines.first().and_then(|f| f.fd_name.as_deref())
                && matches!(
                    l.evt_type.as_str(),
                    "write" | "writev" | "sendto" | "sendmsg" | "sendfile" | "sendmmsg"
                )
        })
        .map(|l| l.ts)
}

pub fn text(out: &mut Vec<u8>, t: &Trace, clock: &Clock) {
    let t0 = first_ts(t);
    let mut s = String::new();
    let root = &t.spans[0];
    let mut when = Vec::new();
    clock.write_datetime(&mut when, t0);
    let _ = writeln!(
        s,
        "trace {}: {} {} at {}",
        t.id,
        who_label(root, root.who.tid),
        root.flow.map(|f| f.to_string()).unwrap_or_default(),
        String::from_utf8_lossy(&when)
    );
    // Every line of every span, in time order; a NAT hop is one line.
    let mut rows: Vec<(u64, usize, Option<&Line>)> = Vec::new();
    for (i, span) in t.spans.iter().enumerate() {
        match span.kind {
            Kind::Nat => rows.push((span.start, i, None)),
            _ => rows.extend(span.lines.iter().map(|l| (l.ts, i, Some(l)))),
        }
    }
    rows.sort_by_key(|&(ts, i, _)| (ts, i));
    for (ts, i, line) in rows {
        let span = &t.spans[i];
        let indent = "  ".repeat(span.depth as usize + usize::from(span.kind == Kind::Nat));
        let _ = write!(s, "{:>10.3} ms  {indent}", ms(ts - t0));
        match (line, &span.nat) {
            (Some(l), _) => {
                let _ = writeln!(s, "{} {} {}", who_label(span, l.tid), l.evt_type, l.info);
            }
            (None, Some((original, translated, rules))) => {
                let rules = if rules.is_empty() {
                    "NAT".to_owned()
                } else {
                    rules.join(", ")
                };
                let _ = writeln!(s, "↳ {rules}: {original} becomes {translated}");
            }
            (None, None) => {}
        }
    }
    for span in &t.spans {
        summarize(&mut s, t, span, t0);
    }
    s.push('\n');
    out.extend_from_slice(s.as_bytes());
}

/// One line per hop: how long it took and how long the next hop took to
/// pick the connection up; and where a hop failed.
fn summarize(s: &mut String, t: &Trace, span: &Span, t0: u64) {
    let indent = "  ".repeat(span.depth as usize);
    let took = span.end.map_or("still open".to_owned(), |e| {
        format!("closed after {:.3} ms", ms(e - span.start))
    });
    match span.kind {
        Kind::Client => {
            let _ = writeln!(
                s,
                "  {indent}hop {}: {} -> {}: connect at +{:.3} ms, {took}",
                span.depth,
                who_label(span, span.who.tid),
                span.flow.map(|f| f.dst.to_string()).unwrap_or_default(),
                ms(span.start - t0)
            );
        }
        Kind::Server => {
            let client = client_of(t, span);
            let after = client.map_or(String::new(), |c| {
                format!(
                    " {:.3} ms after the connect,",
                    ms(span.start.saturating_sub(c.start))
                )
            });
            let answer = first_answer(span).map_or(String::new(), |a| {
                format!(" first write back after {:.3} ms,", ms(a - span.start))
            });
            let _ = writeln!(
                s,
                "  {indent}hop {}: {}: accepted{after}{answer} {took}",
                span.depth,
                who_label(span, span.who.tid),
            );
        }
        Kind::Nat => {}
    }
    if span.elided > 0 {
        let _ = writeln!(
            s,
            "  {indent}  ({} more events of this hop not shown)",
            span.elided
        );
    }
    if let (Some(e), false) = (&span.error, span.kind == Kind::Nat) {
        let _ = writeln!(s, "  {indent}✗ {e}");
    }
}

/// The client span a server span answers (through its NAT hop, if any).
fn client_of<'t>(t: &'t Trace, server: &Span) -> Option<&'t Span> {
    let mut parent = server.parent;
    while let Some(p) = parent {
        let span = t.spans.iter().find(|s| s.id == p)?;
        if span.kind == Kind::Client {
            return Some(span);
        }
        parent = span.parent;
    }
    None
}

pub fn json(out: &mut Vec<u8>, t: &Trace, clock: &Clock) {
    let t0 = first_ts(t);
    for span in &t.spans {
        let mut o = Map::new();
        o.insert("trace".into(), json!(t.id));
        o.insert("span".into(), json!(span.id));
        o.insert("parent".into(), json!(span.parent));
        o.insert("kind".into(), json!(span.kind.as_str()));
        o.insert("proc.name".into(), json!(span.who.name));
        o.insert("proc.pid".into(), json!(span.who.pid));
        o.insert("thread.tid".into(), json!(span.who.tid));
        if let Some(id) = &span.who.container_id {
            o.insert("container.id".into(), json!(id));
        }
        if let Some(name) = &span.who.container_name {
            o.insert("container.name".into(), json!(name));
        }
        if let Some(pod) = &span.who.pod {
            o.insert("k8s.pod.name".into(), json!(pod));
        }
        if let Some(f) = span.flow {
            o.insert("tuple".into(), json!(f.to_string()));
        }
        if let Some((original, translated, rules)) = &span.nat {
            o.insert("original".into(), json!(original.to_string()));
            o.insert("translated".into(), json!(translated.to_string()));
            o.insert("rule".into(), json!(rules.join(", ")));
        }
        o.insert("start_ns".into(), json!(clock.epoch_ns(span.start)));
        o.insert("rel_ms".into(), json!(ms(span.start - t0)));
        o.insert(
            "duration_ms".into(),
            json!(span.end.map(|e| ms(e.saturating_sub(span.start)))),
        );
        if let Some(e) = &span.error {
            o.insert("error".into(), json!(e));
        }
        if span.elided > 0 {
            o.insert("events_not_shown".into(), json!(span.elided));
        }
        let events: Vec<Value> = span
            .lines
            .iter()
            .map(|l| {
                let mut e = Map::new();
                e.insert("rel_ms".into(), json!(ms(l.ts.saturating_sub(t0))));
                e.insert("thread.tid".into(), json!(l.tid));
                e.insert("evt.type".into(), json!(l.evt_type));
                e.insert("evt.res".into(), json!(l.res));
                if let Some(fd) = &l.fd_name {
                    e.insert("fd.name".into(), json!(fd));
                }
                e.insert("evt.info".into(), json!(l.info));
                Value::Object(e)
            })
            .collect();
        o.insert("events".into(), Value::Array(events));
        let _ = serde_json::to_writer(&mut *out, &Value::Object(o));
        out.push(b'\n');
    }
}

//! The convergence mode's output: one line (or JSON object) per derived
//! event, and the summary table at the end.

use std::io::Write;

use serde_json::{json, Map, Value};

use crate::event::clock::Clock;

use super::model::{Derived, Kind};
use super::summary::{Row, SummaryRow};

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

fn time(clock: &Clock, ts: u64) -> String {
    let mut t = Vec::with_capacity(18);
    clock.write_time(&mut t, ts);
    // Microseconds are enough for a human reading changes.
    t.truncate(15);
    String::from_utf8_lossy(&t).into_owned()
}

/// `12:00:01.123456 CONVERGE file:/etc/app.conf  minimgmt[4100]  write,chmod  cause=drift #12 via inotify  ttc=1.93ms`
pub fn text(out: &mut Vec<u8>, d: &Derived, clock: &Clock) {
    let _ = write!(
        out,
        "{} {:<8} {}",
        time(clock, d.ts_ns),
        d.kind.name(),
        d.resource
    );
    if let Some(f) = &d.flap {
        let _ = writeln!(
            out,
            "  {} <-> {}  {} changes of hands, one back-and-forth every {:.1}s",
            f.writers[0],
            f.writers[1],
            f.count,
            f.period_ns as f64 / 1e9
        );
        return;
    }
    let _ = write!(out, "  {}[{}]", d.actor.comm, d.actor.pid);
    if let Some(c) = &d.actor.container {
        let _ = write!(out, "@{c}");
    }
    if d.kind == Kind::Drift {
        let _ = write!(out, "  (managed by {})", d.daemon);
    }
    if !d.ops.is_empty() {
        let _ = write!(out, "  {}", d.ops.join(","));
    }
    if let Some(c) = &d.cause {
        let _ = write!(out, "  cause={}", c.describe());
    }
    if let Some(t) = d.ttc_ns {
        let _ = write!(out, "  ttc={}ms", ms(t));
    }
    out.push(b'\n');
}

pub fn json(out: &mut Vec<u8>, d: &Derived, clock: &Clock) {
    let mut o = Map::new();
    o.insert("type".into(), json!(d.kind.name()));
    o.insert("id".into(), json!(d.id));
    o.insert("ts_ns".into(), json!(clock.epoch_ns(d.ts_ns)));
    o.insert("time".into(), json!(time(clock, d.ts_ns)));
    o.insert("resource".into(), json!(d.resource.to_string()));
    o.insert("daemon".into(), json!(d.daemon));
    if let Some(f) = &d.flap {
        o.insert("writers".into(), json!(f.writers));
        o.insert("count".into(), json!(f.count));
        o.insert("period_ms".into(), json!(ms(f.period_ns)));
    } else {
        o.insert(
            "actor".into(),
            json!({
                "pid": d.actor.pid,
                "comm": d.actor.comm,
                "exe": d.actor.exe,
                "container": d.actor.container,
            }),
        );
        o.insert("ops".into(), json!(d.ops));
        o.insert(
            "cause".into(),
            d.cause.as_ref().map_or(Value::Null, |c| {
                json!({
                    "kind": c.kind.name(),
                    "id": c.id,
                    "resource": c.resource.as_ref().map(ToString::to_string),
                    "via": c.via.map(|v| v.name()),
                })
            }),
        );
        o.insert("ttc_ms".into(), json!(d.ttc_ns.map(ms)));
    }
    let _ = serde_json::to_writer(&mut *out, &Value::Object(o));
    out.push(b'\n');
}

/// The p50 and max of a resource's times to converge.
pub fn ttc_stats(row: &Row) -> Option<(u64, u64)> {
    let mut v = row.ttc_ns.clone();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some((v[(v.len() - 1) / 2], v[v.len() - 1]))
}

pub fn summary_json(out: &mut Vec<u8>, rows: &[SummaryRow]) {
    for SummaryRow {
        resource,
        daemon,
        counts: row,
    } in rows
    {
        let stats = ttc_stats(row);
        let _ = serde_json::to_writer(
            &mut *out,
            &json!({
                "type": "SUMMARY",
                "resource": resource,
                "daemon": daemon,
                "checks": row.checks,
                "drifts": row.drifts,
                "converges": row.converges,
                "ttc_p50_ms": stats.map(|s| ms(s.0)),
                "ttc_max_ms": stats.map(|s| ms(s.1)),
                "last_cause": row.last_cause,
                "flapping": row.flaps > 0,
            }),
        );
        out.push(b'\n');
    }
}

pub fn summary_text(out: &mut Vec<u8>, rows: &[SummaryRow]) {
    if rows.is_empty() {
        let _ = writeln!(out, "\nno resource of a daemon was seen");
        return;
    }
    let width = rows
        .iter()
        .map(|r| r.resource.len())
        .max()
        .unwrap_or(8)
        .clamp(8, 60);
    let dwidth = rows
        .iter()
        .map(|r| r.daemon.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "\n{:<width$} {:<dwidth$} {:>6} {:>6} {:>9} {:>9} {:>9}  {:<8} LAST CAUSE",
        "RESOURCE", "DAEMON", "CHECKS", "DRIFTS", "CONVERGES", "TTC P50", "TTC MAX", "FLAPPING"
    );
    for SummaryRow {
        resource,
        daemon,
        counts: row,
    } in rows
    {
        let stats = ttc_stats(row);
        let t = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| format!("{}ms", ms(n)));
        let flapping = if row.flaps > 0 {
            format!("yes ({})", row.flaps)
        } else {
            "no".to_owned()
        };
        let _ = writeln!(
            out,
            "{:<width$} {:<dwidth$} {:>6} {:>6} {:>9} {:>9} {:>9}  {:<8} {}",
            resource,
            daemon,
            row.checks,
            row.drifts,
            row.converges,
            t(stats.map(|s| s.0)),
            t(stats.map(|s| s.1)),
            flapping,
            row.last_cause.as_deref().unwrap_or("-"),
        );
    }
}

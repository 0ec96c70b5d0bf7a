//! The agent's `/metrics`, in Prometheus' text format: what the capture
//! loop last published, and what the server counts itself.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// What the capture loop publishes a few times a second.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Records received from the kernel.
    pub events: u64,
    /// Events sent to clients, once per client each matched.
    pub sent: u64,
    pub drops_per_cpu: Vec<u64>,
    pub decode_errors: u64,
    pub kernel_misses: u64,
    /// Matched events dropped from slow clients' queues, clients gone
    /// included.
    pub queue_drops: u64,
    /// The most the ring buffer held at one read, and its size.
    pub ring_backlog_peak: u64,
    pub ring_size: u64,
    /// The longest an event sent in the last interval took from the
    /// kernel to a client's queue.
    pub lag_ns: u64,
    pub clients: Vec<ClientRow>,
}

/// One connected client.
#[derive(Clone, Debug, Default)]
pub struct ClientRow {
    pub id: u64,
    pub peer: String,
    pub sent: u64,
    pub queue_drops: u64,
    pub queued_bytes: u64,
}

/// Shared by the capture loop (which publishes) and the server.
#[derive(Default)]
pub struct Metrics {
    snapshot: Mutex<Snapshot>,
    refused: AtomicU64,
    ready: AtomicBool,
    connections: Connections,
}

/// What the server counts of connections and their limits.
#[derive(Default)]
pub struct Connections {
    pub open: AtomicU64,
    /// Refused at accept: the server held its most connections.
    pub refused: AtomicU64,
    /// Closed without a complete first request in time.
    pub closed_no_request: AtomicU64,
    /// Closed after sitting idle.
    pub closed_idle: AtomicU64,
    /// Closed in the TLS handshake: a client that does not speak TLS, or
    /// does not trust the agent's certificate.
    pub closed_handshake: AtomicU64,
    /// Subscriptions refused: the address held its most streams.
    pub streams_refused: AtomicU64,
}

impl Metrics {
    pub fn publish(&self, snapshot: Snapshot) {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }

    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One more request refused for its credentials.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The server's connection counters.
    #[must_use]
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The programs are attached: `/healthz` says so from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    #[must_use]
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The text Prometheus scrapes.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = render(&self.snapshot(), self.refused.load(Ordering::Relaxed));
        render_connections(&mut out, &self.connections);
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn one(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// A label value with `\`, `"` and newlines escaped, as the format asks.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One number of a client's row.
type ClientColumn = fn(&ClientRow) -> u64;

fn render(s: &Snapshot, refused: u64) -> String {
    let mut out = String::new();
    one(
        &mut out,
        "sdtrace_events_total",
        "counter",
        "Records the agent received from the kernel.",
        s.events,
    );
    one(
        &mut out,
        "sdtrace_events_sent_total",
        "counter",
        "Events sent to clients, once for each client whose filter matched.",
        s.sent,
    );
    family(
        &mut out,
        "sdtrace_kernel_drops_total",
        "counter",
        "Events the kernel side lost to a full ring buffer, per CPU.",
    );
    for (cpu, n) in s.drops_per_cpu.iter().enumerate() {
        let _ = writeln!(out, "sdtrace_kernel_drops_total{{cpu=\"{cpu}\"}} {n}");
    }
    one(
        &mut out,
        "sdtrace_client_queue_drops_total",
        "counter",
        "Matched events dropped because their client read too slowly.",
        s.queue_drops,
    );
    one(
        &mut out,
        "sdtrace_clients",
        "gauge",
        "Clients subscribed now.",
        s.clients.len(),
    );
    let per_client: [(&str, &str, &str, ClientColumn); 3] = [
        (
            "sdtrace_client_sent_total",
            "counter",
            "Events sent to each connected client.",
            |c| c.sent,
        ),
        (
            "sdtrace_client_dropped_total",
            "counter",
            "Events dropped from each connected client's queue.",
            |c| c.queue_drops,
        ),
        (
            "sdtrace_client_queued_bytes",
            "gauge",
            "Bytes waiting in each connected client's queue.",
            |c| c.queued_bytes,
        ),
    ];
    for (name, kind, help, value) in per_client {
        family(&mut out, name, kind, help);
        for c in &s.clients {
            let _ = writeln!(
                out,
                "{name}{{client=\"{}\",peer=\"{}\"}} {}",
                c.id,
                label(&c.peer),
                value(c)
            );
        }
    }
    let fill = if s.ring_size == 0 {
        0.0
    } else {
        s.ring_backlog_peak as f64 / s.ring_size as f64
    };
    one(
        &mut out,
        "sdtrace_ring_buffer_fill_ratio",
        "gauge",
        "The most of the ring buffer found full at one read, in the last interval.",
        fill,
    );
    one(
        &mut out,
        "sdtrace_ring_buffer_size_bytes",
        "gauge",
        "The kernel ring buffer's size.",
        s.ring_size,
    );
    one(
        &mut out,
        "sdtrace_enrichment_lag_seconds",
        "gauge",
        "The longest an event took, in the last interval, from the kernel to a client's queue \
         (the reorder window included).",
        s.lag_ns as f64 / 1e9,
    );
    one(
        &mut out,
        "sdtrace_decode_errors_total",
        "counter",
        "Records that failed to decode.",
        s.decode_errors,
    );
    one(
        &mut out,
        "sdtrace_kernel_misses_total",
        "counter",
        "Program runs the kernel skipped (its recursion guard): events lost before the ring buffer.",
        s.kernel_misses,
    );
    one(
        &mut out,
        "sdtrace_unauthorized_requests_total",
        "counter",
        "Subscriptions refused for a missing or wrong token.",
        refused,
    );
    out
}

fn render_connections(out: &mut String, c: &Connections) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    one(
        out,
        "sdtrace_connections",
        "gauge",
        "Connections open to the agent's port.",
        get(&c.open),
    );
    one(
        out,
        "sdtrace_connections_refused_total",
        "counter",
        "Connections closed at accept: the agent held its most (--max-connections).",
        get(&c.refused),
    );
    family(
        out,
        "sdtrace_connections_closed_total",
        "counter",
        "Connections the agent closed: no complete request (or TLS handshake) in time, idle too long, or a failed TLS handshake.",
    );
    let _ = writeln!(
        out,
        "sdtrace_connections_closed_total{{reason=\"no_request\"}} {}",
        get(&c.closed_no_request)
    );
    let _ = writeln!(
        out,
        "sdtrace_connections_closed_total{{reason=\"idle\"}} {}",
        get(&c.closed_idle)
    );
    let _ = writeln!(
        out,
        "sdtrace_connections_closed_total{{reason=\"tls_handshake\"}} {}",
        get(&c.closed_handshake)
    );
    one(
        out,
        "sdtrace_streams_refused_total",
        "counter",
        "Subscriptions refused: their address held its most streams (--max-streams-per-client).",
        get(&c.streams_refused),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line is a comment or `name{labels} value` with a number.
    fn samples(text: &str) -> Vec<(String, f64)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (name, value) = l.rsplit_once(' ').expect("name and value");
                (name.to_owned(), value.parse::<f64>().expect("a number"))
            })
            .collect()
    }

    #[test]
    fn the_text_is_prometheus_exposition() {
        let metrics = Metrics::default();
        metrics.publish(Snapshot {
            events: 10,
            sent: 4,
            drops_per_cpu: vec![0, 7],
            ring_backlog_peak: 1024,
            ring_size: 4096,
            clients: vec![ClientRow {
                id: 3,
                peer: "10.0.0.1:5000 \"x\"".into(),
                sent: 4,
                queue_drops: 2,
                queued_bytes: 100,
            }],
            ..Snapshot::default()
        });
        metrics.refused();
        let text = metrics.render();
        let samples = samples(&text);
        let get = |name: &str| {
            samples
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("{name} in\n{text}"))
        };
        assert_eq!(get("sdtrace_events_total"), 10.0);
        assert_eq!(get("sdtrace_kernel_drops_total{cpu=\"1\"}"), 7.0);
        assert_eq!(get("sdtrace_clients"), 1.0);
        assert_eq!(get("sdtrace_ring_buffer_fill_ratio"), 0.25);
        assert_eq!(get("sdtrace_unauthorized_requests_total"), 1.0);
        assert_eq!(
            get("sdtrace_connections_closed_total{reason=\"idle\"}"),
            0.0
        );
        assert_eq!(
            get("sdtrace_client_dropped_total{client=\"3\",peer=\"10.0.0.1:5000 \\\"x\\\"\"}"),
            2.0
        );
        for l in text.lines().filter(|l| l.starts_with("# TYPE")) {
            assert!(l.ends_with(" counter") || l.ends_with(" gauge"), "{l}");
        }
    }
}

//! `sdtrace agent`: a node's long-running tracer. Each client subscribes
//! with its own filter and format; the kernel passes on the union of what
//! they ask for; each gets its matching events, formatted, over its own
//! bounded queue. `/metrics` and `/healthz` serve Prometheus and kubelet.

pub mod auth;
pub mod clients;
pub mod limits;
pub mod metrics;
pub mod protocol;
pub mod queue;
pub mod server;
pub mod sink;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::capture::{CaptureOptions, KernelFilter, SyscallHook};
use crate::cli::AgentCli;
use crate::k8s::PodCache;
use crate::session::Options;
use crate::session::{Plan, Session, Source};

use auth::Token;
use metrics::Metrics;
use server::Shared;
use sink::AgentSink;

/// How long the last frames get to reach clients after the loop ends.
const LAST_WORDS: Duration = Duration::from_millis(300);

pub fn main(cli: &AgentCli) -> anyhow::Result<ExitCode> {
    let token = match (&cli.token_file, cli.no_auth) {
        (Some(path), _) => Token::from_file(path)?,
        (None, true) => Token::none(),
        (None, false) => anyhow::bail!(
            "the agent needs --token-file (the clients' bearer token), or --no-auth on a trusted network"
        ),
    };
    let listener = std::net::TcpListener::bind(&cli.listen)
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", cli.listen))?;
    let address = listener.local_addr()?;
    let node = crate::k8s::node::node_name(cli.node_name.as_deref());
    let capture_options = CaptureOptions {
        buffer_size: cli.live.buffer_size,
        snaplen: cli.snaplen,
        latency: cli.latency,
        // Nothing beyond the process and fd tables until a client asks.
        filter: KernelFilter {
            syscalls: Some(BTreeSet::new()),
            ..KernelFilter::default()
        },
        hook: SyscallHook::Auto,
        kernel_paths: cli.kernel_paths,
    };
    let opts = Options {
        duration: cli.duration.map(Duration::from_secs_f64),
        latency: cli.latency,
        ..Options::default()
    };
    let mut plan = Plan::new(
        Source::Live {
            capture: capture_options,
            cri: cli.live.cri.clone(),
        },
        None,
        opts,
    );
    let pod_node = node.clone();
    plan.pods = Some(Box::new(move |_| pod_cache(&pod_node)));
    plan.node = Some(node.clone());
    plan.journal = true;
    let mut session = Session::open(plan)?;
    let switch = session
        .syscall_switch(cli.kernel_paths)?
        .ok_or_else(|| anyhow::anyhow!("the kernel's syscall table is missing"))?;
    let metrics = Arc::new(Metrics::default());
    let (joining, joined) = std::sync::mpsc::channel();
    let sink = AgentSink::new(
        joined,
        switch,
        metrics.clone(),
        session.pods_live(),
        session.clock(),
        sink::UserFiles {
            passwd: std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            group: std::fs::read_to_string("/etc/group").unwrap_or_default(),
        },
    );
    let shared = Shared::new(
        token,
        metrics.clone(),
        joining,
        node.clone(),
        cli.client_queue as usize,
        limits::Limits {
            connections: cli.max_connections,
            streams_per_peer: cli.max_streams_per_client,
            first_request: seconds("--first-request-timeout", cli.first_request_timeout)?,
            idle: seconds("--idle-timeout", cli.idle_timeout)?,
        },
        cli.metrics_auth,
    );
    server::spawn(listener, Arc::new(shared))?;
    metrics.set_ready();
    eprintln!("sdtrace agent: node {node}, listening on {address}");
    let report = session.run(Some(Box::new(sink)))?;
    std::thread::sleep(LAST_WORDS);
    let snapshot = metrics.snapshot();
    let drops = &report.drops_per_cpu;
    eprintln!(
        "sdtrace agent: {} events, {} sent to clients, {} dropped by the kernel (per CPU: {:?}), {} dropped from slow clients' queues",
        report.stats.events,
        snapshot.sent,
        drops.iter().sum::<u64>(),
        drops,
        snapshot.queue_drops
    );
    Ok(ExitCode::SUCCESS)
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{flag} {value}: not a positive number of seconds"))
}

/// Pods from the API server when the agent runs in a cluster (its service
/// account), for the k8s.* fields that only the API server knows.
#[cfg(feature = "k8s-api")]
fn pod_cache(node: &str) -> PodCache {
    use crate::k8s;
    match k8s::config::source(None) {
        Ok(Some(source)) => PodCache::live(k8s::reflect::start(
            source,
            node.to_owned(),
            Arc::new(|line: &str| eprintln!("{line}")),
        )),
        Ok(None) => PodCache::off(),
        Err(e) => {
            eprintln!("{}", k8s::unavailable_line(&e.to_string()));
            PodCache::off()
        }
    }
}

#[cfg(not(feature = "k8s-api"))]
fn pod_cache(_node: &str) -> PodCache {
    PodCache::off()
}

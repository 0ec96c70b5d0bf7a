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
#[cfg(feature = "k8s-api")]
pub mod review;
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
use crate::tls::server::ServerTls;

use auth::{Gate, Token};
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
    let tls = match (&cli.tls_cert, &cli.tls_key, cli.insecure) {
        (Some(cert), Some(key), _) => Some(ServerTls::from_files(cert, key)?),
        (_, _, true) => None,
        _ => anyhow::bail!(
            "the agent serves TLS: give --tls-cert and --tls-key (`sdtrace cert --out DIR` makes a pair; \
             the manifests mount Secret sdtrace/{}), or --insecure to serve events, I/O buffers and tokens \
             included, in cleartext",
            crate::tls::SECRET
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
            sockets: cli.live.sockets(),
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
    let gate = Gate::new(token);
    let shared = Shared::new(
        gate,
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
    let secured = if tls.is_some() { "TLS" } else { "cleartext" };
    let shared = Arc::new(shared);
    let setup = if cli.no_auth || cli.no_token_review {
        None
    } else {
        token_review(&shared, &node)
    };
    server::spawn(listener, shared, tls, setup)?;
    metrics.set_ready();
    if cli.insecure {
        eprintln!(
            "sdtrace agent: --insecure: events, I/O buffers and clients' tokens cross the network in cleartext"
        );
    }
    eprintln!("sdtrace agent: node {node}, listening on {address} ({secured})");
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

/// Where the agent has an API server (in a cluster: its service account),
/// tokens other than its own go to Kubernetes' TokenReview and RBAC.
/// The server's first task (the Kubernetes client is made, and used, on
/// its runtime).
#[cfg(feature = "k8s-api")]
fn token_review(shared: &Arc<Shared>, node: &str) -> Option<server::Setup> {
    use crate::k8s;
    let source = match k8s::config::source(None) {
        Ok(Some(source)) => source,
        Ok(None) => return None,
        Err(e) => {
            eprintln!(
                "sdtrace agent: clients' own tokens are not reviewed: {}",
                k8s::unavailable_line(&e.to_string())
            );
            return None;
        }
    };
    let (shared, node) = (shared.clone(), node.to_owned());
    Some(Box::pin(async move {
        let client = match source.client_config().await {
            Ok(config) => kube::Client::try_from(config).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match client {
            Ok(client) => {
                shared.gate.review_with(review::Reviewer::new(client, node));
                eprintln!(
                    "sdtrace agent: clients' own tokens are reviewed by the API server (TokenReview, RBAC: watch syscalls.{})",
                    review::GROUP
                );
            }
            Err(e) => eprintln!("sdtrace agent: clients' own tokens are not reviewed: {e}"),
        }
    }))
}

#[cfg(not(feature = "k8s-api"))]
fn token_review(_: &Arc<Shared>, _: &str) -> Option<server::Setup> {
    None
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

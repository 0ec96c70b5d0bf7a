//! Reaching agents: who they are (`--agent` addresses, or `--cluster`'s
//! port-forwards), the token to show them, the filter checked here first,
//! and every stream opened at once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::task::JoinSet;

use crate::agent::protocol::Subscribe;
use crate::filter::Filter;

#[cfg(feature = "k8s-api")]
use super::cluster;
use super::direct;
use super::reach::Reach;
use super::stream::{self, Attached, Connect, StreamError};
use super::transport::Transport;
use crate::tls::client::Trust;

pub use crate::error_line::with_causes as causes;

/// How long an agent has to take the connection, accept the subscription
/// and say hello. A port-forward goes through the API server and the
/// node's kubelet, each a round trip or two; an agent that has not
/// answered in this long is treated as unreachable, and the rest start.
pub const ATTACH_WITHIN: Duration = Duration::from_secs(15);

/// One agent to reach.
pub struct Dial {
    /// How the user knows it: HOST:PORT, or its pod and node.
    pub agent: String,
    /// The scheme and authority to ask it as (`https://HOST:PORT`).
    pub origin: String,
    /// The node it should say it traces, when known beforehand.
    pub node: Option<String>,
    pub connect: Connect,
}

/// The filter, narrowed to `--namespace`'s pods.
pub(crate) fn filter_text(filter: Option<String>, namespace: Option<&str>) -> Option<String> {
    let Some(ns) = namespace else {
        return filter;
    };
    let quoted = format!("\"{}\"", ns.replace('\\', "\\\\").replace('"', "\\\""));
    Some(match filter {
        Some(f) => format!("({f}) and k8s.ns.name={quoted}"),
        None => format!("k8s.ns.name={quoted}"),
    })
}

/// The filter, narrowed to `--namespace`, checked here first: a typo gets
/// its caret before anything connects.
pub(crate) fn checked_filter(
    filter: Option<String>,
    reach: &Reach,
) -> anyhow::Result<Option<String>> {
    let filter = filter_text(filter, reach.namespace.as_deref());
    if let Some(text) = &filter {
        if let Err(errors) = Filter::parse(text) {
            bail!("{errors}");
        }
    }
    Ok(filter)
}

/// The token the user gave: `--token-file`, else `$SDTRACE_TOKEN`.
fn given_token(reach: &Reach) -> anyhow::Result<Option<String>> {
    if let Some(path) = &reach.token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--token-file {}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            bail!("--token-file {}: the file is empty", path.display());
        }
        return Ok(Some(token.to_owned()));
    }
    Ok(std::env::var("SDTRACE_TOKEN")
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty()))
}

#[cfg(feature = "k8s-api")]
async fn cluster_dials(
    reach: &Reach,
    kubeconfig: Option<&std::path::Path>,
    token: Option<String>,
    transport: Option<Transport>,
) -> anyhow::Result<(Vec<Dial>, Option<String>)> {
    let (dials, token) = cluster::dials(reach, kubeconfig, token, transport)
        .await
        .map_err(|e| anyhow!(causes(&e)))?;
    Ok((dials, Some(token)))
}

#[cfg(not(feature = "k8s-api"))]
async fn cluster_dials(
    _: &Reach,
    _: Option<&std::path::Path>,
    _: Option<String>,
    _: Option<Transport>,
) -> anyhow::Result<(Vec<Dial>, Option<String>)> {
    bail!("--cluster needs the Kubernetes API client, which this sdtrace was built without; use --agent HOST:PORT")
}

/// Every agent `reach` names (through the API server for `--cluster`),
/// and the token to show them.
pub(crate) async fn dials(
    reach: &Reach,
    kubeconfig: Option<&std::path::Path>,
) -> anyhow::Result<(Vec<Dial>, Option<String>)> {
    let token = given_token(reach)?;
    let transport = Transport::given(reach)?;
    let (dials, token) = if reach.cluster {
        cluster_dials(reach, kubeconfig, token, transport).await?
    } else {
        let transport = match transport {
            Some(t) => t,
            None => Transport::tls(&Trust::System, reach.agent_server_name.as_deref())?,
        };
        (direct::dials(&reach.agents, &transport)?, token)
    };
    if dials.is_empty() {
        bail!("--agent names no agent");
    }
    Ok((dials, token))
}

/// Every agent's stream, opened at once; the ones that cannot be reached
/// are said on stderr and left out. A refusal of the token or the filter
/// ends everything: every agent would refuse it alike.
pub async fn attach_all(
    dials: Vec<Dial>,
    token: Option<String>,
    subscribe: Subscribe,
    say: &dyn Fn(&str),
) -> anyhow::Result<(Vec<Attached>, bool)> {
    let request = Arc::new((token, subscribe));
    let mut pending = JoinSet::new();
    let total = dials.len();
    for (i, dial) in dials.into_iter().enumerate() {
        let request = Arc::clone(&request);
        pending.spawn(async move {
            let (token, subscribe) = &*request;
            let attached = tokio::time::timeout(
                ATTACH_WITHIN,
                stream::attach(
                    &dial.agent,
                    dial.connect,
                    &dial.origin,
                    token.as_deref(),
                    subscribe,
                ),
            )
            .await;
            (i, dial.agent, dial.node, attached)
        });
    }
    let mut slots: Vec<Option<Attached>> = (0..total).map(|_| None).collect();
    let mut lost = false;
    while let Some(done) = pending.join_next().await {
        let (i, agent, node, attached) = done.context("an agent's connection task")?;
        match attached {
            Ok(Ok(a)) => {
                if let Some(node) = node.filter(|n| *n != a.node) {
                    say(&format!(
                        "sdtrace: agent {agent} says it traces node {}, not {node}",
                        a.node
                    ));
                }
                slots[i] = Some(a);
            }
            Ok(Err(e)) if e.is_refusal() => {
                return Err(match e {
                    // The agent's own words, carets and all.
                    StreamError::Refused(text) => anyhow!(text),
                    e => anyhow!(causes(&e)),
                });
            }
            Ok(Err(e)) => {
                say(&format!("sdtrace: {}", causes(&e)));
                lost = true;
            }
            Err(_) => {
                say(&format!(
                    "sdtrace: agent {agent} did not answer within {} s",
                    ATTACH_WITHIN.as_secs()
                ));
                lost = true;
            }
        }
    }
    let attached: Vec<Attached> = slots.into_iter().flatten().collect();
    if attached.is_empty() {
        bail!("no agent could be reached ({total} tried)",);
    }
    Ok((attached, lost))
}

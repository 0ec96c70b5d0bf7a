//! `--cluster`: the agents found through the API server, each reached by
//! a port-forward (the API server and the node's kubelet carry the bytes,
//! so neither the client nor the agents need a reachable address or a
//! Service), and their token read from their Secret.

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::agent::protocol::DEFAULT_PORT;
use crate::cli::Cli;
use crate::k8s::config;

use super::stream::{Connect, Io};
use super::{causes, Dial};

/// The label the agents' DaemonSet (deploy/) gives its pods.
pub const SELECTOR: &str = "app.kubernetes.io/name=sdtrace-agent";
/// The Secret holding the agents' token, in their namespace, and its key.
pub const TOKEN_SECRET: &str = "sdtrace-agent-token";
pub const TOKEN_KEY: &str = "token";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error(
        "no Kubernetes API server found (--kubeconfig, KUBECONFIG, ~/.kube/config or an \
         in-cluster service account): {0}"
    )]
    NoServer(String),
    #[error("the Kubernetes API client: {0}")]
    Client(String),
    #[error("listing the agents' pods in namespace {namespace} ({SELECTOR}): {why}")]
    List { namespace: String, why: String },
    #[error(
        "no sdtrace agent is running and ready in namespace {namespace} (pods labelled \
         {SELECTOR}{on}); deploy them with `kubectl apply -f deploy/`, or name their \
         namespace with --agent-namespace"
    )]
    NoAgents { namespace: String, on: String },
    #[error(
        "the agents' token: Secret {namespace}/{TOKEN_SECRET}, key {TOKEN_KEY}: {why} (or give \
         it with --token-file or $SDTRACE_TOKEN)"
    )]
    Token { namespace: String, why: String },
}

/// A Kubernetes client: `--kubeconfig` or what `k8s::config` takes, else
/// kubectl's own order (which adds `~/.kube/config`). The node tracer
/// refuses that file because it names some cluster, not necessarily the
/// one the machine is a node of; here the user names a cluster to look
/// at, as with kubectl, and the file is what they mean.
async fn client(cli: &Cli) -> Result<Client, ClusterError> {
    let config = match config::source(cli.kubeconfig.as_deref())? {
        Some(source) => source.client_config().await?,
        None => kube::Config::infer()
            .await
            .map_err(|e| ClusterError::NoServer(causes(&e)))?,
    };
    Client::try_from(config).map_err(|e| ClusterError::Client(causes(&e)))
}

/// Whether a pod is up and its agent said it is ready.
fn ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The agents to read, by pod name and node, sorted by node so streams
/// (and equal-time events) come in the same order every run.
fn pick(pods: Vec<Pod>, nodes: &[String]) -> Vec<(String, String)> {
    let mut picked: Vec<(String, String)> = pods
        .into_iter()
        .filter(ready)
        .filter_map(|pod| {
            let node = pod.spec.as_ref()?.node_name.clone()?;
            let name = pod.metadata.name?;
            Some((name, node))
        })
        .filter(|(_, node)| nodes.is_empty() || nodes.contains(node))
        .collect();
    picked.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    picked
}

/// The agents, and the token: `token` if the user gave one, else the Secret's.
pub async fn dials(cli: &Cli, token: Option<String>) -> Result<(Vec<Dial>, String), ClusterError> {
    let namespace = cli.agent_namespace.as_str();
    let client = client(cli).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .map_err(|e| ClusterError::List {
            namespace: namespace.to_owned(),
            why: causes(&e),
        })?;
    let picked = pick(listed.items, &cli.nodes);
    if picked.is_empty() {
        return Err(ClusterError::NoAgents {
            namespace: namespace.to_owned(),
            on: if cli.nodes.is_empty() {
                String::new()
            } else {
                format!(" on node {}", cli.nodes.join(", "))
            },
        });
    }
    for node in &cli.nodes {
        if !picked.iter().any(|(_, n)| n == node) {
            eprintln!("sdtrace: no ready sdtrace agent on node {node}");
        }
    }
    let token = match token {
        Some(t) => t,
        None => secret_token(client, namespace).await?,
    };
    let dials = picked
        .into_iter()
        .map(|(pod, node)| {
            let pods = pods.clone();
            let agent = format!("{pod} (node {node})");
            let named = pod.clone();
            let connect: Connect = Box::pin(async move {
                let mut forward = pods
                    .portforward(&named, &[DEFAULT_PORT])
                    .await
                    .map_err(|e| std::io::Error::other(causes(&e)))?;
                let stream = forward
                    .take_stream(DEFAULT_PORT)
                    .ok_or_else(|| std::io::Error::other("the port-forward gave no stream"))?;
                // kubelet's word when the port cannot be reached (the agent
                // not listening): the stream then just ends, so say why.
                if let Some(error) = forward.take_error(DEFAULT_PORT) {
                    tokio::spawn(async move {
                        if let Some(why) = error.await {
                            eprintln!("sdtrace: port-forward to pod {named}: {why}");
                        }
                    });
                }
                Ok(Box::new(stream) as Box<dyn Io>)
            });
            Dial {
                agent,
                authority: format!("localhost:{DEFAULT_PORT}"),
                node: Some(node),
                connect,
            }
        })
        .collect();
    Ok((dials, token))
}

async fn secret_token(client: Client, namespace: &str) -> Result<String, ClusterError> {
    let fail = |why: String| ClusterError::Token {
        namespace: namespace.to_owned(),
        why,
    };
    let secret = Api::<Secret>::namespaced(client, namespace)
        .get(TOKEN_SECRET)
        .await
        .map_err(|e| fail(causes(&e)))?;
    let bytes = secret
        .data
        .and_then(|mut d| d.remove(TOKEN_KEY))
        .ok_or_else(|| fail("no such key".to_owned()))?;
    let token = String::from_utf8(bytes.0).map_err(|_| fail("not UTF-8".to_owned()))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(fail("empty".to_owned()));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};

    fn pod(name: &str, node: &str, phase: &str, ready: &str) -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.to_owned()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.to_owned()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".to_owned(),
                    status: ready.to_owned(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn only_running_ready_agents_on_the_asked_nodes_are_picked() {
        let pods = || {
            vec![
                pod("agent-b", "node-b", "Running", "True"),
                pod("agent-a", "node-a", "Running", "True"),
                pod("agent-c", "node-c", "Running", "False"),
                pod("agent-d", "node-d", "Pending", "True"),
            ]
        };
        let names = |p: Vec<(String, String)>| p.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(pick(pods(), &[])), ["agent-a", "agent-b"]);
        assert_eq!(names(pick(pods(), &["node-b".to_owned()])), ["agent-b"]);
        assert!(pick(pods(), &["node-c".to_owned()]).is_empty());
    }
}

//! `--cluster`: the agents found through the API server, each reached by
//! a port-forward (the API server and the node's kubelet carry the bytes,
//! so neither the client nor the agents need a reachable address or a
//! Service), their token read from their Secret, and the CA their TLS
//! certificate chains to from theirs.

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use std::path::Path;

use super::reach::Reach;
use crate::agent::protocol::DEFAULT_PORT;
use crate::k8s::config;

use super::connect::{causes, Dial};
use super::stream::{Connect, Io};
use super::transport::Transport;
use crate::tls::client::Trust;
use crate::tls::{AGENT_NAME, CA_KEY, SECRET as TLS_SECRET};

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
    #[error(
        "the agents' CA: Secret {namespace}/{TLS_SECRET}, key {CA_KEY}: {why} (or name it with \
         --agent-ca; agents run with --insecure need --insecure)"
    )]
    Ca { namespace: String, why: String },
}

/// A Kubernetes client: `--kubeconfig` or what `k8s::config` takes, else
/// kubectl's own order (which adds `~/.kube/config`). The node tracer
/// refuses that file because it names some cluster, not necessarily the
/// one the machine is a node of; here the user names a cluster to look
/// at, as with kubectl, and the file is what they mean.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, ClusterError> {
    Ok(client_and_token(kubeconfig).await?.0)
}

/// The client, and the bearer token it authenticates with, if the
/// kubeconfig holds one (a static token, or a token file as a pod's
/// service account has; not client certificates or exec plugins, whose
/// credentials are not a token sdtrace can pass on).
async fn client_and_token(
    kubeconfig: Option<&Path>,
) -> Result<(Client, Option<String>), ClusterError> {
    use secrecy::ExposeSecret;
    let config = match config::source(kubeconfig)? {
        Some(source) => source.client_config().await?,
        None => kube::Config::infer()
            .await
            .map_err(|e| ClusterError::NoServer(causes(&e)))?,
    };
    let auth = &config.auth_info;
    let token = match (&auth.token, &auth.token_file) {
        (Some(token), _) => Some(token.expose_secret().to_owned()),
        (None, Some(path)) => std::fs::read_to_string(path).ok(),
        (None, None) => None,
    }
    .map(|t| t.trim().to_owned())
    .filter(|t| !t.is_empty());
    let client = Client::try_from(config).map_err(|e| ClusterError::Client(causes(&e)))?;
    Ok((client, token))
}

/// Whether RBAC lets the client's own user watch syscalls on every one
/// of `nodes` (SelfSubjectAccessReview, as the agents will ask).
async fn may_watch(client: &Client, nodes: &[String]) -> bool {
    use crate::agent::review::{GROUP, SYSCALLS, VERB};
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for node in nodes {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(GROUP.to_owned()),
                    resource: Some(SYSCALLS.to_owned()),
                    verb: Some(VERB.to_owned()),
                    name: Some(node.clone()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let allowed = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .ok()
            .and_then(|r| r.status)
            .is_some_and(|s| s.allowed);
        if !allowed {
            return false;
        }
    }
    true
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

/// The agents, and the token: `token` if the user gave one, else the
/// user's own (its kubeconfig's) when RBAC lets that user watch every
/// picked node, else the agents' Secret's; each dial secured by
/// `transport` if the user chose one, else in TLS trusting the CA in the
/// agents' TLS Secret.
pub async fn dials(
    reach: &Reach,
    kubeconfig: Option<&Path>,
    token: Option<String>,
    transport: Option<Transport>,
) -> Result<(Vec<Dial>, String), ClusterError> {
    let namespace = reach.agent_namespace.as_str();
    let (client, own_token) = client_and_token(kubeconfig).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .map_err(|e| ClusterError::List {
            namespace: namespace.to_owned(),
            why: causes(&e),
        })?;
    let picked = pick(listed.items, &reach.nodes);
    if picked.is_empty() {
        return Err(ClusterError::NoAgents {
            namespace: namespace.to_owned(),
            on: if reach.nodes.is_empty() {
                String::new()
            } else {
                format!(" on node {}", reach.nodes.join(", "))
            },
        });
    }
    for node in &reach.nodes {
        if !picked.iter().any(|(_, n)| n == node) {
            eprintln!("sdtrace: no ready sdtrace agent on node {node}");
        }
    }
    let nodes: Vec<String> = picked.iter().map(|(_, node)| node.clone()).collect();
    let token = match (token, own_token) {
        (Some(t), _) => t,
        (None, Some(own)) if may_watch(&client, &nodes).await => {
            log::debug!("presenting the kubeconfig's own token to the agents");
            own
        }
        (None, _) => secret_token(client.clone(), namespace).await?,
    };
    let transport = match transport {
        Some(t) => t,
        None => secret_transport(client, namespace, reach.agent_server_name.as_deref()).await?,
    };
    let dials = picked
        .into_iter()
        .map(|(pod, node)| {
            let pods = pods.clone();
            let agent = format!("{pod} (node {node})");
            let named = pod.clone();
            let origin = format!("{}://{AGENT_NAME}:{DEFAULT_PORT}", transport.scheme());
            let transport = transport.clone();
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
                transport
                    .over(Box::new(stream) as Box<dyn Io>, AGENT_NAME)
                    .await
            });
            Dial {
                agent,
                origin,
                node: Some(node),
                connect,
            }
        })
        .collect();
    Ok((dials, token))
}

/// The value of `key` in Secret `namespace/name`; errors are the reason.
async fn secret_value(
    client: Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Vec<u8>, String> {
    let secret = Api::<Secret>::namespaced(client, namespace)
        .get(name)
        .await
        .map_err(|e| causes(&e))?;
    secret
        .data
        .and_then(|mut d| d.remove(key))
        .map(|b| b.0)
        .ok_or_else(|| "no such key".to_owned())
}

async fn secret_token(client: Client, namespace: &str) -> Result<String, ClusterError> {
    let fail = |why: String| ClusterError::Token {
        namespace: namespace.to_owned(),
        why,
    };
    let bytes = secret_value(client, namespace, TOKEN_SECRET, TOKEN_KEY)
        .await
        .map_err(fail)?;
    let token = String::from_utf8(bytes).map_err(|_| fail("not UTF-8".to_owned()))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(fail("empty".to_owned()));
    }
    Ok(token.to_owned())
}

/// TLS trusting the CA the agents' Secret holds.
async fn secret_transport(
    client: Client,
    namespace: &str,
    name: Option<&str>,
) -> Result<Transport, ClusterError> {
    let fail = |why: String| ClusterError::Ca {
        namespace: namespace.to_owned(),
        why,
    };
    let bytes = secret_value(client, namespace, TLS_SECRET, CA_KEY)
        .await
        .map_err(fail)?;
    let trust = Trust::Pem {
        bytes,
        origin: format!("Secret {namespace}/{TLS_SECRET}"),
    };
    Transport::tls(&trust, name).map_err(|e| fail(e.to_string()))
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

/// Discovery and the token against a fake API server (plain HTTP, in the
/// test): the pods listed, the Secret read, and what is said when none is
/// found. The port-forward itself needs a real API server and kubelet.
#[cfg(test)]
mod api_tests {
    use std::sync::Arc;

    use clap::Parser;

    use super::*;
    use crate::cli::Cli;
    use crate::k8s::fake_api::{status, write_kubeconfig, Asked, FakeApi};

    /// The agents `cli` (a command line with --cluster) finds.
    async fn dials_of(
        cli: &Cli,
        token: Option<String>,
    ) -> Result<(Vec<Dial>, String), ClusterError> {
        dials(
            &cli.reach,
            cli.kubeconfig.as_deref(),
            token,
            Some(Transport::cleartext()),
        )
        .await
    }

    fn pod_json(name: &str, node: &str, ready: &str) -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": name, "namespace": "sdtrace"},
            "spec": {"nodeName": node, "containers": [{"name": "agent"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]},
        })
    }

    /// Serves `pods`, the token Secret if given (else forbids it), and
    /// RBAC that lets the user whose token is "mine" watch; records each
    /// request's path and query.
    async fn fake_api(
        pods: Vec<serde_json::Value>,
        token: Option<&'static str>,
    ) -> (String, FakeApi) {
        let answer = move |asked: &Asked| {
            let path = asked.path();
            if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
                let allowed = asked.bearer.as_deref() == Some("mine");
                let review = serde_json::json!({
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "metadata": {}, "spec": {},
                    "status": {"allowed": allowed},
                });
                (201, review)
            } else if path == "/api/v1/namespaces/sdtrace/pods" {
                let list = serde_json::json!({
                    "apiVersion": "v1", "kind": "PodList",
                    "metadata": {}, "items": pods,
                });
                (200, list)
            } else if path == "/api/v1/namespaces/sdtrace/secrets/sdtrace-agent-token" {
                match token {
                    Some(t) => (
                        200,
                        serde_json::json!({
                            "apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": TOKEN_SECRET},
                            "data": {"token": t},
                        }),
                    ),
                    None => (
                        403,
                        status(
                            403,
                            "Forbidden",
                            "secrets \"sdtrace-agent-token\" is forbidden",
                        ),
                    ),
                }
            } else {
                (404, status(404, "NotFound", ""))
            }
        };
        let server = FakeApi::start(Arc::new(answer)).await;
        (server.url.clone(), server)
    }

    /// The path and query of each request so far.
    fn targets(server: &FakeApi) -> Vec<String> {
        server.asked().into_iter().map(|a| a.target).collect()
    }

    fn cli(server: &str, dir: &tempfile::TempDir, extra: &[&str]) -> Cli {
        cli_as(server, dir, extra, "{}")
    }

    /// `--cluster` with a kubeconfig whose user is `user` (YAML flow).
    fn cli_as(server: &str, dir: &tempfile::TempDir, extra: &[&str], user: &str) -> Cli {
        let path = write_kubeconfig(dir.path(), server, user);
        let path = path.to_str().unwrap().to_owned();
        let mut args = vec!["sdtrace", "--cluster", "--kubeconfig", path.as_str()];
        args.extend_from_slice(extra);
        Cli::parse_from(args)
    }

    #[tokio::test]
    async fn the_users_own_token_goes_to_the_agents_when_rbac_lets_it_watch() {
        let (server, asked) = fake_api(
            vec![pod_json("agent-a", "node-a", "True")],
            Some("czNjcmV0Cg=="),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let mine = cli_as(&server, &dir, &[], "{token: mine}");
        let (_, token) = dials_of(&mine, None).await.unwrap();
        assert_eq!(token, "mine", "{:?}", targets(&asked));
        assert!(
            !targets(&asked).iter().any(|a| a.contains("secrets")),
            "the Secret is not read"
        );
        let theirs = cli_as(&server, &dir, &[], "{token: theirs}");
        let (_, token) = dials_of(&theirs, None).await.unwrap();
        assert_eq!(token, "s3cret", "RBAC says no: the agents' Secret");
    }

    #[tokio::test]
    async fn ready_agents_are_found_and_their_token_read() {
        let pods = vec![
            pod_json("agent-b", "node-b", "True"),
            pod_json("agent-a", "node-a", "True"),
            pod_json("agent-c", "node-c", "False"),
        ];
        // base64 of "s3cret\n"
        let (server, asked) = fake_api(pods, Some("czNjcmV0Cg==")).await;
        let dir = tempfile::tempdir().unwrap();
        let (dials, token) = dials_of(&cli(&server, &dir, &[]), None).await.unwrap();
        let found: Vec<(&str, Option<&str>)> = dials
            .iter()
            .map(|d| (d.agent.as_str(), d.node.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                ("agent-a (node node-a)", Some("node-a")),
                ("agent-b (node node-b)", Some("node-b"))
            ]
        );
        assert_eq!(token, "s3cret");
        let asked = targets(&asked);
        assert!(
            asked[0].contains("labelSelector=app.kubernetes.io%2Fname%3Dsdtrace-agent"),
            "{asked:?}"
        );
        // A token given is used, and the Secret not asked for.
        let (dials, token) = dials_with(&server, &dir, &["--node", "node-b"], Some("mine")).await;
        assert_eq!(token, "mine");
        assert_eq!(dials.len(), 1);
    }

    async fn dials_with(
        server: &str,
        dir: &tempfile::TempDir,
        extra: &[&str],
        token: Option<&str>,
    ) -> (Vec<Dial>, String) {
        dials_of(&cli(server, dir, extra), token.map(str::to_owned))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn no_agent_or_no_secret_is_said_clearly() {
        let (server, _) = fake_api(vec![pod_json("agent-c", "node-c", "False")], None).await;
        let dir = tempfile::tempdir().unwrap();
        let Err(e) = dials_of(&cli(&server, &dir, &[]), None).await else {
            panic!("no ready agent");
        };
        let text = e.to_string();
        assert!(
            text.starts_with("no sdtrace agent is running and ready in namespace sdtrace"),
            "{text}"
        );
        assert!(
            text.contains(SELECTOR) && text.contains("kubectl apply -f deploy/"),
            "{text}"
        );

        let (server, _) = fake_api(vec![pod_json("agent-a", "node-a", "True")], None).await;
        let Err(e) = dials_of(&cli(&server, &dir, &[]), None).await else {
            panic!("the Secret is forbidden");
        };
        let text = e.to_string();
        assert!(
            text.starts_with("the agents' token: Secret sdtrace/sdtrace-agent-token, key token: "),
            "{text}"
        );
        assert!(
            text.contains("forbidden") && text.contains("--token-file"),
            "{text}"
        );
    }
}

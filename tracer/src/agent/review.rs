//! Who may watch, decided by Kubernetes: a client's bearer token goes to the
//! API server in a `TokenReview` (whose is it?), then its user to two
//! `SubjectAccessReview`s (may they watch this node's syscalls, and its I/O
//! buffers?). Cluster admins then grant access with ordinary RBAC:
//!
//! ```yaml
//! rules:
//! - apiGroups: ["sdtrace.io"]
//!   resources: ["syscalls", "buffers"]
//!   verbs: ["watch"]
//!   resourceNames: ["node-a"]   # or none, for every node
//! ```
//!
//! Decisions are kept a short while, so a client reconnecting does not cost
//! three API calls each time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// The API group of the resources the agent asks about; no such API is
/// served, RBAC rules may name any group.
pub const GROUP: &str = "sdtrace.io";
/// May the client watch this node's syscalls at all.
pub const SYSCALLS: &str = "syscalls";
/// May the client see the data that reads and writes carry.
pub const BUFFERS: &str = "buffers";
/// What the client does to either: a stream that goes on is a watch.
pub const VERB: &str = "watch";

/// How long one call to the API server may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a grant or an RBAC refusal stands: a role unbound takes at
/// most this long to shut out a client that reconnects.
const DECIDED_FOR: Duration = Duration::from_secs(60);
/// How long an unknown token stays refused without asking again: short, as
/// a token just minted may not have reached the API server's cache.
const UNKNOWN_FOR: Duration = Duration::from_secs(10);
/// Decisions kept at most, so a flood of made-up tokens cannot grow memory.
const CAPACITY: usize = 1024;

/// Who a token belongs to and what they may see on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    pub buffers: bool,
}

/// Why a token is not admitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The API server does not know the token (or it expired); the string
    /// is its reason, which may be empty.
    #[error("the API server did not authenticate the token{}", reason(.0))]
    Unauthenticated(String),
    /// A known user whom RBAC does not let watch this node's syscalls.
    #[error(
        "user {user} may not {verb} {resource} on node {node} \
         (RBAC: verb {verb} on {resource}.{group}, resourceName {node})",
        verb = VERB,
        resource = SYSCALLS,
        group = GROUP
    )]
    Forbidden { user: String, node: String },
    /// The API server could not be asked; the text says what failed.
    #[error("{0}")]
    Unavailable(String),
}

fn reason(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// Asks the API server about tokens on behalf of one node's agent.
pub struct Reviewer {
    client: kube::Client,
    node: String,
    /// [`TIMEOUT`] but in tests.
    timeout: Duration,
    decisions: Mutex<Decisions>,
}

impl Reviewer {
    #[must_use]
    pub fn new(client: kube::Client, node: String) -> Self {
        Reviewer {
            client,
            node,
            timeout: TIMEOUT,
            decisions: Mutex::new(Decisions::new(CAPACITY)),
        }
    }

    /// Who `token` belongs to and what they may see here, or why not.
    /// Two reviews of one token at once may both ask the API server: the
    /// lock is not held across the calls, so one slow answer holds up no
    /// other client.
    pub async fn review(&self, token: &str) -> Result<Grant, Refusal> {
        let key = Key::of(token);
        if let Some(decided) = self.decisions().get(&key, Instant::now()) {
            return decided;
        }
        let decided = self.ask(token).await;
        let stands_for = match &decided {
            Ok(_) | Err(Refusal::Forbidden { .. }) => Some(DECIDED_FOR),
            Err(Refusal::Unauthenticated(_)) => Some(UNKNOWN_FOR),
            // Asked again next time: the API server may be back.
            Err(Refusal::Unavailable(_)) => None,
        };
        if let Some(ttl) = stands_for {
            let now = Instant::now();
            self.decisions()
                .insert(key, decided.clone(), now + ttl, now);
        }
        decided
    }

    fn decisions(&self) -> std::sync::MutexGuard<'_, Decisions> {
        // A panic elsewhere cannot leave the map half-changed: each change
        // is one call on it.
        self.decisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn ask(&self, token: &str) -> Result<Grant, Refusal> {
        if token.is_empty() {
            return Err(Refusal::Unauthenticated("the token is empty".to_owned()));
        }
        let user = self.authenticate(token).await?;
        let name = user.username.clone().unwrap_or_default();
        if !self.allows(&user, SYSCALLS).await? {
            return Err(Refusal::Forbidden {
                user: name,
                node: self.node.clone(),
            });
        }
        let buffers = self.allows(&user, BUFFERS).await?;
        Ok(Grant {
            user: name,
            buffers,
        })
    }

    /// The user the API server says `token` belongs to.
    async fn authenticate(&self, token: &str) -> Result<UserInfo, Refusal> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let api = Api::<TokenReview>::all(self.client.clone());
        let answer = self
            .call("TokenReview", api.create(&PostParams::default(), &review))
            .await?;
        let status = answer.status.ok_or_else(|| {
            Refusal::Unavailable("the API server answered a TokenReview without a status".into())
        })?;
        // `audiences` is left alone: no audience was asked for, so the
        // token is checked against the API server's own.
        if status.authenticated != Some(true) {
            return Err(Refusal::Unauthenticated(status.error.unwrap_or_default()));
        }
        match status.user {
            Some(user) if user.username.as_deref().is_some_and(|u| !u.is_empty()) => Ok(user),
            _ => Err(Refusal::Unauthenticated(
                "the API server authenticated the token but named no user".to_owned(),
            )),
        }
    }

    /// Whether RBAC lets `user` watch `resource` on this node.
    async fn allows(&self, user: &UserInfo, resource: &str) -> Result<bool, Refusal> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                uid: user.uid.clone(),
                groups: user.groups.clone(),
                extra: user.extra.clone(),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(GROUP.to_owned()),
                    resource: Some(resource.to_owned()),
                    verb: Some(VERB.to_owned()),
                    name: Some(self.node.clone()),
                    ..ResourceAttributes::default()
                }),
                non_resource_attributes: None,
            },
            ..SubjectAccessReview::default()
        };
        let api = Api::<SubjectAccessReview>::all(self.client.clone());
        let answer = self
            .call(
                "SubjectAccessReview",
                api.create(&PostParams::default(), &review),
            )
            .await?;
        // An evaluation error beside `allowed: false` is still a no: the
        // authorizer could not find a rule that allows.
        answer.status.map(|s| s.allowed).ok_or_else(|| {
            Refusal::Unavailable(
                "the API server answered a SubjectAccessReview without a status".into(),
            )
        })
    }

    /// One call to the API server, bounded by the timeout; its failures
    /// said as what the agent could not do, and what it needs to.
    async fn call<T>(
        &self,
        what: &str,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Refusal> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(answer)) => Ok(answer),
            // system:auth-delegator is the ClusterRole that lets the agent
            // create both kinds of review.
            Ok(Err(kube::Error::Api(status))) if status.code == 403 => {
                let message = if status.message.is_empty() {
                    "HTTP 403"
                } else {
                    &status.message
                };
                Err(Refusal::Unavailable(format!(
                    "the API server refused the agent's {what}: {message} \
                     (the agent's ServiceAccount needs system:auth-delegator)"
                )))
            }
            Ok(Err(kube::Error::Api(status))) => Err(Refusal::Unavailable(format!(
                "the API server failed the agent's {what}: {}",
                or_code(&status.message, status.code)
            ))),
            Ok(Err(e)) => Err(Refusal::Unavailable(format!(
                "the agent's {what} failed: {e}"
            ))),
            Err(_) => Err(Refusal::Unavailable(format!(
                "the agent's {what} timed out after {:?}",
                self.timeout
            ))),
        }
    }
}

/// The API server's message, or at least its status code.
fn or_code(message: &str, code: u16) -> String {
    if message.is_empty() {
        format!("HTTP {code}")
    } else {
        format!("{message} (HTTP {code})")
    }
}

/// A token's SHA-256: decisions are found by it, so the tokens themselves
/// are not kept in the agent's memory after their review.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key([u8; 32]);

impl Key {
    fn of(token: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(digest.as_ref());
        Key(key)
    }
}

/// Decisions until they expire, at most `capacity` of them.
struct Decisions {
    capacity: usize,
    by_key: HashMap<Key, Decision>,
}

struct Decision {
    outcome: Result<Grant, Refusal>,
    until: Instant,
}

impl Decisions {
    fn new(capacity: usize) -> Self {
        Decisions {
            capacity,
            by_key: HashMap::new(),
        }
    }

    /// The decision on `key` still standing at `now`.
    fn get(&mut self, key: &Key, now: Instant) -> Option<Result<Grant, Refusal>> {
        let decision = self.by_key.get(key)?;
        if decision.until > now {
            return Some(decision.outcome.clone());
        }
        self.by_key.remove(key);
        None
    }

    /// Keeps `outcome` for `key` until `until`, making room if full: first
    /// by dropping what has expired, then the decision that would expire
    /// first. That one is the least worth keeping, and under a flood of
    /// made-up tokens it is one of theirs (10 s) before a grant (60 s).
    fn insert(&mut self, key: Key, outcome: Result<Grant, Refusal>, until: Instant, now: Instant) {
        if self.by_key.len() >= self.capacity && !self.by_key.contains_key(&key) {
            self.by_key.retain(|_, d| d.until > now);
            if self.by_key.len() >= self.capacity {
                let first = self
                    .by_key
                    .iter()
                    .min_by_key(|(_, d)| d.until)
                    .map(|(k, _)| *k);
                if let Some(first) = first {
                    self.by_key.remove(&first);
                }
            }
        }
        self.by_key.insert(key, Decision { outcome, until });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value};

    use super::*;
    use crate::k8s::fake_api;

    /// What the fake API server was asked.
    struct Asked(fake_api::FakeApi);

    /// How the fake API server treats the agent.
    #[derive(Clone, Copy)]
    enum FakeApi {
        /// Answers reviews as a cluster with these users would.
        Answers,
        /// Refuses to create reviews, as for an agent without
        /// system:auth-delegator.
        RefusesTheAgent,
    }

    /// The users the fake API server knows, their groups, and what RBAC
    /// lets them watch on node n1.
    fn rbac(user: &str, resource: &str, node: &str) -> bool {
        node == "n1"
            && match user {
                "alice" => resource == SYSCALLS,
                "root" => true,
                _ => false,
            }
    }

    fn token_review(mut request: Value) -> Value {
        let token = request["spec"]["token"].as_str().unwrap_or("").to_owned();
        request["status"] = match token.as_str() {
            "alice" | "root" | "bob" => json!({
                "authenticated": true,
                "audiences": ["https://kubernetes.default.svc"],
                "user": {
                    "username": token,
                    "uid": format!("uid-{token}"),
                    "groups": ["system:authenticated", format!("team-{token}")],
                    "extra": {"scopes": ["all"]},
                },
            }),
            "nobody" => json!({"authenticated": false, "error": "token has expired"}),
            _ => json!({"user": {}}),
        };
        request
    }

    fn access_review(mut request: Value) -> Value {
        let spec = &request["spec"];
        let attributes = &spec["resourceAttributes"];
        let allowed = attributes["group"] == GROUP
            && attributes["verb"] == VERB
            && rbac(
                spec["user"].as_str().unwrap_or(""),
                attributes["resource"].as_str().unwrap_or(""),
                attributes["name"].as_str().unwrap_or(""),
            );
        request["status"] = if allowed {
            json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding"})
        } else {
            json!({"allowed": false, "evaluationError": "no RBAC policy matched"})
        };
        request
    }

    fn answer(api: FakeApi, path: &str, request: Value) -> (u16, Value) {
        match (api, path) {
            (FakeApi::Answers, "/apis/authentication.k8s.io/v1/tokenreviews") => {
                (201, token_review(request))
            }
            (FakeApi::Answers, "/apis/authorization.k8s.io/v1/subjectaccessreviews") => {
                (201, access_review(request))
            }
            (FakeApi::RefusesTheAgent, _) => (
                403,
                fake_api::status(
                    403,
                    "Forbidden",
                    "tokenreviews.authentication.k8s.io is forbidden: User \
                        \"system:serviceaccount:sdtrace:agent\" cannot create resource \
                        \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope",
                ),
            ),
            _ => (404, fake_api::status(404, "NotFound", "")),
        }
    }

    /// A stand-in API server; its URL and what it was asked.
    async fn fake_api(api: FakeApi) -> (String, Asked) {
        let answer = move |asked: &fake_api::Asked| answer(api, asked.path(), asked.body.clone());
        let server = fake_api::FakeApi::start(Arc::new(answer)).await;
        let url = server.url.clone();
        (url, Asked(server))
    }

    fn reviewer(server: &str) -> Reviewer {
        let config = kube::Config::new(server.parse::<hyper::Uri>().unwrap());
        Reviewer::new(kube::Client::try_from(config).unwrap(), "n1".to_owned())
    }

    /// Each request's path and body.
    fn asked(asked: &Asked) -> Vec<(String, Value)> {
        asked
            .0
            .asked()
            .into_iter()
            .map(|a| (a.path().to_owned(), a.body))
            .collect()
    }

    #[tokio::test]
    async fn a_user_allowed_syscalls_but_not_buffers_is_granted_syscalls_only() {
        let (server, record) = fake_api(FakeApi::Answers).await;
        let reviewer = reviewer(&server);
        let grant = reviewer.review("alice").await.unwrap();
        assert_eq!(
            grant,
            Grant {
                user: "alice".to_owned(),
                buffers: false
            }
        );
        let asked = asked(&record);
        let paths: Vec<&str> = asked.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/apis/authentication.k8s.io/v1/tokenreviews",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            ]
        );
        assert_eq!(asked[0].1["spec"]["token"], "alice");
        for ((_, sar), resource) in asked[1..].iter().zip([SYSCALLS, BUFFERS]) {
            let spec = &sar["spec"];
            assert_eq!(
                spec["resourceAttributes"],
                json!({"group": "sdtrace.io", "resource": resource, "verb": "watch", "name": "n1"}),
                "{sar}"
            );
            assert_eq!(spec["user"], "alice", "{sar}");
            assert_eq!(spec["uid"], "uid-alice", "{sar}");
            assert_eq!(
                spec["groups"],
                json!(["system:authenticated", "team-alice"]),
                "{sar}"
            );
            assert_eq!(spec["extra"], json!({"scopes": ["all"]}), "{sar}");
        }
    }

    #[tokio::test]
    async fn each_outcome_and_what_it_says() {
        let (server, _) = fake_api(FakeApi::Answers).await;
        let reviewer = reviewer(&server);
        assert_eq!(
            reviewer.review("root").await,
            Ok(Grant {
                user: "root".to_owned(),
                buffers: true
            })
        );
        let bob = reviewer.review("bob").await.unwrap_err();
        assert_eq!(
            bob,
            Refusal::Forbidden {
                user: "bob".to_owned(),
                node: "n1".to_owned()
            }
        );
        assert_eq!(
            bob.to_string(),
            "user bob may not watch syscalls on node n1 \
             (RBAC: verb watch on syscalls.sdtrace.io, resourceName n1)"
        );
        let nobody = reviewer.review("nobody").await.unwrap_err();
        assert_eq!(
            nobody,
            Refusal::Unauthenticated("token has expired".to_owned())
        );
        assert_eq!(
            nobody.to_string(),
            "the API server did not authenticate the token: token has expired"
        );
        // Not authenticated, and no reason given.
        let stranger = reviewer.review("stranger").await.unwrap_err();
        assert_eq!(stranger, Refusal::Unauthenticated(String::new()));
        assert_eq!(
            stranger.to_string(),
            "the API server did not authenticate the token"
        );
        assert!(matches!(
            reviewer.review("").await,
            Err(Refusal::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn a_decision_is_kept_and_not_asked_again() {
        let (server, record) = fake_api(FakeApi::Answers).await;
        let reviewer = reviewer(&server);
        for token in ["alice", "bob", "nobody"] {
            let first = reviewer.review(token).await;
            let before = asked(&record).len();
            assert_eq!(reviewer.review(token).await, first, "{token}");
            assert_eq!(asked(&record).len(), before, "{token} was asked again");
        }
        // alice: a TokenReview and two SARs; bob: one and one; nobody: one.
        assert_eq!(asked(&record).len(), 3 + 2 + 1);
    }

    #[tokio::test]
    async fn an_agent_refused_reviews_is_told_what_it_needs() {
        let (server, record) = fake_api(FakeApi::RefusesTheAgent).await;
        let reviewer = reviewer(&server);
        let Err(Refusal::Unavailable(text)) = reviewer.review("alice").await else {
            panic!("not unavailable");
        };
        assert!(
            text.starts_with("the API server refused the agent's TokenReview: "),
            "{text}"
        );
        assert!(text.contains("cannot create resource"), "{text}");
        assert!(
            text.ends_with("(the agent's ServiceAccount needs system:auth-delegator)"),
            "{text}"
        );
        // Not kept: the next client's review asks again, in case the role
        // was bound since.
        let _ = reviewer.review("alice").await;
        assert_eq!(asked(&record).len(), 2);
    }

    #[tokio::test]
    async fn an_api_server_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // Accepts, reads nothing, answers nothing, closes nothing.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let mut reviewer = reviewer(&format!("http://{address}"));
        reviewer.timeout = Duration::from_millis(200);
        let started = Instant::now();
        let refusal = reviewer.review("alice").await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            refusal,
            Refusal::Unavailable("the agent's TokenReview timed out after 200ms".to_owned())
        );
    }

    #[tokio::test]
    async fn a_flood_of_tokens_keeps_the_cache_bounded() {
        let (server, _) = fake_api(FakeApi::Answers).await;
        let mut reviewer = reviewer(&server);
        reviewer.decisions = Mutex::new(Decisions::new(8));
        reviewer.review("alice").await.unwrap();
        for n in 0..40 {
            let _ = reviewer.review(&format!("made-up-{n}")).await;
            assert!(reviewer.decisions().by_key.len() <= 8);
        }
        // The grant outlives the flood's short refusals.
        assert!(reviewer
            .decisions()
            .get(&Key::of("alice"), Instant::now())
            .is_some());
    }

    fn grant(user: &str) -> Result<Grant, Refusal> {
        Ok(Grant {
            user: user.to_owned(),
            buffers: false,
        })
    }

    #[test]
    fn decisions_expire_and_make_room() {
        let now = Instant::now();
        let mut decisions = Decisions::new(2);
        decisions.insert(Key::of("a"), grant("a"), now + DECIDED_FOR, now);
        decisions.insert(
            Key::of("x"),
            Err(Refusal::Unauthenticated(String::new())),
            now + UNKNOWN_FOR,
            now,
        );
        let later = now + UNKNOWN_FOR;
        assert!(decisions.get(&Key::of("x"), later).is_none());
        assert_eq!(decisions.get(&Key::of("a"), later), Some(grant("a")));
        assert!(decisions.get(&Key::of("a"), now + DECIDED_FOR).is_none());
        assert_eq!(decisions.by_key.len(), 0);

        // Full of live decisions: the one expiring first goes.
        decisions.insert(Key::of("a"), grant("a"), now + DECIDED_FOR, now);
        decisions.insert(Key::of("b"), grant("b"), now + UNKNOWN_FOR, now);
        decisions.insert(Key::of("c"), grant("c"), now + DECIDED_FOR, now);
        assert_eq!(decisions.by_key.len(), 2);
        assert!(decisions.get(&Key::of("b"), now).is_none());
        // Full with one expired: that one goes, and only it.
        let mut decisions = Decisions::new(2);
        decisions.insert(Key::of("p"), grant("p"), now + UNKNOWN_FOR, now);
        decisions.insert(Key::of("q"), grant("q"), now + DECIDED_FOR, now);
        let later = now + UNKNOWN_FOR;
        decisions.insert(Key::of("r"), grant("r"), later + DECIDED_FOR, later);
        assert_eq!(decisions.by_key.len(), 2);
        assert_eq!(decisions.get(&Key::of("q"), later), Some(grant("q")));
        assert_eq!(decisions.get(&Key::of("r"), later), Some(grant("r")));
    }
}

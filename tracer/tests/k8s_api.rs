#![cfg(feature = "k8s-api")]
//! The Kubernetes API path against recorded list and watch responses served
//! by a stand-in API server (`support/fake_apiserver.rs`): no cluster runs
//! here, so this is what shows the reflectors, the pod lookup and the
//! journal work together. Needs no root.

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_apiserver::{write_kubeconfig, FakeApiServer};
use tracer::journal::{Answer, Journal};
use tracer::k8s::reflect::{self, Shared, Status};
use tracer::k8s::{config, PodCache, PodInfo};

const WEB_UID: &str = "6f1c2e3a-8b4d-4c5e-9f70-1a2b3c4d5e6f";
const API_UID: &str = "0b9d7c1e-2f3a-4b5c-8d6e-7f8091a2b3c4";
const DEBUG_UID: &str = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
/// Pods on node-b, in the list and in the watch stream.
const DB_UID: &str = "c3d4e5f6-a7b8-4c9d-8e0f-112233445566";
const CACHE_UID: &str = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6";

type Lines = Arc<Mutex<Vec<String>>>;

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s")
}

/// Starts the reflectors for node-a against `kubeconfig`; their lines for
/// the user are collected.
fn start(kubeconfig: &std::path::Path) -> (Arc<Shared>, Lines) {
    let source = config::source(Some(kubeconfig))
        .expect("a readable kubeconfig")
        .expect("the flag names a source");
    let lines = Lines::default();
    let sink = Arc::clone(&lines);
    let shared = reflect::start(
        source,
        "node-a".into(),
        Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_owned())),
    );
    (shared, lines)
}

/// Polls until `f` answers, for at most 20 s.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn listed_and_watched_pods_get_labels_owners_and_services() {
    let server = FakeApiServer::start(&fixtures(), Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let (shared, lines) = start(&server.kubeconfig(dir.path()));

    // (a) A pod in the first list.
    let web = wait_for("the listed web pod with its deployment", || {
        shared.lookup(WEB_UID).filter(|p| !p.deployment.is_empty())
    });
    assert_eq!(
        web,
        PodInfo {
            labels: [
                ("app", "web"),
                ("pod-template-hash", "7d9c5b6f4d"),
                ("tier", "http")
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ip: "10.244.1.7".into(),
            ns_labels: [
                ("env", "staging"),
                ("kubernetes.io/metadata.name", "shop"),
                ("team", "payments")
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            rs: "web-7d9c5b6f4d".into(),
            deployment: "web".into(),
            // Not default's `web`, whose selector matches but in another namespace.
            services: vec!["http-edge".into(), "web".into()],
            node: "node-a".into(),
        }
    );
    // The same answer by namespace and name, for containers without a uid label.
    assert_eq!(shared.lookup("shop/web-7d9c5b6f4d-x2k8p"), Some(web));
    let debug = shared.lookup(DEBUG_UID).expect("the unmanaged pod");
    assert_eq!((debug.rs.as_str(), debug.deployment.as_str()), ("", ""));
    assert!(debug.services.is_empty(), "{:?}", debug.services);

    // (b) A pod ADDED by the watch stream, whose ReplicaSet and Service
    // also came by watch.
    let api = wait_for(
        "the watched api pod with its IP, deployment and services",
        || {
            shared
                .lookup(API_UID)
                .filter(|p| !p.ip.is_empty() && !p.deployment.is_empty() && p.services.len() == 2)
        },
    );
    assert_eq!(api.deployment, "api");
    assert_eq!(api.rs, "api-6f7b8c9d5");
    assert_eq!(api.services, ["api", "http-edge"]);
    assert_eq!(api.ip, "10.244.1.9");
    assert_eq!(shared.status(), Status::Ready);

    // Only node-a's pods, and the server was asked for them by node.
    assert_eq!(shared.lookup(DB_UID), None);
    assert_eq!(shared.lookup(CACHE_UID), None);
    let requests = server.requests();
    let pod_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.target.starts_with("/api/v1/pods"))
        .collect();
    assert!(
        !pod_requests.is_empty()
            && pod_requests
                .iter()
                .all(|r| r.target.contains("fieldSelector=spec.nodeName%3Dnode-a")),
        "{requests:?}"
    );
    assert!(pod_requests.iter().any(|r| r.target.contains("watch=true")));
    // Only the metadata of namespaces and ReplicaSets is fetched.
    for r in &requests {
        let metadata = r.target.starts_with("/api/v1/namespaces")
            || r.target.starts_with("/apis/apps/v1/replicasets");
        assert_eq!(r.metadata_only, metadata, "{r:?}");
    }
    assert!(
        lines.lock().unwrap().is_empty(),
        "{:?}",
        lines.lock().unwrap()
    );
}

#[test]
fn no_api_server_leaves_the_fields_empty_and_says_so_once() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let (shared, lines) = start(&write_kubeconfig(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
    ));
    wait_for("the reflectors to give up", || {
        (shared.status() == Status::Unreachable).then_some(())
    });
    // The other watches fail as well, and retry; none of that is said again.
    std::thread::sleep(Duration::from_secs(2));
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("not reachable"), "{}", lines[0]);
    assert!(lines[0].contains("k8s.svc.name"), "{}", lines[0]);
    assert!(lines[0].contains("k8s.pod.name"), "{}", lines[0]);
    let procfs = Journal::recording();
    let mut cache = PodCache::live(shared);
    assert!(!cache.may_answer(WEB_UID), "nothing is waited for");
    assert_eq!(cache.get(&procfs, WEB_UID), None);
    assert!(procfs.take().is_empty());
}

#[test]
fn answers_used_live_are_journaled_and_replayed() {
    let server = FakeApiServer::start(&fixtures(), Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let (shared, _lines) = start(&server.kubeconfig(dir.path()));
    wait_for("the listed web pod with its deployment", || {
        shared.lookup(WEB_UID).filter(|p| !p.deployment.is_empty())
    });
    wait_for("every list", || {
        (shared.status() == Status::Ready).then_some(())
    });

    let live = Journal::recording();
    let mut cache = PodCache::live(Arc::clone(&shared));
    let first = cache.get(&live, WEB_UID).expect("the web pod");
    // Asked again with nothing changed: the same answer, journaled once.
    assert_eq!(cache.get(&live, WEB_UID), Some(Arc::clone(&first)));
    let journal = live.take();
    assert_eq!(
        journal,
        [Answer::PodInfo {
            key: WEB_UID.into(),
            info: PodInfo::clone(&first)
        }]
    );
    // A capture file carries the journal as JSON.
    let carried: Vec<Answer> =
        serde_json::from_str(&serde_json::to_string(&journal).unwrap()).unwrap();

    let replay = Journal::replaying();
    let mut replayed = PodCache::default();
    assert_eq!(
        replayed.get(&replay, WEB_UID),
        None,
        "not before the capture reaches it"
    );
    replay.replay(carried);
    assert_eq!(replayed.get(&replay, WEB_UID).as_deref(), Some(&*first));
    assert_eq!(
        replayed.get(&replay, WEB_UID).as_deref(),
        Some(&*first),
        "kept for the pod's later events"
    );
}

#[test]
fn filters_take_label_keys_in_brackets_or_after_a_dot() {
    let filter = tracer::filter::Filter::parse(
        "k8s.pod.label[app.kubernetes.io/name] = web and k8s.ns.label.team = payments \
         and k8s.svc.name contains web",
    )
    .expect("the filter parses");
    for id in [
        tracer::fields::FieldId::K8sPodLabel,
        tracer::fields::FieldId::K8sNsLabel,
        tracer::fields::FieldId::K8sSvcName,
    ] {
        assert!(filter.uses(id), "{id:?}");
    }
    let err = tracer::filter::Filter::parse("k8s.pod.label = web").unwrap_err();
    assert!(err.to_string().contains("needs an argument"), "{err}");
}

/// A container `web` whose pod the API server has not answered about yet.
struct PodNotKnownYet;

impl tracer::filter::FieldSource for PodNotKnownYet {
    fn value(&mut self, field: &tracer::fields::FieldRef) -> Option<tracer::fields::Value<'_>> {
        (field.id == tracer::fields::FieldId::ContainerName)
            .then(|| tracer::fields::Value::Str("web".into()))
    }
}

#[test]
fn api_fields_never_mute_a_container_before_its_pod_is_known() {
    // Cgroup muting decides by what a cgroup fixes; a pod's API answer
    // comes later and changes, so a filter on it stays undecided there.
    let decide = |text: &str| {
        tracer::filter::Filter::parse(text)
            .unwrap()
            .decide(&mut PodNotKnownYet, &tracer::container::decided_by_cgroup)
    };
    assert_eq!(decide("k8s.svc.name = web"), None);
    assert_eq!(
        decide("container.name = web and k8s.deployment.name = web"),
        None
    );
    // Decided by the container alone, whatever the pod says.
    assert_eq!(
        decide("container.name = db and k8s.svc.name = web"),
        Some(false)
    );
}

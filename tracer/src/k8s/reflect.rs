//! The reflectors: a thread of its own, with its own tokio runtime, lists
//! and watches the pods of this node (field selector `spec.nodeName`), and
//! every Namespace, ReplicaSet and Service, into kube-rs reflector stores.
//! After each burst of changes it works out every pod's answer again
//! ([`Index::build`]) and publishes it; the event path reads only that.
//!
//! Deployments are not watched: a pod's Deployment is the controller named
//! in its ReplicaSet's `ownerReferences`, so the name needs no object of
//! its own, and a cluster-wide watch of them would cost the API server and
//! this process for nothing.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};

use crate::error_line::with_causes;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};

use super::config::Source;
use super::lookup::{Index, Objects};
use super::PodInfo;

/// How long the first list of this node's pods may take before the API
/// server counts as unreachable (it may still answer later).
pub const READY_WITHIN: Duration = Duration::from_secs(5);

/// Least time between two rebuilds of the index while watch events keep
/// coming (a big cluster's ReplicaSets and Services change all the time);
/// the first change after a quiet spell is worked in at once.
const MIN_REBUILD: Duration = Duration::from_millis(100);

/// Whether answers are coming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not yet listed everything once.
    Connecting = 0,
    /// Listed; watching.
    Ready = 1,
    /// Not reachable (or not usable): nothing is waited for.
    Unreachable = 2,
}

/// What the reflector thread publishes for the event path.
#[derive(Debug, Default)]
pub struct Shared {
    status: AtomicU8,
    /// Bumped each time `index` is replaced, so readers know to look again.
    generation: AtomicU64,
    index: Mutex<Arc<Index>>,
}

impl Shared {
    pub fn status(&self) -> Status {
        match self.status.load(Ordering::Acquire) {
            0 => Status::Connecting,
            1 => Status::Ready,
            _ => Status::Unreachable,
        }
    }

    fn set_status(&self, s: Status) {
        self.status.store(s as u8, Ordering::Release);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current answer for a pod uid or `namespace/name`.
    pub fn lookup(&self, key: &str) -> Option<PodInfo> {
        // Held only to clone the Arc: the reflector thread swaps it whole.
        let index = Arc::clone(&*self.index.lock().ok()?);
        index.get(key).map(|i| PodInfo::clone(i))
    }

    /// Replaces the index when it differs: most watch events (a
    /// ReplicaSet's status, a pod elsewhere in a namespace) change no
    /// answer, and readers then have nothing to look up again.
    fn publish(&self, index: Index) {
        let Ok(mut slot) = self.index.lock() else {
            return;
        };
        if **slot != index {
            *slot = Arc::new(index);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Where the reflector thread's few lines for the user go (stderr, in sdtrace).
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

/// Starts the reflector thread for `node`'s pods; returns at once.
pub fn start(source: Source, node: String, say: Say) -> Arc<Shared> {
    let shared = Arc::new(Shared::default());
    let sink = Arc::clone(&shared);
    let thread_say = Arc::clone(&say);
    let spawned = thread::Builder::new()
        .name("sdtrace-k8s".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    return unusable(
                        &sink,
                        &thread_say,
                        &format!("no runtime for the Kubernetes client: {e}"),
                    )
                }
            };
            runtime.block_on(run(source, &node, &sink, &thread_say));
        });
    if let Err(e) = spawned {
        unusable(
            &shared,
            &say,
            &format!("no thread for the Kubernetes client: {e}"),
        );
    }
    shared
}

/// Marks the API as unusable and says so, once.
fn unusable(shared: &Shared, say: &Say, why: &str) {
    shared.set_status(Status::Unreachable);
    say(&super::unavailable_line(why));
}

/// The kinds watched; each indexes `run`'s per-kind arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pods,
    Namespaces,
    ReplicaSets,
    Services,
}

const KINDS: usize = 4;

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Pods => "pods",
            Kind::Namespaces => "namespaces",
            Kind::ReplicaSets => "replicasets",
            Kind::Services => "services",
        }
    }
}

/// One watch's progress: `Ok(true)` once its first full list is in.
type Progress = (Kind, Result<bool, watcher::Error>);

/// A reflector of a watch stream of `K`, as a stream of [`Progress`].
fn reflect<K>(
    kind: Kind,
    watch: impl Stream<Item = watcher::Result<watcher::Event<K>>> + 'static,
) -> (Store<K>, Pin<Box<dyn Stream<Item = Progress>>>)
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let stream = reflector::reflector(writer, watch.default_backoff())
        .map(move |ev| (kind, ev.map(|e| matches!(e, watcher::Event::InitDone))));
    (store, Box::pin(stream))
}

async fn run(source: Source, node: &str, shared: &Shared, say: &Say) {
    let described = source.describe();
    let client = match source.client_config().await.map(Client::try_from) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return unusable(
                shared,
                say,
                &format!("Kubernetes API client ({described}): {}", with_causes(&e)),
            )
        }
        Err(e) => {
            return unusable(
                shared,
                say,
                &format!("Kubernetes API not used: {}", with_causes(&e)),
            )
        }
    };
    let pods_config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let all = watcher::Config::default;
    let (pods, pod_stream) = reflect(
        Kind::Pods,
        watcher(Api::<Pod>::all(client.clone()), pods_config),
    );
    // Of namespaces and ReplicaSets only the metadata is used (labels,
    // owners): the server sends just that, and a ReplicaSet's pod template,
    // kept for every old revision in the cluster, stays out of memory.
    let (namespaces, ns_stream) = reflect(
        Kind::Namespaces,
        watcher(
            Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
            all(),
        ),
    );
    let (replicasets, rs_stream) = reflect(
        Kind::ReplicaSets,
        watcher(
            Api::<PartialObjectMeta<ReplicaSet>>::all(client.clone()),
            all(),
        ),
    );
    let (services, svc_stream) =
        reflect(Kind::Services, watcher(Api::<Service>::all(client), all()));
    let mut events =
        futures_util::stream::select_all([pod_stream, ns_stream, rs_stream, svc_stream]);
    let rebuild = || {
        let (p, n, r, s) = (
            pods.state(),
            namespaces.state(),
            replicasets.state(),
            services.state(),
        );
        shared.publish(Index::build(&Objects {
            pods: &p,
            namespaces: &n,
            replicasets: &r,
            services: &s,
        }));
    };
    // Per kind: listed once, and failed before it ever listed (said once).
    let mut listed = [false; KINDS];
    let mut failed = [false; KINDS];
    let mut untold: [Option<String>; KINDS] = Default::default();
    let deadline = tokio::time::sleep(READY_WITHIN);
    tokio::pin!(deadline);
    // Changes not yet worked into the index, and when it was last built.
    let mut dirty = false;
    let mut built = tokio::time::Instant::now();
    loop {
        let first = tokio::select! {
            ev = events.next() => ev,
            () = tokio::time::sleep_until(built + MIN_REBUILD), if dirty => {
                rebuild();
                (dirty, built) = (false, tokio::time::Instant::now());
                continue;
            }
            () = &mut deadline, if shared.status() == Status::Connecting => {
                unusable(shared, say, &format!(
                    "the Kubernetes API server ({described}) did not list this node's pods within {} s",
                    READY_WITHIN.as_secs()
                ));
                continue;
            }
        };
        let Some(first) = first else { return };
        // Take the whole burst of changes before working the answers out again.
        let mut changed = false;
        let mut next = Some(first);
        while let Some((kind, progress)) = next {
            let k = kind as usize;
            match progress {
                Ok(init_done) => {
                    changed = true;
                    listed[k] |= init_done;
                }
                Err(e) if !listed[k] && !failed[k] => {
                    failed[k] = true;
                    let e = with_causes(&e);
                    let line = format!("sdtrace: Kubernetes API: cannot list {}: {e}", kind.name());
                    if kind == Kind::Pods {
                        if shared.status() != Status::Unreachable {
                            unusable(
                                shared,
                                say,
                                &format!(
                                    "the Kubernetes API server is not reachable ({described}): {e}"
                                ),
                            );
                        }
                    } else if listed[Kind::Pods as usize] {
                        say(&line);
                    } else {
                        // Said only if the pods list then works: when the
                        // server is unreachable, its one line says it all.
                        untold[k] = Some(line);
                    }
                }
                Err(e) => log::debug!("Kubernetes watch of {}: {e}", kind.name()),
            }
            next = events.next().now_or_never().flatten();
        }
        dirty |= changed;
        // Ready once the pods are listed and every other kind was listed
        // or failed; a watch that fails later keeps what it had.
        let ready = listed[Kind::Pods as usize] && (0..KINDS).all(|k| listed[k] || failed[k]);
        let becoming_ready = ready && shared.status() != Status::Ready;
        if dirty && (becoming_ready || built.elapsed() >= MIN_REBUILD) {
            rebuild();
            (dirty, built) = (false, tokio::time::Instant::now());
        }
        if becoming_ready {
            shared.set_status(Status::Ready);
        }
        if listed[Kind::Pods as usize] {
            for line in untold.iter_mut().filter_map(Option::take) {
                say(&line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_changed_index_is_published() {
        let shared = Shared::default();
        let pod: Arc<Pod> = Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1"},
                "spec": {"containers": [], "nodeName": "node-a"}}))
            .unwrap(),
        );
        let index = |pods: &[Arc<Pod>]| {
            Index::build(&Objects {
                pods,
                namespaces: &[],
                replicasets: &[],
                services: &[],
            })
        };
        shared.publish(index(&[]));
        assert_eq!(shared.generation(), 0, "nothing changed");
        shared.publish(index(std::slice::from_ref(&pod)));
        assert_eq!(shared.generation(), 1);
        assert_eq!(shared.lookup("u-1").map(|p| p.node), Some("node-a".into()));
        shared.publish(index(std::slice::from_ref(&pod)));
        assert_eq!(shared.generation(), 1, "the same answers again");
        shared.publish(index(&[]));
        assert_eq!(shared.generation(), 2);
        assert_eq!(shared.lookup("u-1"), None);
    }
}

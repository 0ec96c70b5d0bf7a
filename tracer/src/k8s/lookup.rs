//! What sdtrace shows of a pod, worked out from the cached API objects:
//! its labels and IP, its namespace's labels, the ReplicaSet and Deployment
//! that own it, and the Services whose selector picks it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::core::PartialObjectMeta;

use super::PodInfo;

type Labels = BTreeMap<String, String>;

/// The objects a pod's answer is made from, as the reflectors hold them.
pub struct Objects<'a> {
    pub pods: &'a [Arc<Pod>],
    pub namespaces: &'a [Arc<PartialObjectMeta<Namespace>>],
    pub replicasets: &'a [Arc<PartialObjectMeta<ReplicaSet>>],
    pub services: &'a [Arc<Service>],
}

/// Every pod's answer, by the keys a container's runtime labels give.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Index {
    by_key: HashMap<String, Arc<PodInfo>>,
}

impl Index {
    /// Works out every pod's answer. Called by the reflector thread after
    /// the caches change, never on the event path.
    pub fn build(objects: &Objects<'_>) -> Self {
        let namespaces: HashMap<&str, &ObjectMeta> = objects
            .namespaces
            .iter()
            .filter_map(|n| Some((n.metadata.name.as_deref()?, &n.metadata)))
            .collect();
        let replicasets: HashMap<(&str, &str), &ObjectMeta> = objects
            .replicasets
            .iter()
            .filter_map(|r| {
                let m = &r.metadata;
                Some(((m.namespace.as_deref()?, m.name.as_deref()?), m))
            })
            .collect();
        let mut services: HashMap<&str, Vec<(&str, &Labels)>> = HashMap::new();
        for s in objects.services {
            let m = &s.metadata;
            let selector = s.spec.as_ref().and_then(|spec| spec.selector.as_ref());
            // A Service without a selector has its endpoints set by hand: it
            // selects no pod.
            if let (Some(ns), Some(name), Some(sel)) = (&m.namespace, &m.name, selector) {
                if !sel.is_empty() {
                    services.entry(ns).or_default().push((name, sel));
                }
            }
        }
        let mut by_key = HashMap::new();
        for pod in objects.pods {
            let m = &pod.metadata;
            let (Some(ns), Some(name)) = (m.namespace.as_deref(), m.name.as_deref()) else {
                continue;
            };
            let labels = m.labels.clone().unwrap_or_default();
            let rs = controller(m, "ReplicaSet").map(|o| o.name.clone());
            let deployment = rs
                .as_deref()
                .and_then(|rs| replicasets.get(&(ns, rs)))
                .and_then(|r| controller(r, "Deployment"))
                .map(|o| o.name.clone());
            let mut svc: Vec<String> = services
                .get(ns)
                .into_iter()
                .flatten()
                .filter(|(_, sel)| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
                .map(|(name, _)| (*name).to_owned())
                .collect();
            svc.sort_unstable();
            let info = Arc::new(PodInfo {
                ip: pod
                    .status
                    .as_ref()
                    .and_then(|s| s.pod_ip.clone())
                    .unwrap_or_default(),
                node: pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default(),
                ns_labels: namespaces
                    .get(ns)
                    .and_then(|n| n.labels.clone())
                    .unwrap_or_default(),
                rs: rs.unwrap_or_default(),
                deployment: deployment.unwrap_or_default(),
                services: svc,
                labels,
            });
            if let Some(uid) = &m.uid {
                by_key.insert(uid.clone(), Arc::clone(&info));
            }
            by_key.insert(super::name_key(ns, name), info);
        }
        Index { by_key }
    }

    /// The answer for a pod uid, or for `namespace/name`.
    pub fn get(&self, key: &str) -> Option<&Arc<PodInfo>> {
        self.by_key.get(key)
    }
}

/// The owner of kind `kind` that controls the object (or, for objects
/// written without the controller flag, the only owner of that kind).
fn controller<'m>(m: &'m ObjectMeta, kind: &str) -> Option<&'m OwnerReference> {
    let owners = m.owner_references.as_deref()?;
    owners
        .iter()
        .find(|o| o.kind == kind && o.controller == Some(true))
        .or_else(|| owners.iter().find(|o| o.kind == kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Arc<Pod> {
        Arc::new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn pod_with_owners_and_services() {
        let pods = [
            pod(serde_json::json!({
                "metadata": {"name": "web-5d8f-abcde", "namespace": "shop", "uid": "u-1",
                    "labels": {"app": "web", "tier": "front"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "web-5d8f", "uid": "rs-1", "controller": true}]},
                "spec": {"nodeName": "node-a", "containers": []},
                "status": {"podIP": "10.1.2.3"}})),
            pod(serde_json::json!({
                "metadata": {"name": "lonely", "namespace": "shop", "uid": "u-2"},
                "spec": {"containers": []}})),
        ];
        let rs: Arc<PartialObjectMeta<ReplicaSet>> = Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web-5d8f", "namespace": "shop",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                        "name": "web", "uid": "d-1", "controller": true}]}}))
            .unwrap(),
        );
        let ns: Arc<PartialObjectMeta<Namespace>> = Arc::new(
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": "shop", "labels": {"team": "a"}}}),
            )
            .unwrap(),
        );
        let svc = |name: &str, ns: &str, sel: serde_json::Value| -> Arc<Service> {
            Arc::new(
                serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"selector": sel}}))
                .unwrap(),
            )
        };
        let services = [
            svc("web-b", "shop", serde_json::json!({"app": "web"})),
            svc(
                "web-a",
                "shop",
                serde_json::json!({"app": "web", "tier": "front"}),
            ),
            svc("other", "shop", serde_json::json!({"app": "db"})),
            svc("elsewhere", "prod", serde_json::json!({"app": "web"})),
            svc("manual", "shop", serde_json::json!({})),
        ];
        let index = Index::build(&Objects {
            pods: &pods,
            namespaces: &[ns],
            replicasets: &[rs],
            services: &services,
        });
        let web = index.get("u-1").unwrap();
        assert_eq!(index.get("shop/web-5d8f-abcde"), Some(web));
        assert_eq!(web.rs, "web-5d8f");
        assert_eq!(web.deployment, "web");
        assert_eq!(web.services, ["web-a", "web-b"]);
        assert_eq!(web.ip, "10.1.2.3");
        assert_eq!(web.node, "node-a");
        assert_eq!(web.ns_labels["team"], "a");
        assert_eq!(web.labels_text(), "app:web, tier:front");
        let lonely = index.get("u-2").unwrap();
        assert_eq!(
            (
                lonely.rs.as_str(),
                lonely.deployment.as_str(),
                lonely.services.len()
            ),
            ("", "", 0)
        );
        assert!(index.get("u-3").is_none());
    }
}

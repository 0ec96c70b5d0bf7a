//! Kubernetes API metadata: a pod's labels, IP, namespace labels, owners and
//! services, from reflectors of the API objects that a background thread
//! keeps (see [`reflect`]). The event path only reads what they have cached
//! ([`PodCache`]); each answer it uses goes through its origin's
//! [`crate::journal::Journal`], so a capture file replays it.

pub mod cache;
#[cfg(feature = "k8s-api")]
pub mod config;
#[cfg(all(test, feature = "k8s-api"))]
pub(crate) mod fake_api;
#[cfg(feature = "k8s-api")]
pub mod lookup;
pub mod node;
#[cfg(feature = "k8s-api")]
pub mod reflect;

use std::borrow::Cow;
use std::collections::BTreeMap;

pub use crate::journal::PodInfo;

pub use cache::PodCache;

use crate::fields::FieldId;

/// The fields only the API server can answer.
pub const API_FIELDS: [FieldId; 8] = [
    FieldId::K8sPodLabel,
    FieldId::K8sPodLabels,
    FieldId::K8sPodIp,
    FieldId::K8sNsLabel,
    FieldId::K8sRsName,
    FieldId::K8sDeploymentName,
    FieldId::K8sSvcName,
    FieldId::K8sNodeName,
];

impl PodInfo {
    /// sysdig's `k8s.pod.labels`: `key:value` pairs (`key` alone for an
    /// empty value) joined by `, `, without kubelet's own `io.kubernetes.*`
    /// and `annotation.*` keys, as libsinsp writes them.
    pub fn labels_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.labels {
            if k.starts_with("annotation.") || k.starts_with("io.kubernetes.") {
                continue;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(k);
            if !v.is_empty() {
                out.push(':');
                out.push_str(v);
            }
        }
        out
    }
}

/// The key of a pod by name, as [`lookup::Index`] files it (a uid has no `/`).
pub fn name_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The key to ask about a container's pod by: the pod uid kubelet put in
/// its runtime labels (borrowed: this runs for every event), else its
/// namespace and name.
pub fn pod_key(labels: &BTreeMap<String, String>) -> Option<Cow<'_, str>> {
    if let Some(uid) = labels.get("io.kubernetes.pod.uid") {
        return Some(Cow::Borrowed(uid));
    }
    Some(Cow::Owned(name_key(
        labels.get("io.kubernetes.pod.namespace")?,
        labels.get("io.kubernetes.pod.name")?,
    )))
}

/// The one line saying which fields stay empty, and why.
pub fn unavailable_line(why: &str) -> String {
    let names: Vec<&str> = API_FIELDS.iter().map(|f| f.def().name).collect();
    // One line: a YAML error's own first line says where and what; the
    // source excerpt it draws below does not fit a log line.
    let why = why.lines().next().unwrap_or_default();
    format!(
        "sdtrace: {why}: {} stay empty (k8s.pod.name, k8s.ns.name, k8s.pod.uid and \
         k8s.container.name, from the runtime's labels, still work)",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_asked_for_by_uid_else_by_name() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let full = labels(&[
            ("io.kubernetes.pod.uid", "u-1"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.name", "web-1"),
        ]);
        assert_eq!(pod_key(&full).as_deref(), Some("u-1"));
        let named = labels(&[
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.name", "web-1"),
        ]);
        assert_eq!(pod_key(&named).as_deref(), Some("shop/web-1"));
        assert_eq!(
            pod_key(&labels(&[("io.kubernetes.pod.name", "web-1")])),
            None
        );
        let line = unavailable_line("kubeconfig k: bad YAML at line 1\n --> <input>:1:10");
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.starts_with("sdtrace: kubeconfig k: bad YAML at line 1: "),
            "{line}"
        );
        for field in API_FIELDS {
            assert!(line.contains(field.def().name), "{line}");
        }
    }
}

//! The manifests under `deploy/`, as the tests read them: every YAML
//! document in file-name order (the order `kubectl apply -f deploy/` uses),
//! as untyped JSON and as the Kubernetes type its `kind` names. The e2e
//! tests run the agent with exactly [`agent_capabilities`], so what the
//! DaemonSet grants is what is tested.
//!
//! Loading is strict and panics with the file at fault: a harness that
//! cannot read its manifests has nothing to test.
use std::{
    fs,
    path::{Path, PathBuf},
};

use k8s_openapi::{
    api::{
        apps::v1::DaemonSet,
        core::v1::{Container, Secret},
        rbac::v1::ClusterRole,
    },
    Resource,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The agent DaemonSet's (and its pods' and ServiceAccount's) name.
pub const AGENT: &str = "sdtrace-agent";
/// The label `sdtrace --cluster` finds agent pods by.
pub const AGENT_LABEL: (&str, &str) = ("app.kubernetes.io/name", AGENT);
/// The port the agent serves its stream, /metrics and /healthz on.
pub const AGENT_PORT: i32 = 7373;

/// One YAML document and the file it came from.
#[derive(Clone, Debug)]
pub struct Document {
    pub file: PathBuf,
    pub value: Value,
}

impl Document {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// The document as `K`, which must be the type its apiVersion and kind name.
    pub fn typed<K: Resource + DeserializeOwned>(&self) -> K {
        assert!(
            self.is::<K>(),
            "{}: {} {} is not a {} {}",
            self.file.display(),
            self.api_version(),
            self.kind(),
            K::API_VERSION,
            K::KIND
        );
        serde_json::from_value(self.value.clone())
            .unwrap_or_else(|e| panic!("{}: not a valid {}: {e}", self.file.display(), K::KIND))
    }

    pub fn is<K: Resource>(&self) -> bool {
        self.api_version() == K::API_VERSION && self.kind() == K::KIND
    }
}

/// The `deploy/` directory of this checkout.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every document of every `*.yaml` file in [`dir`], files in name order.
pub fn documents() -> Vec<Document> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap_or_else(|e| panic!("read {}: {e}", dir().display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .flat_map(|file| {
            let text = fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            let values: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
            values.into_iter().map(move |value| Document {
                file: file.clone(),
                value,
            })
        })
        .collect()
}

/// The one document of type `K`; panics if there are none or several.
pub fn only<K: Resource + DeserializeOwned>() -> K {
    let docs: Vec<Document> = documents().into_iter().filter(Document::is::<K>).collect();
    match docs.as_slice() {
        [doc] => doc.typed(),
        _ => panic!(
            "deploy/ holds {} {} documents, expected one",
            docs.len(),
            K::KIND
        ),
    }
}

/// The document of type `K` named `name`; panics if there is none.
pub fn named<K: Resource + DeserializeOwned>(name: &str) -> K {
    documents()
        .into_iter()
        .find(|d| d.is::<K>() && d.name() == name)
        .unwrap_or_else(|| panic!("deploy/ holds no {} {name}", K::KIND))
        .typed()
}

pub fn daemonset() -> DaemonSet {
    only()
}

/// The agent's own ClusterRole.
pub fn cluster_role() -> ClusterRole {
    named(AGENT)
}

pub fn token_secret() -> Secret {
    only()
}

/// The DaemonSet's only container, the agent.
pub fn agent_container() -> Container {
    let ds = daemonset();
    let spec = ds
        .spec
        .and_then(|s| s.template.spec)
        .expect("the DaemonSet has a pod template spec");
    match <[Container; 1]>::try_from(spec.containers) {
        Ok([container]) => container,
        Err(all) => panic!("the agent pod has {} containers, expected one", all.len()),
    }
}

/// The capabilities the agent container adds (after dropping ALL), without
/// the `CAP_` prefix, as the manifest spells them: e.g. `["BPF", "PERFMON"]`.
pub fn agent_capabilities() -> Vec<String> {
    agent_container()
        .security_context
        .and_then(|sc| sc.capabilities)
        .and_then(|caps| caps.add)
        .unwrap_or_default()
}

/// The image the DaemonSet runs, `sdtrace:<version>`.
pub fn agent_image() -> String {
    agent_container()
        .image
        .expect("the agent container names an image")
}

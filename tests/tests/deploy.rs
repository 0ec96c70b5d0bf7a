//! deploy/ read as Kubernetes reads it, without a cluster: every document is
//! a valid object of its kind with no field the API server would drop, and
//! the install grants the agent what it needs and nothing more.
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::{
    api::{
        apps::v1::DaemonSet,
        batch::v1::Job,
        core::v1::{Namespace, PodSpec, Probe, Secret, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding},
    },
    apimachinery::pkg::util::intstr::IntOrString,
    Resource,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tests::deploy::{self, Document, AGENT, AGENT_LABEL, AGENT_PORT};

const NAMESPACE: &str = "sdtrace";
const TOKEN_SECRET: &str = "sdtrace-agent-token";
const TLS_SECRET: &str = "sdtrace-agent-tls";
const CERT: &str = "sdtrace-cert";

/// What the agent may add after dropping ALL: deploy/40-daemonset.yaml says why
/// for each one.
const CAPABILITIES: [&str; 5] = [
    "BPF",
    "DAC_READ_SEARCH",
    "PERFMON",
    "SYS_PTRACE",
    "SYS_RESOURCE",
];

// ---- every document is a Kubernetes object and loses nothing on the way in

/// `value` through `K` and back, nulls and empty collections pruned on both
/// sides; returns the differences as `path: ...` lines. k8s-openapi, like
/// the API server, silently drops fields it does not know (a misspelt
/// `hostPid`, a field at the wrong level), so a lost field is a mistake.
fn round_trip_differences<K: Serialize + DeserializeOwned>(value: &Value) -> Vec<String> {
    let typed: K = match serde_json::from_value(value.clone()) {
        Ok(typed) => typed,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    let back = serde_json::to_value(&typed).expect("a k8s-openapi object serializes");
    let mut out = Vec::new();
    diff("", &prune(value), &prune(&back), &mut out);
    out
}

/// `value` without nulls, empty objects and empty arrays, at any depth: the
/// typed objects leave out what is absent, the YAML may spell it out.
fn prune(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), prune(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(prune).collect()),
        other => other.clone(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (key, wv) in w {
                let here = format!("{path}.{key}");
                match g.get(key) {
                    Some(gv) => diff(&here, wv, gv, out),
                    None => out.push(format!("{here}: lost (not a field of this type)")),
                }
            }
            for key in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{key}: added by the type"));
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: {want} became {got}")),
    }
}

/// The round trip for the type a document's apiVersion and kind name.
fn differences(doc: &Document) -> Vec<String> {
    fn of<K: Resource + Serialize + DeserializeOwned>(doc: &Document) -> Option<Vec<String>> {
        doc.is::<K>()
            .then(|| round_trip_differences::<K>(&doc.value))
    }
    of::<Namespace>(doc)
        .or_else(|| of::<ServiceAccount>(doc))
        .or_else(|| of::<ClusterRole>(doc))
        .or_else(|| of::<ClusterRoleBinding>(doc))
        .or_else(|| of::<Role>(doc))
        .or_else(|| of::<RoleBinding>(doc))
        .or_else(|| of::<Secret>(doc))
        .or_else(|| of::<Job>(doc))
        .or_else(|| of::<DaemonSet>(doc))
        .unwrap_or_else(|| {
            vec![format!(
                "{} {} is not a kind deploy/ is expected to hold",
                doc.api_version(),
                doc.kind()
            )]
        })
}

#[test]
fn every_document_is_its_kind_with_no_unknown_field() {
    let docs = deploy::documents();
    assert!(
        !docs.is_empty(),
        "no documents in {}",
        deploy::dir().display()
    );
    let problems: Vec<String> = docs
        .iter()
        .flat_map(|doc| {
            differences(doc).into_iter().map(move |d| {
                format!(
                    "{} ({} {}): {d}",
                    doc.file.display(),
                    doc.kind(),
                    doc.name()
                )
            })
        })
        .collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_round_trip_check_reports_a_misspelt_field_by_path() {
    let mut ds = deploy::documents()
        .into_iter()
        .find(Document::is::<DaemonSet>)
        .expect("a DaemonSet");
    ds.value["spec"]["template"]["spec"]["hostPid"] = Value::Bool(true);
    assert_eq!(
        differences(&ds),
        [".spec.template.spec.hostPid: lost (not a field of this type)"]
    );
}

// ---- the install: exactly these objects, in an order apply can create them

#[test]
fn deploy_installs_exactly_the_agent_and_its_access() {
    let found: Vec<(String, String, String)> = deploy::documents()
        .iter()
        .map(|d| {
            let ns = d.value["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default();
            (d.kind().to_owned(), d.name().to_owned(), ns.to_owned())
        })
        .collect();
    let expected = [
        ("Namespace", NAMESPACE, ""),
        ("ServiceAccount", AGENT, NAMESPACE),
        ("ClusterRole", AGENT, ""),
        ("ClusterRoleBinding", AGENT, ""),
        ("ClusterRoleBinding", "sdtrace-agent-auth-delegator", ""),
        ("ClusterRole", "sdtrace-viewer", ""),
        ("ClusterRole", "sdtrace-buffers-viewer", ""),
        ("Secret", TOKEN_SECRET, NAMESPACE),
        ("ServiceAccount", CERT, NAMESPACE),
        ("Role", CERT, NAMESPACE),
        ("RoleBinding", CERT, NAMESPACE),
        ("Job", CERT, NAMESPACE),
        ("DaemonSet", AGENT, NAMESPACE),
    ]
    .map(|(k, n, ns)| (k.to_owned(), n.to_owned(), ns.to_owned()));
    // In file order: the namespace before what lives in it, the
    // ServiceAccount before the token Secret issued for it, the cert Job's
    // access before the Job.
    assert_eq!(found, expected);
}

// ---- RBAC: read-only, five resources

#[test]
fn cluster_role_only_reads_pods_namespaces_services_replicasets_deployments() {
    let role = deploy::cluster_role();
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role.rules.unwrap_or_default() {
        assert!(
            rule.resource_names.is_none() && rule.non_resource_urls.is_none(),
            "a rule narrows by name or grants URLs: {rule:?}"
        );
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.iter().flatten() {
                granted
                    .entry((group.clone(), resource.clone()))
                    .or_default()
                    .extend(rule.verbs.iter().cloned());
            }
        }
    }
    let read: BTreeSet<String> = ["get", "list", "watch"].map(String::from).into();
    let expected: BTreeMap<(String, String), BTreeSet<String>> = [
        ("", "pods"),
        ("", "namespaces"),
        ("", "services"),
        ("apps", "replicasets"),
        ("apps", "deployments"),
    ]
    .into_iter()
    .map(|(g, r)| ((g.to_owned(), r.to_owned()), read.clone()))
    .collect();
    assert_eq!(granted, expected);
}

#[test]
fn cluster_role_binding_binds_the_role_to_the_agent_service_account() {
    let binding: ClusterRoleBinding = deploy::named(AGENT);
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(binding.role_ref.name, AGENT);
    assert_binds_the_agent(binding);
    let sa: ServiceAccount = deploy::named(AGENT);
    assert_eq!(sa.metadata.name.as_deref(), Some(AGENT));
    assert_eq!(pod_spec().service_account_name.as_deref(), Some(AGENT));
}

/// `binding`'s one subject is the agent's ServiceAccount.
fn assert_binds_the_agent(binding: ClusterRoleBinding) {
    let subjects: Vec<_> = binding
        .subjects
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.kind, s.name, s.namespace.unwrap_or_default()))
        .collect();
    assert_eq!(
        subjects,
        [(
            "ServiceAccount".to_owned(),
            AGENT.to_owned(),
            NAMESPACE.to_owned()
        )]
    );
}

// ---- the agent's pod: least privilege

fn pod_spec() -> PodSpec {
    deploy::daemonset()
        .spec
        .and_then(|s| s.template.spec)
        .expect("the DaemonSet has a pod template spec")
}

#[test]
fn agent_is_unprivileged_and_adds_only_the_listed_capabilities() {
    let sc = deploy::agent_container()
        .security_context
        .expect("the agent container has a securityContext");
    assert_eq!(sc.privileged, Some(false), "privileged");
    assert_eq!(
        sc.allow_privilege_escalation,
        Some(false),
        "allowPrivilegeEscalation"
    );
    assert_eq!(
        sc.read_only_root_filesystem,
        Some(true),
        "readOnlyRootFilesystem"
    );
    assert_eq!(
        sc.run_as_user,
        Some(0),
        "runAsUser (root-owned sockets, /proc)"
    );
    let caps = sc.capabilities.expect("capabilities");
    assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]), "drop ALL");
    let mut added = deploy::agent_capabilities();
    added.sort();
    assert_eq!(added, CAPABILITIES, "capabilities added");
    for cap in &added {
        assert!(
            !cap.starts_with("CAP_"),
            "{cap}: Kubernetes spells capabilities without CAP_"
        );
    }
}

#[test]
fn agent_shares_the_host_pid_namespace_and_nothing_else() {
    let spec = pod_spec();
    assert_eq!(
        spec.host_pid,
        Some(true),
        "hostPID (host pids, the host's /proc)"
    );
    assert_ne!(
        spec.host_network,
        Some(true),
        "hostNetwork (clients port-forward)"
    );
    assert_ne!(spec.host_ipc, Some(true), "hostIPC");
}

#[test]
fn every_mount_is_read_only_and_host_paths_are_mounted_where_sdtrace_looks() {
    let spec = pod_spec();
    let host_paths: BTreeMap<String, String> = spec
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| Some((v.name, v.host_path?.path)))
        .collect();
    let mounts = deploy::agent_container().volume_mounts.unwrap_or_default();
    for m in &mounts {
        assert_eq!(
            m.read_only,
            Some(true),
            "{} at {} is writable",
            m.name,
            m.mount_path
        );
        if let Some(host) = host_paths.get(&m.name) {
            // sdtrace reads fixed paths; a host path elsewhere would hide it.
            assert_eq!(
                &m.mount_path, host,
                "{} is mounted away from its host path",
                m.name
            );
        }
    }
    let mounted: BTreeSet<&str> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
    for needed in [
        "/sys/kernel/btf",
        "/sys/fs/cgroup",
        "/run/containerd",
        "/var/run/crio",
        "/run/docker.sock",
        "/var/run/sdtrace",
    ] {
        assert!(mounted.contains(needed), "{needed} is not mounted");
    }
}

#[test]
fn runtime_socket_mounts_do_not_keep_the_pod_off_nodes_without_that_runtime() {
    let types: BTreeMap<String, String> = pod_spec()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| {
            let hp = v.host_path?;
            Some((hp.path, hp.type_.unwrap_or_default()))
        })
        .collect();
    for (path, allowed) in [
        ("/run/containerd", ["DirectoryOrCreate", ""]),
        ("/var/run/crio", ["DirectoryOrCreate", ""]),
        ("/run/docker.sock", ["", ""]),
    ] {
        let ty = types
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not a hostPath"));
        assert!(
            allowed.contains(&ty.as_str()),
            "{path} has type {ty:?}, which fails on a node without it"
        );
    }
}

fn assert_healthz(name: &str, probe: Option<Probe>) {
    let get = probe
        .and_then(|p| p.http_get)
        .unwrap_or_else(|| panic!("no {name} httpGet probe"));
    assert_eq!(get.path.as_deref(), Some("/healthz"), "{name} path");
    assert_eq!(get.port, IntOrString::Int(AGENT_PORT), "{name} port");
    assert_eq!(
        get.scheme.as_deref(),
        Some("HTTPS"),
        "{name}: the port speaks TLS"
    );
}

#[test]
fn probes_ask_healthz_on_the_agent_port() {
    let c = deploy::agent_container();
    assert_healthz("readiness", c.readiness_probe.clone());
    assert_healthz("liveness", c.liveness_probe.clone());
    if c.startup_probe.is_some() {
        assert_healthz("startup", c.startup_probe.clone());
    }
    let ports: Vec<_> = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), p.container_port))
        .collect();
    assert_eq!(ports, [("stream".to_owned(), AGENT_PORT)]);
}

#[test]
fn agent_runs_sdtrace_agent_on_the_port_with_the_mounted_token() {
    let c = deploy::agent_container();
    let args = c.args.unwrap_or_default();
    let listen = format!("0.0.0.0:{AGENT_PORT}");
    assert_eq!(
        args,
        [
            "agent",
            "--listen",
            &listen,
            "--token-file",
            "/var/run/sdtrace/token",
            "--tls-cert",
            "/var/run/sdtrace-tls/tls.crt",
            "--tls-key",
            "/var/run/sdtrace-tls/tls.key"
        ]
    );
    let node_name = c
        .env
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.name == "NODE_NAME")
        .and_then(|e| e.value_from?.field_ref)
        .map(|f| f.field_path);
    assert_eq!(node_name.as_deref(), Some("spec.nodeName"), "NODE_NAME");
}

#[test]
fn resources_are_requested_and_limited() {
    let resources = deploy::agent_container()
        .resources
        .expect("the agent container declares resources");
    for (what, list) in [
        ("requests", resources.requests),
        ("limits", resources.limits),
    ] {
        let list = list.unwrap_or_default();
        for resource in ["cpu", "memory"] {
            assert!(list.contains_key(resource), "no {resource} in {what}");
        }
    }
}

#[test]
fn runs_on_every_node_whatever_its_taints() {
    let tolerates_all =
        pod_spec().tolerations.unwrap_or_default().iter().any(|t| {
            t.operator.as_deref() == Some("Exists") && t.key.is_none() && t.effect.is_none()
        });
    assert!(
        tolerates_all,
        "no toleration with operator Exists and no key or effect"
    );
}

// ---- the token, the selector, the image

#[test]
fn token_secret_is_a_service_account_token_for_the_agent() {
    let secret = deploy::token_secret();
    assert_eq!(secret.metadata.name.as_deref(), Some(TOKEN_SECRET));
    assert_eq!(
        secret.type_.as_deref(),
        Some("kubernetes.io/service-account-token")
    );
    assert!(
        secret.data.is_none() && secret.string_data.is_none(),
        "a token is checked in; the token controller generates it"
    );
    let annotations = secret.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get("kubernetes.io/service-account.name"),
        pod_spec().service_account_name.as_ref(),
        "the Secret is not issued for the DaemonSet's service account"
    );
    let token_volume = secret_volume("token");
    assert_eq!(token_volume.secret_name.as_deref(), Some(TOKEN_SECRET));
    let keys: Vec<_> = token_volume
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.key, i.path))
        .collect();
    assert_eq!(keys, [("token".to_owned(), "token".to_owned())]);
}

#[test]
fn selector_matches_the_template_and_the_label_clients_look_for() {
    let ds = deploy::daemonset();
    let spec = ds.spec.expect("a DaemonSet spec");
    assert!(
        spec.selector.match_expressions.is_none(),
        "matchExpressions: the client selects by label equality"
    );
    let selector = spec.selector.match_labels.unwrap_or_default();
    let (key, value) = AGENT_LABEL;
    assert_eq!(selector.get(key).map(String::as_str), Some(value));
    let labels = spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default();
    for (k, v) in &selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the template lacks selector label {k}={v}"
        );
    }
}

/// `version` from tracer/Cargo.toml's `[package]` table.
fn tracer_version() -> String {
    let path = deploy::dir().join("../tracer/Cargo.toml");
    let manifest = std::fs::read_to_string(&path).expect("read tracer/Cargo.toml");
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "version").then(|| value.trim().trim_matches('"').to_owned())
        })
        .expect("tracer/Cargo.toml has a [package] version")
}

#[test]
fn image_is_tracers_version_loaded_not_pulled() {
    let c = deploy::agent_container();
    assert_eq!(
        deploy::agent_image(),
        format!("sdtrace:{}", tracer_version())
    );
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
}

/// The Secret the pod mounts as volume `name`.
fn secret_volume(name: &str) -> k8s_openapi::api::core::v1::SecretVolumeSource {
    pod_spec()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == name)
        .and_then(|v| v.secret)
        .unwrap_or_else(|| panic!("volume {name} is a Secret"))
}

// ---- TLS: a Job makes the pair, the agent serves it

#[test]
fn the_tls_secret_is_mounted_where_the_agent_reads_its_pair() {
    let tls = secret_volume("tls");
    assert_eq!(tls.secret_name.as_deref(), Some(TLS_SECRET));
    let keys: Vec<_> = tls
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.key, i.path))
        .collect();
    let pair = ["tls.crt", "tls.key"].map(|k| (k.to_owned(), k.to_owned()));
    assert_eq!(keys, pair, "the pair, not the CA");
    let mount = deploy::agent_container()
        .volume_mounts
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.name == "tls")
        .expect("the tls volume is mounted");
    // A directory, not a subPath: a rotated Secret reaches the agent.
    assert_eq!(mount.mount_path, "/var/run/sdtrace-tls");
    assert!(mount.sub_path.is_none() && mount.read_only == Some(true));
}

#[test]
fn the_cert_job_makes_the_tls_secret_and_may_do_nothing_else() {
    let job: Job = deploy::named(CERT);
    let spec = job.spec.and_then(|s| s.template.spec).expect("a pod spec");
    assert_eq!(spec.service_account_name.as_deref(), Some(CERT));
    let container = &spec.containers[0];
    assert_eq!(
        container.args.as_deref().unwrap_or_default(),
        ["cert", "--secret", &format!("{NAMESPACE}/{TLS_SECRET}")]
    );
    assert_eq!(
        container.image.as_deref(),
        Some(deploy::agent_image().as_str())
    );
    let role: Role = deploy::named(CERT);
    let rules: Vec<(Vec<String>, Vec<String>)> = role
        .rules
        .unwrap_or_default()
        .into_iter()
        .map(|r: PolicyRule| {
            assert_eq!(r.resources.as_deref().unwrap_or_default(), ["secrets"]);
            (r.verbs, r.resource_names.unwrap_or_default())
        })
        .collect();
    assert_eq!(
        rules,
        [
            (vec!["create".to_owned()], vec![]),
            (vec!["get".to_owned()], vec![TLS_SECRET.to_owned()]),
        ]
    );
    let binding: RoleBinding = deploy::named(CERT);
    assert_eq!(
        (
            binding.role_ref.kind.as_str(),
            binding.role_ref.name.as_str()
        ),
        ("Role", CERT)
    );
    let subjects: Vec<_> = binding
        .subjects
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.kind, s.name))
        .collect();
    assert_eq!(subjects, [("ServiceAccount".to_owned(), CERT.to_owned())]);
}

// ---- RBAC decides who may watch

#[test]
fn the_agent_may_review_tokens_and_viewers_only_watch_sdtrace_resources() {
    let binding: ClusterRoleBinding = deploy::named("sdtrace-agent-auth-delegator");
    assert_eq!(binding.role_ref.name, "system:auth-delegator");
    assert_binds_the_agent(binding);
    for (name, resources) in [
        ("sdtrace-viewer", vec!["syscalls"]),
        ("sdtrace-buffers-viewer", vec!["syscalls", "buffers"]),
    ] {
        let role: ClusterRole = deploy::named(name);
        let rules = role.rules.unwrap_or_default();
        assert_eq!(rules.len(), 1, "{name}");
        let rule = &rules[0];
        assert_eq!(
            rule.api_groups.as_deref().unwrap_or_default(),
            ["sdtrace.io"],
            "{name}"
        );
        assert_eq!(
            rule.resources.as_deref().unwrap_or_default(),
            resources,
            "{name}"
        );
        assert_eq!(rule.verbs, ["watch"], "{name}");
    }
}

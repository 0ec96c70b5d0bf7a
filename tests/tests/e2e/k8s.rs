//! The Kubernetes API fields on a live capture: sdtrace follows a stand-in
//! API server (recorded list and watch responses, served on 127.0.0.1 by
//! the tracer's own test support) and a real Docker container labelled as
//! kubelet labels a pod's containers. The pod it names arrives by the watch
//! stream; its events carry its Deployment and Services, in a live run and
//! read back from a capture file with no server; with no server reachable
//! the runtime-label fields still work and one line says why.
#[path = "../../../tracer/tests/support/fake_apiserver.rs"]
mod fake_apiserver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_apiserver::{write_kubeconfig, FakeApiServer};
use serde_json::Value;
use tests::recorder::Recorder;
use tests::{e2e, EventExt, Session, TempDir, Tracer};

use tests::images::busybox_image;

/// The pod ADDED by the recorded watch stream, on node `node-a`.
const API_POD: &str = "api-6f7b8c9d5-q4r7t";
const API_UID: &str = "0b9d7c1e-2f3a-4b5c-8d6e-7f8091a2b3c4";
const IMAGE: &str = "sdtrace-e2e-busybox:1";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tracer/tests/fixtures/k8s")
}

/// Runs `cat /etc/motd` in a container labelled as the api pod's.
fn run_pod_container(docker: &Path, name: &str) {
    let status = Command::new(docker)
        .args(["run", "--rm", "--name", name])
        .args(["--label", &format!("io.kubernetes.pod.uid={API_UID}")])
        .args(["--label", &format!("io.kubernetes.pod.name={API_POD}")])
        .args(["--label", "io.kubernetes.pod.namespace=shop"])
        .args(["--label", "io.kubernetes.container.name=api"])
        .args([IMAGE, "/bin/cat", "/etc/motd"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "docker run");
}

/// Traces a new pod container's opens with FORMAT, sdtrace asking the API
/// server `kubeconfig` names; returns the session and cat's open of
/// /etc/motd.
fn trace_pod_container(tracer: &Tracer, docker: &Path, kubeconfig: &Path) -> (Session, Value) {
    let name = tests::unique_name("sdt-k8s");
    let session = Session::start(
        tracer,
        &[
            "--kubeconfig",
            &kubeconfig.display().to_string(),
            "--k8s-node",
            "node-a",
            "-c",
            &format!("container.name={name} and evt.type=openat"),
            "-p",
            FORMAT,
        ],
    );
    run_pod_container(docker, &name);
    let ev = session.wait_for("cat's open of /etc/motd in the pod's container", |e| {
        e.str_field("fd.name") == Some("/etc/motd")
    });
    (session, ev)
}

const FORMAT: &str = "*%k8s.pod.name %k8s.deployment.name %k8s.svc.name %k8s.rs.name %k8s.pod.ip \
                      %k8s.pod.label[app] %k8s.ns.label[team] %k8s.node.name %proc.name %fd.name";

/// The api pod's fields as the fixtures give them.
fn assert_api_pod(ev: &Value) {
    for (field, want) in [
        ("k8s.pod.name", API_POD),
        ("k8s.deployment.name", "api"),
        ("k8s.svc.name", "api, http-edge"),
        ("k8s.rs.name", "api-6f7b8c9d5"),
        ("k8s.pod.ip", "10.244.1.9"),
        ("k8s.pod.label[app]", "api"),
        ("k8s.ns.label[team]", "payments"),
        ("k8s.node.name", "node-a"),
    ] {
        assert_eq!(ev.str_field(field), Some(want), "{field}: {ev}");
    }
}

e2e!(
    a_watched_pods_container_has_its_deployment_and_services,
    |tracer, test| {
        let Some(docker) = tests::require_docker(test) else {
            return;
        };
        busybox_image(&docker, IMAGE);
        let server = FakeApiServer::start(&fixtures(), Duration::from_secs(60));
        let dir = TempDir::new("k8s");
        let kubeconfig = server.kubeconfig(dir.path());
        let (session, ev) = trace_pod_container(&tracer, &docker, &kubeconfig);
        assert_api_pod(&ev);
        let done = session.stop();
        assert!(done.status.success());
        assert!(
            !done.stderr.iter().any(|l| l.contains("Kubernetes")),
            "{:?}",
            done.stderr
        );
        let requests = server.requests();
        assert!(
            requests.iter().any(|r| r.target.starts_with("/api/v1/pods")
                && r.target.contains("spec.nodeName%3Dnode-a")),
            "{requests:?}"
        );
        // ReplicaSets are fetched as metadata only, pods in full.
        for r in &requests {
            let rs = r.target.starts_with("/apis/apps/v1/replicasets");
            let pods = r.target.starts_with("/api/v1/pods");
            assert!(!(rs || pods) || r.metadata_only == rs, "{r:?}");
        }
    }
);

e2e!(
    capture_files_keep_the_api_servers_answers,
    |tracer, test| {
        let Some(docker) = tests::require_docker(test) else {
            return;
        };
        busybox_image(&docker, IMAGE);
        let dir = TempDir::new("k8s-capture");
        let file = dir.path().join("pod.scap");
        let name = tests::unique_name("sdt-k8s");
        {
            let server = FakeApiServer::start(&fixtures(), Duration::from_secs(60));
            let kubeconfig = server.kubeconfig(dir.path());
            // A filter on a service makes the container's first events wait for
            // the pod, as a live run printing it would.
            let recorder = Recorder::start(
                &tracer,
                &file,
                &[
                    "--kubeconfig",
                    &kubeconfig.display().to_string(),
                    "--k8s-node",
                    "node-a",
                    "-c",
                    &format!("container.name={name} and k8s.svc.name contains api"),
                ],
            );
            run_pod_container(&docker, &name);
            recorder.stop();
        }
        // Read back with no server and no kubeconfig.
        let out = Command::new(&tracer.bin)
            .arg("-r")
            .arg(&file)
            .args([
                "-j",
                "-c",
                &format!("container.name={name} and evt.type=openat"),
            ])
            .args(["-p", FORMAT])
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let motd = events
            .iter()
            .find(|e| e.str_field("fd.name") == Some("/etc/motd"))
            .unwrap_or_else(|| panic!("cat's open of /etc/motd in {events:?}"));
        assert_api_pod(motd);
    }
);

e2e!(
    without_an_api_server_runtime_labels_still_work_and_one_line_says_why,
    |tracer, test| {
        let Some(docker) = tests::require_docker(test) else {
            return;
        };
        busybox_image(&docker, IMAGE);
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = TempDir::new("k8s-none");
        let kubeconfig = write_kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}"));
        let (session, ev) = trace_pod_container(&tracer, &docker, &kubeconfig);
        assert_eq!(ev.str_field("k8s.pod.name"), Some(API_POD), "{ev}");
        for field in [
            "k8s.deployment.name",
            "k8s.svc.name",
            "k8s.pod.ip",
            "k8s.node.name",
        ] {
            assert_eq!(ev.str_field(field), None, "{field}: {ev}");
        }
        let done = session.stop();
        let k8s_lines: Vec<&String> = done
            .stderr
            .iter()
            .filter(|l| l.contains("Kubernetes"))
            .collect();
        assert_eq!(k8s_lines.len(), 1, "{:?}", done.stderr);
        assert!(k8s_lines[0].contains("not reachable"), "{}", k8s_lines[0]);
    }
);

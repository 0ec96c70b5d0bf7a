//! A real containerd, asked over CRI: the test starts its own containerd
//! (own root, state and socket in a temp dir, CRI plugin on, native
//! snapshotter, no CNI), imports a busybox image built here, runs a pod in
//! the host's network namespace with the labels kubelet sets and a container
//! in it, and sdtrace (`--cri <socket>`) names the container's events.
use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tests::{e2e, EventExt, Session, TempDir};
use tracer::container::cri::{api, connect};

use tests::images::{busybox_image, busybox_image_with};

/// The image the pod's sandbox and container run (a sandbox image needs a
/// command that waits; the container's command is given).
const IMAGE: &str = "docker.io/library/sdt-rt-busybox:1";

/// A containerd of the test's own, stopped (and its pods with it) on drop.
struct Containerd {
    child: Child,
    dir: TempDir,
}

impl Containerd {
    fn sock(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    fn start(containerd: &Path) -> Self {
        let dir = TempDir::new("cri");
        let d = dir.path().display();
        // Only the plugins a CRI pod needs here: the other snapshotters and
        // /opt would fail or touch the host's state.
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt", "io.containerd.grpc.v1.cri-tracing"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{IMAGE}"
  # A pod sandbox asks for oom_score_adj -998, which runc may not set where
  # the test itself runs without CAP_SYS_RESOURCE: clamp to ours instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    Root = "{d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni-bin"
    conf_dir = "{d}/cni-conf"
"#
        );
        fs::write(dir.path().join("config.toml"), config).unwrap();
        let log = fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new(containerd)
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            // runc's own complaint reaches the log only at debug level.
            .args(["--log-level", "debug"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let me = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !me.sock().exists() {
            assert!(
                Instant::now() < deadline,
                "containerd made no socket in 20 s: {}",
                me.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        tests::session::signal(self.child.id(), libc::SIGTERM);
        if tests::session::wait_deadline(&mut self.child, Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The native snapshotter's bind mounts, if a removal did not finish.
        tests::tmpfs::unmount_all_under(self.dir.path());
    }
}

/// The labels kubelet puts on a pod's sandbox and containers.
fn kube_labels(pod: &str, ns: &str, uid: &str, container: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::from([
        ("io.kubernetes.pod.name".to_owned(), pod.to_owned()),
        ("io.kubernetes.pod.namespace".to_owned(), ns.to_owned()),
        ("io.kubernetes.pod.uid".to_owned(), uid.to_owned()),
    ]);
    if let Some(c) = container {
        l.insert("io.kubernetes.container.name".to_owned(), c.to_owned());
    }
    l
}

/// The host's network namespace: no CNI plugin is needed.
fn node_network() -> Option<api::LinuxSandboxSecurityContext> {
    Some(api::LinuxSandboxSecurityContext {
        namespace_options: Some(api::NamespaceOption {
            network: api::NamespaceMode::Node as i32,
            ..Default::default()
        }),
        ..Default::default()
    })
}

e2e!(
    containerd_cri_container_has_its_pod_and_labels,
    |tracer, test| {
        let Some(docker) = tests::require_docker(test) else {
            return;
        };
        let Some(containerd) = tests::require_program(test, "containerd") else {
            return;
        };
        let Some(ctr) = tests::require_program(test, "ctr") else {
            return;
        };
        let ctd = Containerd::start(&containerd);

        // The image: built by Docker, handed over as `docker save`'s tarball.
        busybox_image_with(&docker, IMAGE, &[r#"CMD ["/bin/sleep","3600"]"#]);
        let tarball = ctd.dir.path().join("image.tar");
        let saved = Command::new(&docker)
            .args(["save", "-o"])
            .arg(&tarball)
            .arg(IMAGE)
            .status()
            .unwrap();
        assert!(saved.success(), "docker save");
        let imported = Command::new(&ctr)
            .arg("-a")
            .arg(ctd.sock())
            .args([
                "-n",
                "k8s.io",
                "images",
                "import",
                "--snapshotter",
                "native",
            ])
            .arg(&tarball)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(imported.success(), "ctr images import: {}", ctd.log());

        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let pod = format!("sdt-rt-pod-{nanos}");
        let ns = "sdt-rt-ns";
        let uid = format!("{nanos:x}");
        let logs = ctd.dir.path().join("logs");
        fs::create_dir_all(&logs).unwrap();
        let data = ctd.dir.path().join("data");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("motd"), "hello from the pod\n").unwrap();

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sock = ctd.sock();
        let mut client = rt.block_on(async {
            api::runtime_service_client::RuntimeServiceClient::new(connect(&sock).await.unwrap())
        });
        let sandbox_config = api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: pod.clone(),
                uid: uid.clone(),
                namespace: ns.to_owned(),
                attempt: 0,
            }),
            log_directory: logs.display().to_string(),
            labels: kube_labels(&pod, ns, &uid, None),
            linux: Some(api::LinuxPodSandboxConfig {
                // Where kubelet's cgroupfs driver puts a best-effort pod.
                cgroup_parent: format!("/kubepods/besteffort/pod{uid}"),
                security_context: node_network(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sandbox = rt
            .block_on(client.run_pod_sandbox(api::RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
                runtime_handler: String::new(),
            }))
            .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", ctd.log()))
            .into_inner()
            .pod_sandbox_id;
        let _pod = Pod {
            sock: sock.clone(),
            id: sandbox.clone(),
            uid: uid.clone(),
        };

        let label = "container.label[io.kubernetes.container.name]";
        let session = Session::start(
            &tracer,
            &[
                "--cri",
                &sock.display().to_string(),
                "-c",
                &format!("k8s.pod.name={pod} and evt.type=openat"),
                "-p",
                &format!(
                    "%container.name %container.type %k8s.pod.name %k8s.ns.name %{label} \
                 %container.image %container.mounts %proc.name %fd.name"
                ),
            ],
        );
        let container = rt
            .block_on(client.create_container(api::CreateContainerRequest {
                pod_sandbox_id: sandbox.clone(),
                config: Some(api::ContainerConfig {
                    metadata: Some(api::ContainerMetadata {
                        name: "sdt-rt-cat".into(),
                        attempt: 0,
                    }),
                    image: Some(api::ImageSpec {
                        image: IMAGE.into(),
                        ..Default::default()
                    }),
                    command: vec!["/bin/cat".into(), "/data/motd".into()],
                    labels: kube_labels(&pod, ns, &uid, Some("sdt-rt-cat")),
                    log_path: "cat.log".into(),
                    mounts: vec![api::Mount {
                        container_path: "/data".into(),
                        host_path: data.display().to_string(),
                        readonly: true,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                sandbox_config: Some(sandbox_config),
            }))
            .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", ctd.log()))
            .into_inner()
            .container_id;
        rt.block_on(client.start_container(api::StartContainerRequest {
            container_id: container.clone(),
        }))
        .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", ctd.log()));

        let ev = session.wait_for("cat's open of /data/motd in the pod", |e| {
            e.str_field("fd.name") == Some("/data/motd")
        });
        assert_eq!(ev.str_field("container.name"), Some("sdt-rt-cat"), "{ev}");
        assert_eq!(ev.str_field("container.type"), Some("containerd"), "{ev}");
        assert_eq!(ev.str_field("k8s.pod.name"), Some(pod.as_str()), "{ev}");
        assert_eq!(ev.str_field("k8s.ns.name"), Some(ns), "{ev}");
        assert_eq!(ev.str_field(label), Some("sdt-rt-cat"), "{ev}");
        assert_eq!(ev.str_field("container.image"), Some(IMAGE), "{ev}");
        let mount = format!("{}:/data::false:private", data.display());
        assert!(
            ev.str_field("container.mounts")
                .is_some_and(|m| m.split(',').any(|x| x == mount)),
            "{mount} in {ev}"
        );
        assert_eq!(ev.str_field("proc.name"), Some("cat"), "{ev}");
        let done = session.stop();
        assert!(done.status.success());
    }
);

/// A pod sandbox stopped and removed on drop, pass or fail (its sandbox
/// process would otherwise outlive the test under its shim).
struct Pod {
    sock: PathBuf,
    id: String,
    uid: String,
}

impl Drop for Pod {
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(channel) = connect(&self.sock).await else {
                return;
            };
            let mut client = api::runtime_service_client::RuntimeServiceClient::new(channel);
            let _ = client
                .stop_pod_sandbox(api::StopPodSandboxRequest {
                    pod_sandbox_id: self.id.clone(),
                })
                .await;
            let _ = client
                .remove_pod_sandbox(api::RemovePodSandboxRequest {
                    pod_sandbox_id: self.id.clone(),
                })
                .await;
        });
        remove_pod_cgroups(&self.uid);
    }
}

/// The pod's cgroup directories runc made (kubelet would remove them).
fn remove_pod_cgroups(uid: &str) {
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let dirs = hierarchies
        .flatten()
        .map(|h| h.path())
        .chain([PathBuf::from("/sys/fs/cgroup")]);
    for dir in dirs {
        let _ = fs::remove_dir(dir.join(format!("kubepods/besteffort/pod{uid}")));
    }
}

// A Docker container's labels by key and its bind mount, as sysdig shows
// them; and `--containers` lists it at the end with its name and image.
e2e!(docker_container_labels_mounts_and_table, |tracer, test| {
    let Some(docker) = tests::require_docker(test) else {
        return;
    };
    let image = "sdt-rt-busybox:1";
    busybox_image(&docker, image);
    let dir = TempDir::new("mounts");
    fs::write(dir.path().join("motd"), "hello from a bind mount\n").unwrap();
    let name = tests::unique_name("sdt-rt-mounts");
    let session = Session::start(
        &tracer,
        &[
            "--containers",
            "-c",
            &format!("container.name={name} and evt.type=openat"),
            "-p",
            "%container.name %container.label[app] %container.label.team %container.mounts %fd.name",
        ],
    );
    let status = Command::new(&docker)
        .args(["run", "--rm", "--name", &name])
        .args(["--label", "app=sdt-rt-web", "--label", "team=core"])
        .arg("-v")
        .arg(format!("{}:/data:ro", dir.path().display()))
        .args([image, "/bin/cat", "/data/motd"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "docker run");
    let ev = session.wait_for("cat's open of /data/motd in the container", |e| {
        e.str_field("fd.name") == Some("/data/motd")
    });
    assert_eq!(ev.str_field("container.name"), Some(name.as_str()), "{ev}");
    assert_eq!(
        ev.str_field("container.label[app]"),
        Some("sdt-rt-web"),
        "{ev}"
    );
    assert_eq!(ev.str_field("container.label[team]"), Some("core"), "{ev}");
    // Docker's own words for a `-v src:dst:ro` bind: mode ro, read-only,
    // rprivate propagation.
    assert_eq!(
        ev.str_field("container.mounts"),
        Some(format!("{}:/data:ro:false:rprivate", dir.path().display()).as_str()),
        "{ev}"
    );
    let done = session.stop();
    assert!(done.status.success());
    let row = done
        .stderr
        .iter()
        .find(|l| l.split_whitespace().nth(2) == Some(name.as_str()))
        .unwrap_or_else(|| panic!("{name} in the --containers table: {:?}", done.stderr));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "docker", "{row}");
    assert_eq!(cells[3], image, "{row}");
    let events: u64 = cells[6].parse().unwrap();
    assert!(events >= done.events.len() as u64, "{row}");
});

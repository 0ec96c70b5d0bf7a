//! A container's metadata from the Kubernetes CRI (gRPC over the runtime's
//! unix socket), which containerd and CRI-O both serve: `ContainerStatus`
//! (verbose, for the sandbox id and whether it is privileged) and the pod
//! sandbox's `PodSandboxStatus` (for the pod's IP), into the same [`Meta`]
//! the Docker Engine API fills.
//!
//! Calls are async (tonic); [`Cri`] owns a current-thread tokio runtime so the
//! metadata thread can stay blocking, like the Docker path.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sdtrace_cri::tonic::{self, transport::Channel};

use super::docker::{Meta, MountInfo};

/// The CRI v1 messages and the `RuntimeService` client.
pub use sdtrace_cri as api;

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("cannot reach {path}: {source}")]
    Connect {
        path: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{0}")]
    Status(#[from] tonic::Status),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the runtime answered without a status")]
    Empty,
    #[error("cannot start an async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl CriError {
    /// Whether the runtime itself is away (its socket gone, refusing, or
    /// silent past the timeout), rather than unable to tell about one
    /// container.
    pub fn is_unreachable(&self) -> bool {
        match self {
            CriError::Connect { .. } | CriError::Timeout(_) => true,
            CriError::Status(s) => s.code() == tonic::Code::Unavailable,
            _ => false,
        }
    }

    /// Whether the runtime does not have the call.
    pub fn is_unimplemented(&self) -> bool {
        matches!(self, CriError::Status(s) if s.code() == tonic::Code::Unimplemented)
    }
}

/// A gRPC channel over the unix socket at `path`.
pub async fn connect(path: &Path) -> Result<Channel, CriError> {
    api::connect(path)
        .await
        .map_err(|source| CriError::Connect {
            path: path.display().to_string(),
            source,
        })
}

/// Asks CRI runtimes; keeps one channel per socket.
pub struct Cri {
    rt: tokio::runtime::Runtime,
    channels: HashMap<PathBuf, Channel>,
    timeout: Duration,
}

impl Cri {
    pub fn new(timeout: Duration) -> Result<Self, CriError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CriError::Runtime)?;
        Ok(Cri {
            rt,
            channels: HashMap::new(),
            timeout,
        })
    }

    /// Container (or pod sandbox) `id`'s metadata from the runtime at `socket`.
    pub fn inspect(&mut self, socket: &Path, id: &str) -> Result<Meta, CriError> {
        let timeout = self.timeout;
        let cached = self.channels.get(socket).cloned();
        let result = self.rt.block_on(async {
            let channel = match cached {
                Some(c) => c,
                None => tokio::time::timeout(timeout, connect(socket))
                    .await
                    .map_err(|_| CriError::Timeout(timeout))??,
            };
            let answer = tokio::time::timeout(timeout, inspect(channel.clone(), id))
                .await
                .map_err(|_| CriError::Timeout(timeout))?;
            answer.map(|m| (m, channel))
        });
        match result {
            Ok((meta, channel)) => {
                self.channels.insert(socket.to_path_buf(), channel);
                Ok(meta)
            }
            Err(e) => {
                // A restarted runtime gets a new connection next time.
                if !matches!(&e, CriError::Status(s) if s.code() == tonic::Code::NotFound) {
                    self.channels.remove(socket);
                }
                Err(e)
            }
        }
    }
}

impl Cri {
    /// Follows the runtime's `GetContainerEvents` stream at `socket`, and
    /// hands `seen` the metadata of each container created or started,
    /// until the stream ends. Runtimes without the call (containerd before
    /// 1.7) answer `Unimplemented`.
    pub fn follow(
        &mut self,
        socket: &Path,
        mut seen: impl FnMut(String, Meta),
    ) -> Result<(), CriError> {
        let timeout = self.timeout;
        self.rt.block_on(async {
            let channel = tokio::time::timeout(timeout, connect(socket))
                .await
                .map_err(|_| CriError::Timeout(timeout))??;
            let mut events = api::Runtime::new(channel.clone())
                .container_events()
                .await?;
            while let Some(event) = events.next().await? {
                let wanted = matches!(
                    api::ContainerEventType::try_from(event.container_event_type),
                    Ok(api::ContainerEventType::ContainerCreatedEvent
                        | api::ContainerEventType::ContainerStartedEvent)
                );
                if !wanted {
                    continue;
                }
                let answer =
                    tokio::time::timeout(timeout, inspect(channel.clone(), &event.container_id))
                        .await;
                if let Ok(Ok(meta)) = answer {
                    seen(event.container_id, meta);
                }
            }
            Ok(())
        })
    }
}

/// Asks about `id` as a container, and as a pod sandbox when the runtime
/// knows no such container: a pod's sandbox (pause) process runs in a
/// cgroup of its own that names the sandbox's id.
pub async fn inspect(channel: Channel, id: &str) -> Result<Meta, CriError> {
    let mut client = api::Runtime::new(channel);
    match client.container_status(id, true).await {
        Ok(answer) => {
            let mut meta = container_meta(&answer)?;
            let sandbox = answer
                .info
                .get("info")
                .and_then(|i| Info::parse(i).sandbox_id);
            if let Some(sandbox) = sandbox {
                // The pod's IP is the sandbox's: its containers share its network.
                if let Ok(pod) = client.pod_sandbox_status(&sandbox).await {
                    meta.ip = pod_ip(&pod);
                }
            }
            Ok(meta)
        }
        Err(s) if s.code() == tonic::Code::NotFound => {
            let pod = client
                .pod_sandbox_status(id)
                .await
                // The container's NotFound says more than the sandbox's.
                .map_err(|_| s)?;
            sandbox_meta(&pod)
        }
        Err(s) => Err(s.into()),
    }
}

/// What sdtrace reads of `ContainerStatusResponse.info["info"]`, the
/// runtime's own JSON: containerd's `config` is the `ContainerConfig` the
/// container was created with; CRI-O says `privileged` at the top.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Info {
    pub sandbox_id: Option<String>,
    pub privileged: bool,
    /// The image as the creator asked for it (`busybox:1.36`), where the
    /// status itself names it by id.
    pub image: Option<String>,
}

impl Info {
    pub fn parse(json: &str) -> Info {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            return Info::default();
        };
        let str_at = |ptr: &str| v.pointer(ptr).and_then(|x| x.as_str()).map(str::to_owned);
        let bool_at = |ptr: &str| v.pointer(ptr).and_then(serde_json::Value::as_bool);
        Info {
            sandbox_id: str_at("/sandboxID").filter(|s| !s.is_empty()),
            privileged: bool_at("/privileged")
                .or_else(|| bool_at("/config/linux/security_context/privileged"))
                .unwrap_or(false),
            image: str_at("/config/image/image").filter(|s| !s.is_empty()),
        }
    }
}

fn labels(map: &HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// sysdig's names for CRI's mount propagation modes (Docker's words).
fn propagation(p: i32) -> &'static str {
    match api::MountPropagation::try_from(p) {
        Ok(api::MountPropagation::PropagationHostToContainer) => "rslave",
        Ok(api::MountPropagation::PropagationBidirectional) => "rshared",
        _ => "private",
    }
}

/// The metadata in a `ContainerStatus` answer (without the pod's IP).
pub fn container_meta(answer: &api::ContainerStatusResponse) -> Result<Meta, CriError> {
    let status = answer.status.as_ref().ok_or(CriError::Empty)?;
    let info = answer
        .info
        .get("info")
        .map(|i| Info::parse(i))
        .unwrap_or_default();
    let spec = status
        .image
        .as_ref()
        .map(|i| i.image.as_str())
        .unwrap_or("");
    // containerd names the image by its id in `image` and by its digest in
    // `image_ref`; the name the user gave is in the verbose config.
    let by_id = spec.starts_with("sha256:");
    let image = match (&info.image, by_id) {
        (Some(asked), _) => asked.clone(),
        (None, false) => spec.to_owned(),
        (None, true) => status.image_ref.clone(),
    };
    let image_id = if by_id {
        spec.to_owned()
    } else if status.image_ref.starts_with("sha256:") {
        status.image_ref.clone()
    } else {
        // `repo@sha256:...`: the digest is what identifies it.
        status
            .image_ref
            .rsplit_once('@')
            .map_or_else(String::new, |(_, d)| d.to_owned())
    };
    Ok(Meta {
        name: status
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        image,
        image_id,
        privileged: info.privileged,
        ip: String::new(),
        labels: labels(&status.labels),
        mounts: status
            .mounts
            .iter()
            .map(|m| MountInfo {
                source: m.host_path.clone(),
                dest: m.container_path.clone(),
                mode: String::new(),
                rw: !m.readonly,
                propagation: propagation(m.propagation).to_owned(),
            })
            .collect(),
    })
}

fn pod_ip(answer: &api::PodSandboxStatusResponse) -> String {
    answer
        .status
        .as_ref()
        .and_then(|s| s.network.as_ref())
        .map(|n| n.ip.clone())
        .unwrap_or_default()
}

/// A pod sandbox's own metadata: its pod's name and labels and IP.
pub fn sandbox_meta(answer: &api::PodSandboxStatusResponse) -> Result<Meta, CriError> {
    let status = answer.status.as_ref().ok_or(CriError::Empty)?;
    Ok(Meta {
        name: status
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        ip: pod_ip(answer),
        labels: labels(&status.labels),
        ..Meta::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `info["info"]` of containerd 1.6's verbose ContainerStatus, trimmed.
    const CONTAINERD_INFO: &str = r#"{"sandboxID":"5b3d1e0c4f","pid":4242,"removing":false,
      "snapshotKey":"k","snapshotter":"native","runtimeType":"io.containerd.runc.v2",
      "config":{"metadata":{"name":"sleeper"},"image":{"image":"sdt/busybox:1"},
        "linux":{"security_context":{"privileged":true}}}}"#;

    /// CRI-O's, trimmed.
    const CRIO_INFO: &str = r#"{"sandboxID":"9f8e","pid":77,"privileged":false,"runtimeSpec":{}}"#;

    #[test]
    fn verbose_info() {
        assert_eq!(
            Info::parse(CONTAINERD_INFO),
            Info {
                sandbox_id: Some("5b3d1e0c4f".into()),
                privileged: true,
                image: Some("sdt/busybox:1".into()),
            }
        );
        assert_eq!(
            Info::parse(CRIO_INFO),
            Info {
                sandbox_id: Some("9f8e".into()),
                privileged: false,
                image: None,
            }
        );
        assert_eq!(Info::parse("not json"), Info::default());
    }

    #[test]
    fn container_status() {
        let answer = api::ContainerStatusResponse {
            status: Some(api::ContainerStatus {
                id: "c0ffee".into(),
                metadata: Some(api::ContainerMetadata {
                    name: "sleeper".into(),
                    attempt: 0,
                }),
                image: Some(api::ImageSpec {
                    image: "sha256:4b3c".into(),
                    ..Default::default()
                }),
                image_ref: "docker.io/sdt/busybox@sha256:99aa".into(),
                labels: [("io.kubernetes.pod.name".to_owned(), "web".to_owned())].into(),
                mounts: vec![
                    api::Mount {
                        container_path: "/data".into(),
                        host_path: "/srv/data".into(),
                        readonly: true,
                        propagation: api::MountPropagation::PropagationHostToContainer as i32,
                        ..Default::default()
                    },
                    api::Mount {
                        container_path: "/etc/hosts".into(),
                        host_path: "/var/lib/hosts".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            info: [("info".to_owned(), CONTAINERD_INFO.to_owned())].into(),
        };
        let m = container_meta(&answer).unwrap();
        assert_eq!(m.name, "sleeper");
        assert_eq!(m.image, "sdt/busybox:1");
        assert_eq!(m.image_id, "sha256:4b3c");
        assert!(m.privileged);
        assert_eq!(m.labels["io.kubernetes.pod.name"], "web");
        assert_eq!(
            m.mounts_text(),
            "/srv/data:/data::false:rslave,/var/lib/hosts:/etc/hosts::true:private"
        );

        // Without verbose info (CRI-O names the image as given).
        let plain = api::ContainerStatusResponse {
            status: Some(api::ContainerStatus {
                image: Some(api::ImageSpec {
                    image: "quay.io/team/app:2".into(),
                    ..Default::default()
                }),
                image_ref: "quay.io/team/app@sha256:77".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = container_meta(&plain).unwrap();
        assert_eq!(m.image, "quay.io/team/app:2");
        assert_eq!(m.image_id, "sha256:77");
        assert!(!m.privileged);
        assert!(container_meta(&api::ContainerStatusResponse::default()).is_err());
    }

    #[test]
    fn sandbox_status() {
        let answer = api::PodSandboxStatusResponse {
            status: Some(api::PodSandboxStatus {
                metadata: Some(api::PodSandboxMetadata {
                    name: "web".into(),
                    namespace: "shop".into(),
                    ..Default::default()
                }),
                network: Some(api::PodSandboxNetworkStatus {
                    ip: "10.1.2.3".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = sandbox_meta(&answer).unwrap();
        assert_eq!((m.name.as_str(), m.ip.as_str()), ("web", "10.1.2.3"));
    }

    /// A socket nobody listens on is an error, not a hang or a panic.
    #[test]
    fn missing_socket() {
        let mut cri = Cri::new(Duration::from_millis(500)).unwrap();
        let err = cri
            .inspect(Path::new("/nonexistent/sdtrace-test.sock"), "abc")
            .unwrap_err();
        assert!(matches!(err, CriError::Connect { .. }), "{err}");
    }
}
